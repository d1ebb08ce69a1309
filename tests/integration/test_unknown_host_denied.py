"""Hosts outside the allowlist are refused before any connection is made,
for CONNECT and for plain-HTTP absolute-form requests, and the refusal tells
the operator which rule to add (extra_allowed_hosts)."""
from helpers.checks import assert_keyhole_error
from helpers.client import Conn, curl, send_connect


def test_connect_to_unknown_host_refused(start_keyhole):
    kh = start_keyhole()
    conn, r = send_connect(kh.port, "nothere.test:443")
    conn.close()
    assert_keyhole_error(r, 403, "host_not_allowed", host="nothere.test")
    assert "extra_allowed_hosts" in r.text

    rec = kh.wait_audit(lambda a: a.get("host") == "nothere.test")[0]
    assert rec["mode"] == "connect" and rec["decision"] == "deny"
    assert rec["reason"] == "host_not_allowed" and rec["status"] == 403


def test_curl_sees_connect_403(start_keyhole):
    kh = start_keyhole()
    r = curl("https://nothere.test/", proxy=kh.proxy_url, cacert=kh.ca_crt)
    assert r.rc == 56, (r.rc, r.stderr)
    assert r.connect_status == 403


def test_plain_http_to_unknown_host_refused(start_keyhole):
    kh = start_keyhole()
    with Conn.to_proxy(kh.port) as c:
        r = c.request("GET", "http://nothere.test/v1/x", "nothere.test")
    assert_keyhole_error(r, 403, "host_not_allowed", host="nothere.test")
    assert "extra_allowed_hosts" in r.text


def test_wildcard_matches_subdomains_not_apex(start_keyhole, echo):
    """`*.wild.test` admits a.wild.test (any depth) but not wild.test itself."""
    kh = start_keyhole({
        "extra_allowed_hosts": ["*.wild.test"],
        "resolve": {"a.wild.test": "127.0.0.1", "x.y.wild.test": "127.0.0.1",
                    "wild.test": "127.0.0.1"},
    })
    for host in ("a.wild.test", "x.y.wild.test"):
        conn, r = send_connect(kh.port, f"{host}:{echo.port}")
        conn.close()
        assert r.status == 200, (host, r.status, r.text)
    conn, r = send_connect(kh.port, f"wild.test:{echo.port}")
    conn.close()
    assert_keyhole_error(r, 403, "host_not_allowed", host="wild.test")
