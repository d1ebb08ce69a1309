"""An upstream that resets its connection mid-way, while sending its response
body or while reading the request body: the client gets a clear end (a
truncated transfer that curl reports, or 502 before any response byte), the
exchange is audited as an error, and the daemon keeps serving: a request
running concurrently and one made afterwards both succeed."""
import threading

from helpers.checks import assert_keyhole_error, echoed
from helpers.client import curl, curl_sha256, open_tunnel
from helpers.data import pattern_sha256

N, AFTER = 1 << 20, 200 * 1024


def _normal(kh, echo, out, key):
    r = curl(f"https://api.openai.test:{echo.port}/bytes?n=300000&delay=0.05&block=16384",
             proxy=kh.proxy_url, cacert=kh.ca_crt, timeout=20)
    out[key] = r


def test_reset_mid_response_body(start_keyhole, make_upstream, echo):
    bad = make_upstream("server", name="resetter")
    kh = start_keyhole()
    got = {}
    t = threading.Thread(target=_normal, args=(kh, echo, got, "during"))
    t.start()
    rc, _, size, err = curl_sha256(f"https://other.test:{bad.port}/reset?n={N}&after={AFTER}",
                                   proxy=kh.proxy_url, cacert=kh.ca_crt, timeout=15)
    t.join(25)
    # curl: 18 = partial file, 56 = failure receiving; never a silent success
    assert rc in (18, 56), (rc, size, err)
    assert AFTER // 2 <= size < N, size
    during = got["during"]
    assert during.rc == 0 and during.status == 200, during.stderr
    assert len(during.body) == 300000
    rec = kh.wait_audit(lambda a: a.get("path") == "/reset")[0]
    assert rec["decision"] == "error", rec
    assert rec["bytes_out"] < N + 4096, rec

    after = curl(f"https://api.openai.test:{echo.port}/after", proxy=kh.proxy_url,
                 cacert=kh.ca_crt)
    assert after.rc == 0 and after.status == 200 and echoed(after.body)["path"] == "/after"


def test_reset_before_response_gives_502(start_keyhole, make_upstream, echo):
    """Reset while keyhole is still sending the request body: no response byte
    went out yet, so the client gets keyhole's 502 rather than a bare close."""
    bad = make_upstream("server", name="resetter")
    kh = start_keyhole()
    body = b"x" * (2 << 20)
    with open_tunnel(kh.port, "other.test", bad.port, kh.ca_crt, timeout=15) as c:
        c.send(f"POST /reset_body?after=65536 HTTP/1.1\r\nHost: other.test:{bad.port}\r\n"
               f"Content-Length: {len(body)}\r\n\r\n".encode())
        try:
            c.send(body)
        except OSError:
            pass        # keyhole may close its side before taking the whole body
        r = c.read_response(timeout=15)
    assert_keyhole_error(r, 502, "upstream_reset")
    kh.wait_audit(lambda a: a.get("path") == "/reset_body" and a.get("status") == 502)

    rc, sha, size, err = curl_sha256(f"https://api.openai.test:{echo.port}/bytes?n={N}",
                                     proxy=kh.proxy_url, cacert=kh.ca_crt)
    assert rc == 0 and size == N and sha == pattern_sha256(N), err
