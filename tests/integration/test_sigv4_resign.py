"""AWS SigV4: a sandbox signs with fake credentials; keyhole verifies that
signature and re-signs with the real keys. The upstream here checks
signatures with the real keys only (an independent Python SigV4), so a
request reaches "AWS" signed correctly only if keyhole re-signed it, and the
same request sent around keyhole is refused."""
import http.client
import json
import secrets
import subprocess

import pytest

from helpers.checks import assert_no_leak
from helpers.client import client_context, curl_env
from helpers.keyhole import mapping
from helpers.sigv4 import AwsUpstream, fake_pair, real_pair, send_signed, sign

HOST = "sts.wild.test"      # covered by the test server certificate (*.wild.test)
S3 = "s3.wild.test"
AWS_HOSTS = ("*.wild.test",)


@pytest.fixture
def creds():
    fake_akid, fake_secret = fake_pair()
    real_akid, real_secret = real_pair()
    return {"fake_akid": fake_akid, "fake_secret": fake_secret,
            "real_akid": real_akid, "real_secret": real_secret}


def aws_mappings(c, session=None):
    m = [mapping(c["fake_akid"], "AWS_ACCESS_KEY_ID", AWS_HOSTS, ()),
         mapping(c["fake_secret"], "AWS_SECRET_ACCESS_KEY", AWS_HOSTS, ())]
    if session:
        m.append(mapping(session, "AWS_SESSION_TOKEN", AWS_HOSTS, ()))
    return m


@pytest.fixture
def aws(pki, creds):
    srv = AwsUpstream(pki.server, akid=creds["real_akid"], secret=creds["real_secret"]).start()
    yield srv
    srv.stop()


def start(start_keyhole, c, session=None, real_session=None):
    env = {"AWS_ACCESS_KEY_ID": c["real_akid"], "AWS_SECRET_ACCESS_KEY": c["real_secret"]}
    if real_session:
        env["AWS_SESSION_TOKEN"] = real_session
    return start_keyhole(config={"resolve": {HOST: "127.0.0.1", S3: "127.0.0.1",
                                             "other.test": "127.0.0.1"},
                                 "extra_allowed_hosts": ["other.test"]},
                         mappings=aws_mappings(c, session), env=env)


def request(kh, host, port, method, target, headers, body=b"", direct_ca=None):
    """One request in a CONNECT tunnel through keyhole (or straight to the
    upstream when direct_ca is given): (status, X-Keyhole-Reason, body)."""
    if direct_ca:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10,
                                           context=client_context(direct_ca, False))
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", kh.port, timeout=10,
                                           context=client_context(kh.ca_crt))
        conn.set_tunnel(host, port)
    return send_signed(conn, method, target, headers, body)


def signed(c, host, port, method, target, **kw):
    return sign(method, f"{host}:{port}", target, akid=c["fake_akid"], secret=c["fake_secret"],
                **kw)


def test_post_body_hash_resigned(start_keyhole, aws, creds):
    """STS-style form POST without x-amz-content-sha256: keyhole hashes the body."""
    kh = start(start_keyhole, creds)
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    hs = signed(creds, HOST, aws.port, "POST", "/", body=body,
                headers=[("Content-Type", "application/x-www-form-urlencoded")])
    status, reason, out = request(kh, HOST, aws.port, "POST", "/", hs, body)
    assert (status, reason) == (200, None), out
    method, target, seen, got, why = aws.seen[-1]
    assert why is None and got == body
    auth = dict(seen)["Authorization"]
    assert f"Credential={creds['real_akid']}/" in auth
    raw = repr(seen).encode()
    assert creds["fake_akid"].encode() not in raw and creds["fake_secret"].encode() not in raw
    rec = kh.wait_audit(lambda a: a.get("host") == HOST and a.get("status") == 200)[0]
    assert rec["swapped"] == ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
    assert_no_leak(kh, [creds["real_secret"]], [creds["fake_akid"], creds["fake_secret"]])


