"""Attack: keep one connection alive to an allowed host, and keep using it after
the operator has denied that host's address (or moved its resolve: pin).

A reload builds a new policy; each request judges its host by it. But the
upstream connection kept alive behind the client's connection was dialled, and
its address checked, under the old one: reused as it was, it carried request 2
to an address upstream_deny_cidrs now refuses, or to where a pin used to point.
A kept upstream is reused only under the policy it was dialled under, so after
the reload request 2 is dialled again: 403 deny_cidr, or the pin's new address.

The tests' default config denies only 127.0.0.2/32, so names pinned to
127.0.0.1 reach the loopback upstreams until the reload adds that address.
"""
from helpers.checks import assert_keyhole_error, echoed
from helpers.client import Conn, open_tunnel

HOST = "other.test"   # a name on the test server certificate


def start(start_keyhole, pin):
    return start_keyhole({"extra_allowed_hosts": [HOST],
                          "resolve": {HOST: pin, "api.openai.test": "127.0.0.1"}})


def deny_loopback(kh):
    kh.reload(upstream_deny_cidrs=["127.0.0.2/32", "127.0.0.1/32"])


def assert_denied(kh, r, upstream):
    assert_keyhole_error(r, 403, "deny_cidr", host=HOST)
    assert len(upstream.requests) == 1, upstream.describe()
    assert upstream.connections == 1, upstream.describe()
    rec = kh.wait_audit(lambda a: a.get("reason") == "deny_cidr")[0]
    assert rec["host"] == HOST and rec["decision"] == "deny", rec


def test_plain_keepalive_refused_after_reload_denies_its_address(start_keyhole, plain_echo):
    kh = start(start_keyhole, "127.0.0.1")
    url = f"http://{HOST}:{plain_echo.port}"
    with Conn.to_proxy(kh.port) as c:
        r = c.request("GET", f"{url}/one", f"{HOST}:{plain_echo.port}")
        assert r.status == 200 and echoed(r)["path"] == "/one", r.status
        assert (r.header("Connection") or "").lower() != "close"
        deny_loopback(kh)
        r = c.request("GET", f"{url}/two", f"{HOST}:{plain_echo.port}")
    assert_denied(kh, r, plain_echo)


def test_tunnel_keepalive_refused_after_reload_denies_its_address(start_keyhole, echo):
    kh = start(start_keyhole, "127.0.0.1")
    with open_tunnel(kh.port, HOST, echo.port, kh.ca_crt) as c:
        r = c.request("GET", "/one", f"{HOST}:{echo.port}")
        assert r.status == 200 and echoed(r)["path"] == "/one", r.status
        deny_loopback(kh)
        r = c.request("GET", "/two", f"{HOST}:{echo.port}")
    assert_denied(kh, r, echo)


def test_keepalive_follows_a_moved_pin(start_keyhole, make_upstream):
    old = make_upstream(None, name="old-pin")
    new = make_upstream(None, name="new-pin")
    kh = start(start_keyhole, f"127.0.0.1:{old.port}")
    with Conn.to_proxy(kh.port) as c:
        r = c.request("GET", f"http://{HOST}/one", HOST)
        assert r.status == 200 and echoed(r)["path"] == "/one", r.status
        kh.reload(resolve={HOST: f"127.0.0.1:{new.port}",
                                 "api.openai.test": "127.0.0.1"})
        r = c.request("GET", f"http://{HOST}/two", HOST)
        assert r.status == 200 and echoed(r)["path"] == "/two", r.status
    assert [q.target for q in old.requests] == ["/one"], old.describe()
    assert [q.target for q in new.requests] == ["/two"], new.describe()
