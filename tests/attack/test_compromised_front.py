"""A front process taken over (privsep: true, docs/design/privsep.md 2b):
the attacker holds the front's control channel to the daemon and its
channel to the CA signer, here stolen with pidfd_getfd while the real front
is stopped, and sends what it likes. The daemon mints nothing any more (a
MINT is a message a front may not send), takes no descriptor that is not a
stream of that front's own, survives junk, and keeps serving once the front
runs again. The signer signs no leaf for a host the policy does not allow,
one that carries a token, one not in normal form or a key that is not
P-256, and signs for the key the front sent.
Needs root (pidfd_getfd on another process): skipped, saying why, else."""
import ctypes
import json
import os
import signal
import socket
import struct
import subprocess
import time

import pytest

from helpers.checks import echoed_headers, echoed
from helpers.client import open_tunnel
from test_privsep_processes import front_pids, status

SYS_PIDFD_GETFD = 438      # x86_64 and most others since Linux 5.6
OK = os.geteuid() == 0 and hasattr(os, "pidfd_open")
WHY = "needs root and pidfd_open to take a front's control channel"
if not OK:
    print(f"SKIP test_compromised_front: {WHY}")
pytestmark = pytest.mark.skipif(not OK, reason=WHY)

_libc = ctypes.CDLL(None, use_errno=True)


def steal_channel(pid, target=3):
    """The front's fd target (3: its end of the control channel), as our own fd."""
    pidfd = os.pidfd_open(pid)
    try:
        fd = _libc.syscall(SYS_PIDFD_GETFD, pidfd, target, 0)
        if fd < 0:
            pytest.skip(f"pidfd_getfd: {os.strerror(ctypes.get_errno())}")
        return socket.socket(fileno=fd)
    finally:
        os.close(pidfd)


def steal_signer_channel(pid):
    """The front's channel to the CA signer: its one SOCK_SEQPACKET socket
    besides fd 3 (listeners and streams are SOCK_STREAM)."""
    for name in os.listdir(f"/proc/{pid}/fd"):
        if name == "3" or not os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
            continue
        s = steal_channel(pid, int(name))
        if s.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) == socket.SOCK_SEQPACKET:
            return s
        s.close()
    pytest.fail("the front has no channel to the CA signer")


SIGN_LEAF, LEAF, LEAF_FAIL = 17, 18, 19      # privsep/chan.h


def sign_leaf(ch, req, host, spki):
    """A SIGN_LEAF frame (chan.c: u64 req, u16-length host, SPKI DER)."""
    h = host.encode()
    payload = struct.pack("<QH", req, len(h)) + h + spki
    ch.send(struct.pack("<HHIQ", SIGN_LEAF, 0, len(payload), 0) + payload)


def leaf_answer(ch, timeout=5.0):
    """(type, req, DER) for LEAF, (type, req, reason) for LEAF_FAIL."""
    ch.settimeout(timeout)
    frame = ch.recv(65536 + 16)
    mtype, _, n, _ = struct.unpack_from("<HHIQ", frame)
    body = frame[16:16 + n]
    req = struct.unpack_from("<Q", body)[0]
    if mtype == LEAF_FAIL:
        rl = struct.unpack_from("<H", body, 8)[0]
        return mtype, req, body[10:10 + rl].decode()
    return mtype, req, body[8:]


def _openssl(args, data=None):
    return subprocess.run(["openssl", *args], input=data, capture_output=True,
                          check=True).stdout


def ec_key(curve="P-256"):
    """(SPKI DER, public key PEM) of a new EC key."""
    key = _openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{curve}"])
    return (_openssl(["pkey", "-pubout", "-outform", "DER"], key),
            _openssl(["pkey", "-pubout"], key))


def send(ch, mtype, payload=b"", fds=()):
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))] \
        if fds else []
    ch.sendmsg([mtype + payload], anc)


def record(decision, reason, host):
    """A front's AUDIT message: one refusal record, as a front writes it."""
    return (json.dumps({"time": "2026-01-01T00:00:00.000Z", "decision": decision,
                        "reason": reason, "host": host}) + "\n").encode()


