"""Busy polling never turns into burning CPU.

keyhole polls without blocking for up to busy_poll_us before it sleeps, but
only while a connection waits for a peer that answered within that window
last time. Here the window is the largest allowed (1 ms) so that a spin that
does not stop would show: after a burst of keep-alive requests the daemon
must go quiet, and a client that thinks 50 ms between requests must cost
about what it costs without busy polling, not 50 ms of spinning each time.

CPU time is read from /proc (utime + stime of every thread, in clock ticks,
of the daemon and, with privsep: true, its front processes, which poll too);
each bound is at least 5 times below what spinning through the pauses
would cost."""
import time

import pytest

from helpers.client import build_request, open_tunnel
from helpers.proc import cpu_seconds

HOST = "api.openai.test"


def requests(kh, echo, token, n, think):
    with open_tunnel(kh.port, HOST, echo.port, kh.ca_crt) as c:
        for i in range(n):
            c.send(build_request("GET", f"/r/{i}", f"{HOST}:{echo.port}",
                                 [("Authorization", f"Bearer {token}")]))
            assert c.read_response().status == 200
            time.sleep(think)


@pytest.mark.parametrize("busy_poll_us", [1000, 0], ids=["busy-poll-1ms", "off"])
def test_quiet_after_a_burst_and_with_a_slow_client(start_keyhole, echo, token, busy_poll_us):
    kh = start_keyhole(config={"busy_poll_us": busy_poll_us})
    pid = kh.proc.pid
    requests(kh, echo, token, 300, 0)

    # The client has gone: nothing to poll for.
    time.sleep(0.3)
    before = cpu_seconds(pid)
    time.sleep(2)
    idle = cpu_seconds(pid) - before
    assert idle < 0.2, f"keyhole used {idle:.2f} s of CPU in 2 s of idleness"

    # 30 requests 50 ms apart: spinning through each pause would be 1.5 s.
    before = cpu_seconds(pid)
    requests(kh, echo, token, 30, 0.05)
    slow = cpu_seconds(pid) - before
    assert slow < 0.3, f"keyhole used {slow:.2f} s of CPU for 30 requests"
