"""`keyhole start` refuses (exit 1, pointing at `keyhole setup`) when keyhole
was never set up and when it is disabled; nothing is started or recorded."""
import os
import socket

from helpers.cli import cli, free_port  # noqa: F401
from helpers.keyhole import mapping, mint_token

KEY = {"OPENAI_API_KEY": "sk-real-refused-0123456789"}


def assert_nothing_started(cli, port=None):
    assert not os.path.exists(cli.pidfile) and not os.path.exists(cli.nonce)
    assert not cli.daemon_pids
    if port is not None:
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, "something listens on the port"


def test_start_before_setup(cli):
    r = cli.run("start", env=KEY)
    assert r.rc == 1, r
    assert "keyhole setup" in r.err, r
    assert_nothing_started(cli)


def test_start_when_disabled(cli):
    port = free_port()
    cli.write_mappings([mapping(mint_token("openai"))])
    cli.write_config({"enabled": False, "tunnel_port": port})
    r = cli.run("start", env=KEY)
    assert r.rc == 1, r
    assert "not enabled" in r.err and "keyhole setup" in r.err, r
    assert_nothing_started(cli, port)


def test_start_after_disable(cli):
    port = free_port()
    r = cli.run("setup", "--tunnel-port", str(port), env=KEY)
    assert r.rc == 0, r
    assert cli.run("disable").rc == 0
    r = cli.run("start", env=KEY)
    assert r.rc == 1, r
    assert "keyhole setup" in r.err, r
    assert_nothing_started(cli, port)
    cli.assert_no_leak(KEY.values())
