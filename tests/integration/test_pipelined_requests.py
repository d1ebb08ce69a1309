"""Pipelined requests (several in one write) are each parsed and rewritten,
not just the first, and are answered in order."""
import pytest

from helpers.checks import echoed, echoed_headers
from helpers.client import build_request, open_tunnel


def _auth(token):
    return [("Authorization", f"Bearer {token}")]


@pytest.mark.parametrize("n", [2, 5])
def test_pipelined_gets_all_swapped_in_order(start_keyhole, echo, token, secret, n):
    kh = start_keyhole()
    host = f"api.openai.test:{echo.port}"
    with open_tunnel(kh.port, "api.openai.test", echo.port, kh.ca_crt) as c:
        c.send(b"".join(build_request("GET", f"/p{i}", host, _auth(token)) for i in range(n)))
        docs = [echoed(c.read_response()) for _ in range(n)]
    assert [d["path"] for d in docs] == [f"/p{i}" for i in range(n)]
    for d in docs:
        assert echoed_headers(d, "Authorization") == [f"Bearer {secret}"]
    assert token.encode() not in echo.raw


def test_pipelined_mixed_bodies(start_keyhole, echo, token, secret):
    """Bodies in the pipeline (Content-Length and chunked) do not desync parsing:
    a body that *looks* like a request with a token is not treated as one."""
    kh = start_keyhole()
    host = f"api.openai.test:{echo.port}"
    lookalike = build_request("GET", "/inner", host, [("Authorization", "Bearer not-a-token")])
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(lookalike), lookalike)
    reqs = [
        build_request("POST", "/a", host, _auth(token), body=lookalike),
        build_request("GET", "/b", host, _auth(token)),
        build_request("POST", "/c", host, _auth(token) + [("Transfer-Encoding", "chunked")])
        + chunked,
        build_request("GET", "/d", host, _auth(token)),
        build_request("POST", "/e", host, _auth(token), body=b""),
    ]
    with open_tunnel(kh.port, "api.openai.test", echo.port, kh.ca_crt) as c:
        c.send(b"".join(reqs))
        docs = [echoed(c.read_response()) for _ in reqs]
    assert [d["path"] for d in docs] == ["/a", "/b", "/c", "/d", "/e"]
    assert [d["body_len"] for d in docs] == [len(lookalike), 0, len(lookalike), 0, 0]
    for d in docs:
        assert echoed_headers(d, "Authorization") == [f"Bearer {secret}"]
    assert len(echo.complete_requests()) == 5
