"""keyhole enabled but unable to protect a container: not set up, set up but not
running, its CA gone, mappings.json empty or corrupt.

With enforce_on_docker (default) `keyhole docker args` and `keyhole docker run`
exit 1 with a message naming the cause and the command that fixes it, and
docker is never run. With enforce_on_docker: false they warn and add nothing:
docker runs with only the user's arguments. With enabled: false, docker runs
with only the user's arguments and `docker args` prints nothing."""
import os
import secrets

import pytest

from helpers.cli import cli  # noqa: F401
from helpers.sandbox import append_config, docker, setup_and_start  # noqa: F401

KEYS = {"OPENAI_API_KEY": "sk-real-openai-" + secrets.token_hex(10)}
USER = ["--rm", "-e", "FOO=bar", "alpine", "sh", "-c", "echo hi"]


def not_set_up(cli):
    cli.write_config("enabled: true\n")


def not_running(cli):
    setup_and_start(cli, KEYS)
    r = cli.run("stop", env=KEYS)
    assert r.rc == 0, r


def ca_deleted(cli):
    setup_and_start(cli, KEYS)
    os.unlink(cli.ca_crt)


def mappings_empty(cli):
    setup_and_start(cli, KEYS)
    cli.write_mappings([])


def mappings_corrupt(cli):
    setup_and_start(cli, KEYS)
    with open(cli.mappings, "w") as f:
        f.write('{"version": 1, "tokens": [ {"proxy_token": ')


# (id, make the state, words the message must hold)
STATES = [
    ("not-set-up", not_set_up, ["not set up", "keyhole setup"]),
    ("not-running", not_running, ["not running", "keyhole start"]),
    ("ca-deleted", ca_deleted, ["CA", "ca.crt", "keyhole setup"]),
    ("mappings-empty", mappings_empty, ["mappings.json", "keyhole setup"]),
    ("mappings-corrupt", mappings_corrupt, ["mappings.json", "keyhole setup"]),
]


@pytest.mark.parametrize("make, words", [s[1:] for s in STATES], ids=[s[0] for s in STATES])
def test_not_ready_enforcing_refuses(cli, docker, make, words):
    make(cli)
    r = cli.run("docker", "args", env=KEYS)
    assert r.rc == 1, r
    assert r.out == "", r
    for w in words:
        assert w in r.err, (w, r)

    r = cli.run("docker", "run", *USER, env=KEYS)
    assert r.rc == 1, r
    for w in words:
        assert w in r.err, (w, r)
    assert docker.calls() == 0, f"docker was run: {docker.argv()}"
    for res in cli.results:
        assert KEYS["OPENAI_API_KEY"] not in res.out + res.err, res


@pytest.mark.parametrize("make, words", [s[1:] for s in STATES], ids=[s[0] for s in STATES])
def test_not_ready_without_enforcement_warns(cli, docker, make, words):
    make(cli)
    append_config(cli, "enforce_on_docker: false")
    r = cli.run("docker", "args", env=KEYS)
    assert r.rc == 0, r
    assert r.out == "", r
    assert "warning" in r.err.lower(), r
    for w in words:
        assert w in r.err, (w, r)

    r = cli.run("docker", "run", *USER, env=KEYS)
    assert r.rc == 0, r
    assert "warning" in r.err.lower(), r
    assert docker.calls() == 1
    assert docker.argv() == ["run", *USER], r


def test_disabled_adds_nothing(cli, docker):
    # never set up: enabled defaults to false
    r = cli.run("docker", "args", env=KEYS)
    assert r.rc == 0 and r.out == "", r
    r = cli.run("docker", "run", *USER, env=KEYS)
    assert r.rc == 0, r
    assert docker.argv() == ["run", *USER], r

    # set up and running, then `enabled: false` written by hand (keyhole disable also stops it)
    docker.reset()
    setup_and_start(cli, KEYS)
    with open(cli.config) as f:
        text = f.read()
    assert "enabled: true" in text, text
    cli.write_config(text.replace("enabled: true", "enabled: false"))
    for fmt in ("shell", "json", "lines"):
        r = cli.run("docker", "args", "--format", fmt, env=KEYS)
        assert r.rc == 0, r
        assert r.out.strip() in ("", "[]"), r
    r = cli.run("docker", "run", *USER, env=KEYS)
    assert r.rc == 0, r
    assert docker.argv() == ["run", *USER], r

    docker.reset()
    r = cli.run("disable", env=KEYS)
    assert r.rc == 0, r
    r = cli.run("docker", "run", *USER, env=KEYS)
    assert r.rc == 0, r
    assert docker.argv() == ["run", *USER], r
