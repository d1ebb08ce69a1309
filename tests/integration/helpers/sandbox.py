"""Shared pieces of the Docker-wiring and `keyhole sandbox` scenarios (issue #5).

Docker: there is no Docker engine on the test machines, so `keyhole docker run`
is checked at the argv level. `FakeDocker` puts helpers/fake_docker first on the
operator's PATH as `docker`; it records its argv (one per line) and exits with
FAKE_DOCKER_EXIT. `docker_env()` resolves a `docker run` argv the way the docker
CLI does (every --env-file first, then every -e/--env, later entries winning),
so a test can say which value a container would really get.

Sandbox: `sandbox` is a fixture with a daemon started by `keyhole start` whose
config pins api.openai.test/other.test/plain.test to 127.0.0.1, trusts the test
upstream CA and has `upstream_deny_cidrs: []`, so commands inside
`keyhole sandbox` can reach the tests' loopback upstreams through it. Sandboxed
commands run in a private working directory (bound read-write by keyhole), never
the repository.

Import the fixtures: `from helpers.sandbox import docker, sandbox  # noqa: F401`
(they need `cli` too: `from helpers.cli import cli  # noqa: F401`).
"""
import json
import os
import re
import secrets
import subprocess

import pytest

from .cli import HELPERS, free_port, proxy_settings, run_on_pty
from .keyhole import mapping, mint_token

FAKE_DOCKER = os.path.join(HELPERS, "fake_docker")
BWRAP = "/usr/bin/bwrap"
PY = "/usr/bin/python3"
CA_IN_CONTAINER = "/etc/ssl/certs/hermes-egress-ca.crt"
LOOPBACK_NO_PROXY = "127.0.0.1,localhost,::1"
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")
NO_PROXY_VARS = ("NO_PROXY", "no_proxy")
CA_VARS = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS")

# docker run options that take no value (everything else starting with - does).
DOCKER_BOOL_LONG = {"detach", "interactive", "tty", "rm", "privileged", "init", "publish-all",
                    "read-only", "no-healthcheck", "oom-kill-disable",
                    "disable-content-trust", "sig-proxy", "quiet", "help", "use-api-socket"}
DOCKER_BOOL_SHORT = set("ditPq")


# ---- Docker ------------------------------------------------------------------

class FakeDocker:
    """helpers/fake_docker installed as `docker` in a Cli's bin directory."""

    def __init__(self, cli):
        self.cli = cli
        self.argv_path = os.path.join(cli.root, "docker-argv.txt")
        link = os.path.join(cli.bin_dir, "docker")
        if not os.path.lexists(link):
            os.symlink(FAKE_DOCKER, link)
        cli.env["FAKE_DOCKER_ARGV"] = self.argv_path
        cli.env.pop("FAKE_DOCKER_EXIT", None)

    def set_exit(self, code):
        self.cli.env["FAKE_DOCKER_EXIT"] = str(code)

    def calls(self):
        try:
            with open(self.argv_path + ".calls") as f:
                return len(f.read().splitlines())
        except FileNotFoundError:
            return 0

    def argv(self):
        """The arguments of the last call (without argv[0]), or None if never called."""
        try:
            with open(self.argv_path) as f:
                text = f.read()
        except FileNotFoundError:
            return None
        return text.split("\n")[:-1] if text != "\n" else []

    def reset(self):
        for p in (self.argv_path, self.argv_path + ".calls"):
            if os.path.exists(p):
                os.unlink(p)


SANDBOX_TOKEN_RE = re.compile(r"keyhole-([a-z0-9-]+)-[0-9a-f]{32}")


def same_but_tokens(words):
    """words with every proxy token's random part blanked: `docker run` gives a
    container sandbox tokens of its own where `docker args` prints the mapping's."""
    return [SANDBOX_TOKEN_RE.sub(r"keyhole-\1-<token>", w) for w in words]


def grants(cli):
    """`keyhole token list --json` of the Cli's daemon."""
    r = cli.run("token", "list", "--json")
    assert r.rc == 0, r
    return json.loads(r.out)


@pytest.fixture
def docker(cli):
    return FakeDocker(cli)


def setup_and_start(cli, keys, port=None):
    """`keyhole setup --tunnel-port P` then `keyhole start`; returns P."""
    port = port or free_port()
    r = cli.run("setup", "--tunnel-port", str(port), env=keys)
    assert r.rc == 0, r
    r = cli.run("start", env=keys)
    assert r.rc == 0, r
    return port


def append_config(cli, text):
    with open(cli.config, "a") as f:
        f.write(text if text.endswith("\n") else text + "\n")


def split_run_options(args):
    """(options, rest) of a `docker run` argument list: rest starts at the image."""
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "--":
        a = args[i]
        if a.startswith("--"):
            if "=" not in a and a[2:] not in DOCKER_BOOL_LONG:
                i += 1
        else:
            name = a[1:].lstrip("".join(DOCKER_BOOL_SHORT))
            if name and len(name) == 1:
                i += 1
        i += 1
    return args[:i], args[i:]


