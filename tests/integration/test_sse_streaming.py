"""Server-sent events are relayed as they are produced, not buffered until
the response ends (chunked and close-delimited upstream responses)."""
import subprocess
import time

import pytest

from helpers.client import build_request, curl_env, open_tunnel, parse_head

N, GAP = 4, 0.6          # the upstream stream lasts (N-1)*GAP = 1.8 s


@pytest.mark.parametrize("mode", ["chunked", "close"])
def test_events_arrive_as_sent(start_keyhole, echo, token, mode):
    kh = start_keyhole()
    with open_tunnel(kh.port, "api.openai.test", echo.port, kh.ca_crt, timeout=10) as c:
        t0 = time.monotonic()
        c.send(build_request("GET", f"/sse?n={N}&gap={GAP}&mode={mode}",
                             f"api.openai.test:{echo.port}",
                             [("Authorization", f"Bearer {token}"),
                              ("Accept", "text/event-stream")]))
        resp = parse_head(c.read_head(timeout=5))
        assert resp.status == 200
        assert resp.header("Content-Type").startswith("text/event-stream")
        arrivals, deadline = [], t0 + 8
        while True:
            # count first: read_head may already have buffered the first event
            while c.buf.count(b"data: event-") > len(arrivals):
                arrivals.append(time.monotonic() - t0)
            if len(arrivals) >= N:
                break
            c.recv_some(deadline)
        if mode == "chunked":
            while not c.buf.endswith(b"0\r\n\r\n"):
                c.recv_some(deadline)
        else:
            assert c.wait_closed(3), "close-delimited response must end with a close"
    for i in range(N):
        assert f"data: event-{i}".encode() in c.buf
    assert arrivals[0] < GAP, f"first event took {arrivals[0]:.2f}s: buffered? {arrivals}"
    for a, b in zip(arrivals, arrivals[1:]):
        assert b - a > GAP / 2, f"events bunched together: {arrivals}"
    assert arrivals[-1] - arrivals[0] > (N - 1) * GAP * 0.7, arrivals


def test_curl_sees_first_event_early(start_keyhole, echo):
    """Same property with curl -N as the client (what an SDK would see)."""
    kh = start_keyhole()
    p = subprocess.Popen(["curl", "-q", "-sS", "-N", "--max-time", "10", "-x", kh.proxy_url,
                          "--cacert", kh.ca_crt,
                          f"https://api.openai.test:{echo.port}/sse?n={N}&gap={GAP}"],
                         stdout=subprocess.PIPE, env=curl_env())
    try:
        t0 = time.monotonic()
        first = p.stdout.readline()
        t_first = time.monotonic() - t0
        rest = p.stdout.read()
        t_end = time.monotonic() - t0
        assert p.wait(5) == 0
    finally:
        if p.poll() is None:
            p.kill()
    assert first.startswith(b"id: 0")
    assert b"data: event-3" in rest
    assert t_end - t_first > (N - 1) * GAP * 0.7, (t_first, t_end)
