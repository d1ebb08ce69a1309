"""`keyhole sandbox -- curl ...`: inside, OPENAI_API_KEY holds the proxy token and
curl goes through HTTPS_PROXY (127.0.0.1:<port> inside, relayed to the daemon's
Unix socket) trusting the CA named by the environment keyhole set; the echo
upstream receives the real secret. The sandbox's environment holds the token
and HERMES_PROXY_TOKEN_OPENAI_API_KEY, never the real secret, KEYHOLE_HOME or
the Bitwarden access token, even though the caller's environment had them."""
import json
import os
import secrets

from helpers.checks import echoed_headers
from helpers.cli import cli  # noqa: F401
from helpers.data import MB, pattern_chunks, pattern_sha256
from helpers.sandbox import CA_VARS, PROXY_VARS, grants, sandbox  # noqa: F401

BWS_TOKEN = "0.bws-access-token-" + secrets.token_hex(8)


def test_sandbox_token_swap(sandbox, echo):
    url = f"https://api.openai.test:{echo.port}/echo"
    r = sandbox.run("sh", "-c", f'exec curl -q -sS --max-time 10 "{url}" '
                                '-H "Authorization: Bearer $OPENAI_API_KEY"')
    assert r.rc == 0, r
    doc = json.loads(r.out)
    assert doc["path"] == "/echo", doc
    assert echoed_headers(doc, "Authorization") == [f"Bearer {sandbox.secret}"], doc
    reqs = echo.complete_requests()
    assert len(reqs) == 1 and reqs[0].header("Authorization") == f"Bearer {sandbox.secret}"
    assert sandbox.secret not in r.err, r

    recs = [x for x in map(json.loads, sandbox.cli.read("audit.log").splitlines())
            if x.get("host") == "api.openai.test"]
    assert recs and recs[-1].get("decision") == "allow", recs
    assert recs[-1].get("sandbox", "").startswith("sandbox-"), recs  # its own token's label


def test_sandbox_environment(sandbox):
    r = sandbox.run("env", env={"BWS_ACCESS_TOKEN": BWS_TOKEN,
                                "HTTPS_PROXY": "http://evil.invalid:1",
                                "NO_PROXY": "*", "SSL_CERT_DIR": "/etc/evil",
                                "KEYHOLE_EXTRA": "x"})
    assert r.rc == 0, r
    env = dict(line.split("=", 1) for line in r.out.splitlines() if "=" in line)
    # a sandbox token of its own, not the shared mapping token, revoked on exit
    own = env.get("OPENAI_API_KEY", "")
    assert own.startswith("keyhole-openai-") and own != sandbox.token, env
    assert sandbox.token not in r.out, "the shared mapping token is in the sandbox"
    assert env.get("HERMES_PROXY_TOKEN_OPENAI_API_KEY") == own, env
    listed = grants(sandbox.cli)
    assert [g["state"] for g in listed] == ["revoked"], listed
    assert listed[0]["label"].startswith("sandbox-"), listed
    assert env.get("HERMES_EGRESS_PROXY") == "1", env
    for v in PROXY_VARS:
        assert env.get(v) == f"http://127.0.0.1:{sandbox.port}", (v, env)
    for v in ("NO_PROXY", "no_proxy"):
        assert env.get(v) == "127.0.0.1,localhost,::1", (v, env)
    cas = {env.get(v) for v in CA_VARS}
    assert len(cas) == 1 and None not in cas, env
    assert "--use-openssl-ca" in env.get("NODE_OPTIONS", "").split(), env
    assert "SSL_CERT_DIR" not in env, env
    for name in env:
        assert not name.startswith("KEYHOLE_") or name == "KEYHOLE_SANDBOX", env
    assert sandbox.secret not in r.out + r.err, "the real secret is in the sandbox"
    assert BWS_TOKEN not in r.out + r.err, "the Bitwarden access token is in the sandbox"
    assert sandbox.cli.home not in r.out, "KEYHOLE_HOME is in the sandbox's environment"

    # the CA the variables name is keyhole's own, readable inside
    ca = next(iter(cas))
    r2 = sandbox.run("cat", ca)
    assert r2.rc == 0, r2
    assert r2.out == sandbox.cli.read("ca.crt"), r2


def test_unmapped_provider_key_not_in_sandbox(sandbox):
    """A real key of a known provider that has no mapping (say, exported after
    `keyhole setup`) is still a real key: it must not be handed to the sandbox."""
    groq = "gsk-real-groq-" + secrets.token_hex(10)
    anthropic = "sk-ant-real-" + secrets.token_hex(10)
    r = sandbox.run("env", env={"GROQ_API_KEY": groq, "ANTHROPIC_API_KEY": anthropic})
    assert r.rc == 0, r
    leaked = [name for name, value in (("GROQ_API_KEY", groq), ("ANTHROPIC_API_KEY", anthropic))
              if value in r.out]
    assert not leaked, f"real keys of unmapped providers are in the sandbox: {leaked}"


def test_large_transfers_both_ways(sandbox, echo):
    """Bodies larger than the relay's buffers, both directions, intact."""
    n = 8 * MB
    url = f"https://api.openai.test:{echo.port}"
    with open(os.path.join(sandbox.workdir, "upload.bin"), "wb") as f:
        for chunk in pattern_chunks(n):
            f.write(chunk)
    script = (f'curl -q -sS --max-time 20 "{url}/bytes?n={n}" | sha256sum; '
              f'curl -q -sS --max-time 20 --data-binary @upload.bin "{url}/upload"')
    r = sandbox.run("sh", "-c", script, timeout=40)
    assert r.rc == 0, r
    down, _, up = r.out.partition("\n")
    assert down.split()[0] == pattern_sha256(n), r
    doc = json.loads(up)
    assert doc["body_len"] == n and doc["body_sha256"] == pattern_sha256(n), doc


def test_parallel_connections(sandbox, echo):
    url = f"https://api.openai.test:{echo.port}"
    script = " ".join(f'curl -q -sS --max-time 15 -o r{i}.json "{url}/p{i}" &' for i in range(12))
    r = sandbox.run("sh", "-c", script + " wait", timeout=30)
    assert r.rc == 0, r
    paths = []
    for i in range(12):
        with open(os.path.join(sandbox.workdir, f"r{i}.json")) as f:
            paths.append(json.load(f)["path"])
    paths.sort()
    assert paths == sorted(f"/p{i}" for i in range(12)), paths
