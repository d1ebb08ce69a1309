"""Each credential location with a real client: Basic (curl -u, and git over
https with the token in the URL), a named header (Python http.client with
x-api-key) and a query parameter (?key=). The upstream receives the real
secret; the same token toward any other host is refused as
token_leak_attempt, nothing reaches that host, and neither the audit log
nor keyhole's log holds the secret or the whole token."""
import base64
import http.client
import os
import secrets
import shutil
import ssl
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from helpers.checks import assert_keyhole_error, assert_no_leak, echoed, echoed_headers
from helpers.client import client_context, curl, open_tunnel, send_connect
from helpers.keyhole import mint_token

GIT_SECRET = "ghp-real-git-" + secrets.token_hex(10)
ANT_SECRET = "sk-ant-real-" + secrets.token_hex(10)
GEM_SECRET = "AIza-real_gem-" + secrets.token_hex(10)
SECRETS = {"GIT_TOKEN": GIT_SECRET, "ANTHROPIC_API_KEY": ANT_SECRET,
           "GEMINI_API_KEY": GEM_SECRET}
NAMES = ("git.wild.test", "anthropic.wild.test", "gemini.wild.test", "other.test",
         "api.openai.test")


@pytest.fixture
def tokens():
    return {"GIT_TOKEN": mint_token("git-token"), "ANTHROPIC_API_KEY": mint_token("anthropic"),
            "GEMINI_API_KEY": mint_token("gemini")}


@pytest.fixture
def kh(start_keyhole, tokens, token):
    maps = [
        {"proxy_token": tokens["GIT_TOKEN"], "env_name": "GIT_TOKEN",
         "upstream_hosts": ["git.wild.test"], "match_headers": ["Authorization"],
         "locations": [{"type": "basic"}]},
        {"proxy_token": tokens["ANTHROPIC_API_KEY"], "env_name": "ANTHROPIC_API_KEY",
         "upstream_hosts": ["anthropic.wild.test"],
         "match_headers": ["x-api-key", "Authorization"],
         "locations": [{"type": "header", "name": "x-api-key"}, {"type": "bearer"}]},
        {"proxy_token": tokens["GEMINI_API_KEY"], "env_name": "GEMINI_API_KEY",
         "upstream_hosts": ["gemini.wild.test"], "match_headers": ["x-goog-api-key"],
         "locations": [{"type": "header", "name": "x-goog-api-key"},
                       {"type": "query", "name": "key"}]},
    ]
    return start_keyhole(config={"resolve": {n: "127.0.0.1" for n in NAMES}},
                         mappings=maps, env=SECRETS)


def no_leak(kh, tokens):
    assert_no_leak(kh, list(SECRETS.values()), list(tokens.values()))


def leak_record(kh, host):
    rec = kh.wait_audit(lambda a: a.get("reason") == "token_leak_attempt"
                        and a.get("host") == host)[0]
    assert rec["decision"] == "deny" and rec["status"] == 403, rec
    assert rec["client"].startswith("127.0.0.1:"), rec   # who tried: the sandbox side
    assert rec["swapped"] == [], rec
    return rec


def test_basic_with_curl_user(kh, make_upstream, tokens):
    echo = make_upstream("server", name="git-echo")
    other = make_upstream("server", name="other")
    tok = tokens["GIT_TOKEN"]
    r = curl(f"https://git.wild.test:{echo.port}/repo.git/info/refs", cacert=kh.ca_crt,
             args=["-u", f"x-access-token:{tok}"], env={"HTTPS_PROXY": kh.proxy_url})
    assert r.rc == 0 and r.status == 200, r.stderr
    want = base64.b64encode(f"x-access-token:{GIT_SECRET}".encode()).decode()
    assert echoed_headers(echoed(r), "Authorization") == [f"Basic {want}"]
    assert tok.encode() not in echo.raw
    rec = kh.wait_audit(lambda a: a.get("host") == "git.wild.test" and a.get("status") == 200)[0]
    assert rec["swapped"] == ["GIT_TOKEN"]

    # the token as the user name this time, toward a host it does not belong to
    r = curl(f"https://other.test:{other.port}/x", cacert=kh.ca_crt, args=["-u", f"{tok}:"],
             env={"HTTPS_PROXY": kh.proxy_url})
    assert r.status == 403, (r.rc, r.stderr, r.body)
    assert b"token_leak_attempt" in r.body or r.body.startswith(b"keyhole: ")
    assert other.saw_nothing(), other.describe()
    leak_record(kh, "other.test")
    no_leak(kh, tokens)


def test_header_key_with_http_client(kh, make_upstream, tokens):
    echo = make_upstream("server", name="anthropic-echo")
    other = make_upstream("server", name="other")
    tok = tokens["ANTHROPIC_API_KEY"]

    def post(host, port):
        conn = http.client.HTTPSConnection("127.0.0.1", kh.port, timeout=10,
                                           context=client_context(kh.ca_crt))
        conn.set_tunnel(host, port)
        conn.request("POST", "/v1/messages", body=b"{}",
                     headers={"x-api-key": tok, "anthropic-version": "2023-06-01",
                              "Content-Type": "application/json"})
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        return resp, body

    resp, body = post("anthropic.wild.test", echo.port)
    assert resp.status == 200, body
    doc = echoed(body)
    assert echoed_headers(doc, "x-api-key") == [ANT_SECRET]
    assert echoed_headers(doc, "anthropic-version") == ["2023-06-01"]
    assert tok.encode() not in echo.raw

    resp, body = post("other.test", other.port)
    assert resp.status == 403 and resp.getheader("X-Keyhole-Reason") == "token_leak_attempt"
    assert other.saw_nothing(), other.describe()
    leak_record(kh, "other.test")
    no_leak(kh, tokens)


