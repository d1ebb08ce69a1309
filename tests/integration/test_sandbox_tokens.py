"""Per-sandbox tokens (`keyhole token issue|revoke|list`, the control socket).

A sandbox token is swapped for the real key like its mapping's token, toward
the same hosts only; every audit record of its requests names the sandbox;
after revocation or expiry it gets 401 with a body saying so, after its
budget 429; it survives a daemon restart; a response that echoes the real
key never hands the sandbox the mapping's (longer-lived) token; the control
socket is owner-only and survives hostile input.
"""
import json
import os
import shutil
import socket
import stat
import subprocess
import time

import pytest

from helpers.checks import assert_no_leak, echoed, echoed_headers
from helpers.client import curl
from helpers.keyhole import GROQ_SECRET, OPENAI_SECRET, mapping, mint_token

TOKEN_PREFIX = "keyhole-openai-"


def keyhole_token(keyhole_bin, kh, *args, stdin=None):
    r = subprocess.run([keyhole_bin, "token", *args, "--home", kh.home], input=stdin,
                       capture_output=True, text=True, timeout=15,
                       env={"PATH": os.environ["PATH"], "LANG": "C"})
    return r


def issue(keyhole_bin, kh, label, *extra):
    r = keyhole_token(keyhole_bin, kh, "issue", "--label", label, *extra)
    assert r.returncode == 0, r.stderr
    lines = dict(ln.split("=", 1) for ln in r.stdout.splitlines())
    assert set(lines) == {"OPENAI_API_KEY"}, r.stdout
    return lines["OPENAI_API_KEY"]


def refused(kh, r, status, reason, *words):
    """r is keyhole's own refusal: the status, a body saying why, and the audit reason."""
    text = r.body.decode()
    assert r.status == status and text.startswith("keyhole: "), (r.status, text)
    for w in words:
        assert w in text, text
    kh.wait_audit(lambda a: a.get("reason") == reason and a.get("status") == status)
    return text


def models(kh, echo, token, host="api.openai.test"):
    return curl(f"https://{host}:{echo.port}/v1/models", proxy=kh.proxy_url, cacert=kh.ca_crt,
                headers=[f"Authorization: Bearer {token}"])


def test_issued_token_swaps_and_audit_names_the_sandbox(start_keyhole, keyhole_bin, echo, token):
    kh = start_keyhole()
    sbx = issue(keyhole_bin, kh, "job-42", "--ttl", "1h")
    assert sbx.startswith(TOKEN_PREFIX) and sbx != token and len(sbx) == len(token)

    r = models(kh, echo, sbx)
    assert r.status == 200, r.stderr
    assert echoed_headers(echoed(r), "Authorization") == [f"Bearer {OPENAI_SECRET}"]
    rec = kh.wait_audit(lambda a: a.get("path") == "/v1/models")[0]
    assert rec["sandbox"] == "job-42" and rec["swapped"] == ["OPENAI_API_KEY"]

    # the mapping's own token still works, and its records name no sandbox
    r = models(kh, echo, token)
    assert r.status == 200
    recs = kh.wait_audit(lambda a: a.get("path") == "/v1/models", n=2)
    assert "sandbox" not in recs[1]

    # toward a host that is not its mapping's: the leak tripwire, with the label
    refused(kh, models(kh, echo, sbx, host="other.test"), 403, "token_leak_attempt")
    rec = kh.wait_audit(lambda a: a.get("reason") == "token_leak_attempt")[0]
    assert rec["sandbox"] == "job-42"

    listed = keyhole_token(keyhole_bin, kh, "list", "--json")
    grants = json.loads(listed.stdout)
    assert [(g["label"], g["state"], g["used"]) for g in grants] == [("job-42", "active", 1)]
    assert sbx not in listed.stdout and sbx[len(TOKEN_PREFIX):][:8] not in listed.stdout
    assert_no_leak(kh, [OPENAI_SECRET], [sbx, token])


def test_revoked_token_gets_401_and_others_keep_working(start_keyhole, keyhole_bin, echo, token):
    kh = start_keyhole()
    a = issue(keyhole_bin, kh, "job-a")
    b = issue(keyhole_bin, kh, "job-b")
    assert models(kh, echo, a).status == 200

    r = keyhole_token(keyhole_bin, kh, "revoke", "--label", "job-a")
    assert r.returncode == 0 and "revoked 1" in r.stdout, r
    text = refused(kh, models(kh, echo, a), 401, "token_revoked", "revoked", "job-a")
    assert a not in text and a[len(TOKEN_PREFIX):][:8] not in text
    assert models(kh, echo, b).status == 200
    assert models(kh, echo, token).status == 200
    rec = kh.wait_audit(lambda x: x.get("reason") == "token_revoked")[0]
    assert rec["sandbox"] == "job-a" and rec["status"] == 401 and rec["decision"] == "deny"

    # revoke by token, read from stdin so it never shows in the process list
    r = keyhole_token(keyhole_bin, kh, "revoke", "-", stdin=b + "\n")
    assert r.returncode == 0, r.stderr
    refused(kh, models(kh, echo, b), 401, "token_revoked", "job-b")
    # nothing live to revoke: says so, exit 1
    r = keyhole_token(keyhole_bin, kh, "revoke", "--label", "job-a")
    assert r.returncode == 1 and "nothing live" in r.stderr


def test_expired_token_gets_401(start_keyhole, keyhole_bin, echo):
    kh = start_keyhole()
    sbx = issue(keyhole_bin, kh, "short", "--ttl", "1s")
    deadline = time.time() + 3
    while time.time() < deadline and models(kh, echo, sbx).status == 200:
        time.sleep(0.2)
    refused(kh, models(kh, echo, sbx), 401, "token_expired", "expired", "short")


