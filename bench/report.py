"""Markdown report for bench.py: machine, figures, ratio tables, raw numbers."""
import statistics
import time

HIGHER, LOWER = "higher is better", "lower is better"
COLUMNS = ["direct", "keyhole", "mitmproxy", "squid", "nginx-relay"]


def _get(results, scen, peer, *path):
    v = results.get(scen, {}).get(peer)
    if not isinstance(v, dict) or v.get("failed"):
        return None
    for k in path:
        if not isinstance(v, dict) or v.get(k) is None:
            return None
        v = v[k]
    return v


def _added(results, scen, q):
    def f(peer):
        v, d = _get(results, scen, peer, "latency_us", q), _get(results, scen, "direct",
                                                                  "latency_us", q)
        return None if v is None or d is None else v - d
    return f


def _scaled(scen, div, *path):
    def f(results, peer):
        v = _get(results, scen, peer, *path)
        return None if v is None else v / div
    return f


def _mint_delta(results, peer):
    if peer == "direct":
        return None  # nothing to mint without a proxy
    c, k = _get(results, "mint", peer, "cold_us"), _get(results, "mint", peer, "cached_us")
    return None if c is None or k is None else (c - k) / 1000


# (label, unit, better, fn(results, peer) -> number|None, has a direct value)
def metrics(params):
    ka = params["ka"]
    rows = [(f"Keep-alive requests/s, {c} conn{'s' if c > 1 else ''}", "req/s", HIGHER,
             _scaled(f"ka{c}", 1, "requests_per_s"), True) for c in ka]
    rows += [
        ("Latency p50, 1 conn", "µs", LOWER, _scaled("ka1", 1, "latency_us", "p50"), True),
        ("Latency p99, 1 conn", "µs", LOWER, _scaled("ka1", 1, "latency_us", "p99"), True),
        ("Added p50 latency vs direct, 1 conn", "µs", LOWER,
         lambda r, p: _added(r, "ka1", "p50")(p), False),
        ("Added p99 latency vs direct, 1 conn", "µs", LOWER,
         lambda r, p: _added(r, "ka1", "p99")(p), False),
        (f"Latency p99, {ka[-1]} conns", "ms", LOWER,
         _scaled(f"ka{ka[-1]}", 1000, "latency_us", "p99"), True),
        (f"New connections/s ({params['newconn_c']} conns; CONNECT + 2 handshakes)", "conn/s",
         HIGHER, _scaled("newconn", 1, "requests_per_s"), True),
        ("New connection p50 latency", "ms", LOWER,
         _scaled("newconn", 1000, "latency_us", "p50"), True),
        ("Streaming a 256 MiB response", "MB/s", HIGHER,
         _scaled("stream", 1e6, "rx_bytes_per_s"), True),
        (f"SSE first event p50 ({params['sse_c']} streams)", "ms", LOWER,
         _scaled("sse", 1000, "ttfb_us", "p50"), True),
        ("SSE first event p99", "ms", LOWER, _scaled("sse", 1000, "ttfb_us", "p99"), True),
        ("SSE whole stream p50 (10 events, 10 ms apart)", "ms", LOWER,
         _scaled("sse", 1000, "latency_us", "p50"), True),
    ]
    rows += [(f"RSS per idle intercepted connection, {n:,} conns", "KiB", LOWER,
              _scaled(f"idle{n}", 1, "per_conn_kib"), False) for n in params["idle"]]
    rows += [
        ("Cold leaf: first CONNECT+handshake to a new name, p50 (direct: a new connection)",
         "ms", LOWER, _scaled("mint", 1000, "cold_us"), True),
        ("Cached leaf: the same name again, p50", "ms", LOWER,
         _scaled("mint", 1000, "cached_us"), True),
        ("Cold minus cached (leaf mint + cache miss)", "ms", LOWER, _mint_delta, False),
    ]
    return rows


def _fmt(v, unit):
    if v is None:
        return "–"
    if unit in ("req/s", "conn/s"):
        return f"{v:,.0f}"
    if unit == "µs":
        return f"{v:,.0f}"
    if unit == "MB/s":
        return f"{v:,.0f}"
    if unit == "KiB":
        return f"{v:,.1f}"
    return f"{v:,.2f}"


