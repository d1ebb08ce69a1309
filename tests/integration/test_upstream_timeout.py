"""An upstream that stops answering is cut off by keyhole's timeouts: no
response within timeouts.response -> 504 upstream_timeout; a TCP peer that
never completes the TLS handshake fails the CONNECT within the timeouts."""
import time

from helpers.checks import assert_keyhole_error
from helpers.client import open_tunnel, send_connect


def test_response_timeout_gives_504(start_keyhole, echo):
    kh = start_keyhole({"timeouts": {"response": 2}})
    with open_tunnel(kh.port, "api.openai.test", echo.port, kh.ca_crt, timeout=10) as c:
        t0 = time.monotonic()
        r = c.request("GET", "/hang", f"api.openai.test:{echo.port}", timeout=10)
        took = time.monotonic() - t0
    assert_keyhole_error(r, 504, "upstream_timeout", host="api.openai.test")
    assert 1.5 <= took <= 6, took
    kh.wait_audit(lambda a: a.get("reason") == "upstream_timeout")


def test_silent_upstream_fails_connect(start_keyhole, silent_server):
    kh = start_keyhole({"timeouts": {"connect": 2, "handshake": 2}})
    t0 = time.monotonic()
    conn, r = send_connect(kh.port, f"api.openai.test:{silent_server.port}", timeout=10)
    conn.close()
    took = time.monotonic() - t0
    assert r.status in (502, 504), (r.status, r.text)
    assert_keyhole_error(r, r.status, host="api.openai.test")
    assert r.header("X-Keyhole-Reason") in ("upstream_timeout", "upstream_tls_failed"), r.headers
    assert took <= 7, took
    assert len(silent_server.accepted) == 1
