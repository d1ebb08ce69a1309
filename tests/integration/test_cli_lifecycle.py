"""start -> status -> start again -> stop -> stop again.

start launches the daemon in the background and records keyhole.pid and
keyhole.nonce (0600); status reports it running and answering, with tokens
redacted unless --show-tokens (which warns), and --json for scripts; a second
start is a no-op; stop ends it and removes the state files; a second stop is
a no-op too."""
import json
import os
import re
import secrets
import time

from helpers.cli import cli, free_port, pid_alive, proc_cmdline  # noqa: F401

KEYS = {"OPENAI_API_KEY": "sk-real-openai-" + secrets.token_hex(10),
        "GROQ_API_KEY": "gsk-real-groq-" + secrets.token_hex(10)}


def test_start_status_stop(cli):
    port = free_port()
    r = cli.run("setup", "--tunnel-port", str(port), env=KEYS)
    assert r.rc == 0, r
    tokens = cli.tokens()

    r = cli.run("start", env=KEYS)
    assert r.rc == 0, r
    m = re.search(r"keyhole started \(pid (\d+)\), listening on 127\.0\.0\.1:(\d+)", r.out)
    assert m, r
    pid = int(m.group(1))
    assert int(m.group(2)) == port
    assert cli.pid() == pid
    assert proc_cmdline(pid)[:4] == [b"keyhole", b"proxy", b"--home", cli.home.encode()]
    assert re.fullmatch(r"[0-9a-f]{64}", cli.read("keyhole.nonce").strip())
    for name in ("keyhole.pid", "keyhole.nonce", "keyhole.log"):
        assert cli.mode(name) == 0o600, (name, oct(cli.mode(name)))

    # status: running, answering, tokens redacted
    r = cli.run("status", env=KEYS)
    assert r.rc == 0, r
    assert re.search(rf"daemon\s+running \(pid {pid}\)", r.out), r
    assert re.search(r"listening\s+yes", r.out), r
    assert re.search(rf"tunnel port\s+{port}\b", r.out), r
    assert re.search(r"enabled\s+yes", r.out), r
    for name, tok in tokens.items():
        assert name in r.out
        assert tok not in r.out
        assert f"{tok[:12]}...{tok[-4:]}" in r.out, r
    assert "warning" not in r.err

    # --show-tokens: in full, with a warning on stderr
    r = cli.run("status", "--show-tokens", env=KEYS)
    assert r.rc == 0, r
    for tok in tokens.values():
        assert tok in r.out, r
    assert "warning" in r.err and "full" in r.err, r

    # --json
    r = cli.run("status", "--json", env=KEYS)
    assert r.rc == 0, r
    doc = json.loads(r.out)
    for field in ("version", "enabled", "home", "config_path", "ca_cert", "tunnel_port",
                  "running", "pid", "listening", "credential_source", "mappings", "uncovered"):
        assert field in doc, (field, doc)
    assert doc["running"] is True and doc["pid"] == pid and doc["listening"] is True, doc
    assert doc["enabled"] is True and doc["tunnel_port"] == port, doc
    assert doc["home"] == cli.home and doc["credential_source"] == "env", doc
    shown = {mp["env_name"]: mp["proxy_token"] for mp in doc["mappings"]}
    assert set(shown) == set(tokens)
    assert all(shown[k] != tokens[k] and shown[k].startswith(tokens[k][:12]) for k in shown)
    doc = json.loads(cli.run("status", "--json", "--show-tokens", env=KEYS).out)
    assert {mp["env_name"]: mp["proxy_token"] for mp in doc["mappings"]} == tokens

    # a second start: already running, same daemon
    r = cli.run("start", env=KEYS)
    assert r.rc == 0, r
    assert f"already running (pid {pid})" in r.out, r
    assert cli.pid() == pid and pid_alive(pid)

    # stop
    r = cli.run("stop", env=KEYS)
    assert r.rc == 0, r
    assert f"keyhole stopped (pid {pid})" in r.out, r
    assert not os.path.exists(cli.pidfile) and not os.path.exists(cli.nonce)
    deadline = time.monotonic() + 3
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(pid)

    # stop again
    r = cli.run("stop", env=KEYS)
    assert r.rc == 0, r
    assert "not running" in r.out, r

    r = cli.run("status", env=KEYS)
    assert r.rc == 0 and re.search(r"daemon\s+not running", r.out), r
    assert re.search(r"listening\s+no", r.out), r
    doc = json.loads(cli.run("status", "--json", env=KEYS).out)
    assert doc["running"] is False and doc["pid"] is None and doc["listening"] is False, doc

    cli.assert_no_leak(KEYS.values(), tokens.values())


def test_status_before_setup(cli):
    r = cli.run("status")
    assert r.rc == 0, r
    assert re.search(r"enabled\s+no", r.out) and "absent" in r.out, r
    doc = json.loads(cli.run("status", "--json").out)
    assert doc["enabled"] is False and doc["running"] is False and doc["mappings"] == [], doc
    assert doc["config_exists"] is False and doc["ca_exists"] is False, doc
