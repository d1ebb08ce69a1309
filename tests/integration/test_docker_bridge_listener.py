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
  does not answer there (the container could not reach it);
- privsep: true (the fronts are processes, which may not make a socket: the
  daemon opens each bridge listener and hands it to every front over its
  channel, LISTEN_ADD / LISTEN_DEL): a bridge present at start and one that
  appears later are served by the fronts (a real intercepted request through
  the bridge address gets the real key to the upstream), a removed one is
  listened on by no process any more (ss), and a front killed with SIGKILL
  comes back serving the bridge (one front, so nothing else could).
The namespace is always deleted at teardown."""
import json
import os
import re
import secrets
import select
import signal
import subprocess
import time

import pytest

from helpers.cli import cli, free_port  # noqa: F401
from helpers.engine import CLEAN_ENV, ip, netns  # noqa: F401
from helpers.keyhole import dump_yaml, mapping, mint_token, privsep_on
from helpers.sandbox import docker  # noqa: F401

LISTEN_RE = re.compile(r"listening on (\S+)")
READY_RE = re.compile(r"keyhole \S+: \d+ worker")


def start_daemon(ns, keyhole_bin, home, config, mappings=None, env=None):
    """`keyhole proxy --home home` inside ns; returns (proc, [listening on ...], log).
    KH_TEST_PRIVSEP=0 (the suite in one process, helpers.keyhole.privsep_on) sets
    privsep: false where the test does not say."""
    if not privsep_on():
        config = {"privsep": False, **config}
    os.makedirs(home, mode=0o700, exist_ok=True)
    with open(os.path.join(home, "config.yaml"), "w") as f:
        f.write(dump_yaml(config))
    if mappings is not None:
        with open(os.path.join(home, "mappings.json"), "w") as f:
            json.dump({"version": 1, "tokens": mappings}, f)
    errpath = os.path.join(home, "..", "stderr.txt")
    with open(errpath, "wb") as err:
        p = subprocess.Popen(["ip", "netns", "exec", ns.name, keyhole_bin, "proxy", "--home",
                              home], stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                             env={"PATH": "/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8",
                                  **(env or {})},
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


@pytest.mark.parametrize("privsep", [False, True], ids=["threads", "privsep"])
def test_listens_on_docker_bridge(netns, keyhole_bin, tmp_path, privsep):
    netns.bridge("172.17.0.1/16")
    _, listens, log = start_daemon(netns, keyhole_bin, str(tmp_path / "home"),
                                   {"tunnel_port": 0, "privsep": privsep})
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


@pytest.mark.parametrize("privsep", [False, True], ids=["threads", "privsep"])
def test_bridge_appearing_after_start(netns, keyhole_bin, tmp_path, privsep):
    """keyhole started before Docker: docker0 comes later, goes, comes back with
    another address; podman0 comes and goes per container. No reload needed."""
    ip("-n", netns.name, "link", "set", "lo", "up")
    home = str(tmp_path / "home")
    _, listens, log = start_daemon(netns, keyhole_bin, home,
                                   {"tunnel_port": 0, "privsep": privsep, "workers": 2})
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


# ---- privsep: true, with a real request through the bridge ----------------

NS_UPSTREAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers",
                           "ns_upstream.py")
SECRET = "sk-real-bridge-" + secrets.token_hex(10)


class Swap:
    """keyhole (privsep: true) and the tests' TLS echo upstream in one namespace,
    and curl from inside it through a bridge address with a proxy token."""

    def __init__(self, ns, keyhole_bin, pki, tmp_path, workers):
        self.ns, self.tmp = ns, tmp_path
        self.home = str(tmp_path / "home")
        out = str(tmp_path / "upstream.json")
        self.rec = out
        up = ns.popen(["/usr/bin/python3", NS_UPSTREAM, pki.server.cert, pki.server.key, out],
                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=CLEAN_ENV)
        ready, _, _ = select.select([up.stdout], [], [], 10)
        assert ready, "upstream did not start within 10 s"
        self.uport = int(up.stdout.readline())
        self.token = mint_token("openai")
        self.n = 0
        cfg = {"tunnel_port": 0, "privsep": True, "workers": workers,
               "upstream_ca_file": pki.ca.cert, "resolve": {"api.openai.test": "127.0.0.1"},
               "upstream_deny_cidrs": [], "allowed_ports": {"*": ["1-65535"]}}
        self.proc, listens, log = start_daemon(ns, keyhole_bin, self.home, cfg,
                                               mappings=[mapping(self.token)],
                                               env={"OPENAI_API_KEY": SECRET})
        self.port = loopback_port(listens, log)

    def request(self, host, timeout=5):
        """(curl exit code, HTTP status or stderr) of one swap through host:port, to
        /via-<host>/<n> (n counts the requests)."""
        self.n += 1
        r = self.ns.run("curl", "-q", "-sS", "--max-time", str(timeout), "--proxy",
                        f"http://{host}:{self.port}", "--cacert",
                        os.path.join(self.home, "ca.crt"), "-H",
                        f"Authorization: Bearer {self.token}", "-o", "/dev/null", "-w",
                        "%{http_code}", f"https://api.openai.test:{self.uport}/via-{host}/{self.n}",
                        timeout=timeout + 5)
        return r.returncode, r.stdout.strip() if r.returncode == 0 else r.stderr

    def swapped(self, host, n=None):
        """The Authorization headers the upstream got on requests through host (the
        n-th request only, when given)."""
        try:
            with open(self.rec) as f:
                seen = json.load(f)
        except (OSError, ValueError):
            seen = []
        want = f"/via-{host}/" + ("" if n is None else str(n))
        return [x["authorization"] for x in seen
                if x["target"] == want or (n is None and x["target"].startswith(want))]

    def wait_swap(self, host, timeout=5):
        """A request through host succeeds (retried while the listener is on its way)
        and the upstream saw the real key."""
        deadline = time.monotonic() + timeout
        while True:
            rc, what = self.request(host)
            if rc == 0 and what == "200":
                break
            assert time.monotonic() < deadline, f"no swap through {host}: {rc} {what}"
            time.sleep(0.2)
        deadline = time.monotonic() + 2  # the upstream writes its record every 0.1 s
        while not self.swapped(host, self.n) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.swapped(host, self.n) == [f"Bearer {SECRET}"], self.swapped(host)

    def fronts(self, want, timeout=10):
        """Pids of this keyhole's front processes, once there are want of them."""
        deadline = time.monotonic() + timeout
        while True:
            pids = []
            for d in os.listdir("/proc"):
                try:
                    with open(f"/proc/{d}/cmdline", "rb") as f:
                        argv = f.read().split(b"\0")
                except (OSError, ValueError):
                    continue
                if len(argv) > 3 and argv[1] == b"__front" and self.home.encode() in argv:
                    pids.append(int(d))
            if len(pids) == want or time.monotonic() > deadline:
                return sorted(pids)
            time.sleep(0.05)

    def listening_on(self, addr):
        """Listening TCP sockets on addr:port in the namespace, whoever holds them."""
        r = self.ns.run("ss", "-Htln", f"src {addr}:{self.port}")
        assert r.returncode == 0, r.stderr
        return [ln for ln in r.stdout.splitlines() if ln.strip()]

    def wait_not_listening(self, addr, timeout=5):
        deadline = time.monotonic() + timeout
        while self.listening_on(addr) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert self.listening_on(addr) == [], self.listening_on(addr)


