"""Shared by the Python agent clients: the spec (argv[1], JSON), name pinning,
the request schedule and the JSON result. Each client does spec["n"] requests
(one every spec["gap_ms"] ms, 0 = back to back) on one kept-alive connection
and prints {"lat_us": [...], "errors": N, "error": "..."}: latency is request
start to the last body byte, or to the first SSE event when spec["sse"]."""
import json
import socket
import sys
import time

SPEC = json.loads(sys.argv[1])
_orig_gai = socket.getaddrinfo


def _gai(host, *a, **kw):
    # Bench names never reach DNS: pin them to loopback (direct and relay columns).
    if isinstance(host, str) and host.endswith(".bench.test"):
        host = "127.0.0.1"
    return _orig_gai(host, *a, **kw)


socket.getaddrinfo = _gai


def url():
    return f"https://{SPEC['host']}:{SPEC['port']}{SPEC['path']}"


def headers():
    return {"Authorization": SPEC["auth"]}


def first_event(chunks):
    """Consumes an iterator of body chunks until the first complete SSE event;
    returns its perf_counter() time (None if the stream ended without one)."""
    buf = b""
    for c in chunks:
        buf += c
        if b"\n\n" in buf:
            return time.perf_counter()
    return None


def sse_first(chunks):
    """first_event's time, after reading the rest of the stream (so the
    connection can be used again); an error if no event came."""
    t = first_event(chunks)
    for _ in chunks:
        pass
    if t is None:
        raise RuntimeError("no SSE event")
    return t


def run(one, close=None):
    """Calls one() n times on schedule, within spec["timeout"] seconds."""
    lat, errors, err = [], 0, None
    deadline = time.monotonic() + SPEC["timeout"]
    gap = SPEC.get("gap_ms", 0) / 1000.0
    nxt = time.monotonic()
    for _ in range(SPEC["n"]):
        if time.monotonic() > deadline:
            err = err or "deadline reached"
            break
        if gap:
            d = nxt - time.monotonic()
            if d > 0:
                time.sleep(d)
            nxt = max(nxt + gap, time.monotonic())
        t0 = time.perf_counter()
        try:
            t1 = one()   # SSE: the first event's time; the rest is drained after it
        except Exception as e:  # noqa: BLE001 -- any failure is a counted error
            errors += 1
            err = f"{type(e).__name__}: {e}"[:300]
            continue
        lat.append(((t1 or time.perf_counter()) - t0) * 1e6)
    if close:
        try:
            close()
        except Exception:  # noqa: BLE001
            pass
    print(json.dumps({"lat_us": lat, "errors": errors, "error": err}))
