"""Attack: reach the host, its network or a translator by an address in a
special-purpose range: "this host" (0.0.0.0/8, ::), loopback, link-local,
private, CGNAT, IETF, documentation, benchmark, multicast, reserved and
broadcast, local NAT64, site-local, and IPv6 forms that stand for an IPv4
address (NAT64 64:ff9b::/96, 6to4 2002::/16, IPv4-mapped, IPv4-compatible).

Each address is allowlisted on purpose and asked for three ways (CONNECT to the
literal, an absolute-form URL with the literal, CONNECT to an allowed name
pinned to it): with the default deny list each is refused with 403 deny_cidr
naming the range. An operator's own list is applied to the IPv4 address inside
the IPv6 forms too, and `upstream_deny_cidrs: []` turns the check off.

keyhole runs in a network namespace of its own with only loopback (reached
through its proxy.sock), so an address that is not refused goes nowhere: it
fails fast with 502 instead of reaching this machine's network."""
import os
import shutil
import subprocess
import time

import pytest

from helpers.client import Closed, Conn

IP = shutil.which("ip") or "/usr/sbin/ip"

# (address, range named in the refusal, extra text the refusal must hold)
DEFAULT_DENIED = [
    ("0.0.0.0", "0.0.0.0/8", None),
    ("0.1.2.3", "0.0.0.0/8", None),
    ("::", "::/128", None),
    ("::1.2.3.4", "::/96", None),
    ("::127.0.0.1", "127.0.0.0/8", "IPv4-compatible for 127.0.0.1"),
    ("127.0.0.1", "127.0.0.0/8", None),
    ("::1", "::1/128", None),
    ("169.254.169.254", "169.254.0.0/16", None),
    ("fe80::1", "fe80::/10", None),
    ("10.0.0.1", "10.0.0.0/8", None),
    ("172.16.0.1", "172.16.0.0/12", None),
    ("192.168.1.1", "192.168.0.0/16", None),
    ("fd00::1", "fc00::/7", None),
    ("100.64.0.1", "100.64.0.0/10", None),
    ("198.18.0.1", "198.18.0.0/15", None),
    ("192.0.0.170", "192.0.0.0/24", None),
    ("192.0.2.1", "192.0.2.0/24", None),
    ("198.51.100.1", "198.51.100.0/24", None),
    ("203.0.113.1", "203.0.113.0/24", None),
    ("2001:db8::1", "2001:db8::/32", None),
    ("224.0.0.1", "224.0.0.0/4", None),
    ("239.255.255.250", "224.0.0.0/4", None),
    ("240.0.0.1", "240.0.0.0/4", None),
    ("255.255.255.255", "240.0.0.0/4", None),
    ("ff02::1", "ff00::/8", None),
    ("64:ff9b:1::a00:1", "64:ff9b:1::/48", None),
    ("fec0::1", "fec0::/10", None),
    ("::ffff:169.254.169.254", "169.254.0.0/16", "IPv4-mapped for 169.254.169.254"),
    ("64:ff9b::7f00:1", "127.0.0.0/8", "NAT64 for 127.0.0.1"),
    ("64:ff9b::a9fe:a9fe", "169.254.0.0/16", "NAT64 for 169.254.169.254"),
    ("2002:7f00:1::", "127.0.0.0/8", "6to4 for 127.0.0.1"),
    ("2002:a9fe:a9fe::1", "169.254.0.0/16", "6to4 for 169.254.169.254"),
]
# Public addresses, and IPv6 forms of one: not denied (only unreachable here).
NOT_DENIED = ["1.1.1.1", "2606:4700::1111", "64:ff9b::808:808", "2002:808:808::1"]


def bracket(addr):
    return f"[{addr}]" if ":" in addr else addr