def assert_end_is_dead(ch, mtype, payload, timeout=5.0):
    """Sends on a stolen channel end until the send fails: the daemon has
    closed its end (it does once the next front runs), so no message sent
    there is read. Fails if it still takes them after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            send(ch, mtype, payload)
        except (BrokenPipeError, ConnectionResetError, ConnectionRefusedError):
            return
        assert time.monotonic() < deadline, "the daemon still reads a dead front's channel"
        time.sleep(0.05)


def answer(ch, timeout=5.0):
    ch.settimeout(timeout)
    data, _, _, _ = ch.recvmsg(16384, socket.CMSG_SPACE(16))
    return data[:1], data[1:]


def metrics_msg(decision, reason, n, active=0):
    """A METRICS report (privsep/frontstat.h): version 2, one (decision,
    reason) count, no observations, little-endian."""
    d, r = decision.encode(), reason.encode()
    return struct.pack("<BBBBI", 2, 1, 0, 0, active) + bytes([len(d)]) + d + \
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
    while "front 0: confined (uid" not in kh.stderr_text() and time.monotonic() < deadline:
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
    kh = start_keyhole({"privsep": True, "workers": 1})
    [front] = front_pids(kh, want=1)
    deadline = time.monotonic() + 5          # let it finish starting (it reads fd 3)
    while "front 0: confined (uid" not in kh.stderr_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(front, signal.SIGSTOP)           # the attacker owns the channel now
    ch = steal_channel(front)
    try:
        # the daemon mints nothing any more: the CA key is not in it
        send(ch, b"M", b"api.openai.test")
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
        while (kh.stderr_text().count("not one of its streams") < 2 or
               kh.stderr_text().count("a control message it may not send") < 2) and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        log = kh.stderr_text()
        assert log.count("not one of its streams") >= 2, log[-3000:]
        assert log.count("a control message it may not send") >= 2, log[-3000:]
        b.settimeout(2)
        assert b.recv(1) == b""              # the daemon closed its copy: nothing waits
        b.close()
        ch.setblocking(False)
        with pytest.raises(BlockingIOError):  # no answer to the MINT: no leaf
            ch.recv(16384)
    finally:
        ch.close()
        os.kill(front, signal.SIGCONT)
    assert kh.running()
    with open_tunnel(kh.port, "api.openai.test", echo.port, kh.ca_crt) as c:
        r = c.request("GET", "/after", f"api.openai.test:{echo.port}",
                      [("Authorization", f"Bearer {token}")])
    assert r.status == 200 and echoed_headers(echoed(r), "Authorization") == \
        [f"Bearer {secret}"]


def test_signer_refuses_what_a_taken_front_asks(start_keyhole, echo, token, secret):
    kh = start_keyhole({"privsep": True, "workers": 1,
                        "extra_allowed_hosts": ["other.test", "*.wild.test"]})
    [front] = front_pids(kh, want=1)
    deadline = time.monotonic() + 5
    while "front 0: confined (uid" not in kh.stderr_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    spki, pub = ec_key()
    p384, _ = ec_key("P-384")
    os.kill(front, signal.SIGSTOP)
    ch = steal_signer_channel(front)
    try:
        asks = [  # (host, key, the signer's answer)
            ("evil.example", spki, "host_not_allowed"),
            # a token in it, under an allowed pattern (a leaf naming the token
            # would put it in every client's certificate log)
            (f"{token}.wild.test", spki, "host_not_allowed"),
            # not in normal form: the frame itself is refused, unanswered
            ("API.OPENAI.TEST", spki, None),
            ("api.openai.test", p384, "key_not_p256"),
            ("api.openai.test", b"\x30\x03junk", "bad_key"),
        ]
        for i, (host, key, why) in enumerate(asks, 1):
            sign_leaf(ch, i, host, key)
            if why is not None:
                assert leaf_answer(ch) == (LEAF_FAIL, i, why), (host, why)
        # an allowed host (so the refusals above can fail): a leaf for the
        # key sent, naming the host
        sign_leaf(ch, 99, "ok.wild.test", spki)
        t, req, der = leaf_answer(ch)
        assert (t, req) == (LEAF, 99) and len(der) > 100
        assert _openssl(["x509", "-inform", "DER", "-noout", "-pubkey"], der) == pub
        assert b"DNS:ok.wild.test" in _openssl(
            ["x509", "-inform", "DER", "-noout", "-ext", "subjectAltName"], der)
        ch.send(b"\x00" * 40)                # junk: logged, the signer lives on
        sign_leaf(ch, 100, "other.test", spki)
        assert leaf_answer(ch)[:2] == (LEAF, 100)
    finally:
        ch.close()
        os.kill(front, signal.SIGCONT)
    # the first refusal; the rest within 10 s are not logged. (The signer's
    # lines reach the daemon's log through a pipe it reads about once a second.)
    deadline = time.monotonic() + 3
    while "signer: front 0: host_not_allowed" not in kh.stderr_text() and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.2)          # any further line would have come by now
    log = kh.stderr_text()
    assert "signer: front 0: host_not_allowed" in log, log[-3000:]
    assert log.count("signer: front 0:") == 1, log[-3000:]
    with open_tunnel(kh.port, "api.openai.test", echo.port, kh.ca_crt) as c:
        r = c.request("GET", "/after", f"api.openai.test:{echo.port}",
                      [("Authorization", f"Bearer {token}")])
    assert r.status == 200 and echoed_headers(echoed(r), "Authorization") == \
        [f"Bearer {secret}"]


def kill_and_replace(kh, old, timeout=10.0):
    """Kills front old and returns the pid of the front the daemon starts instead."""
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = next((p for p in front_pids(kh, timeout=0) if p != old), None)
        if new is not None:
            return new
        time.sleep(0.005)
    pytest.fail(f"no front started after {old} died; log:\n{kh.stderr_text()[-3000:]}")


def confined_pid(kh, pid, timeout=10.0):
    """Waits until front pid has said it is confined, as `keyhole status` shows."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for f in json.loads(status(kh, "--json"))["privsep"]["fronts"]:
            if f["pid"] == pid and f.get("confined"):
                return
        time.sleep(0.05)
    pytest.fail(f"front {pid} did not say it is confined; log:\n{kh.stderr_text()[-3000:]}")


