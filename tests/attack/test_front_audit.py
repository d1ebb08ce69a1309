"""A front taken over (privsep: true) and audit.log. A front holds no file:
its refusal records go to the daemon on its control channel (AUDIT), and
the daemon writes only whole JSON lines of refusals, at most the front's
byte rate (proxy/auditrelay.h). Here the attacker holds a front's control
channel (stolen with pidfd_getfd while the front is stopped, as in
test_compromised_front.py) and tries to forge an "allow" record, to write
junk and control characters, and to fill the disk. Needs root: skipped,
saying why, else."""
import json
import os
import signal
import time

import pytest

from test_compromised_front import OK, WHY, record, send, steal_channel
from test_privsep_processes import front_pids

if not OK:
    print(f"SKIP test_front_audit: {WHY}")
pytestmark = pytest.mark.skipif(not OK, reason=WHY)

BURST = 1 << 20        # KH_AUDIT_FRONT_BURST
RATE = 64 << 10        # KH_AUDIT_FRONT_BYTES a second


def wait_log(kh, text, timeout=5.0):
    deadline = time.monotonic() + timeout
    while text not in kh.stderr_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    return text in kh.stderr_text()


def test_front_holds_no_file(start_keyhole):
    kh = start_keyhole({"privsep": True, "workers": 2})
    for pid in front_pids(kh, want=2):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            assert not target.startswith("/") or target.startswith("/dev/"), (pid, fd, target)
            assert "audit.log" not in target, target


def test_a_taken_front_writes_only_refusals_and_no_faster_than_its_rate(start_keyhole):
    kh = start_keyhole({"privsep": True, "workers": 1})
    [front] = front_pids(kh, want=1)
    assert wait_log(kh, "front 0: confined (uid")
    os.kill(front, signal.SIGSTOP)
    ch = steal_channel(front)
    try:
        send(ch, b"A", record("allow", "allowed", "forged-allow.test"))
        send(ch, b"A", b"not json at all\n")
        send(ch, b"A", record("deny", "x\x1b[2J", "escape.test").replace(b"\\u001b", b"\x1b"))
        send(ch, b"A", record("deny", "host_not_allowed", "half.test")[:-1])  # no newline
        # a whole refusal: written (so the refusals above can fail)
        send(ch, b"A", record("deny", "host_not_allowed", "taken-front-marker.test"))
        kh.wait_audit(lambda r: r.get("host") == "taken-front-marker.test")
        assert wait_log(kh, "audit records refused")
        text = kh.audit_text()
        assert "forged-allow.test" not in text and "escape.test" not in text
        assert "half.test" not in text and "not json" not in text
        for line in text.splitlines():       # audit.log is still one object per line
            json.loads(line)
        # filling the disk: 4 MiB of valid refusals as fast as the channel takes them
        before = os.path.getsize(kh.audit_path)
        line = record("deny", "host_not_allowed", "flood-" + "x" * 200 + ".test")
        msg = line * (7000 // len(line))
        sent, start = 0, time.monotonic()
        ch.setblocking(False)
        while sent < 4 * BURST and time.monotonic() - start < 10:
            try:
                send(ch, b"A", msg)
                sent += len(msg)
            except BlockingIOError:
                time.sleep(0.001)
        elapsed = time.monotonic() - start
        time.sleep(0.5)                       # what the daemon still had queued
        grown = os.path.getsize(kh.audit_path) - before
        assert sent >= 4 * BURST, sent
        assert grown <= BURST + RATE * (elapsed + 1), (grown, elapsed)
        assert grown >= BURST // 2, grown      # it does write them, up to the budget
    finally:
        ch.close()
        os.kill(front, signal.SIGCONT)
    assert kh.running()
