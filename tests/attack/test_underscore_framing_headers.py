"""Attack: underscore spellings of framing fields. CGI, WSGI and nginx with
`underscores_in_headers on` map `Content_Length` and `Content-Length` to the
same variable, so an upstream behind them reads `Content_Length: 40` as the
body length while keyhole frames by the real `Content-Length: 0`: the bytes
after the head become a second request that keyhole never looked at (no
token check, no allowlist, no audit). keyhole refuses such requests with 400
`underscore_framing_header` and such responses with 502.

Also: a proxy token in an underscore spelling of a credential header
(`X_Api_Key`, `X_Goog_Api_Key`, `Api_Key`, `X_Authorization`), which such an
upstream would map to the real header, is refused like a token in any other
header, and never reaches the upstream."""
import pytest

from helpers.checks import assert_keyhole_error, assert_no_leak
from helpers.client import Conn, build_request, open_tunnel
from helpers.keyhole import OPENAI_SECRET, mapping, mint_token
from helpers.upstream import Upstream

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: evil.test\r\n\r\n"


def _send_raw(kh, up, raw, timeout=5):
    with open_tunnel(kh.port, "api.openai.test", up.port, kh.ca_crt) as c:
        c.send(raw)
        r = c.read_response(timeout=timeout)
        closed = c.wait_closed(3)
    return r, closed


@pytest.mark.parametrize("name", ["Content_Length", "content_length", "CONTENT_LENGTH",
                                  "Content_length"])
def test_underscore_content_length_refused(start_keyhole, echo, token, name):
    kh = start_keyhole()
    host = f"api.openai.test:{echo.port}"
    raw = (f"POST /v1/x HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
           f"Content-Length: 0\r\n{name}: {len(SMUGGLED)}\r\n\r\n").encode() + SMUGGLED
    r, closed = _send_raw(kh, echo, raw)
    assert_keyhole_error(r, 400, "underscore_framing_header")
    assert "Content_Length" in r.text or "underscore" in r.text, r.text
    assert closed
    assert echo.saw_nothing(), echo.describe()
    rec = kh.wait_audit(lambda a: a.get("reason") == "underscore_framing_header")[-1]
    assert rec["decision"] == "deny" and rec["status"] == 400


@pytest.mark.parametrize("field", ["Transfer_Encoding: chunked", "transfer_encoding: chunked",
                                   "Keep_Alive: timeout=5", "Proxy_Connection: keep-alive",
                                   "Proxy_Authorization: Basic dXNlcjpwYXNz"])
def test_other_underscore_framing_fields_refused(start_keyhole, echo, field):
    kh = start_keyhole()
    host = f"api.openai.test:{echo.port}"
    raw = (f"POST /v1/x HTTP/1.1\r\nHost: {host}\r\n{field}\r\nContent-Length: 5\r\n\r\n"
           f"0\r\n\r\n").encode()
    r, closed = _send_raw(kh, echo, raw)
    assert_keyhole_error(r, 400, "underscore_framing_header")
    assert closed and echo.saw_nothing(), echo.describe()


def test_plain_proxy_request_refused_too(start_keyhole, plain_echo):
    kh = start_keyhole()
    host = f"plain.test:{plain_echo.port}"
    with Conn.to_proxy(kh.port) as c:
        c.send((f"POST http://{host}/ HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n"
                f"Content_Length: {len(SMUGGLED)}\r\n\r\n").encode() + SMUGGLED)
        r = c.read_response(timeout=5)
    assert_keyhole_error(r, 400, "underscore_framing_header")
    assert plain_echo.saw_nothing(), plain_echo.describe()


class UnderscoreResponder(Upstream):
    """Answers with Content_Length next to the real framing."""

    def _echo(self, sock, rec, keep):
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent_Length: 40\r\n\r\nok")


def test_underscore_framing_in_response_refused(start_keyhole, pki, token):
    kh = start_keyhole()
    up = UnderscoreResponder(cert=pki.server, name="underscore").start()
    try:
        host = f"api.openai.test:{up.port}"
        with open_tunnel(kh.port, "api.openai.test", up.port, kh.ca_crt) as c:
            r = c.request("GET", "/", host, [("Authorization", f"Bearer {token}")], timeout=5)
    finally:
        up.stop()
    assert_keyhole_error(r, 502, "upstream_bad_response")
    assert "underscore" in r.text, r.text


# Credential headers spelled with underscores: an upstream that maps them to the
# real header would receive the token (or, if keyhole swapped it, the key).
CRED_FIELDS = ["X_Api_Key", "x_api_key", "Api_Key", "X_Goog_Api_Key", "X_Authorization",
               "Authorization_"]


@pytest.fixture
def kh_providers(start_keyhole):
    tokens = {"openai": mint_token("openai"), "anthropic": mint_token("anthropic"),
              "gemini": mint_token("gemini"), "azure": mint_token("azure")}
    kh = start_keyhole(
        mappings=[mapping(tokens["openai"]),
                  mapping(tokens["anthropic"], env_name="ANTHROPIC_API_KEY",
                          headers=("x-api-key",)),
                  mapping(tokens["gemini"], env_name="GEMINI_API_KEY",
                          headers=("x-goog-api-key",)),
                  mapping(tokens["azure"], env_name="AZURE_OPENAI_API_KEY",
                          headers=("api-key",))],
        env={"ANTHROPIC_API_KEY": "sk-ant-real-" + "a" * 24,
             "GEMINI_API_KEY": "AIza-real-" + "g" * 24,
             "AZURE_OPENAI_API_KEY": "azure-real-" + "z" * 24})
    return kh, tokens


@pytest.mark.parametrize("field", CRED_FIELDS)
@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini", "azure"])
def test_token_in_underscore_credential_header_refused(kh_providers, echo, field, provider):
    kh, tokens = kh_providers
    tok = tokens[provider]
    host = f"api.openai.test:{echo.port}"
    with open_tunnel(kh.port, "api.openai.test", echo.port, kh.ca_crt) as c:
        r = c.request("GET", "/v1/models", host, [(field, tok)], timeout=5)
    assert_keyhole_error(r, 403)
    assert r.header("X-Keyhole-Reason") in ("token_misplaced", "token_leak_attempt"), r.headers
    assert echo.saw_nothing(), echo.describe()
    assert_no_leak(kh, [OPENAI_SECRET], list(tokens.values()))
