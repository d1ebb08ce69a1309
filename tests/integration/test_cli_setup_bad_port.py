"""`keyhole setup --tunnel-port` takes a TCP port 1-65535; anything else is a
usage error (exit 2) that writes nothing at all."""
import os

import pytest

from helpers.cli import cli  # noqa: F401

KEYS = {"OPENAI_API_KEY": "sk-real-port-test"}


@pytest.mark.parametrize("value", ["0", "70000", "65536", "abc", "-1", "", "80x"])
def test_bad_tunnel_port_is_a_usage_error(cli, value):
    r = cli.run("setup", "--tunnel-port", value, env=KEYS)
    assert r.rc == 2, r
    assert "--tunnel-port" in r.err, r
    assert not os.path.exists(cli.home), f"setup wrote {os.listdir(cli.home)}"


def test_bad_tunnel_port_leaves_existing_setup_alone(cli):
    r = cli.run("setup", "--tunnel-port", "9191", env=KEYS)
    assert r.rc == 0, r
    before = {n: cli.read(n, "rb") for n in sorted(os.listdir(cli.home))}
    r = cli.run("setup", "--tunnel-port=70000", env=KEYS)
    assert r.rc == 2, r
    assert {n: cli.read(n, "rb") for n in sorted(os.listdir(cli.home))} == before


def test_valid_edge_ports_are_accepted(cli):
    for port in ("1", "65535"):
        r = cli.run("setup", "--tunnel-port", port, env=KEYS)
        assert r.rc == 0, r
        assert f"tunnel_port: {port}\n" in cli.read("config.yaml")
