"""A real Docker engine for end-to-end tests, isolated from the host (issue 22).

Everything runs inside a private network namespace made per test (`Netns`):
dockerd (its own --data-root, --exec-root, --pidfile and Unix socket in a
short temporary directory, --iptables=false so no host firewall is touched),
the docker0 bridge it creates, keyhole's daemon and the test's own upstream.
Containers therefore reach only keyhole (on docker0) and nothing else: the
namespace has no route out. Images are never pulled: `import_image` makes one
with `docker import` from a tarball of this machine's busybox-static and curl
(with the libraries ldd names). Every wait has a timeout; teardown stops
dockerd (SIGTERM, then SIGKILL) and deletes the namespace even on failure.
A test that cannot start the engine skips with the reason.

`Podman` does the same for podman (rootful, CNI): its storage, run and temp
directories, containers.conf, storage.conf, CNI config and IPAM state all
live in a temporary directory of the test (CONTAINERS_CONF,
CONTAINERS_STORAGE_CONF); its "podman" network (bridge cni-podman0) and the
containers' own namespaces are made inside the test's network namespace, and
vanish with it. podman runs under `nsenter --net` only (not `ip netns exec`,
whose remounted /sys hides the cgroup file system podman needs).
"""
import io
import json
import os
import secrets
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time

import pytest

CLEAN_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "LANG": "C"}
DOCKERD_START_S = 30
IMAGE = "keyhole-e2e:1"


def ip(*args, check=True):
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if check and r.returncode != 0:
        raise AssertionError(f"ip {' '.join(args)} failed: {r.stderr.strip()}")
    return r


class Netns:
    """A network namespace; commands run in it through `ip netns exec`."""

    def __init__(self, name):
        self.name = name
        self.procs = []

    @property
    def prefix(self):
        return ("ip", "netns", "exec", self.name)

    def run(self, *cmd, timeout=10, env=None):
        return subprocess.run([*self.prefix, *cmd], capture_output=True, text=True,
                              timeout=timeout, env=env or CLEAN_ENV)

    def popen(self, cmd, net_only=False, **kw):
        """cmd in the namespace; net_only: enter only the network namespace
        (nsenter) in a private mount namespace of its own (unshare), keeping
        this machine's /sys and its cgroup mounts, which `ip netns exec` hides
        by remounting /sys (dockerd needs them); whatever it mounts vanishes
        with its last process."""
        prefix = (("unshare", "--mount", "--propagation", "private", "nsenter",
                   f"--net=/run/netns/{self.name}") if net_only else self.prefix)
        p = subprocess.Popen([*prefix, *cmd], start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def bridge(self, *addrs, name="docker0"):
        ip("-n", self.name, "link", "set", "lo", "up")
        ip("-n", self.name, "link", "add", name, "type", "bridge")
        for a in addrs:
            ip("-n", self.name, "addr", "add", a, "dev", name)
        ip("-n", self.name, "link", "set", name, "up")

    def healthz(self, host, port):
        """(curl exit code, body) for GET http://host:port/healthz from inside."""
        r = self.run("curl", "-q", "-sS", "--noproxy", "*", "--max-time", "3",
                     f"http://{host}:{port}/healthz")
        return r.returncode, r.stdout + r.stderr

    def wait_healthz(self, host, port, up, timeout=5):
        """Polls until host:port answers /healthz (up) or stops answering (not up)."""
        deadline = time.monotonic() + timeout
        while True:
            rc, body = self.healthz(host, port)
            if (rc == 0 and body.startswith("keyhole ")) == up:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{host}:{port} {'never answered' if up else 'still answers'}"
                                     f" within {timeout} s: {rc} {body}")
            time.sleep(0.1)

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)
        ip("netns", "del", self.name, check=False)


