"""upstream_deny_cidrs is checked on the *resolved* address: a name that is
allowed but resolves into a denied range is refused (403 deny_cidr) before
any connection, including IPv4-mapped IPv6 and the default deny list."""
from helpers.checks import assert_keyhole_error
from helpers.client import Conn, send_connect


def test_allowed_name_resolving_to_denied_address(start_keyhole, make_upstream, echo):
    live = make_upstream("server", host="127.0.0.2", name="live@127.0.0.2")
    kh = start_keyhole()   # denied.test -> 127.0.0.2, upstream_deny_cidrs: [127.0.0.2/32]
    conn, r = send_connect(kh.port, f"denied.test:{live.port}")
    conn.close()
    assert_keyhole_error(r, 403, "deny_cidr", host="denied.test")
    assert live.connections == 0, "keyhole connected to a denied address"

    rec = kh.wait_audit(lambda a: a.get("host") == "denied.test")[0]
    assert rec["decision"] == "deny" and rec["reason"] == "deny_cidr"

    # control: the same daemon reaches an allowed address
    conn, r = send_connect(kh.port, f"api.openai.test:{echo.port}")
    conn.close()
    assert r.status == 200


def test_plain_http_to_denied_address(start_keyhole, make_upstream):
    live = make_upstream(None, host="127.0.0.2", name="plain@127.0.0.2")
    kh = start_keyhole()
    with Conn.to_proxy(kh.port) as c:
        r = c.request("GET", f"http://denied.test:{live.port}/x", f"denied.test:{live.port}")
    assert_keyhole_error(r, 403, "deny_cidr", host="denied.test")
    assert live.connections == 0


def test_ipv4_mapped_ipv6_is_unmapped(start_keyhole, make_upstream):
    """denied6.test -> ::ffff:127.0.0.2 must match the IPv4 rule 127.0.0.2/32."""
    live = make_upstream("server", host="127.0.0.2", name="live@127.0.0.2")
    kh = start_keyhole()
    conn, r = send_connect(kh.port, f"denied6.test:{live.port}")
    conn.close()
    assert_keyhole_error(r, 403, "deny_cidr", host="denied6.test")
    assert live.connections == 0


def test_default_deny_list_refuses_loopback(start_keyhole, echo):
    """With upstream_deny_cidrs absent the defaults apply, and they include 127.0.0.0/8."""
    kh = start_keyhole({"upstream_deny_cidrs": None})
    conn, r = send_connect(kh.port, f"api.openai.test:{echo.port}")
    conn.close()
    assert_keyhole_error(r, 403, "deny_cidr", host="api.openai.test")
    assert echo.connections == 0
