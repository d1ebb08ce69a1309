"""Many idle connections up to limits.max_connections: keyhole holds CAP idle
connections (most plain: one descriptor each; some intercepted tunnels whose
upstream went back to the bounded idle pool: one each too, since the stream
between front and key holder is a pipe in memory, docs/design/privsep.md
section 2a), answers every attempt beyond the cap with 503 too_many_connections
without reading it, still serves the held connections, costs little memory
per idle connection, and takes new clients again as soon as slots free up.

With front processes (privsep: true, section 2b) the client connections
are in the fronts and each intercepted one's stream is a socketpair with an
end in its front and one in the daemon: descriptors and memory are counted
over the daemon and its fronts together, and the cap is one for all fronts.

CAP is 2000 by default (KH_IDLE_CAP and KH_IDLE_TUNNELS override it and the
number of intercepted ones; the file descriptor limits of the test process and
of keyhole bound how far it can go)."""
import os
import resource
import time

from helpers.checks import assert_keyhole_error
from helpers.client import Conn, open_tunnel
from helpers.keyhole import privsep_on
from helpers.proc import fd_count, rss_kib_all

CAP = int(os.environ.get("KH_IDLE_CAP", "2000"))
TUNNELS = int(os.environ.get("KH_IDLE_TUNNELS", str(min(100, CAP // 10))))
POOL_MAX = 64          # KH_UPSTREAM_POOL_MAX: idle upstream connections kept per worker
WORKERS = 2
EXTRA = 100
# ASan's redzones and quarantine make memory figures meaningless
SANITIZED = "ASAN_OPTIONS" in os.environ
# descriptors an idle intercepted connection's stream to the key holder
# holds: none in one process (a pipe in memory), one in each process else
STREAM_FDS = 2 if privsep_on() else 0


def _fds(pid):
    return fd_count(pid)      # the daemon's and its fronts'


def _wait_fds(pid, at_least, timeout=10):
    deadline = time.monotonic() + timeout
    while _fds(pid) < at_least and time.monotonic() < deadline:
        time.sleep(0.1)
    return _fds(pid)


def test_idle_connections_up_to_the_cap(start_keyhole, echo):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = CAP + EXTRA + 200
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    kh = start_keyhole({"limits": {"max_connections": CAP}, "workers": WORKERS,
                        "timeouts": {"keepalive": 120, "idle": 120}})
    pid = kh.proc.pid
    time.sleep(2.5)     # the readiness probe's connection lingers up to 2 s (KH_LINGER_MS)
    base_fds, rss0 = _fds(pid), rss_kib_all(pid)
    held = []
    try:
        for _ in range(TUNNELS):      # intercepted, one exchange done, upstream kept open
            c = open_tunnel(kh.port, "api.openai.test", echo.port, kh.ca_crt, timeout=10)
            assert c.request("GET", "/warm", f"api.openai.test:{echo.port}").status == 200
            held.append(c)
        for i in range(CAP - TUNNELS):
            held.append(Conn.to_proxy(kh.port, timeout=10))
            if i % 500 == 499:    # let keyhole catch up: an overflowing accept queue
                _wait_fds(pid, base_fds + len(held))              # drops handshakes
        want = base_fds + CAP + TUNNELS * STREAM_FDS
        got = _wait_fds(pid, want)
        # one descriptor per client connection (in one process an intercepted
        # one's stream to the key holder is in memory), plus at most the
        # pooled upstreams
        assert want <= got <= want + WORKERS * POOL_MAX, \
            f"keyhole holds {got - base_fds} descriptors for {CAP} idle connections"
        time.sleep(0.5)
        rss = rss_kib_all(pid)
        per_conn = (rss - rss0) * 1024 / CAP
        print(f"\n{CAP} idle connections ({TUNNELS} intercepted): RSS {rss0} -> {rss} KiB, "
              f"{per_conn:.0f} bytes per connection, {got - base_fds} fds")
        assert SANITIZED or per_conn < 48 * 1024, f"{per_conn:.0f} bytes per idle connection"

        refused = 0
        for _ in range(EXTRA):
            with Conn.to_proxy(kh.port, timeout=5) as x:
                r = x.request("GET", "/healthz", "127.0.0.1", timeout=5)
            assert_keyhole_error(r, 503, "too_many_connections")
            refused += 1
        assert refused == EXTRA

        # the held ones still work: a plain one and an intercepted one
        assert held[-1].request("GET", "/healthz", "127.0.0.1").status == 200
        assert held[0].request("GET", "/again", f"api.openai.test:{echo.port}").status == 200
        assert kh.running()
    finally:
        for c in held[TUNNELS:]:
            c.close()
    deadline = time.monotonic() + 10
    while True:
        with Conn.to_proxy(kh.port, timeout=5) as x:
            r = x.request("GET", "/healthz", "127.0.0.1", timeout=5)
        if r.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.status == 200, "slots freed by closing connections were not reused"
    for c in held[:TUNNELS]:
        c.close()
