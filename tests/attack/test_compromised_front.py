"""A front process taken over (privsep: true, docs/design/privsep.md 2b):
the attacker holds the front's control channel to the daemon, here stolen
with pidfd_getfd while the real front is stopped, and sends what it likes.
The daemon mints no certificate for a host its policy does not allow or one
that carries a token, takes no descriptor that is not a stream of that
front's own, survives junk, and keeps serving once the front runs again.
Needs root (pidfd_getfd on another process): skipped, saying why, else."""
import ctypes
import os
import signal
import socket
import struct
import time

import pytest

from helpers.checks import echoed_headers, echoed
from helpers.client import open_tunnel
from test_privsep_processes import front_pids

SYS_PIDFD_GETFD = 438      # x86_64 and most others since Linux 5.6
OK = os.geteuid() == 0 and hasattr(os, "pidfd_open")
WHY = "needs root and pidfd_open to take a front's control channel"
if not OK:
    print(f"SKIP test_compromised_front: {WHY}")
pytestmark = pytest.mark.skipif(not OK, reason=WHY)

_libc = ctypes.CDLL(None, use_errno=True)


def steal_channel(pid):
    """The front's fd 3 (its end of the control channel), as our own fd."""
    pidfd = os.pidfd_open(pid)
    try:
        fd = _libc.syscall(SYS_PIDFD_GETFD, pidfd, 3, 0)
        if fd < 0:
            pytest.skip(f"pidfd_getfd: {os.strerror(ctypes.get_errno())}")
        return socket.socket(fileno=fd)
    finally:
        os.close(pidfd)


def send(ch, mtype, payload=b"", fds=()):
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))] \
        if fds else []
    ch.sendmsg([mtype + payload], anc)


def answer(ch, timeout=5.0):
    ch.settimeout(timeout)
    data, _, _, _ = ch.recvmsg(16384, socket.CMSG_SPACE(16))
    return data[:1], data[1:]


def metrics_msg(decision, reason, n, active=0):
    """A METRICS report (privsep/frontstat.h): version 2, one (decision,
    reason) count, no observations, no leaf-cache hits, little-endian."""
    d, r = decision.encode(), reason.encode()
    return struct.pack("<BBBBII", 2, 1, 0, 0, active, 0) + bytes([len(d)]) + d + \
        bytes([len(r)]) + r + struct.pack("<I", n)


def flood_count(kh):
    text = kh.metrics_get()[1]
    for line in text.splitlines():
        if 'reason="flood"' in line:
            return int(line.split()[-1])
    return 0


def test_a_taken_front_cannot_flood_metrics_or_the_log(start_keyhole):
    """Counts may be lies, but at most one report per period is taken, and
    the complaints about the rest take a line per 10 s, not one each."""
    kh = start_keyhole({"privsep": True, "workers": 1})
    [front] = front_pids(kh, want=1)
    deadline = time.monotonic() + 5
    while "confined (uid" not in kh.stderr_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(front, signal.SIGSTOP)
    ch = steal_channel(front)
    time.sleep(0.3)                          # past any report the real front sent
    ch.settimeout(5)                         # the daemon reads as fast as it reads
    try:
        for _ in range(200):                 # well within one 250 ms period
            send(ch, b"N", metrics_msg("deny", "flood", 1000000))
        for _ in range(200):
            send(ch, b"N", b"\x09junk")
        deadline = time.monotonic() + 5
        while flood_count(kh) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)                      # the rest of the burst is handled
        n = flood_count(kh)
        assert 1000000 <= n <= 2000000, f"{n} counted from 200 reports sent at once"
        log = kh.stderr_text()
        lines = log.count("more often than it should") + log.count("report ignored")
        assert 1 <= lines <= 3, log[-3000:]
    finally:
        ch.close()
        os.kill(front, signal.SIGCONT)
    assert kh.running()


def test_daemon_refuses_what_a_taken_front_asks(start_keyhole, echo, token, secret):
    kh = start_keyhole({"privsep": True, "workers": 1,
                        "extra_allowed_hosts": ["other.test", "*.wild.test"]})
    [front] = front_pids(kh, want=1)
    deadline = time.monotonic() + 5          # let it finish starting (it reads fd 3)
    while "confined (uid" not in kh.stderr_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(front, signal.SIGSTOP)           # the attacker owns the channel now
    ch = steal_channel(front)
    try:
        # a leaf for a host the policy does not allow: refused
        send(ch, b"M", b"evil.example")
        assert answer(ch) == (b"x", b"host not allowed")
        # one with a token in it, under an allowed pattern: refused (a leaf
        # naming the token would put it in every client's certificate log)
        send(ch, b"M", f"{token}.wild.test".encode())
        t, why = answer(ch)
        assert t == b"x", (t, why)
        send(ch, b"M", b"ok.wild.test")      # the same pattern without one: minted
        assert answer(ch)[0] == b"m"
        # not in normal form: refused
        send(ch, b"M", b"API.OPENAI.TEST")
        assert answer(ch)[0] == b"x"
        # an allowed host: minted (so the refusals above can fail)
        send(ch, b"M", b"api.openai.test")
        t, der = answer(ch)
        assert t == b"m" and len(der) > 100
        # descriptors that are not this front's streams: a pipe, a socketpair
        # made by another process; and junk types; none may hurt the daemon
        r, w = os.pipe()
        a, b = socket.socketpair()
        send(ch, b"S", b"", [r])
        send(ch, b"S", b"", [a.fileno()])
        send(ch, b"Z", b"junk")
        send(ch, b"S", b"with payload", [w])
        os.close(r)
        os.close(w)
        a.close()
        deadline = time.monotonic() + 5
        while kh.stderr_text().count("not one of its streams") < 2 and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        log = kh.stderr_text()
        assert log.count("not one of its streams") >= 2, log[-3000:]
        assert "a control message it may not send" in log, log[-3000:]
        b.settimeout(2)
        assert b.recv(1) == b""              # the daemon closed its copy: nothing waits
        b.close()
    finally:
        ch.close()
        os.kill(front, signal.SIGCONT)
    assert kh.running()
    with open_tunnel(kh.port, "api.openai.test", echo.port, kh.ca_crt) as c:
        r = c.request("GET", "/after", f"api.openai.test:{echo.port}",
                      [("Authorization", f"Bearer {token}")])
    assert r.status == 200 and echoed_headers(echoed(r), "Authorization") == \
        [f"Bearer {secret}"]