def test_privsep_bridge_at_start_is_served_by_the_fronts(netns, keyhole_bin, pki, tmp_path):
    netns.bridge("172.17.0.1/16")
    sw = Swap(netns, keyhole_bin, pki, tmp_path, workers=2)
    assert len(sw.fronts(2)) == 2
    log = log_text(sw.home)
    assert f"listening on 172.17.0.1:{sw.port} (docker0" in log, log
    assert "not listened on when fronts are processes" not in log, log
    for _ in range(4):  # whichever front takes it
        sw.wait_swap("172.17.0.1")
    sw.wait_swap("127.0.0.1")


def test_privsep_late_bridge_served_and_removed_bridge_not_listened(netns, keyhole_bin, pki,
                                                                    tmp_path):
    sw = Swap(netns, keyhole_bin, pki, tmp_path, workers=2)
    assert len(sw.fronts(2)) == 2
    assert sw.listening_on("172.17.0.1") == []
    netns.bridge("172.17.0.1/16")
    sw.wait_swap("172.17.0.1")
    ip("-n", netns.name, "addr", "flush", "dev", "docker0")
    sw.wait_not_listening("172.17.0.1")  # neither the daemon nor any front holds it
    assert "docker0: its address 172.17.0.1 is gone" in log_text(sw.home)
    ip("-n", netns.name, "addr", "add", "172.17.0.1/16", "dev", "docker0")  # back again
    sw.wait_swap("172.17.0.1")
    assert "cannot reach keyhole there" not in log_text(sw.home), log_text(sw.home)
    netns.bridge("10.88.0.1/16", name="podman0")
    sw.wait_swap("10.88.0.1")
    ip("-n", netns.name, "link", "del", "podman0")
    sw.wait_not_listening("10.88.0.1")
    sw.wait_swap("172.17.0.1")  # docker0 untouched
    assert "bridge listener" not in log_text(sw.home), log_text(sw.home)  # no refusal


