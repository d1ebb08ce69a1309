"""keyhole.pid removed by hand while the daemon runs: the CLI still finds the
daemon, through control.sock (owner-only; the proxy's /healthz names no pid).
`keyhole status` shows it running with its pid, `keyhole start` does not launch
a second one, and `keyhole stop` stops it."""
import os
import time

from helpers.cli import cli, free_port, pid_alive, proxy_settings  # noqa: F401
from helpers.keyhole import mapping, mint_token

KEY = {"OPENAI_API_KEY": "sk-real-lost-" + "5" * 24}


def test_daemon_found_without_pidfile(cli, pki):
    cli.write_mappings([mapping(mint_token("openai"))])
    cli.write_config(proxy_settings(pki, free_port()))
    assert cli.run("start", env=KEY).rc == 0
    pid = cli.pid()
    os.unlink(cli.pidfile)

    r = cli.run("status")
    assert r.rc == 0 and f"running (pid {pid})" in r.out, r
    r = cli.run("start", env=KEY)
    assert r.rc == 0 and f"already running (pid {pid})" in r.out, r

    r = cli.run("stop")
    assert r.rc == 0 and f"keyhole stopped (pid {pid})" in r.out, r
    deadline = time.monotonic() + 5
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(pid)
    assert "not running" in cli.run("status").out
