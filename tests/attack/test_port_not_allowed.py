"""Attack: use an allowed host's other ports (an admin console, a database, a
debug endpoint on api.example.com:8443) through keyhole.

Unless `allowed_ports` widens it, CONNECT (and transparent TLS) reaches port 443
only and plain HTTP (absolute-form, transparent) port 80 only; anything else is
403 port_not_allowed, with a body naming the port, the host and the config key.
The port judged is the one the client asked for: a resolve: pin with a port
(as the tests' upstreams need) sends an allowed request on to that port.

The tests' default config widens every port (TEST_ALLOWED_PORTS); each test
here starts from keyhole's own default instead ("allowed_ports": None)."""
import os
import ssl

from helpers.checks import assert_keyhole_error, echoed
from helpers.client import Conn, open_tunnel, send_connect


def start(start_keyhole, echo, plain_echo, allowed_ports=None):
    return start_keyhole({
        "allowed_ports": allowed_ports,
        "resolve": {"api.openai.test": "127.0.0.1", "other.test": "127.0.0.1",
                    "plain.test": "127.0.0.1",
                    # the client asks for 443 / 80; the upstreams listen elsewhere
                    "p443.wild.test": f"127.0.0.1:{echo.port}",
                    "p80.wild.test": f"127.0.0.1:{plain_echo.port}"},
        "extra_allowed_hosts": ["other.test", "plain.test", "*.wild.test"],
    })


def assert_port_refused(r, host, port):
    assert_keyhole_error(r, 403, "port_not_allowed", host=host)
    assert f"port {port} on {host} is not allowed" in r.text, r.text
    assert f'allowed_ports: {{"{host}": [{port}]}}' in r.text, r.text
    assert "config.yaml" in r.text, r.text


def test_connect_to_another_port_is_refused(start_keyhole, echo, plain_echo):
    kh = start(start_keyhole, echo, plain_echo)
    for port in (8443, echo.port, 80, 22):
        conn, r = send_connect(kh.port, f"api.openai.test:{port}")
        conn.close()
        assert_port_refused(r, "api.openai.test", port)
    assert echo.connections == 0, "keyhole connected to a port it should refuse"
    recs = kh.wait_audit(lambda a: a.get("reason") == "port_not_allowed", n=4)
    assert sorted(a["port"] for a in recs) == sorted((8443, echo.port, 80, 22)), recs
    rec = next(a for a in recs if a["port"] == 22)   # workers' batches come in any order
    assert rec["decision"] == "deny" and rec["status"] == 403 and rec["port"] == 22, rec
    assert "port 22 on api.openai.test is not allowed" in rec["detail"], rec


def test_port_443_is_allowed(start_keyhole, echo, plain_echo):
    """443 needs no rule; the pin's port is where keyhole then dials."""
    kh = start(start_keyhole, echo, plain_echo)
    conn = open_tunnel(kh.port, "p443.wild.test", 443, kh.ca_crt)
    r = conn.request("GET", "/via-443", "p443.wild.test")
    conn.close()
    assert r.status == 200 and echoed(r)["path"] == "/via-443", r


def test_plain_http_port_80_only(start_keyhole, echo, plain_echo):
    kh = start(start_keyhole, echo, plain_echo)
    with Conn.to_proxy(kh.port) as c:
        r = c.request("GET", "http://p80.wild.test/p80", "p80.wild.test")
    assert r.status == 200 and echoed(r)["path"] == "/p80", r
    for port in (8080, 443, plain_echo.port):
        with Conn.to_proxy(kh.port) as c:
            r = c.request("GET", f"http://plain.test:{port}/", f"plain.test:{port}")
        assert_port_refused(r, "plain.test", port)
    assert len(plain_echo.complete_requests()) == 1


def test_transparent_mode_uses_443_and_80(start_keyhole, echo, plain_echo):
    """A sandbox's ports 443 and 80 (tls.sock, http.sock) need no rule either."""
    kh = start(start_keyhole, echo, plain_echo)
    with Conn.to_unix(os.path.join(kh.home, "http.sock")) as c:
        r = c.request("GET", "/t80", "p80.wild.test")
    assert r.status == 200 and echoed(r)["path"] == "/t80", r
    with Conn.to_unix(os.path.join(kh.home, "tls.sock")) as c:
        c.sock = ssl.create_default_context(cafile=kh.ca_crt).wrap_socket(
            c.sock, server_hostname="p443.wild.test")
        r = c.request("GET", "/t443", "p443.wild.test")
    assert r.status == 200 and echoed(r)["path"] == "/t443", r


def test_allowed_ports_widens_matching_hosts(start_keyhole, echo, plain_echo):
    kh = start(start_keyhole, echo, plain_echo, allowed_ports={
        "api.openai.test": [8443, f"{echo.port}-{echo.port}"],
        "*.plain.test": [plain_echo.port],      # not plain.test itself
        "plain.test": [8080]})
    conn = open_tunnel(kh.port, "api.openai.test", echo.port, kh.ca_crt)
    r = conn.request("GET", "/widened", "api.openai.test")
    conn.close()
    assert r.status == 200 and echoed(r)["path"] == "/widened", r
    conn, r = send_connect(kh.port, f"other.test:{echo.port}")   # another host: still refused
    conn.close()
    assert_port_refused(r, "other.test", echo.port)
    with Conn.to_proxy(kh.port) as c:
        r = c.request("GET", f"http://plain.test:{plain_echo.port}/", "plain.test")
    assert_port_refused(r, "plain.test", plain_echo.port)
    recs = kh.wait_audit(lambda a: a.get("decision") == "deny", n=2)
    # two connections may land on two workers, whose batches reach the log in
    # either order
    assert sorted((a["reason"], a["host"]) for a in recs) == \
        [("port_not_allowed", "other.test"), ("port_not_allowed", "plain.test")], recs
