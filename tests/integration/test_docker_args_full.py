"""`keyhole docker args` after `keyhole setup` + `keyhole start`: the full set of
`docker run` arguments that put a container behind keyhole.

The CA is mounted read-only at /etc/ssl/certs/hermes-egress-ca.crt (a keyhole-named
alias of the same file is allowed), host.docker.internal maps to the host gateway,
the four proxy variables point at http://host.docker.internal:<tunnel_port>,
NO_PROXY/no_proxy keep loopback direct, the four CA bundle variables name the
mounted CA, HERMES_EGRESS_PROXY=1, every mapping gives both
HERMES_PROXY_TOKEN_<NAME>=<token> and <NAME>=<token>, and NODE_OPTIONS gets
--use-openssl-ca. No real secret is printed. --format json, lines and shell
carry the same arguments."""
import json
import secrets
import shlex
import subprocess

from helpers.cli import cli  # noqa: F401
from helpers.sandbox import (CA_IN_CONTAINER, CA_VARS, LOOPBACK_NO_PROXY, NO_PROXY_VARS,
                             PROXY_VARS, pairs, setup_and_start)

KEYS = {"OPENAI_API_KEY": "sk-real-openai-" + secrets.token_hex(10),
        "GROQ_API_KEY": "gsk-real-groq-" + secrets.token_hex(10)}


def expected_env(port, tokens):
    env = {v: f"http://host.docker.internal:{port}" for v in PROXY_VARS}
    env.update({v: LOOPBACK_NO_PROXY for v in NO_PROXY_VARS})
    env.update({v: CA_IN_CONTAINER for v in CA_VARS})
    env["HERMES_EGRESS_PROXY"] = "1"
    env["NODE_OPTIONS"] = "--use-openssl-ca"
    for name, tok in tokens.items():
        env[f"HERMES_PROXY_TOKEN_{name}"] = tok
        env[name] = tok
    return env


def check_args(args, cli, port, tokens):
    ps = pairs(args)
    flags = {f for f, _ in ps}
    assert flags <= {"-v", "-e", "--add-host"}, f"unexpected options in {args}"

    # the CA: read-only at the seed's path; any other mount is a keyhole-named alias of it
    mounts = [v for f, v in ps if f == "-v"]
    assert f"{cli.ca_crt}:{CA_IN_CONTAINER}:ro" in mounts, mounts
    for m in mounts:
        src, dst, mode = m.split(":")
        assert src == cli.ca_crt and mode == "ro", m
        assert dst == CA_IN_CONTAINER or "keyhole" in dst, m

    assert [v for f, v in ps if f == "--add-host"] == ["host.docker.internal:host-gateway"], args

    envs = [v for f, v in ps if f == "-e"]
    names = [e.partition("=")[0] for e in envs]
    dups = sorted({n for n in names if names.count(n) > 1})
    assert not dups, f"variables given twice: {dups}: {args}"
    got = dict(e.partition("=")[::2] for e in envs)
    assert all("=" in e for e in envs), envs
    assert got == expected_env(port, tokens), json.dumps(got, indent=1)


def test_docker_args_full(cli):
    port = setup_and_start(cli, KEYS)
    tokens = cli.tokens()
    assert set(tokens) == set(KEYS), tokens

    r = cli.run("docker", "args", "--format", "json", env=KEYS)
    assert r.rc == 0, r
    args = json.loads(r.out)
    assert isinstance(args, list) and all(isinstance(a, str) for a in args), r.out
    check_args(args, cli, port, tokens)

    r = cli.run("docker", "args", "--format", "lines", env=KEYS)
    assert r.rc == 0, r
    assert r.out.endswith("\n"), r
    assert r.out.split("\n")[:-1] == args, r

    r = cli.run("docker", "args", "--format", "shell", env=KEYS)
    assert r.rc == 0, r
    assert shlex.split(r.out) == args, r

    r = cli.run("docker", "args", env=KEYS)     # shell is the default
    assert r.rc == 0, r
    assert shlex.split(r.out) == args, r

    for res in cli.results:
        for s in KEYS.values():
            assert s not in res.out + res.err, f"real secret printed by keyhole {res.args}"


def test_docker_args_home_option_and_bad_format(cli, tmp_path):
    """--home selects the state directory like KEYHOLE_HOME; a bad --format is a usage error."""
    port = setup_and_start(cli, KEYS)
    tokens = cli.tokens()
    r = cli.run("docker", "args", "--home", cli.home, "--format", "json",
                env={"KEYHOLE_HOME": str(tmp_path / "elsewhere"), **KEYS})
    assert r.rc == 0, r
    check_args(json.loads(r.out), cli, port, tokens)

    r = cli.run("docker", "args", "--format", "yaml", env=KEYS)
    assert r.rc == 2, r
    assert "--format" in r.err and r.out == "", r


def test_docker_args_shell_quoting(cli, tmp_path):
    """A state directory whose path needs quoting: `eval "docker run $(keyhole docker
    args) IMAGE"` must see the same words as --format json."""
    odd = str(tmp_path / "it's a $HOME; `x`")
    cli.home = odd
    cli.env["KEYHOLE_HOME"] = odd
    port = setup_and_start(cli, KEYS)
    r = cli.run("docker", "args", "--format", "json", env=KEYS)
    assert r.rc == 0, r
    args = json.loads(r.out)
    check_args(args, cli, port, cli.tokens())
    r = cli.run("docker", "args", env=KEYS)
    assert r.rc == 0, r
    assert shlex.split(r.out) == args, r
    # and through a real shell's eval, as the help text suggests
    sh = subprocess.run(["sh", "-c", 'eval "set -- $(cat)"; printf "%s\\n" "$@"'],
                        input=r.out, capture_output=True, text=True, timeout=10)
    assert sh.returncode == 0, sh.stderr
    assert sh.stdout.split("\n")[:-1] == args, sh.stdout
