"""A reload applies to connections already open, from their next request: a
host the new config no longer allows is refused (403 host_not_allowed) inside
an intercepted tunnel that was opened to it, and on a kept-alive plain-proxy
connection, and nothing more reaches the upstream. (A reload that denies the
kept upstream's address: tests/attack/test_reload_keepalive_deny.py.)"""
from helpers.checks import assert_keyhole_error, echoed
from helpers.client import Conn, open_tunnel

HOST = "other.test"   # a name on the test server certificate, pinned to 127.0.0.1


def drop_host(kh):
    kh.reload(extra_allowed_hosts=["plain.test"])


def assert_refused(kh, r, upstream):
    assert_keyhole_error(r, 403, "host_not_allowed", host=HOST)
    assert [q.target for q in upstream.requests] == ["/one"], upstream.describe()
    rec = kh.wait_audit(lambda a: a.get("reason") == "host_not_allowed")[0]
    assert rec["host"] == HOST and rec["path"] == "/two", rec


def test_tunnel_refused_after_reload_drops_its_host(start_keyhole, echo):
    kh = start_keyhole()
    with open_tunnel(kh.port, HOST, echo.port, kh.ca_crt) as c:
        r = c.request("GET", "/one", f"{HOST}:{echo.port}")
        assert r.status == 200 and echoed(r)["path"] == "/one", r.status
        drop_host(kh)
        r = c.request("GET", "/two", f"{HOST}:{echo.port}")
    assert_refused(kh, r, echo)


def test_plain_keepalive_refused_after_reload_drops_its_host(start_keyhole, plain_echo):
    kh = start_keyhole()
    url = f"http://{HOST}:{plain_echo.port}"
    with Conn.to_proxy(kh.port) as c:
        r = c.request("GET", f"{url}/one", f"{HOST}:{plain_echo.port}")
        assert r.status == 200 and echoed(r)["path"] == "/one", r.status
        drop_host(kh)
        r = c.request("GET", f"{url}/two", f"{HOST}:{plain_echo.port}")
    assert_refused(kh, r, plain_echo)