def test_bypassing_keyhole_is_rejected(start_keyhole, aws, creds, pki):
    """The fake credentials are worthless without keyhole; the real ones work."""
    body = b"Action=GetCallerIdentity"
    hs = signed(creds, HOST, aws.port, "POST", "/", body=body)
    status, _, out = request(None, HOST, aws.port, "POST", "/", hs, body, direct_ca=pki.ca.cert)
    assert status == 403 and b"unknown access key id" in out
    real = sign("POST", f"{HOST}:{aws.port}", "/", akid=creds["real_akid"],
                secret=creds["real_secret"], body=body)
    assert request(None, HOST, aws.port, "POST", "/", real, body,
                   direct_ca=pki.ca.cert)[0] == 200


def test_bedrock_style_json_body_and_encoded_path(start_keyhole, aws, creds):
    """A large JSON body (held in full to hash it) and an escaped path that
    non-S3 services sign double-encoded."""
    kh = start(start_keyhole, creds)
    target = "/model/us.anthropic.claude-v2%3A1/invoke"
    body = json.dumps({"prompt": "x" * 300_000}).encode()
    hs = signed(creds, HOST, aws.port, "POST", target, body=body, service="bedrock",
                headers=[("Content-Type", "application/json")])
    status, reason, out = request(kh, HOST, aws.port, "POST", target, hs, body)
    assert (status, reason) == (200, None), out
    assert aws.seen[-1][3] == body


def test_s3_unsigned_payload_path_as_sent(start_keyhole, aws, creds):
    kh = start(start_keyhole, creds)
    target = "/bucket/dir//a%20b.txt?x-id=PutObject"
    body = b"hello s3"
    hs = signed(creds, S3, aws.port, "PUT", target, service="s3",
                content_sha256="UNSIGNED-PAYLOAD", body=body)
    status, reason, out = request(kh, S3, aws.port, "PUT", target, hs, body)
    assert (status, reason) == (200, None), out


def test_session_token_swapped_and_signed(start_keyhole, pki, creds):
    fake_session = f"keyhole-aws-session-{secrets.token_hex(16)}"
    real_session = "IQoJb3JpZ2luX2VjE" + secrets.token_urlsafe(60)
    srv = AwsUpstream(pki.server, akid=creds["real_akid"], secret=creds["real_secret"],
                      session=real_session).start()
    try:
        kh = start(start_keyhole, creds, fake_session, real_session)
        hs = signed(creds, HOST, srv.port, "GET", "/?Action=GetCallerIdentity",
                    session=fake_session)
        status, reason, out = request(kh, HOST, srv.port, "GET", "/?Action=GetCallerIdentity",
                                      hs)
        assert (status, reason) == (200, None), out
        assert dict(srv.seen[-1][2])["X-Amz-Security-Token"] == real_session
        rec = kh.wait_audit(lambda a: a.get("status") == 200)[0]
        assert rec["swapped"] == ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                  "AWS_SESSION_TOKEN"]
        assert_no_leak(kh, [creds["real_secret"], real_session], [fake_session])
        # without the session token header the request cannot be re-signed
        hs = signed(creds, HOST, srv.port, "GET", "/")
        assert request(kh, HOST, srv.port, "GET", "/", hs)[:2] == (400, "sigv4_unsupported")
    finally:
        srv.stop()


def test_curl_aws_sigv4(start_keyhole, aws, creds, tmp_path):
    """curl's own SigV4 implementation, GET and POST, through HTTPS_PROXY; the
    last POST waits for "100 Continue", which keyhole must send itself because
    it holds the head until it has the whole body to hash."""
    kh = start(start_keyhole, creds)
    url = f"https://{HOST}:{aws.port}/?Action=GetCallerIdentity&Version=2011-06-15"
    big = tmp_path / "body"
    big.write_bytes(b"Action=GetCallerIdentity&Pad=" + b"p" * 200_000)
    for extra in ([], ["--data-binary", "Action=GetCallerIdentity"],
                  ["--data-binary", f"@{big}", "-H", "Expect: 100-continue",
                   "--expect100-timeout", "30"]):
        r = subprocess.run(["curl", "-q", "-sS", "--max-time", "10", "--cacert", kh.ca_crt,
                            "--aws-sigv4", "aws:amz:us-east-1:sts",
                            "--user", f"{creds['fake_akid']}:{creds['fake_secret']}",
                            "-w", "\n%{http_code}", *extra, url],
                           capture_output=True, timeout=20,
                           env=curl_env({"HTTPS_PROXY": kh.proxy_url}))
        assert r.returncode == 0, r.stderr
        assert r.stdout.decode().rsplit("\n", 1)[1] == "200", r.stdout
    assert len(aws.seen) == 3 and all(v[4] is None for v in aws.seen)
    assert len(aws.seen[-1][3]) == big.stat().st_size


