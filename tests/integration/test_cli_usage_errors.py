"""Every operator command: a bad option or argument is a usage error (exit 2,
"Try 'keyhole <cmd> --help'" on stderr) that touches nothing; --help exits 0."""
import os

import pytest

from helpers.cli import cli  # noqa: F401

KEY = {"OPENAI_API_KEY": "sk-real-usage-" + "3" * 20}
BAD = [
    ("setup", "--bogus"), ("setup", "extra"), ("setup", "--tunnel-port"),
    ("setup", "--from-bitwarden", "--no-bitwarden"),
    ("start", "--bogus"), ("start", "extra"), ("start", "--home"),
    ("stop", "-x"), ("stop", "extra"), ("status", "--bogus"), ("status", "x"),
    ("disable", "--x"), ("config", "--x"), ("reload", "--x"), ("reload", "extra"),
]


@pytest.mark.parametrize("args", BAD, ids=[" ".join(a) for a in BAD])
def test_usage_error(cli, args):
    r = cli.run(*args, env=KEY)
    assert r.rc == 2, r
    assert f"Try 'keyhole {args[0]} --help'" in r.err, r
    assert r.out == "", r
    assert not os.path.exists(cli.home), "a usage error created the state directory"


@pytest.mark.parametrize("cmd", ["setup", "start", "stop", "status", "disable", "config",
                                 "reload"])
def test_help(cli, cmd):
    r = cli.run(cmd, "--help", env=KEY)
    assert r.rc == 0, r
    assert r.out.startswith(f"Usage: keyhole {cmd}"), r
    assert not os.path.exists(cli.home)


def test_unknown_command(cli):
    r = cli.run("nosuch", env=KEY)
    assert r.rc == 2 and "unknown command" in r.err, r
