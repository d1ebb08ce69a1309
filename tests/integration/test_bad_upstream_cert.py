"""keyhole verifies the upstream before answering CONNECT: a certificate not
chained to a trusted CA, or not valid for the host, fails with 502
upstream_tls_failed and no request (let alone a credential) is sent."""
import pytest

from helpers.checks import assert_keyhole_error
from helpers.client import curl, send_connect


@pytest.mark.parametrize("cert", ["rogue", "wrong"],
                         ids=["self-signed-not-from-test-ca", "test-ca-but-only-wrong.test"])
def test_bad_upstream_certificate(start_keyhole, make_upstream, cert):
    bad = make_upstream(cert, name=cert)
    kh = start_keyhole()
    conn, r = send_connect(kh.port, f"api.openai.test:{bad.port}")
    conn.close()
    assert_keyhole_error(r, 502, "upstream_tls_failed", host="api.openai.test")
    assert bad.saw_nothing(), bad.describe()

    rec = kh.wait_audit(lambda a: a.get("reason") == "upstream_tls_failed")[0]
    assert rec["decision"] == "error" and rec["mode"] == "connect"


def test_curl_with_token_gets_502(start_keyhole, make_upstream, token):
    bad = make_upstream("rogue", name="rogue")
    kh = start_keyhole()
    r = curl(f"https://api.openai.test:{bad.port}/v1/models", proxy=kh.proxy_url,
             cacert=kh.ca_crt, headers=[f"Authorization: Bearer {token}"])
    assert r.rc == 56, (r.rc, r.stderr)
    assert r.connect_status == 502
    assert bad.saw_nothing()
