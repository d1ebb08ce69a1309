"""Agent-like scenarios: the clients agents really use (Python http.client,
requests, httpx; Node https and fetch/undici; curl), through each peer's CONNECT
tunnel, against nginx and a Python upstream that writes head and body
separately, in the shapes agents make (back to back, sparse, 100 concurrent
sparse agents, SSE first event). Rounds are interleaved: every scenario runs on
every peer, then the next scenario, and the whole list again `rounds` times.
Each client is a subprocess (bench/clients/) printing per-request latencies.

Entry point: run(bench, live) from bench.py (section "agents"); it stores
bench.results["agents"] = {scenario: {peer: {"rounds": [p50 per round], ...}}}.
report.agents_section(results) renders the table."""
import json
import os
import shutil
import statistics
import subprocess
import time

import peers

HERE = os.path.dirname(os.path.abspath(__file__))
CL = os.path.join(HERE, "clients")
PY = "/usr/bin/python3"
NODE = "/usr/bin/node"

CLIENTS = {   # name -> argv prefix (spec JSON appended), or a function for curl
    "http.client": [PY, os.path.join(CL, "py_httpclient.py")],
    "requests": [PY, os.path.join(CL, "py_requests.py")],
    "httpx": [PY, os.path.join(CL, "py_httpx.py")],
    "node-https": [NODE, os.path.join(CL, "node_https.js")],
    "node-fetch": [NODE, os.path.join(CL, "node_fetch.js")],
    "curl": None,
}

# shape -> (n full, n quick, gap ms, concurrent agents)
SHAPES = {
    "b2b": (200, 40, 0, 1),
    "sparse5": (60, 20, 5, 1),
    "sparse50": (40, 6, 50, 1),
    "agents100": (10, 4, 200, 100),   # the first request of each agent (setup) not counted
    "sse": (20, 5, 0, 1),
}
SHAPE_TEXT = {
    "b2b": "back-to-back keep-alive",
    "sparse5": "one request every 5 ms",
    "sparse50": "one request every 50 ms",
    "agents100": "100 concurrent agents, one request every 200 ms each",
    "sse": "SSE, time to first event",
}


def scenarios(quick):
    """(client, shape, upstream) triples. Quick: a documented subset."""
    if quick:
        return [("http.client", "b2b", "split"), ("http.client", "sparse5", "split"),
                ("node-https", "b2b", "split"), ("curl", "b2b", "nginx"),
                ("http.client", "sse", "sse"), ("node-https", "agents100", "split")]
    out = []
    for up in ("split", "nginx"):
        for cl in ("http.client", "requests", "httpx", "node-https", "node-fetch", "curl"):
            for sh in ("b2b", "sparse5"):
                out.append((cl, sh, up))
    out += [("http.client", "sparse50", "split"), ("node-https", "sparse50", "split"),
            ("requests", "sparse50", "split")]
    out += [(cl, "sse", "sse") for cl in ("http.client", "requests", "httpx", "node-https",
                                          "node-fetch")]
    out += [("node-https", "agents100", "split"), ("node-https", "agents100", "nginx")]
    return out


def name(cl, sh, up):
    return f"{cl} {sh} {up}"


class PyUpstream:
    """bench/clients/upstream.py as a bench process (split writes and SSE)."""

    def __init__(self, d, pki, secret):
        self.dir, self.pki, self.secret = d, pki, secret
        self.proc = self.port = None

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        self.port = peers.free_port()
        env = {"PATH": "/usr/bin:/bin", "BENCH_SECRET": self.secret}
        self.proc = peers.spawn([PY, os.path.join(CL, "upstream.py"), str(self.port),
                                 self.pki["cert"], self.pki["key"]],
                                os.path.join(self.dir, "upstream.log"), env=env)
        peers.wait_port(self.port, self.proc, 10, "python upstream")
        return self


def _missing(cl):
    if cl == "curl":
        return None if shutil.which("curl") else "curl not installed"
    argv = CLIENTS[cl]
    if not os.access(argv[0], os.X_OK):
        return f"{argv[0]} not found"
    if cl in ("requests", "httpx"):
        r = subprocess.run([PY, "-c", f"import {cl}"], capture_output=True, timeout=20)
        if r.returncode:
            return f"python3-{cl} not installed (apt-get install python3-{cl})"
    if cl == "node-fetch":
        r = subprocess.run([NODE, "-e", "require('undici')"], capture_output=True, timeout=20,
                           env={"PATH": "/usr/bin:/bin", "NODE_PATH": "/usr/share/nodejs"})
        if r.returncode:
            return "undici not found (apt-get install node-undici)"
    return None


def _curl(spec):
    """curl --proxy, all URLs in one invocation (one kept-alive connection),
    --rate for the sparse shapes, -w time_total per transfer."""
    argv = ["curl", "-sS", "--max-time", "10", "--cacert", spec["ca"],
            "-H", f"Authorization: {spec['auth']}", "-w", "%{http_code} %{time_total}\\n"]
    if spec.get("proxy"):
        argv += ["--proxy", spec["proxy"]]
    else:
        argv += ["--resolve", f"{spec['host']}:{spec['port']}:127.0.0.1"]
    if spec.get("gap_ms"):
        argv += ["--rate", f"{round(1000 / spec['gap_ms'])}/s"]
    url = f"https://{spec['host']}:{spec['port']}{spec['path']}"
    for _ in range(spec["n"]):
        argv += [url, "-o", "/dev/null"]
    return argv


