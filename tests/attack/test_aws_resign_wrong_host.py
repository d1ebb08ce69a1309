"""Attack: have keyhole sign a request with the real AWS keys toward a host
the attacker controls under *.amazonaws.com (an API Gateway, an S3 endpoint
of another region), so that host receives the real key id, session token and
a valid signature.

keyhole re-signs only toward an endpoint of the service and region the
request's credential scope names; the refusal says which scope and which host.
The AWS names are pinned to a loopback upstream that verifies signatures with
the real keys, as AWS would."""
from helpers.checks import assert_no_leak
from helpers.sigv4 import AwsKeys, aws_cert, aws_resolve, tunnel_request

API_GATEWAY = "x.execute-api.us-east-1.amazonaws.com"
S3_EU = "s3.eu-west-1.amazonaws.com"
S3_US = "s3.us-east-1.amazonaws.com"


def test_resign_only_toward_the_scope_endpoints(start_keyhole, pki):
    keys = AwsKeys()
    up = keys.upstream(aws_cert(pki))
    try:
        kh = start_keyhole(config={"resolve": aws_resolve()}, mappings=keys.mappings(),
                           env=keys.env())

        def put(host):
            hs = keys.sign("PUT", host, up.port, "/bucket/key", service="s3",
                           region="us-east-1", content_sha256="UNSIGNED-PAYLOAD", body=b"x")
            return tunnel_request(kh, host, up.port, "PUT", "/bucket/key", hs, b"x")

        status, reason, body = put(API_GATEWAY)
        assert (status, reason) == (403, "aws_scope_mismatch"), body
        assert b"s3 in us-east-1" in body and API_GATEWAY.encode() in body, body
        assert b"API Gateway" in body, body
        status, reason, body = put(S3_EU)
        assert (status, reason) == (403, "aws_scope_mismatch"), body
        assert S3_EU.encode() in body and b"another region" in body, body
        assert up.seen == [], "a refused request reached the upstream"

        # the scope's own endpoint: re-signed, and the real keys' signature verifies
        status, reason, body = put(S3_US)
        assert (status, reason) == (200, None), body
        assert len(up.seen) == 1 and up.seen[0][4] is None
        recs = kh.wait_audit(lambda r: r.get("reason") == "aws_scope_mismatch", n=2)
        assert {r["host"] for r in recs} == {API_GATEWAY, S3_EU}
        assert all("s3 in us-east-1" in r["detail"] for r in recs)
        assert_no_leak(kh, [keys.real_secret], [keys.fake_akid, keys.fake_secret])
    finally:
        up.stop()