def env_entries(options):
    """([env-file paths], [-e values]) in the order given."""
    files, envs, i = [], [], 0
    while i < len(options):
        a = options[i]
        nxt = options[i + 1] if i + 1 < len(options) else None
        if a in ("-e", "--env"):
            envs.append(nxt)
            i += 1
        elif a.startswith("--env="):
            envs.append(a[len("--env="):])
        elif a == "--env-file":
            files.append(nxt)
            i += 1
        elif a.startswith("--env-file="):
            files.append(a[len("--env-file="):])
        elif a.startswith("-") and not a.startswith("--"):
            name = a[1:].lstrip("".join(DOCKER_BOOL_SHORT))
            if name.startswith("e"):
                envs.append(name[1:] if len(name) > 1 else nxt)
            if len(name) == 1:
                i += 1
        elif a.startswith("--") and "=" not in a and a[2:] not in DOCKER_BOOL_LONG:
            i += 1
        i += 1
    return files, envs


def _env_file_entries(path):
    out = []
    with open(path) as f:
        for line in f.read().splitlines():
            line = line.lstrip(" \t")
            if line and not line.startswith("#"):
                out.append(line)
    return out


def docker_env(run_args, host_env=None):
    """The container environment a real `docker run <run_args>` would build from its
    options: env files first, then -e/--env (the docker CLI appends the flags after
    the files "to allow override"), a later NAME winning; NAME alone takes the
    value from host_env (dropped if unset there)."""
    options, _ = split_run_options(run_args)
    files, envs = env_entries(options)
    entries = [e for f in files for e in _env_file_entries(f)] + envs
    env = {}
    for e in entries:
        name, sep, value = e.partition("=")
        if not sep:
            if host_env and name in host_env:
                env[name] = host_env[name]
            continue
        env[name] = value
    return env


def pairs(args):
    """[(flag, value)] of an argument list made only of option/value pairs."""
    assert len(args) % 2 == 0, f"odd number of arguments: {args}"
    return [(args[i], args[i + 1]) for i in range(0, len(args), 2)]


# ---- Sandbox -----------------------------------------------------------------

def need_bwrap():
    if not os.access(BWRAP, os.X_OK):
        pytest.skip(f"{BWRAP} not installed (apt-get install bubblewrap)")


class Sandbox:
    """A running daemon (keyhole start) and a way to run commands in `keyhole sandbox`."""

    def __init__(self, cli, port, token, secret, workdir):
        self.cli, self.port, self.token, self.secret = cli, port, token, secret
        self.workdir = workdir
        self.env = {"OPENAI_API_KEY": secret}   # the operator's shell holds the real key

    def _env(self, env):
        e = dict(self.env)
        e.update(env or {})
        return e

    def run(self, *cmd, opts=(), env=None, timeout=20, stdin=subprocess.DEVNULL, cwd=None):
        """`keyhole sandbox [opts] -- cmd...` in the work directory (or cwd)."""
        where = cwd or self.workdir
        return self.cli.run("sandbox", *opts, "--", *cmd, env=self._env(env), timeout=timeout,
                            stdin=stdin, preexec_fn=lambda: os.chdir(where))

    def popen(self, *cmd, opts=(), env=None):
        return subprocess.Popen([self.cli.binary, "sandbox", *opts, "--", *cmd],
                                env=self.cli.environment(self._env(env)), cwd=self.workdir,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)

    def run_pty(self, *cmd, timeout=15):
        """`keyhole sandbox -- cmd...` with a pseudo-terminal as stdin/stdout/stderr."""
        return run_on_pty([self.cli.binary, "sandbox", "--", *cmd],
                          self.cli.environment(self._env(None)), timeout,
                          f"keyhole sandbox {cmd}", cwd=self.workdir)


def sandbox_config(pki, port, **extra):
    cfg = proxy_settings(pki, port, upstream_deny_cidrs=[],
                         extra_allowed_hosts=["api.openai.test", "other.test", "plain.test"])
    cfg["resolve"] = {"api.openai.test": "127.0.0.1", "other.test": "127.0.0.1",
                      "plain.test": "127.0.0.1"}
    cfg.update(extra)
    return cfg


@pytest.fixture
def sandbox(cli, pki, tmp_path):
    """A daemon started with `keyhole start` for one OpenAI mapping (api.openai.test)."""
    need_bwrap()
    secret = "sk-real-sandbox-" + secrets.token_hex(12)
    token = mint_token("openai")
    cli.write_mappings([mapping(token)])
    port = free_port()
    cli.write_config(sandbox_config(pki, port))
    r = cli.run("start", env={"OPENAI_API_KEY": secret})
    assert r.rc == 0, r
    work = tmp_path / "work"
    work.mkdir()
    yield Sandbox(cli, port, token, secret, str(work))
