"""privsep: true (docs/design/privsep.md 1, 2b): the CA signer is a process
of its own, the only one that reads ca.key. It is confined and shown by
`keyhole status`; while it is stopped a front fails only the handshakes
that need a new leaf (bounded wait) and keeps serving hosts it has a leaf
for, without a pause: a handshake waits for its leaf in its own state while
the front's loop serves the rest; killed, it is started again and new
hosts get leaves again."""
import json
import os
import signal
import subprocess
import time

from helpers.client import _curl_cmd, curl, curl_env, open_tunnel
from test_privsep_processes import front_pids, status

HOSTS = ("a.wild.test", "b.wild.test", "c.wild.test")


def _start(start_keyhole):
    return start_keyhole({"privsep": True, "workers": 1,
                          "extra_allowed_hosts": ["*.wild.test"],
                          "resolve": {h: "127.0.0.1" for h in HOSTS}})


def _get(kh, host, port, timeout=10):
    return curl(f"https://{host}:{port}/x", proxy=kh.proxy_url, cacert=kh.ca_crt,
                timeout=timeout)


def _signer_doc(kh, want_pid=None, timeout=10):
    """The status's "signer" object once it is confined (and has want_pid)."""
    deadline = time.monotonic() + timeout
    while True:
        doc = json.loads(status(kh, "--json"))["privsep"].get("signer", {})
        if (doc.get("confined") and (want_pid is None or doc.get("pid") == want_pid)) or \
                time.monotonic() > deadline:
            return doc
        time.sleep(0.1)


def test_signer_is_a_confined_process_of_its_own(start_keyhole):
    kh = _start(start_keyhole)
    [pid] = front_pids(kh, want=1, role=b"__signer")
    doc = _signer_doc(kh, pid)
    assert doc.get("pid") == pid and doc["confined"], doc
    assert doc["no_new_privs"] and doc["seccomp"] and doc["rlimits"], doc
    with open(f"/proc/{pid}/status") as f:
        st = dict(ln.split(":", 1) for ln in f.read().splitlines() if ":" in ln)
    assert st["NoNewPrivs"].strip() == "1" and st["Seccomp"].strip() == "2", st
    assert int(st["SigBlk"], 16) & (1 << (signal.SIGTERM - 1)) == 0, "SIGTERM blocked"
    if os.geteuid() == 0:
        assert st["Uid"].split()[0] == "65534", st["Uid"]
    with open(f"/proc/{pid}/environ", "rb") as f:
        assert f.read().split(b"\0")[0].startswith(b"PATH="), "not a clean environment"
    line = [ln for ln in status(kh).splitlines() if "CA signer" in ln]
    assert len(line) == 1 and f"pid {pid}" in line[0] and "seccomp" in line[0], line


def test_stopped_then_killed_signer(start_keyhole, echo):
    kh = _start(start_keyhole)
    [old] = front_pids(kh, want=1, role=b"__signer")
    _signer_doc(kh, old)
    r = _get(kh, "a.wild.test", echo.port)
    assert r.rc == 0 and r.status == 200, r.stderr

    os.kill(old, signal.SIGSTOP)     # a signer that does not answer
    try:
        r = _get(kh, "b.wild.test", echo.port)
        assert r.rc != 0, "a new host got a leaf with the signer stopped"
        # the front's log reaches the daemon's through a pipe it drains at
        # each tend (about once a second): wait for it, not only for curl
        deadline = time.monotonic() + 5
        while "no answer from the CA signer" not in kh.stderr_text():
            assert time.monotonic() < deadline, kh.stderr_text()[-2000:]
            time.sleep(0.05)
        r = _get(kh, "a.wild.test", echo.port)   # its leaf is cached in the front
        assert r.rc == 0 and r.status == 200, r.stderr
    finally:
        os.kill(old, signal.SIGKILL)

    deadline = time.monotonic() + 10
    while True:
        pids = front_pids(kh, role=b"__signer", timeout=0)
        if (pids and pids != [old]) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert pids and pids != [old], "the signer was not started again"
    doc = _signer_doc(kh, pids[0])
    assert doc.get("restarts") == 1 and doc["confined"], doc
    assert "\nkeyhole_signer_restarts_total 1\n" in kh.metrics_get()[1]
    deadline = time.monotonic() + 10  # the front gets its new channel from the daemon
    while True:
        r = _get(kh, "c.wild.test", echo.port)
        if r.rc == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.rc == 0 and r.status == 200, r.stderr
    assert kh.running()


