"""`keyhole bench` (the load generator) in a tiny run: direct to a TLS echo
upstream, through keyhole with CONNECT and the token swap, plain HTTP forward
(absolute-form), a new connection per request, and a usage error. Checks that
requests complete without errors and that the --json fields exist; the real
benchmark (bench/run.sh) is not part of the test suite."""
import json
import subprocess

JSON_FIELDS = ("url", "proxy", "mode", "connections", "threads", "duration_s", "requests",
               "requests_per_s", "errors", "latency_us", "ttfb_us", "setup_us", "bytes_rx",
               "bytes_tx", "rx_bytes_per_s", "tx_bytes_per_s", "connections_opened",
               "idle_established")
HIST_FIELDS = ("count", "p50", "p90", "p99", "p999", "min", "max", "mean")


def bench(keyhole_bin, *args, timeout=20):
    p = subprocess.run([keyhole_bin, "bench", "--json", *args], capture_output=True,
                       text=True, timeout=timeout)
    assert p.returncode == 0, f"rc={p.returncode} stderr={p.stderr} stdout={p.stdout}"
    doc = json.loads(p.stdout)
    for k in JSON_FIELDS:
        assert k in doc, f"missing {k} in {doc}"
    for h in ("latency_us", "ttfb_us", "setup_us"):
        for k in HIST_FIELDS:
            assert k in doc[h], f"missing {h}.{k}"
    assert doc["errors"]["total"] == 0, doc["errors"]
    assert doc["requests"] > 0
    return doc


def test_direct(keyhole_bin, echo, pki):
    doc = bench(keyhole_bin, "--url", f"https://api.openai.test:{echo.port}/direct",
                "--resolve", "api.openai.test:127.0.0.1", "--cacert", pki.ca.cert,
                "-c", "2", "-d", "0.7")
    assert doc["proxy"] is None and doc["mode"] == "keep-alive"
    assert doc["latency_us"]["count"] == doc["requests"]
    assert doc["latency_us"]["p50"] <= doc["latency_us"]["p99"] <= doc["latency_us"]["max"]
    assert echo.sni_seen and echo.sni_seen[0] == "api.openai.test"


def test_through_keyhole_swaps_token(keyhole_bin, start_keyhole, echo, token, secret):
    kh = start_keyhole()
    doc = bench(keyhole_bin, "--url", f"https://api.openai.test:{echo.port}/v1/chat",
                "--proxy", kh.proxy_url, "--cacert", kh.ca_crt, "-c", "2", "-d", "0.7",
                "-H", f"Authorization: Bearer {token}")
    assert doc["proxy"] == kh.proxy_url
    assert doc["connections_opened"] == 2, "keep-alive connections were not reused"
    reqs = echo.complete_requests()
    assert len(reqs) >= doc["requests"]
    assert all(r.header("Authorization") == f"Bearer {secret}" for r in reqs)


def test_new_connection_per_request(keyhole_bin, start_keyhole, echo):
    kh = start_keyhole()
    doc = bench(keyhole_bin, "--url", f"https://api.openai.test:{echo.port}/nc",
                "--proxy", kh.proxy_url, "--cacert", kh.ca_crt, "--new-conn", "-n", "5")
    assert doc["mode"] == "new-conn"
    assert doc["requests"] == 5 and doc["connections_opened"] == 5
    assert doc["setup_us"]["count"] == 5


def test_plain_http_forward(keyhole_bin, start_keyhole, plain_echo):
    kh = start_keyhole()
    doc = bench(keyhole_bin, "--url", f"http://plain.test:{plain_echo.port}/plain",
                "--proxy", kh.proxy_url, "-n", "20", "--body-size", "1k")
    assert doc["requests"] == 20
    reqs = plain_echo.complete_requests()
    assert len(reqs) == 20
    assert reqs[0].method == "POST" and reqs[0].body_len == 1024
    assert reqs[0].target.endswith("/plain")


def test_usage_errors(keyhole_bin):
    for args in ([], ["--url", "ftp://x/"], ["--url", "https://a.test/", "-c", "0"],
                 ["--url", "https://a.test/", "-c", "20001"],
                 ["--url", "https://a.test/", "-H", "Host: x"]):
        p = subprocess.run([keyhole_bin, "bench", *args], capture_output=True, text=True,
                           timeout=10)
        assert p.returncode == 2, (args, p.stderr)
        assert "Try 'keyhole bench --help'" in p.stderr
