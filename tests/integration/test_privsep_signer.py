"""privsep: true (docs/design/privsep.md 1, 2b): the CA signer is a process
of its own, the only one that reads ca.key. It is confined and shown by
`keyhole status`; while it is stopped a front fails only the handshakes
that need a new leaf (bounded wait) and keeps serving hosts it has a leaf
for; killed, it is started again and new hosts get leaves again."""
import json
import os
import signal
import time

from helpers.client import curl
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
        assert "no answer from the CA signer" in kh.stderr_text(), kh.stderr_text()[-2000:]
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
