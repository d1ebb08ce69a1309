"""An allowed upstream that cannot be reached is reported, not hung on:
refused port -> 502 upstream_connect_failed; unresolvable name -> 502
dns_failed (CONNECT and plain HTTP)."""
import socket

from helpers.checks import assert_keyhole_error
from helpers.client import Conn, send_connect


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_refused_port_connect(start_keyhole):
    kh = start_keyhole()
    conn, r = send_connect(kh.port, f"api.openai.test:{_closed_port()}")
    conn.close()
    assert_keyhole_error(r, 502, "upstream_connect_failed", host="api.openai.test")
    kh.wait_audit(lambda a: a.get("reason") == "upstream_connect_failed")


def test_refused_port_plain_http(start_keyhole):
    kh = start_keyhole()
    port = _closed_port()
    with Conn.to_proxy(kh.port) as c:
        r = c.request("GET", f"http://plain.test:{port}/x", f"plain.test:{port}")
    assert_keyhole_error(r, 502, "upstream_connect_failed", host="plain.test")


def test_unresolvable_name(start_keyhole):
    kh = start_keyhole({"extra_allowed_hosts": ["nxdomain.invalid"],
                        "timeouts": {"connect": 5}})
    conn, r = send_connect(kh.port, "nxdomain.invalid:443", timeout=12)
    conn.close()
    assert_keyhole_error(r, 502, "dns_failed", host="nxdomain.invalid")
