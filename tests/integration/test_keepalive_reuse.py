"""Keep-alive: many requests over one client connection are each rewritten
(curl reusing one tunnel for 10 URLs; one http.client connection for 10
requests), not just the first one."""
import http.client
import json
import subprocess

from helpers.checks import echoed_headers
from helpers.client import client_context, curl_env

N = 10


def test_curl_reuses_tunnel(start_keyhole, echo, token, secret, tmp_path):
    kh = start_keyhole()
    cmd = ["curl", "-q", "-sS", "--max-time", "15", "-x", kh.proxy_url, "--cacert", kh.ca_crt,
           "-H", f"Authorization: Bearer {token}", "-w", "%{json}\n"]
    for i in range(N):
        cmd += ["-o", str(tmp_path / f"r{i}"), f"https://api.openai.test:{echo.port}/ka/{i}"]
    p = subprocess.run(cmd, capture_output=True, env=curl_env(), timeout=20)
    assert p.returncode == 0, p.stderr
    infos = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    assert [i["http_code"] for i in infos] == [200] * N
    assert [i["num_connects"] for i in infos] == [1] + [0] * (N - 1), "tunnel not reused"
    for i in range(N):
        doc = json.loads((tmp_path / f"r{i}").read_bytes())
        assert doc["path"] == f"/ka/{i}"
        assert echoed_headers(doc, "Authorization") == [f"Bearer {secret}"], f"request {i}"
    assert len(kh.wait_audit(lambda a: a.get("swapped") == ["OPENAI_API_KEY"], n=N)) == N


def test_http_client_one_connection(start_keyhole, echo, token, secret):
    kh = start_keyhole()
    conn = http.client.HTTPSConnection("127.0.0.1", kh.port, timeout=10,
                                       context=client_context(kh.ca_crt))
    conn.set_tunnel("api.openai.test", echo.port)
    sock = None
    try:
        for i in range(N):
            body = f"request {i}".encode()
            conn.request("POST" if i % 2 else "GET", f"/seq/{i}", body=body if i % 2 else None,
                         headers={"Authorization": f"Bearer {token}"})
            resp = conn.getresponse()
            doc = json.loads(resp.read())
            assert resp.status == 200
            assert doc["path"] == f"/seq/{i}"
            assert echoed_headers(doc, "Authorization") == [f"Bearer {secret}"], f"request {i}"
            sock = sock or conn.sock
            assert conn.sock is sock, f"connection was not kept alive at request {i}"
    finally:
        conn.close()
    assert len(echo.complete_requests()) == N
