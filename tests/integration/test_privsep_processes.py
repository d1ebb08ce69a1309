"""privsep: true (docs/design/privsep.md): the fronts, which read the
sandboxes' bytes, run as processes of their own, started by the daemon from
keyhole's binary; the daemon (the key holder) gets each connection's stream
from them and does the swap. Requests work as before; a front that dies is
started again while the others keep serving."""
import json
import os
import re
import shutil
import subprocess
import signal
import time

import pytest

from helpers import proc
from helpers.checks import assert_keyhole_error, echoed, echoed_headers
from helpers.client import Closed, Conn, curl, open_tunnel


def front_pids(kh, want=None, timeout=5.0, role=b"__front"):
    """Pids of the daemon's front processes (their cmdline says __front), or
    of its other children of that role (b"__signer"), once there are want of
    them (any number when want is None), or what there is after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        pids = proc.front_pids(kh.proc.pid, role)
        if (want is None and pids) or (want is not None and len(pids) == want) or \
                time.monotonic() > deadline:
            return pids
        time.sleep(0.05)


def test_swap_through_a_front_process(start_keyhole, echo, plain_echo, token, secret):
    kh = start_keyhole({"privsep": True, "workers": 2})
    assert len(front_pids(kh, want=2)) == 2
    r = curl(f"https://api.openai.test:{echo.port}/v1/models", cacert=kh.ca_crt,
             headers=[f"Authorization: Bearer {token}"], env={"HTTPS_PROXY": kh.proxy_url})
    assert r.rc == 0 and r.status == 200, r.stderr
    assert echoed_headers(echoed(r), "Authorization") == [f"Bearer {secret}"]
    r = curl(f"http://plain.test:{plain_echo.port}/p", proxy=kh.proxy_url)
    assert r.rc == 0 and r.status == 200 and echoed(r)["path"] == "/p", r.stderr
    with Conn.to_proxy(kh.port) as c:   # a refusal, written by a front
        r = c.request("GET", "http://not-allowed.test/x", "not-allowed.test")
    assert r.status == 403
    kh.wait_audit(lambda a: a.get("host") == "not-allowed.test" and a.get("status") == 403)
    kh.wait_audit(lambda a: a.get("path") == "/v1/models" and a.get("status") == 200)


def server_inode(kh_port, client_port):
    """The inode of keyhole's end of the loopback TCP connection from client_port."""
    want = f":{kh_port:04X} "
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if (local + " ").endswith(want) and remote.endswith(f":{client_port:04X}"):
                return int(fields[9])
    return None


def holder_of(inode, pids):
    """Which of pids holds the socket with this inode (None: none of them)."""
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    return None


def test_front_that_dies_is_started_again(start_keyhole, echo, token, secret):
    """Only the dead front's connections are lost: keep-alive connections held
    by the other front go on with their next request. (Which front holds a
    connection is read in /proc/PID/fd, which a front, not dumpable, shows to
    root only.)"""
    if os.geteuid() != 0:
        print("SKIP test_front_that_dies_is_started_again: needs root to read a front's fds")
        pytest.skip("needs root to read a front's /proc/PID/fd (fronts are not dumpable)")
    kh = start_keyhole({"privsep": True, "workers": 2})
    before = front_pids(kh, want=2)
    assert len(before) == 2
    auth = [("Authorization", f"Bearer {token}")]
    held = {}                   # front pid -> its open keep-alive connections
    for _ in range(24):         # SO_REUSEPORT spreads them; stop once both fronts hold some
        c = open_tunnel(kh.port, "api.openai.test", echo.port, kh.ca_crt)
        assert c.request("GET", "/first", f"api.openai.test:{echo.port}", auth).status == 200
        pid = holder_of(server_inode(kh.port, c.sock.getsockname()[1]), before)
        assert pid in before, pid
        held.setdefault(pid, []).append(c)
        if len(held) == 2 and min(len(v) for v in held.values()) >= 2:
            break
    assert len(held) == 2, "24 connections all landed on one front"
    victim, survivor = before
    os.kill(victim, signal.SIGKILL)
    for c in held[survivor]:    # the other front's connections are untouched
        r = c.request("GET", "/after", f"api.openai.test:{echo.port}", auth)
        assert r.status == 200
        assert echoed_headers(echoed(r), "Authorization") == [f"Bearer {secret}"]
    for c in held[victim]:      # the dead front's are gone
        try:
            c.request("GET", "/after", f"api.openai.test:{echo.port}", auth)
        except (OSError, Closed):
            continue
        raise AssertionError("a connection of the killed front still answered")
    for _ in range(10):         # new connections keep working meanwhile
        with open_tunnel(kh.port, "api.openai.test", echo.port, kh.ca_crt) as c:
            r = c.request("GET", "/again", f"api.openai.test:{echo.port}", auth)
            assert r.status == 200
    after = front_pids(kh, want=2, timeout=5)
    assert len(after) == 2 and victim not in after and survivor in after, (before, after)
    for conns in held.values():
        for c in conns:
            c.close()
    assert kh.running()
    text = kh.metrics_get()[1]
    assert "keyhole_front_restarts_total 1\n" in text and "keyhole_front_processes 2\n" in text, \
        text[:1500]


