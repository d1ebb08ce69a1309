"""After CONNECT api.openai.test, the client's TLS SNI must name that same host:
a handshake for another name is refused (audit reason sni_mismatch), so a
tunnel cannot be opened to one allowed host and used for another.

The client here skips its own hostname check on purpose, so a failure can
only come from keyhole refusing the handshake.
"""
import socket
import ssl

import pytest

from helpers.client import Closed, send_connect


def _handshake(kh, port, sni):
    conn, r = send_connect(kh.port, f"api.openai.test:{port}")
    assert r.status == 200, (r.status, r.text)
    try:
        conn.start_tls(kh.ca_crt, sni, check_hostname=False, timeout=5)
        conn.request("GET", "/", f"api.openai.test:{port}")
    finally:
        conn.close()


@pytest.mark.parametrize("sni", ["other.test", None], ids=["other-name", "no-sni"])
def test_handshake_with_wrong_sni_refused(start_keyhole, echo, sni):
    kh = start_keyhole()
    try:
        _handshake(kh, echo.port, sni)
    except socket.timeout:
        pytest.fail("the handshake was neither completed nor refused within 5 s")
    except (ssl.SSLError, Closed, OSError):
        pass            # refused, as it must be
    else:
        pytest.fail(f"TLS with SNI {sni!r} was accepted in a tunnel to api.openai.test")
    assert echo.saw_nothing(), echo.describe()
    rec = kh.wait_audit(lambda a: a.get("reason") == "sni_mismatch")[0]
    assert rec["host"] == "api.openai.test"


def test_matching_sni_works(start_keyhole, echo):
    """Control: the same client with the right SNI gets through."""
    kh = start_keyhole()
    _handshake(kh, echo.port, "api.openai.test")
    assert len(echo.complete_requests()) == 1
