"""`keyhole docker run -d` used to give the container sandbox tokens that were
revoked the moment `docker run` returned (at once with -d): the detached
container got 401 on every request, with no warning. Now -d/--detach, alone
or in a cluster, is refused before anything is issued or run, with the
detached recipe: `keyhole docker args --label L` gives the container tokens of
its own under L, live until `keyhole token revoke --label L`. Issue 22 item 2."""
import json
import secrets

import pytest

from helpers.cli import cli  # noqa: F401
from helpers.sandbox import docker, docker_env, grants, setup_and_start  # noqa: F401

KEYS = {"OPENAI_API_KEY": "sk-real-openai-" + secrets.token_hex(10)}


@pytest.mark.parametrize("opts", [["-d"], ["-dit"], ["-itd"], ["--detach"],
                                  ["--detach=true"], ["--rm", "-d", "--name", "web"]])
def test_detach_refused_with_recipe(cli, docker, opts):
    setup_and_start(cli, KEYS)
    r = cli.run("docker", "run", *opts, "alpine", "sleep", "60", env=KEYS)
    assert r.rc == 2 and docker.calls() == 0, r
    assert "-d/--detach is not supported" in r.err, r
    assert "keyhole docker args --label" in r.err and "keyhole token revoke --label" in r.err, r
    assert grants(cli) == [], "tokens were issued for a refused run"


def test_detach_false_and_command_d_run(cli, docker):
    """--detach=false is not detached; a -d after the image is the command's."""
    setup_and_start(cli, KEYS)
    for args in (["--detach=false", "alpine", "true"], ["alpine", "ls", "-d", "/"]):
        r = cli.run("docker", "run", *args, env=KEYS)
        assert r.rc == 0, r
    assert docker.calls() == 2


def test_args_label_gives_tokens_that_live_until_revoked(cli, docker):
    setup_and_start(cli, KEYS)
    mapping_token = cli.tokens()["OPENAI_API_KEY"]
    r = cli.run("docker", "args", "--label", "web-1", "--format", "json", env=KEYS)
    assert r.rc == 0, r
    env = docker_env(json.loads(r.out) + ["alpine"])
    token = env["OPENAI_API_KEY"]
    assert token.startswith("keyhole-openai-") and token != mapping_token, env
    assert env["HERMES_PROXY_TOKEN_OPENAI_API_KEY"] == token, env
    g = grants(cli)
    assert [(x["label"], x["state"]) for x in g] == [("web-1", "active")], g
    assert token.startswith(g[0]["token"].rstrip(".…")), g
    r = cli.run("token", "revoke", "--label", "web-1")
    assert r.rc == 0, r
    assert [x["state"] for x in grants(cli)] == ["revoked"]
