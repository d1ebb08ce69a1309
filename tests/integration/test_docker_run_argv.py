"""`keyhole docker run ...` runs `docker run <keyhole's args> <the user's args>`:
keyhole's arguments (those of `keyhole docker args`, but with sandbox tokens of
the container's own in place of the mapping tokens) first, then the user's
options, image and command untouched and in order. Options that belong to the
container's command (its own --help, -e, --env-file) are not interpreted, and
docker's exit status is keyhole's. The container's tokens are live while
docker runs and revoked when it returns."""
import json
import secrets

from helpers.cli import cli  # noqa: F401
from helpers.sandbox import (append_config, docker, grants, same_but_tokens,  # noqa: F401
                             setup_and_start)

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
    assert same_but_tokens(docker.argv()) == same_but_tokens(["run", *ours, *user]), r
    assert "usage" not in r.out.lower(), r

    # the command's own options, as separate words, are the container's business:
    # an -e/--env-file/--help after the image is neither checked nor acted on
    docker.reset()
    user = ["--rm", "--name", "kh-test", "ubuntu", "env", "-e", "HTTPS_PROXY=http://evil:1",
            "--env-file", "/nonexistent", "--help", "-h"]
    r = cli.run("docker", "run", *user, env=KEYS)
    assert r.rc == 0, r
    assert same_but_tokens(docker.argv()) == same_but_tokens(["run", *ours, *user]), r

    # "--" ends docker's options too; what follows is passed along as it is
    docker.reset()
    user = ["--rm", "ubuntu", "--", "-e", "OPENAI_API_KEY=sk-x"]
    r = cli.run("docker", "run", *user, env=KEYS)
    assert r.rc == 0, r
    assert same_but_tokens(docker.argv()) == same_but_tokens(["run", *ours, *user]), r


def test_docker_run_exit_status_propagates(cli, docker):
    setup_and_start(cli, KEYS)
    ours = keyhole_args(cli)
    docker.set_exit(3)
    r = cli.run("docker", "run", "--rm", "alpine", "false", env=KEYS)
    assert r.rc == 3, r
    assert same_but_tokens(docker.argv()) == same_but_tokens(["run", *ours, "--rm", "alpine",
                                                              "false"]), r

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
    assert same_but_tokens(docker.argv()) == same_but_tokens(["run", *ours, *user]), \
        f"`keyhole docker run -h box ...` did not run docker: {r}"


def test_docker_run_gives_sandbox_tokens_revoked_on_exit(cli, docker, keyhole_bin):
    setup_and_start(cli, KEYS)
    mapping_token = cli.tokens()["OPENAI_API_KEY"]
    cli.env["FAKE_DOCKER_DURING"] = f"'{keyhole_bin}' token list --json"
    r = cli.run("docker", "run", "--name", "agent.1", "--rm", "alpine", "true", env=KEYS)
    assert r.rc == 0, r
    argv = docker.argv()
    given = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in argv if a.startswith(
        ("OPENAI_API_KEY=", "HERMES_PROXY_TOKEN_OPENAI_API_KEY="))}
    token = given["OPENAI_API_KEY"]
    assert token == given["HERMES_PROXY_TOKEN_OPENAI_API_KEY"] != mapping_token, given
    assert mapping_token not in "\n".join(argv), "the shared token reached the container"

    with open(docker.argv_path + ".during") as f:
        during = json.loads(f.read())
    assert len(during) == 1 and during[0]["state"] == "active", during
    label = during[0]["label"]
    assert label.startswith("docker-agent.1-") and label.rsplit("-", 1)[1].isdigit(), label
    after = grants(cli)
    assert [(g["label"], g["state"]) for g in after] == [(label, "revoked")], after
    r = cli.run("status", "--json")
    assert r.rc == 0 and json.loads(r.out)["sandbox_tokens"] == 0, r

    # a failing container is cleaned up the same way, and its status is kept
    docker.set_exit(7)
    r = cli.run("docker", "run", "alpine", "false", env=KEYS)
    assert r.rc == 7, r
    assert all(g["state"] == "revoked" for g in grants(cli)), grants(cli)
    assert len(grants(cli)) == 2


def test_sandbox_tokens_settings_apply(cli, docker, keyhole_bin):
    """config.yaml sandbox_tokens: sets the lifetime and budget a container's tokens get
    (a running daemon does not need a reload: the command reads them)."""
    setup_and_start(cli, KEYS)
    append_config(cli, "sandbox_tokens:\n  ttl: 1h\n  budget: 5")
    cli.env["FAKE_DOCKER_DURING"] = f"'{keyhole_bin}' token list --json"
    r = cli.run("docker", "run", "alpine", "true", env=KEYS)
    assert r.rc == 0, r
    with open(docker.argv_path + ".during") as f:
        g = json.loads(f.read())[0]
    assert g["budget"] == 5 and g["expires"] - g["issued"] == 3600, g
    r = cli.run("config")
    assert "sandbox_tokens:\n  ttl: 3600\n  budget: 5" in r.out, r
