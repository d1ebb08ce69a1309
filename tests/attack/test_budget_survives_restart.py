"""A sandbox with a request budget waits for the daemon to restart and gets its
spent budget back: the counts lived only in memory, and grants.json was written
only when a token was issued or revoked. Now the counts reach grants.json when
the daemon stops (`keyhole stop`), at once when a budget runs out, and every
`sandbox_tokens.save_interval` seconds when they changed, so neither a clean
restart nor a crash after that interval hands spent requests back."""
import json
import os
import signal
import time

from helpers.cli import cli, free_port, pid_alive, proxy_settings  # noqa: F401
from helpers.client import curl
from helpers.keyhole import mapping, mint_token

KEY = {"OPENAI_API_KEY": "sk-real-budget-" + "4" * 24}


def setup_daemon(cli, pki, echo, **sandbox_tokens):
    cfg = proxy_settings(pki, free_port())
    if sandbox_tokens:
        cfg["sandbox_tokens"] = sandbox_tokens
    cli.write_mappings([mapping(mint_token("openai"))])
    cli.write_config(cfg)
    r = cli.run("start", env=KEY)
    assert r.rc == 0, r
    url = f"https://api.openai.test:{echo.port}/v1/models"
    proxy = f"http://127.0.0.1:{cfg['tunnel_port']}"

    def request(tok):
        got = curl(url, proxy=proxy, cacert=cli.ca_crt,
                   headers=[f"Authorization: Bearer {tok}"])
        assert got.rc == 0, got.stderr
        if got.status == 429:
            assert b"budget" in got.body, got.body
        return got.status

    return request


def issue(cli, budget):
    r = cli.run("token", "issue", "--label", "budgeted", "--budget", str(budget))
    assert r.rc == 0, r
    return dict(ln.split("=", 1) for ln in r.out.splitlines())["OPENAI_API_KEY"]


def used_on_disk(cli):
    try:
        with open(cli.path("grants.json")) as f:
            return [g["used"] for g in json.load(f)["grants"]]
    except (OSError, ValueError):
        return None


def wait_used_on_disk(cli, want, timeout):
    deadline = time.monotonic() + timeout
    while used_on_disk(cli) != want and time.monotonic() < deadline:
        time.sleep(0.05)
    return used_on_disk(cli)


def kill9(cli):
    pid = cli.pid()
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(pid)


def test_clean_stop_keeps_the_spent_budget(cli, pki, echo):
    request = setup_daemon(cli, pki, echo)
    tok = issue(cli, 3)
    assert [request(tok), request(tok)] == [200, 200]
    r = cli.run("stop")
    assert r.rc == 0, r
    assert used_on_disk(cli) == [2]
    assert cli.run("start", env=KEY).rc == 0
    assert [request(tok), request(tok)] == [200, 429]


def test_crash_after_the_save_interval_keeps_the_spent_budget(cli, pki, echo):
    request = setup_daemon(cli, pki, echo, save_interval=1)
    tok = issue(cli, 3)
    assert [request(tok), request(tok)] == [200, 200]
    assert wait_used_on_disk(cli, [2], timeout=5) == [2], "not saved within the interval"
    kill9(cli)
    assert cli.run("start", env=KEY).rc == 0
    assert [request(tok), request(tok)] == [200, 429]


def test_exhausted_budget_is_saved_at_once(cli, pki, echo):
    """The default interval is 10 s; running out is written without waiting for it."""
    request = setup_daemon(cli, pki, echo)
    tok = issue(cli, 2)
    t0 = time.monotonic()
    assert [request(tok), request(tok)] == [200, 200]
    assert wait_used_on_disk(cli, [2], timeout=3) == [2], "the spent budget is not on disk"
    assert time.monotonic() - t0 < 5
    kill9(cli)
    assert cli.run("start", env=KEY).rc == 0
    assert request(tok) == 429
