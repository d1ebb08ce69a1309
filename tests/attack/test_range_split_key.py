"""Attack: split the real key across two ranged responses. The sandbox asks an
upstream that echoes the key (as an error message or a debug endpoint would)
for bytes 0..k and k+1..end of the same answer, with its token swapped for the
key. Each 206 body holds only half of the key, which no scrubber can
recognise on its own; the sandbox joins them.

keyhole drops Range, If-Range and Request-Range from any request that carries
a real key while responses are scrubbed, so the upstream answers whole (and
scrubbed); a 206 that still comes back on such a request is refused with 502
`response_not_scrubbable`. Requests without a key keep their ranges."""
import pytest

from helpers.checks import assert_keyhole_error, assert_no_leak
from helpers.client import open_tunnel
from helpers.keyecho import (FILL_A, KeyEchoUpstream, assert_clean_response, assert_no_key,
                             key_body)


@pytest.fixture
def keyecho(pki):
    srv = KeyEchoUpstream(cert=pki.server, name="keyecho").start()
    yield srv
    srv.stop()


def _get(kh, up, target, headers):
    host = f"api.openai.test:{up.port}"
    with open_tunnel(kh.port, "api.openai.test", up.port, kh.ca_crt) as c:
        return c.request("GET", target, host, headers, timeout=10)


@pytest.mark.parametrize("field", ["Range", "Request-Range"])
def test_key_split_across_ranges_never_reassembles(start_keyhole, keyecho, token, secret, field):
    kh = start_keyhole()
    mid = len(FILL_A) + len(secret) // 2            # inside the key
    parts = [_get(kh, keyecho, "/file?range=1",
                  [("Authorization", f"Bearer {token}"), (field, rng), ("If-Range", '"v1"')])
             for rng in (f"bytes=0-{mid - 1}", f"bytes={mid}-")]
    for p in parts:
        assert_clean_response(p, secret)
    assert_no_key(b"".join(p.body for p in parts), secret)
    # asked for whole: each answer is the whole body, scrubbed
    for p in parts:
        assert p.status == 200, (p.status, p.body[:200])
        assert p.body == key_body(token.encode())
    for rec in keyecho.complete_requests():
        assert rec.header(field) is None and rec.header("If-Range") is None, rec.headers
    assert_no_leak(kh, [secret], [token])


def test_partial_response_to_a_keyed_request_refused(start_keyhole, keyecho, token, secret):
    """An upstream that answers 206 although keyhole sent no Range."""
    kh = start_keyhole()
    r = _get(kh, keyecho, "/file?force206=1", [("Authorization", f"Bearer {token}")])
    assert_keyhole_error(r, 502, "response_not_scrubbable")
    assert "206" in r.text, r.text
    assert_clean_response(r, secret)
    rec = kh.wait_audit(lambda a: a.get("reason") == "response_not_scrubbable")[-1]
    assert rec["decision"] == "error" and rec["status"] == 502


def test_ranges_without_a_key_still_work(start_keyhole, keyecho):
    """Nothing secret was sent: the range goes upstream and the 206 comes back."""
    kh = start_keyhole()
    r = _get(kh, keyecho, "/file?range=1", [("Range", "bytes=2-9")])
    assert r.status == 206 and r.body == key_body(b"")[2:10], (r.status, r.body)
    assert keyecho.complete_requests()[-1].header("Range") == "bytes=2-9"
