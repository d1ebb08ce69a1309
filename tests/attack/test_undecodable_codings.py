"""Attack: hide the echoed key under a coding keyhole cannot read. An upstream
answers a request that carried the key with a body compressed as br, zstd or
compress, with an unknown coding token, or with two codings stacked (`gzip,
gzip`, or one in Content-Encoding and one in Transfer-Encoding). Passed
through, the sandbox would undo the coding and read the key.

keyhole refuses every such response (fail closed) with 502
`response_not_scrubbable` before a byte of it reaches the client. It also
narrows the request's Accept-Encoding to the codings it decodes (or sends
`identity` when the client named none), so a well-behaved upstream never
picks one it cannot read."""
import pytest

from helpers.checks import assert_keyhole_error
from helpers.client import open_tunnel
from helpers.keyecho import KeyEchoUpstream, assert_clean_response, brotli, zstandard


@pytest.fixture
def keyecho(pki):
    srv = KeyEchoUpstream(cert=pki.server, name="keyecho").start()
    yield srv
    srv.stop()


def _get(kh, up, target, token, headers=()):
    host = f"api.openai.test:{up.port}"
    with open_tunnel(kh.port, "api.openai.test", up.port, kh.ca_crt) as c:
        return c.request("GET", target, host,
                         [("Authorization", f"Bearer {token}"), *headers], timeout=10)


CASES = [("ce", "br"), ("ce", "zstd"), ("ce", "compress"), ("ce", "x-unknown"),
         ("ce", "gzip, gzip"), ("ce", "deflate, gzip"), ("ce", "gzip, br"),
         ("te", "br, chunked"), ("te", "zstd, chunked"), ("te", "gzip, gzip, chunked"),
         ("te", "x-unknown, chunked"), ("te", "compress")]


@pytest.mark.parametrize("field,codings", CASES, ids=[f"{f}={c}" for f, c in CASES])
def test_undecodable_coding_refused(start_keyhole, keyecho, token, secret, field, codings):
    if "br" in codings and brotli is None:
        pytest.skip("python3-brotli not installed: cannot make a real br body")
    if "zstd" in codings and zstandard is None:
        pytest.skip("python3-zstandard not installed: cannot make a real zstd body")
    kh = start_keyhole()
    r = _get(kh, keyecho, f"/file?{field}=" + codings.replace(" ", "%20"), token)
    assert_clean_response(r, secret)
    assert_keyhole_error(r, 502, "response_not_scrubbable")
    assert "coding" in r.text, r.text
    rec = kh.wait_audit(lambda a: a.get("reason") == "response_not_scrubbable")[-1]
    assert rec["decision"] == "error" and rec["status"] == 502
    # the daemon keeps serving: a decodable answer right after is scrubbed and delivered
    ok = _get(kh, keyecho, "/file?ce=gzip", token)
    assert ok.status == 200 and token.encode() in ok.body
    assert_clean_response(ok, secret)


@pytest.mark.parametrize("offered,expect", [
    ("br, zstd, gzip;q=0.8, deflate", {"gzip", "deflate"}),
    ("br", {"identity"}),
    (None, {"identity"}),
])
def test_accept_encoding_narrowed(start_keyhole, keyecho, token, offered, expect):
    kh = start_keyhole()
    headers = [("Accept-Encoding", offered)] if offered is not None else []
    r = _get(kh, keyecho, "/file", token, headers)
    assert r.status == 200
    got = keyecho.complete_requests()[-1].header_all("Accept-Encoding")
    assert len(got) == 1, got
    assert {c.split(";")[0].strip() for c in got[0].split(",")} == expect, got
