"""When the daemon dies while `keyhole start` waits for it (here: its port is
taken by a socket the test holds), start fails promptly (exit 1), shows the
daemon's own error line from keyhole.log, and leaves no pidfile or nonce."""
import os
import socket
import time

from helpers.cli import cli, free_port, pid_alive, proc_cmdline  # noqa: F401

KEY = {"OPENAI_API_KEY": "sk-real-dies-" + "7" * 20}


def keyhole_daemons_of(home):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            argv = proc_cmdline(int(entry))
            if argv[:2] == [b"keyhole", b"proxy"] and home.encode() in argv and \
                    pid_alive(int(entry)):
                found.append(int(entry))
    return found


def test_port_in_use(cli):
    port = free_port()
    r = cli.run("setup", "--tunnel-port", str(port), env=KEY)
    assert r.rc == 0, r
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        t0 = time.monotonic()
        r = cli.run("start", env=KEY, timeout=20)
        took = time.monotonic() - t0
    assert r.rc == 1, r
    assert took < 6, f"start took {took:.1f}s to notice the daemon died"
    assert "exited during start" in r.err, r
    # the daemon's own explanation, as written to keyhole.log
    line = [ln for ln in cli.read("keyhole.log").splitlines() if "already in use" in ln]
    assert line, cli.read("keyhole.log")
    assert line[-1].strip() in r.err, r
    assert f"127.0.0.1:{port}" in r.err
    assert not os.path.exists(cli.pidfile) and not os.path.exists(cli.nonce)
    assert keyhole_daemons_of(cli.home) == []
    cli.assert_no_leak(KEY.values())

    # once the port is free, start works
    r = cli.run("start", env=KEY)
    assert r.rc == 0, r
