"""Attack: with real S3 endpoints allowed, copy data out to a bucket the
attacker owns (a bucket policy can let any AWS principal write to it), signed
with the operator's real keys.

With `aws.buckets` set in config.yaml, keyhole re-signs S3 requests only for
the listed buckets, whether the bucket is in the host (virtual-hosted style)
or the first path segment (path style); the test upstream verifies with the
real keys what keyhole let through."""
from helpers.sigv4 import AwsKeys, aws_cert, aws_resolve, tunnel_request

S3 = "s3.us-east-1.amazonaws.com"
ALLOWED = "allowed-bucket"
EVIL = "exfil-bucket"


def test_only_listed_buckets(start_keyhole, pki):
    keys = AwsKeys()
    up = keys.upstream(aws_cert(pki))
    names = [S3, f"{ALLOWED}.{S3}", f"{EVIL}.{S3}"]
    try:
        kh = start_keyhole(config={"resolve": aws_resolve(names),
                                   "aws": {"buckets": [ALLOWED, "another-bucket"]}},
                           mappings=keys.mappings(), env=keys.env())

        def put(host, target):
            hs = keys.sign("PUT", host, up.port, target, service="s3", region="us-east-1",
                           content_sha256="UNSIGNED-PAYLOAD", body=b"data")
            return tunnel_request(kh, host, up.port, "PUT", target, hs, b"data")

        refused = [(S3, f"/{EVIL}/stolen.txt"),           # path style
                   (f"{EVIL}.{S3}", "/stolen.txt"),         # virtual-hosted
                   (f"{EVIL}.{S3}", f"/{ALLOWED}/x"),       # allowed name as a key prefix
                   (S3, f"/{ALLOWED}/../{EVIL}/x"),         # dot segment
                   (S3, "/")]                               # no bucket (ListBuckets)
        for host, target in refused:
            status, reason, body = put(host, target)
            assert (status, reason) == (403, "aws_bucket_not_allowed"), (host, target, body)
            assert body.startswith(b"keyhole: ") and b"aws.buckets" in body, body
        status, reason, body = put(S3, f"/{EVIL}/stolen.txt")
        assert f"'{EVIL}'".encode() in body, body
        assert up.seen == [], "a refused request reached the upstream"

        for host, target in ((S3, f"/{ALLOWED}/report.csv"), (f"{ALLOWED}.{S3}", "/report.csv")):
            status, reason, body = put(host, target)
            assert (status, reason) == (200, None), (host, target, body)
        assert len(up.seen) == 2 and all(s[4] is None for s in up.seen)
        rec = kh.wait_audit(lambda r: r.get("reason") == "aws_bucket_not_allowed")[0]
        assert rec["status"] == 403 and rec["decision"] == "deny"
    finally:
        up.stop()
