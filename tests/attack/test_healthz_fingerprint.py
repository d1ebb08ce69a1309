"""A sandbox asks the proxy about itself: /healthz on the proxy listeners (TCP and
proxy.sock, both reachable from a sandbox) used to answer
`keyhole <version> pid=<pid> audit=<state> lost=<n>`: the daemon's pid (a target
for signals and /proc probing from anything sharing the pid namespace), its
version (which known bugs to try) and whether the audit log is failing (when to
act unrecorded). Now it says `keyhole ok` and nothing else, answers only GET and
HEAD of exactly /healthz, and refuses every other path with a clear 404. The
owner still learns the pid, version and audit state, over the 0600 control
socket: `keyhole status` shows them."""
import os
import socket
import subprocess

import pytest

from helpers.checks import assert_keyhole_error
from helpers.client import Conn, build_request

OTHER_PATHS = [
    ("GET", "/healthz?x=1"),
    ("GET", "/healthz/"),
    ("GET", "/healthz#frag"),
    ("GET", "/HEALTHZ"),
    ("GET", "//healthz"),
    ("GET", "/"),
    ("GET", "/metrics"),
    ("GET", "/status"),
    ("POST", "/healthz"),
    ("DELETE", "/healthz"),
    ("OPTIONS", "/healthz"),
]


def version(keyhole_bin):
    out = subprocess.run([keyhole_bin, "--version"], capture_output=True, text=True,
                         timeout=10).stdout
    return out.split()[1]          # "keyhole 0.1.0 (OpenSSL ...)"


class UnixConn(Conn):
    @classmethod
    def to_socket(cls, path, timeout=5.0):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(timeout)
        s.connect(path)
        return cls(s, timeout)


def transports(kh):
    return {"tcp": lambda: Conn.to_proxy(kh.port),
            "proxy.sock": lambda: UnixConn.to_socket(os.path.join(kh.home, "proxy.sock"))}


@pytest.mark.parametrize("via", ["tcp", "proxy.sock"])
def test_healthz_says_only_ok(start_keyhole, keyhole_bin, via):
    kh = start_keyhole()
    pid, ver = str(kh.proc.pid), version(keyhole_bin)
    for method in ("GET", "HEAD"):
        with transports(kh)[via]() as c:
            c.send(build_request(method, "/healthz", "keyhole"))
            raw = c.read_until_close()
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 "), raw
        assert body == (b"keyhole ok\n" if method == "GET" else b""), raw
        text = raw.decode("latin-1")
        assert pid not in text, f"the daemon's pid {pid} is visible to a sandbox: {text!r}"
        assert ver not in text, f"keyhole's version {ver} is visible to a sandbox: {text!r}"
        assert "audit" not in text and "lost" not in text, text


@pytest.mark.parametrize("via", ["tcp", "proxy.sock"])
def test_other_paths_are_404(start_keyhole, via):
    kh = start_keyhole()
    for method, target in OTHER_PATHS:
        with transports(kh)[via]() as c:
            r = c.request(method, target, "keyhole", body=b"" if method == "POST" else None)
        assert_keyhole_error(r, 404, "not_found")
        assert "/healthz" in r.text and "CONNECT" in r.text, r.text
        assert "pid" not in r.text, r.text
    recs = kh.wait_audit_count(lambda a: a.get("reason") == "not_found", n=len(OTHER_PATHS))
    assert all(a["status"] == 404 and a["decision"] == "deny" for a in recs), recs
    # and it keeps serving
    assert kh.healthz() == (200, "keyhole ok\n")


def test_owner_still_sees_the_pid(start_keyhole, keyhole_bin):
    """`keyhole status` asks control.sock (0600, SO_PEERCRED): no pidfile here, as
    the test runs `keyhole proxy` itself, so the pid can only come from there."""
    kh = start_keyhole()
    env = {"PATH": os.environ["PATH"], "LANG": "C", "HOME": os.path.dirname(kh.home)}
    r = subprocess.run([keyhole_bin, "status", "--home", kh.home], capture_output=True,
                       text=True, timeout=15, env=env)
    assert r.returncode == 0, r.stderr
    assert f"running (pid {kh.proc.pid})" in r.stdout, r.stdout
    assert "audit log" in r.stdout and "ok (0 record(s) lost" in r.stdout, r.stdout
