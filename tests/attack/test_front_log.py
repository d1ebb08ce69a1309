"""A front taken over (privsep: true) and the daemon's log. A front's
stdout and stderr are a pipe the daemon reads (proxy/childlog.h): each line
it copies is prefixed with the front's name, cleaned of control characters,
cut at KH_CHILDLOG_LINE bytes and held to KH_CHILDLOG_RATE lines a second
(bursts of KH_CHILDLOG_BURST). Here the attacker takes the front's stderr
(pidfd_getfd, front stopped) and floods it with long lines, terminal escapes
and lines dressed as the daemon's own. Needs root: skipped, saying why,
else."""
import ctypes
import os
import signal
import time

import pytest

from test_compromised_front import OK, SYS_PIDFD_GETFD, WHY
from test_privsep_processes import front_pids

if not OK:
    print(f"SKIP test_front_log: {WHY}")
pytestmark = pytest.mark.skipif(not OK, reason=WHY)

LINE, RATE, BURST = 1024, 20, 200     # KH_CHILDLOG_LINE, _RATE, _BURST
_libc = ctypes.CDLL(None, use_errno=True)


def steal_fd(pid, fd):
    pidfd = os.pidfd_open(pid)
    try:
        got = _libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
        if got < 0:
            pytest.skip(f"pidfd_getfd: {os.strerror(ctypes.get_errno())}")
        return got
    finally:
        os.close(pidfd)


def test_a_taken_front_cannot_flood_or_forge_the_daemons_log(start_keyhole):
    kh = start_keyhole({"privsep": True, "workers": 1})
    [front] = front_pids(kh, want=1)
    deadline = time.monotonic() + 5
    while "front 0: confined (uid" not in kh.stderr_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "[front 0] " in kh.stderr_text()       # its own lines come through, named
    os.kill(front, signal.SIGSTOP)
    fd = steal_fd(front, 2)
    os.set_blocking(fd, False)
    before = len(kh.stderr_text().encode())
    forged = b"2026-12-06T00:00:00.000Z keyhole[1] info: forged-daemon-line \x1b[2J\x07\n"
    long_line = b"L" * (50 * LINE) + b"\n"
    start, written = time.monotonic(), 0
    try:
        for i in range(20000):                     # about 4 MB at most
            try:
                # each write under PIPE_BUF: written whole or not at all
                written += os.write(fd, forged if i % 2 else long_line[: 200 + i % 3800] + b"\n")
            except BlockingIOError:
                time.sleep(0.001)
            if time.monotonic() - start > 5:
                break
        elapsed = time.monotonic() - start
        time.sleep(1.2)                            # the rate allows a line again
        os.write(fd, b"after-the-flood\n")  # every write above was whole lines
        time.sleep(0.3)
    finally:
        os.close(fd)
        os.kill(front, signal.SIGCONT)
    text = kh.stderr_text()
    grown = len(text.encode()) - before
    assert written > 1_000_000, written
    # at most the burst and the rate's worth of lines, each at most a cut line
    most = (BURST + RATE * (elapsed + 1) + 5) * (LINE + 100)
    assert grown <= most, (grown, most, elapsed)
    assert "forged-daemon-line" in text                  # it did copy some (can fail)
    for ln in text.splitlines():
        if "forged-daemon-line" in ln:
            assert ln.startswith("[front 0] "), ln       # never passed off as the daemon's
        assert "\x1b" not in ln and "\x07" not in ln, ln
        assert len(ln) <= LINE + 100, len(ln)
    copied = text.count("[front 0] 2026-12-06T00:00:00.000Z") + text.count("[front 0] LLL")
    assert copied <= BURST + RATE * (elapsed + 2), (copied, elapsed)
    assert "[front 0] after-the-flood" in text                      # and how many went
    assert "line(s) dropped: over the log rate)\n[front 0] after-the-flood" in text, text[-500:]
    assert kh.running()

