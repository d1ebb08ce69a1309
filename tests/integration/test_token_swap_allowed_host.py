"""A proxy token sent to one of its mapping's hosts reaches the upstream as the
real key, through an ordinary client using HTTPS_PROXY / CONNECT, and the
audit record says which credential was injected without containing it."""
import http.client
import json

from helpers.checks import assert_no_leak, echoed, echoed_headers
from helpers.client import client_context, curl


def test_curl_via_https_proxy_env(start_keyhole, echo, token, secret):
    kh = start_keyhole()
    r = curl(f"https://api.openai.test:{echo.port}/v1/models?limit=5",
             cacert=kh.ca_crt, headers=[f"Authorization: Bearer {token}"],
             env={"HTTPS_PROXY": kh.proxy_url})
    assert r.rc == 0, r.stderr
    assert r.status == 200
    doc = echoed(r)
    assert echoed_headers(doc, "Authorization") == [f"Bearer {secret}"]
    assert doc["path"].endswith("/v1/models?limit=5")
    assert token.encode() not in echo.raw, "the proxy token reached the upstream"
    assert echo.sni_seen[-1:] == ["api.openai.test"], "upstream SNI must be the CONNECT host"

    rec = kh.wait_audit(lambda a: a.get("mode") == "mitm" and a.get("status") == 200)[0]
    assert rec["decision"] == "allow"
    assert rec["swapped"] == ["OPENAI_API_KEY"]
    assert rec["host"] == "api.openai.test"
    assert rec["path"] == "/v1/models"
    assert_no_leak(kh, [secret], [token])


def test_python_http_client_tunnel(start_keyhole, echo, token, secret):
    kh = start_keyhole()
    conn = http.client.HTTPSConnection("127.0.0.1", kh.port, timeout=10,
                                       context=client_context(kh.ca_crt))
    conn.set_tunnel("api.openai.test", echo.port)
    body = json.dumps({"model": "gpt-test", "messages": []}).encode()
    conn.request("POST", "/v1/chat/completions", body=body,
                 headers={"Authorization": f"Bearer {token}",
                          "Content-Type": "application/json"})
    resp = conn.getresponse()
    doc = json.loads(resp.read())
    conn.close()
    assert resp.status == 200
    assert echoed_headers(doc, "Authorization") == [f"Bearer {secret}"]
    assert doc["body_len"] == len(body)
    assert token.encode() not in echo.raw

    rec = kh.wait_audit(lambda a: a.get("path") == "/v1/chat/completions")[0]
    assert rec["swapped"] == ["OPENAI_API_KEY"] and rec["decision"] == "allow"
    assert rec["method"] == "POST" and rec["status"] == 200
    assert_no_leak(kh, [secret], [token])


def test_real_upstream_nginx_sees_real_key(start_keyhole, nginx, token, secret):
    kh = start_keyhole()
    r = curl(f"https://api.openai.test:{nginx.port}/whoami", proxy=kh.proxy_url,
             cacert=kh.ca_crt, headers=[f"Authorization: Bearer {token}"])
    assert r.rc == 0, r.stderr
    assert r.status == 200
    assert nginx.whoami_seen()[-1:] == [f"Bearer {secret}"]
    # nginx echoed the real key; keyhole's response scrubbing gave the client its token
    assert r.body.decode().strip() == f"auth=Bearer {token}"