def _ratio(v, ref):
    if v is None or ref is None or ref == 0:
        return "–"
    return f"{v / ref:.2f}×"


def _columns(peer_objs):
    return [p for p in COLUMNS if any(o.name == p for o in peer_objs)]


def _table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _figures(results, params, cols):
    rows = []
    for label, unit, better, fn, _ in metrics(params):
        rows.append([label, unit] + [_fmt(fn(results, c), unit) for c in cols] + [better])
    return _table(["metric", "unit"] + cols + [""], rows)


def _ratios(results, params, cols, ref):
    rows = []
    for label, unit, better, fn, has_direct in metrics(params):
        if ref == "direct" and not has_direct:
            continue
        base = fn(results, ref)
        rows.append([label] + [_ratio(fn(results, c), base) if has_direct or c != "direct"
                               else "–" for c in cols if c != ref] + [better])
    return _table(["metric"] + [c for c in cols if c != ref] + [""], rows)


def _errors(results, cols):
    rows = []
    for scen in sorted(results):
        if scen == "agents":
            continue
        cells = []
        for c in cols:
            v = results[scen].get(c)
            if v is None:
                cells.append("–")
            elif v.get("failed"):
                cells.append("FAILED")
            else:
                e = v.get("errors")
                cells.append(str(e.get("total", 0) if isinstance(e, dict) else (e or 0)))
        rows.append([scen] + cells)
    return _table(["scenario"] + cols, rows)


def _lat(h):
    if not isinstance(h, dict) or not h.get("count"):
        return "–"
    return f"{h['p50']:,.0f} / {h['p90']:,.0f} / {h['p99']:,.0f} / {h['max']:,.0f}"


def _raw(results, cols):
    rows = []
    for scen in sorted(results):
        if scen == "agents":
            continue
        for c in cols:
            v = results[scen].get(c)
            if not isinstance(v, dict) or "requests" not in v:
                continue
            err = v["errors"]["total"]
            rows.append([scen, c, _rounds(scen, v.get("rounds")), f"{v['requests']:,}",
                         f"{v['requests_per_s']:,.1f}",
                         _lat(v.get("latency_us")), _lat(v.get("ttfb_us")),
                         _lat(v.get("setup_us")), f"{v['rx_bytes_per_s'] / 1e6:,.2f}",
                         str(err) + (f" {_kinds(v['errors'])}" if err else "")])
    return _table(["scenario", "column", "every round", "requests", "req/s",
                   "latency p50/p90/p99/max µs", "ttfb p50/p90/p99/max µs",
                   "setup p50/p90/p99/max µs", "rx MB/s", "errors"], rows)


def _rounds(scen, rounds):
    """Each round's deciding figure: req/s, MB/s (stream) or first-event µs (sse)."""
    if not rounds:
        return "–"
    if scen == "stream":
        return " / ".join("–" if r is None else f"{r / 1e6:,.0f} MB/s" for r in rounds)
    if scen == "sse":
        return " / ".join("–" if r is None else f"{r:,.0f} µs" for r in rounds)
    return " / ".join("–" if r is None else f"{r:,.0f}" for r in rounds)


def _kinds(errors):
    return "(" + ", ".join(f"{k} {n}" for k, n in errors.items() if k != "total" and n) + ")"


def _idle_raw(results, cols, params):
    rows = []
    for n in params["idle"]:
        for c in cols:
            v = results.get(f"idle{n}", {}).get(c)
            if not isinstance(v, dict):
                continue
            kinds = v.get("error_kinds") or {}
            note = v.get("failed") or ", ".join(f"{k} {x}" for k, x in kinds.items())
            if kinds.get("idle_drop"):
                note += " (held connections closed by the proxy)"
            rows.append([f"{n:,}", c, str(v.get("established")), str(v.get("base_kib")),
                         str(v.get("rss_kib")), _fmt(v.get("per_conn_kib"), "KiB"),
                         str(v.get("errors")), note])
    return _table(["connections", "proxy", "held", "RSS before KiB", "RSS holding KiB",
                   "KiB/conn", "errors", "note"], rows)