def _parse_curl(out, rc, err):
    lat, errors = [], 0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "200":
            lat.append(float(parts[1]) * 1e6)
        elif parts:
            errors += 1
    return {"lat_us": lat, "errors": errors,
            "error": (err.strip()[-300:] or f"exit {rc}") if rc or errors else None}


def run_client(cl, spec):
    if cl == "curl":
        argv = _curl(spec)
    else:
        argv = CLIENTS[cl] + [json.dumps(spec)]
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=spec["timeout"] + 15,
                           env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
                                # Debian's node-undici and its dependencies
                                "NODE_PATH": "/usr/share/nodejs"},
                           preexec_fn=peers._child_setup)   # own group, dies with us
    except subprocess.TimeoutExpired:
        return {"lat_us": [], "errors": 1, "error": "client timed out"}
    if cl == "curl":
        return _parse_curl(r.stdout, r.returncode, r.stderr)
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"lat_us": [], "errors": 1,
                "error": (r.stderr.strip() or f"exit {r.returncode}")[-300:]}


def _pct(xs, q):
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))] if s else None


def run(bench, live):
    quick = bench.mode == "quick"
    rounds = 2 if quick else 3
    ups = {"nginx": (bench.nginx.port, "/small", bench.nginx)}
    py = PyUpstream(os.path.join(bench.tmp, "pyupstream"), bench.pki, bench.secret).start()
    ups["split"] = (py.port, "/small", py)
    ups["sse"] = (py.port, "/sse", py)
    # The nginx-relay column in front of each upstream: the bench's own relay for
    # nginx, a second one (same class, same config) for the Python upstream.
    relays = {"nginx": next((p for p in live if p.name == "nginx-relay"), None)}
    if relays["nginx"] is not None:
        r2 = peers.NginxRelay(os.path.join(bench.tmp, "relay-py"), bench.pki, bench.token,
                              bench.secret, py.port)
        relays["split"] = relays["sse"] = r2 if bench.start_peer(r2) else None
    cols = [p for p in live if p.name != "nginx-relay"]
    res = {"rounds": rounds, "quick": quick, "scenarios": {}, "skipped": {}}
    todo = []
    for cl, sh, up in scenarios(quick):
        why = _missing(cl)
        if why:
            res["skipped"][name(cl, sh, up)] = why
            bench_log(f"  agents: {name(cl, sh, up)}: skipped: {why}")
            continue
        if sh == "agents100" and cl != "node-https":
            continue
        todo.append((cl, sh, up))
    deadline_s = 20 if quick else 60
    for rnd in range(rounds):
        for cl, sh, up in todo:
            port, path, _ = ups[up]
            nfull, nquick, gap, agents = SHAPES[sh]
            for peer in cols + ([relays[up]] if relays.get(up) else []):
                spec = {"host": peers.API_HOST, "path": path, "ca": peer.ca,
                        "n": nquick if quick else nfull, "gap_ms": gap, "agents": agents,
                        "sse": sh == "sse", "timeout": deadline_s,
                        "auth": f"Bearer {bench.cred(peer)}",
                        "proxy": peer.proxy_url,
                        "port": peer.origin_port if peer.name == "nginx-relay" else port}
                out = run_client(cl, spec)
                _store(res, name(cl, sh, up), peer.name, out)
        bench_log(f"  agents: round {rnd + 1}/{rounds} done")
    if relays.get("split") is not None:
        relays["split"].stop()
    peers.stop(py.proc)
    bench.results["agents"] = res


def bench_log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _store(res, scen, peer, out):
    d = res["scenarios"].setdefault(scen, {}).setdefault(
        peer, {"p50": [], "p99": [], "n": [], "errors": 0, "error": None})
    if out.get("skipped"):
        d["error"] = out["skipped"]
        return
    lat = out.get("lat_us") or []
    d["p50"].append(statistics.median(lat) if lat else None)
    d["p99"].append(_pct(lat, 0.99))
    d["n"].append(len(lat))
    d["errors"] += int(out.get("errors") or 0)
    if out.get("conns") is not None:   # node-https: tunnels opened (1 per agent if kept alive)
        d.setdefault("conns", []).append(out["conns"])
    if out.get("error") and not d["error"]:
        d["error"] = out["error"]
        bench_log(f"    {scen} {peer}: {out['error'][:200]}")


def added(res, scen, peer):
    """Per round: peer p50 - direct p50 (same round). -> (median, min, max) or None."""
    s = res["scenarios"].get(scen, {})
    d, p = s.get("direct"), s.get(peer)
    if not d or not p:
        return None
    xs = [b - a for a, b in zip(d["p50"], p["p50"]) if a is not None and b is not None]
    if not xs:
        return None
    return statistics.median(xs), min(xs), max(xs)
