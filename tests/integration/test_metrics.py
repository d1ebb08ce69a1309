"""The metrics listener (metrics_listen, default 127.0.0.1:0): GET /metrics in
Prometheus text format, checked with a strict parser written for the tests,
and GET /healthz; everything else is 404. Counters move with real requests
through the proxy: allowed with a credential swap, denied, upstream errors,
reloads, the leaf cache; the connection gauge follows open connections. The
listener survives hostile scrapers (oversized and silent requests) and the
port it got is published for `keyhole status`."""
import os
import signal
import socket
import time

import pytest

from helpers.cli import cli, free_port, proxy_settings  # noqa: F401
from helpers.client import curl, send_connect
from helpers.keyhole import mapping, mint_token, privsep_on
from helpers.prom import PromError, parse


def scrape(kh):
    status, body = kh.metrics_get()
    assert status == 200, (status, body)
    return parse(body)


def wait_for(kh, pred, timeout=5.0):
    """Scrapes until pred(metrics) holds (audit records land after the response)."""
    deadline = time.monotonic() + timeout
    while True:
        m = scrape(kh)
        if pred(m) or time.monotonic() > deadline:
            return m
        time.sleep(0.05)


def requests(m, decision, reason):
    return m.value("keyhole_requests_total", decision=decision, reason=reason)


def hist_count(m, name):
    return m.value(name + "_count")


def test_parser_is_strict():
    good = ("# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"q\\\"\\\\\\n\"} 1\n"
            "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
            "h_sum 3.5\nh_count 2\n")
    m = parse(good)
    assert m.value("a_total", x="q\"\\\n") == 1 and m.value("h_count") == 2
    bad = [
        good.replace("# HELP a_total A.\n", ""),                       # HELP missing
        good.replace('h_bucket{le="+Inf"} 2', 'h_bucket{le="+Inf"} 3'),  # +Inf != count
        good.replace('h_bucket{le="1"} 1', 'h_bucket{le="1"} 5'),        # not cumulative
        good.replace('x="q', 'x="\\t'),                                  # bad escape
        good.replace("a_total{", "2a_total{"),                           # bad name
        good + "a_total{x=\"y\"} 1\n",                                   # not contiguous
        good[:-1],                                                       # no final newline
        good.replace("h_sum 3.5\n", ""),                                 # _sum missing
    ]
    for doc in bad:
        with pytest.raises(PromError):
            parse(doc)


def test_counters_follow_real_requests(start_keyhole, echo, token, secret):
    kh = start_keyhole()
    m0 = scrape(kh)
    assert m0.type("keyhole_requests_total") == "counter"
    assert m0.type("keyhole_request_duration_seconds") == "histogram"
    assert m0.value("keyhole_build_info", version=m0.samples("keyhole_build_info")[0][0]
                    ["version"]) == 1

    # allowed, with a credential swap (new connection: handshake + dial + leaf minted)
    url = f"https://api.openai.test:{echo.port}/v1/models"
    for _ in range(2):
        r = curl(url, proxy=kh.proxy_url, cacert=kh.ca_crt,
                 headers=[f"Authorization: Bearer {token}"])
        assert r.rc == 0 and r.status == 200, r.stderr
    # with privsep: true the handshakes are counted by a front, which sends
    # its counts to the daemon every 250 ms
    m = wait_for(kh, lambda m: requests(m, "allow", "allowed") >= 2 and
                 hist_count(m, "keyhole_client_handshake_seconds") >= 2)
    assert requests(m, "allow", "allowed") == requests(m0, "allow", "allowed") + 2
    assert m.value("keyhole_credential_swaps_total", provider="OPENAI_API_KEY") == 2
    assert hist_count(m, "keyhole_request_duration_seconds") == 2
    assert hist_count(m, "keyhole_client_handshake_seconds") == 2
    dials = hist_count(m, "keyhole_upstream_dial_seconds")
    assert 1 <= dials <= 2          # the second may reuse the worker's pooled upstream
    if privsep_on():
        # each front has its own leaf key and cache, the CA signer signs:
        # the daemon mints nothing and shows no leaf cache of its own
        assert m.samples("keyhole_cert_cache_misses_total") == []
    else:
        assert m.value("keyhole_cert_cache_misses_total") == 1     # minted once...
        assert m.value("keyhole_cert_cache_hits_total") == 1       # ...then from cache
        assert m.value("keyhole_cert_cache_entries") == 1

    # denied: not on the allowlist (no swap, no dial)
    conn, resp = send_connect(kh.port, "not-allowed.test:443")
    conn.close()
    assert resp.status == 403
    m = wait_for(kh, lambda m: requests(m, "deny", "host_not_allowed") >= 1)
    assert requests(m, "deny", "host_not_allowed") == 1
    assert m.value("keyhole_credential_swaps_total", provider="OPENAI_API_KEY") == 2
    assert hist_count(m, "keyhole_upstream_dial_seconds") == dials

    # an upstream error: an allowed host on a port nobody listens on
    conn, resp = send_connect(kh.port, f"other.test:{free_port()}")
    conn.close()
    assert resp.status == 502
    m = wait_for(kh, lambda m: m.value("keyhole_upstream_errors_total",
                                       reason="upstream_connect_failed") >= 1)
    assert m.value("keyhole_upstream_errors_total", reason="upstream_connect_failed") == 1
    assert requests(m, "error", "upstream_connect_failed") == 1
    assert secret not in kh.metrics_get()[1] and token not in kh.metrics_get()[1]


