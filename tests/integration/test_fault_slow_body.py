"""Slowloris on the request body: a client that sends a head and part of its
body, then stalls, is cut off (504 upstream_timeout: the upstream never got a
whole request to answer) within timeouts.response, and the upstream
connection is released; meanwhile and afterwards others are served. A plain
connection that stalls mid-body is cut off the same way."""
import time

from helpers.client import Conn, curl, open_tunnel

TIMEOUT = 2
CFG = {"timeouts": {"response": TIMEOUT, "idle": TIMEOUT, "header": TIMEOUT}}


def _cut_off(c, t0):
    """(seconds until keyhole ended it, the response if one came)."""
    try:
        r = c.read_response(timeout=TIMEOUT + 5)
    except Exception:      # a close without a response is also an end
        r = None
    assert c.wait_closed(TIMEOUT + 5), "connection not closed"
    return time.monotonic() - t0, r


def test_stalled_body_in_tunnel(start_keyhole, echo, make_upstream):
    other = make_upstream("server", name="other.test")   # its connection may be pooled
    kh = start_keyhole(CFG)
    c = open_tunnel(kh.port, "api.openai.test", echo.port, kh.ca_crt, timeout=10)
    t0 = time.monotonic()
    c.send(f"POST /upload HTTP/1.1\r\nHost: api.openai.test:{echo.port}\r\n"
           f"Content-Length: 1000\r\n\r\n".encode() + b"b" * 10)
    time.sleep(0.5)
    ok = curl(f"https://other.test:{other.port}/meanwhile", proxy=kh.proxy_url,
              cacert=kh.ca_crt, timeout=5)
    assert ok.rc == 0 and ok.status == 200, ok.stderr
    took, r = _cut_off(c, t0)
    c.close()
    assert TIMEOUT - 1 <= took <= TIMEOUT + 4, took
    assert r is not None and r.status == 504, r
    assert r.header("X-Keyhole-Reason") == "upstream_timeout"
    assert not echo.complete_requests()
    deadline = time.monotonic() + 3
    while echo.open_connections() > 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert echo.open_connections() == 0, "the upstream connection was kept"
    kh.wait_audit(lambda a: a.get("path") == "/upload" and a.get("status") == 504)


def test_stalled_body_plain_http(start_keyhole, plain_echo):
    kh = start_keyhole(CFG)
    with Conn.to_proxy(kh.port, timeout=10) as c:
        t0 = time.monotonic()
        c.send(f"POST http://plain.test:{plain_echo.port}/upload HTTP/1.1\r\n"
               f"Host: plain.test:{plain_echo.port}\r\nContent-Length: 1000\r\n\r\nxx".encode())
        took, r = _cut_off(c, t0)
    assert TIMEOUT - 1 <= took <= TIMEOUT + 4, took
    assert r is not None and r.status == 504, r
    assert kh.healthz()[0] == 200
