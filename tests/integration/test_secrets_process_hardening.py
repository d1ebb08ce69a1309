"""The daemon's memory and environment are closed to everyone but root, and it
leaves no core file. The daemon runs as an unprivileged user (nobody); then:

- a process of another unprivileged uid cannot open /proc/<pid>/environ or mem;
- a process of the *same* uid cannot either (PR_SET_DUMPABLE 0), while it can
  read those of an ordinary process of that uid (the control that shows the
  check means something here);
- the core limit is 0, the secret arena is locked in RAM (VmLck; not checkable
  under ASan, whose mlock() does nothing), and SIGABRT
  kills it without a core dump (no WCOREDUMP, no core file in its directories).
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import default_config
from helpers.client import curl
from helpers.checks import echoed, echoed_headers
from helpers.keyhole import OPENAI_SECRET, Keyhole, mapping, mint_token, sanitized_binary

NOBODY, OTHER = 65534, 65533


def as_uid(uid):
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all"]


def can_open(uid, path):
    """(opened, why) for a process of uid opening path and reading a byte from it."""
    code = ("import os,sys\nfd=os.open(sys.argv[1], os.O_RDONLY)\n"
            "os.read(fd, 1) if not sys.argv[1].endswith('/mem') else None\n")
    r = subprocess.run([*as_uid(uid), "/usr/bin/python3", "-c", code, path],
                       capture_output=True, text=True, timeout=10, cwd="/")
    return r.returncode == 0, (r.stderr.strip().splitlines() or [""])[-1]


@pytest.fixture
def nobody_daemon(pki, shared_keyhole_bin, tmp_path):
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run the daemon as another user")
    base = tempfile.mkdtemp(prefix="kh-nobody-", dir="/tmp")
    os.chmod(base, 0o711)
    home, run = os.path.join(base, "home"), os.path.join(base, "run")
    for d in (home, run):
        os.mkdir(d, 0o700)
    ca = os.path.join(base, "upstream-ca.crt")
    shutil.copy(pki.ca.cert, ca)
    os.chmod(ca, 0o644)
    cfg = default_config(pki)
    cfg["upstream_ca_file"] = ca
    token = mint_token("openai")
    kh = Keyhole(shared_keyhole_bin, home, config=cfg, mappings=[mapping(token)],
                 env={"OPENAI_API_KEY": OPENAI_SECRET}, logdir=str(tmp_path),
                 wrapper=as_uid(NOBODY))
    kh.write_files()
    for d in (home, run):
        for root, dirs, files in os.walk(d):
            for n in [root] + [os.path.join(root, f) for f in files]:
                os.chown(n, NOBODY, NOBODY)
    kh.preexec_fn = lambda: os.chdir(run)     # where a core file would land
    try:
        yield kh.start(), token, run
    finally:
        kh.kill()
        shutil.rmtree(base, ignore_errors=True)


def test_memory_and_environ_closed(nobody_daemon, echo):
    kh, token, _ = nobody_daemon
    pid = kh.proc.pid
    with open(f"/proc/{pid}/status") as f:
        status = dict(ln.split(":", 1) for ln in f.read().splitlines() if ":" in ln)
    assert int(status["Uid"].split()[1]) == NOBODY, status["Uid"]
    # it still does its job as nobody
    r = curl(f"https://api.openai.test:{echo.port}/v1/models", proxy=kh.proxy_url,
             cacert=kh.ca_crt, headers=[f"Authorization: Bearer {token}"])
    assert r.status == 200, r.stderr
    assert echoed_headers(echoed(r), "Authorization") == [f"Bearer {OPENAI_SECRET}"]

    for what in ("environ", "mem"):
        opened, _ = can_open(OTHER, f"/proc/{pid}/{what}")
        assert not opened, f"another uid opened the daemon's /proc/<pid>/{what}"
        opened, _ = can_open(NOBODY, f"/proc/{pid}/{what}")
        assert not opened, f"a same-uid process opened the daemon's /proc/<pid>/{what}"

    control = subprocess.Popen([*as_uid(NOBODY), "sleep", "30"])
    try:
        time.sleep(0.2)
        for what in ("environ", "mem"):
            opened, why = can_open(NOBODY, f"/proc/{control.pid}/{what}")
            assert opened, f"control: same uid cannot open an ordinary process's {what} ({why})"
    finally:
        control.kill()
        control.wait()

    with open(f"/proc/{pid}/limits") as f:
        core = [ln for ln in f if ln.startswith("Max core file size")][0].split()
    assert core[4:6] == ["0", "0"], core


def test_secret_arena_locked(nobody_daemon, keyhole_bin):
    if sanitized_binary(keyhole_bin):
        # ASan's mlock() interceptor returns 0 without locking anything, so
        # VmLck says nothing about the code under a sanitizer build.
        pytest.skip("ASan build: its mlock() interceptor is a no-op, VmLck is always 0")
    kh, _, _ = nobody_daemon
    with open(f"/proc/{kh.proc.pid}/status") as f:
        vmlck = [ln for ln in f if ln.startswith("VmLck:")][0].split()
    assert int(vmlck[1]) > 0, f"secret arena not locked: {vmlck}"


def test_abort_leaves_no_core(nobody_daemon):
    kh, _, run = nobody_daemon
    pid = kh.proc.pid
    os.kill(pid, signal.SIGABRT)
    _, st = os.waitpid(pid, 0)
    kh.proc.returncode = -1       # reaped here, so that Popen does not wait again
    assert os.WIFSIGNALED(st) and os.WTERMSIG(st) == signal.SIGABRT, st
    assert not os.WCOREDUMP(st), "the kernel wrote a core dump of the daemon"
    for d in (run, kh.home):
        cores = [n for n in os.listdir(d) if n.startswith("core")]
        assert not cores, f"core file(s) in {d}: {cores}"