@pytest.fixture(scope="module")
def netns_wrapper():
    """A command prefix that runs keyhole in a new network namespace with lo up."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) not installed")
    r = subprocess.run(["unshare", "--net", "--", IP, "link", "set", "lo", "up"],
                       capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        pytest.skip(f"cannot make a network namespace here: {r.stderr.strip()}")
    return ("unshare", "--net", "--", "/bin/sh", "-c", f'{IP} link set lo up && exec "$0" "$@"')


def start_isolated(start_keyhole, wrapper, config):
    kh = start_keyhole(config, wrapper=wrapper, wait=False)
    sock = os.path.join(kh.home, "proxy.sock")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert kh.running(), f"keyhole exited:\n{kh.stderr_text()}"
        try:
            with Conn.to_unix(sock, timeout=2) as c:
                if c.request("GET", "/healthz", "localhost").status == 200:
                    return kh
        except (OSError, Closed):
            pass
        time.sleep(0.05)
    raise AssertionError(f"keyhole not ready within 10 s:\n{kh.stderr_text()}")


def ask(kh, method, target, host):
    with Conn.to_unix(os.path.join(kh.home, "proxy.sock")) as c:
        c.send(f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        return c.read_response(connect=method == "CONNECT", method=method)


def refusal_problems(kh, what, r, range_, text):
    """Why r is not a 403 deny_cidr naming range_ (and text), or None."""
    reason = r.header("X-Keyhole-Reason")
    if r.status != 403 or reason != "deny_cidr":
        return f"{what}: {r.status} {reason} {r.text.strip()!r}"
    if f"denied range {range_} (upstream_deny_cidrs)" not in r.text or \
            (text is not None and text not in r.text):
        return f"{what}: wrong range or wording: {r.text.strip()!r}"
    return None


def three_ways(kh, addr, i):
    lit = bracket(addr)
    return [(f"CONNECT {lit}:443", ask(kh, "CONNECT", f"{lit}:443", f"{lit}:443")),
            (f"GET http://{lit}/", ask(kh, "GET", f"http://{lit}/", lit)),
            (f"CONNECT r{i}.test:443 (pinned)", ask(kh, "CONNECT", f"r{i}.test:443",
                                                    f"r{i}.test:443"))]


def config_for(addrs, deny):
    return {"upstream_deny_cidrs": deny,
            "extra_allowed_hosts": list(addrs) + [f"r{i}.test" for i in range(len(addrs))],
            "resolve": {f"r{i}.test": a for i, a in enumerate(addrs)},
            "timeouts": {"connect": 3}}


def test_default_list_refuses_each_range(start_keyhole, netns_wrapper):
    addrs = [a for a, _, _ in DEFAULT_DENIED] + NOT_DENIED
    kh = start_isolated(start_keyhole, netns_wrapper, config_for(addrs, None))
    problems = []
    for i, (addr, range_, text) in enumerate(DEFAULT_DENIED):
        for what, r in three_ways(kh, addr, i):
            problems.append(refusal_problems(kh, what, r, range_, text))
    for i, addr in enumerate(NOT_DENIED, start=len(DEFAULT_DENIED)):
        for what, r in three_ways(kh, addr, i):
            if r.status != 502 or r.header("X-Keyhole-Reason") != "upstream_connect_failed":
                problems.append(f"{what}: {r.status} {r.text.strip()!r} (expected no route)")
    problems = [p for p in problems if p]
    assert not problems, "\n".join(problems)
    recs = kh.wait_audit_count(lambda a: a.get("reason") == "deny_cidr", n=3 * len(DEFAULT_DENIED))
    assert all(a["decision"] == "deny" and a["status"] == 403 for a in recs)


def test_operator_list_applies_to_embedded_ipv4(start_keyhole, netns_wrapper):
    denied = [("10.1.2.3", None), ("::ffff:10.1.2.3", "IPv4-mapped for 10.1.2.3"),
              ("64:ff9b::a01:203", "NAT64 for 10.1.2.3"), ("2002:a01:203::", "6to4 for 10.1.2.3"),
              ("::10.1.2.3", "IPv4-compatible for 10.1.2.3")]
    allowed = ["0.0.0.0", "127.0.0.1", "64:ff9b::b01:203"]   # not in the operator's list
    kh = start_isolated(start_keyhole, netns_wrapper,
                        config_for([a for a, _ in denied] + allowed, ["10.0.0.0/8"]))
    problems = []
    for i, (addr, text) in enumerate(denied):
        for what, r in three_ways(kh, addr, i):
            problems.append(refusal_problems(kh, what, r, "10.0.0.0/8", text))
    for i, addr in enumerate(allowed, start=len(denied)):
        for what, r in three_ways(kh, addr, i):
            if r.status != 502:
                problems.append(f"{what}: {r.status} {r.text.strip()!r} (expected a dial)")
    problems = [p for p in problems if p]
    assert not problems, "\n".join(problems)


def test_empty_list_turns_the_check_off(start_keyhole, netns_wrapper):
    """`upstream_deny_cidrs: []` is the operator's explicit choice: even a pin
    to 0.0.0.0 is dialled (here: nothing listens on the namespace's port 443)."""
    kh = start_isolated(start_keyhole, netns_wrapper, config_for(["0.0.0.0", "::"], []))
    for what, r in three_ways(kh, "0.0.0.0", 0) + three_ways(kh, "::", 1):
        assert r.status == 502 and r.header("X-Keyhole-Reason") == "upstream_connect_failed", \
            f"{what}: {r.status} {r.text!r}"
