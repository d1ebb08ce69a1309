"""Inside `keyhole sandbox` the state directory is an empty tmpfs: ca.key,
mappings.json and config.yaml cannot be read, and root (all capabilities
dropped) cannot unmount it to get at them. The file system is read-only except
the working directory (a private temp directory here), /tmp holds no host
files, and no host process (the daemon included) is visible."""
import json
import os
import secrets
import shutil
import tempfile

from helpers.cli import cli  # noqa: F401
from helpers.sandbox import PY, sandbox  # noqa: F401

PROBE = r'''
import ctypes, errno, json, os, sys

home = sys.argv[1]
out = {"reads": {}}
for name in ("ca.key", "mappings.json", "config.yaml", "ca.crt", "keyhole.pid"):
    try:
        with open(os.path.join(home, name), "rb") as f:
            out["reads"][name] = "read %d bytes" % len(f.read())
    except OSError as e:
        out["reads"][name] = errno.errorcode.get(e.errno, str(e))
out["home_listing"] = sorted(os.listdir(home)) if os.path.isdir(home) else None
with open("/proc/self/status") as f:
    out["caps"] = {l.split(":")[0]: l.split()[1] for l in f if l.startswith("Cap")}
libc = ctypes.CDLL(None, use_errno=True)
rc = libc.umount2(home.encode(), 2)      # MNT_DETACH
out["umount2"] = "ok" if rc == 0 else errno.errorcode.get(ctypes.get_errno(), "?")
out["after_umount"] = sorted(os.listdir(home))
procs = []
for p in os.listdir("/proc"):
    if p.isdigit():
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                procs.append(f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip())
        except OSError:
            pass
out["procs"] = procs
print(json.dumps(out))
'''


def test_state_directory_hidden(sandbox):
    probe = os.path.join(sandbox.workdir, "probe.py")
    with open(probe, "w") as f:
        f.write(PROBE)
    r = sandbox.run(PY, probe, sandbox.cli.home)
    assert r.rc == 0, r
    got = json.loads(r.out)
    where = json.dumps(got, indent=1)
    for name, res in got["reads"].items():
        assert res == "ENOENT", f"{name} inside the sandbox: {res}: {where}"
    assert got["home_listing"] == [], where
    assert got["caps"]["CapEff"] == "0000000000000000", where
    assert got["caps"]["CapPrm"] == "0000000000000000", where
    assert got["umount2"] == "EPERM", where
    assert got["after_umount"] == [], where
    for cmd in got["procs"]:
        assert "keyhole proxy" not in cmd, f"the daemon is visible inside: {where}"
    assert len(got["procs"]) <= 3, f"host processes are visible inside: {where}"
    key = sandbox.cli.read("ca.key")
    assert key not in r.out
    assert sandbox.secret not in r.out + r.err

    # the umount command, as root, fails too, and the key is still out of reach
    r = sandbox.run("sh", "-c", f'umount "{sandbox.cli.home}"; echo "umount=$?"; '
                                f'cat "{sandbox.cli.home}/ca.key" || echo unreadable')
    assert "umount=0" not in r.out, r
    assert "unreadable" in r.out and "PRIVATE KEY" not in r.out, r


def test_read_only_except_workdir(sandbox, tmp_path):
    marker = f"/usr/kh-test-{secrets.token_hex(4)}"
    r = sandbox.run("sh", "-c", f"touch {marker}; echo rc=$?")
    assert "rc=0" not in r.out, r
    assert not os.path.exists(marker), f"{marker} was created on the host"

    r = sandbox.run("sh", "-c", "echo written-inside > ./out.txt && mkdir -p sub && "
                                "echo more > sub/f && cat out.txt")
    assert r.rc == 0 and r.out == "written-inside\n", r
    with open(os.path.join(sandbox.workdir, "out.txt")) as f:
        assert f.read() == "written-inside\n"
    with open(os.path.join(sandbox.workdir, "sub", "f")) as f:
        assert f.read() == "more\n"

    # the parent of the working directory: under /tmp it is the sandbox's private
    # tmpfs, so a write there never reaches the host
    r = sandbox.run("sh", "-c", "touch ../kh-parent; echo rc=$?")
    assert not os.path.exists(os.path.join(os.path.dirname(sandbox.workdir), "kh-parent"))


