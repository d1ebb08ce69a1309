"""`keyhole stop` sends SIGTERM and escalates to SIGKILL only if the very same
process is still there after the grace period.

Plain case: a fake daemon (argv[0] "keyhole", the recorded nonce in its
environment) that ignores SIGTERM is SIGKILLed.

Recycled case: the daemon exits on SIGTERM, and before stop looks again its
pid is taken by a new process that also ignores SIGTERM (and even carries the
same argv[0] and nonce). stop must see the start time changed, say the pid
belongs to another process, and leave it alive. To give the new process the
old pid deterministically this runs in a fresh pid namespace (unshare), sets
/proc/sys/kernel/ns_last_pid, and holds `keyhole stop` with SIGSTOP while the
pid changes hands (so stop cannot poll in the gap between the two processes)."""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from helpers.cli import cli  # noqa: F401

NONCE = "5e" * 32

CONTROLLER = r'''
import json, os, signal, subprocess, sys, time
binary, home, nonce = sys.argv[1:4]
env = {"PATH": "/usr/bin:/bin", "HOME": os.path.dirname(home), "KEYHOLE_HOME": home}
fake_env = {"PATH": "/usr/bin:/bin", "KEYHOLE_NONCE": nonce}
out = {}

def write(name, text):
    fd = os.open(os.path.join(home, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, text.encode())
    os.close(fd)

def state(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]

# The fake daemon ignores SIGTERM, so `keyhole stop` is certainly still inside
# its wait loop (it waits at least 5 s) when it is frozen below. While it is
# frozen the fake daemon dies and a new process is given its pid.
ignore_term = lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN)
orig = subprocess.Popen(["keyhole", "1000"], executable="/bin/sleep", env=fake_env,
                        preexec_fn=ignore_term)
write("keyhole.pid", f"{orig.pid}\n")
write("keyhole.nonce", nonce + "\n")
last_pid = os.open("/proc/sys/kernel/ns_last_pid", os.O_WRONLY)
time.sleep(0.05)
stop = subprocess.Popen([binary, "stop"], env=env, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE)
time.sleep(0.5)                             # stop has sent SIGTERM and is waiting
if stop.poll() is not None:
    out["error"] = "keyhole stop returned while the daemon ignored SIGTERM"
else:
    os.kill(stop.pid, signal.SIGSTOP)
    while state(stop.pid) != "T":
        time.sleep(0.001)
    orig.kill()
    orig.wait()
    os.write(last_pid, str(orig.pid - 1).encode())
    repl = subprocess.Popen(["keyhole", "1000"], executable="/bin/sleep", env=fake_env,
                            preexec_fn=ignore_term)
    out.update(orig_pid=orig.pid, repl_pid=repl.pid)
    os.kill(stop.pid, signal.SIGCONT)
    so, se = stop.communicate(timeout=30)
    time.sleep(0.1)
    out.update(stop_rc=stop.returncode, stdout=so.decode(), stderr=se.decode(),
               repl_exit=repl.poll())
    repl.kill()
    repl.wait()
print(json.dumps(out))
'''


def write_state(cli, pid):
    for name, text in (("keyhole.pid", f"{pid}\n"), ("keyhole.nonce", NONCE + "\n")):
        fd = os.open(cli.path(name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, text.encode())
        os.close(fd)


def test_same_process_ignoring_sigterm_is_killed(cli):
    cli.write_config({"enabled": True, "timeouts": {"shutdown_grace": 1}})
    fake = subprocess.Popen(["keyhole", "1000"], executable="/bin/sleep",
                            env={"KEYHOLE_NONCE": NONCE},
                            preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN))
    reaper = threading.Thread(target=fake.wait, daemon=True)   # no zombie for stop to wait on
    reaper.start()
    try:
        write_state(cli, fake.pid)
        t0 = time.monotonic()
        r = cli.run("stop")
        took = time.monotonic() - t0
        assert r.rc == 0, r
        assert f"did not stop in time and was killed (pid {fake.pid})" in r.out, r
        reaper.join(5)
        assert fake.returncode == -signal.SIGKILL, fake.returncode
        assert 3 < took < 12, f"stop took {took:.1f}s"
        assert not os.path.exists(cli.pidfile) and not os.path.exists(cli.nonce)
    finally:
        if fake.returncode is None:
            fake.kill()
        reaper.join(5)


def test_exited_but_unreaped_daemon_counts_as_stopped(cli):
    """A daemon that exits on SIGTERM at once but whose parent has not reaped it yet
    (a zombie: e.g. in a container whose PID 1 does not reap orphans) has stopped.
    stop must say so promptly, not wait out the grace period and report a kill."""
    cli.write_config({"enabled": True, "timeouts": {"shutdown_grace": 1}})
    fake = subprocess.Popen(["keyhole", "1000"], executable="/bin/sleep",
                            env={"KEYHOLE_NONCE": NONCE})    # dies on SIGTERM; not reaped
    try:
        write_state(cli, fake.pid)
        t0 = time.monotonic()
        r = cli.run("stop")
        took = time.monotonic() - t0
        assert r.rc == 0, r
        assert f"keyhole stopped (pid {fake.pid})" in r.out, r
        assert took < 3, f"stop waited {took:.1f}s for a process that had already exited"
    finally:
        fake.kill()
        fake.wait()
        assert fake.returncode == -signal.SIGTERM, "the fake daemon was not ended by SIGTERM"


def test_recycled_pid_is_not_killed(cli):
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) not installed")
    probe = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c",
                            "echo 100 > /proc/sys/kernel/ns_last_pid && echo ok"],
                           capture_output=True, text=True, timeout=10)
    if probe.returncode != 0 or probe.stdout.strip() != "ok":
        pytest.skip(f"cannot make a pid namespace with a settable ns_last_pid here: "
                    f"{probe.stderr.strip()}")
    cli.write_config({"enabled": True, "timeouts": {"shutdown_grace": 1}})
    p = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c",
                        CONTROLLER, cli.binary, cli.home, NONCE],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert "error" not in out, out
    if out["repl_pid"] != out["orig_pid"]:
        pytest.skip(f"could not hand pid {out['orig_pid']} to a new process "
                    f"(got {out['repl_pid']})")
    assert out["stop_rc"] == 0, out
    assert out["repl_exit"] is None, \
        f"keyhole stop killed the process that took over pid {out['orig_pid']}: {out}"
    assert f"pid {out['orig_pid']} now belongs to another process" in out["stdout"], out
    assert "killed" not in out["stdout"], out
    assert not os.path.exists(cli.pidfile) and not os.path.exists(cli.nonce)