def steal_then_replace(kh):
    """Takes the one front's control channel end, kills the front and waits
    until the next one is confined (it reported on its own channel, so the
    daemon reads that one now). Returns (the stolen end, the new front's pid)."""
    [old] = front_pids(kh, want=1)
    os.kill(old, signal.SIGSTOP)
    ch = steal_channel(old)
    new = kill_and_replace(kh, old)
    confined_pid(kh, new)
    return ch, new


def test_a_stolen_channel_end_is_read_no_more_once_its_front_is_replaced(
        start_keyhole, echo, token, secret):
    """A taken front may pass its control channel end on (it accepts on Unix
    sockets a sandbox can connect to, and could send the descriptor there),
    then die. Its successor must not share that channel: what the holder
    sends afterwards (refusal records, streams, reports) reaches no one."""
    kh = start_keyhole({"privsep": True, "workers": 1})
    ch, _ = steal_then_replace(kh)
    try:
        marker = "stolen-end-marker.test"
        assert_end_is_dead(ch, b"A", record("deny", "host_not_allowed", marker))
        a, b = socket.socketpair()
        with pytest.raises(OSError):
            send(ch, b"S", b"", [a.fileno()])
        a.close()
        b.close()
        time.sleep(0.5)
        assert marker not in kh.audit_text()
        assert "not one of its streams" not in kh.stderr_text()
    finally:
        ch.close()
    with open_tunnel(kh.port, "api.openai.test", echo.port, kh.ca_crt) as c:
        r = c.request("GET", "/after", f"api.openai.test:{echo.port}",
                      [("Authorization", f"Bearer {token}")])
    assert r.status == 200 and echoed_headers(echoed(r), "Authorization") == \
        [f"Bearer {secret}"]


def wait_stopped(pid, timeout=5.0):
    """Waits until every thread of pid is stopped (SIGSTOP takes effect per thread)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = []
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/stat") as f:
                states.append(f.read().rsplit(")", 1)[1].split()[0])
        if all(st == "T" for st in states):
            return
        time.sleep(0.01)
    pytest.fail(f"process {pid} did not stop")


def test_a_dying_fronts_last_records_are_kept(start_keyhole):
    """A front that dies with messages of the daemon's unread (here a reload's
    policy) leaves the daemon's end an ECONNRESET that comes before what the
    front sent last. Those last records are what one wants of a front that was
    being exploited: the daemon reads on past the reset and writes them."""
    kh = start_keyhole({"privsep": True, "workers": 1})
    [front] = front_pids(kh, want=1)
    confined_pid(kh, front)
    os.kill(front, signal.SIGSTOP)       # reads nothing from now on
    ch = steal_channel(front)
    marker = "last-words-marker.test"
    try:
        os.kill(kh.proc.pid, signal.SIGHUP)  # a new policy, queued for the front
        deadline = time.monotonic() + 5
        while "reload: ok" not in kh.stderr_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        os.kill(kh.proc.pid, signal.SIGSTOP)
        try:
            wait_stopped(kh.proc.pid)        # every thread: none reads the record yet
            send(ch, b"A", record("deny", "host_not_allowed", marker))
            ch.close()
            os.kill(front, signal.SIGKILL)   # its end closes with the policy unread
            time.sleep(0.3)
        finally:
            os.kill(kh.proc.pid, signal.SIGCONT)
        kh.wait_audit(lambda r: r.get("host") == marker, timeout=5)
    finally:
        if ch.fileno() >= 0:
            ch.close()
    assert kh.running()