def test_budget_is_enforced(start_keyhole, keyhole_bin, echo):
    kh = start_keyhole()
    sbx = issue(keyhole_bin, kh, "budgeted", "--budget", "2")
    assert [models(kh, echo, sbx).status for _ in range(2)] == [200, 200]
    refused(kh, models(kh, echo, sbx), 429, "token_budget_exhausted", "budget of 2")
    g = json.loads(keyhole_token(keyhole_bin, kh, "list", "--json").stdout)[0]
    assert (g["state"], g["used"], g["budget"]) == ("exhausted", 2, 2)


def test_tokens_survive_a_restart(start_keyhole, keyhole_bin, echo):
    kh = start_keyhole()
    live = issue(keyhole_bin, kh, "keep")
    dead = issue(keyhole_bin, kh, "gone")
    assert keyhole_token(keyhole_bin, kh, "revoke", "--label", "gone").returncode == 0
    mode = stat.S_IMODE(os.stat(os.path.join(kh.home, "grants.json")).st_mode)
    assert mode == 0o600, oct(mode)
    kh.stop()

    kh2 = start_keyhole(home=kh.home)
    assert models(kh2, echo, live).status == 200
    refused(kh2, models(kh2, echo, dead), 401, "token_revoked")
    kh2.stop()

    # restarted without the real key: a live token gets 503, a dead one still 401
    kh3 = start_keyhole(home=kh.home, env={"OPENAI_API_KEY": None})
    refused(kh3, models(kh3, echo, live), 503, "credential_unavailable")
    refused(kh3, models(kh3, echo, dead), 401, "token_revoked")


def test_scrubbed_response_does_not_hand_out_the_mapping_token(start_keyhole, keyhole_bin, echo,
                                                               token):
    kh = start_keyhole()
    sbx = issue(keyhole_bin, kh, "scrubbed")
    r = models(kh, echo, sbx)
    assert r.status == 200
    seen = json.loads(r.body)
    auth = [v for n, v in seen["headers"] if n.lower() == "authorization"]
    # the upstream echoed the real key; the sandbox sees a dead stand-in
    assert auth == ["Bearer " + TOKEN_PREFIX + "0" * 32], auth
    assert token.encode() not in r.body and OPENAI_SECRET.encode() not in r.body


def test_control_socket_owner_only_and_hostile_input(start_keyhole, keyhole_bin, echo):
    kh = start_keyhole()
    path = os.path.join(kh.home, "control.sock")
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600

    def ask(data):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(path)
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            out = b""
            while chunk := s.recv(65536):
                out += chunk
        return json.loads(out)

    for bad in (b"", b"not json", b"[1,2]", b'{"op":"fly"}', b'{"op":"issue"}',
                b'{"op":"issue","label":"x","ttl":-5}', b'{"op":"issue","label":"../x"}',
                b'{"op":"revoke"}', b'{"op":"issue","label":"x","providers":"openai"}',
                b"{" * 100000):
        a = ask(bad)
        assert a["ok"] is False and a["error"], (bad[:40], a)
    # still serving, and nothing was issued by any of that
    assert ask(b'{"op":"list"}') == {"ok": True, "grants": []}
    assert models(kh, echo, "keyhole-openai-" + "a" * 32).status == 200  # unknown: not swapped

    if os.geteuid() == 0 and shutil.which("setpriv"):
        code = ("import socket,sys\ns=socket.socket(socket.AF_UNIX)\n"
                "try:\n s.connect(sys.argv[1]); print('connected')\n"
                "except OSError as e: print('refused', e.errno)\n")
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            "/usr/bin/python3", "-c", code, path],
                           capture_output=True, text=True, timeout=10)
        assert r.stdout.startswith("refused"), r.stdout + r.stderr


def test_token_cli_usage_and_not_running(keyhole_bin, tmp_path):
    env = {"PATH": os.environ["PATH"], "LANG": "C", "KEYHOLE_HOME": str(tmp_path / "h")}

    def run(*args):
        return subprocess.run([keyhole_bin, "token", *args], capture_output=True, text=True,
                              timeout=10, env=env)

    assert run().returncode == 2
    assert run("issue").returncode == 2  # no --label
    assert run("issue", "--label", "x", "--ttl", "soon").returncode == 2
    assert run("issue", "--label", "a/b").returncode == 2
    assert run("issue", "--label", "x", "--budget", "-3").returncode == 2
    assert run("revoke").returncode == 2
    r = run("list")
    assert r.returncode == 1 and "not running" in r.stderr and "keyhole start" in r.stderr


def test_provider_selection(start_keyhole, keyhole_bin, token):
    groq = mint_token("groq")
    kh = start_keyhole(mappings=[mapping(token), mapping(groq, "GROQ_API_KEY", ("api.groq.test",))],
                       env={"GROQ_API_KEY": GROQ_SECRET})

    def names(*args):
        r = keyhole_token(keyhole_bin, kh, "issue", "--label", "sel", *args)
        assert r.returncode == 0, r.stderr
        return sorted(ln.split("=", 1)[0] for ln in r.stdout.splitlines())

    assert names() == ["GROQ_API_KEY", "OPENAI_API_KEY"]
    assert names("--provider", "openai") == ["OPENAI_API_KEY"]
    assert names("--provider", "GROQ_API_KEY") == ["GROQ_API_KEY"]
    assert names("--provider", "groq", "--provider", "openai") == ["GROQ_API_KEY",
                                                                   "OPENAI_API_KEY"]
    r = keyhole_token(keyhole_bin, kh, "issue", "--label", "sel", "--provider", "anthropic")
    assert r.returncode == 1 and "no mapping for \"anthropic\"" in r.stderr, r
    assert len(json.loads(keyhole_token(keyhole_bin, kh, "list", "--json").stdout)) == 6
