"""kill -9 of the daemon leaves its pidfile, nonce and Unix sockets behind;
`keyhole status` says it is not running, and `keyhole start` recovers: the
stale state does not block it, the new daemon serves (over TCP and over the
Unix socket) and is the one control.sock names, and `keyhole stop` stops it."""
import json
import os
import signal
import socket
import time

from helpers.cli import cli, free_port, pid_alive, proxy_settings  # noqa: F401
from helpers.client import curl
from helpers.keyhole import mapping, mint_token

KEY = {"OPENAI_API_KEY": "sk-real-kill9-" + "9" * 24}


def _control_status(path):
    """The daemon's own answer to {"op":"status"} on control.sock (owner-only)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(b'{"op":"status"}\n')
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return json.loads(data)


def _healthz_unix(path):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: keyhole\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return data


def monitor_pid(daemon):
    """The daemon's monitor process (proxy/monitor.h): its child named keyhole-monitor."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == daemon and comm == "keyhole-monitor":
            return int(name)
    raise AssertionError(f"daemon {daemon} has no monitor process")


def test_start_after_kill9(cli, pki, echo):
    token = mint_token("openai")
    cli.write_mappings([mapping(token)])
    port = free_port()
    cli.write_config(proxy_settings(pki, port))
    assert cli.run("start", env=KEY).rc == 0
    first = cli.pid()
    url = f"https://api.openai.test:{echo.port}/x"
    proxy = f"http://127.0.0.1:{port}"
    assert curl(url, proxy=proxy, cacert=cli.ca_crt).status == 200

    # a crash that takes the daemon and its monitor (which would otherwise
    # remove the daemon's sockets: test_monitor_cleans_up_after_a_killed_daemon)
    monitor = monitor_pid(first)
    os.kill(monitor, signal.SIGKILL)
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while (pid_alive(first) or pid_alive(monitor)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(first) and not pid_alive(monitor)
    assert os.path.exists(cli.pidfile) and os.path.exists(cli.path("proxy.sock")), \
        "expected kill -9 to leave stale state behind (the point of this test)"

    r = cli.run("status")
    assert r.rc == 0 and "not running" in r.out, r
    r = cli.run("start", env=KEY)
    assert r.rc == 0, r
    second = cli.pid()
    assert second not in (None, first) and pid_alive(second)
    got = curl(url, proxy=proxy, cacert=cli.ca_crt)
    assert got.rc == 0 and got.status == 200, got.stderr
    # proxy.sock serves again; which daemon it is, only control.sock says
    got = _healthz_unix(cli.path("proxy.sock"))
    assert got.startswith(b"HTTP/1.1 200 ") and got.endswith(b"\r\n\r\nkeyhole ok\n"), got
    assert _control_status(cli.path("control.sock"))["pid"] == second
    assert f"running (pid {second})" in cli.run("status").out

    r = cli.run("stop")
    assert r.rc == 0, r
    assert not pid_alive(second)
    cli.assert_no_leak([KEY["OPENAI_API_KEY"]], [token])


def test_monitor_cleans_up_after_a_killed_daemon(cli, pki, echo):
    """The daemon alone killed: its monitor, seeing it gone, removes the
    sockets the daemon made (the confined daemon could not at any end) and
    exits; a start then works as after any stop."""
    cli.write_mappings([mapping(mint_token("openai"))])
    port = free_port()
    cli.write_config(proxy_settings(pki, port))
    assert cli.run("start", env=KEY).rc == 0
    first = cli.pid()
    monitor = monitor_pid(first)
    for name in ("proxy.sock", "control.sock"):
        assert os.path.exists(cli.path(name))
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while (pid_alive(monitor) or os.path.exists(cli.path("proxy.sock"))) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(monitor)
    for name in ("proxy.sock", "tls.sock", "http.sock", "control.sock", "keyhole.metrics"):
        assert not os.path.exists(cli.path(name)), name
    r = cli.run("start", env=KEY)
    assert r.rc == 0, r
    assert cli.pid() not in (None, first)
