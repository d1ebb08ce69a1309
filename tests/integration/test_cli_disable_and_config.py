"""`keyhole disable` sets enabled: false and nothing else, says so when the
daemon is still running, and is a no-op when already off. `keyhole config`
prints the effective settings with defaults filled in, exits 1 when keyhole is
not set up, and never prints credential_command or a secret."""
import re
import secrets

import yaml

from helpers.cli import cli, free_port  # noqa: F401

SECRET = "sk-real-openai-" + secrets.token_hex(10)
BWS_TOKEN = "0.bws-access-" + secrets.token_hex(12)
COMMAND = "/opt/vault/fetch --password hunter2-" + secrets.token_hex(6)
DEFAULT_DENY = ["127.0.0.0/8", "::1/128", "169.254.0.0/16", "fe80::/10", "10.0.0.0/8",
                "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "::ffff:0.0.0.0/96",
                "100.64.0.0/10", "198.18.0.0/15",
                # issue 15: "this host", IPv4-compatible, IETF, documentation,
                # multicast/reserved/broadcast, local NAT64, site-local
                "0.0.0.0/8", "::/128", "::/96", "192.0.0.0/24", "192.0.2.0/24",
                "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "224.0.0.0/4",
                "240.0.0.0/4", "ff00::/8", "64:ff9b:1::/48", "fec0::/10"]


def test_disable_keeps_the_rest_and_reports_running_daemon(cli):
    port = free_port()
    env = {"OPENAI_API_KEY": SECRET}
    r = cli.run("setup", "--tunnel-port", str(port), env=env)
    assert r.rc == 0, r
    before = cli.read("config.yaml")
    mappings = cli.read("mappings.json")
    r = cli.run("start", env=env)
    assert r.rc == 0, r
    pid = cli.pid()

    r = cli.run("disable")
    assert r.rc == 0, r
    assert "disabled" in r.out, r
    assert f"still running (pid {pid})" in r.out and "keyhole stop" in r.out, r
    assert cli.read("config.yaml") == before.replace("enabled: true", "enabled: false")
    assert cli.read("mappings.json") == mappings
    assert cli.mode("config.yaml") == 0o600
    assert re.search(r"enabled\s+no", cli.run("status").out)

    # again: already off, file untouched
    r = cli.run("disable")
    assert r.rc == 0 and "already disabled" in r.out, r
    assert cli.read("config.yaml") == before.replace("enabled: true", "enabled: false")
    cli.assert_no_leak([SECRET], cli.tokens().values())


def test_disable_when_not_running_says_nothing_about_a_daemon(cli):
    r = cli.run("setup", env={"OPENAI_API_KEY": SECRET})
    assert r.rc == 0, r
    r = cli.run("disable")
    assert r.rc == 0 and "disabled" in r.out, r
    assert "still running" not in r.out and "keyhole stop" not in r.out, r


def test_config_prints_effective_settings(cli):
    r = cli.run("config")
    assert r.rc == 1, r
    assert "keyhole setup" in r.err, r

    port = free_port()
    cli.write_config(f"# ops\ntunnel_port: {port}\nenabled: true\n"
                     "timeouts:\n  connect: 7\nextra_allowed_hosts: [lab.test]\n")
    r = cli.run("config")
    assert r.rc == 0, r
    doc = yaml.safe_load(r.out)
    assert doc["enabled"] is True and doc["tunnel_port"] == port, doc
    assert doc["credential_source"] == "env"
    assert doc["enforce_on_docker"] is True
    assert doc["fail_on_uncovered_providers"] is False and doc["allow_env_fallback"] is False
    assert doc["upstream_deny_cidrs"] == DEFAULT_DENY, doc["upstream_deny_cidrs"]
    assert doc["extra_allowed_hosts"] == ["lab.test"]
    assert doc["allowed_ports"] == {}, doc     # 443 (TLS) and 80 (plain HTTP) only
    assert doc["timeouts"]["connect"] == 7 and doc["timeouts"]["shutdown_grace"] == 10, doc
    assert doc["bitwarden"] == {"project_id": None, "access_token_env": "BWS_ACCESS_TOKEN"}
    assert doc["credential_command"] is None
    assert doc["busy_poll_us"] == 50 and doc["workers"] == 0, doc
    assert doc["privsep"] is True, doc          # front processes unless config.yaml says no
    assert cli.home in r.out and cli.config in r.out

    # explicit empty deny list is "off", not the default
    cli.write_config("enabled: false\nupstream_deny_cidrs: []\nbusy_poll_us: 0\nprivsep: false\n"
                     "allowed_ports: {'*.lab.test': [8443, '9000-9100'], lab.test: [8080]}\n"
                     "resolve: {lab.test: '127.0.0.1:8443', six.test: '[::1]:9000'}\n")
    doc = yaml.safe_load(cli.run("config").out)
    assert doc["upstream_deny_cidrs"] == [] and doc["enabled"] is False, doc
    assert doc["busy_poll_us"] == 0 and doc["privsep"] is False, doc
    assert doc["allowed_ports"] == {"*.lab.test": [8443, "9000-9100"], "lab.test": [8080]}, doc
    assert doc["resolve"] == {"lab.test": "127.0.0.1:8443", "six.test": "[::1]:9000"}, doc


def test_config_never_prints_the_command_or_secrets(cli):
    cli.write_config(yaml.safe_dump({
        "enabled": True, "credential_source": "command", "credential_command": COMMAND,
        "bitwarden": {"project_id": "p-1", "access_token_env": "LAB_BWS"}}))
    r = cli.run("config", env={"OPENAI_API_KEY": SECRET, "LAB_BWS": BWS_TOKEN,
                               "BWS_ACCESS_TOKEN": BWS_TOKEN})
    assert r.rc == 0, r
    doc = yaml.safe_load(r.out)
    assert doc["credential_source"] == "command"
    assert doc["credential_command"] == "(set; not shown)", doc
    assert doc["bitwarden"] == {"project_id": "p-1", "access_token_env": "LAB_BWS"}
    for s in (COMMAND, "hunter2", "/opt/vault", SECRET, BWS_TOKEN):
        assert s not in r.text, f"`keyhole config` printed {s!r}"
    r = cli.run("status", env={"OPENAI_API_KEY": SECRET, "LAB_BWS": BWS_TOKEN})
    assert "hunter2" not in r.text and SECRET not in r.text and BWS_TOKEN not in r.text
