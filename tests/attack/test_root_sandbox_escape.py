"""A hostile command in `keyhole sandbox` started by root tries to become host
root: write a host sysctl (kernel.core_pattern runs a program as root on the next
crash), poke /proc/sysrq-trigger, keep a capability, create a namespace where it
is root again, mount, load BPF, read the kernel keyring, trace pid 1, or write
the audit log through pid 1's open file descriptors.

Every attempt must fail: the command runs under a user namespace as a non-root
host uid (checked from outside, in the host's /proc), with empty capability
sets, no_new_privs and keyhole's seccomp filter (docs/SECURITY.md lists it).

The sysctl and sysrq files are only opened for writing and closed again, never
written: on the code before the fix the open succeeds, and a write there would
change this machine."""
import json
import os
import platform
import secrets
import select
import time

import pytest

from helpers.cli import cli  # noqa: F401
from helpers.proc import reap
from helpers.sandbox import PY, sandbox  # noqa: F401

PROBE = r'''
import ctypes, errno, json, os, socket, sys, time

marker, done = sys.argv[1], sys.argv[2]
libc = ctypes.CDLL(None, use_errno=True)
out = {"uid": os.getuid(), "pid": os.getpid()}

def name(e):
    return errno.errorcode.get(e, str(e))

def try_open_for_write(path):
    # Opened and closed at once: nothing is ever written.
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError as e:
        return name(e.errno)
    os.close(fd)
    return "OPENED"

out["core_pattern"] = try_open_for_write("/proc/sys/kernel/core_pattern")
out["sysrq"] = try_open_for_write("/proc/sysrq-trigger")
with open("/proc/self/status") as f:
    out["status"] = dict(l.rstrip("\n").split(":\t", 1) for l in f if ":\t" in l)

def call(fn, *args):
    ctypes.set_errno(0)
    rc = fn(*args)
    return "ok" if rc >= 0 else name(ctypes.get_errno())

# Syscall numbers the probe needs that libc does not wrap (x86_64, aarch64).
NR = {"x86_64": {"bpf": 321, "keyctl": 250, "perf_event_open": 298, "userfaultfd": 323,
                 "clone": 56},
      "aarch64": {"bpf": 280, "keyctl": 219, "perf_event_open": 241, "userfaultfd": 282,
                  "clone": 220}}[os.uname().machine]
sc = libc.syscall
sc.restype = ctypes.c_long
CLONE_NEWUSER, SIGCHLD = 0x10000000, 17
def escape_calls():
    calls = {}
    calls["unshare_newuser"] = call(libc.unshare, CLONE_NEWUSER)
    calls["unshare_newns"] = call(libc.unshare, 0x00020000)
    calls["mount_tmpfs"] = call(libc.mount, b"none", b"/tmp", b"tmpfs", ctypes.c_ulong(0), None)
    attr = ctypes.create_string_buffer(128)
    calls["bpf_map_create"] = call(sc, NR["bpf"], 0, attr, 128)
    calls["keyctl_session"] = call(sc, NR["keyctl"], 0, ctypes.c_long(-3), 0)   # GET_KEYRING_ID
    calls["perf_event_open"] = call(sc, NR["perf_event_open"], attr, 0, -1, -1, 0)
    r = sc(NR["userfaultfd"], 1)    # UFFD_USER_MODE_ONLY: allowed to anyone without seccomp
    calls["userfaultfd"] = "ok" if r >= 0 else name(ctypes.get_errno())
    calls["ptrace_attach_pid1"] = call(libc.ptrace, ctypes.c_long(16), 1, None, None)
    calls["io_uring_setup"] = call(sc, 425, 1, attr)
    calls["personality_no_aslr"] = call(libc.personality, ctypes.c_ulong(0x0040000))
    calls["clone3"] = call(sc, 435, None, 0)
    r = sc(NR["clone"], CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0)
    if r == 0:
        os._exit(0)                 # the child of a clone that should not have worked
    if r > 0:
        os.waitpid(r, 0)
    calls["clone_newuser"] = "ok" if r > 0 else name(ctypes.get_errno())
    child = os.fork()
    if child == 0:
        os._exit(0)
    calls["fork"] = "ok" if os.waitpid(child, 0)[1] == 0 else "?"
    return calls

# In a child: a call that works (on the code before the fix) changes the
# process, e.g. a new mount namespace with /tmp covered.
rfd, wfd = os.pipe()
child = os.fork()
if child == 0:
    os.close(rfd)
    try:
        os.write(wfd, json.dumps(escape_calls()).encode())
    finally:
        os._exit(0)
os.close(wfd)
data = b""
while True:
    chunk = os.read(rfd, 65536)
    if not chunk:
        break
    data += chunk
os.waitpid(child, 0)
out["calls"] = json.loads(data or b"{}")

# pid 1 holds the audit log and the daemon's socket directory open.
try:
    out["pid1_fds"] = sorted(os.listdir("/proc/1/fd"))
except OSError as e:
    out["pid1_fds"] = name(e.errno)
wrote = []
for n in range(64):
    try:
        fd = os.open("/proc/1/fd/%d" % n, os.O_WRONLY | os.O_APPEND)
    except OSError:
        continue
    try:
        os.write(fd, (marker + "\n").encode())
        wrote.append(n)
    except OSError:
        pass
    os.close(fd)
out["pid1_fd_writes"] = wrote

print(json.dumps(out), flush=True)
deadline = time.monotonic() + 15
while not os.path.exists(done) and time.monotonic() < deadline:
    time.sleep(0.05)
'''

