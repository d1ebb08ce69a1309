"""Memory a burst of connections used goes back to the system once they close.

Each intercepted connection's handshake and buffers leave freed memory in
the middle of glibc's heap, where it would stay in keyhole's RSS for good
behind anything still allocated. Once a worker has seen no handshake and no
close for a moment (KH_TRIM_QUIET_MS, 500 ms) it hands free pages back
(malloc_trim). Here 300 intercepted connections are held, then closed: after
a quiet second keyhole's RSS must be back close to where it started, not
near the peak. Measured: without the trim all of the burst's growth stayed
(15,036 KiB before and after closing); with it, 12-16% of it.

With front processes (privsep: true) the client connections and their
handshakes live in the fronts and the key holder's ends in the daemon: the
RSS measured is theirs together (each process trims its own heap)."""
import os
import time

import pytest

from helpers.client import open_tunnel
from helpers.proc import rss_kib_all

HOST = "api.openai.test"
N = 300
SANITIZED = "ASAN_OPTIONS" in os.environ


# RSS after a burst depends on how the burst's allocations interleave: with other
# tests loading the machine the daemon reuses more of its freed memory and the
# burst's growth shrinks below what can be measured (seen at 1.2-1.7 MiB with
# 4 parallel workers), so this test runs alone (scripts/run-tests.sh).
@pytest.mark.serial
@pytest.mark.skipif(SANITIZED, reason="ASan's quarantine keeps freed memory: RSS says nothing")
@pytest.mark.parametrize("workers", [1, 2])
def test_burst_memory_is_returned(start_keyhole, echo, token, workers):
    # with two, one worker trims for both (malloc_trim covers every thread's heap)
    kh = start_keyhole(config={"workers": workers})
    pid = kh.proc.pid

    def one_request(c, i):
        # close-delimited: the upstream hangs up, so no upstream connection is
        # parked in the pool (which would rightly keep its memory)
        r = c.request("GET", f"/bytes?n=100&framing=close&i={i}", f"{HOST}:{echo.port}",
                      headers=[("Authorization", f"Bearer {token}")])
        assert r.status == 200

    with open_tunnel(kh.port, HOST, echo.port, kh.ca_crt) as c:   # leaf minted, pool warm
        one_request(c, 0)
    time.sleep(3)   # the readiness probe lingers up to 2 s; then a quiet trim
    before = rss_kib_all(pid)

    held = []
    try:
        for i in range(N):
            c = open_tunnel(kh.port, HOST, echo.port, kh.ca_crt, timeout=10)
            held.append(c)
            one_request(c, i)
        peak = rss_kib_all(pid)
    finally:
        for c in held:
            c.close()
    grew = peak - before
    deadline = time.monotonic() + 5   # the trim comes 500 ms after the last close
    while True:
        time.sleep(0.25)
        after = rss_kib_all(pid)
        if after - before < 0.4 * grew or time.monotonic() > deadline:
            break
    kept = after - before
    print(f"\nRSS {before} KiB -> {peak} holding {N} -> {after} after closing")
    assert grew > 2048, f"the burst should have cost memory: {before} -> {peak} KiB"
    assert kept < 0.4 * grew, \
        f"{kept} of the {grew} KiB the burst took are still held after it ended"
