"""The environment `keyhole start` gives the daemon: only the allowlisted
names (PATH, HOME, TMPDIR, TZ, LANG, LC_ALL, LC_CTYPE, NO_COLOR, SSL_CERT_DIR,
SSL_CERT_FILE), KEYHOLE_NONCE and the mapped variables, whose values the
daemon wipes once it holds them; never a *_PROXY variable. The daemon is
non-dumpable and has no core limit, yet still injects the key it wiped."""
import os
import secrets
import shutil
import subprocess
import warnings

import pytest

from helpers.checks import echoed, echoed_headers
from helpers.cli import cli, free_port, proxy_settings  # noqa: F401
from helpers.client import curl
from helpers.keyhole import mapping, mint_token

ALLOWED = {"PATH", "HOME", "TMPDIR", "TZ", "LANG", "LC_ALL", "LC_CTYPE", "NO_COLOR",
           "SSL_CERT_DIR", "SSL_CERT_FILE", "KEYHOLE_NONCE"}
OPENAI = "sk-real-openai-" + secrets.token_hex(12)
GROQ = "gsk-real-groq-" + secrets.token_hex(12)          # set, but not mapped
AWS = "aws-secret-" + secrets.token_hex(12)
BWS_TOKEN = "0.bws-access-" + secrets.token_hex(16)
CALLER = {
    "OPENAI_API_KEY": OPENAI, "GROQ_API_KEY": GROQ, "AWS_SECRET_ACCESS_KEY": AWS,
    "HTTPS_PROXY": "http://proxy.invalid:3128", "https_proxy": "http://proxy.invalid:3128",
    "HTTP_PROXY": "http://proxy.invalid:3128", "http_proxy": "http://proxy.invalid:3128",
    "ALL_PROXY": "socks5://proxy.invalid:1080", "NO_PROXY": "localhost",
    "LD_PRELOAD": "", "PYTHONPATH": "/nowhere", "EDITOR": "vi",
    "TZ": "UTC", "LC_ALL": "C.UTF-8", "TMPDIR": "/tmp",
    "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt",
}
NO_PTRACE = ["setpriv", "--bounding-set", "-sys_ptrace"]


def read_environ(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        raw = f.read()
    entries = [e for e in raw.split(b"\0") if e]
    env = {}
    for e in entries:
        name, _, value = e.decode("utf-8", "replace").partition("=")
        env[name] = value
    return raw, env


def can_open_mem(pid):
    """Opens /proc/<pid>/mem (ptrace attach mode) without CAP_SYS_PTRACE."""
    r = subprocess.run([*NO_PTRACE, "/usr/bin/python3", "-c",
                        f"import os; os.close(os.open('/proc/{pid}/mem', os.O_RDONLY))"],
                       capture_output=True, text=True, timeout=10)
    return r.returncode == 0, r.stderr.strip().splitlines()[-1:] if r.stderr else ""


def start_daemon(cli, pki, env, wrapper=()):
    token = mint_token("openai")
    cli.write_mappings([mapping(token)])
    port = free_port()
    cli.write_config(proxy_settings(pki, port))
    r = cli.run("start", env=env, wrapper=wrapper)
    assert r.rc == 0, r
    return cli.pid(), port, token


def test_daemon_environment_is_minimal_and_wiped(cli, pki, echo):
    if os.geteuid() != 0:
        pytest.skip("reading a non-dumpable daemon's /proc/<pid>/environ needs root")
    # Started without CAP_SYS_PTRACE (when we may drop it) so that the dumpability
    # check at the end compares like with like.
    can_drop = shutil.which("setpriv") is not None and \
        subprocess.run([*NO_PTRACE, "true"], capture_output=True).returncode == 0
    pid, port, token = start_daemon(cli, pki, CALLER, wrapper=NO_PTRACE if can_drop else ())

    raw, env = read_environ(pid)
    extra = set(env) - ALLOWED - {"OPENAI_API_KEY"}
    assert not extra, f"daemon environment has names outside the allowlist: {sorted(extra)}"
    assert not [n for n in env if n.upper().endswith("_PROXY")], env
    assert "GROQ_API_KEY" not in env, "an unmapped key reached the daemon"
    for name in ("TZ", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "LANG", "PATH", "HOME"):
        assert env.get(name) == cli.environment(CALLER)[name], (name, env)
    assert env["NO_COLOR"] == "1"
    assert env["KEYHOLE_NONCE"] == cli.read("keyhole.nonce").strip()
    assert env.get("OPENAI_API_KEY", "") == "", "the mapped key was not wiped from environ"
    for s in (OPENAI, GROQ, AWS):
        readable = s.encode() in raw
        assert not readable, "a real secret is readable in /proc/<pid>/environ"

    # the key it wiped is still what it injects
    got = curl(f"https://api.openai.test:{echo.port}/v1/models", proxy=f"http://127.0.0.1:{port}",
               cacert=cli.ca_crt, headers=[f"Authorization: Bearer {token}"])
    assert got.rc == 0 and got.status == 200, (got.rc, got.status, got.stderr)
    assert echoed_headers(echoed(got), "Authorization") == [f"Bearer {OPENAI}"]
    cli.assert_no_leak([OPENAI, GROQ, AWS], [token])

    # no core files
    with open(f"/proc/{pid}/limits") as f:
        core = [line for line in f if line.startswith("Max core file size")]
    assert core and core[0].split()[4:6] == ["0", "0"], core
    # not dumpable: a process with the same uid and capabilities cannot open its
    # memory, while it can open that of an ordinary process started the same way
    if not can_drop:
        warnings.warn("dumpability not checked: cannot drop CAP_SYS_PTRACE with setpriv")
        return
    control = subprocess.Popen([*NO_PTRACE, "sleep", "30"])
    try:
        ok, why = can_open_mem(control.pid)
        if not ok:
            warnings.warn(f"dumpability not checked: even a dumpable process's memory is "
                          f"closed to us here ({why})")
            return
        ok, _ = can_open_mem(pid)
        assert not ok, "the daemon is dumpable (PR_SET_DUMPABLE 0 not in effect)"
    finally:
        control.kill()
        control.wait()


def test_bitwarden_access_token_not_left_in_daemon_environ(cli, pki):
    """In bitwarden mode the daemon needs the access token to refetch on reload,
    but like the mapped keys it must not stay readable in /proc/<pid>/environ:
    it unlocks every secret in the project."""
    bws = cli.install_bws({"p1": {"OPENAI_API_KEY": OPENAI}})
    token = mint_token("openai")
    cli.write_mappings([mapping(token)])
    cli.write_config(proxy_settings(pki, free_port(), credential_source="bitwarden",
                                    bitwarden={"project_id": "p1"}))
    r = cli.run("start", env={"BWS_ACCESS_TOKEN": BWS_TOKEN, "HTTPS_PROXY": "http://x:1"})
    assert r.rc == 0, r
    assert bws.calls(), "bws was never run"
    raw, env = read_environ(cli.pid())
    assert not [n for n in env if n.upper().endswith("_PROXY")], env
    key_readable = OPENAI.encode() in raw
    assert not key_readable, "the mapped key is readable in /proc/<pid>/environ"
    token_readable = BWS_TOKEN.encode() in raw
    assert not token_readable, \
        "the Bitwarden access token is readable in the daemon's /proc/<pid>/environ"