def test_active_connections_and_reloads(start_keyhole):
    kh = start_keyhole()
    assert scrape(kh).value("keyhole_reloads_total", result="ok") == 0
    socks = [socket.create_connection(("127.0.0.1", kh.port), timeout=5) for _ in range(3)]
    try:
        m = wait_for(kh, lambda m: m.value("keyhole_active_connections") >= 3)
        assert m.value("keyhole_active_connections") == 3
    finally:
        for s in socks:
            s.close()
    m = wait_for(kh, lambda m: m.value("keyhole_active_connections") == 0)
    assert m.value("keyhole_active_connections") == 0

    kh.proc.send_signal(signal.SIGHUP)
    m = wait_for(kh, lambda m: m.value("keyhole_reloads_total", result="ok") >= 1)
    assert m.value("keyhole_reloads_total", result="ok") == 1
    with open(os.path.join(kh.home, "config.yaml"), "a") as f:
        f.write("tunnel_port: [not, a, port]\n")
    kh.proc.send_signal(signal.SIGHUP)
    m = wait_for(kh, lambda m: m.value("keyhole_reloads_total", result="failed") >= 1)
    assert m.value("keyhole_reloads_total", result="failed") == 1
    assert m.value("keyhole_reloads_total", result="ok") == 1


def raw(addr, data, timeout=5.0):
    host, _, port = addr.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            out += chunk
        return out


def test_healthz_404_and_hostile_scrapers(start_keyhole):
    kh = start_keyhole()
    status, body = kh.metrics_get("/healthz")
    assert status == 200 and body == "keyhole ok\n", body     # no pid, no version
    assert kh.metrics_get("/")[0] == 404
    assert kh.metrics_get("/metrics?x=1")[0] == 404
    assert kh.metrics_get("/metrics", method="POST")[0] == 404
    assert kh.metrics_get("/metrics", method="HEAD")[0] == 404
    # the proxy port's /healthz answers the same way
    assert kh.healthz()[0] == 200

    addr = kh.metrics_addr
    assert raw(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 8000 +
               b"\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert raw(addr, b"GET /metrics HTTP/1.1\nHost: x\n\n").startswith(b"HTTP/1.1 400 ")

    # silent connections neither block a scrape nor stay open forever
    host, _, port = addr.rpartition(":")
    silent = [socket.create_connection((host, int(port)), timeout=10) for _ in range(20)]
    try:
        t0 = time.monotonic()
        scrape(kh)
        assert time.monotonic() - t0 < 2
        silent[-1].settimeout(10)
        t0 = time.monotonic()
        assert silent[-1].recv(1) == b""           # closed by the server's timeout
        assert time.monotonic() - t0 < 8
    finally:
        for s in silent:
            s.close()
    assert kh.healthz()[0] == 200                  # the proxy never noticed


def test_metrics_off_and_not_loopback(start_keyhole):
    kh = start_keyhole({"metrics_listen": "off"})
    assert "metrics on" not in kh.stderr_text()
    assert not os.path.exists(os.path.join(kh.home, "keyhole.metrics"))
    kh2 = start_keyhole({"metrics_listen": "0.0.0.0:0"}, wait=False)
    assert kh2.wait_exit(10) == 1
    assert "metrics_listen" in kh2.stderr_text() and "loopback" in kh2.stderr_text()


def test_status_prints_the_metrics_address(cli, pki):
    cli.write_mappings([mapping(mint_token("openai"))])
    port = free_port()
    cli.write_config(proxy_settings(pki, port))
    env = {"OPENAI_API_KEY": "sk-metrics-status-test"}
    assert cli.run("start", env=env).rc == 0
    addr = cli.read("keyhole.metrics").strip()
    assert cli.mode("keyhole.metrics") == 0o600
    r = cli.run("status")
    assert r.rc == 0 and f"http://{addr}/metrics" in r.out, r
    r = cli.run("status", "--json")
    import json
    assert json.loads(r.out)["metrics_url"] == f"http://{addr}/metrics"
    status, body = _get(addr, "/metrics")
    assert status == 200 and parse(body).value("keyhole_workers") >= 1
    assert cli.run("stop").rc == 0
    assert not os.path.exists(cli.path("keyhole.metrics"))
    r = cli.run("status", "--json")
    assert json.loads(r.out)["metrics_url"] is None


def _get(addr, path):
    import http.client
    host, _, port = addr.rpartition(":")
    c = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()
