"""NODE_OPTIONS in the container gets --use-openssl-ca appended to the user's own
flags: never clobbered, never duplicated, and exactly one NODE_OPTIONS reaches
docker, whichever way the user gave theirs (--env-file, -e NAME=value, -e NAME
from the caller's environment, --env, --env=, -eNAME=value)."""
import json
import secrets

import pytest

from helpers.cli import cli  # noqa: F401
from helpers.sandbox import docker, docker_env, setup_and_start  # noqa: F401

KEYS = {"OPENAI_API_KEY": "sk-real-openai-" + secrets.token_hex(10)}
FLAG = "--use-openssl-ca"


def node_values(args):
    """Every NODE_OPTIONS value set with -e in an argument list."""
    out = []
    for i, a in enumerate(args):
        if a in ("-e", "--env") and i + 1 < len(args) and \
                args[i + 1].partition("=")[0] == "NODE_OPTIONS":
            out.append(args[i + 1].partition("=")[2])
    return out


def write_env_file(tmp_path, text):
    p = tmp_path / "container.env"
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize("user, merged", [
    ("--max-old-space-size=100", f"--max-old-space-size=100 {FLAG}"),
    (f"{FLAG} --max-old-space-size=100", f"{FLAG} --max-old-space-size=100"),
    (f"--max-old-space-size=100 {FLAG}", f"--max-old-space-size=100 {FLAG}"),
    (f"{FLAG}x", f"{FLAG}x {FLAG}"),        # a longer flag is not the flag
])
def test_docker_args_env_file_node_options(cli, tmp_path, user, merged):
    setup_and_start(cli, KEYS)
    f = write_env_file(tmp_path, f"# the container's settings\nNODE_OPTIONS={user}\nFOO=bar\n")
    r = cli.run("docker", "args", "--env-file", f, "--format", "json", env=KEYS)
    assert r.rc == 0, r
    assert node_values(json.loads(r.out)) == [merged], r.out

    r = cli.run("docker", "args", "-e", f"NODE_OPTIONS={user}", "--format", "json", env=KEYS)
    assert r.rc == 0, r
    assert node_values(json.loads(r.out)) == [merged], r.out


def test_docker_run_e_node_options(cli, docker):
    setup_and_start(cli, KEYS)
    r = cli.run("docker", "run", "-e", "NODE_OPTIONS=--foo", "img", env=KEYS)
    assert r.rc == 0, r
    argv = docker.argv()
    assert argv is not None and argv[0] == "run", argv
    nodes = [a for a in argv if a.startswith("NODE_OPTIONS")]
    assert nodes == [f"NODE_OPTIONS=--foo {FLAG}"], argv
    assert argv[-1] == "img", argv
    assert docker_env(argv[1:])["NODE_OPTIONS"] == f"--foo {FLAG}", argv


@pytest.mark.parametrize("form", ["--env NODE_OPTIONS=--foo", "--env=NODE_OPTIONS=--foo",
                                  "-eNODE_OPTIONS=--foo", "-e NODE_OPTIONS",
                                  "--env-file"])
def test_docker_run_node_options_forms(cli, docker, tmp_path, form):
    """Whatever the form, the container docker would start gets the user's flags
    plus --use-openssl-ca, once."""
    setup_and_start(cli, KEYS)
    env = dict(KEYS)
    if form == "--env-file":
        user_args = ["--env-file", write_env_file(tmp_path, "NODE_OPTIONS=--foo\n")]
    elif form == "-e NODE_OPTIONS":
        user_args = ["-e", "NODE_OPTIONS"]
        env["NODE_OPTIONS"] = "--foo"
    else:
        user_args = form.split(" ")
    r = cli.run("docker", "run", "--rm", *user_args, "img", "node", "app.js", env=env)
    assert r.rc == 0, r
    argv = docker.argv()
    assert argv is not None and argv[0] == "run", (argv, r)
    assert argv[-3:] == ["img", "node", "app.js"], argv
    got = docker_env(argv[1:], host_env=env)
    assert got.get("NODE_OPTIONS") == f"--foo {FLAG}", \
        f"user form {form!r}: docker would give the container NODE_OPTIONS=" \
        f"{got.get('NODE_OPTIONS')!r}; argv={argv}"
