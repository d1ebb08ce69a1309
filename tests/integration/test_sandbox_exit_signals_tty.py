"""Exit status, signals and the terminal pass through `keyhole sandbox`.

The command's exit code is keyhole's; death by signal N is 128+N; SIGTERM sent
to the `keyhole sandbox` process reaches the command (which can trap it and
choose its exit code) within a couple of seconds; on a pseudo-terminal the
command's stdin is that terminal, and without one it is not. The command's own
options (-h, --help, -e) are its own."""
import contextlib
import os
import signal
import time

from helpers.cli import cli, pid_alive  # noqa: F401
from helpers.proc import reap
from helpers.sandbox import sandbox  # noqa: F401


@contextlib.contextmanager
def _started(sandbox, script):
    """`keyhole sandbox -- sh -c script`, read until it prints "ready" (10 s at
    most, or until it exits); yields (p, what it printed by then). On the way
    out the process is killed if still running, reaped, and its pipes closed."""
    p = sandbox.popen("sh", "-c", script)
    try:
        out = b""
        deadline = time.monotonic() + 10
        while b"ready" not in out and time.monotonic() < deadline and p.poll() is None:
            out += p.stdout.read1(64)
        yield p, out
    finally:
        reap(p)


def test_exit_codes(sandbox):
    r = sandbox.run("sh", "-c", "exit 7")
    assert r.rc == 7, r
    r = sandbox.run("true")
    assert r.rc == 0, r
    r = sandbox.run("sh", "-c", "kill -TERM $$")
    assert r.rc == 143, r
    r = sandbox.run("sh", "-c", "kill -KILL $$")
    assert r.rc == 137, r
    r = sandbox.run("/nonexistent/kh-no-such-command")
    assert r.rc == 127, r
    assert "kh-no-such-command" in r.err, r


def test_sigterm_forwarded(sandbox):
    with _started(sandbox, 'trap "exit 42" TERM; echo ready; sleep 30 & wait') as (p, line):
        assert b"ready" in line, (line, p.poll(), p.stderr.read() if p.poll() is not None else "")
        time.sleep(0.2)             # let the shell reach `wait`
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(timeout=5)
        except Exception:
            p.kill()
            p.wait(5)
            raise AssertionError("keyhole sandbox did not exit within 5 s of SIGTERM")
        elapsed = time.monotonic() - t0
    assert rc == 42, (rc, elapsed)
    assert elapsed < 2.5, elapsed


def test_sigint_from_kill_forwarded(sandbox):
    with _started(sandbox, 'trap "exit 9" INT; echo ready; sleep 30 & wait') as (p, out):
        assert b"ready" in out, out
        time.sleep(0.2)
        p.send_signal(signal.SIGINT)
        rc = p.wait(timeout=5)
    assert rc == 9, rc


def test_tty_passes_through(sandbox):
    r = sandbox.run_pty("sh", "-c", "test -t 0 && test -t 1 && tty")
    assert r.rc == 0, r
    # bwrap's fresh /dev presents the caller's terminal as /dev/console
    assert r.out.strip().splitlines()[-1] in ("/dev/console",) or \
        r.out.strip().splitlines()[-1].startswith("/dev/pts/"), r


def test_no_tty_without_one(sandbox):
    r = sandbox.run("sh", "-c", "test -t 0 && echo is-a-tty; echo done")
    assert r.rc == 0, r
    assert r.out == "done\n", r


def test_command_options_are_the_commands(sandbox):
    """-h/--help after the command belong to it, with or without `--`."""
    r = sandbox.run("sh", "-c", 'echo "args: $*"', "sh", "--help", "-h")
    assert r.rc == 0 and r.out == "args: --help -h\n", r
    r = sandbox.cli.run("sandbox", "sh", "-c", 'echo "args: $*"', "sh", "--help",
                        env=sandbox.env, preexec_fn=lambda: os.chdir(sandbox.workdir))
    assert r.rc == 0 and r.out == "args: --help\n", \
        f"`keyhole sandbox CMD --help` (no --) did not run CMD: {r}"


def test_stdin_passes_through(sandbox):
    with open(__file__, "rb") as f:
        r = sandbox.run("sh", "-c", "tr a-z A-Z", stdin=f)
    assert r.rc == 0, r
    with open(__file__) as f:
        assert r.out == f.read().upper(), r


def test_background_child_does_not_hold_the_sandbox(sandbox):
    t0 = time.monotonic()
    r = sandbox.run("sh", "-c", "sleep 30 & exit 3", timeout=15)
    assert r.rc == 3, r
    assert time.monotonic() - t0 < 5, r


def _descendants(pid):
    children = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(p))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def test_sigkill_of_keyhole_takes_the_sandbox_down(sandbox):
    with _started(sandbox, "echo ready; exec sleep 30") as (p, out):
        assert b"ready" in out, out
        inner = _descendants(p.pid)
        assert inner, "no processes under keyhole sandbox"
        p.kill()
        p.wait(5)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            alive = [q for q in inner if pid_alive(q)]
            if not alive:
                break
            time.sleep(0.05)
        assert not alive, f"sandbox processes outlived keyhole sandbox: {alive}"
