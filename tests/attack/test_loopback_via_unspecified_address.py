"""Attack: reach the host's loopback services (keyhole's own metrics and proxy
ports, anything bound to 127.0.0.1 or ::1) by asking for 0.0.0.0 or ::, which
Linux connects to loopback, or for another spelling of a loopback address.

The sandbox names the address as a CONNECT target, in an absolute URL, in the
Host header or the SNI of a transparent connection, or gets an allowed name
that resolves (here: a resolve: pin) to it. With the default deny list every
one is refused before any connection: 403 deny_cidr naming the range (or 400
for spellings that are not a host at all), and the real listeners on 127.0.0.1
and ::1 see no connection. The addresses are allowlisted on purpose, so the
deny list is what is tested, not the allowlist."""
import os
import socket
import ssl

import pytest

from helpers.checks import assert_keyhole_error
from helpers.client import Conn, send_connect


@pytest.fixture
def services(make_upstream):
    """A plain HTTP service on 127.0.0.1 and one on ::1 (ports chosen by the kernel)."""
    return make_upstream(None, name="loopback-service"), \
        make_upstream(None, host="::1", name="loopback6-service")


@pytest.fixture
def kh(start_keyhole, services):
    v4, v6 = services
    return start_keyhole({
        "upstream_deny_cidrs": None,          # the default list
        "resolve": {"zero.test": "0.0.0.0", "zero6.test": "::",
                    "zerop.test": f"0.0.0.0:{v4.port}", "zero6p.test": f"[::]:{v6.port}"},
        "extra_allowed_hosts": ["0.0.0.0", "::", "::ffff:127.0.0.1", "zero.test",
                                "zero6.test", "zerop.test", "zero6p.test"],
    })


def connect_refused(kh, authority, range_, text=None):
    conn, r = send_connect(kh.port, authority)
    conn.close()
    assert_keyhole_error(r, 403, "deny_cidr")
    assert f"denied range {range_}" in r.text and "upstream_deny_cidrs" in r.text, r.text
    assert text is None or text in r.text, r.text


def get_refused(kh, url, host, range_):
    with Conn.to_proxy(kh.port) as c:
        r = c.request("GET", url, host)
    assert_keyhole_error(r, 403, "deny_cidr")
    assert f"denied range {range_}" in r.text, r.text


def test_unspecified_addresses_do_not_reach_loopback(kh, services):
    v4, v6 = services
    connect_refused(kh, f"0.0.0.0:{v4.port}", "0.0.0.0/8")
    get_refused(kh, f"http://0.0.0.0:{v4.port}/", f"0.0.0.0:{v4.port}", "0.0.0.0/8")
    connect_refused(kh, f"[::]:{v6.port}", "::/128")
    get_refused(kh, f"http://[::]:{v6.port}/", f"[::]:{v6.port}", "::/128")
    # an allowed name pinned to them (a name in DNS answering 0.0.0.0 is the same)
    connect_refused(kh, f"zero.test:{v4.port}", "0.0.0.0/8",
                    "zero.test is pinned (resolve:) to 0.0.0.0")
    get_refused(kh, f"http://zero6.test:{v6.port}/", f"zero6.test:{v6.port}", "::/128")
    # IPv4-mapped: caught as 127.0.0.1 (and by ::ffff:0:0/96)
    connect_refused(kh, f"[::ffff:127.0.0.1]:{v4.port}", "127.0.0.0/8")
    assert v4.connections == 0 and v6.connections == 0, "keyhole reached a loopback service"


def test_keyholes_own_endpoints_are_not_reachable(kh):
    _, _, metrics_port = kh.metrics_addr.rpartition(":")
    get_refused(kh, f"http://0.0.0.0:{metrics_port}/metrics", f"0.0.0.0:{metrics_port}",
                "0.0.0.0/8")
    connect_refused(kh, f"0.0.0.0:{kh.port}", "0.0.0.0/8")
    get_refused(kh, f"http://0.0.0.0:{kh.port}/healthz", f"0.0.0.0:{kh.port}", "0.0.0.0/8")
    recs = kh.wait_audit(lambda a: a.get("reason") == "deny_cidr", n=3)
    assert all(a["decision"] == "deny" and a["host"] == "0.0.0.0" for a in recs), recs


def test_transparent_host_and_sni(kh, services):
    """Transparent mode (a sandbox's ports 80 and 443): the Host header and the
    SNI name the destination; a pin carries the loopback service's port."""
    v4, v6 = services
    for host in ("zerop.test", "zero6p.test"):
        with Conn.to_unix(os.path.join(kh.home, "http.sock")) as c:
            r = c.request("GET", "/", host)
        assert_keyhole_error(r, 403, "deny_cidr", host=host)
    ctx = ssl.create_default_context(cafile=kh.ca_crt)
    with Conn.to_unix(os.path.join(kh.home, "tls.sock")) as c:
        with pytest.raises((ssl.SSLError, OSError)):
            ctx.wrap_socket(c.sock, server_hostname="zerop.test").do_handshake()
    rec = kh.wait_audit(lambda a: a.get("host") == "zerop.test" and a.get("mode") ==
                        "transparent")[0]
    assert rec["reason"] == "deny_cidr" and rec["decision"] == "deny", rec
    assert v4.connections == 0 and v6.connections == 0, "keyhole reached a loopback service"


SPELLINGS = ["0", "0x7f.1", "2130706433", "0177.0.0.1", "127.1", "0x7f000001",
             "0x7f.0x0.0x0.0x1", "[fe80::1%25lo]", "[fe80::1%lo]"]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_other_spellings_of_loopback_are_not_hosts(kh, services, spelling):
    """glibc reads these as 127.0.0.1 or 0.0.0.0; keyhole never treats them as
    names (which an allowlist might match and DNS would then turn into numbers)."""
    v4, _ = services
    authority = f"{spelling}:{v4.port}"
    conn, r = send_connect(kh.port, authority)
    conn.close()
    assert_keyhole_error(r, 400, "bad_request")
    assert "dotted-quad" in r.text, r.text   # the refusal says which spellings are hosts
    with Conn.to_proxy(kh.port) as c:
        r = c.request("GET", f"http://{authority}/", authority)
    assert_keyhole_error(r, 400, "bad_request")
    with Conn.to_unix(os.path.join(kh.home, "http.sock")) as c:
        r = c.request("GET", "/", authority)
    assert_keyhole_error(r, 400, "bad_request")
    assert v4.connections == 0


def test_allowlist_refuses_number_names_in_config(start_keyhole):
    """The same rule applies to the operator's own lists: "0x7f000001" is not a name."""
    kh = start_keyhole({"extra_allowed_hosts": ["0x7f000001"]}, wait=False)
    assert kh.wait_exit(10) not in (None, 0)
    assert "extra_allowed_hosts[0]: '0x7f000001' is not a host pattern" in kh.stderr_text()


def test_direct_connect_would_have_reached_it(services):
    """Control: on this machine 0.0.0.0 and :: really do lead to the services."""
    v4, v6 = services
    for family, addr, srv in ((socket.AF_INET, "0.0.0.0", v4), (socket.AF_INET6, "::", v6)):
        with socket.socket(family) as s:
            s.settimeout(5)
            s.connect((addr, srv.port))
            s.sendall(b"GET /direct HTTP/1.1\r\nHost: x\r\n\r\n")
            srv.wait_requests(1)
