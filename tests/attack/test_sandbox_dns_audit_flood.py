"""Audit flood from inside `keyhole sandbox`: a command that asks the
sandbox's DNS responder (pid 1, 127.0.0.1:53) for name after refused name
must not grow audit.log without bound. Before, pid 1 wrote one record per
refused name (~43 MB/s measured); now the sandbox's refusals are folded
(docs/SECURITY.md, "Audit flood and resolver starvation"): per reason, the
first 8 in each second are written whole, the rest are counted into one
record with "repeated", "distinct" and "interval_ms". Every refusal is still
accounted for, and a normal request right after goes through and is recorded."""
import json
import os

from helpers.cli import cli  # noqa: F401
from helpers.sandbox import sandbox  # noqa: F401

QUERIES = 20000
GROWTH_MAX = 1 << 20

# Sends QUERIES A queries for distinct refused names, 64 at a time (reading the
# answers between batches so none is dropped), then prints
# "sent answered nxdomain seconds".
FLOOD = r"""
import socket, struct, sys, time
n = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.0)
sent = answered = nx = 0
t0 = time.monotonic()
def query(i):
    name = b"".join(bytes([len(p)]) + p.encode() for p in f"x{i}.flood.evil.test".split("."))
    return struct.pack("!HHHHHH", i & 0xffff, 0x0100, 1, 0, 0, 0) + name + b"\0\0\1\0\1"
while sent < n and time.monotonic() - t0 < 20:
    batch = min(64, n - sent)
    for _ in range(batch):
        s.sendto(query(sent), ("127.0.0.1", 53))
        sent += 1
    for _ in range(batch):
        try:
            data = s.recv(512)
        except socket.timeout:
            break
        answered += 1
        nx += (data[3] & 0x0f) == 3
print(sent, answered, nx, round(time.monotonic() - t0, 2))
"""


def test_refused_dns_flood_is_folded(sandbox, echo):
    audit = os.path.join(sandbox.cli.home, "audit.log")
    before = os.path.getsize(audit) if os.path.exists(audit) else 0
    url = f"https://api.openai.test:{echo.port}/after-flood"
    r = sandbox.run("sh", "-c", '/usr/bin/python3 -c "$0" "$1" && exec curl -q -sS '
                    f'--max-time 10 "{url}" -H "Authorization: Bearer $OPENAI_API_KEY"',
                    FLOOD, str(QUERIES), timeout=60)
    assert r.rc == 0, r
    first, _, body = r.out.partition("\n")
    sent, answered, nx, secs = first.split()
    sent, answered, nx = int(sent), int(answered), int(nx)
    grown = os.path.getsize(audit) - before
    print(f"{sent} refused DNS queries in {secs} s ({answered} answered) grew audit.log by "
          f"{grown} bytes")
    assert sent == QUERIES and nx == answered and answered > QUERIES * 0.99, first
    assert grown < GROWTH_MAX, grown

    recs = [json.loads(x) for x in sandbox.cli.read("audit.log").splitlines()]
    dns = [a for a in recs if a.get("mode") == "dns" and a.get("reason") == "dns_not_allowed"]
    folds = [a for a in dns if "repeated" in a]
    assert folds, "no fold record"
    f = folds[0]
    assert f["decision"] == "deny" and f["host"].endswith(".flood.evil.test"), f
    assert f["client"].startswith("unix:pid=") and f.get("sandbox", "").startswith("sandbox-"), f
    assert f["repeated"] > 1000 and f["distinct"] >= 1 and 0 < f["interval_ms"] <= 1000, f
    # every refusal pid 1 answered is in a record, whole or folded
    accounted = len(dns) - len(folds) + sum(a["repeated"] for a in folds)
    assert answered <= accounted <= sent, (accounted, answered, sent)

    # the normal request right after went through, with the real key, and is recorded
    assert json.loads(body)["path"] == "/after-flood", r
    got = echo.complete_requests()
    assert [q.header("Authorization") for q in got] == [f"Bearer {sandbox.secret}"]
    allowed = [a for a in recs if a.get("path") == "/after-flood"]
    assert len(allowed) == 1 and allowed[0]["decision"] == "allow", allowed