@pytest.fixture
def netns():
    name = f"kh-ns-{secrets.token_hex(4)}"
    r = ip("netns", "add", name, check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {r.stderr.strip()}")
    ns = Netns(name)
    ip("-n", name, "link", "set", "lo", "up")
    try:
        yield ns
    finally:
        ns.cleanup()


class Dockerd:
    """dockerd started in ns, with everything of its own under a short temp dir."""

    def __init__(self, ns):
        self.ns = ns
        self.dir = tempfile.mkdtemp(prefix="khd-", dir="/tmp")  # Unix socket paths are short
        self.sock = os.path.join(self.dir, "d.sock")
        self.host = f"unix://{self.sock}"
        self.log = os.path.join(self.dir, "dockerd.log")
        self.proc = None

    def start(self):
        for tool in ("dockerd", "containerd", "runc", "docker"):
            if shutil.which(tool, path=CLEAN_ENV["PATH"]) is None:
                pytest.skip(f"{tool} is not installed (make deps installs docker.io)")
        with open(self.log, "wb") as log:
            self.proc = self.ns.popen(
                ["dockerd", "--data-root", f"{self.dir}/data", "--exec-root", f"{self.dir}/exec",
                 "--pidfile", f"{self.dir}/dockerd.pid", "-H", self.host, "--iptables=false",
                 "--ip6tables=false", "--ip-masq=false", "--userland-proxy=false"],
                net_only=True, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=CLEAN_ENV)
        deadline = time.monotonic() + DOCKERD_START_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.skip(f"dockerd cannot run here (exit {self.proc.returncode}): "
                            f"{self.tail()}")
            if self.docker("version", timeout=5).returncode == 0:
                return self
            time.sleep(0.2)
        pytest.skip(f"dockerd not ready within {DOCKERD_START_S} s: {self.tail()}")

    def tail(self):
        try:
            with open(self.log, errors="replace") as f:
                return " | ".join(f.read().splitlines()[-5:])
        except OSError:
            return ""

    def docker(self, *args, timeout=30, stdin=None):
        return subprocess.run(["docker", "-H", self.host, *args], capture_output=True,
                              timeout=timeout, env=CLEAN_ENV, input=stdin)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            for c in self.docker("ps", "-aq", timeout=10).stdout.split():
                self.docker("rm", "-f", c.decode(), timeout=20)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._unmount()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _unmount(self):
        """Anything still mounted under the temp dir here (it should not be:
        dockerd mounts in a mount namespace of its own)."""
        unmount_under(self.dir)


def unmount_under(top):
    with open("/proc/self/mounts") as f:
        points = [line.split()[1] for line in f]
    for m in reversed(points):
        if m.startswith(top + "/"):
            subprocess.run(["umount", "-l", m], capture_output=True, timeout=10)


def _add(tar, path, seen):
    real = os.path.realpath(path)
    if path in seen:
        return
    seen.add(path)
    if real != path:  # keep the name the loader asks for, with the real bytes
        info = tar.gettarinfo(real, arcname=path.lstrip("/"))
    else:
        info = tar.gettarinfo(path, arcname=path.lstrip("/"))
    with open(real, "rb") as f:
        tar.addfile(info, f)


def image_tarball():
    """A root file system: busybox (static) as /bin/sh and friends, curl with its libraries."""
    buf = io.BytesIO()
    seen = set()
    libs = subprocess.run(["ldd", "/usr/bin/curl"], capture_output=True, text=True,
                          timeout=10).stdout
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "tmp", "etc", "etc/ssl/certs", "proc", "sys", "dev"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        _add(tar, "/bin/busybox", seen)
        for tool in ("sh", "sleep", "cat", "env", "echo", "true"):
            info = tarfile.TarInfo(f"bin/{tool}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        _add(tar, "/usr/bin/curl", seen)
        for line in libs.splitlines():
            parts = line.split()
            path = parts[2] if "=>" in parts and len(parts) > 2 else parts[0]
            if path.startswith("/"):
                _add(tar, path, seen)
    return buf.getvalue()


def import_image(dockerd):
    if not os.path.exists("/bin/busybox") or not os.path.exists("/usr/bin/curl"):
        pytest.skip("busybox-static and curl are needed for the test image (make deps)")
    r = dockerd.docker("import", "-", IMAGE, stdin=image_tarball(), timeout=60)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return IMAGE


@pytest.fixture
def dockerd_factory(netns):
    """dockerd_factory() starts dockerd in the test's namespace (call it when
    the test wants the engine to appear); stopped at teardown."""
    started = []

    def _start():
        d = Dockerd(netns)
        started.append(d)
        return d.start()

    try:
        yield _start
    finally:
        for d in started:
            d.stop()


PODMAN_NET = {"subnet": "10.88.0.0/16", "gateway": "10.88.0.1", "bridge": "cni-podman0"}


class Podman:
    """podman with everything of its own under a temp dir, networks in ns."""

    def __init__(self, ns):
        self.ns = ns
        self.dir = tempfile.mkdtemp(prefix="khp-", dir="/tmp")
        self.cni = os.path.join(self.dir, "cni")
        os.makedirs(self.cni)
        d = self.dir
        # runc, cgroupfs and the file events logger are what work on this
        # kind of machine (crun refuses some cgroup layouts, journald may be
        # absent); ulimits no higher than the usual hard limits, or runc
        # fails with "error setting rlimit type 7: operation not permitted"
        self.conf = os.path.join(d, "containers.conf")
        with open(self.conf, "w") as f:
            f.write(f"""[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{d}/events.log"
tmp_dir = "{d}/tmp"
[network]
network_backend = "cni"
network_config_dir = "{self.cni}"
default_network = "podman"
""")
        self.storage = os.path.join(d, "storage.conf")
        with open(self.storage, "w") as f:
            f.write(f"""[storage]
driver = "vfs"
graphroot = "{d}/root"
runroot = "{d}/run"
""")
        self.network("podman", **PODMAN_NET)
        self.env = {**CLEAN_ENV, "CONTAINERS_CONF": self.conf,
                    "CONTAINERS_STORAGE_CONF": self.storage}
        self.prefix = ("nsenter", f"--net=/run/netns/{ns.name}")

    def network(self, name, subnet, gateway, bridge):
        """A CNI bridge network of the test's own (IPAM state in the temp dir)."""
        conf = {"cniVersion": "0.4.0", "name": name, "plugins": [{
            "type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": False,
            "hairpinMode": True,
            "ipam": {"type": "host-local", "dataDir": os.path.join(self.dir, "ipam"),
                     "routes": [{"dst": "0.0.0.0/0"}],
                     "ranges": [[{"subnet": subnet, "gateway": gateway}]]}}]}
        with open(os.path.join(self.cni, f"{name}.conflist"), "w") as f:
            json.dump(conf, f)

    def podman(self, *args, timeout=30, stdin=None):
        return subprocess.run([*self.prefix, "podman", *args], capture_output=True,
                              timeout=timeout, env=self.env, input=stdin)

    def start(self):
        """Skips unless podman can run a container here (without a network, so
        no bridge exists yet); returns the imported image."""
        for tool in ("podman", "runc", "conmon", "nsenter"):
            if shutil.which(tool, path=CLEAN_ENV["PATH"]) is None:
                pytest.skip(f"{tool} is not installed (make deps installs podman and runc)")
        if not os.path.exists("/bin/busybox") or not os.path.exists("/usr/bin/curl"):
            pytest.skip("busybox-static and curl are needed for the test image (make deps)")
        r = self.podman("import", "-", IMAGE, stdin=image_tarball(), timeout=60)
        if r.returncode != 0:
            pytest.skip(f"podman cannot import an image here: {_last(r.stderr)}")
        r = self.podman("run", "--rm", "--pull=never", "--network=none", IMAGE, "true",
                        timeout=60)
        if r.returncode != 0:
            pytest.skip(f"podman cannot run a container here: {_last(r.stderr)}")
        return IMAGE

    def service(self):
        """podman's Docker API service in ns; returns its DOCKER_HOST."""
        sock = os.path.join(self.dir, "p.sock")
        with open(os.path.join(self.dir, "service.log"), "wb") as log:
            self.svc = subprocess.Popen([*self.prefix, "podman", "system", "service",
                                         "--time=0", f"unix://{sock}"], start_new_session=True,
                                        stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                        env=self.env)
        self.ns.procs.append(self.svc)
        deadline = time.monotonic() + 20
        while not os.path.exists(sock):
            if self.svc.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"podman system service did not start: exit {self.svc.poll()}")
            time.sleep(0.1)
        return f"unix://{sock}"

    def stop(self):
        svc = getattr(self, "svc", None)
        if svc is not None and svc.poll() is None:
            svc.send_signal(signal.SIGTERM)
            try:
                svc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(svc.pid, signal.SIGKILL)
                svc.wait(5)
        self.podman("rm", "-af", "-t", "0", timeout=60)
        unmount_under(self.dir)  # podman's shm mounts, should rm have left one
        shutil.rmtree(self.dir, ignore_errors=True)


def _last(err):
    lines = err.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "no message"


@pytest.fixture
def podman_engine(netns):
    """A Podman for the test's namespace; its containers removed at teardown."""
    p = Podman(netns)
    try:
        yield p
    finally:
        p.stop()
