"""Strict HTTP/1.1 framing: every ambiguous or malformed request is answered
400 (431 for an oversized head) and the connection closed, and the upstream
never sees the bad request. Checked inside a CONNECT tunnel and for plain-HTTP
absolute-form requests.

Head cases: the upstream must receive no byte at all. Chunk-size cases: the
head is valid, so a streaming proxy may already have forwarded it; the
upstream must still never receive a complete request nor the bad chunk line.
"""
import pytest

from helpers.checks import assert_keyhole_error, echoed, echoed_headers
from helpers.client import Conn, build_request, open_tunnel

# (id, request bytes with {t}=target {h}=host, expected status, marker that must
#  never reach the upstream or None for "no byte at all")
HEAD_CASES = [
    ("cl-and-te", b"POST {t} HTTP/1.1\r\nHost: {h}\r\nContent-Length: 6\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nX", 400),
    ("te-and-cl", b"POST {t} HTTP/1.1\r\nHost: {h}\r\nTransfer-Encoding: chunked\r\n"
                  b"Content-Length: 6\r\n\r\n0\r\n\r\nX", 400),
    ("two-cl-equal", b"POST {t} HTTP/1.1\r\nHost: {h}\r\nContent-Length: 5\r\n"
                     b"Content-Length: 5\r\n\r\nhello", 400),
    ("two-cl-differ", b"POST {t} HTTP/1.1\r\nHost: {h}\r\nContent-Length: 5\r\n"
                      b"Content-Length: 6\r\n\r\nhello!", 400),
    ("cl-non-numeric", b"POST {t} HTTP/1.1\r\nHost: {h}\r\nContent-Length: abc\r\n\r\nhello", 400),
    ("cl-hex", b"POST {t} HTTP/1.1\r\nHost: {h}\r\nContent-Length: 0x5\r\n\r\nhello", 400),
    ("cl-plus", b"POST {t} HTTP/1.1\r\nHost: {h}\r\nContent-Length: +5\r\n\r\nhello", 400),
    ("cl-minus", b"POST {t} HTTP/1.1\r\nHost: {h}\r\nContent-Length: -5\r\n\r\nhello", 400),
    ("te-gzip-chunked", b"POST {t} HTTP/1.1\r\nHost: {h}\r\nTransfer-Encoding: gzip, chunked"
                        b"\r\n\r\n0\r\n\r\n", 400),
    ("te-chunked-identity", b"POST {t} HTTP/1.1\r\nHost: {h}\r\nTransfer-Encoding: chunked, "
                            b"identity\r\n\r\n0\r\n\r\n", 400),
    ("te-identity", b"POST {t} HTTP/1.1\r\nHost: {h}\r\nTransfer-Encoding: identity\r\n\r\n", 400),
    ("te-xchunked", b"POST {t} HTTP/1.1\r\nHost: {h}\r\nTransfer-Encoding: xchunked\r\n\r\n"
                    b"0\r\n\r\n", 400),
    ("te-twice", b"POST {t} HTTP/1.1\r\nHost: {h}\r\nTransfer-Encoding: chunked\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("obs-fold-space", b"GET {t} HTTP/1.1\r\nHost: {h}\r\nX-A: 1\r\n folded\r\n\r\n", 400),
    ("obs-fold-tab", b"GET {t} HTTP/1.1\r\nHost: {h}\r\nX-A: 1\r\n\tfolded\r\n\r\n", 400),
    ("bare-lf-everywhere", b"GET {t} HTTP/1.1\nHost: {h}\nX-A: 1\n\n", 400),
    ("bare-lf-one-line", b"GET {t} HTTP/1.1\r\nHost: {h}\nX-A: 1\r\n\r\n", 400),
    ("bare-cr", b"GET {t} HTTP/1.1\r\nHost: {h}\rX-A: 1\r\n\r\n", 400),
    ("nul-in-value", b"GET {t} HTTP/1.1\r\nHost: {h}\r\nX-A: a\x00b\r\n\r\n", 400),
    ("nul-in-target", b"GET {t}a\x00b HTTP/1.1\r\nHost: {h}\r\n\r\n", 400),
    ("space-before-colon", b"GET {t} HTTP/1.1\r\nHost: {h}\r\nX-A : 1\r\n\r\n", 400),
    ("tab-before-colon", b"GET {t} HTTP/1.1\r\nHost: {h}\r\nX-A\t: 1\r\n\r\n", 400),
    ("http-0.9", b"GET {t}\r\n\r\n", 400),
    # a well-formed but unsupported version is answered 505 (RFC 9110 15.6.6)
    ("version-9.9", b"GET {t} HTTP/9.9\r\nHost: {h}\r\n\r\n", 505),
    ("version-garbage", b"GET {t} HTTX/1.1\r\nHost: {h}\r\n\r\n", 400),
    ("head-too-large", b"GET {t} HTTP/1.1\r\nHost: {h}\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n",
     431),
    # underscore spellings of framing fields: CGI/WSGI and nginx (underscores_in_headers)
    # read them as the real field, so the upstream would frame differently than keyhole
    ("underscore-cl", b"POST {t} HTTP/1.1\r\nHost: {h}\r\nContent_Length: 5\r\n\r\nhello", 400,
     "underscore_framing_header"),
    ("underscore-cl-with-cl", b"POST {t} HTTP/1.1\r\nHost: {h}\r\nContent-Length: 0\r\n"
                              b"CONTENT_LENGTH: 40\r\n\r\n", 400, "underscore_framing_header"),
    ("underscore-te", b"POST {t} HTTP/1.1\r\nHost: {h}\r\ntransfer_encoding: chunked\r\n"
                      b"Content-Length: 5\r\n\r\n0\r\n\r\n", 400, "underscore_framing_header"),
    ("underscore-keep-alive", b"GET {t} HTTP/1.1\r\nHost: {h}\r\nKeep_Alive: 300\r\n\r\n", 400,
     "underscore_framing_header"),
    ("underscore-proxy-auth", b"GET {t} HTTP/1.1\r\nHost: {h}\r\nProxy_Authorization: Basic eDp5"
                              b"\r\n\r\n", 400, "underscore_framing_header"),
]
CHUNK_CASES = [
    ("chunk-size-not-hex", b"zz\r\nhello\r\n0\r\n\r\n", b"zz"),
    ("chunk-size-overflow", b"fffffffffffffffff1\r\nhello\r\n0\r\n\r\n", b"fffffffff"),
    ("chunk-size-negative", b"-5\r\nhello\r\n0\r\n\r\n", b"-5"),
    ("chunk-data-no-crlf", b"5\r\nhelloXY0\r\n\r\n", b"XY"),
]


class Target:
    """Where the raw request goes: into a tunnel (mitm) or absolute-form (http)."""

    def __init__(self, mode, kh, up):
        self.mode, self.kh, self.up = mode, kh, up
        name = "api.openai.test" if mode == "mitm" else "plain.test"
        self.host = f"{name}:{up.port}"
        self.target = "/" if mode == "mitm" else f"http://{self.host}/"

    def open(self):
        if self.mode == "mitm":
            return open_tunnel(self.kh.port, "api.openai.test", self.up.port, self.kh.ca_crt)
        return Conn.to_proxy(self.kh.port)

    def fill(self, template):
        return template.replace(b"{t}", self.target.encode()).replace(b"{h}", self.host.encode())


@pytest.fixture(params=["mitm", "http"])
def target(request, start_keyhole, make_upstream):
    up = make_upstream("server" if request.param == "mitm" else None, name="upstream")
    return Target(request.param, start_keyhole(), up)


def _assert_rejected(c, status, reason=None):
    r = c.read_response(timeout=5)
    assert_keyhole_error(r, status,
                         reason or ("header_too_large" if status == 431 else "bad_request"))
    assert c.wait_closed(3), "connection must be closed after a framing error"


@pytest.mark.parametrize("raw,status,reason", [(c[1], c[2], (c[3:] or [None])[0])
                                               for c in HEAD_CASES],
                         ids=[c[0] for c in HEAD_CASES])
def test_malformed_head_rejected(target, raw, status, reason):
    with target.open() as c:
        c.send(target.fill(raw))
        _assert_rejected(c, status, reason)
    assert target.up.saw_nothing(), target.up.describe()


@pytest.mark.parametrize("body,marker", [(c[1], c[2]) for c in CHUNK_CASES],
                         ids=[c[0] for c in CHUNK_CASES])
def test_bad_chunk_rejected(target, body, marker):
    head = target.fill(b"POST {t} HTTP/1.1\r\nHost: {h}\r\nTransfer-Encoding: chunked\r\n\r\n")
    with target.open() as c:
        c.send(head + body)
        _assert_rejected(c, 400)
    assert target.up.complete_requests() == [], target.up.describe()
    assert marker not in target.up.raw, target.up.describe()


@pytest.mark.parametrize("bad", ["cl-and-te", "two-cl-equal", "obs-fold-space", "bare-lf-one-line"])
def test_valid_request_then_bad_one(target, token, secret, bad):
    """The good request before the bad one (same write) is still answered; the
    bad one is rejected and never forwarded."""
    auth = [("Authorization", f"Bearer {token}")] if target.mode == "mitm" else []
    good = build_request("GET", target.target + "good", target.host, auth)
    raw = dict((c[0], c[1]) for c in HEAD_CASES)[bad]
    with target.open() as c:
        c.send(good + target.fill(raw))
        first = c.read_response(timeout=5)
        assert first.status == 200
        doc = echoed(first)
        assert doc["path"].endswith("/good")
        if auth:
            assert echoed_headers(doc, "Authorization") == [f"Bearer {secret}"]
        _assert_rejected(c, 400)
    assert len(target.up.requests) == 1, target.up.describe()
