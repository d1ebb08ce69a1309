"""Out of file descriptors (RLIMIT_NOFILE lowered to 64): connections beyond
what fits are closed at once (one worker) instead of hanging in the backlog, keyhole does
not spin on accept() (its CPU time stays low while clients keep knocking),
the condition is logged a bounded number of times, the connections it holds
keep working, and once they close new ones are served again."""
import resource
import socket
import time

import pytest

from helpers.client import Conn, curl
from helpers.keyhole import privsep_on
from helpers.proc import cpu_seconds

NOFILE = 64


def _limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


def _healthz(c):
    return c.request("GET", "/healthz", "127.0.0.1", timeout=5)


def _knock(port):
    """'served', 'closed' (refused/closed without an answer) or 'hung'."""
    try:
        with Conn.to_proxy(port, timeout=3) as c:
            return "served" if _healthz(c).status == 200 else "closed"
    except (OSError, Exception) as e:
        return "hung" if isinstance(e, (socket.timeout, TimeoutError)) else "closed"


@pytest.mark.parametrize("workers", [1, 2])
def test_fd_exhaustion_sheds_and_recovers(start_keyhole, echo, workers):
    """With two workers they share one descriptor table: each keeps its own spare."""
    # The held connections never send a request: with two workers the knocks
    # below may each wait out their timeout, so the header timeout must not
    # close the held connections meanwhile.
    kh = start_keyhole({"workers": workers, "listen_unix": False, "timeouts": {"header": 300}},
                       preexec_fn=_limit)
    with open(f"/proc/{kh.proc.pid}/limits") as f:
        assert [ln for ln in f if ln.startswith("Max open files")][0].split()[3] == str(NOFILE)
    # With front processes (privsep: true) each worker is a process with a
    # descriptor table of its own, NOFILE entries each: the excess must be
    # that many times larger, and each front sheds like one worker does.
    tables = workers if privsep_on() else 1
    held = []
    try:
        # five that keyhole accepts while it still has descriptors (an idle
        # worker accepts at once); they must keep working throughout
        for _ in range(5):
            held.append(Conn.to_proxy(kh.port, timeout=3))
        time.sleep(0.3)
        for _ in range(NOFILE * tables + 15):
            c = Conn.to_proxy(kh.port, timeout=3)
            held.append(c)
        time.sleep(0.5)
        alive = [c for c in held if not c.wait_closed(0.05)]
        shed = len(held) - len(alive)
        # One worker sheds every excess connection at once. Two share the
        # descriptor table, so a slot one frees to shed may be taken by the
        # other's accept() and the excess waits in the backlog instead (the
        # limit docs/SECURITY.md states): some are shed, not necessarily all.
        want = 20 if workers == 1 or tables > 1 else 1
        assert shed >= want, f"only {shed} of {len(held)} connections were shed"
        assert len(alive) >= NOFILE // 2, f"only {len(alive)} connections kept"

        cpu0, t0 = cpu_seconds(kh.proc.pid), time.monotonic()
        outcomes = [_knock(kh.port) for _ in range(30 if workers == 1 else 10)]
        time.sleep(1)
        cpu = cpu_seconds(kh.proc.pid) - cpu0
        wall = time.monotonic() - t0
        if workers == 1 or tables > 1:
            assert "hung" not in outcomes, outcomes
        # With two workers sharing one descriptor table, the slot one frees to
        # shed a connection can be taken by the other's accept(); the excess
        # then waits in the backlog until a descriptor frees up (documented in
        # docs/SECURITY.md). What must hold either way: no spinning, the held
        # connections keep working, and service comes back.
        assert cpu < 0.5 * wall, f"keyhole used {cpu:.2f}s CPU in {wall:.2f}s: spinning on accept"
        assert kh.running()

        for c in held[:5]:        # what it held before it ran out still works
            assert c in alive
            assert _healthz(c).status == 200
    finally:
        for c in held:
            c.close()
    deadline = time.monotonic() + 5
    while _knock(kh.port) != "served" and time.monotonic() < deadline:
        time.sleep(0.1)
    r = curl(f"https://api.openai.test:{echo.port}/after", proxy=kh.proxy_url, cacert=kh.ca_crt)
    assert r.rc == 0 and r.status == 200, r.stderr
    warnings = kh.stderr_text().count("out of file descriptors")
    assert 1 <= warnings <= 5, f"{warnings} 'out of file descriptors' lines: not rate-limited"
