"""A sandbox opening idle connections to take every slot keyhole has: with
front processes (privsep: true, docs/design/privsep.md 2b) each front
accepts on its own listener, and limits.max_connections must still be one
cap for the whole of keyhole, not one per front (N fronts admitting N times
the cap). Beyond it every connection gets the 503 too_many_connections the
one-process mode gives. A front that dies (SIGKILL: it cannot say goodbye)
frees its connections' share once the daemon reaps it, so the cap does not
shrink with every crash."""
import os
import signal
import time

from helpers.checks import assert_keyhole_error
from helpers.client import Conn, parse_head
from helpers.proc import front_pids

CAP = 12
EXTRA = 4


def _settle(conns, want_closed, timeout=10.0):
    """(refused, held): refused are the connections keyhole answered and
    closed (a 503 in their buffer), held the ones it keeps open. Waits until
    at least want_closed were refused (or timeout), then a little more so
    that a refusal too many would be seen."""
    refused, held = [], list(conns)
    deadline = time.monotonic() + timeout
    settled_at = None
    while time.monotonic() < deadline:
        for c in list(held):
            if c.wait_closed(0.01):
                held.remove(c)
                refused.append(c)
        if len(refused) >= want_closed and settled_at is None:
            settled_at = time.monotonic() + 0.5
        if settled_at is not None and time.monotonic() > settled_at:
            break
    return refused, held


def _assert_busy(c):
    head, _, body = c.buf.partition(b"\r\n\r\n")
    r = parse_head(head + b"\r\n\r\n")
    r.body = body
    assert_keyhole_error(r, 503, "too_many_connections")
    assert f"limits.max_connections is {CAP}" in r.text, r.text


def _front_fds(pids):
    return {p: len(os.listdir(f"/proc/{p}/fd")) for p in pids}


def _fronts(kh, want=2, not_in=(), timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        pids = front_pids(kh.proc.pid)
        if (len(pids) == want and not set(pids) & set(not_in)) or time.monotonic() > deadline:
            return pids
        time.sleep(0.05)


def test_one_cap_across_fronts_and_a_dead_fronts_share_comes_back(start_keyhole):
    kh = start_keyhole({"privsep": True, "workers": 2, "listen_unix": False,
                        "limits": {"max_connections": CAP},
                        "timeouts": {"header": 120, "idle": 120, "keepalive": 120}})
    fronts = _fronts(kh)
    assert len(fronts) == 2, fronts
    time.sleep(2.5)     # the readiness probe's connection lingers up to 2 s (KH_LINGER_MS)
    fds0 = _front_fds(fronts)
    conns = []
    try:
        for _ in range(CAP + EXTRA):
            conns.append(Conn.to_proxy(kh.port, timeout=5))
        refused, held = _settle(conns, EXTRA)
        assert len(held) == CAP and len(refused) == EXTRA, \
            f"{len(held)} held, {len(refused)} refused of {CAP + EXTRA} (cap {CAP})"
        for c in refused:
            _assert_busy(c)
        # both fronts took some: the cap held across them, not within one
        grew = {p: n - fds0[p] for p, n in _front_fds(fronts).items()}
        assert all(g > 0 for g in grew.values()), f"descriptors gained per front: {grew}"

        # the front holding the most dies; its connections die with it
        victim = max(grew, key=grew.get)
        os.kill(victim, signal.SIGKILL)
        died, alive = _settle(held, 1)
        assert died, "no held connection went with the killed front"
        assert _fronts(kh, not_in=[victim], timeout=10) != [], "the front was not started again"
        time.sleep(0.3)

        # its share is free again: exactly len(died) new connections fit
        again = [Conn.to_proxy(kh.port, timeout=5) for _ in range(len(died) + 2)]
        conns += again
        refused2, held2 = _settle(again, 2)
        assert len(held2) == len(died) and len(refused2) == 2, \
            f"after the restart: {len(held2)} held, {len(refused2)} refused of " \
            f"{len(again)} ({len(died)} slots were freed by the dead front)"
        for c in refused2:
            _assert_busy(c)
        for c in alive:         # the other front's connections were untouched
            assert not c.wait_closed(0.01)
        assert kh.running()
    finally:
        for c in conns:
            c.close()
