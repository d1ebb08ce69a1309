"""`keyhole sandbox --allow-host H`: only H may be reached from the sandbox.

CONNECT to an allowed host works (and the token is still swapped); CONNECT or an
absolute-form request to another host the daemon would allow (other.test) is
answered 403 with X-Keyhole-Reason: sandbox_host_not_allowed and never reaches
an upstream. That has to hold for every request of a connection, not only its
first line: a kept-alive (or pipelined) connection that starts with an allowed
request must not then reach other.test. --allow-host only narrows: a host the
daemon does not allow stays refused. An invalid --allow-host is a usage error
(exit 2)."""
import json
import os

import pytest

from helpers.checks import echoed_headers
from helpers.cli import cli  # noqa: F401
from helpers.sandbox import PY, sandbox  # noqa: F401

CLIENT = r'''
import json, socket, sys

port = int(sys.argv[1])
steps = json.loads(sys.argv[2])

def read_response(s, buf):
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            return None, buf
        buf += d
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {}
    for l in lines[1:]:
        n, _, v = l.partition(":")
        hdrs[n.strip().lower()] = v.strip()
    n = int(hdrs.get("content-length", "0"))
    while len(buf) < n:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    body, buf = buf[:n], buf[n:]
    return {"status": int(lines[0].split()[1]), "reason": hdrs.get("x-keyhole-reason"),
            "body": body.decode("latin-1")}, buf

results = []
for step in steps:          # one connection per step; its requests in order
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    out, buf = [], b""
    try:
        if step.get("pipelined"):
            s.sendall("".join(step["requests"]).encode())
            for _ in step["requests"]:
                r, buf = read_response(s, buf)
                out.append(r)
                if r is None:
                    break
        else:
            for req in step["requests"]:
                s.sendall(req.encode())
                r, buf = read_response(s, buf)
                out.append(r)
                if r is None or req.startswith("CONNECT"):
                    break
    except OSError as e:
        out.append({"error": str(e)})
    s.close()
    results.append(out)
print(json.dumps(results))
'''


def get(host, port, path):
    return f"GET http://{host}:{port}{path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n"


def connect(host, port):
    return f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n"


def run_client(sandbox, opts, steps):
    path = os.path.join(sandbox.workdir, "client.py")
    with open(path, "w") as f:
        f.write(CLIENT)
    r = sandbox.run(PY, path, str(sandbox.port), json.dumps(steps), opts=opts)
    assert r.rc == 0, r
    return json.loads(r.out)


def test_allow_host_narrows(sandbox, echo, plain_echo):
    opts = ["--allow-host", "api.openai.test"]
    url = f"https://api.openai.test:{echo.port}/allowed"
    r = sandbox.run("sh", "-c", f'exec curl -q -sS --max-time 10 "{url}" '
                                '-H "Authorization: Bearer $OPENAI_API_KEY"', opts=opts)
    assert r.rc == 0, r
    assert echoed_headers(json.loads(r.out), "Authorization") == [f"Bearer {sandbox.secret}"]

    res = run_client(sandbox, opts, [
        {"requests": [connect("api.openai.test", echo.port)]},
        {"requests": [connect("other.test", echo.port)]},
        {"requests": [get("other.test", plain_echo.port, "/abs")]},
        {"requests": [connect("API.OPENAI.TEST.", echo.port)]},
    ])
    assert res[0][0]["status"] == 200, res
    assert res[1][0]["status"] == 403, res
    assert res[1][0]["reason"] == "sandbox_host_not_allowed", res
    assert "other.test" in res[1][0]["body"], res
    assert res[2][0]["status"] == 403 and res[2][0]["reason"] == "sandbox_host_not_allowed", res
    assert res[3][0]["status"] == 200, res       # case and one trailing dot are ignored
    assert plain_echo.saw_nothing(), plain_echo.describe()
    assert len(echo.complete_requests()) == 1, echo.describe()

    # a wildcard pattern
    res = run_client(sandbox, ["--allow-host", "*.openai.test"], [
        {"requests": [connect("api.openai.test", echo.port)]},
        {"requests": [connect("other.test", echo.port)]},
    ])
    assert res[0][0]["status"] == 200 and res[1][0]["status"] == 403, res


def test_allow_host_never_widens(sandbox, echo):
    res = run_client(sandbox, ["--allow-host", "notallowed.test"],
                     [{"requests": [connect("notallowed.test", echo.port)]}])
    assert res[0][0]["status"] == 403, res
    assert res[0][0]["reason"] != "sandbox_host_not_allowed", res   # the daemon said no


@pytest.mark.parametrize("pipelined", [False, True], ids=["keep-alive", "pipelined"])
def test_allow_host_checks_every_request(sandbox, plain_echo, echo, pipelined):
    """With --allow-host only CONNECT is accepted: a plain-HTTP connection could
    name a new host in each request, so it is refused outright, even when its first
    request is to an allowed host; nothing may reach other.test either way."""
    opts = ["--allow-host", "plain.test"]
    res = run_client(sandbox, opts, [
        {"pipelined": pipelined, "requests": [get("plain.test", plain_echo.port, "/first"),
                                              get("other.test", plain_echo.port, "/second")]},
        {"pipelined": pipelined, "requests": [get("plain.test", plain_echo.port, "/third"),
                                              connect("other.test", echo.port)]},
    ])
    assert res[0][0] and res[0][0]["status"] == 403, res
    assert res[0][0]["reason"] == "sandbox_host_not_allowed", res
    assert "only CONNECT" in res[0][0]["body"], res
    assert plain_echo.requests == [], [r.target for r in plain_echo.requests]
    later = res[1][1:]
    assert not (later and later[0] and later[0].get("status") == 200), res


@pytest.mark.parametrize("value", ["", "bad host.test", "*", "http://api.openai.test/",
                                   "api.openai.test/x"])
def test_invalid_allow_host_is_usage_error(sandbox, value):
    r = sandbox.run("true", opts=["--allow-host", value])
    assert r.rc == 2, r
    assert "--allow-host" in r.err, r


UNIX_CLIENT = r'''
import glob, json, os, socket, stat, sys

target = sys.argv[1]
out = {}
for path in sorted(p for p in glob.glob("/run/**", recursive=True)
                   if stat.S_ISSOCK(os.lstat(p).st_mode)):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(path)
        s.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target, target)).encode())
        out[path] = s.recv(4096).decode("latin-1").split("\r\n")[0]
    except OSError as e:
        out[path] = "error: %s" % e
    s.close()
print(json.dumps(out))
'''


def test_allow_host_not_bypassed_through_the_unix_socket(sandbox, echo):
    """The daemon's socket is reachable inside the sandbox (its relay needs it); a
    command that talks to it directly must not get past --allow-host either."""
    path = os.path.join(sandbox.workdir, "unix_client.py")
    with open(path, "w") as f:
        f.write(UNIX_CLIENT)
    r = sandbox.run(PY, path, f"other.test:{echo.port}", opts=["--allow-host", "api.openai.test"])
    assert r.rc == 0, r
    got = json.loads(r.out)
    opened = {p: line for p, line in got.items() if line.startswith("HTTP/1.1 200")}
    assert not opened, (f"CONNECT other.test:{echo.port} succeeded straight through "
                        f"{sorted(opened)} despite --allow-host api.openai.test: {got}")