def _mint_raw(results, cols):
    rows = []
    for c in cols:
        v = results.get("mint", {}).get(c)
        if not isinstance(v, dict):
            continue
        rows.append([c, str(v["names"]), _fmt(_ms(v.get("cold_us")), "ms"),
                     _fmt(_ms(v.get("cold_p90_us")), "ms"), _fmt(_ms(v.get("cached_us")), "ms"),
                     _fmt(_ms(v.get("cached_p90_us")), "ms"), str(v["errors"])])
    return _table(["proxy", "names", "cold p50 ms", "cold p90 ms", "cached p50 ms",
                   "cached p90 ms", "errors"], rows)


def _ms(us):
    return None if us is None else us / 1000


CAVEATS = """\
- Every proxy intercepts TLS with its own EC P-256 CA made for this run, verifies the
  upstream against the test CA, and replaces `Authorization: Bearer keyhole-openai-…`
  with the real key only toward `*.bench.test`. The `/whoami` check before each column
  confirms the swap (a column whose swap fails is skipped, not measured).
- The client side does a full TLS handshake on every new connection (no resumption), as a
  sandbox seen for the first time would. Whether a proxy pools or resumes its upstream
  connections is its own business and part of what is measured (Squid and keyhole pool
  idle upstream connections, mitmproxy opens one upstream connection per client connection).
- keyhole: default `workers` (one per core), audit log on, response scrubbing on and the
  metrics listener up (both defaults), `resolve:` pins instead of DNS,
  `limits.max_connections: 30000` so the 10,000-connection run fits.
- mitmproxy: `stream_large_bodies=1` so bodies (SSE, 256 MiB) stream instead of being
  buffered whole (its default); flow log to a file; its own /etc/hosts via a private mount
  namespace (`unshare -m`), the only way to pin names without DNS in 8.1.1; one Python
  process.
- Squid: `ssl_bump peek step1` + `bump all`, leaves from `security_file_certgen` (fresh
  `ssl_db` per start; 8 helpers) plus its 16 MB in-memory cert cache, `cache deny all`,
  `via off`, `forwarded_for delete`, access log on, `hosts_file` instead of DNS. RSS includes
  its helper processes.
- nginx-relay is not an intercepting proxy but a reference: nginx as a TLS-terminating
  reverse proxy in front of the same upstream (`proxy_pass https://` to a keep-alive pool,
  `proxy_ssl_verify on`, the same token swap through a `map` on Authorization, no access
  log, one worker per core, `proxy_buffering off`). The client reaches it as the origin:
  no CONNECT, no minted leaf, nothing audited or scrubbed. What it cannot beat, two TLS
  legs on these two cores, an intercepting proxy cannot either; keyhole's ratio to direct
  reads against its ratio to direct. Load figures only (no leaf, no idle run).
- Everything (load generator, proxy, nginx) shares the same cores, so a proxy that uses more
  CPU also slows the generator and the upstream: throughput ratios include that contention.
- RSS per idle connection = (RSS while holding N connections − RSS of the freshly started,
  warmed proxy) / N; kernel socket buffers are not in RSS.
- Cold vs cached leaf: medians of the load generator's setup time (TCP connect → CONNECT →
  both handshakes done) for the first and second connection to each of the names, one
  connection at a time, each from a fresh load-generator process; the difference is what a
  leaf mint and a cache miss cost as seen by a client. The direct column runs the same
  sequence without a proxy (no mint): the cost of one new TLS connection.
"""


def _cap_note(params):
    if params["idle"] == params.get("idle_wanted", params["idle"]):
        return ""
    return (f"- The idle runs asked for {', '.join(f'{n:,}' for n in params['idle_wanted'])} "
            f"connections but ran {', '.join(f'{n:,}' for n in params['idle'])}: the hard "
            f"RLIMIT_NOFILE here is {params['nofile']:,} and cannot be raised without "
            "CAP_SYS_RESOURCE; Squid and mitmproxy hold two descriptors per idle connection "
            "(keyhole one), and Squid closes idle connections when its descriptors run short, "
            "so each proxy ran the largest size that fits 80% of the limit.\n")


