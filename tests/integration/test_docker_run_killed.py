"""A `keyhole docker run` killed with SIGKILL (the OOM killer, a closed
terminal's escalation) cannot revoke its container's sandbox tokens itself.
The daemon watches the wrapper (its pid, given in the issue request, held as a
pidfd) and revokes the label's tokens within seconds of its death; docker,
its child, gets SIGTERM (PR_SET_PDEATHSIG) and stops the container as it does
on a terminal's SIGTERM. Issue 22 item 3. Before the fix the tokens stayed
"active" for their whole TTL (24 h by default)."""
import json
import os
import signal
import subprocess
import time

from helpers.cli import cli, pid_alive  # noqa: F401
from helpers.sandbox import docker, grants, setup_and_start  # noqa: F401

KEYS = {"OPENAI_API_KEY": "sk-real-openai-0123456789abcdef"}
WAIT = 10  # seconds: far more than the watch needs (it is woken by the pidfd)


def wait_for(what, pred, timeout):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {timeout} s")
        time.sleep(0.1)


def test_killed_docker_run_tokens_revoked(cli, docker, tmp_path):
    setup_and_start(cli, KEYS)
    pids = tmp_path / "pids"
    # the "container" notes docker's pid and its own, then lives on
    cli.env["FAKE_DOCKER_DURING"] = f"echo $PPID $$ > '{pids}'; exec sleep 60"
    p = subprocess.Popen([cli.binary, "docker", "run", "--rm", "alpine", "sleep", "60"],
                         env=cli.environment(KEYS), stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    sleeper = None
    try:
        wait_for("the fake container", lambda: pids.exists() and pids.read_text().strip(), 10)
        docker_pid, sleeper = (int(x) for x in pids.read_text().split())
        live = grants(cli)
        assert [g["state"] for g in live] == ["active"], live
        label = live[0]["label"]
        assert label == f"docker-{p.pid}", live

        os.kill(p.pid, signal.SIGKILL)
        p.wait(5)
        t0 = time.monotonic()
        wait_for("revocation", lambda: [g["state"] for g in grants(cli)] == ["revoked"], WAIT)
        took = time.monotonic() - t0
        assert took < 5, f"revoked only after {took:.1f} s"
        wait_for("docker to get SIGTERM", lambda: not pid_alive(docker_pid), 5)
        log = cli.read("keyhole.log")
        assert f"sandbox {label}: its owner (pid {p.pid}) is gone" in log, log
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
        if sleeper is not None and pid_alive(sleeper):
            os.kill(sleeper, signal.SIGKILL)


def test_issue_for_a_dead_owner_refused(cli, tmp_path):
    """An owner that is not running gets nothing (it could never revoke)."""
    setup_and_start(cli, KEYS)
    dead = subprocess.Popen(["/bin/true"])
    dead.wait(5)
    req = json.dumps({"op": "issue", "label": "ghost", "owner": dead.pid})
    r = subprocess.run(["/usr/bin/python3", "-c", (
        "import socket,sys\n"
        "s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
        "s.sendall(sys.argv[2].encode()+b'\\n'); print(s.makefile().read())"),
        cli.path("control.sock"), req], capture_output=True, text=True, timeout=10)
    reply = json.loads(r.stdout)
    assert reply["ok"] is False and "not running" in reply["error"], reply
    assert grants(cli) == [], grants(cli)
