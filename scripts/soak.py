#!/usr/bin/env python3
"""A bounded soak of keyhole: SECONDS of mixed traffic on loopback, counting
every unexpected outcome as an error and sampling the daemon's RSS and open
descriptors, then a report. Not part of `make test` (test_soak_short runs a
15 s version); run it by hand or with scripts/soak.sh:

    nice scripts/soak.sh 180            # 3 minutes, 4 client threads

Traffic, round-robin per client thread: a token swap on a fresh tunnel, three
on one keep-alive tunnel, a 256 KiB download, a 256 KiB upload, an SSE stream,
a plain-HTTP request, a denied host (403), a misplaced token (403), a
malformed request (400), and a client that vanishes mid-download. Exit status
1 if any error occurred or RSS grew by more than --max-growth-kib between the
end of the warm-up (first quarter) and the end."""
import argparse
import json
import os
import socket
import struct
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from helpers.checks import echoed, echoed_headers  # noqa: E402
from helpers.client import Conn, open_tunnel, send_connect  # noqa: E402
from helpers.data import pattern_sha256  # noqa: E402
from helpers.keyhole import (OPENAI_SECRET, TEST_ALLOWED_PORTS, Keyhole, mapping,  # noqa: E402
                             mint_token, privsep_on)
from helpers.pki import make_pki  # noqa: E402
from helpers.proc import fd_count, rss_kib_all  # noqa: E402
from helpers.upstream import Upstream  # noqa: E402

import hashlib  # noqa: E402

N_BYTES = 256 * 1024


class Soak:
    def __init__(self, kh, echo, plain, token):
        self.kh, self.echo, self.plain, self.token = kh, echo, plain, token
        self.host = f"api.openai.test:{echo.port}"
        self.lock = threading.Lock()
        self.counts, self.errors = {}, []

    def _tunnel(self):
        return open_tunnel(self.kh.port, "api.openai.test", self.echo.port, self.kh.ca_crt,
                           timeout=15)

    def _auth(self):
        return [("Authorization", f"Bearer {self.token}")]

    def _swapped(self, r):
        """The upstream received the real key (looked up by the reply's rid: the
        reply itself comes back scrubbed) and the client saw no secret."""
        got = echoed_headers(echoed(r), "Authorization")
        return r.status == 200 and got == [f"Bearer {OPENAI_SECRET}"] and \
            OPENAI_SECRET.encode() not in r.body

    # each returns True when the outcome is the expected one
    def op_swap(self):
        with self._tunnel() as c:
            return self._swapped(c.request("POST", "/v1/chat", self.host, self._auth(),
                                           body=b'{"m":1}'))

    def op_keepalive(self):
        with self._tunnel() as c:
            return all(self._swapped(c.request("GET", f"/v1/k{i}", self.host, self._auth()))
                       for i in range(3))

    def op_download(self):
        with self._tunnel() as c:
            r = c.request("GET", f"/bytes?n={N_BYTES}&chunked=1", self.host, timeout=15)
            return r.status == 200 and hashlib.sha256(r.body).hexdigest() == \
                pattern_sha256(N_BYTES)

    def op_upload(self):
        body = os.urandom(N_BYTES)
        with self._tunnel() as c:
            r = c.request("PUT", "/upload", self.host, self._auth(), body=body, timeout=15)
            doc = json.loads(r.body)
            return r.status == 200 and doc["body_sha256"] == hashlib.sha256(body).hexdigest()

    def op_sse(self):
        with self._tunnel() as c:
            r = c.request("GET", "/sse?n=3&gap=0.05", self.host, timeout=15)
            return r.status == 200 and r.body.count(b"data: event-") == 3

    def op_plain(self):
        with Conn.to_proxy(self.kh.port, timeout=15) as c:
            r = c.request("GET", f"http://plain.test:{self.plain.port}/p",
                          f"plain.test:{self.plain.port}")
            return r.status == 200

    def op_denied(self):
        conn, r = send_connect(self.kh.port, "nothere.test:443", timeout=15)
        conn.close()
        return r.status == 403 and r.header("X-Keyhole-Reason") == "host_not_allowed"

    def op_misplaced(self):
        with self._tunnel() as c:
            r = c.request("GET", f"/v1/models?key={self.token}", self.host)
            return r.status == 403 and r.header("X-Keyhole-Reason") == "token_misplaced"

    def op_malformed(self):
        with Conn.to_proxy(self.kh.port, timeout=15) as c:
            c.send(b"GET http://plain.test/ HTTP/1.1\r\nHost: plain.test\r\nBad header\r\n\r\n")
            return c.read_response().status == 400

    def op_vanish(self):
        c = self._tunnel()
        c.send(f"GET /bytes?n=4000000&block=65536&delay=0.01 HTTP/1.1\r\nHost: {self.host}"
               f"\r\n\r\n".encode())
        deadline = time.monotonic() + 10
        while len(c.buf) < 100000:
            c.recv_some(deadline)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        return True

    OPS = ("swap", "keepalive", "download", "upload", "sse", "plain", "denied", "misplaced",
           "malformed", "vanish")

    def client(self, idx, stop_at):
        i = idx
        while time.monotonic() < stop_at:
            name = self.OPS[i % len(self.OPS)]
            i += 1
            try:
                ok, why = getattr(self, "op_" + name)(), "unexpected outcome"
            except Exception as e:        # any exception is an error to report
                ok, why = False, f"{type(e).__name__}: {e}"
            with self.lock:
                self.counts[name] = self.counts.get(name, 0) + 1
                if not ok:
                    self.errors.append(f"{time.strftime('%H:%M:%S')} {name}: {why}")