def test_query_key(kh, make_upstream, tokens):
    echo = make_upstream("server", name="gemini-echo")
    other = make_upstream("server", name="other")
    tok = tokens["GEMINI_API_KEY"]
    path = "/v1beta/models/g:streamGenerateContent"
    r = curl(f"https://gemini.wild.test:{echo.port}{path}?alt=sse&key={tok}&x=a%2Fb",
             cacert=kh.ca_crt, env={"HTTPS_PROXY": kh.proxy_url})
    assert r.rc == 0 and r.status == 200, r.stderr
    # only the value changed: every other byte of the target is as sent
    assert echoed(r)["path"] == f"{path}?alt=sse&key={GEM_SECRET}&x=a%2Fb"
    assert tok.encode() not in echo.raw
    rec = kh.wait_audit(lambda a: a.get("host") == "gemini.wild.test")[0]
    assert rec["swapped"] == ["GEMINI_API_KEY"] and rec["path"] == path, rec

    # a query toward another host
    with open_tunnel(kh.port, "other.test", other.port, kh.ca_crt) as c:
        resp = c.request("GET", f"/search?key={tok}", f"other.test:{other.port}")
    assert_keyhole_error(resp, 403, "token_leak_attempt")
    assert other.saw_nothing(), other.describe()
    assert "?" not in leak_record(kh, "other.test")["path"]
    no_leak(kh, tokens)


def test_connect_target_with_token(kh, tokens):
    tok = tokens["GEMINI_API_KEY"]
    conn, resp = send_connect(kh.port, f"{tok.rsplit('-', 1)[1]}.other.test:443")
    conn.close()
    assert resp.status == 403 and resp.header("X-Keyhole-Reason") == "token_leak_attempt"
    rec = kh.wait_audit(lambda a: a.get("reason") == "token_leak_attempt")[0]
    assert rec["method"] == "CONNECT" and rec["client"].startswith("127.0.0.1:")
    no_leak(kh, tokens)


# ---- git over https through keyhole --------------------------------------------------

class GitHandler(SimpleHTTPRequestHandler):
    """Dumb-HTTP git: files of a bare repository, behind Basic authentication."""
    expected = ""
    seen = []

    def do_GET(self):
        auth = self.headers.get("Authorization", "")
        type(self).seen.append(auth)
        if auth != self.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def git_server(tmp_path, pki):
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "GIT_CONFIG_NOSYSTEM": "1"}
    work, bare = tmp_path / "work", tmp_path / "srv" / "repo.git"
    git = lambda *a, cwd=None: subprocess.run(["git", *a], cwd=cwd, env=env, check=True,  # noqa
                                              capture_output=True, timeout=30)
    git("init", "-q", "-b", "main", str(work))
    (work / "README").write_text("through keyhole\n")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m",
        "one", cwd=work)
    git("add", "README", cwd=work)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "two", cwd=work)
    git("clone", "-q", "--bare", str(work), str(bare))
    git("update-server-info", cwd=bare)

    handler = type("H", (GitHandler,), {"seen": []})
    handler.expected = "Basic " + base64.b64encode(
        f"x-access-token:{GIT_SECRET}".encode()).decode()
    srv = ThreadingHTTPServer(("127.0.0.1", 0),
                              lambda *a: handler(*a, directory=str(tmp_path / "srv")))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.server.cert, pki.server.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv, handler, env
    srv.shutdown()
    srv.server_close()


def test_git_clone_with_token_in_url(kh, git_server, tmp_path, tokens):
    srv, handler, env = git_server
    port = srv.server_address[1]
    tok = tokens["GIT_TOKEN"]

    def clone(host, dest):
        return subprocess.run(
            ["git", "-c", f"http.proxy={kh.proxy_url}", "-c", f"http.sslCAInfo={kh.ca_crt}",
             "clone", "-q", f"https://x-access-token:{tok}@{host}:{port}/repo.git", str(dest)],
            env={**env, "GIT_TERMINAL_PROMPT": "0"}, capture_output=True, text=True, timeout=60)

    r = clone("git.wild.test", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "README").read_text() == "through keyhole\n"
    assert handler.expected in handler.seen        # the server saw the real secret
    assert not any(tok.rsplit("-", 1)[1] in base64.b64decode(a[6:] or "=").decode("latin-1")
                   for a in handler.seen if a.startswith("Basic "))

    n_seen = len(handler.seen)
    r = clone("other.test", tmp_path / "out2")
    assert r.returncode != 0
    # git probes without credentials first; nothing with the token got there
    assert handler.seen[n_seen:] and all(a == "" for a in handler.seen[n_seen:])
    leak_record(kh, "other.test")
    no_leak(kh, tokens)