REFUSED = ("unshare_newuser", "unshare_newns", "mount_tmpfs", "bpf_map_create",
           "keyctl_session", "perf_event_open", "userfaultfd", "ptrace_attach_pid1",
           "io_uring_setup", "personality_no_aslr", "clone_newuser")


def _host_status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def _probe_processes(probe):
    """Host pids of processes running the probe (argv[0] python, argv[1] the probe)."""
    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if len(argv) > 1 and argv[0] == PY.encode() and argv[1] == probe.encode():
            found.append(int(p))
    return found


def _read_line(p, timeout):
    out, deadline = b"", time.monotonic() + timeout
    while b"\n" not in out and time.monotonic() < deadline and p.poll() is None:
        ready, _, _ = select.select([p.stdout], [], [], 0.2)
        if ready:
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                break
            out += chunk
    return out


def test_root_command_holds_no_host_privilege(sandbox):
    if os.geteuid() != 0:
        pytest.skip("the escape needs `keyhole sandbox` started by root")
    if platform.machine() not in ("x86_64", "aarch64"):
        pytest.skip(f"the probe knows syscall numbers for x86_64 and aarch64, not "
                    f"{platform.machine()}")
    probe = os.path.join(sandbox.workdir, "probe.py")
    with open(probe, "w") as f:
        f.write(PROBE)
    marker = "kh-audit-marker-" + secrets.token_hex(6)
    done = os.path.join(sandbox.workdir, "done")
    p = sandbox.popen(PY, probe, marker, done)
    try:
        line = _read_line(p, 20)
        assert line, (p.poll(), p.stderr.read() if p.poll() is not None else "")
        got = json.loads(line)
        pids = _probe_processes(probe)
        host = {pid: _host_status(pid) for pid in pids}
    finally:
        with open(done, "w"):
            pass
        try:
            p.wait(15)
        finally:
            reap(p)
    where = json.dumps(got, indent=1)

    # host sysctls and sysrq: not even openable for writing
    assert got["core_pattern"] != "OPENED", where
    assert got["sysrq"] != "OPENED", where

    # no capability, none to regain, no new privileges, a seccomp filter
    st = got["status"]
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert st[cap] == "0000000000000000", f"{cap}: {where}"
    assert st["NoNewPrivs"] == "1", where
    assert st["Seccomp"] == "2", where

    # not root on the host: the probe's process as the host's /proc shows it
    assert pids, f"the probe was not found in the host's /proc: {where}"
    for pid, hs in host.items():
        uids, gids = hs["Uid"].split(), hs["Gid"].split()
        assert "0" not in uids, f"pid {pid} runs as host uid {hs['Uid']}"
        assert "0" not in gids, f"pid {pid} runs as host gid {hs['Gid']}"
        assert "0" not in hs.get("Groups", "").split(), f"pid {pid} has group 0"

    # the escape and attack-surface calls are refused with EPERM
    calls = got["calls"]
    for c in REFUSED:
        assert calls[c] == "EPERM", f"{c}: {calls[c]}: {where}"
    assert calls["clone3"] == "ENOSYS", where     # so libc falls back to clone(2)
    assert calls["fork"] == "ok", where

    # pid 1's descriptors (audit.log among them) are out of reach
    assert got["pid1_fds"] == "EACCES", where
    assert got["pid1_fd_writes"] == [], where
    assert marker not in sandbox.cli.file_text("audit.log")
