"""keyhole.pid left behind: a pid whose process is gone, or one that now
belongs to some other program, is stale: start replaces it (and leaves that
program alone). A pidfile that is a symlink is not followed: start refuses."""
import os
import subprocess

from helpers.cli import cli, free_port, pid_alive  # noqa: F401

KEY = {"OPENAI_API_KEY": "sk-real-stale-" + "5" * 20}


def set_up(cli):
    r = cli.run("setup", "--tunnel-port", str(free_port()), env=KEY)
    assert r.rc == 0, r


def write_state(cli, pid, nonce="ab" * 32):
    for name, text in (("keyhole.pid", f"{pid}\n"), ("keyhole.nonce", nonce + "\n")):
        fd = os.open(cli.path(name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, text.encode())
        os.close(fd)


def test_dead_pid_is_replaced(cli):
    set_up(cli)
    gone = subprocess.Popen(["true"])
    gone.wait()
    write_state(cli, gone.pid)
    r = cli.run("status")
    assert "not running" in r.out, r
    r = cli.run("start", env=KEY)
    assert r.rc == 0, r
    assert cli.pid() != gone.pid and pid_alive(cli.pid())
    assert cli.read("keyhole.nonce").strip() != "ab" * 32
    assert cli.mode("keyhole.pid") == 0o600


def test_pid_of_another_program_is_replaced_and_left_alone(cli):
    set_up(cli)
    other = subprocess.Popen(["sleep", "30"])
    try:
        write_state(cli, other.pid)
        r = cli.run("start", env=KEY)
        assert r.rc == 0, r
        assert cli.pid() not in (None, other.pid)
        assert other.poll() is None, "keyhole signalled a process that is not keyhole"
    finally:
        other.kill()
        other.wait()


def test_symlinked_pidfile_is_refused(cli, tmp_path):
    set_up(cli)
    victim = tmp_path / "victim"
    victim.write_text("not yours\n")
    os.symlink(victim, cli.pidfile)
    r = cli.run("start", env=KEY)
    assert victim.read_text() == "not yours\n", "start wrote through the symlink"
    assert r.rc == 1, r
    assert "keyhole.pid" in r.err, r
    assert os.path.islink(cli.pidfile), "start replaced the planted symlink and carried on"
    assert not cli.daemon_pids


def test_stop_leaves_a_stranger_alone(cli):
    """stop signals only a process proven to be this home's daemon: not one whose
    pid merely sits in keyhole.pid, nor a "keyhole" started with another nonce."""
    set_up(cli)
    stranger = subprocess.Popen(["sleep", "30"])
    lookalike = subprocess.Popen(["keyhole", "30"], executable="/bin/sleep",
                                 env={"KEYHOLE_NONCE": "cd" * 32})
    try:
        for proc in (stranger, lookalike):
            write_state(cli, proc.pid)          # nonce file says "ab" * 32
            r = cli.run("stop")
            assert r.rc == 0, r
            assert "not running" in r.out, r
            assert not os.path.exists(cli.pidfile), "the stale pidfile was left behind"
            assert proc.poll() is None, f"keyhole stop signalled pid {proc.pid}: {r}"
    finally:
        for proc in (stranger, lookalike):
            proc.kill()
            proc.wait()
