"""When the daemon cannot even be executed, `keyhole start` says why: the exec
error and what it likely means, instead of only "exited during start (status
127)" with nothing in keyhole.log. The child reports execve's errno through a
close-on-exec pipe.

- The binary sits in a directory the user keyhole runs as cannot enter (a
  checkout cloned into a 0700 `mktemp -d` directory, started as `nobody`):
  Permission denied, naming that directory and the uid.
- The binary was removed between the command's start and the launch (an
  upgrade): No such file or directory, saying so.

No pidfile or nonce is left behind either way."""
import os
import pwd
import shutil
import subprocess
import tempfile

import pytest

from helpers.cli import Cli, free_port, proxy_settings
from helpers.keyhole import mapping, mint_token

SECRET = "sk-real-exec-" + "3" * 24


def setpriv(uid, gid):
    return ("setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups")


def credential_script(cli, body):
    """A credential_command that runs `body` (shell), then prints the key."""
    path = os.path.join(cli.root, "get-keys.sh")
    with open(path, "w") as f:
        f.write(f"#!/bin/sh\n{body}\nprintf 'OPENAI_API_KEY=%s\\n' '{SECRET}'\n")
    os.chmod(path, 0o755)
    return path


def configure(cli, pki, **extra):
    cli.write_mappings([mapping(mint_token("openai"))])
    cli.write_config(proxy_settings(pki, free_port(), **extra))


def no_state_left(cli):
    assert not os.path.exists(cli.pidfile) and not os.path.exists(cli.nonce)


@pytest.fixture
def private_dir():
    """A fresh directory like `mktemp -d` makes: mode 0700, owned by us."""
    d = tempfile.mkdtemp(prefix="kh-private-", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_binary_in_a_directory_the_user_cannot_enter(keyhole_bin, pki, private_dir):
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run keyhole start as another user")
    try:
        pw = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody' on this machine")
    assert os.stat(private_dir).st_mode & 0o777 == 0o700
    binary = os.path.join(private_dir, "keyhole")
    shutil.copyfile(keyhole_bin, binary)
    os.chmod(binary, 0o755)
    root = tempfile.mkdtemp(prefix="kh-exec-", dir="/tmp")
    try:
        os.chmod(root, 0o755)
        cli = Cli(binary, root)
        configure(cli, pki)
        for d, _, files in os.walk(root):
            for n in [d] + [os.path.join(d, f) for f in files]:
                os.chown(n, pw.pw_uid, pw.pw_gid)
        r = cli.run("start", env={"OPENAI_API_KEY": SECRET, "HOME": cli.user_home},
                    wrapper=setpriv(pw.pw_uid, pw.pw_gid), preexec_fn=lambda: os.chdir("/"))
        if r.rc == 127 and "keyhole start" not in r.err:
            pytest.skip(f"setpriv here cannot start a binary {pw.pw_name} cannot reach, so "
                        f"the case cannot be set up: {r.err.strip()}")
        assert r.rc == 1, r
        assert f"cannot run {binary} as the daemon: Permission denied" in r.err, r
        assert f"{private_dir} is not searchable by uid {pw.pw_uid}" in r.err, r
        assert "status 127" not in r.err, r
        no_state_left(cli)
        cli.assert_no_leak([SECRET])
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_binary_removed_before_launch(keyhole_bin, pki, tmp_path):
    """The credential command (run by start before it launches the daemon)
    removes the binary start was run from."""
    d = tmp_path / "bin-copy"
    d.mkdir()
    binary = str(d / "keyhole")
    shutil.copyfile(keyhole_bin, binary)
    os.chmod(binary, 0o755)
    cli = Cli(binary, tmp_path / "cli")
    configure(cli, pki, credential_source="command",
              credential_command=credential_script(cli, f"rm -f '{binary}'"))
    r = cli.run("start")
    assert r.rc == 1, r
    assert f"cannot run {binary} (deleted) as the daemon: No such file or directory" in r.err, r
    assert "removed or replaced" in r.err, r
    no_state_left(cli)
    cli.assert_no_leak([SECRET])
    assert not subprocess.run(["pgrep", "-f", f"proxy --home {cli.home}"],
                              capture_output=True).stdout