def _bound(results, cols, micro):
    """New intercepted connections/s against what the handshakes alone allow."""
    b = (micro or {}).get("two_handshake_bound_per_s")
    if not b:
        return "not measured (mintbench did not run or failed)"
    rows = []
    for c in cols:
        v = _get(results, "newconn", c, "requests_per_s")
        if v is not None and c != "direct":
            rows.append([c, f"{v:,.0f}", f"{v / b:.2f}×"])
    return (f"`bench/mintbench.c` ran both ends of an intercepted connection's two TLS "
            f"handshakes (sandbox ↔ proxy with a minted leaf, proxy ↔ upstream with the "
            f"upstream's certificate) in one thread over memory BIOs, with keyhole's TLS "
            f"contexts and this machine's OpenSSL: {b:,.0f} connections/s on all cores is the "
            "most a proxy that does two full handshakes per connection could reach here. "
            "A proxy that reuses pooled upstream connections skips the second one, so it can "
            "exceed this bound. Handshake p50: sandbox side "
            f"{_get({'m': {'x': micro}}, 'm', 'x', 'hs_sandbox_us', 'p50') or 0:,.0f} µs, "
            f"upstream side {_get({'m': {'x': micro}}, 'm', 'x', 'hs_upstream_us', 'p50') or 0:,.0f}"
            " µs (both ends of each).\n\n" +
            _table(["proxy", "new conn/s", "÷ two-handshake bound"], rows))


def _two_legs(results, params):
    """keyhole's ratio to direct next to what the reference relay reaches."""
    rows = []
    scen = [(f"Keep-alive requests/s, {c} conn{'s' if c > 1 else ''}", f"ka{c}",
             "requests_per_s", 1, "req/s") for c in params["ka"]]
    scen.append(("Streaming a 256 MiB response", "stream", "rx_bytes_per_s", 1e6, "MB/s"))
    for label, s, key, div, unit in scen:
        d, r, k = (_get(results, s, c, key) for c in ("direct", "nginx-relay", "keyhole"))
        if r is None:
            continue
        rows.append([label] + [_fmt(None if v is None else v / div, unit) for v in (d, r, k)] +
                    [_ratio(r, d), _ratio(k, d), _ratio(k, r)])
    if not rows:
        return "not measured (the relay column did not run)"
    return ("A proxied request costs two TLS legs where a direct one costs one: twice the "
            "encryption, socket writes and wakeups, on the same two cores as the client and "
            "the upstream. nginx as a plain TLS reverse proxy (see the last section) shows "
            "what that leaves here; keyhole also answers CONNECT, mints leaves, audits and "
            "scrubs.\n\n" +
            _table(["figure", "direct", "nginx-relay", "keyhole", "relay ÷ direct",
                    "keyhole ÷ direct", "keyhole ÷ relay"], rows))


def _micro(m):
    if not m:
        return "not run"
    if m.get("failed"):
        return f"failed: {m['failed']}"
    rows = [[k.replace("_us", ""), f"{v['p50']:,.1f}", f"{v['p99']:,.1f}"]
            for k, v in m.items() if k.endswith("_us") and not k.startswith("hs_")]
    return (f"`bench/mintbench.c` against keyhole's own CA code, {m['names']:,} names, "
            "no network:\n\n" + _table(["operation", "p50 µs", "p99 µs"], rows))


