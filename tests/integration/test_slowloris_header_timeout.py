"""timeouts.header bounds the time to receive a whole request head: a
half-sent or trickled head is cut off after ~2 s (trickling does not reset
the clock), inside a tunnel too, and the daemon keeps serving others."""
import time

from helpers.client import Conn, open_tunnel

HEADER_TIMEOUT = 2
CFG = {"timeouts": {"header": HEADER_TIMEOUT}}


EARLIEST = HEADER_TIMEOUT - 1     # allows a 1 s timer granularity, catches "closed at once"


def _closed_after(c, t0, limit=HEADER_TIMEOUT + 3):
    assert c.wait_closed(limit), f"not closed within {limit}s"
    return time.monotonic() - t0


def test_half_sent_head_closed(start_keyhole):
    kh = start_keyhole(CFG)
    with Conn.to_proxy(kh.port) as c:
        t0 = time.monotonic()
        c.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        time.sleep(0.5)
        status, _ = kh.healthz()            # others are served meanwhile
        assert status == 200
        took = _closed_after(c, t0)
    assert took >= EARLIEST, f"closed too early ({took:.2f}s)"


def test_trickled_head_closed(start_keyhole):
    kh = start_keyhole(CFG)
    with Conn.to_proxy(kh.port) as c:
        t0 = time.monotonic()
        c.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        closed = False
        while time.monotonic() - t0 < HEADER_TIMEOUT + 3:
            try:
                c.send(b"a")
            except OSError:
                closed = True
                break
            if c.wait_closed(0.25):
                closed = True
                break
        took = time.monotonic() - t0
    assert closed, "a trickling client kept the connection open"
    assert EARLIEST <= took <= HEADER_TIMEOUT + 3, took


def test_half_sent_head_in_tunnel_closed(start_keyhole, echo):
    kh = start_keyhole(CFG)
    with open_tunnel(kh.port, "api.openai.test", echo.port, kh.ca_crt) as c:
        t0 = time.monotonic()
        c.send(f"GET /x HTTP/1.1\r\nHost: api.openai.test:{echo.port}\r\n".encode())
        took = _closed_after(c, t0)
    assert took >= EARLIEST, took
    assert echo.saw_nothing()