def test_fronts_exit_when_the_daemon_is_killed(start_keyhole):
    """A front whose daemon is gone exits, also when the daemon died with the
    front's messages unread (then the front's read gets ECONNRESET, not an
    end of file: such fronts lived on, unparented, before)."""
    kh = start_keyhole({"privsep": True, "workers": 2})
    fronts = front_pids(kh, want=2)
    assert len(fronts) == 2
    os.kill(kh.proc.pid, signal.SIGSTOP)
    try:
        for _ in range(4):        # refusals the fronts answer alone, then report
            with Conn.to_proxy(kh.port) as c:
                assert c.request("GET", "http://not-allowed.test/x",
                                 "not-allowed.test").status == 403
        time.sleep(0.8)           # their METRICS wait, unread, in the daemon's sockets
    finally:
        os.kill(kh.proc.pid, signal.SIGKILL)
    kh.proc.wait(5)
    deadline = time.monotonic() + 5
    while any(os.path.exists(f"/proc/{p}") and not _zombie(p) for p in fronts) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    left = [p for p in fronts if os.path.exists(f"/proc/{p}") and not _zombie(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert not left, f"fronts {left} outlived their daemon"


def _zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def test_fronts_are_confined(start_keyhole):
    """Each front runs with no_new_privs and a seccomp filter, and as nobody
    when keyhole runs as root (Landlock does not show in /proc: the front's
    log line says its ABI)."""
    kh = start_keyhole({"privsep": True, "workers": 2})
    pids = front_pids(kh, want=2)
    assert len(pids) == 2
    deadline = time.monotonic() + 5   # each confines itself once it is set up
    confined = re.compile(r"front \d+: confined \(uid")  # not the signer's line
    while len(confined.findall(kh.stderr_text())) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(confined.findall(kh.stderr_text())) >= 2, kh.stderr_text()
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            st = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
        assert st["NoNewPrivs"] == "1" and st["Seccomp"] == "2", st
        if os.geteuid() == 0:
            assert st["Uid"].split()[0] == "65534", st["Uid"]
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = f.read()
        assert b"KEY" not in env and b"SECRET" not in env, env


def status(kh, *args):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": kh.home,
           "KEYHOLE_HOME": kh.home}
    r = subprocess.run([kh.binary, "status", "--home", kh.home, *args], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_status_names_each_fronts_confinement(start_keyhole):
    kh = start_keyhole({"privsep": True, "workers": 2})
    pids = front_pids(kh, want=2)
    assert len(pids) == 2
    deadline = time.monotonic() + 5   # each reports once it has confined itself
    while True:
        doc = json.loads(status(kh, "--json"))
        fronts = doc["privsep"]["fronts"]
        if all(f["confined"] for f in fronts) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert doc["privsep"]["mode"] == "processes"
    assert sorted(f["pid"] for f in fronts) == pids, (fronts, pids)
    for f in fronts:
        assert f["confined"] and f["no_new_privs"] and f["seccomp"] and f["rlimits"], f
        assert f["uid"] == (65534 if os.geteuid() == 0 else os.geteuid()), f
        # what the kernel shows, read by `keyhole status` itself in /proc
        k = f["kernel"]
        assert k["no_new_privs"] == 1 and k["seccomp"] == 2 and k["uid"] == f["uid"], k
        assert k["agrees"] is True, k
    text = status(kh)
    assert "/proc agrees with what every front reports" in text, text
    line = [ln for ln in text.splitlines() if "privilege separation" in ln]
    assert len(line) == 1, text
    assert "2 front process(es) running" in line[0] and "no_new_privs" in line[0] and \
        "seccomp" in line[0] and "rlimits" in line[0], line
    assert sorted(int(p) for p in re.search(r"pids ([\d ]+)\)", line[0]).group(1).split()) == pids
    if any(f["landlock_abi"] == 0 for f in fronts):
        assert "landlock (not applied" in text, text


def test_privsep_is_on_by_default(start_keyhole):
    kh = start_keyhole({"workers": 1, "privsep": None})     # not set, whatever KH_TEST_PRIVSEP
    assert len(front_pids(kh, want=1)) == 1
    assert json.loads(status(kh, "--json"))["privsep"]["mode"] == "processes"


def test_start_says_what_to_do_where_fronts_cannot_be_confined(start_keyhole):
    """In a user namespace that maps only uid 0 (as some container setups
    run), neither the CA signer nor a front can become uid 65534. keyhole
    then does not start, says why and what to do, rather than starting
    processes again for ever; and what it says to do works."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    userns = ("unshare", "--user", "--map-root-user")
    kh = start_keyhole({"workers": 1, "privsep": True}, wrapper=userns, wait=False)
    assert kh.wait_exit(15) == 1, kh.stderr_text()
    err = kh.stderr_text()
    assert "cannot become uid 65534" in err, err
    assert "did not start" in err, err
    assert "privsep: false in config.yaml runs keyhole as one process" in err, err
    kh = start_keyhole({"workers": 1, "privsep": False}, wrapper=userns)
    assert kh.healthz()[0] == 200


def test_status_says_what_privsep_false_gives_up(start_keyhole):
    kh = start_keyhole({"workers": 1, "privsep": False})
    text = status(kh)
    assert re.search(r"privilege separation +off \(privsep: false in config.yaml\): the keys "
                     r"share the daemon's process with the code that reads the sandboxes' "
                     r"bytes", text), text
    assert json.loads(status(kh, "--json"))["privsep"] == {"mode": "off", "fronts": []}


def test_refusal_by_a_front_is_in_the_daemons_metrics(start_keyhole):
    kh = start_keyhole({"privsep": True, "workers": 2})
    assert len(front_pids(kh, want=2)) == 2
    with Conn.to_proxy(kh.port) as c:   # refused by the front, never seen by the daemon
        r = c.request("GET", "http://not-allowed.test/x", "not-allowed.test")
    assert r.status == 403
    deadline = time.monotonic() + 5   # fronts send their counts every 250 ms
    while True:
        text = kh.metrics_get()[1]
        deny = [ln for ln in text.splitlines()
                if ln.startswith('keyhole_requests_total{decision="deny"')]
        if deny or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert deny and sum(int(ln.rsplit(" ", 1)[1]) for ln in deny) >= 1, text[:2000]
