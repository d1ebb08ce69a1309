"""`keyhole sandbox` as an ordinary user (a new user namespace instead of root's
capability drop), against a daemon that user started with `keyhole start` in its
own KEYHOLE_HOME: the token swap works the same way, and the command is
confined the same way (capabilities, no_new_privs, seccomp).

Runs as `nobody` through setpriv. Skipped, with the reason, when there is no
such user, we are not root, or unprivileged user namespaces are not allowed."""
import json
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile

import pytest

from helpers.checks import echoed_headers
from helpers.cli import Cli, free_port, proxy_settings
from helpers.keyhole import mapping, mint_token
from helpers.sandbox import BWRAP, need_bwrap

USER = "nobody"


def setpriv(uid, gid):
    return ("setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups")


def unprivileged_user():
    """(uid, gid) of USER, or pytest.skip with the reason."""
    need_bwrap()
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to another user")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) not installed")
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        pytest.skip(f"no user {USER!r} on this machine")
    knob = "/proc/sys/kernel/unprivileged_userns_clone"
    if os.path.exists(knob):
        with open(knob) as f:
            if f.read().strip() == "0":
                pytest.skip(f"{knob} is 0: unprivileged user namespaces are disabled")
    probe = [*setpriv(pw.pw_uid, pw.pw_gid), BWRAP, "--unshare-user", "--ro-bind", "/", "/",
             "true"]
    r = subprocess.run(probe, capture_output=True, text=True, timeout=10, cwd="/")
    if r.returncode != 0:
        pytest.skip(f"unprivileged user namespaces are not usable here: `{' '.join(probe)}` "
                    f"exited {r.returncode}: {r.stderr.strip()}")
    return pw.pw_uid, pw.pw_gid


@pytest.fixture
def user_cli(shared_keyhole_bin):
    uid, gid = unprivileged_user()
    root = tempfile.mkdtemp(prefix="kh-unpriv-", dir="/tmp")
    c = Cli(shared_keyhole_bin, root)
    try:
        os.makedirs(os.path.join(root, "work"))
        c.make_home()
        yield c, uid, gid
    finally:
        c.stop_all()
        shutil.rmtree(root, ignore_errors=True)


def chown_tree(root, uid, gid):
    for d, dirs, files in os.walk(root):
        os.chown(d, uid, gid)
        for f in files:
            os.chown(os.path.join(d, f), uid, gid)


def test_sandbox_unprivileged_token_swap(user_cli, pki, echo):
    c, uid, gid = user_cli
    secret = "sk-real-unpriv-" + secrets.token_hex(10)
    token = mint_token("openai")
    ca = os.path.join(c.root, "upstream-ca.pem")
    shutil.copy(pki.ca.cert, ca)
    os.chmod(ca, 0o644)
    port = free_port()
    cfg = proxy_settings(pki, port, upstream_ca_file=ca, upstream_deny_cidrs=[])
    c.write_config(cfg)
    c.write_mappings([mapping(token)])
    os.chmod(c.root, 0o755)
    chown_tree(c.root, uid, gid)
    as_user = setpriv(uid, gid)
    env = {"OPENAI_API_KEY": secret, "HOME": c.user_home}
    work = os.path.join(c.root, "work")

    r = c.run("start", env=env, wrapper=as_user, preexec_fn=lambda: os.chdir(work))
    assert r.rc == 0, r
    pid = c.pid()
    assert pid and os.stat(f"/proc/{pid}").st_uid == uid, "the daemon is not the user's"

    url = f"https://api.openai.test:{echo.port}/unpriv"
    r = c.run("sandbox", "--", "sh", "-c",
              f'id -u; exec curl -q -sS --max-time 10 "{url}" '
              '-H "Authorization: Bearer $OPENAI_API_KEY"',
              env=env, wrapper=as_user, preexec_fn=lambda: os.chdir(work), timeout=30)
    assert r.rc == 0, r
    first, _, body = r.out.partition("\n")
    assert first == str(uid), r          # the same uid inside the user namespace
    assert echoed_headers(json.loads(body), "Authorization") == [f"Bearer {secret}"], r
    assert secret not in r.err, r

    r = c.run("sandbox", "--", "sh", "-c", f'cat "{c.home}/ca.key" 2>/dev/null || echo hidden; '
                                           "touch /usr/kh-unpriv 2>/dev/null || echo ro",
              env=env, wrapper=as_user, preexec_fn=lambda: os.chdir(work))
    assert r.rc == 0 and r.out == "hidden\nro\n", r

    # confined like root's sandbox: no capability to regain, no new privileges,
    # keyhole's seccomp filter (a new user namespace is refused)
    r = c.run("sandbox", "--", "sh", "-c", "grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' "
                                           "/proc/self/status; unshare -U true 2>/dev/null "
                                           "&& echo unshared; true",
              env=env, wrapper=as_user, preexec_fn=lambda: os.chdir(work))
    got = dict(line.split(":\t") for line in r.out.splitlines() if ":\t" in line)
    assert r.rc == 0 and "unshared" not in r.out, r
    assert got == {"CapEff": "0000000000000000", "CapBnd": "0000000000000000",
                   "NoNewPrivs": "1", "Seccomp": "2"}, r
