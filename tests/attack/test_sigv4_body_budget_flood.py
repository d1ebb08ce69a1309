"""Attack: starve every other sandbox of AWS access. A SigV4 request signed
without x-amz-content-sha256 covers its body's hash, so keyhole must hold the
whole body (up to 8 MiB) before it can check the signature, within a 64 MiB
budget for the whole daemon. One client opens many such requests, with
malformed or wrongly signed heads, and never sends the bodies.

keyhole refuses at once every head it can judge alone (malformed
Authorization, stale date, wrong endpoint for the scope), and lets one client
hold at most its share of the budget (429 sigv4_body_share); another client's
valid request still goes through and is verified with the real keys."""
import datetime
import time

from helpers.client import Closed, build_request, open_tunnel
from helpers.sigv4 import AwsKeys, aws_cert, aws_resolve, tunnel_request

STS = "sts.us-east-1.amazonaws.com"
ATTACKER = "127.0.0.2"          # keyhole sees another client address
MAX_BODY = 8 * 1024 * 1024
FLOOD = 10                      # 80 MiB of bodies: more than the whole 64 MiB budget
SHARE = 16 * 1024 * 1024


def junk_heads(keys, port):
    """(kind, head) pairs of requests whose 8 MiB bodies are never sent."""
    stale = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1))
    length = [("Content-Length", str(MAX_BODY))]

    def head(headers):
        return build_request("POST", "/", None, headers + length)

    bad_shape = [("Host", f"{STS}:{port}"),
                 ("Authorization", f"AWS4-HMAC-SHA256 Credential={keys.fake_akid}/x, "
                                   f"SignedHeaders=host, Signature=zz")]
    out = [("sigv4_malformed", head(bad_shape)),
           ("sigv4_clock_skew", head(keys.sign("POST", STS, port, "/", body=b"a",
                                               amz_date=stale.strftime("%Y%m%dT%H%M%SZ")))),
           ("aws_scope_mismatch", head(keys.sign("POST", STS, port, "/", body=b"a",
                                                 service="lambda")))]
    # well-formed, but signed over another body: only the body can tell
    out += [("held", head(keys.sign("POST", STS, port, "/", body=b"other")))] * FLOOD
    return out


def answer(conn, deadline):
    """(status, reason, body) if keyhole answered by deadline, else None."""
    try:
        r = conn.read_response(timeout=max(0.05, deadline - time.monotonic()))
    except (TimeoutError, OSError, Closed):
        return None
    return r.status, r.header("X-Keyhole-Reason"), r.body


def test_one_client_cannot_take_the_sigv4_body_budget(start_keyhole, pki):
    keys = AwsKeys()
    up = keys.upstream(aws_cert(pki))
    conns = []
    try:
        kh = start_keyhole(config={"resolve": aws_resolve([STS])}, mappings=keys.mappings(),
                           env=keys.env())
        junk = junk_heads(keys, up.port)
        for _, head in junk:
            c = open_tunnel(kh.port, STS, up.port, kh.ca_crt, source=ATTACKER)
            c.send(head)
            conns.append(c)
        deadline = time.monotonic() + 3
        answers = [answer(c, deadline) for c in conns]

        # another client: a valid request with a body keyhole must hold to hash
        body = b"Action=GetCallerIdentity&Pad=" + b"p" * (2 * 1024 * 1024)
        hs = keys.sign("POST", STS, up.port, "/", body=body,
                       headers=[("Content-Type", "application/x-www-form-urlencoded")])
        status, reason, out = tunnel_request(kh, STS, up.port, "POST", "/", hs, body)
        assert (status, reason) == (200, None), out
        assert up.seen[-1][4] is None and up.seen[-1][3] == body

        for (kind, _), got in zip(junk[:3], answers[:3]):
            assert got is not None and got[1] == kind, (kind, got)
            assert got[0] in (400, 403), got
        flood = answers[3:]
        held = [a for a in flood if a is None]
        share = [a for a in flood if a is not None]
        assert len(held) == SHARE // MAX_BODY, flood
        assert all(a[:2] == (429, "sigv4_body_share") for a in share), share
        assert b"share" in share[0][2] and ATTACKER.encode() in share[0][2], share[0]
        assert len(up.seen) == 1, "junk reached the upstream"
        rec = kh.wait_audit(lambda r: r.get("reason") == "sigv4_body_share")[0]
        assert rec["client"].startswith(ATTACKER + ":")

        # the share comes back when the attacker's requests end
        for c in conns:
            c.close()
        conns = []
        big = b"Action=GetCallerIdentity&Pad=" + b"q" * (MAX_BODY - 64)
        hs = keys.sign("POST", STS, up.port, "/", body=big)
        for _ in range(50):
            status, reason, out = tunnel_request(kh, STS, up.port, "POST", "/", hs, big,
                                                 source=ATTACKER)
            if reason != "sigv4_body_share":
                break
            time.sleep(0.1)
        assert (status, reason) == (200, None), out
    finally:
        for c in conns:
            c.close()
        up.stop()