def sample(pid):
    """RSS (KiB) and open descriptors of the daemon and its front processes:
    with front processes (the default) those hold the client connections."""
    return rss_kib_all(pid), fd_count(pid)


def run(seconds, clients, binary, interval=5.0, out=print):
    work = tempfile.mkdtemp(prefix="kh-soak-")
    pki = make_pki(os.path.join(work, "pki"))
    echo = Upstream(cert=pki.server, name="echo").start()
    plain = Upstream(name="plain").start()
    token = mint_token("openai")
    cfg = {"tunnel_port": 0, "upstream_ca_file": pki.ca.cert,
           "resolve": {"api.openai.test": "127.0.0.1", "plain.test": "127.0.0.1"},
           "extra_allowed_hosts": ["plain.test"], "upstream_deny_cidrs": ["127.0.0.2/32"],
           "allowed_ports": TEST_ALLOWED_PORTS}
    if not privsep_on():         # KH_TEST_PRIVSEP=0: in one process, as the suites
        cfg["privsep"] = False
    kh = Keyhole(binary, os.path.join(work, "home"), config=cfg, mappings=[mapping(token)],
                 env={"OPENAI_API_KEY": OPENAI_SECRET}, logdir=work).start()
    soak = Soak(kh, echo, plain, token)
    samples = []
    try:
        t0 = time.monotonic()
        stop_at = t0 + seconds
        threads = [threading.Thread(target=soak.client, args=(i, stop_at), daemon=True)
                   for i in range(clients)]
        for t in threads:
            t.start()
        while time.monotonic() < stop_at:
            rss, fds = sample(kh.proc.pid)
            with soak.lock:
                done = sum(soak.counts.values())
            samples.append((time.monotonic() - t0, rss, fds, done))
            out(f"t={samples[-1][0]:6.1f}s rss={rss} KiB fds={fds} ops={done} "
                f"errors={len(soak.errors)}")
            time.sleep(min(interval, max(0.0, stop_at - time.monotonic())))
        for t in threads:
            t.join(30)
        time.sleep(2.5)      # closing connections linger up to 2 s
        rss, fds = sample(kh.proc.pid)
        samples.append((time.monotonic() - t0, rss, fds, sum(soak.counts.values())))
        pooled = echo.open_connections() + plain.open_connections()   # idle upstream pool
        alive = kh.running()
        leak_check = kh.stderr_text() + kh.audit_text()
    finally:
        kh.kill()
        echo.stop()
        plain.stop()
    warm = samples[max(1, len(samples) // 4)]
    return {
        "seconds": seconds, "clients": clients, "ops": dict(soak.counts),
        "total_ops": sum(soak.counts.values()), "errors": soak.errors,
        "rss_kib": {"start": samples[0][1], "after_warmup": warm[1],
                    "max": max(s[1] for s in samples), "end": samples[-1][1]},
        "fds": {"start": samples[0][2], "max": max(s[2] for s in samples),
                "end": samples[-1][2], "end_pooled_upstreams": pooled},
        "samples": samples, "daemon_alive": alive,
        "secret_in_logs": OPENAI_SECRET in leak_check or token in leak_check,
    }


def leftover_fds(res):
    """Descriptors held at the end beyond those at the start and the upstream
    connections parked in the idle pool (bounded, expire by themselves)."""
    f = res["fds"]
    return f["end"] - f["end_pooled_upstreams"] - f["start"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=180)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--max-growth-kib", type=int, default=8192)
    ap.add_argument("--binary", default=os.environ.get(
        "KEYHOLE_BIN", os.path.join(HERE, "..", "build", "keyhole")))
    a = ap.parse_args()
    res = run(a.seconds, a.clients, a.binary)
    growth = res["rss_kib"]["end"] - res["rss_kib"]["after_warmup"]
    print(json.dumps({k: v for k, v in res.items() if k != "samples"}, indent=2))
    print(f"soak: {res['total_ops']} operations in {a.seconds:.0f} s, "
          f"{len(res['errors'])} error(s); RSS {res['rss_kib']['start']} -> "
          f"{res['rss_kib']['after_warmup']} (after warm-up) -> {res['rss_kib']['end']} KiB "
          f"(max {res['rss_kib']['max']}); fds {res['fds']['start']} -> {res['fds']['end']} "
          f"(max {res['fds']['max']}; {res['fds']['end_pooled_upstreams']} pooled upstreams)")
    bad = res["errors"] or growth > a.max_growth_kib or not res["daemon_alive"] \
        or res["secret_in_logs"] or leftover_fds(res) > 2
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
