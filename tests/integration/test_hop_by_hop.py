"""Hop-by-hop request headers are not forwarded: Connection and every header
it names, Proxy-Authorization, Proxy-Connection, Keep-Alive, TE (except
"trailers") and a non-WebSocket Upgrade; end-to-end headers are kept."""
import pytest

from helpers.checks import echoed, echoed_headers
from helpers.client import Conn, open_tunnel

DROPPED = ["X-Drop", "Proxy-Authorization", "Proxy-Connection", "Keep-Alive", "Upgrade"]
HEADERS = [
    ("Connection", "keep-alive, X-Drop"),
    ("X-Drop", "must-not-arrive"),
    ("X-Keep", "kept"),
    ("Proxy-Authorization", "Basic Zm9vOmJhcg=="),
    ("Proxy-Connection", "keep-alive"),
    ("Keep-Alive", "timeout=5"),
    ("TE", "trailers"),
    ("Upgrade", "h2c"),
]


def _check(doc):
    for name in DROPPED:
        assert echoed_headers(doc, name) == [], f"{name} was forwarded: {doc['headers']}"
    assert echoed_headers(doc, "X-Keep") == ["kept"]
    assert echoed_headers(doc, "TE") == ["trailers"]
    for v in echoed_headers(doc, "Connection"):   # keyhole may set its own, never the client's
        assert {t.strip().lower() for t in v.split(",")} <= {"keep-alive", "close"}, v


@pytest.fixture
def kh(start_keyhole):
    return start_keyhole()


def test_hop_by_hop_stripped_in_tunnel(kh, echo):
    with open_tunnel(kh.port, "api.openai.test", echo.port, kh.ca_crt) as c:
        _check(echoed(c.request("GET", "/h", f"api.openai.test:{echo.port}", HEADERS)))


def test_hop_by_hop_stripped_plain_http(kh, plain_echo):
    host = f"plain.test:{plain_echo.port}"
    with Conn.to_proxy(kh.port) as c:
        _check(echoed(c.request("GET", f"http://{host}/h", host, HEADERS)))


def test_te_other_than_trailers_dropped(kh, echo):
    with open_tunnel(kh.port, "api.openai.test", echo.port, kh.ca_crt) as c:
        doc = echoed(c.request("GET", "/te", f"api.openai.test:{echo.port}", [("TE", "gzip")]))
    assert echoed_headers(doc, "TE") == []


def test_connection_close_honoured(kh, echo):
    """Connection: close (naming X-Drop too) ends the client connection after the
    response, and the headers it names still do not reach the upstream."""
    with open_tunnel(kh.port, "api.openai.test", echo.port, kh.ca_crt) as c:
        r = c.request("GET", "/close", f"api.openai.test:{echo.port}",
                      [("Connection", "close, X-Drop"), ("X-Drop", "no")])
        assert r.status == 200
        assert c.wait_closed(3), "keyhole kept the connection open after Connection: close"
    assert echoed_headers(echoed(r), "X-Drop") == []
