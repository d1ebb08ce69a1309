"""`keyhole setup` with provider keys in the environment creates a private state
directory: an EC P-256 CA (key 0600, cert 0644), mappings.json (0600) in the
seed's shape with one fresh token per provider, audit.log (0600), and
config.yaml (0600) switched on. No key and no whole token is printed."""
import json
import os
import re
import secrets
import subprocess

import yaml

from helpers.cli import TOKEN_RE, cli  # noqa: F401

KEYS = {
    "OPENAI_API_KEY": "sk-real-openai-" + secrets.token_hex(12),
    "ANTHROPIC_API_KEY": "sk-ant-real-" + secrets.token_hex(12),
    "GOOGLE_API_KEY": "AIza-real-" + secrets.token_hex(12),     # GEMINI_API_KEY's alias
}
EXPECT = {
    "OPENAI_API_KEY": ("keyhole-openai-", ["api.openai.com"], ["Authorization"]),
    "ANTHROPIC_API_KEY": ("keyhole-anthropic-", ["api.anthropic.com"],
                          ["x-api-key", "Authorization"]),
    "GOOGLE_API_KEY": ("keyhole-gemini-", ["generativelanguage.googleapis.com"],
                       ["x-goog-api-key"]),
}
LOCATIONS = {
    "OPENAI_API_KEY": [{"type": "bearer"}],
    "ANTHROPIC_API_KEY": [{"type": "header", "name": "x-api-key"}, {"type": "bearer"}],
    "GOOGLE_API_KEY": [{"type": "header", "name": "x-goog-api-key"},
                       {"type": "query", "name": "key"}],
}


def openssl(*args):
    r = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    return r.stdout


def check_state(cli):
    assert os.stat(cli.home).st_mode & 0o7777 == 0o700
    modes = {name: cli.mode(name) for name in
             ("ca.key", "ca.crt", "mappings.json", "audit.log", "config.yaml")}
    assert modes == {"ca.key": 0o600, "ca.crt": 0o644, "mappings.json": 0o600,
                     "audit.log": 0o600, "config.yaml": 0o600}, {k: oct(v) for k, v in modes.items()}
    for name in ("ca.key", "ca.crt", "mappings.json", "config.yaml"):
        assert os.stat(cli.path(name)).st_uid == os.geteuid()


def check_mappings(cli):
    doc = cli.read_mappings()
    assert set(doc) == {"version", "tokens"} and doc["version"] == 1, doc
    assert isinstance(doc["tokens"], list) and len(doc["tokens"]) == len(KEYS), doc
    seen = {}
    for t in doc["tokens"]:
        assert set(t) == {"proxy_token", "env_name", "upstream_hosts", "match_headers",
                          "locations"}, t
        assert t["locations"] == LOCATIONS[t["env_name"]], t
        prefix, hosts, headers = EXPECT[t["env_name"]]
        assert TOKEN_RE.match(t["proxy_token"]), t["proxy_token"]
        assert t["proxy_token"].startswith(prefix), t
        assert t["upstream_hosts"] == hosts, t
        assert t["match_headers"] == headers, t
        seen[t["env_name"]] = t["proxy_token"]
    assert set(seen) == set(KEYS)
    assert len(set(seen.values())) == len(seen), "two providers got the same token"
    return seen


def check_ca(cli):
    text = openssl("x509", "-in", cli.ca_crt, "-noout", "-text")
    assert re.search(r"Public Key Algorithm: id-ecPublicKey", text), text
    assert re.search(r"ASN1 OID: prime256v1|NIST CURVE: P-256", text), text
    assert re.search(r"X509v3 Basic Constraints: critical\s*\n\s*CA:TRUE", text), text
    m = re.search(r"X509v3 Key Usage: critical\s*\n\s*(.*)\n", text)
    assert m and "Certificate Sign" in m.group(1), text
    # the key on disk is the certificate's key, and it is a P-256 EC key
    assert openssl("x509", "-in", cli.ca_crt, "-noout", "-pubkey") == \
        openssl("pkey", "-in", cli.ca_key, "-pubout")
    assert "prime256v1" in openssl("pkey", "-in", cli.ca_key, "-noout", "-text") or \
        "P-256" in openssl("pkey", "-in", cli.ca_key, "-noout", "-text")


def test_setup_from_environment(cli):
    assert not os.path.exists(cli.home)
    r = cli.run("setup", env=KEYS)
    assert r.rc == 0, r
    check_state(cli)
    tokens = check_mappings(cli)
    check_ca(cli)

    cfg = yaml.safe_load(cli.read("config.yaml"))
    assert cfg["enabled"] is True, cfg
    assert cfg["credential_source"] == "env", cfg
    assert cfg["tunnel_port"] == 9090, cfg
    assert cli.read("audit.log") == ""

    # what was printed names each provider, shows tokens only redacted, never a key
    for env_name, tok in tokens.items():
        assert env_name in r.out
        assert tok not in r.text
        assert f"{tok[:12]}...{tok[-4:]}" in r.out, r.out
    assert "created" in r.out
    cli.assert_no_leak(KEYS.values(), tokens.values())


def test_setup_modes_do_not_depend_on_umask(cli):
    """A permissive umask must not loosen anything (the key is 0600 from its first byte)."""
    r = cli.run("setup", env=KEYS, preexec_fn=lambda: os.umask(0))
    assert r.rc == 0, r
    check_state(cli)
    check_mappings(cli)


def test_setup_honours_keyhole_home_and_home_option(cli):
    """--home wins over $KEYHOLE_HOME; with neither, ~/.keyhole is used."""
    other = os.path.join(cli.root, "elsewhere")
    r = cli.run("setup", "--home", other, env=KEYS)
    assert r.rc == 0, r
    assert os.path.isfile(os.path.join(other, "mappings.json"))
    assert not os.path.exists(cli.home)

    r = cli.run("setup", env={**KEYS, "KEYHOLE_HOME": None})
    assert r.rc == 0, r
    default = os.path.join(cli.user_home, ".keyhole")
    assert os.stat(default).st_mode & 0o7777 == 0o700
    with open(os.path.join(default, "mappings.json")) as f:
        assert len(json.load(f)["tokens"]) == len(KEYS)


def test_rerun_tightens_loosened_modes(cli):
    """Modes loosened after the first setup are put back; a CA key that group/other
    can read is never accepted silently (the daemon refuses to load it)."""
    r = cli.run("setup", env=KEYS)
    assert r.rc == 0, r
    os.chmod(cli.home, 0o755)
    for name in ("mappings.json", "config.yaml", "audit.log", "ca.key"):
        os.chmod(cli.path(name), 0o644)
    r = cli.run("setup", env=KEYS)
    assert os.stat(cli.home).st_mode & 0o7777 == 0o700
    for name in ("mappings.json", "config.yaml", "audit.log"):
        assert cli.mode(name) == 0o600, (name, oct(cli.mode(name)))
    key_mode = cli.mode("ca.key")
    assert (r.rc == 1 and "ca.key" in r.err) or (r.rc == 0 and key_mode == 0o600), \
        f"setup exited {r.rc} and left ca.key at {oct(key_mode)}, a mode `keyhole start` " \
        f"then refuses:\n{r}"
