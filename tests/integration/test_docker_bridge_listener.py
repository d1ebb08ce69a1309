"""The daemon also listens on the Docker bridge (docker0), where
host.docker.internal:host-gateway points containers, on the tunnel port.

Each case runs `keyhole proxy` inside a fresh network namespace whose docker0
is a plain Linux bridge made by the test, so nothing on the host is touched:
- docker0 = 172.17.0.1/16: the log says "listening on 172.17.0.1:<port>" (the
  loopback port) and /healthz answers there from inside the namespace;
- listen_docker_bridge: false: it does not listen there;
- docker0 with a public address (203.0.113.1/24, TEST-NET-3, assigned only inside
  the namespace) or a link-local one: not listened on, and no wildcard either;
- a public address first and a private one second: only the private one;
- bridges that appear after start (Docker installed or started later, podman's
  podman0 made per container) are listened on within seconds, and stop being
  listened on when their address goes (issue 22 item 1);
- `keyhole docker run` refuses, naming the fix, when docker0 exists but keyhole
  does not answer there (the container could not reach it).
The namespace is always deleted at teardown."""
import os
import re
import secrets
import subprocess
import time

import pytest

from helpers.cli import cli, free_port  # noqa: F401
from helpers.engine import ip, netns  # noqa: F401
from helpers.keyhole import dump_yaml
from helpers.sandbox import docker  # noqa: F401

LISTEN_RE = re.compile(r"listening on (\S+)")
READY_RE = re.compile(r"keyhole \S+: \d+ worker")


