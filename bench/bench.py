#!/usr/bin/python3
"""Side-by-side benchmark: direct vs keyhole vs mitmproxy vs Squid ssl-bump.

One run, one machine, loopback only, one TLS upstream (nginx), one load
generator (`keyhole bench`). Every proxy does the same work: TLS interception
with a P-256 CA, a verified upstream TLS connection, and the swap of a proxy
token for the real key in Authorization. A reference column, nginx as a TLS
reverse proxy with the same swap ("relay"), shows what two TLS legs cost on
this machine. Writes bench/results/<date>.md (full mode) or <date>-quick.md
(--quick) plus the raw JSON next to it.

Usage: bench/run.sh [--quick] [--out FILE] [--peers keyhole,mitmproxy,squid,relay]
See bench/README.md for what each figure means and how it is measured.
"""
import argparse
import datetime
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import agents  # noqa: E402
import peers  # noqa: E402
import report  # noqa: E402

NOFILE = 100000  # 10,000 intercepted connections cost a proxy 20,000+ descriptors

MODES = {
    "quick": dict(dur=2, warm=0.5, rounds=1, ka=[1, 16, 256], newconn_c=16, sse_c=16,
                  mint_names=30, idle=[1000], hold=3.5, micro_names=300),
    "full": dict(dur=5, warm=1, rounds=3, ka=[1, 16, 256], newconn_c=16, sse_c=16,
                 mint_names=200, idle=[1000, 10000], hold=5, micro_names=2000),
}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Bench:
    def __init__(self, args):
        self.args = args
        self.mode = "quick" if args.quick else "full"
        self.p = dict(MODES[self.mode])
        self.p["idle_wanted"] = list(self.p["idle"])
        self.p["idle"] = idle_sizes(self.p["idle"])   # per peer: see run_all
        self.p["nofile"] = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        self.bin = args.keyhole or os.environ.get("KEYHOLE_BIN") or \
            os.path.join(REPO, "build", "keyhole")
        self.token = "keyhole-openai-" + secrets.token_hex(16)
        # Same length as the token, so every column sends the same bytes.
        self.secret = ("sk-bench-" + secrets.token_hex(32))[:len(self.token)]
        self.results = {}    # scenario -> peer -> loadgen JSON (or derived dict)
        self.micro = None    # mintbench output
        self.rounds = {}     # scenario -> peer -> [every round's loadgen JSON]
        self.started = time.monotonic()

    # ---- load generator ------------------------------------------------
    def lg_args(self, peer, path, host=peers.API_HOST):
        a = [self.bin, "bench", "--url", f"https://{host}:{self.origin_port(peer)}{path}",
             "--cacert", peer.ca, "--json"]
        if peer.proxy_url:
            a += ["--proxy", peer.proxy_url]
        else:
            a += ["--resolve", f"{host}:127.0.0.1"]
        return a

    def loadgen(self, peer, path, extra, timeout, host=peers.API_HOST, auth=True):
        argv = self.lg_args(peer, path, host) + extra
        if auth:
            argv += ["-H", f"Authorization: Bearer {self.cred(peer)}"]
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"failed": f"load generator timed out after {timeout}s"}
        try:
            return json.loads(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return {"failed": (r.stderr.strip() or f"exit {r.returncode}")[-300:]}

    def cred(self, peer):
        """Proxies (and the relay) get the proxy token; direct sends the real key itself."""
        return self.secret if peer.name == "direct" else self.token

    def origin_port(self, peer):
        """The upstream's port, or the relay's, which the client takes for the origin."""
        return getattr(peer, "origin_port", None) or self.nginx.port

    # ---- scenarios ---------------------------------------------------------
    def sanity(self, peer):
        """The swap works: /whoami says the real key arrived (it never echoes it)."""
        argv = ["curl", "-sS", "--max-time", "20", "--cacert", peer.ca,
                "-H", f"Authorization: Bearer {self.cred(peer)}"]
        port = self.origin_port(peer)
        url = f"https://{peers.API_HOST}:{port}/whoami"
        argv += ["-x", peer.proxy_url] if peer.proxy_url else \
            ["--resolve", f"{peers.API_HOST}:{port}:127.0.0.1"]
        r = subprocess.run(argv + [url], capture_output=True, text=True, timeout=30,
                           env={"PATH": "/usr/bin:/bin"})
        want = "auth=real-key"
        if r.stdout.strip() != want:
            raise RuntimeError(f"token swap check failed: got {r.stdout.strip()[:120]!r} "
                               f"{r.stderr.strip()[:200]}")

    # Throughput scenarios: name -> (path, extra loadgen args, key of the figure
    # that picks the best round, True if higher is better).
    def load_scenarios(self):
        d, w = str(self.p["dur"]), str(self.p["warm"])
        timed = ["-d", d, "--warmup", w]
        sc = [(f"ka{c}", "/small", ["-c", str(c)] + timed, "requests_per_s", True)
              for c in self.p["ka"]]
        sc.append(("newconn", "/small", ["--new-conn", "-c", str(self.p["newconn_c"])] + timed,
                   "requests_per_s", True))
        # One connection fetching /large (256 MiB) back to back: bytes/s over the
        # window, whatever the request boundaries.
        sc.append(("stream", "/large", ["-c", "1", "--timeout", "60"] + timed,
                   "rx_bytes_per_s", True))
        if self.nginx.has_sse:
            sc.append(("sse", "/sse", ["--sse", "-c", str(self.p["sse_c"])] + timed,
                       "ttfb_p50", False))
        return sc

    def load_rounds(self, live):
        """Every throughput scenario, every column, interleaved, `rounds` times;
        each column keeps its best round, so a burst of unrelated work on the
        machine hits all columns alike and rarely the kept figure."""
        for rnd in range(self.p["rounds"]):
            for name, path, extra, key, higher in self.load_scenarios():
                for peer in live:
                    log(f"  round {rnd + 1}/{self.p['rounds']}: {name} {peer.name}")
                    r = self.loadgen(peer, path, extra, self.p["dur"] + 120)
                    self.keep_best(name, peer, r, key, higher)

    def keep_best(self, name, peer, r, key, higher):
        runs = self.rounds.setdefault(name, {}).setdefault(peer.name, [])
        runs.append(r)
        ok = [x for x in runs if not x.get("failed") and x.get("requests")]
        if not ok:
            self.put(name, peer, r)
            return
        score = (lambda x: x["ttfb_us"]["p50"]) if key == "ttfb_p50" else (lambda x: x[key])
        best = (max if higher else min)(ok, key=score)
        best = dict(best, rounds=[score(x) if x in ok else None for x in runs])
        self.put(name, peer, best)

    def mint(self, peer):
        """First CONNECT+handshake to a new name (cold) vs the same name again."""
        n = self.p["mint_names"]
        if not peer.proxy_url:   # the baseline: the same sequence without a proxy
            n = min(n, 30)
        log(f"  {peer.name}: leaf-cert mint, {n} new names, cold then cached")
        cold, cached, errors = [], [], 0
        for i in range(n):
            host = f"m{i}.{peers.DOMAIN}"
            for bucket in (cold, cached):
                r = self.loadgen(peer, "/small", ["--new-conn", "-n", "1", "-c", "1"], 60,
                                 host=host, auth=False)
                if "failed" in r or r["errors"]["total"] or not r["setup_us"]["count"]:
                    errors += 1
                    continue
                bucket.append(r["setup_us"]["p50"])
        self.put("mint", peer, {
            "cold_us": statistics.median(cold) if cold else None,
            "cached_us": statistics.median(cached) if cached else None,
            "cold_p90_us": _pct(cold, 0.9), "cached_p90_us": _pct(cached, 0.9),
            "names": n, "errors": errors})

    def idle(self, peer, n):
        """RSS per idle intercepted connection, on a freshly started proxy."""
        log(f"  {peer.name}: {n} idle connections (fresh process)")
        peer.restart()
        self.loadgen(peer, "/small", ["-n", "1"], 60)   # leaf cached, pools warm
        time.sleep(0.5)
        base = peers.rss_kib(peer.pid())
        argv = self.lg_args(peer, "/small") + [
            "--idle", str(n), "--hold", str(self.p["hold"]), "-d", "600",
            "-H", f"Authorization: Bearer {self.cred(peer)}"]
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=os.setsid)
        peers.PROCS.append(p)
        held = _wait_line(p, "holding", 660)
        samples = []
        if held:
            time.sleep(1.0)   # let the proxy finish releasing handshake buffers
            for _ in range(3):
                samples.append(peers.rss_kib(peer.pid()))
                time.sleep(0.5)
        try:
            out, _ = p.communicate(timeout=self.p["hold"] + 60)
            res = json.loads(out.strip().splitlines()[-1])
        except (subprocess.TimeoutExpired, ValueError, IndexError):
            res = {"failed": "idle run did not report"}
        peers.stop(p)
        est = res.get("idle_established", 0)
        rss = max(samples) if samples else None
        self.put(f"idle{n}", peer, {
            "base_kib": base, "rss_kib": rss, "established": est,
            "errors": res.get("errors", {}).get("total", None),
            "error_kinds": {k: v for k, v in res.get("errors", {}).items()
                            if k != "total" and v},
            "setup": res.get("setup_us"),
            "per_conn_kib": (rss - base) / est if rss and est else None,
            "failed": res.get("failed")})

    def mintbench(self):
        """keyhole's CA code alone: mint, cache miss, cache hit (bench/mintbench.c)."""
        lib = os.path.join(os.path.dirname(self.bin), "libkeyhole.a")
        exe = os.path.join(self.tmp, "mintbench")
        if not os.path.exists(lib):
            self.micro = {"failed": f"{lib} not found (run make)"}
            return
        pkg = subprocess.run(["pkg-config", "--cflags", "--libs", "openssl", "yaml-0.1",
                              "jansson"], capture_output=True, text=True).stdout.split()
        cc = subprocess.run(["cc", "-std=c17", "-D_GNU_SOURCE", "-O2", "-iquote",
                             os.path.join(REPO, "src"), os.path.join(HERE, "mintbench.c"),
                             lib, *pkg, "-lpthread", "-o", exe], capture_output=True, text=True)
        if cc.returncode != 0:
            self.micro = {"failed": "cannot build mintbench: " + cc.stderr.strip()[-300:]}
            return
        d = _mkdir(self.tmp, "mintbench-ca")
        os.chmod(d, 0o700)
        r = subprocess.run([exe, d, str(self.p["micro_names"]), self.pki["cert"],
                            self.pki["key"], self.pki["ca"]],
                           capture_output=True, text=True, timeout=300)
        try:
            self.micro = json.loads(r.stdout)
        except ValueError:
            self.micro = {"failed": r.stderr.strip()[-300:] or f"exit {r.returncode}"}
        log(f"mintbench: {self.micro}")

    def put(self, scenario, peer, result):
        self.results.setdefault(scenario, {})[peer.name] = result
        if isinstance(result, dict) and result.get("failed"):
            log(f"    FAILED: {result['failed']}")
        elif isinstance(result, dict) and "errors" in result and \
                isinstance(result["errors"], dict) and result["errors"].get("total"):
            log(f"    errors: {result['errors']}")

    # ---- orchestration -----------------------------------------------------
    def setup(self):
        self.tmp = tempfile.mkdtemp(prefix="keyhole-bench-")
        os.chmod(self.tmp, 0o755)   # squid drops to user proxy and must reach its dir
        log(f"work dir {self.tmp}")
        self.freeze_binary()
        self.pki = peers.make_pki(os.path.join(self.tmp, "pki"))
        self.names = [peers.API_HOST] + \
            [f"m{i}.{peers.DOMAIN}" for i in range(self.p["mint_names"])]
        self.hosts = os.path.join(self.tmp, "hosts")
        peers.write_hosts(self.hosts, self.names)
        self.nginx = peers.Nginx(_mkdir(self.tmp, "nginx"), self.pki, self.secret).start()
        log(f"nginx on 127.0.0.1:{self.nginx.port}")
        self.peers = [peers.Direct(self.pki)]
        wanted = self.args.peers.split(",")
        table = {
            "keyhole": lambda d: peers.Keyhole(self.bin, d, self.pki, self.names,
                                               self.token, self.secret),
            "mitmproxy": lambda d: peers.Mitmproxy(d, self.pki, self.hosts, self.secret),
            "squid": lambda d: peers.Squid(d, self.pki, self.hosts, self.secret),
            "relay": lambda d: peers.NginxRelay(d, self.pki, self.token, self.secret,
                                                self.nginx.port),
        }
        for name in ("keyhole", "mitmproxy", "squid", "relay"):
            if name in wanted:
                self.peers.append(table[name](_mkdir(self.tmp, name)))

    def freeze_binary(self):
        """Runs a private copy of keyhole (and of libkeyhole.a for mintbench): a
        rebuild in the tree mid-run must neither break the run nor mix versions."""
        src_lib = os.path.join(os.path.dirname(self.bin), "libkeyhole.a")
        d = _mkdir(self.tmp, "bin")
        for attempt in range(10):
            try:
                shutil.copy2(self.bin, os.path.join(d, "keyhole"))
                if os.path.exists(src_lib):
                    shutil.copy2(src_lib, os.path.join(d, "libkeyhole.a"))
                r = subprocess.run([os.path.join(d, "keyhole"), "--version"],
                                   capture_output=True, text=True, timeout=10)
                if r.returncode == 0:
                    break
            except OSError:
                pass
            time.sleep(1)   # the binary was being rewritten by a build
        else:
            raise SystemExit(f"bench: cannot run a copy of {self.bin}")
        self.build = _build_id(self.bin)
        self.bin = os.path.join(d, "keyhole")

    def start_peer(self, peer):
        if peer.skipped:
            log(f"{peer.name}: skipped: {peer.skipped}")
            return False
        log(f"{peer.name}: starting")
        try:
            peer.start()
            self.sanity(peer)
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            peer.skipped = f"could not start or swap the token: {e}"
            log(f"{peer.name}: skipped: {peer.skipped}\n{peer.log_tail()}")
            peer.stop()
            return False
        peer.version_text = peer.version()
        return True

    def wants(self, section):
        only = self.args.only
        return not only or section in only.split(",")

    def run_all(self):
        live = [p for p in self.peers if self.start_peer(p)]
        if self.wants("load"):
            self.load_rounds(live)
        if self.wants("agents"):
            agents.run(self, live)   # agent-like clients and shapes (bench/agents.py)
        if self.wants("mint"):
            for peer in live:
                if not getattr(peer, "reference", False):   # the relay mints nothing
                    self.mint(peer)
        # Memory last, one proxy at a time on a fresh process; the others stay up idle.
        sizes = {p.name: idle_sizes(self.p["idle_wanted"], p.idle_fds_per_conn) for p in live}
        self.p["idle"] = sorted({n for p in live if p.proxy_url for n in sizes[p.name]})
        for peer in live:
            if peer.proxy_url and self.wants("idle"):
                for n in sizes[peer.name]:
                    self.idle(peer, n)
            peer.stop()

    def run(self):
        self.setup()
        limit = self.args.wait_quiet
        self.quiet = wait_quiet(limit if limit is not None else (10 if self.mode == "quick"
                                                                 else 30))
        self.load_start = _loadavg()
        if self.wants("mint"):
            self.mintbench()
        self.run_all()
        self.load_end = _loadavg()
        wall = time.monotonic() - self.started
        out = self.args.out or os.path.join(
            HERE, "results", datetime.date.today().isoformat() +
            ("-quick" if self.mode == "quick" else "") + ".md")
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        machine = self.machine()
        when = time.strftime("%Y-%m-%d %H:%M")
        text = report.render(self.mode, wall, machine, self.peers, self.results, self.p,
                             self.micro, when)
        with open(out, "w") as f:
            f.write(text)
        with open(os.path.splitext(out)[0] + ".json", "w") as f:
            json.dump({"mode": self.mode, "generated": when, "wall_s": wall, "machine": machine,
                       "skipped": {p.name: p.skipped for p in self.peers if p.skipped},
                       "params": self.p, "results": self.results, "mintbench": self.micro,
                       "rounds": self.rounds},
                      f, indent=1)
        print(text)
        log(f"wrote {out} ({wall:.0f} s)")

    def machine(self):
        cpu = "?"
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        mem = "?"
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) // 1024} MiB"
        m = {"cpu": cpu, "cores": os.cpu_count(), "memory": mem,
             "kernel": platform.release(),
             "openssl": peers.first_line(["openssl", "version"]),
             "nginx": self.nginx.version(), "python": platform.python_version(),
             "keyhole build": self.build,
             "keyhole settings": os.environ.get("BENCH_KEYHOLE_CONFIG") or
             "defaults (privsep: true: front processes)",
             "idle CPU before the run": f"{self.quiet:.0f}%",
             "niceness of the benchmark processes": str(os.nice(0)),
             "load average start / end": f"{self.load_start} / {self.load_end}"}
        for p in self.peers:
            if p.name != "direct":
                m[p.name] = p.skipped and f"skipped: {p.skipped}" or \
                    getattr(p, "version_text", "")
        return m


