"""Plain-HTTP absolute-form requests: a real key is sent in cleartext only to
hosts listed in cleartext_credential_hosts; otherwise 403
cleartext_credential; requests without a token pass either way."""
from helpers.checks import assert_keyhole_error, assert_no_leak, echoed, echoed_headers
from helpers.client import Conn, curl
from helpers.keyhole import mapping

HOSTS = ("api.openai.test", "plain.test")


def test_token_swapped_when_cleartext_allowed(start_keyhole, plain_echo, token, secret):
    kh = start_keyhole({"cleartext_credential_hosts": ["plain.test"]},
                       mappings=[mapping(token, hosts=HOSTS)])
    r = curl(f"http://plain.test:{plain_echo.port}/v1/models?x=1", proxy=kh.proxy_url,
             headers=[f"Authorization: Bearer {token}"])
    assert r.rc == 0, r.stderr
    assert r.status == 200
    doc = echoed(r)
    assert echoed_headers(doc, "Authorization") == [f"Bearer {secret}"]
    assert token.encode() not in plain_echo.raw
    rec = kh.wait_audit(lambda a: a.get("mode") == "http" and a.get("status") == 200)[0]
    assert rec["swapped"] == ["OPENAI_API_KEY"] and rec["host"] == "plain.test"
    assert rec["path"] == "/v1/models"
    assert_no_leak(kh, [secret], [token])


def test_token_refused_in_cleartext(start_keyhole, plain_echo, token, secret):
    kh = start_keyhole(mappings=[mapping(token, hosts=HOSTS)])
    with Conn.to_proxy(kh.port) as c:
        r = c.request("GET", f"http://plain.test:{plain_echo.port}/v1/models",
                      f"plain.test:{plain_echo.port}", [("Authorization", f"Bearer {token}")])
    assert_keyhole_error(r, 403, "cleartext_credential", host="plain.test")
    assert plain_echo.saw_nothing(), plain_echo.describe()
    kh.wait_audit(lambda a: a.get("reason") == "cleartext_credential")
    assert_no_leak(kh, [secret], [token])


def test_request_without_token_passes(start_keyhole, plain_echo):
    kh = start_keyhole()
    r = curl(f"http://plain.test:{plain_echo.port}/free", proxy=kh.proxy_url,
             headers=["X-Test: 1"])
    assert r.rc == 0, r.stderr
    assert r.status == 200
    doc = echoed(r)
    assert doc["path"].endswith("/free")
    assert echoed_headers(doc, "X-Test") == ["1"]
    assert echoed_headers(doc, "Authorization") == []
    assert len(plain_echo.complete_requests()) == 1


def test_keep_alive_requests_each_checked(start_keyhole, plain_echo, token):
    """Two absolute-form requests on one connection: the second, carrying a token
    in cleartext, is refused even though the first passed."""
    kh = start_keyhole(mappings=[mapping(token, hosts=HOSTS)])
    host = f"plain.test:{plain_echo.port}"
    with Conn.to_proxy(kh.port) as c:
        first = c.request("GET", f"http://{host}/one", host)
        assert first.status == 200
        second = c.request("GET", f"http://{host}/two", host,
                           [("Authorization", f"Bearer {token}")])
    assert_keyhole_error(second, 403, "cleartext_credential")
    assert [q.target.rsplit("/", 1)[1] for q in plain_echo.requests] == ["one"]
