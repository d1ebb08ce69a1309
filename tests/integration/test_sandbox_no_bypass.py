"""Nothing leaves `keyhole sandbox` except through keyhole.

From inside: the only interface is loopback and there is no route; a direct TCP
connect to the test upstream's 127.0.0.1:<port> is refused (the sandbox's
loopback is its own); a connect to the host's own non-loopback address fails
fast with ENETUNREACH (with no such address, 192.0.2.1 is used, only once the
route table is known to be empty); a host abstract Unix socket is out of reach;
`curl --noproxy '*'` fails, also with the right address forced; allowed names
resolve only to the sandbox's own loopback and other names do not resolve; and
the only listening sockets are the proxy port on 127.0.0.1, which answers
/healthz as keyhole, and the transparent relays on :443 and :80 of 127.0.0.1
and ::1."""
import json
import os
import secrets
import socket
import subprocess

from helpers.cli import cli  # noqa: F401
from helpers.sandbox import PY, sandbox  # noqa: F401

PROBE = r'''
import errno, json, socket, sys, time

upstream_port, outside_port, proxy_port = (int(a) for a in sys.argv[1:4])
host_ip, abstract = sys.argv[4], sys.argv[5]
out = {}

def attempt(family, addr):
    t0 = time.monotonic()
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(addr)
        res = "connected"
    except OSError as e:
        res = errno.errorcode.get(e.errno, str(e))
    finally:
        s.close()
    return {"result": res, "seconds": round(time.monotonic() - t0, 3)}

with open("/proc/net/route") as f:
    out["routes4"] = [l.split()[:2] for l in f.read().splitlines()[1:] if l.strip()]
with open("/proc/net/dev") as f:
    out["ifaces"] = sorted(l.split(":")[0].strip() for l in f.read().splitlines()[2:])
try:
    with open("/proc/net/ipv6_route") as f:
        out["routes6"] = sorted({l.split()[-1] for l in f.read().splitlines() if l.strip()})
except OSError:
    out["routes6"] = []
no_route = not out["routes4"] and out["ifaces"] == ["lo"] and set(out["routes6"]) <= {"lo"}
out["no_route"] = no_route

out["upstream_loopback"] = attempt(socket.AF_INET, ("127.0.0.1", upstream_port))
out["upstream_loopback6"] = attempt(socket.AF_INET6, ("::1", upstream_port))
if host_ip != "-" or no_route:      # 192.0.2.1 only when nothing could leave anyway
    target = host_ip if host_ip != "-" else "192.0.2.1"
    out["outside"] = dict(attempt(socket.AF_INET, (target, outside_port)), target=target)
u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    u.connect("\0" + abstract)
    out["abstract"] = "connected"
except OSError as e:
    out["abstract"] = errno.errorcode.get(e.errno, str(e))
u.close()
if no_route:
    dns = {}
    for name in ("api.openai.test", "other.test", "not-listed.test", "example.com"):
        try:
            dns[name] = sorted({a[4][0] for a in socket.getaddrinfo(name, 443)})
        except socket.gaierror as e:
            dns[name] = "gaierror"
    out["dns"] = dns
listen = []
for path in ("/proc/net/tcp", "/proc/net/tcp6"):
    with open(path) as f:
        for l in f.read().splitlines()[1:]:
            parts = l.split()
            if parts[3] == "0A":
                listen.append(parts[1])
out["listening"] = listen
s = socket.create_connection(("127.0.0.1", proxy_port), timeout=5)
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
out["healthz"] = data.decode("latin-1")
print(json.dumps(out))
'''


def host_global_ipv4():
    r = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"],
                       capture_output=True, text=True, timeout=5)
    for line in r.stdout.splitlines():
        parts = line.split()
        if "inet" in parts:
            return parts[parts.index("inet") + 1].split("/")[0]
    return None


def test_sandbox_no_bypass(sandbox, echo):
    probe = os.path.join(sandbox.workdir, "probe.py")
    with open(probe, "w") as f:
        f.write(PROBE)
    host_ip = host_global_ipv4()
    abstract = f"kh-test-{secrets.token_hex(6)}"
    listeners = []
    try:
        a = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        a.bind("\0" + abstract)
        a.listen(1)
        listeners.append(a)
        if host_ip is not None:
            # a listener on the host's own address, so a leak would have somewhere to land
            h = socket.socket()
            h.bind((host_ip, 0))
            h.listen(1)
            listeners.append(h)
            target_port = h.getsockname()[1]
        else:
            target_port = echo.port
        r = sandbox.run(PY, probe, str(echo.port), str(target_port), str(sandbox.port),
                        host_ip or "-", abstract)
    finally:
        for s in listeners:
            s.close()
    assert r.rc == 0, r
    got = json.loads(r.out)
    where = json.dumps(got, indent=1)

    assert got["no_route"], f"the sandbox has a network beyond loopback: {where}"
    assert got["upstream_loopback"]["result"] == "ECONNREFUSED", where
    assert got["upstream_loopback6"]["result"] in ("ECONNREFUSED", "EADDRNOTAVAIL",
                                                   "ENETUNREACH", "EAFNOSUPPORT"), where
    assert got["outside"]["result"] == "ENETUNREACH", where
    assert got["outside"]["seconds"] < 2, where
    assert got["abstract"] == "ECONNREFUSED", where
    dns = got["dns"]
    for name in ("api.openai.test", "other.test"):      # allowed: only our own loopback
        assert dns[name] == ["127.0.0.1", "::1"], f"{name}: {where}"
    for name in ("not-listed.test", "example.com"):    # not allowed: no answer at all
        assert dns[name] == "gaierror", f"{name} resolved inside the sandbox: {where}"
    v4, v6 = "0100007F", "00000000000000000000000001000000"
    assert sorted(got["listening"]) == sorted(
        ["%s:%04X" % (v4, sandbox.port), f"{v4}:01BB", f"{v4}:0050", f"{v6}:01BB",
         f"{v6}:0050"]), where
    assert got["healthz"].startswith("HTTP/1.1 200"), where
    assert "keyhole " in got["healthz"], where
    assert echo.saw_nothing(), echo.describe()


def test_sandbox_curl_noproxy_fails(sandbox, echo):
    url = f"https://api.openai.test:{echo.port}/direct"
    r = sandbox.run("curl", "-q", "-sS", "--max-time", "5", "--noproxy", "*", url)
    assert r.rc != 0, r
    # even with the address forced, there is nothing there but the sandbox's own loopback
    r = sandbox.run("curl", "-q", "-sS", "--max-time", "5", "--noproxy", "*", "--resolve",
                    f"api.openai.test:{echo.port}:127.0.0.1", url)
    assert r.rc == 7, r      # couldn't connect
    assert echo.saw_nothing(), echo.describe()
