"""Issue 17's proof: with privsep: true, no front process (the code that
reads the sandboxes' bytes) holds a real key, a derived SigV4 key or the CA
private key, after swaps of every credential kind went through it; the same
scan of the daemon (the key holder) finds the raw keys, so the scan can fail.
The CA private key is in the CA signer process and in no other: not in a
front, not in the key holder (the signer's hits show the patterns work).
Needs root (or ptrace rights over the daemon's children) to read
/proc/PID/mem: skipped, saying why, otherwise."""
import base64
import http.client
import os
import secrets

import pytest

from helpers import memscan
from helpers.checks import echoed, echoed_headers
from helpers.client import client_context, curl
from helpers.keyhole import mapping, mint_token
from helpers.sigv4 import AwsUpstream, fake_pair, real_pair, send_signed, sign
from test_privsep_processes import front_pids

OK, WHY = memscan.can_scan()
if not OK:
    print(f"SKIP test_privsep_memscan: {WHY}")
pytestmark = pytest.mark.skipif(not OK, reason=WHY)

NAMES = ("api.openai.test", "anthropic.wild.test", "gemini.wild.test", "git.wild.test",
         "custom.wild.test", "sts.wild.test")


@pytest.fixture
def aws(pki):
    creds = dict(zip(("fake_akid", "fake_secret"), fake_pair()))
    creds.update(zip(("real_akid", "real_secret"), real_pair()))
    srv = AwsUpstream(pki.server, akid=creds["real_akid"], secret=creds["real_secret"]).start()
    yield srv, creds
    srv.stop()


def _via(kh, url, headers=(), args=()):
    r = curl(url, cacert=kh.ca_crt, headers=list(headers), args=list(args),
             env={"HTTPS_PROXY": kh.proxy_url})
    assert r.rc == 0 and r.status == 200, (url, r.stderr)
    return echoed(r)


