"""The container's own environment against keyhole's (`keyhole docker run`).

With enforce_on_docker: true (the default) a user value that would route
around keyhole (HTTPS_PROXY, SSL_CERT_FILE, ...) or put a real key in the
container (a mapped variable other than its proxy token, including NAME alone
taken from the caller's environment) is refused: exit 1, the variable named,
docker never run, no secret printed. With enforce_on_docker: false it is a
warning naming the variable, docker runs, and the user's value is the one the
container gets. A value equal to keyhole's own is no collision."""
import secrets

import pytest

from helpers.cli import cli  # noqa: F401
from helpers.sandbox import CA_IN_CONTAINER, append_config, docker, docker_env, setup_and_start  # noqa: F401

SECRET = "sk-real-openai-" + secrets.token_hex(10)
KEYS = {"OPENAI_API_KEY": SECRET}


def env_file(tmp_path, text):
    p = tmp_path / "user.env"
    p.write_text(text)
    return str(p)


# (id, user args builder, variable named, caller's extra environment)
CASES = [
    ("e-https-proxy", lambda t: ["-e", "HTTPS_PROXY=http://evil:1"], "HTTPS_PROXY", {}),
    ("env-eq-https-proxy", lambda t: ["--env=https_proxy=http://evil:1"], "https_proxy", {}),
    ("e-attached-no-proxy", lambda t: ["-eNO_PROXY=*"], "NO_PROXY", {}),
    ("cluster-it-e", lambda t: ["-ite", "HTTP_PROXY=http://evil:1"], "HTTP_PROXY", {}),
    ("env-file-ssl-cert-file", lambda t: ["--env-file", env_file(t, "SSL_CERT_FILE=/x\n")],
     "SSL_CERT_FILE", {}),
    ("env-file-eq-ca-bundle",
     lambda t: ["--env-file=" + env_file(t, "# a comment\nREQUESTS_CA_BUNDLE=/x\n")],
     "REQUESTS_CA_BUNDLE", {}),
    ("e-real-key", lambda t: ["-e", f"OPENAI_API_KEY={SECRET}"], "OPENAI_API_KEY", {}),
    ("e-other-key", lambda t: ["-e", "OPENAI_API_KEY=sk-another"], "OPENAI_API_KEY", {}),
    ("e-bare-real-key", lambda t: ["-e", "OPENAI_API_KEY"], "OPENAI_API_KEY", {}),
    ("env-file-bare-real-key", lambda t: ["--env-file", env_file(t, "OPENAI_API_KEY\n")],
     "OPENAI_API_KEY", {}),
]


@pytest.mark.parametrize("build, var, extra", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_collision_refused_when_enforcing(cli, docker, tmp_path, build, var, extra):
    setup_and_start(cli, KEYS)
    user = build(tmp_path)
    r = cli.run("docker", "run", "--rm", *user, "alpine", "true", env={**KEYS, **extra})
    assert r.rc == 1, r
    assert var in r.err, r
    assert "enforce_on_docker" in r.err, r
    assert docker.calls() == 0, f"docker was run despite the collision: {docker.argv()}"
    assert SECRET not in r.out + r.err, r

    # `docker args -e/--env-file` checks the same way and prints no arguments
    if user[0] in ("-e", "--env-file"):
        r = cli.run("docker", "args", *user, env={**KEYS, **extra})
        assert r.rc == 1 and var in r.err and r.out == "", r
        assert SECRET not in r.out + r.err, r


def test_identical_values_are_no_collision(cli, docker):
    port = setup_and_start(cli, KEYS)
    token = cli.tokens()["OPENAI_API_KEY"]
    same = ["-e", f"OPENAI_API_KEY={token}",
            "-e", f"HTTPS_PROXY=http://host.docker.internal:{port}",
            "-e", "NO_PROXY=127.0.0.1,localhost,::1",
            "-e", "SSL_CERT_FILE=/etc/ssl/certs/hermes-egress-ca.crt"]
    r = cli.run("docker", "run", *same, "alpine", "true", env=KEYS)
    assert r.rc == 0, r
    assert "warning" not in r.err.lower(), r
    assert docker.calls() == 1
    argv = docker.argv()
    assert argv[-len(same) - 2:] == [*same, "alpine", "true"], argv
    got = docker_env(argv[1:])
    assert got["OPENAI_API_KEY"] == token and got["SSL_CERT_FILE"].startswith("/etc/ssl"), got


def test_enforce_off_warns_and_user_value_comes_after(cli, docker):
    port = setup_and_start(cli, KEYS)
    append_config(cli, "enforce_on_docker: false")
    ours = f"HTTPS_PROXY=http://host.docker.internal:{port}"
    theirs = "HTTPS_PROXY=http://evil:1"

    r = cli.run("docker", "run", "-e", theirs, "alpine", "true", env=KEYS)
    assert r.rc == 0, r
    assert "warning" in r.err.lower() and "HTTPS_PROXY" in r.err, r
    argv = docker.argv()
    assert argv is not None, r
    # the user opted out: keyhole leaves the variable to them entirely
    assert ours not in argv and theirs in argv, argv
    assert argv[-4:] == ["-e", theirs, "alpine", "true"], argv
    assert docker_env(argv[1:])["HTTPS_PROXY"] == "http://evil:1"

    # the real key, given bare from the caller's environment: the user opted out
    docker.reset()
    r = cli.run("docker", "run", "-e", "OPENAI_API_KEY", "alpine", "true", env=KEYS)
    assert r.rc == 0, r
    assert "warning" in r.err.lower() and "OPENAI_API_KEY" in r.err, r
    assert SECRET not in r.out + r.err, r
    argv = docker.argv()
    assert not [a for a in argv if a.startswith("OPENAI_API_KEY=")], argv
    # still offered (the container's own sandbox token)
    assert [a for a in argv if a.startswith("HERMES_PROXY_TOKEN_OPENAI_API_KEY=keyhole-")], argv
    assert argv[-4:] == ["-e", "OPENAI_API_KEY", "alpine", "true"], argv
    assert docker_env(argv[1:], host_env=KEYS)["OPENAI_API_KEY"] == SECRET


def test_enforce_off_env_file_value_is_the_one_docker_uses(cli, docker, tmp_path):
    """The docker CLI reads every --env-file first and applies -e/--env after them,
    whatever their order on the command line. So a user's SSL_CERT_FILE given in an
    env file only "wins" (as the warning says) if keyhole does not override it with
    its own -e."""
    setup_and_start(cli, KEYS)
    append_config(cli, "enforce_on_docker: false")
    f = env_file(tmp_path, "SSL_CERT_FILE=/x\n")
    r = cli.run("docker", "run", "--env-file", f, "alpine", "true", env=KEYS)
    assert r.rc == 0, r
    assert "warning" in r.err.lower() and "SSL_CERT_FILE" in r.err, r
    argv = docker.argv()
    assert argv is not None, r
    assert f"SSL_CERT_FILE={CA_IN_CONTAINER}" not in argv, argv
    got = docker_env(argv[1:])["SSL_CERT_FILE"]
    assert got == "/x", \
        (f"keyhole warned that the container's own SSL_CERT_FILE overrides keyhole's, but "
         f"docker would set SSL_CERT_FILE={got!r} (keyhole's -e beats any --env-file); "
         f"argv={argv}")
