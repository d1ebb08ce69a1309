"""An upstream that accepts a request and never answers ties up only its own
exchange: while several clients wait on it, others are served at full speed;
each hung exchange ends with 504 upstream_timeout at timeouts.response and
the daemon's worker is never blocked."""
import threading
import time

from helpers.checks import assert_keyhole_error
from helpers.client import curl, open_tunnel

HUNG = 4


def _hang(kh, echo, out, i):
    try:
        with open_tunnel(kh.port, "api.openai.test", echo.port, kh.ca_crt, timeout=10) as c:
            t0 = time.monotonic()
            out[i] = (c.request("GET", "/hang", f"api.openai.test:{echo.port}", timeout=10),
                      time.monotonic() - t0)
    except Exception as e:      # recorded, asserted below
        out[i] = (e, 0)


def test_hung_upstream_does_not_block_others(start_keyhole, echo):
    kh = start_keyhole({"timeouts": {"response": 3}, "workers": 1})
    got = {}
    threads = [threading.Thread(target=_hang, args=(kh, echo, got, i)) for i in range(HUNG)]
    for t in threads:
        t.start()
    time.sleep(0.5)      # the hung requests are now waiting on the upstream
    t0 = time.monotonic()
    for i in range(5):
        r = curl(f"https://api.openai.test:{echo.port}/ok{i}", proxy=kh.proxy_url,
                 cacert=kh.ca_crt, timeout=5)
        assert r.rc == 0 and r.status == 200, r.stderr
    assert time.monotonic() - t0 < 2.5, "normal requests were held up by the hung ones"
    for t in threads:
        t.join(15)
    for i in range(HUNG):
        r, took = got[i]
        assert not isinstance(r, Exception), r
        assert_keyhole_error(r, 504, "upstream_timeout", host="api.openai.test")
        assert 2 <= took <= 7, took
    kh.wait_audit(lambda a: a.get("reason") == "upstream_timeout", n=HUNG)
    assert kh.healthz()[0] == 200
