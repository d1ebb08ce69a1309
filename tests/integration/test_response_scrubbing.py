"""An upstream that echoes the real key back: in headers, the status line, a
JSON body, an SSE stream, gzip/deflate bodies, base64 and percent-encoded,
split across TLS records, writes and chunks. The sandbox must only ever see
its proxy token, and each scrub is audited."""
import base64
import gzip
import json
import os
import threading
import time
import urllib.parse
import zlib
import http.client

import pytest

from helpers.checks import assert_keyhole_error, assert_no_leak, audit_for
from helpers.client import build_request, client_context, curl, open_tunnel, parse_head
from helpers.keyhole import OPENAI_SECRET, mapping, mint_token
from helpers.upstream import Upstream, _chunk

# A second key with characters that percent-encoding and base64 change.
GROQ_SECRET = "gsk_/+=:real" + os.urandom(8).hex()


class LeakyUpstream(Upstream):
    """Answers /leak?mode=... with the Authorization value it received."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.sse_go = threading.Event()   # the test sets it once event 0 arrived

    def _echo(self, sock, rec, keep):
        auth = rec.header("Authorization") or ""
        key = auth[7:] if auth.startswith("Bearer ") else auth
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(rec.target).query))
        getattr(self, "_mode_" + q.get("mode", "json"))(sock, rec, key.encode(), q)

    @staticmethod
    def _send_parts(sock, parts, gap=0.05):
        """Separate TLS records that arrive in separate reads."""
        for p in parts:
            sock.sendall(p)
            time.sleep(gap)

    def _mode_header(self, sock, rec, key, q):
        body = b"" if rec.method == "HEAD" else b"ok\n"
        sock.sendall(b"HTTP/1.1 401 Bad key " + key + b"\r\n"
                     b"X-Echo-Key: " + key + b"\r\n"
                     b"WWW-Authenticate: Bearer realm=\"api\", error=\"" + key + b"\"\r\n"
                     b"X-" + key.replace(b"/", b"-").replace(b"+", b"-").replace(b"=", b"-")
                     .replace(b":", b"-") + b": 1\r\n"
                     b"Content-Length: 3\r\n\r\n" + body)

    def _json_body(self, key):
        return json.dumps({
            "error": {"message": f"Incorrect API key provided: {key.decode()}"},
            "b64": base64.b64encode(key).decode(),
            "b64url": base64.urlsafe_b64encode(b"user:" + key).decode(),
            "url": "https://x.test/?key=" + urllib.parse.quote(key.decode(), safe=""),
            "tail": key.decode(),
        }).encode()

    def _mode_json(self, sock, rec, key, q):
        body = self._json_body(key)
        framing = q.get("framing", "cl")
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        if framing == "cl":
            sock.sendall(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        elif framing == "close":
            sock.sendall(head + b"Connection: close\r\n\r\n" + body)
            sock.close()
        else:
            sock.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n" + _chunk(body) +
                         b"0\r\n\r\n")

    def _mode_split(self, sock, rec, key, q):
        """The key cut in three, across chunks, TLS records and reads."""
        a, b = len(key) // 3, 2 * len(key) // 3
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        self._send_parts(sock, [_chunk(b"key=" + key[:a]), _chunk(key[a:b]),
                                _chunk(key[b:] + b";again=" + key[:5]),
                                _chunk(key[5:] + b"\n"), b"0\r\n\r\n"])

    def _mode_sse(self, sock, rec, key, q):
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n")
        ev0 = b'data: {"delta":"' + key + b'"}\n\n'
        self._send_parts(sock, [_chunk(ev0[:20]), _chunk(ev0[20:])])
        if not self.sse_go.wait(5):   # event 0 must reach the client while we wait
            return
        ev1 = b"data: " + base64.b64encode(key) + b"\n\n"
        self._send_parts(sock, [_chunk(ev1[:9]), _chunk(ev1[9:]), _chunk(b"data: [DONE]\n\n"),
                                b"0\r\n\r\n"])

    def _mode_gzip(self, sock, rec, key, q):
        body = self._json_body(key)
        coding = q.get("coding", "gzip")
        if coding == "gzip":
            # two members: RFC 1952 allows it and some servers do it
            comp = gzip.compress(body[:40]) + gzip.compress(body[40:])
        elif coding == "deflate":
            comp = zlib.compress(body)
        elif coding == "rawdeflate":
            c = zlib.compressobj(wbits=-15)
            comp, coding = c.compress(body) + c.flush(), "deflate"
        else:
            comp = os.urandom(200)   # br/zstd: opaque to keyhole
        head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Encoding: " + coding.encode() + b"\r\n")
        if q.get("framing") == "chunked":
            sock.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n")
            self._send_parts(sock, [_chunk(comp[i:i + 7]) for i in range(0, len(comp), 7)]
                             + [b"0\r\n\r\n"], gap=0)
        else:
            sock.sendall(head + b"Content-Length: %d\r\n\r\n" % len(comp) + comp)

    def _mode_304(self, sock, rec, key, q):
        sock.sendall(b"HTTP/1.1 304 Not Modified\r\nETag: \"" + key + b"\"\r\n\r\n")


@pytest.fixture
def leaky(pki):
    srv = LeakyUpstream(cert=pki.server, name="leaky").start()
    yield srv
    srv.stop()


@pytest.fixture
def groq_token():
    return mint_token("groq")


@pytest.fixture
def kh(start_keyhole, token, groq_token):
    return start_keyhole(
        mappings=[mapping(token),
                  mapping(groq_token, env_name="GROQ_API_KEY", hosts=("api.openai.test",))],
        env={"GROQ_API_KEY": GROQ_SECRET})


def _forms(secret):
    s = secret.encode()
    return [s, base64.b64encode(s), base64.urlsafe_b64encode(s),
            urllib.parse.quote(secret, safe="").encode(),
            urllib.parse.quote(secret, safe="").lower().encode()]


def assert_clean(data, *secrets):
    for secret in secrets:
        for form in _forms(secret):
            assert form not in data, f"a form of the real key reached the client: {data[:300]!r}"


def _get(kh, leaky, target, token, method="GET", headers=()):
    host = f"api.openai.test:{leaky.port}"
    with open_tunnel(kh.port, "api.openai.test", leaky.port, kh.ca_crt) as c:
        c.send(build_request(method, target, host,
                             [("Authorization", f"Bearer {token}"), *headers]))
        return c.read_response(method=method, timeout=10)


def _scrub_audit(kh, path_prefix):
    recs = kh.wait_audit(lambda r: (r.get("path") or "").startswith(path_prefix))
    return recs[-1]


def test_header_and_status_line(kh, leaky, token):
    r = _get(kh, leaky, "/leak?mode=header", token)
    assert r.status == 401
    assert_clean(r.raw_head + r.body, OPENAI_SECRET)
    assert r.reason == f"Bad key {token}"
    assert r.header("X-Echo-Key") == token
    assert r.header("WWW-Authenticate") == f'Bearer realm="api", error="{token}"'
    assert r.body == b"ok\n"
    rec = _scrub_audit(kh, "/leak")
    assert rec["scrubbed"] == {"OPENAI_API_KEY": 4}, rec   # reason, 2 values, a name
    assert_no_leak(kh, [OPENAI_SECRET, GROQ_SECRET], [token])


def test_head_keeps_its_framing(kh, leaky, token):
    r = _get(kh, leaky, "/leak?mode=header", token, method="HEAD")
    assert r.header("Content-Length") == "3" and r.header("Transfer-Encoding") is None
    assert r.header("X-Echo-Key") == token
    assert_clean(r.raw_head, OPENAI_SECRET)


def test_304_untouched_but_scrubbed(kh, leaky, token):
    r = _get(kh, leaky, "/leak?mode=304", token)
    assert r.status == 304 and r.header("ETag") == f'"{token}"'
    assert r.header("Transfer-Encoding") is None and r.body == b""


@pytest.mark.parametrize("framing", ["cl", "chunked", "close"])
def test_json_body_every_form(kh, leaky, token, groq_token, framing):
    for key_token, secret, env in ((token, OPENAI_SECRET, "OPENAI_API_KEY"),
                                   (groq_token, GROQ_SECRET, "GROQ_API_KEY")):
        r = _get(kh, leaky, f"/leak?mode=json&framing={framing}", key_token)
        assert r.status == 200, r
        assert_clean(r.raw_head + r.body, secret)
        doc = json.loads(r.body)
        assert doc["error"]["message"] == f"Incorrect API key provided: {key_token}"
        assert doc["tail"] == key_token   # held back at the very end, then flushed
        assert base64.b64decode(doc["b64"]) == key_token.encode()
        assert urllib.parse.unquote(doc["url"].split("key=")[1]) == key_token
        # base64("user:" + key): the key starts mid-group; its bits are gone
        assert secret.encode() not in base64.urlsafe_b64decode(doc["b64url"] + "==")
        # a length change cannot keep Content-Length: HTTP/1.1 gets chunked
        assert r.header("Transfer-Encoding") == "chunked"
        assert r.header("Content-Length") is None
        # message, b64, b64url, url, tail: one audited replacement each
        kh.wait_audit(lambda a, env=env: a.get("scrubbed") == {env: 5})


def test_split_across_chunks_records_and_reads(kh, leaky, token):
    r = _get(kh, leaky, "/leak?mode=split", token)
    assert r.body == f"key={token};again={token}\n".encode()
    assert_clean(r.body, OPENAI_SECRET)


def test_sse_streams_and_is_scrubbed(kh, leaky, token):
    """Event 0 must reach the client before the upstream sends the rest (no
    buffering of the stream), with the key split across chunks inside it."""
    host = f"api.openai.test:{leaky.port}"
    with open_tunnel(kh.port, "api.openai.test", leaky.port, kh.ca_crt) as c:
        c.send(build_request("GET", "/leak?mode=sse", host,
                             [("Authorization", f"Bearer {token}")]))
        deadline = time.monotonic() + 5
        resp = parse_head(c.read_head(5))
        assert resp.header("Content-Type") == "text/event-stream"
        got = b""
        while b"\n\n" not in got:
            size = int(c.read_line(deadline), 16)
            got += c.read_exact(size, 5)
            assert c.read_exact(2, 5) == b"\r\n"
        assert got == b'data: {"delta":"' + token.encode() + b'"}\n\n'
        leaky.sse_go.set()
        rest = c._read_chunked(time.monotonic() + 5)
    assert rest == b"data: " + base64.b64encode(token.encode()) + b"\n\ndata: [DONE]\n\n"
    assert_clean(got + rest, OPENAI_SECRET)


def test_sse_with_http_client(kh, leaky, token):
    leaky.sse_go.set()
    conn = http.client.HTTPSConnection("127.0.0.1", kh.port, timeout=10,
                                       context=client_context(kh.ca_crt))
    conn.set_tunnel("api.openai.test", leaky.port)
    try:
        conn.request("GET", "/leak?mode=sse", headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        lines = [resp.readline() for _ in range(6)]
    finally:
        conn.close()
    data = b"".join(lines)
    assert token.encode() in data and b"[DONE]" in data
    assert_clean(data, OPENAI_SECRET)


@pytest.mark.parametrize("coding,framing", [("gzip", "cl"), ("gzip", "chunked"),
                                            ("deflate", "cl"), ("rawdeflate", "chunked")])
def test_compressed_body_decoded_and_scrubbed(kh, leaky, token, coding, framing):
    r = _get(kh, leaky, f"/leak?mode=gzip&coding={coding}&framing={framing}", token)
    assert r.status == 200
    assert r.header("Content-Encoding") is None   # sent decoded
    doc = json.loads(r.body)
    assert doc["tail"] == token
    assert_clean(r.body, OPENAI_SECRET)


def test_curl_compressed(kh, leaky, token):
    r = curl(f"https://api.openai.test:{leaky.port}/leak?mode=gzip", proxy=kh.proxy_url,
             cacert=kh.ca_crt, headers=[f"Authorization: Bearer {token}"],
             args=["--compressed"])
    assert r.rc == 0 and r.status == 200, r.stderr
    assert json.loads(r.body)["tail"] == token
    assert_clean(r.body, OPENAI_SECRET)
    # curl offered br/zstd too; the upstream was only offered what keyhole decodes
    offered = leaky.complete_requests()[-1].header("Accept-Encoding") or ""
    codings = {c.split(";")[0].strip() for c in offered.split(",")}
    assert codings and codings <= {"gzip", "x-gzip", "deflate", "identity"}, offered


def test_undecodable_coding_refused(kh, leaky, token):
    r = _get(kh, leaky, "/leak?mode=gzip&coding=br", token)
    assert_keyhole_error(r, 502, "response_not_scrubbable")
    rec = kh.wait_audit(lambda a: a.get("reason") == "response_not_scrubbable")[-1]
    assert rec["decision"] == "error"


def test_http10_client_gets_close_delimited(kh, leaky, token):
    host = f"api.openai.test:{leaky.port}"
    with open_tunnel(kh.port, "api.openai.test", leaky.port, kh.ca_crt) as c:
        c.send(build_request("GET", "/leak?mode=json&framing=chunked", host,
                             [("Authorization", f"Bearer {token}")], version="HTTP/1.0"))
        r = c.read_response(timeout=10)
        assert c.wait_closed(5)
    assert r.header("Transfer-Encoding") is None and r.header("Content-Length") is None
    assert "close" in (r.header("Connection") or "").lower()
    assert json.loads(r.body)["tail"] == token
    assert_clean(r.raw_head + r.body, OPENAI_SECRET)


def test_keepalive_after_scrubbed_responses(kh, leaky, token):
    conn = http.client.HTTPSConnection("127.0.0.1", kh.port, timeout=10,
                                       context=client_context(kh.ca_crt))
    conn.set_tunnel("api.openai.test", leaky.port)
    try:
        for mode in ("json", "split", "gzip", "header", "json"):
            conn.request("GET", f"/leak?mode={mode}",
                         headers={"Authorization": f"Bearer {token}"})
            resp = conn.getresponse()
            body = resp.read()
            assert_clean(body + str(resp.headers).encode(), OPENAI_SECRET)
            assert token.encode() in body + str(resp.headers).encode(), mode
    finally:
        conn.close()


def test_scrubbing_can_be_switched_off(start_keyhole, leaky, token):
    kh = start_keyhole(config={"scrub_responses": False})
    r = _get(kh, leaky, "/leak?mode=json", token)
    assert json.loads(r.body)["tail"] == OPENAI_SECRET
    assert r.header("Content-Length") is not None   # passed through untouched
