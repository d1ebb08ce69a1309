"""Resolver starvation: a client that asks keyhole for many names whose DNS
answers are slow (any allowed wildcard whose zone it controls will do) must
not hold up another client's lookups.

Before: four shared getaddrinfo threads served lookups first come, first
served, and a cancelled lookup still ran, so 200 slow names from client A
made client B wait ~20 s and get 504. Now (docs/SECURITY.md, "Audit flood and
resolver starvation"): lookups are asynchronous (c-ares), each source (client
address, or sandbox label) has at most 8 out and its own queue, and answers
are cached for their TTL.

A test DNS server on loopback (dns_servers: in config.yaml) answers
*.wild.test at once and *.slow.test after 3 s. Client A (from 127.0.0.3)
opens 200 CONNECTs to distinct slow names and holds them; client B (from
127.0.0.2) makes full requests (CONNECT, TLS, GET) to fresh fast names, so
no answer comes from the cache. B's latency with the flood must stay within
100 ms of its latency without it."""
import socket
import statistics
import time

import pytest

from helpers.client import Conn
from helpers.dnsserver import DnsServer

SLOW_DELAY = 3.0
FLOOD = 200
SAMPLES = 7
MARGIN = 0.100            # seconds: the bound
A_ADDR, B_ADDR = "127.0.0.3", "127.0.0.2"


@pytest.fixture
def dns():
    srv = DnsServer({"wild.test": "127.0.0.1", "slow.test": "127.0.0.1"},
                    slow={"slow.test": SLOW_DELAY}).start()
    yield srv
    srv.stop()


def connect_from(src, port, timeout):
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                    source_address=(src, 0))
    return Conn(sock, timeout)


def b_request(kh, echo, name):
    """One full request from client B: (status, seconds)."""
    t0 = time.monotonic()
    conn = connect_from(B_ADDR, kh.port, 30)
    try:
        conn.send(f"CONNECT {name}:{echo.port} HTTP/1.1\r\nHost: {name}:{echo.port}\r\n\r\n"
                  .encode())
        r = conn.read_response(connect=True)
        if r.status == 200:
            conn.start_tls(kh.ca_crt, name)
            r = conn.request("GET", "/b", f"{name}:{echo.port}")
    finally:
        conn.close()
    return r.status, time.monotonic() - t0


def measure(kh, echo, tag):
    got = [b_request(kh, echo, f"b{tag}{i}.wild.test") for i in range(SAMPLES)]
    assert all(status == 200 for status, _ in got), got
    return [t for _, t in got]


def test_slow_names_from_one_client_do_not_delay_another(start_keyhole, echo, dns):
    kh = start_keyhole({"dns_servers": [f"127.0.0.1:{dns.port}"],
                        "extra_allowed_hosts": ["*.wild.test", "*.slow.test"]})
    measure(kh, echo, "warm")             # TLS contexts, leaf certificates for echo's names
    base = measure(kh, echo, "base")

    flood = []
    try:
        for i in range(FLOOD):
            c = connect_from(A_ADDR, kh.port, 10)
            c.send(f"CONNECT a{i}.slow.test:{echo.port} HTTP/1.1\r\n"
                   f"Host: a{i}.slow.test:{echo.port}\r\n\r\n".encode())
            flood.append(c)
        deadline = time.monotonic() + 5
        while dns.count("slow.test") == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert dns.count("slow.test") > 0, "the flood never reached DNS"
        loaded = measure(kh, echo, "flood")
        # one source has at most 8 lookups out (A and AAAA each, maybe one retry)
        assert dns.count("slow.test") <= 8 * 2 * 2, dns.count("slow.test")
    finally:
        for c in flood:
            c.close()

    b0, b1 = statistics.median(base), statistics.median(loaded)
    print(f"client B: median {b0 * 1000:.1f} ms alone, {b1 * 1000:.1f} ms under A's flood "
          f"of {FLOOD} slow names (ratio {b1 / b0:.2f}); max {max(loaded) * 1000:.1f} ms")
    assert b1 <= b0 + MARGIN, (base, loaded)
    assert max(loaded) <= max(base) + 1.0, (base, loaded)

    # the daemon is fine afterwards, and A's abandoned lookups are not in anyone's way
    status, _ = b_request(kh, echo, "after.wild.test")
    assert status == 200


def test_answers_are_cached_within_ttl(start_keyhole, echo, dns):
    """The second request for a name within its TTL does not ask DNS again."""
    kh = start_keyhole({"dns_servers": [f"127.0.0.1:{dns.port}"],
                        "extra_allowed_hosts": ["*.wild.test"]})
    for _ in range(3):
        status, _ = b_request(kh, echo, "cached.wild.test")
        assert status == 200
    assert dns.count("cached.wild.test") == 2, dns.queries   # one A and one AAAA


def test_dns_servers_must_be_addresses(start_keyhole):
    kh = start_keyhole({"dns_servers": ["dns.example.com"]}, wait=False)
    assert kh.wait_exit(10) not in (None, 0)
    assert "dns_servers[0]" in kh.stderr_text() and "not a DNS server address" in \
        kh.stderr_text(), kh.stderr_text()
