"""limits.max_connections caps concurrent client connections: with 5 held
open, a 6th is answered 503 too_many_connections, the held ones keep
working, and a slot freed by a close is usable again."""
import time

from helpers.checks import assert_keyhole_error
from helpers.client import Conn

LIMIT = 5


def _healthz(c):
    return c.request("GET", "/healthz", "127.0.0.1", timeout=5)


def test_excess_connection_gets_503(start_keyhole):
    kh = start_keyhole({"limits": {"max_connections": LIMIT}, "workers": 1})
    held = [Conn.to_proxy(kh.port) for _ in range(LIMIT)]
    try:
        time.sleep(0.5)   # let keyhole accept (and count) all of them
        with Conn.to_proxy(kh.port) as extra:
            r = _healthz(extra)
        assert_keyhole_error(r, 503, "too_many_connections")

        assert _healthz(held[0]).status == 200, "a held connection must still be served"

        held.pop().close()
        deadline = time.monotonic() + 3
        while True:
            with Conn.to_proxy(kh.port) as again:
                r = _healthz(again)
            if r.status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert r.status == 200, "a freed slot was not reused"
    finally:
        for c in held:
            c.close()
