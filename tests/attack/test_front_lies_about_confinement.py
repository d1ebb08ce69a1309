"""A front taken over (privsep: true) would like to rewrite what it said
about its confinement. It cannot: the daemon takes one CONFINED report per
front start, sent before the front reads any sandbox byte, and ignores (and
logs) any later one; and `keyhole status` checks the report against the
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

from test_compromised_front import OK, WHY, send, steal_channel
from test_privsep_processes import front_pids, status

if not OK:
    print(f"SKIP test_front_lies_about_confinement: {WHY}")
pytestmark = pytest.mark.skipif(not OK, reason=WHY)

# CONFINED (privsep/frontstat.h): version 1, flags rlimits|uid_dropped|
# no_new_privs|seccomp, landlock ABI, uid, gid, nofile; little-endian.
LIE_UID = 4242


def confined_report(uid):
    return struct.pack("<BBHIII", 1, 1 | 2 | 4 | 8, 0, uid, uid, 1024)


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
        send(ch, b"C", confined_report(LIE_UID))
        deadline = time.monotonic() + 5
        while "a second confinement report: ignored" not in kh.stderr_text() and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        assert "front 0: a second confinement report: ignored" in kh.stderr_text()
        doc = front_doc(kh, front)
        assert doc["uid"] != LIE_UID and doc["uid"] == doc["kernel"]["uid"], doc
        assert doc["kernel"]["agrees"] is True, doc
        assert "/proc agrees with what every front reports" in status(kh)
    finally:
        ch.close()
        os.kill(front, signal.SIGCONT)
