"""End to end against a real dockerd (Debian's docker.io), issue 22.

Each test runs in a private network namespace (helpers.engine): keyhole's
daemon, the test's TLS upstream (api.openai.test pinned to the namespace's
127.0.0.1) and dockerd with its docker0 bridge. The image is imported from
this machine's busybox-static and curl, never pulled. Skipped, with the
reason, when dockerd cannot start here.

- keyhole started before dockerd: docker0 appears later and keyhole listens on
  it without a reload (item 1); `keyhole docker run` then gives the container
  its own token, the real key reaches the upstream, the token is revoked when
  the container exits.
- `keyhole docker run` killed with SIGKILL while the container runs: the
  daemon revokes the container's tokens within seconds, and the container's
  next request gets 401 (item 3).
"""
import json
import os
import select
import signal
import subprocess
import time

from helpers.cli import cli, free_port, proxy_settings  # noqa: F401
from helpers.engine import CLEAN_ENV, dockerd_factory, import_image, netns  # noqa: F401
from helpers.keyhole import mapping, mint_token
from helpers.sandbox import grants

NS_UPSTREAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers",
                           "ns_upstream.py")
SECRET = "sk-real-e2e-0123456789abcdef01234567"


def start_upstream(netns, pki, tmp_path):
    """(port, path of its record file) of the echo upstream inside netns."""
    out = str(tmp_path / "upstream.json")
    p = netns.popen(["/usr/bin/python3", NS_UPSTREAM, pki.server.cert, pki.server.key, out],
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=CLEAN_ENV)
    ready, _, _ = select.select([p.stdout], [], [], 10)
    assert ready, "upstream did not start within 10 s"
    return int(p.stdout.readline()), out


def received(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return []


def start_keyhole(cli, netns, pki):
    """`keyhole start` inside netns for one OpenAI mapping; returns the tunnel port."""
    port = free_port()
    cli.write_mappings([mapping(mint_token("openai"))])
    cli.write_config(proxy_settings(pki, port, upstream_deny_cidrs=[]))
    r = cli.run("start", env={"OPENAI_API_KEY": SECRET}, wrapper=netns.prefix)
    assert r.rc == 0, r
    return port


def curl_script(uport):
    return (f'curl -sS --max-time 10 -H "Authorization: Bearer $OPENAI_API_KEY" '
            f'-o /dev/null -w "%{{http_code}}\\n" https://api.openai.test:{uport}/echo')


def test_engine_started_after_keyhole(cli, netns, dockerd_factory, pki, tmp_path):
    uport, rec = start_upstream(netns, pki, tmp_path)
    port = start_keyhole(cli, netns, pki)
    dockerd = dockerd_factory()          # docker0 appears only now
    netns.wait_healthz("172.17.0.1", port, up=True, timeout=5)
    image = import_image(dockerd)
    cli.env["DOCKER_HOST"] = dockerd.host

    r = cli.run("docker", "run", "--rm", image, "sh", "-c", curl_script(uport),
                wrapper=netns.prefix, timeout=90)
    assert r.rc == 0 and r.out.strip().endswith("200"), r
    auths = [x["authorization"] for x in received(rec)]
    assert auths == [f"Bearer {SECRET}"], auths
    g = grants(cli)
    assert [x["state"] for x in g] == ["revoked"], g


def test_killed_wrapper_container_gets_401(cli, netns, dockerd_factory, pki, tmp_path):
    uport, rec = start_upstream(netns, pki, tmp_path)
    port = start_keyhole(cli, netns, pki)
    dockerd = dockerd_factory()
    netns.wait_healthz("172.17.0.1", port, up=True, timeout=5)
    image = import_image(dockerd)
    cli.env["DOCKER_HOST"] = dockerd.host
    name = "kh-e2e-killed"
    p = subprocess.Popen([*netns.prefix, cli.binary, "docker", "run", "--rm", "--name", name,
                          image, "sleep", "60"], env=cli.environment(),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=open(tmp_path / "run.err", "wb"), start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while dockerd.docker("exec", name, "true", timeout=10).returncode != 0:
            assert time.monotonic() < deadline and p.poll() is None, \
                f"container not running within 30 s: {(tmp_path / 'run.err').read_text()}"
            time.sleep(0.2)
        r = dockerd.docker("exec", name, "sh", "-c", curl_script(uport), timeout=30)
        assert r.stdout.decode().strip() == "200", r

        os.killpg(p.pid, signal.SIGKILL)   # the wrapper, and with it docker's CLI
        p.wait(5)
        deadline = time.monotonic() + 5
        while [x["state"] for x in grants(cli)] != ["revoked"]:
            assert time.monotonic() < deadline, grants(cli)
            time.sleep(0.1)
        r = dockerd.docker("exec", name, "sh", "-c", curl_script(uport), timeout=30)
        assert r.stdout.decode().strip() == "401", r
        assert len(received(rec)) == 1, received(rec)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)
