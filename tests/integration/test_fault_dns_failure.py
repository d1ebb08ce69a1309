"""A name that does not resolve gives 502 dns_failed, quickly and without
holding up anyone: requests to resolvable hosts made at the same time succeed,
and the daemon keeps serving afterwards."""
import threading
import time

from helpers.checks import assert_keyhole_error
from helpers.client import curl, send_connect

BAD = ["nx1.invalid", "nx2.invalid", "nx3.invalid"]


def test_dns_failure_while_others_served(start_keyhole, echo):
    kh = start_keyhole({"extra_allowed_hosts": BAD + ["other.test"], "timeouts": {"connect": 5}})
    got = {}

    def bad(host):
        conn, r = send_connect(kh.port, f"{host}:443", timeout=12)
        conn.close()
        got[host] = r

    threads = [threading.Thread(target=bad, args=(h,)) for h in BAD]
    for t in threads:
        t.start()
    for i in range(3):
        r = curl(f"https://api.openai.test:{echo.port}/ok{i}", proxy=kh.proxy_url,
                 cacert=kh.ca_crt, timeout=5)
        assert r.rc == 0 and r.status == 200, r.stderr
    for t in threads:
        t.join(15)
    for h in BAD:
        assert_keyhole_error(got[h], 502, "dns_failed", host=h)
    kh.wait_audit(lambda a: a.get("reason") == "dns_failed", n=len(BAD))
    t0 = time.monotonic()
    r = curl(f"https://api.openai.test:{echo.port}/after", proxy=kh.proxy_url, cacert=kh.ca_crt)
    assert r.rc == 0 and r.status == 200 and time.monotonic() - t0 < 3
