"""`keyhole reload` makes the running daemon re-read config.yaml: a host added
to extra_allowed_hosts becomes reachable through the same process. An invalid
config is refused (exit 1, with the reason) and the running policy stays in
force. Without a running daemon reload fails (exit 1)."""
import secrets

from helpers.checks import echoed, echoed_headers
from helpers.cli import cli, free_port, pid_alive, proxy_settings  # noqa: F401
from helpers.client import curl, send_connect
from helpers.keyhole import mapping, mint_token

SECRET = "sk-real-reload-" + secrets.token_hex(10)


def connect_status(port, authority):
    conn, resp = send_connect(port, authority)
    conn.close()
    return resp.status, resp.header("X-Keyhole-Reason")


def test_reload_applies_new_allowlist_and_survives_bad_config(cli, pki, echo):
    token = mint_token("openai")
    cli.write_mappings([mapping(token)])
    port = free_port()
    cfg = proxy_settings(pki, port)
    cli.write_config(cfg)
    env = {"OPENAI_API_KEY": SECRET}

    r = cli.run("reload", env=env)
    assert r.rc == 1 and "not running" in r.err, r

    r = cli.run("start", env=env)
    assert r.rc == 0, r
    pid = cli.pid()
    other = f"other.test:{echo.port}"
    status, reason = connect_status(port, other)
    assert status == 403, (status, reason)

    cfg["extra_allowed_hosts"] = ["api.openai.test", "other.test"]
    cli.write_config(cfg)
    r = cli.run("reload", env=env)
    assert r.rc == 0, r
    assert "reload: ok" in r.out, r
    assert connect_status(port, other)[0] == 200
    got = curl(f"https://other.test:{echo.port}/after-reload", proxy=f"http://127.0.0.1:{port}",
               cacert=cli.ca_crt)
    assert got.rc == 0 and got.status == 200, (got.rc, got.status, got.stderr)
    assert echoed(got)["path"] == "/after-reload"
    assert cli.pid() == pid and pid_alive(pid), "reload restarted the daemon"

    # invalid YAML value: refused with the reason, old policy in force
    good = cli.read("config.yaml")
    cli.write_config(good.replace(f"tunnel_port: {port}", "tunnel_port: abc"))
    r = cli.run("reload", env=env)
    assert r.rc == 1, r
    assert "tunnel_port" in r.err, r
    assert connect_status(port, other)[0] == 200

    # a config the daemon itself cannot load (a missing CA file): also refused
    cfg["upstream_ca_file"] = cli.path("no-such-ca.pem")
    cfg["extra_allowed_hosts"] = ["api.openai.test"]
    cli.write_config(cfg)
    r = cli.run("reload", env=env)
    assert r.rc == 1, r
    assert "reload failed" in r.err and "no-such-ca.pem" in r.err, r   # the daemon's verdict
    assert connect_status(port, other)[0] == 200, "a failed reload changed the policy"

    # the credential still works through all of it, and nothing leaked
    cli.write_config(good)
    assert cli.run("reload", env=env).rc == 0
    got = curl(f"https://api.openai.test:{echo.port}/v1/models", proxy=f"http://127.0.0.1:{port}",
               cacert=cli.ca_crt, headers=[f"Authorization: Bearer {token}"])
    assert echoed_headers(echoed(got), "Authorization") == [f"Bearer {SECRET}"]
    assert cli.pid() == pid and pid_alive(pid)
    cli.assert_no_leak([SECRET], [token])
