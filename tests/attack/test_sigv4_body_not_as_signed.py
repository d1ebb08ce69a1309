"""Attack: get a body past keyhole that the signature does not cover. A
SigV4 request may declare its body's SHA-256 in x-amz-content-sha256; the
signature covers that declared digest, not the body, so keyhole checks the
signature from the head alone and then must check the body against the
digest as it streams.

A body that does not match is refused (400 sigv4_body_mismatch) before its
last bytes go out, so the upstream never receives a complete request whose
body was not signed; matching bodies, Content-Length or chunked, pass."""
import hashlib
import http.client

from helpers.client import client_context
from helpers.sigv4 import AwsKeys, aws_cert, aws_resolve, tunnel_request

S3 = "s3.us-east-1.amazonaws.com"


def put(kh, keys, port, signed_body, sent_body, chunked=False):
    hs = keys.sign("PUT", S3, port, "/bucket/key", service="s3",
                   content_sha256=hashlib.sha256(signed_body).hexdigest())
    if not chunked:
        return tunnel_request(kh, S3, port, "PUT", "/bucket/key", hs, sent_body)
    conn = http.client.HTTPSConnection("127.0.0.1", kh.port, timeout=10,
                                       context=client_context(kh.ca_crt))
    conn.set_tunnel(S3, port)
    try:
        conn.putrequest("PUT", "/bucket/key", skip_host=True, skip_accept_encoding=True)
        for n, v in hs + [("Transfer-Encoding", "chunked")]:
            conn.putheader(n, v)
        conn.endheaders()
        for i in range(0, len(sent_body), 7000):
            part = sent_body[i:i + 7000]
            conn.send(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        conn.send(b"0\r\n\r\n")
        r = conn.getresponse()
        return r.status, r.getheader("X-Keyhole-Reason"), r.read()
    finally:
        conn.close()


def test_body_must_match_its_declared_digest(start_keyhole, pki):
    keys = AwsKeys()
    up = keys.upstream(aws_cert(pki))
    try:
        kh = start_keyhole(config={"resolve": aws_resolve([S3])}, mappings=keys.mappings(),
                           env=keys.env())
        small, big = b"safe", bytes(range(256)) * 4096      # 4 bytes, 1 MiB
        swaps = [(small, b"evil", False), (big, big[:-1] + b"!", False),
                 (big, b"!" + big[1:], True)]
        for signed_body, sent_body, chunked in swaps:
            status, reason, body = put(kh, keys, up.port, signed_body, sent_body, chunked)
            assert (status, reason) == (400, "sigv4_body_mismatch"), body
            assert b"x-amz-content-sha256" in body, body
        for signed_body, chunked in ((small, False), (big, False), (big, True)):
            status, reason, body = put(kh, keys, up.port, signed_body, signed_body, chunked)
            assert (status, reason) == (200, None), body
        # the upstream got at most a head and part of a swapped body, never a whole request
        sent = [swap[1] for swap in swaps]
        assert [s[3] for s in up.seen if s[4] is None] == [small, big, big]
        assert all(s[3] not in sent for s in up.seen if s[4] is not None), up.seen
        rec = kh.wait_audit(lambda r: r.get("reason") == "sigv4_body_mismatch", n=3)
        assert all(r["status"] == 400 for r in rec)
    finally:
        up.stop()
