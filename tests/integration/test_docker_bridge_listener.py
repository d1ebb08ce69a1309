"""The daemon also listens on the Docker bridge (docker0), where
host.docker.internal:host-gateway points containers, on the tunnel port.

Each case runs `keyhole proxy` inside a fresh network namespace whose docker0
is a plain Linux bridge made by the test, so nothing on the host is touched:
- docker0 = 172.17.0.1/16: the log says "listening on 172.17.0.1:<port>" (the
  loopback port) and /healthz answers there from inside the namespace;
- listen_docker_bridge: false: it does not listen there;
- docker0 with a public address (203.0.113.1/24, TEST-NET-3, assigned only inside
  the namespace) or a link-local one: not listened on, and no wildcard either;
- a public address first and a private one second: only the private one.
The namespace is always deleted at teardown."""
import os
import re
import secrets
import subprocess
import time

import pytest

from helpers.keyhole import dump_yaml

LISTEN_RE = re.compile(r"listening on (\S+)")
READY_RE = re.compile(r"keyhole \S+: \d+ worker")


def ip(*args, check=True):
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if check and r.returncode != 0:
        raise AssertionError(f"ip {' '.join(args)} failed: {r.stderr.strip()}")
    return r


class Netns:
    def __init__(self, name):
        self.name = name
        self.procs = []

    def run(self, *cmd, timeout=10):
        return subprocess.run(["ip", "netns", "exec", self.name, *cmd], capture_output=True,
                              text=True, timeout=timeout,
                              env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"})

    def bridge(self, *addrs):
        ip("-n", self.name, "link", "set", "lo", "up")
        ip("-n", self.name, "link", "add", "docker0", "type", "bridge")
        for a in addrs:
            ip("-n", self.name, "addr", "add", a, "dev", "docker0")
        ip("-n", self.name, "link", "set", "docker0", "up")

    def healthz(self, host, port):
        """(curl exit code, body) for GET http://host:port/healthz from inside."""
        r = self.run("curl", "-q", "-sS", "--noproxy", "*", "--max-time", "3",
                     f"http://{host}:{port}/healthz", timeout=10)
        return r.returncode, r.stdout + r.stderr


@pytest.fixture
def netns():
    name = f"kh-br-{secrets.token_hex(4)}"
    r = ip("netns", "add", name, check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {r.stderr.strip()}")
    ns = Netns(name)
    try:
        yield ns
    finally:
        for p in ns.procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)
        ip("netns", "del", name, check=False)


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
