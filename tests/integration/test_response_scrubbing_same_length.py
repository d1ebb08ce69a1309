"""A real key exactly as long as its proxy token (and, like it, made of
characters that percent-encoding leaves alone): no replacement can change a
body's length, so an uncompressed Content-Length response keeps its
Content-Length instead of being re-framed as chunked, and is still scrubbed,
including a key cut across TLS records and reads."""
import base64
import json
import secrets
import time

import pytest

from helpers.client import build_request, open_tunnel
from helpers.keyhole import mapping, mint_token
from test_response_scrubbing import LeakyUpstream, assert_clean


class SplitLeaky(LeakyUpstream):
    def _mode_clsplit(self, sock, rec, key, q):
        """A Content-Length body with the key cut in three across records."""
        body = b"key=" + key + b"&b64=" + base64.b64encode(key) + b"&end=" + key
        a, b = 4 + len(key) // 3, 4 + 2 * len(key) // 3
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        for part in (body[:a], body[a:b], body[b:]):
            sock.sendall(part)
            time.sleep(0.05)


@pytest.fixture
def leaky(pki):
    srv = SplitLeaky(cert=pki.server, name="leaky").start()
    yield srv
    srv.stop()


@pytest.fixture
def same_len(start_keyhole):
    token = mint_token("openai")
    secret = ("sk-same-" + secrets.token_hex(32))[:len(token)]
    kh = start_keyhole(mappings=[mapping(token)], env={"OPENAI_API_KEY": secret})
    return kh, token, secret


def _get(c, leaky, token, mode, version="HTTP/1.1"):
    c.send(build_request("GET", f"/leak?mode={mode}", f"api.openai.test:{leaky.port}",
                         [("Authorization", f"Bearer {token}")], version=version))
    return c.read_response(timeout=10)


def test_content_length_kept_and_scrubbed(same_len, leaky):
    kh, token, secret = same_len
    with open_tunnel(kh.port, "api.openai.test", leaky.port, kh.ca_crt) as c:
        for mode in ("json", "clsplit", "json"):   # keep-alive across them
            r = _get(c, leaky, token, mode)
            assert r.status == 200
            assert r.header("Transfer-Encoding") is None, mode
            assert int(r.header("Content-Length")) == len(r.body), mode
            assert_clean(r.raw_head + r.body, secret)
            assert token.encode() in r.body
    doc = json.loads(_json_again(kh, leaky, token))
    assert doc["tail"] == token
    assert base64.b64decode(doc["b64"]) == token.encode()


def _json_again(kh, leaky, token):
    with open_tunnel(kh.port, "api.openai.test", leaky.port, kh.ca_crt) as c:
        return _get(c, leaky, token, "json").body


def test_chunked_upstream_still_chunked(same_len, leaky):
    kh, token, secret = same_len
    with open_tunnel(kh.port, "api.openai.test", leaky.port, kh.ca_crt) as c:
        r = _get(c, leaky, token, "split")
    assert r.header("Transfer-Encoding") == "chunked"
    assert r.body == f"key={token};again={token}\n".encode()
    assert_clean(r.body, secret)


def test_http10_client_keeps_content_length(same_len, leaky):
    kh, token, secret = same_len
    with open_tunnel(kh.port, "api.openai.test", leaky.port, kh.ca_crt) as c:
        r = _get(c, leaky, token, "clsplit", version="HTTP/1.0")
        assert c.wait_closed(5)
    assert int(r.header("Content-Length")) == len(r.body)
    assert r.body.endswith(b"&end=" + token.encode())
    assert_clean(r.raw_head + r.body, secret)
