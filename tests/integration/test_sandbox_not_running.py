"""`keyhole sandbox` needs a running daemon: without one it exits 1 naming
`keyhole start` and runs nothing. Without a command it is a usage error (2);
so is an unknown option."""
import os

from helpers.cli import cli, free_port, proxy_settings  # noqa: F401
from helpers.keyhole import mapping, mint_token
from helpers.sandbox import need_bwrap


def test_no_daemon(cli, pki, tmp_path):
    need_bwrap()
    cli.write_mappings([mapping(mint_token("openai"))])
    cli.write_config(proxy_settings(pki, free_port()))
    marker = tmp_path / "ran"
    r = cli.run("sandbox", "--", "sh", "-c", f"touch {marker}",
                preexec_fn=lambda: os.chdir(tmp_path))
    assert r.rc == 1, r
    assert "keyhole start" in r.err, r
    assert not marker.exists(), "the command ran without a daemon"

    # never set up at all
    r = cli.run("sandbox", "--", "true", env={"KEYHOLE_HOME": str(tmp_path / "nothing")})
    assert r.rc == 1, r
    assert "keyhole start" in r.err, r


def test_usage_errors(cli):
    for args in (["sandbox"], ["sandbox", "--"], ["sandbox", "--home"],
                 ["sandbox", "--no-such-option", "--", "true"]):
        r = cli.run(*args)
        assert r.rc == 2, r
        assert r.out == "", r
        assert "sandbox" in r.err, r
    r = cli.run("sandbox")
    assert "command" in r.err, r
