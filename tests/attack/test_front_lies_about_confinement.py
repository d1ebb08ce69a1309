"""A front taken over (privsep: true) would like to rewrite what it said
about its confinement. It cannot: the daemon takes one CONFINED report per
front start, sent before the front reads any sandbox byte, only from the
front's own process (the kernel's word: SO_PASSCRED), and ignores (and
logs) any other; and `keyhole status` checks the report against the
front's /proc entry in any case (cli/procview.h; the comparison itself is
unit-tested with lying reports in tests/unit/test_procview.c). Here the
attacker holds a front's control channel (stolen with pidfd_getfd while the
front is stopped, as in test_compromised_front.py) and reports a uid it does
not run as. Needs root: skipped, saying why, else."""
import json
import os
import signal
import struct
import time

import pytest

from test_compromised_front import (OK, WHY, assert_end_is_dead, send, steal_channel,
                                    steal_then_replace)
from test_privsep_processes import front_pids, status

if not OK:
    print(f"SKIP test_front_lies_about_confinement: {WHY}")
pytestmark = pytest.mark.skipif(not OK, reason=WHY)

# CONFINED (privsep/frontstat.h): version 2, flags rlimits|uid_dropped|
# no_new_privs|seccomp, landlock ABI, uid, gid, nofile, pid; little-endian.
LIE_UID = 4242


def confined_report(uid, pid):
    return struct.pack("<BBHIIII", 2, 1 | 2 | 4 | 8, 0, uid, uid, 1024, pid)


def wait_for_ignored_report(kh):
    """The daemon's line for a report that did not come from the front."""
    want = "front 0: a confinement report from another process: ignored"
    deadline = time.monotonic() + 5
    while want not in kh.stderr_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert want in kh.stderr_text()


def front_doc(kh, pid):
    for f in json.loads(status(kh, "--json"))["privsep"]["fronts"]:
        if f["pid"] == pid:
            return f
    return None


def test_a_taken_front_cannot_rewrite_its_confinement_report(start_keyhole):
    kh = start_keyhole({"privsep": True, "workers": 1})
    [front] = front_pids(kh, want=1)
    deadline = time.monotonic() + 5          # its own, true report first
    while not (front_doc(kh, front) or {}).get("confined") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert front_doc(kh, front)["kernel"]["agrees"] is True
    os.kill(front, signal.SIGSTOP)
    ch = steal_channel(front)
    try:
        send(ch, b"C", confined_report(LIE_UID, front))
        # sent by this test's process on the front's stolen end, not by the front
        wait_for_ignored_report(kh)
        doc = front_doc(kh, front)
        assert doc["uid"] != LIE_UID and doc["uid"] == doc["kernel"]["uid"], doc
        assert doc["kernel"]["agrees"] is True, doc
        assert "/proc agrees with what every front reports" in status(kh)
    finally:
        ch.close()
        os.kill(front, signal.SIGCONT)


def test_a_dead_fronts_report_is_not_its_successors(start_keyhole):
    """What someone holding a dead front's channel end sends (naming the new
    front's pid, as anyone can read it) must not stand for the next front's
    confinement. Each front start has a channel of its own, and the daemon
    closes the one before once the next front runs: that end reaches no one
    (test_compromised_front.py: a stolen end after a restart)."""
    kh = start_keyhole({"privsep": True, "workers": 1})
    ch, new = steal_then_replace(kh)
    try:
        # the new front's pid, even: nobody reads it
        assert_end_is_dead(ch, b"C", confined_report(LIE_UID, new))
        doc = front_doc(kh, new)
        assert doc["uid"] != LIE_UID and doc["kernel"]["agrees"] is True, doc
    finally:
        ch.close()
