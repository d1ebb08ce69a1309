"""A client's `Connection: close` ends the client connection only.

keyhole owns the upstream hop's Connection header: an HTTP/1.1 client that
closes after one request (what a new-connection-per-request client does)
still leaves a persistent upstream connection behind, which the pool hands
to the next client connection. The client is told, in the response head,
that its connection ends, and keyhole then closes it. HTTP/1.0 requests go
upstream as HTTP/1.0, where the client's choice is passed on as it is.

keyhole runs with one worker so every client connection sees the same pool;
the upstream counts the TCP connections it accepted."""
import hashlib

import pytest

from helpers.checks import echoed_headers
from helpers.client import build_request, open_tunnel
from helpers.data import pattern_sha256

HOST = "api.openai.test"


def close_request(kh, echo, token, path, version="HTTP/1.1"):
    """One request with Connection: close on a fresh tunnel; returns the
    response and whether keyhole closed the connection after it."""
    with open_tunnel(kh.port, HOST, echo.port, kh.ca_crt) as c:
        headers = [("Authorization", f"Bearer {token}"), ("Connection", "close")]
        c.send(build_request("GET", path, f"{HOST}:{echo.port}", headers, version=version))
        r = c.read_response()
        return r, c.wait_closed(3)


@pytest.mark.parametrize("scrub", [True, False], ids=["scrubbed", "verbatim"])
def test_sequential_close_connections_share_one_upstream(start_keyhole, echo, token, secret,
                                                         scrub):
    kh = start_keyhole(config={"workers": 1, "scrub_responses": scrub})
    for i in range(2):
        r, closed = close_request(kh, echo, token, f"/close/{i}")
        assert r.status == 200, r.text
        assert [v.lower() for v in r.header_all("Connection")] == ["close"], r.raw_head
        assert closed, "keyhole kept the client connection open after Connection: close"
        assert echoed_headers(r.json(), "Authorization") == [f"Bearer {secret}"]
    reqs = echo.complete_requests()
    assert [x.target for x in reqs] == ["/close/0", "/close/1"]
    assert all(x.header("Connection") is None for x in reqs), "close reached the upstream"
    assert echo.connections == 1, "the second client connection dialed a new upstream"
    assert len({x.conn_id for x in reqs}) == 1


@pytest.mark.parametrize("framing", ["cl", "chunked"])
def test_bodies_intact_and_pooled(start_keyhole, echo, token, framing):
    kh = start_keyhole(config={"workers": 1})
    for i in range(2):
        r, closed = close_request(kh, echo, token, f"/bytes?n=70000&framing={framing}&i={i}")
        assert r.status == 200 and hashlib.sha256(r.body).hexdigest() == pattern_sha256(70000)
        assert closed
    assert echo.connections == 1


def test_close_delimited_body_still_works_and_is_not_pooled(start_keyhole, echo, token):
    kh = start_keyhole(config={"workers": 1})
    r, closed = close_request(kh, echo, token, "/bytes?n=50000&framing=close")
    assert r.status == 200 and hashlib.sha256(r.body).hexdigest() == pattern_sha256(50000)
    assert closed
    r, closed = close_request(kh, echo, token, "/next")
    assert r.status == 200 and closed
    assert echo.connections == 2, "a connection the upstream closed was reused"


def test_http10_close_is_passed_on(start_keyhole, echo, token):
    """An HTTP/1.0 request goes upstream as HTTP/1.0 with the client's close:
    that upstream connection ends and is not pooled."""
    kh = start_keyhole(config={"workers": 1})
    for i in range(2):
        r, closed = close_request(kh, echo, token, f"/old/{i}", version="HTTP/1.0")
        assert r.status == 200 and closed
    reqs = echo.complete_requests()
    assert [x.version for x in reqs] == ["HTTP/1.0", "HTTP/1.0"]
    assert [x.header("Connection") for x in reqs] == ["close", "close"]
    assert echo.connections == 2