def start_daemon(ns, keyhole_bin, home, config):
    """`keyhole proxy --home home` inside ns; returns (proc, [listening on ...], log)."""
    os.makedirs(home, mode=0o700, exist_ok=True)
    with open(os.path.join(home, "config.yaml"), "w") as f:
        f.write(dump_yaml(config))
    errpath = os.path.join(home, "..", "stderr.txt")
    with open(errpath, "wb") as err:
        p = subprocess.Popen(["ip", "netns", "exec", ns.name, keyhole_bin, "proxy", "--home",
                              home], stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                             env={"PATH": "/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8"},
                             start_new_session=True)
    ns.procs.append(p)
    deadline = time.monotonic() + 10
    text = ""
    while time.monotonic() < deadline:
        with open(errpath, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        if READY_RE.search(text):
            return p, LISTEN_RE.findall(text), text
        if p.poll() is not None:
            raise AssertionError(f"keyhole proxy exited with {p.returncode}:\n{text}")
        time.sleep(0.05)
    raise AssertionError(f"keyhole proxy not ready within 10 s:\n{text}")


def loopback_port(listens, log):
    ports = [int(a.rsplit(":", 1)[1]) for a in listens if a.startswith("127.0.0.1:")]
    assert len(ports) == 1, log
    return ports[0]


def test_listens_on_docker_bridge(netns, keyhole_bin, tmp_path):
    netns.bridge("172.17.0.1/16")
    _, listens, log = start_daemon(netns, keyhole_bin, str(tmp_path / "home"),
                                   {"tunnel_port": 0})
    port = loopback_port(listens, log)
    assert f"172.17.0.1:{port}" in listens, log
    rc, body = netns.healthz("172.17.0.1", port)
    assert rc == 0 and body.startswith("keyhole "), (rc, body)
    rc, body = netns.healthz("127.0.0.1", port)
    assert rc == 0 and body.startswith("keyhole "), (rc, body)
    assert not any(a.startswith(("0.0.0.0", "[::]")) for a in listens), log


def test_listen_docker_bridge_false(netns, keyhole_bin, tmp_path):
    netns.bridge("172.17.0.1/16")
    _, listens, log = start_daemon(netns, keyhole_bin, str(tmp_path / "home"),
                                   {"tunnel_port": 0, "listen_docker_bridge": False})
    port = loopback_port(listens, log)
    assert "172.17.0.1" not in log, log
    rc, body = netns.healthz("172.17.0.1", port)
    assert rc != 0, f"something answered on 172.17.0.1:{port}: {body}"


@pytest.mark.parametrize("addrs, never", [
    (["203.0.113.1/24"], "203.0.113.1"),
    (["169.254.17.1/16"], "169.254.17.1"),
], ids=["public", "link-local"])
def test_unsafe_bridge_address_not_listened(netns, keyhole_bin, tmp_path, addrs, never):
    netns.bridge(*addrs)
    _, listens, log = start_daemon(netns, keyhole_bin, str(tmp_path / "home"),
                                   {"tunnel_port": 0})
    port = loopback_port(listens, log)
    assert never not in log, log
    assert [a for a in listens if not a.startswith("unix:")] == [f"127.0.0.1:{port}"], log
    rc, body = netns.healthz(never, port)
    assert rc != 0, f"something answered on {never}:{port}: {body}"


def test_public_then_private_bridge_address(netns, keyhole_bin, tmp_path):
    netns.bridge("203.0.113.1/24", "172.17.0.1/16")
    _, listens, log = start_daemon(netns, keyhole_bin, str(tmp_path / "home"),
                                   {"tunnel_port": 0})
    port = loopback_port(listens, log)
    assert f"172.17.0.1:{port}" in listens, log
    assert "203.0.113.1" not in log, log
    rc, body = netns.healthz("172.17.0.1", port)
    assert rc == 0 and body.startswith("keyhole "), (rc, body)
    rc, body = netns.healthz("203.0.113.1", port)
    assert rc != 0, body


def log_text(home):
    with open(os.path.join(home, "..", "stderr.txt"), "rb") as f:
        return f.read().decode("utf-8", "replace")


def test_bridge_appearing_after_start(netns, keyhole_bin, tmp_path):
    """keyhole started before Docker: docker0 comes later, goes, comes back with
    another address; podman0 comes and goes per container. No reload needed."""
    ip("-n", netns.name, "link", "set", "lo", "up")
    home = str(tmp_path / "home")
    _, listens, log = start_daemon(netns, keyhole_bin, home, {"tunnel_port": 0})
    port = loopback_port(listens, log)
    assert [a for a in listens if not a.startswith("unix:")] == [f"127.0.0.1:{port}"], log

    netns.bridge("172.17.0.1/16")
    netns.wait_healthz("172.17.0.1", port, up=True)
    assert f"listening on 172.17.0.1:{port} (docker0" in log_text(home)

    ip("-n", netns.name, "addr", "flush", "dev", "docker0")
    netns.wait_healthz("172.17.0.1", port, up=False)
    assert "docker0: its address 172.17.0.1 is gone" in log_text(home)

    ip("-n", netns.name, "addr", "add", "172.18.0.1/16", "dev", "docker0")
    netns.wait_healthz("172.18.0.1", port, up=True)

    netns.bridge("10.88.0.1/16", name="podman0")
    netns.wait_healthz("10.88.0.1", port, up=True)
    ip("-n", netns.name, "link", "del", "podman0")
    netns.wait_healthz("10.88.0.1", port, up=False)
    netns.wait_healthz("172.18.0.1", port, up=True, timeout=1)  # docker0 untouched
    assert "203.0.113" not in log_text(home)


def test_public_bridge_appearing_later_not_listened(netns, keyhole_bin, tmp_path):
    ip("-n", netns.name, "link", "set", "lo", "up")
    home = str(tmp_path / "home")
    _, listens, log = start_daemon(netns, keyhole_bin, home, {"tunnel_port": 0})
    port = loopback_port(listens, log)
    netns.bridge("203.0.113.1/24")
    netns.bridge("172.17.0.1/16", name="podman0")  # a change that is seen after docker0's
    netns.wait_healthz("172.17.0.1", port, up=True)
    rc, body = netns.healthz("203.0.113.1", port)
    assert rc != 0, body
    assert "203.0.113.1" not in log_text(home)


KEYS = {"OPENAI_API_KEY": "sk-real-openai-" + secrets.token_hex(10)}


@pytest.mark.parametrize("listen_bridge", [True, False], ids=["listening", "not-listening"])
def test_docker_run_refuses_when_container_cannot_reach_keyhole(netns, cli, docker,
                                                                listen_bridge):
    """docker0 exists but keyhole does not answer on it: `keyhole docker run`
    refuses with the fix instead of starting a container whose every request
    fails with "Failed to connect to host.docker.internal"."""
    netns.bridge("172.17.0.1/16")
    inside = netns.prefix
    port = free_port()
    r = cli.run("setup", "--tunnel-port", str(port), env=KEYS)
    assert r.rc == 0, r
    with open(cli.config, "a") as f:
        f.write(f"listen_docker_bridge: {'true' if listen_bridge else 'false'}\n")
    r = cli.run("start", env=KEYS, wrapper=inside)
    assert r.rc == 0, r
    r = cli.run("docker", "run", "--rm", "alpine", "true", env=KEYS, wrapper=inside)
    if listen_bridge:
        assert r.rc == 0 and docker.calls() == 1, r
        return
    assert r.rc != 0 and docker.calls() == 0, r
    assert f"does not answer on docker0 (172.17.0.1:{port})" in r.err, r
    assert "listen_docker_bridge: true" in r.err, r
