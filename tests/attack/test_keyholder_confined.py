"""The daemon taken over: an attacker who got code running in the key holder
(through a bug in its handling of the fronts' streams or of an upstream's
response) has its keys, but may not turn that into the host. Once started,
the daemon confines itself (kh_confine_keyholder): it reads the system's
files only (not the keyhole directory, /etc/shadow or /root), and writes,
creates, removes, renames, chmods or chowns none; runs no program
but keyhole (the fronts and the CA signer it starts again); cannot mount,
ptrace, load modules or write a sysctl; and cannot signal a process outside
its own tree. What it still needs written or run (grants.json, a reload's
credential program, removing its sockets at the end) its monitor process
does, which reads no sandbox byte.

`keyhole __keyholder-probe` applies that same confinement to itself and
tries each of those (as root: skipped, saying why, else); the daemon's own
threads are checked in /proc, and root's capabilities cut to the few it
needs."""
import json
import os
import shlex
import shutil
import stat
import subprocess
import time

import pytest

from helpers.checks import echoed, echoed_headers
from helpers.client import curl
from test_privsep_processes import status

ROOT = os.geteuid() == 0
WHY = "needs root: the attempts are those of a daemon running as root"
if not ROOT:
    print(f"SKIP test_keyholder_confined's root-only tests: {WHY}")
root_only = pytest.mark.skipif(not ROOT, reason=WHY)

# what the daemon keeps of root's capabilities: setuid, setgid, kill,
# net_bind_service, ipc_lock (KH_KEYHOLDER_CAPS)
KEPT_CAPS = (1 << 7) | (1 << 6) | (1 << 5) | (1 << 10) | (1 << 14)