def test_refusals(start_keyhole, aws, creds):
    kh = start(start_keyhole, creds)
    # presigned URL carrying the fake key id
    q = (f"/obj?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={creds['fake_akid']}"
         f"%2F20150830%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20150830T123600Z"
         f"&X-Amz-SignedHeaders=host&X-Amz-Signature={'0' * 64}")
    st = request(kh, S3, aws.port, "GET", q, [("Host", f"{S3}:{aws.port}")])
    assert st[:2] == (403, "sigv4_presigned"), st
    # chunk-signed streaming upload
    hs = signed(creds, S3, aws.port, "PUT", "/b/k", service="s3",
                content_sha256="STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                headers=[("Content-Encoding", "aws-chunked")])
    st = request(kh, S3, aws.port, "PUT", "/b/k", hs, b"0;chunk-signature=00\r\n\r\n")
    assert st[:2] == (400, "sigv4_streaming_unsupported"), st
    # tampered after signing: a signed header changed
    hs = signed(creds, HOST, aws.port, "GET", "/", headers=[("X-Amz-Target", "A.List")])
    hs = [(n, "A.Delete" if n == "X-Amz-Target" else v) for n, v in hs]
    st = request(kh, HOST, aws.port, "GET", "/", hs)
    assert st[:2] == (403, "sigv4_signature_mismatch"), st
    # signed with the fake key id but a wrong secret
    bad = sign("GET", f"{HOST}:{aws.port}", "/", akid=creds["fake_akid"], secret="guess")
    assert request(kh, HOST, aws.port, "GET", "/", bad)[:2] == (403, "sigv4_signature_mismatch")
    # the fake key toward a host outside the AWS mapping
    hs = signed(creds, "other.test", aws.port, "GET", "/")
    assert request(kh, "other.test", aws.port, "GET", "/", hs)[:2] == \
        (403, "token_host_mismatch")
    # a chunked body with no x-amz-content-sha256 cannot be hashed up front
    hs = signed(creds, HOST, aws.port, "POST", "/", body=b"Action=X")
    conn = http.client.HTTPSConnection("127.0.0.1", kh.port, timeout=10,
                                       context=client_context(kh.ca_crt))
    conn.set_tunnel(HOST, aws.port)
    conn.request("POST", "/", body=iter([b"Action=X"]), headers=dict(hs), encode_chunked=True)
    r = conn.getresponse()
    assert (r.status, r.getheader("X-Keyhole-Reason")) == (411, "sigv4_body_unhashable")
    conn.close()
    # the fake secret (or key id) is never swapped into a header like an API key
    for fake in (creds["fake_secret"], creds["fake_akid"]):
        st = request(kh, HOST, aws.port, "GET", "/", [("Host", f"{HOST}:{aws.port}"),
                                                      ("Authorization", f"Bearer {fake}")])
        assert st[:2] == (403, "token_misplaced"), st
    assert len(aws.seen) == 0, "no refused request may reach the upstream"
    assert_no_leak(kh, [creds["real_secret"]], [creds["fake_akid"], creds["fake_secret"]])


def test_body_over_cap_refused(start_keyhole, aws, creds):
    kh = start(start_keyhole, creds)
    body = b"a" * (8 * 1024 * 1024 + 1)
    hs = signed(creds, HOST, aws.port, "POST", "/", body=body)
    st = request(kh, HOST, aws.port, "POST", "/", hs, body)
    assert st[:2] == (413, "sigv4_body_too_large"), st[:2]
    assert not aws.seen