def test_no_key_in_any_front_but_in_the_key_holder(start_keyhole, echo, aws, token, secret):
    srv, c = aws
    real = {"ANTHROPIC_API_KEY": "sk-ant-real-" + secrets.token_hex(12),
            "GEMINI_API_KEY": "AIza-real-" + secrets.token_hex(12),
            "GIT_TOKEN": "ghp-real-" + secrets.token_hex(12),
            "CUSTOM_KEY": "cust-real-" + secrets.token_hex(12)}
    tok = {k: mint_token(k.lower().replace("_", "-")) for k in real}
    maps = [
        mapping(token),
        {"proxy_token": tok["ANTHROPIC_API_KEY"], "env_name": "ANTHROPIC_API_KEY",
         "upstream_hosts": ["anthropic.wild.test"], "match_headers": ["x-api-key"],
         "locations": [{"type": "header", "name": "x-api-key"}]},
        {"proxy_token": tok["GEMINI_API_KEY"], "env_name": "GEMINI_API_KEY",
         "upstream_hosts": ["gemini.wild.test"], "match_headers": [],
         "locations": [{"type": "query", "name": "key"}]},
        {"proxy_token": tok["GIT_TOKEN"], "env_name": "GIT_TOKEN",
         "upstream_hosts": ["git.wild.test"], "match_headers": ["Authorization"],
         "locations": [{"type": "basic"}]},
        {"proxy_token": tok["CUSTOM_KEY"], "env_name": "CUSTOM_KEY",
         "upstream_hosts": ["custom.wild.test"], "match_headers": ["X-Custom-Auth"],
         "locations": [{"type": "header", "name": "X-Custom-Auth", "template": "token {}"}]},
        mapping(c["fake_akid"], "AWS_ACCESS_KEY_ID", ("sts.wild.test",), ()),
        mapping(c["fake_secret"], "AWS_SECRET_ACCESS_KEY", ("sts.wild.test",), ()),
    ]
    env = dict(real, OPENAI_API_KEY=secret, AWS_ACCESS_KEY_ID=c["real_akid"],
               AWS_SECRET_ACCESS_KEY=c["real_secret"])
    kh = start_keyhole({"privsep": True, "workers": 2,
                        "resolve": {n: "127.0.0.1" for n in NAMES}},
                       mappings=maps, env=env)
    fronts = front_pids(kh, want=2)
    assert len(fronts) == 2
    [signer] = front_pids(kh, want=1, role=b"__signer")

    for _ in range(4):          # SO_REUSEPORT spreads connections over both fronts
        doc = _via(kh, f"https://api.openai.test:{echo.port}/v1/models",
                   [f"Authorization: Bearer {token}"])
        assert echoed_headers(doc, "Authorization") == [f"Bearer {secret}"]
        doc = _via(kh, f"https://anthropic.wild.test:{echo.port}/v1/messages",
                   [f"x-api-key: {tok['ANTHROPIC_API_KEY']}"])
        assert echoed_headers(doc, "x-api-key") == [real["ANTHROPIC_API_KEY"]]
        doc = _via(kh, f"https://gemini.wild.test:{echo.port}/v1?key={tok['GEMINI_API_KEY']}")
        assert real["GEMINI_API_KEY"] in doc["path"]
        doc = _via(kh, f"https://git.wild.test:{echo.port}/repo.git/info/refs",
                   args=["-u", f"x-access-token:{tok['GIT_TOKEN']}"])
        basic = base64.b64encode(f"x-access-token:{real['GIT_TOKEN']}".encode()).decode()
        assert echoed_headers(doc, "Authorization") == [f"Basic {basic}"]
        doc = _via(kh, f"https://custom.wild.test:{echo.port}/c",
                   [f"X-Custom-Auth: token {tok['CUSTOM_KEY']}"])
        assert echoed_headers(doc, "X-Custom-Auth") == [f"token {real['CUSTOM_KEY']}"]
        conn = http.client.HTTPSConnection("127.0.0.1", kh.port, timeout=10,
                                           context=client_context(kh.ca_crt))
        conn.set_tunnel("sts.wild.test", srv.port)
        body = b"Action=GetCallerIdentity&Version=2011-06-15"
        hs = sign("POST", f"sts.wild.test:{srv.port}", "/", akid=c["fake_akid"],
                  secret=c["fake_secret"], body=body)
        status, reason, out = send_signed(conn, "POST", "/", hs, body)
        assert (status, reason) == (200, None), out

    needles = memscan.raw_patterns("openai", secret)
    for name, value in real.items():
        needles.update(memscan.raw_patterns(name, value))
    needles.update(memscan.basic_patterns("git", "x-access-token", real["GIT_TOKEN"]))
    needles.update(memscan.aws_patterns("aws", c["real_secret"],
                                        scopes=(("us-east-1", "sts"),)))
    with open(os.path.join(kh.home, "ca.key"), "rb") as f:
        ca = memscan.pem_key_patterns("ca", f.read())
    needles.update(ca)

    for pid in fronts:
        res = memscan.scan_pid(pid, needles)
        print(f"front {pid}: {res.summary()}")
        assert not res.truncated, res.summary()
        assert not res.names(), f"front {pid} holds: {res.summary()}"
    res = memscan.scan_pid(kh.proc.pid, needles)
    print(f"key holder {kh.proc.pid}: {res.summary()}")
    for must in ("openai.raw", "ANTHROPIC_API_KEY.raw", "GEMINI_API_KEY.raw",
                 "GIT_TOKEN.raw", "CUSTOM_KEY.raw", "aws.raw"):
        assert must in res.names(), f"the scan of the key holder missed {must}: {res.summary()}"
    held = sorted(n for n in res.names() if n.startswith("ca."))
    assert not held, f"the key holder holds the CA key: {held}"

    res = memscan.scan_pid(signer, ca)
    print(f"CA signer {signer}: {res.summary()}")
    assert not res.truncated, res.summary()
    assert "ca.scalar_be" in res.names() or "ca.scalar_le" in res.names(), \
        f"the scan of the CA signer missed the CA key: {res.summary()}"