def probe(keyhole_bin, tmp_path):
    d = tmp_path / "victim"
    d.mkdir()
    f = d / "file"
    f.write_text("left alone\n")
    os.chmod(f, 0o600)
    r = subprocess.run([keyhole_bin, "__keyholder-probe", str(d), str(f)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    got = {}
    for line in r.stdout.splitlines():
        name, _, rest = line.partition(" ")
        got[name] = rest
    return got, d, f


def landlock_abi(got):
    return int(got["landlock_abi"])


@root_only
def test_a_taken_key_holder_runs_nothing_and_changes_no_file(keyhole_bin, tmp_path):
    got, d, f = probe(keyhole_bin, tmp_path)
    # what it needs: starting keyhole again (a front, the signer), reading
    # the system's files (libraries, the trust store, /etc/passwd)
    assert got["run_keyhole"] == "ok"
    assert got["read_system_file"] == "ok"
    # what an attacker wants: the kernel's own calls, refused by seccomp
    for name in ("chmod_file", "chown_file", "mount", "ptrace_parent", "truncate_file",
                 "unix_socket", "become_other_user"):
        assert got[name].startswith("denied EPERM"), (name, got[name])
    # what setuid/setgid are kept for: a front or the signer becoming nobody
    assert got["become_nobody"] == "ok"
    if landlock_abi(got) == 0:
        print("SKIP the file and program checks: this kernel has no Landlock")
        return
    for name in ("run_shell", "create_file", "write_file", "unlink_file", "rename_file",
                 "write_sysctl"):
        assert got[name].startswith("denied"), (name, got[name])
    # no file outside the system's: not a root-only file of another program's
    # (nor ca.key: the keyhole directory is not the system's either), not
    # /etc/shadow, not the host's TLS keys, not another process's environment
    assert got["read_file"] == "denied EACCES", got["read_file"]
    if os.path.exists("/etc/shadow"):
        assert got["read_shadow"] == "denied EACCES", got["read_shadow"]
    if os.path.isdir("/etc/ssl/private"):    # beside /etc/ssl/certs, which it reads
        assert got["read_tls_private_keys"] == "denied EACCES", got["read_tls_private_keys"]
    assert got["read_other_process"] == "denied EACCES", got["read_other_process"]
    if landlock_abi(got) >= 6:
        assert got["signal_parent"].startswith("denied EPERM"), got["signal_parent"]
    # and nothing happened to the file or its directory
    assert f.read_text() == "left alone\n"
    assert stat.S_IMODE(f.stat().st_mode) == 0o600 and f.stat().st_uid == 0
    assert sorted(os.listdir(d)) == ["file"]


def threads_status(pid):
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        fields = {}
        with open(f"/proc/{pid}/task/{tid}/status") as fh:
            for line in fh:
                k, _, v = line.partition(":")
                fields[k] = v.strip()
        out.append(fields)
    return out


def test_the_running_daemon_is_confined_in_every_thread(start_keyhole, echo, token, secret):
    kh = start_keyhole()
    r = curl(f"https://api.openai.test:{echo.port}/v1/models", cacert=kh.ca_crt,
             headers=[f"Authorization: Bearer {token}"], env={"HTTPS_PROXY": kh.proxy_url})
    assert r.rc == 0 and r.status == 200, r.stderr
    assert echoed_headers(echoed(r), "Authorization") == [f"Bearer {secret}"]
    threads = threads_status(kh.proc.pid)
    assert len(threads) > 3
    for t in threads:   # every thread: the workers, the resolver, the control socket's...
        assert t["NoNewPrivs"] == "1" and t["Seccomp"] == "2", t["Name"]
        if ROOT:   # root's capabilities cut to the few it needs, for good
            assert int(t["CapEff"], 16) == KEPT_CAPS, t
            assert int(t["CapBnd"], 16) == KEPT_CAPS, t
    k = json.loads(status(kh, "--json"))["keyholder"]
    assert k["confined"] and k["no_new_privs"] and k["seccomp"], k
    assert k["capabilities"] == "setuid, setgid, kill, net_bind_service, ipc_lock", k
    assert k["pid"] == kh.proc.pid
    # the monitor: the daemon's child, not confined, and named so
    with open(f"/proc/{k['monitor_pid']}/status") as fh:
        mon = dict(line.rstrip("\n").split(":\t", 1) for line in fh if ":\t" in line)
    assert mon["Name"] == "keyhole-monitor" and int(mon["PPid"]) == kh.proc.pid
    assert mon["Seccomp"] == "0"


def test_a_reload_still_fetches_through_the_monitor(start_keyhole, echo, token, tmp_path):
    """The daemon may run no program, yet credential_command is run again at
    each reload (by the monitor, which reads config.yaml itself) and the new
    key is the one swapped in."""
    value = tmp_path / "value"
    value.write_text("sk-first-value-0123456789")
    script = tmp_path / "cred.sh"
    script.write_text(f"#!/bin/sh\necho OPENAI_API_KEY=$(cat {value})\n")
    os.chmod(script, 0o700)
    kh = start_keyhole({"credential_source": "command", "credential_command": str(script)},
                       env={"OPENAI_API_KEY": None})

    def swapped():
        r = curl(f"https://api.openai.test:{echo.port}/v1/models", cacert=kh.ca_crt,
                 headers=[f"Authorization: Bearer {token}"],
                 env={"HTTPS_PROXY": kh.proxy_url})
        assert r.rc == 0 and r.status == 200, r.stderr
        return echoed_headers(echoed(r), "Authorization")

    assert swapped() == ["Bearer sk-first-value-0123456789"]
    value.write_text("sk-second-value-9876543210")
    kh.reload()
    assert swapped() == ["Bearer sk-second-value-9876543210"]


def test_the_trust_store_is_still_read_after_confinement(start_keyhole, echo, token, pki,
                                                         tmp_path):
    """The confined daemon reads only the system's files, yet upstreams are
    verified against every trust store it may be given: a directory
    SSL_CERT_DIR names (OpenSSL opens one hashed file per handshake, long
    after start), and an upstream_ca_file a reload names (read by the
    monitor, whose bytes the daemon trusts). The keyhole directory and the
    test's own files are not the system's: without either route the daemon
    could not have read them."""
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "upstream-ca.pem").write_bytes(open(pki.ca.cert, "rb").read())
    subprocess.run(["openssl", "rehash", str(certs)], check=True, capture_output=True)
    kh = start_keyhole({"upstream_ca_file": None}, env={"SSL_CERT_DIR": str(certs)})

    def status():
        """200, or the status keyhole refused the CONNECT with (it dials
        the upstream, and verifies it, before it answers)."""
        r = curl(f"https://api.openai.test:{echo.port}/v1/models", cacert=kh.ca_crt,
                 headers=[f"Authorization: Bearer {token}"],
                 env={"HTTPS_PROXY": kh.proxy_url})
        if r.rc == 56 and "CONNECT tunnel failed, response 502" in r.stderr:
            return 502
        assert r.rc == 0, r.stderr
        return r.status

    assert status() == 200            # found in SSL_CERT_DIR, after confinement
    kh = start_keyhole({"upstream_ca_file": None})
    assert status() == 502            # neither: the upstream is not trusted
    kh.reload(upstream_ca_file=pki.ca.cert)
    assert status() == 200            # the reload's file, from the monitor


@root_only
def test_a_replaced_etc_hosts_still_resolves(start_keyhole, echo, token, tmp_path):
    """The confined daemon may not read /etc as a whole, and a Landlock rule
    on one file would hold its old inode: /etc/hosts replaced by rename (as
    editors and network managers do) would then be unreadable, and its
    entries lost (c-ares goes on to DNS). The resolver reads
    copies its monitor makes again when an original changes. Here the daemon
    runs in a mount namespace whose /etc is a copy the test may replace
    files in (links to the real ones, and a hosts file of its own)."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    if subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare --mount is not permitted here")
    # this daemon's /etc: links to the real entries (nothing of theirs is
    # copied: shadow, host keys), but a hosts file of the test's own
    # (the real /etc is bound at real/ first, so the links do not point at
    # themselves once the copy is bound over /etc)
    etc, real = tmp_path / "etc", tmp_path / "real"
    etc.mkdir()
    real.mkdir()
    for name in os.listdir("/etc"):
        if name != "hosts":
            os.symlink(real / name, etc / name)
    (etc / "hosts").write_text("127.0.0.1 localhost\n127.0.0.1 first.wild.test\n")
    etc_q, real_q = shlex.quote(str(etc)), shlex.quote(str(real))
    wrapper = ("unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
               f'mount --bind /etc {real_q} && mount --bind {etc_q} /etc && exec "$0" "$@"')
    kh = start_keyhole({"resolve": None,
                        "extra_allowed_hosts": ["first.wild.test", "second.wild.test"]},
                       wrapper=wrapper)

    def reaches(host):
        r = curl(f"https://{host}:{echo.port}/", cacert=kh.ca_crt,
                 env={"HTTPS_PROXY": kh.proxy_url})
        return r.rc == 0 and r.status == 200

    assert reaches("first.wild.test")
    new = etc / "hosts.new"
    new.write_text("127.0.0.1 localhost\n127.0.0.1 second.wild.test\n")
    os.rename(new, etc / "hosts")       # a new inode, as an editor leaves it
    deadline = time.monotonic() + 15    # looked at every 5 s (KH_RESOLV_CONF_CHECK_MS)
    while not reaches("second.wild.test"):
        assert time.monotonic() < deadline, kh.stderr_text()[-2000:]
        time.sleep(0.5)
    assert "could not be copied" not in kh.stderr_text()