def render(mode, wall, machine, peer_objs, results, params, micro=None, when=None):
    cols = _columns(peer_objs)
    skipped = [f"- **{p.name}**: skipped: {p.skipped}" for p in peer_objs if p.skipped]
    parts = [
        f"# keyhole benchmark, {when or time.strftime('%Y-%m-%d %H:%M')} ({mode} mode)",
        "",
        f"Generated by `bench/run.sh{' --quick' if mode == 'quick' else ''}` in {wall:.0f} s of "
        "wall-clock time. One run on one machine, everything on loopback, one TLS upstream "
        "(nginx), one load generator (`keyhole bench`). Compare ratios, not absolute numbers.",
        "",
        "## Machine",
        "",
        _table(["", ""], [[k, str(v)] for k, v in machine.items()]),
        "",
    ]
    if skipped:
        parts += ["## Skipped columns", ""] + skipped + [""]
    parts += ["## Agent-like clients and shapes", "", agents_section(results), ""]
    if set(results) == {"agents"}:   # --only agents (make bench-quick)
        return "\n".join(parts)
    parts += [
        "## Figures", "", _figures(results, params, cols), "",
        "## New connections against the two-handshake bound", "",
        _bound(results, cols, micro), "",
        "## Two TLS legs: keyhole against a plain TLS relay", "",
        _two_legs(results, params), "",
        "## Ratio to direct (proxy ÷ direct)", "",
        _ratios(results, params, cols, "direct"), "",
        "## Ratio to keyhole (column ÷ keyhole)", "",
        "For a higher-is-better row, a value below 1 means that column is slower than keyhole; "
        "for a lower-is-better row, a value above 1 means it is worse than keyhole.", "",
        _ratios(results, params, cols, "keyhole"), "",
        "## Errors per scenario", "", _errors(results, cols), "",
        "## Raw load-generator results", "",
        f"Each scenario ran {params['rounds']} time(s), interleaved across the columns "
        "(every scenario for every column, then again); the table keeps each column's best "
        "round (highest req/s, highest MB/s for the stream, lowest first-event p50 for SSE) "
        "and lists every round's deciding figure. "
        f"Duration {params['dur']} s per run after {params['warm']} s warmup; latency is request "
        "start to last response byte (new-connection runs: from connect); ttfb is the first "
        "response byte (SSE: the first body byte); setup is connect to ready-to-send.", "",
        _raw(results, cols), "",
        "## Idle connections", "", _idle_raw(results, cols, params), "",
        "## Leaf certificates", "", _mint_raw(results, cols), "", _micro(micro), "",
        "## How each peer was configured", "", CAVEATS + _cap_note(params),
    ]
    return "\n".join(parts)


# ---- agent-like scenarios (bench/agents.py) ---------------------------------

def _add_cell(a):
    if a is None:
        return "–"
    med, lo, hi = a
    return f"{med:+,.0f} ({lo:+,.0f}…{hi:+,.0f})"


def agents_section(results):
    """One row per client × shape × upstream: direct p50, each column's median
    added p50 over the rounds with its spread, keyhole ÷ squid and ÷ relay."""
    import agents as ag
    res = results.get("agents")
    if not res:
        return "not run"
    cols = ["keyhole", "mitmproxy", "squid", "nginx-relay"]
    rows = []
    for scen, per in res["scenarios"].items():
        d = per.get("direct") or {}
        dp = [x for x in d.get("p50", []) if x is not None]
        add = {c: ag.added(res, scen, c) for c in cols}
        k = add["keyhole"]
        rs, rr = (_ratio(k and k[0], add[c][0] if add[c] and add[c][0] > 0 else None)
                  for c in ("squid", "nginx-relay"))
        errs = ", ".join(f"{c} {v['errors']}" for c, v in per.items() if v.get("errors"))
        rows.append([scen, f"{statistics.median(dp):,.0f}" if dp else "–"] +
                    [_add_cell(add[c]) for c in cols] + [rs, rr, errs or "0"])
    skipped = "".join(f"- {s}: skipped: {why}\n" for s, why in res.get("skipped", {}).items())
    notes = "".join(f"- {s} / {p}: {v['error']}\n" for s, per in res["scenarios"].items()
                    for p, v in per.items() if v.get("error"))
    return (
        f"Each client is a subprocess doing its requests on one kept-alive connection "
        f"through the column's CONNECT tunnel (nginx-relay: to the relay as the origin), "
        f"{res['rounds']} interleaved rounds. Scenario = client, shape (b2b: back-to-back "
        "keep-alive; sparse5 / sparse50: one request every 5 / 50 ms; agents100: 100 "
        "concurrent agents (Node), one request every 200 ms each, each agent's first (connection "
        "setup) request not counted; sse: time to the first event), "
        "upstream (nginx; split: Python server writing head and body separately; sse: the "
        "Python SSE endpoint). Direct: its p50 in µs (median over rounds). Other columns: "
        "added p50 in µs = column p50 − direct p50 of the same round, median over rounds "
        "(min…max across rounds). Ratios: keyhole's median added p50 ÷ Squid's and ÷ "
        "nginx-relay's (below 1: keyhole adds less; – when the reference adds nothing measurable).\n\n" +
        _table(["scenario", "direct p50 µs", "keyhole +µs", "mitmproxy +µs", "squid +µs",
                "nginx-relay +µs", "keyhole ÷ squid", "keyhole ÷ relay", "errors"], rows) +
        ("\n\n" + skipped if skipped else "") +
        ("\n\nFirst error per failing column:\n\n" + notes if notes else ""))