def test_a_handshake_waiting_for_its_leaf_stalls_no_one_else(start_keyhole, echo):
    """One front: a connection to a host with a cached leaf goes on serving
    requests while another waits for a leaf the stopped signer never signs
    (the old front waited for it in a blocking poll, and its every
    connection with it, for up to 1.5 s)."""
    kh = _start(start_keyhole)
    [signer] = front_pids(kh, want=1, role=b"__signer")
    _signer_doc(kh, signer)
    a = open_tunnel(kh.port, "a.wild.test", echo.port, kh.ca_crt)
    try:
        assert a.request("GET", "/first", f"a.wild.test:{echo.port}").status == 200
        os.kill(signer, signal.SIGSTOP)
        cmd = _curl_cmd(10, kh.proxy_url, kh.ca_crt, (), ())
        waiting = subprocess.Popen(cmd + ["-o", "/dev/null", f"https://b.wild.test:{echo.port}/"],
                                   env=curl_env(), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE)
        try:
            time.sleep(0.3)                  # its CONNECT and ClientHello are in
            for i in range(5):
                r = a.request("GET", f"/more{i}", f"a.wild.test:{echo.port}", timeout=5)
                assert r.status == 200
            assert waiting.poll() is None, "the waiting handshake ended before the others ran"
            assert waiting.wait(timeout=10) != 0, "a new host got a leaf with the signer stopped"
        finally:
            waiting.kill()
            waiting.wait()
        assert "no answer from the CA signer in time" in kh.stderr_text()
    finally:
        a.close()
        os.kill(signer, signal.SIGCONT)


def test_a_signer_that_stops_answering_is_killed_and_started_again(start_keyhole, echo):
    """The daemon pings the signer every second; one that has not answered
    for 5 s (here: stopped, as a signer stuck in a loop would be) is killed
    and started again, so new hosts get leaves again without an operator."""
    kh = _start(start_keyhole)
    [old] = front_pids(kh, want=1, role=b"__signer")
    _signer_doc(kh, old)
    os.kill(old, signal.SIGSTOP)
    deadline = time.monotonic() + 15
    pids = [old]
    while time.monotonic() < deadline:
        pids = front_pids(kh, role=b"__signer", timeout=0)
        if pids and pids != [old]:
            break
        time.sleep(0.1)
    assert pids and pids != [old], "the stuck signer was not replaced"
    assert f"CA signer (pid {old}) has not answered for 5 s: killing it" in kh.stderr_text()
    _signer_doc(kh, pids[0])
    r = _get(kh, "b.wild.test", echo.port)
    assert r.rc == 0 and r.status == 200, r.stderr
    metrics = kh.metrics_get()[1]
    assert "\nkeyhole_signer_hangs_total 1\n" in metrics
    assert "\nkeyhole_signer_restarts_total 1\n" in metrics


def test_a_restarted_signer_stuck_before_it_is_ready_is_killed(start_keyhole, echo):
    """A signer started again that never says it is ready (stopped here right
    after it appears, as one stuck loading the CA would be) is killed after
    the start wait like one that stops answering, not left to fail every new
    host's handshake for good."""
    kh = _start(start_keyhole)
    [first] = front_pids(kh, want=1, role=b"__signer")
    _signer_doc(kh, first)
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 10
    second = None
    while second is None and time.monotonic() < deadline:
        second = next((p for p in front_pids(kh, role=b"__signer", timeout=0) if p != first),
                      None)
        time.sleep(0.002)
    assert second is not None, "the killed signer was not started again"
    os.kill(second, signal.SIGSTOP)          # before it is ready, most likely
    deadline = time.monotonic() + 20
    pids = [second]
    while time.monotonic() < deadline:
        pids = [p for p in front_pids(kh, role=b"__signer", timeout=0) if p != second]
        if pids:
            break
        time.sleep(0.1)
    assert pids, "the stuck signer was not replaced"
    log = kh.stderr_text()
    assert f"CA signer (pid {second}) did not say it was ready in time: killing it" in log or \
        f"CA signer (pid {second}) has not answered for 5 s: killing it" in log, log[-2000:]
    _signer_doc(kh, pids[0])
    r = _get(kh, "c.wild.test", echo.port, timeout=15)
    assert r.rc == 0 and r.status == 200, r.stderr
