"""Audit flood through the daemon: a client that hammers keyhole with refused
CONNECTs must not grow audit.log (or keyhole.log) without bound. Before, each
refusal wrote a ~300-byte record and a log line. Now refusals from one source
(here the client address 127.0.0.1) are folded (docs/SECURITY.md, "Audit
flood and resolver starvation"): per reason, the first 8 in each second are
written whole, the rest are counted into one record with "repeated",
"distinct" and "interval_ms"; whole records also spend a budget of 16 KiB a
second per source. Every refusal is still accounted for (records + repeated
counts, and the metrics), and allowed requests are always written, even from
the client whose refusals are being folded."""
import os
import socket
import threading
import time

from helpers.client import open_tunnel
from helpers.proc import front_pids
from helpers.prom import parse

FLOOD_MAX = 20000
FLOOD_SECONDS = 3.0
THREADS = 4
GROWTH_MAX = 100 * 1024        # a record per refusal would be over 1 MB


def refused_connects(port, stop_at, counts, i):
    n = 0
    while time.monotonic() < stop_at and sum(counts) + n < FLOOD_MAX:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:
            name = f"n{i}-{n}.evil.test:443"
            s.sendall(f"CONNECT {name} HTTP/1.1\r\nHost: {name}\r\n\r\n".encode())
            if s.recv(64).startswith(b"HTTP/1.1 403"):
                n += 1
        finally:
            s.close()
    counts[i] = n


def size(path):
    return os.path.getsize(path) if os.path.exists(path) else 0


def test_refused_connect_flood_is_folded(start_keyhole, echo, token):
    # two workers whatever the cores: with front processes each folds what it
    # refuses on its own (docs/SECURITY.md, "Per front process"), so the
    # bounds are per front, and many fronts would make them prove nothing
    kh = start_keyhole({"workers": 2})
    gates = max(1, len(front_pids(kh.proc.pid)))
    audit0, log0 = size(kh.audit_path), size(kh.stderr_path)
    counts = [0] * THREADS
    stop_at = time.monotonic() + FLOOD_SECONDS
    threads = [threading.Thread(target=refused_connects, args=(kh.port, stop_at, counts, i))
               for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(FLOOD_SECONDS + 30)
    refused = sum(counts)
    assert refused >= 2000, f"only {refused} refusals sent: the flood proves nothing"

    # allowed requests from the very same client right after: each one succeeds and
    # is recorded whole, however many of its refusals are being folded
    host = f"api.openai.test:{echo.port}"
    with open_tunnel(kh.port, "api.openai.test", echo.port, kh.ca_crt) as c:
        for i in range(20):
            r = c.request("GET", f"/after/{i}", host, [("Authorization", f"Bearer {token}")])
            assert r.status == 200
    recs = kh.wait_audit(lambda a: (a.get("path") or "").startswith("/after/"), n=20)
    assert all(a["decision"] == "allow" and a["swapped"] == ["OPENAI_API_KEY"] for a in recs)

    time.sleep(1.2)             # the last window's fold record is written when it ends
    grown = size(kh.audit_path) - audit0
    print(f"{refused} refused CONNECTs grew audit.log by {grown} bytes "
          f"and keyhole.log by {size(kh.stderr_path) - log0}")
    assert grown < GROWTH_MAX * gates, grown
    assert size(kh.stderr_path) - log0 < GROWTH_MAX * gates

    mine = [a for a in kh.audit() if a.get("reason") == "host_not_allowed"]
    folds = [a for a in mine if "repeated" in a]
    assert folds, "no fold record"
    f = folds[0]
    assert f["decision"] == "deny" and f["mode"] == "connect" and \
        f["client"].startswith("127.0.0.1:"), f
    assert f["host"].endswith(".evil.test") and f["distinct"] >= 1 and \
        0 < f["interval_ms"] <= 1000, f
    # nothing lost: whole records plus folded counts are every refusal
    assert len(mine) - len(folds) + sum(a["repeated"] for a in folds) == refused, \
        (len(mine), len(folds), sum(a["repeated"] for a in folds), refused)
    assert len(mine) - len(folds) <= 8 * (FLOOD_SECONDS + 2) * gates, len(mine)

    # and the metrics count each refusal, folded or not
    status, text = kh.metrics_get()
    assert status == 200
    assert parse(text).value("keyhole_requests_total", decision="deny",
                             reason="host_not_allowed") == refused
