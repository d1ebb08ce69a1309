"""audit.log on a full disk (a 2 MiB tmpfs as KEYHOLE_HOME, filled up).

audit_failure: continue (the default): requests keep flowing; `keyhole status`
(text and --json) reports the audit log as failing with the count of lost
records; once space is back the next record is written and status is ok again.
audit_failure: refuse: once a record could not be written, requests get 503
audit_unavailable (healthz still answers); the refusal's own record is the
retry, so once space is back the daemon recovers by itself.
Either way audit.log stays one whole JSON object per line (no torn record)."""
import json
import os
import subprocess

import pytest

from helpers.cli import cli, free_port, proxy_settings  # noqa: F401
from helpers.client import curl
from helpers.keyhole import mapping, mint_token

KEY = "sk-real-diskfull-" + "7" * 24
MAX_TRIES = 40


@pytest.fixture
def small_home(cli):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    cli.make_home()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", cli.home],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield cli
    finally:
        cli.stop_all()
        subprocess.run(["umount", "-l", cli.home], capture_output=True)


def fill(path):
    """Writes until the file system is full, down to the last byte; returns the filler."""
    filler = os.path.join(path, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (65536, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def start(cli, pki, **extra):
    token = mint_token("openai")
    cli.write_mappings([mapping(token)])
    port = free_port()
    cli.write_config(proxy_settings(pki, port, **extra))
    r = cli.run("start", env={"OPENAI_API_KEY": KEY})
    assert r.rc == 0, r
    return port, token


def get(port, cli, echo, path):
    return curl(f"https://api.openai.test:{echo.port}{path}", proxy=f"http://127.0.0.1:{port}",
                cacert=cli.ca_crt, timeout=10)


def status_json(cli):
    r = cli.run("status", "--json")
    assert r.rc == 0, r
    return json.loads(r.out)


def assert_whole_lines(cli):
    text = cli.file_text("audit.log")
    assert text.endswith("\n"), f"audit.log ends mid-record: {text[-200:]!r}"
    for line in text.splitlines():
        json.loads(line)


def test_disk_full_continue_reports_and_recovers(small_home, pki, echo):
    cli = small_home
    port, _ = start(cli, pki)
    assert get(port, cli, echo, "/before").status == 200
    assert status_json(cli)["audit_ok"] is True

    filler = fill(cli.home)
    # audit.log's last page may still have room for a few records (tmpfs pages)
    for i in range(MAX_TRIES):
        r = get(port, cli, echo, f"/full{i}")
        assert r.rc == 0 and r.status == 200, "audit_failure: continue must keep serving"
        if i >= 3 and not status_json(cli)["audit_ok"]:
            break
    for i in range(3):
        assert get(port, cli, echo, f"/more{i}").status == 200
    st = status_json(cli)
    assert st["audit_ok"] is False and st["audit_lost"] >= 3 and st["running"], st
    assert st["audit_failure"] == "continue"
    text = cli.run("status").out
    assert "audit log" in text and "FAILING" in text and "still served" in text, text

    os.unlink(filler)
    assert get(port, cli, echo, "/after").status == 200
    st = status_json(cli)
    assert st["audit_ok"] is True and st["audit_lost"] >= 3, st
    assert_whole_lines(cli)
    paths = [json.loads(x)["path"] for x in cli.file_text("audit.log").splitlines()]
    assert "/before" in paths and "/after" in paths
    assert "writing again" in cli.file_text("keyhole.log")


def test_disk_full_refuse(small_home, pki, echo):
    cli = small_home
    port, _ = start(cli, pki, audit_failure="refuse")
    assert cli.run("config").out.count("audit_failure: refuse") == 1
    assert get(port, cli, echo, "/before").status == 200

    filler = fill(cli.home)
    # served while records still fit (audit.log's last page); the request whose
    # record is the first that fails is served too; the next one is refused
    codes = []
    for i in range(MAX_TRIES):
        refused = get(port, cli, echo, f"/full{i}")
        codes.append(refused.status)
        if refused.status != 200:
            break
    assert codes[-1] == 503 and set(codes[:-1]) == {200} and len(codes) >= 2, codes
    assert refused.info.get("header_x_keyhole_reason") in (None, "audit_unavailable")
    assert b"audit" in refused.body
    st = status_json(cli)
    assert st["audit_ok"] is False and st["audit_failure"] == "refuse", st
    assert "refused" in cli.run("status").out

    os.unlink(filler)
    got = [get(port, cli, echo, f"/after{i}").status for i in range(2)]
    assert got[-1] == 200, got       # at most the first one after recovery is refused
    assert status_json(cli)["audit_ok"] is True
    assert_whole_lines(cli)