def test_workdir_outside_tmp(sandbox):
    """A working directory on the read-only root (here under /var/tmp): it is
    writable, its parent is not."""
    parent = tempfile.mkdtemp(prefix="kh-sandbox-wd-", dir="/var/tmp")
    try:
        work = os.path.join(parent, "work")
        os.mkdir(work)
        r = sandbox.run("sh", "-c", "echo ok > here.txt && echo wrote; touch ../kh-parent; "
                                    "echo parent=$?", cwd=work)
        assert r.rc == 0 and "wrote" in r.out, r
        with open(os.path.join(work, "here.txt")) as f:
            assert f.read() == "ok\n"
        assert "parent=0" not in r.out, r
        assert not os.path.exists(os.path.join(parent, "kh-parent"))
    finally:
        shutil.rmtree(parent)


def test_tmp_is_private(sandbox, tmp_path):
    host_marker = f"/tmp/kh-host-marker-{secrets.token_hex(4)}"
    sibling = tmp_path / "sibling-secret.txt"
    sibling.write_text("host file next to the working directory\n")
    with open(host_marker, "w") as f:
        f.write("host /tmp file\n")
    try:
        r = sandbox.run("sh", "-c", f'ls -A /tmp; test -e "{host_marker}" && echo marker-visible; '
                                    f'test -e "{sibling}" && echo sibling-visible; '
                                    'echo x > /tmp/inside-file && echo tmp-writable')
    finally:
        os.unlink(host_marker)
    assert r.rc == 0, r
    assert "marker-visible" not in r.out, r
    assert "sibling-visible" not in r.out, r
    assert "tmp-writable" in r.out, r
    assert not os.path.exists("/tmp/inside-file"), "a write to /tmp inside reached the host"
    # only the directories leading to the bound working directory and the hidden home
    top = [line for line in r.out.splitlines()[:-1]]
    allowed = {p.split("/")[2] for p in (sandbox.workdir, sandbox.cli.home)
               if p.startswith("/tmp/")}
    assert set(top) - {"inside-file"} <= allowed, (top, allowed)


def test_host_dev_shm_not_writable(sandbox):
    """/dev/shm is a host-wide writable tmpfs: a sandbox writing there leaves files
    on the host (and can read those other processes leave), which the "read-only
    except the working directory" promise rules out."""
    name = f"/dev/shm/kh-sandbox-test-{secrets.token_hex(4)}"
    try:
        r = sandbox.run("sh", "-c", f"echo from-sandbox > {name}; echo rc=$?")
        leaked = os.path.exists(name)
    finally:
        if os.path.exists(name):
            os.unlink(name)
    assert not leaked, f"the sandbox created {name} on the host ({r.out.strip()})"


def test_workdir_containing_the_home(sandbox):
    """Working in the directory that holds KEYHOLE_HOME: the working directory is
    writable, the home inside it stays hidden and in place. (That directory also
    holds the test's $HOME, which keyhole sandbox refuses to make writable, so
    $HOME points elsewhere here; ~ itself, holding ~/.keyhole, is refused.)"""
    parent = os.path.dirname(sandbox.cli.home)
    name = os.path.basename(sandbox.cli.home)
    # keyhole sandbox itself writes sandbox-resolv.conf into the home before the
    # program starts, and the daemon records the sandbox's tokens in grants.json;
    # what matters is that the program changes nothing there.
    def listing():
        return sorted(set(os.listdir(sandbox.cli.home)) - {"sandbox-resolv.conf", "grants.json"})
    before = listing()
    r = sandbox.run("sh", "-c", f'ls -A "{name}"; cat "{name}/ca.key" 2>/dev/null && echo READ; '
                                f'mv "{name}" moved 2>/dev/null && echo MOVED; '
                                f'rmdir "{name}" 2>/dev/null && echo REMOVED; '
                                'echo w > written-here && echo wrote', cwd=parent,
                    env={"HOME": "/nonexistent"})
    assert r.rc == 0, r
    assert r.out == "wrote\n", r
    assert listing() == before
    assert os.path.exists(os.path.join(parent, "written-here"))
    assert not os.path.exists(os.path.join(parent, "moved"))


def test_proxy_socket_private(sandbox):
    st = os.stat(sandbox.cli.path("proxy.sock"))
    assert st.st_mode & 0o077 == 0, oct(st.st_mode)
