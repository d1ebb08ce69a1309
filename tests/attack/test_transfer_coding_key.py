"""Attack: hide the echoed key under a transfer coding. An upstream answers
with `Transfer-Encoding: gzip, chunked` (or deflate, x-gzip, or gzip alone,
delimited by close). A scrubber that only undoes chunked and only inflates
Content-Encoding passes the compressed bytes through untouched; the sandbox
inflates them and reads the key.

keyhole treats a gzip or deflate transfer coding like the same content
coding: it removes the chunked framing, inflates, scrubs, and sends the body
uncompressed (re-chunked, no coding). Anything it cannot decode, or a gzip
transfer coding on top of a gzip content coding, is refused with 502
`response_not_scrubbable` (test_undecodable_codings)."""
import pytest

from helpers.checks import assert_keyhole_error, assert_no_leak
from helpers.client import open_tunnel
from helpers.keyecho import KeyEchoUpstream, assert_clean_response, key_body


@pytest.fixture
def keyecho(pki):
    srv = KeyEchoUpstream(cert=pki.server, name="keyecho").start()
    yield srv
    srv.stop()


def _get(kh, up, target, token):
    host = f"api.openai.test:{up.port}"
    with open_tunnel(kh.port, "api.openai.test", up.port, kh.ca_crt) as c:
        return c.request("GET", target, host, [("Authorization", f"Bearer {token}")],
                         timeout=10)


@pytest.mark.parametrize("te", ["gzip, chunked", "deflate, chunked", "x-gzip, chunked",
                                "GZIP,chunked", "gzip", "deflate"])
def test_transfer_coding_decoded_and_scrubbed(start_keyhole, keyecho, token, secret, te):
    kh = start_keyhole()
    r = _get(kh, keyecho, "/file?te=" + te.replace(" ", "%20"), token)
    assert_clean_response(r, secret)
    assert r.status == 200
    assert r.body == key_body(token.encode())       # decoded, scrubbed, plain
    assert r.header("Transfer-Encoding") == "chunked" and r.header("Content-Encoding") is None
    rec = kh.wait_audit(lambda a: (a.get("path") or "").startswith("/file"))[-1]
    assert rec["scrubbed"] == {"OPENAI_API_KEY": 1}, rec
    assert_no_leak(kh, [secret], [token])


def test_transfer_and_content_coding_stacked_refused(start_keyhole, keyecho, token, secret):
    kh = start_keyhole()
    r = _get(kh, keyecho, "/file?ce=gzip&te=gzip,%20chunked", token)
    assert_keyhole_error(r, 502, "response_not_scrubbable")
    assert_clean_response(r, secret)
