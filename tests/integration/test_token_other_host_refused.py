"""A proxy token is scoped to its mapping's hosts: sent to another allowed host
it is refused with 403 token_leak_attempt and nothing reaches that host."""
from helpers.checks import assert_keyhole_error, assert_no_leak, echoed, echoed_headers
from helpers.client import open_tunnel


def test_token_to_other_host_is_refused(start_keyhole, make_upstream, token, secret):
    other = make_upstream("server", name="other.test")
    kh = start_keyhole()
    with open_tunnel(kh.port, "other.test", other.port, kh.ca_crt) as c:
        r = c.request("GET", "/v1/models", f"other.test:{other.port}",
                      [("Authorization", f"Bearer {token}")])
    assert_keyhole_error(r, 403, "token_leak_attempt", host="other.test")
    assert other.saw_nothing(), other.describe()

    rec = kh.wait_audit(lambda a: a.get("reason") == "token_leak_attempt")[0]
    assert rec["decision"] == "deny" and rec["host"] == "other.test"
    assert rec["swapped"] == []
    assert_no_leak(kh, [secret], [token])


def test_same_host_without_token_still_allowed(start_keyhole, make_upstream, token):
    """Control: other.test itself is reachable; only the token is refused there."""
    other = make_upstream("server", name="other.test")
    kh = start_keyhole()
    with open_tunnel(kh.port, "other.test", other.port, kh.ca_crt) as c:
        r = c.request("GET", "/ok", f"other.test:{other.port}",
                      [("Authorization", "Bearer some-other-key")])
    assert r.status == 200
    assert echoed_headers(echoed(r), "Authorization") == ["Bearer some-other-key"]