def _build_id(binary):
    """The source tree's commit (+dirty) and the binary's build time."""
    git = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"],
                         capture_output=True, text=True)
    built = time.strftime("%Y-%m-%d %H:%M", time.localtime(os.path.getmtime(binary)))
    return f"tree {git.stdout.strip() or '?'}, binary built {built}"


def _cpu_times():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[3] + v[4], sum(v)   # idle + iowait, total


def _idle_pct(seconds=1.0):
    i0, t0 = _cpu_times()
    time.sleep(seconds)
    i1, t1 = _cpu_times()
    return 100.0 * (i1 - i0) / max(1, t1 - t0)


def _loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def wait_quiet(limit):
    """Waits (up to limit seconds) for the CPUs to be at least 90% idle:
    other work on the machine skews every figure. Returns the last idle %."""
    deadline = time.monotonic() + limit
    idle = _idle_pct()
    while idle < 90 and time.monotonic() < deadline:
        log(f"machine busy ({idle:.0f}% idle); waiting for it to quiet down")
        idle = _idle_pct(2.0)
    if idle < 90:
        log(f"warning: only {idle:.0f}% idle CPU; figures will be noisy")
    return idle


def idle_sizes(wanted, fds_per_conn=2):
    """Squid and mitmproxy hold two descriptors per idle intercepted connection
    (client and upstream), keyhole one (idle clients hand their upstream to a
    bounded pool); without CAP_SYS_RESOURCE the hard RLIMIT_NOFILE (20,000 on
    some hosts) caps how many idle connections can be measured."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    # 80% of the descriptors, not all: Squid starts closing idle connections
    # once its descriptors run short (1,000 of 9,700 dropped at a 20,000
    # limit; 1 of 8,000).
    cap = int(hard * 0.8 / fds_per_conn) // 100 * 100
    out = []
    for n in wanted:
        n = min(n, cap)
        if n > 0 and n not in out:
            out.append(n)
    return out


def _pct(xs, q):
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def _mkdir(base, name):
    d = os.path.join(base, name)
    os.makedirs(d, exist_ok=True)
    return d


def _wait_line(p, needle, timeout):
    """Reads p's stderr until a line contains needle; False on EOF/timeout."""
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(p.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not sel.select(timeout=1.0):
            continue
        line = p.stderr.readline()
        if not line:
            return False
        if needle in line:
            return True
    return False


def _raise_nofile():
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))
    except (ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        log(f"note: RLIMIT_NOFILE cannot go above {hard} here (no CAP_SYS_RESOURCE); "
            "the largest idle run is capped to fit")


def rerender(path, out):
    """Writes the markdown report again from a saved <report>.json."""
    with open(path) as f:
        doc = json.load(f)
    skipped = doc.get("skipped", {})

    class Col:
        def __init__(self, name):
            self.name, self.skipped = name, skipped.get(name)
    names = {p for scen in doc["results"].values() for p in scen} | set(skipped)
    cols = [Col(n) for n in report.COLUMNS if n in names]
    when = doc.get("generated") or time.strftime("%Y-%m-%d %H:%M",
                                                 time.localtime(os.path.getmtime(path)))
    text = report.render(doc["mode"], doc["wall_s"], doc["machine"], cols, doc["results"],
                         doc["params"], doc.get("mintbench"), when)
    with open(out or os.path.splitext(path)[0] + ".md", "w") as f:
        f.write(text)


def _on_signal(sig, frame):
    raise SystemExit(128 + sig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="short run (under 3 minutes)")
    ap.add_argument("--out", help="report path (default bench/results/<date>[-quick].md)")
    ap.add_argument("--peers", default="keyhole,mitmproxy,squid,relay",
                    help="comma-separated columns besides direct (always runs): keyhole, "
                         "mitmproxy, squid, relay (nginx as a TLS reverse proxy: the "
                         "two-leg reference, load figures only)")
    ap.add_argument("--only", metavar="SECTIONS",
                    help="run only these comma-separated sections: load, agents, mint, idle "
                         "(for iterating on one figure; the report shows the rest as missing)")
    ap.add_argument("--keyhole", help="keyhole binary (default build/keyhole or $KEYHOLE_BIN)")
    ap.add_argument("--nice", type=int, default=0, metavar="N",
                    help="run the benchmark (and every process it starts) at this niceness; "
                         "a negative value reduces interference from other work on a shared "
                         "machine, at that work's expense (default 0)")
    ap.add_argument("--wait-quiet", type=float, default=None, metavar="S",
                    help="wait up to S seconds for an idle machine first "
                         "(default 10 with --quick, else 30)")
    ap.add_argument("--render", metavar="JSON",
                    help="only rewrite the report from a saved results JSON (to --out or "
                         "next to it)")
    args = ap.parse_args()
    if args.render:
        rerender(args.render, args.out)
        return
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, _on_signal)
    _raise_nofile()
    if args.nice:
        os.nice(args.nice)
    b = Bench(args)
    if not os.access(b.bin, os.X_OK):
        sys.exit(f"bench: {b.bin} not found; run `make` first")
    try:
        b.run()
    finally:
        peers.kill_all()
        if getattr(b, "tmp", None) and not os.environ.get("BENCH_KEEP_TMP"):
            subprocess.run(["rm", "-rf", "--one-file-system", b.tmp], check=False)


if __name__ == "__main__":
    main()
