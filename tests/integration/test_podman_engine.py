"""End to end against a real podman (Debian's podman 4.3, rootful, CNI), issue 22 item 4.

Each test runs in a private network namespace (helpers.engine): keyhole's
daemon, the test's TLS upstream (api.openai.test pinned to the namespace's
127.0.0.1) and podman's bridge cni-podman0, which podman makes only when the
first container of its network starts. podman's storage, configuration, CNI
networks and IPAM state are the test's own (a temp dir); the image is
imported from this machine's busybox-static and curl, never pulled. Skipped,
with the reason, when podman cannot run a container here.

- `keyhole podman run`: the container's /etc/hosts maps host.docker.internal
  to the network's gateway (podman would write docker's `host-gateway`
  literally), keyhole starts listening on cni-podman0 as it appears, the
  container's request carries its own token and the real key reaches the
  upstream; the token is revoked when the container exits.
- A network whose bridge keyhole does not listen on is refused before
  anything starts, naming the bridge.
- `keyhole docker run` with podman behind the docker command, both ways:
  podman-docker (a `docker` that is podman) and Docker's CLI talking to
  podman's service (DOCKER_HOST): podman is detected (there is no docker0)
  and the container is given the gateway, not `host-gateway`.
"""
import os
import shutil
import time

import pytest

from helpers.cli import cli, free_port, proxy_settings  # noqa: F401
from helpers.engine import PODMAN_NET, ip, netns, podman_engine  # noqa: F401
from helpers.sandbox import grants
from test_docker_engine import SECRET, curl_script, received, start_keyhole, start_upstream

GW = PODMAN_NET["gateway"]


def use_podman(cli, podman):
    """keyhole's environment: podman's configuration, and runc's /usr/sbin."""
    cli.env["CONTAINERS_CONF"] = podman.conf
    cli.env["CONTAINERS_STORAGE_CONF"] = podman.storage
    cli.env["PATH"] += ":/usr/sbin:/sbin"


def test_podman_run_reaches_keyhole(cli, netns, podman_engine, pki, tmp_path):
    image = podman_engine.start()
    uport, rec = start_upstream(netns, pki, tmp_path)
    start_keyhole(cli, netns, pki)
    use_podman(cli, podman_engine)
    assert ip("-n", netns.name, "link", "show", "cni-podman0", check=False).returncode != 0

    r = cli.run("podman", "args", "--format", "lines", wrapper=podman_engine.prefix)
    assert r.rc == 0, r
    args = r.out.splitlines()
    assert f"host.docker.internal:{GW}" in args and "host.docker.internal:host-gateway" \
        not in args, args

    t0 = time.monotonic()
    r = cli.run("podman", "run", "--rm", "--pull=never", image, "sh", "-c",
                "grep host.docker.internal /etc/hosts; " + curl_script(uport),
                wrapper=podman_engine.prefix, timeout=90)
    took = time.monotonic() - t0
    assert r.rc == 0, r
    lines = r.out.split()
    assert lines[0] == GW and lines[-1] == "200", r
    auths = [x["authorization"] for x in received(rec)]
    assert auths == [f"Bearer {SECRET}"], auths
    g = grants(cli)
    assert [x["state"] for x in g] == ["revoked"] and g[0]["label"].startswith("podman-"), g
    print(f"keyhole podman run took {took:.1f} s")


def test_podman_network_on_other_bridge_refused(cli, netns, podman_engine, pki, tmp_path):
    image = podman_engine.start()
    start_keyhole(cli, netns, pki)
    use_podman(cli, podman_engine)
    podman_engine.network("other", "10.89.0.0/24", "10.89.0.1", "cni-other0")
    r = cli.run("podman", "run", "--rm", "--pull=never", "--network", "other", image, "true",
                wrapper=podman_engine.prefix, timeout=60)
    assert r.rc != 0 and "uses bridge cni-other0, where keyhole does not listen" in r.err, r
    assert os.path.exists(podman_engine.dir)
    assert grants(cli) == [], grants(cli)


def run_and_check(cli, podman, engine, image, uport, rec):
    r = cli.run(engine, "run", "--rm", "--pull=never", image, "sh", "-c",
                "grep host.docker.internal /etc/hosts; " + curl_script(uport),
                wrapper=podman.prefix, timeout=90)
    assert r.rc == 0, r
    lines = r.out.split()
    assert lines[0] == GW and lines[-1] == "200", r
    assert [x["authorization"] for x in received(rec)] == [f"Bearer {SECRET}"], received(rec)
    g = grants(cli)
    assert [x["state"] for x in g] == ["revoked"], g


def test_podman_docker_command_detected(cli, netns, podman_engine, pki, tmp_path):
    image = podman_engine.start()
    uport, rec = start_upstream(netns, pki, tmp_path)
    start_keyhole(cli, netns, pki)
    use_podman(cli, podman_engine)
    os.symlink(shutil.which("podman"), os.path.join(cli.bin_dir, "docker"))  # podman-docker
    run_and_check(cli, podman_engine, "docker", image, uport, rec)


def test_podman_docker_api_detected(cli, netns, podman_engine, pki, tmp_path):
    if shutil.which("docker", path=cli.env["PATH"]) is None:
        pytest.skip("no docker command (make deps installs docker.io)")
    image = podman_engine.start()
    uport, rec = start_upstream(netns, pki, tmp_path)
    start_keyhole(cli, netns, pki)
    use_podman(cli, podman_engine)
    cli.env["DOCKER_HOST"] = podman_engine.service()
    run_and_check(cli, podman_engine, "docker", image, uport, rec)
    podman_engine.network("other", "10.89.0.0/24", "10.89.0.1", "cni-other0")
    r = cli.run("docker", "run", "--rm", "--network", "other", image, "true",
                wrapper=podman_engine.prefix, timeout=60)
    assert r.rc != 0 and "cannot tell which bridge network other uses" in r.err, r
