"""`keyhole docker run ...` execs `docker run <keyhole's args> <the user's args>`:
keyhole's arguments (the same as `keyhole docker args`) first, then the user's
options, image and command untouched and in order. Options that belong to the
container's command (its own --help, -e, --env-file) are not interpreted, and
docker's exit status is keyhole's."""
import json
import secrets

from helpers.cli import cli  # noqa: F401
from helpers.sandbox import docker, setup_and_start  # noqa: F401

KEYS = {"OPENAI_API_KEY": "sk-real-openai-" + secrets.token_hex(10)}


def keyhole_args(cli):
    r = cli.run("docker", "args", "--format", "json", env=KEYS)
    assert r.rc == 0, r
    return json.loads(r.out)


def test_docker_run_argv(cli, docker):
    setup_and_start(cli, KEYS)
    ours = keyhole_args(cli)
    assert ours, "docker args printed nothing"

    user = ["-it", "--rm", "-v", "/a:/b", "ubuntu", "bash", "-c", "x --help -e HTTPS_PROXY=y"]
    r = cli.run("docker", "run", *user, env=KEYS)
    assert r.rc == 0, r
    assert docker.calls() == 1
    assert docker.argv() == ["run", *ours, *user], r
    assert "usage" not in r.out.lower(), r

    # the command's own options, as separate words, are the container's business:
    # an -e/--env-file/--help after the image is neither checked nor acted on
    docker.reset()
    user = ["--rm", "--name", "kh-test", "ubuntu", "env", "-e", "HTTPS_PROXY=http://evil:1",
            "--env-file", "/nonexistent", "--help", "-h"]
    r = cli.run("docker", "run", *user, env=KEYS)
    assert r.rc == 0, r
    assert docker.argv() == ["run", *ours, *user], r

    # "--" ends docker's options too; what follows is passed along as it is
    docker.reset()
    user = ["--rm", "ubuntu", "--", "-e", "OPENAI_API_KEY=sk-x"]
    r = cli.run("docker", "run", *user, env=KEYS)
    assert r.rc == 0, r
    assert docker.argv() == ["run", *ours, *user], r


def test_docker_run_exit_status_propagates(cli, docker):
    setup_and_start(cli, KEYS)
    ours = keyhole_args(cli)
    docker.set_exit(3)
    r = cli.run("docker", "run", "--rm", "alpine", "false", env=KEYS)
    assert r.rc == 3, r
    assert docker.argv() == ["run", *ours, "--rm", "alpine", "false"], r

    docker.reset()
    docker.set_exit(125)
    r = cli.run("docker", "run", "alpine", env=KEYS)
    assert r.rc == 125, r
    assert docker.calls() == 1


def test_docker_run_without_docker_on_path(cli, tmp_path):
    """No `docker` anywhere on PATH: exit 1 with a message, not a hang or a crash."""
    setup_and_start(cli, KEYS)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    r = cli.run("docker", "run", "alpine", env={"PATH": str(empty), **KEYS})
    assert r.rc == 1, r
    assert "docker" in r.err, r


def test_docker_run_short_h_is_dockers_hostname(cli, docker):
    """`-h` is `docker run`'s --hostname, even as the first option."""
    setup_and_start(cli, KEYS)
    ours = keyhole_args(cli)
    user = ["-h", "box", "--rm", "alpine", "hostname"]
    r = cli.run("docker", "run", *user, env=KEYS)
    assert r.rc == 0, r
    assert docker.argv() == ["run", *ours, *user], \
        f"`keyhole docker run -h box ...` did not run docker: {r}"