def test_privsep_bridge_flapping_while_a_front_is_stopped_is_served_again(netns, keyhole_bin,
                                                                         pki, tmp_path):
    """The address goes and comes back while the one front cannot read its channel
    (stopped): the front still holds the old listener, so the daemon's first bind of
    the returning address fails; it must try again rather than give up until the
    next address change (podman re-creates podman0 for every container)."""
    netns.bridge("172.17.0.1/16")
    sw = Swap(netns, keyhole_bin, pki, tmp_path, workers=1)
    [front] = sw.fronts(1)
    sw.wait_swap("172.17.0.1")
    os.kill(front, signal.SIGSTOP)
    try:
        ip("-n", netns.name, "addr", "flush", "dev", "docker0")
        deadline = time.monotonic() + 5
        while "docker0: its address 172.17.0.1 is gone" not in log_text(sw.home):
            assert time.monotonic() < deadline, log_text(sw.home)
            time.sleep(0.05)
        ip("-n", netns.name, "addr", "add", "172.17.0.1/16", "dev", "docker0")
        deadline = time.monotonic() + 5   # the daemon tries, and finds the port held
        while "docker0: containers cannot reach keyhole there" not in log_text(sw.home):
            assert time.monotonic() < deadline, log_text(sw.home)
            time.sleep(0.05)
    finally:
        os.kill(front, signal.SIGCONT)
    sw.wait_swap("172.17.0.1", timeout=10)  # no further address change needed
    assert sw.fronts(1) == [front] and sw.proc.poll() is None


def test_privsep_front_killed_comes_back_serving_the_bridge(netns, keyhole_bin, pki, tmp_path):
    """One front: after SIGKILL only its successor can accept on the bridge, so the
    request after the restart proves the new front was given the listener."""
    netns.bridge("172.17.0.1/16")
    sw = Swap(netns, keyhole_bin, pki, tmp_path, workers=1)
    before = sw.fronts(1)
    assert len(before) == 1
    sw.wait_swap("172.17.0.1")
    os.kill(before[0], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while True:
        after = sw.fronts(1)
        if after and after != before:
            break
        assert time.monotonic() < deadline, "the front was not started again"
        time.sleep(0.1)
    sw.wait_swap("172.17.0.1", timeout=10)
    assert sw.fronts(1) == after and sw.proc.poll() is None


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
