"""`keyhole setup --rotate-tokens` mints a new token for every provider and
first backs mappings.json up to mappings.json.rotated-<stamp> (0600, the old
bytes). On a terminal it asks, and anything but 'rotate' cancels (exit 1,
nothing changed); --yes, or no terminal, skips the question."""
import glob
import os
import secrets
import time

import pytest

from helpers.cli import PROMPT, TOKEN_RE, cli  # noqa: F401

KEYS = {"OPENAI_API_KEY": "sk-real-openai-" + secrets.token_hex(10),
        "GROQ_API_KEY": "gsk-real-groq-" + secrets.token_hex(10)}


def set_up(cli):
    r = cli.run("setup", env=KEYS)
    assert r.rc == 0, r
    return cli.tokens(), cli.read("mappings.json", "rb")


def backups(cli):
    return sorted(glob.glob(cli.mappings + ".rotated-*"))


def assert_rotated(cli, r, old_tokens, old_bytes):
    assert r.rc == 0, r
    new = cli.tokens()
    assert set(new) == set(old_tokens)
    for name, tok in new.items():
        assert TOKEN_RE.match(tok), tok
        assert tok != old_tokens[name], f"{name} kept its token through a rotation"
    files = backups(cli)
    assert len(files) == 1, files
    assert os.stat(files[0]).st_mode & 0o7777 == 0o600
    with open(files[0], "rb") as f:
        assert f.read() == old_bytes, "the backup is not the old mappings.json"
    assert os.path.basename(files[0])[len("mappings.json.rotated-"):], files[0]
    assert files[0] in r.out, r.out
    assert cli.mode("mappings.json") == 0o600
    cli.assert_no_leak(KEYS.values(), list(old_tokens.values()) + list(new.values()))


def test_rotate_with_yes_on_a_terminal_does_not_ask(cli):
    old, old_bytes = set_up(cli)
    r = cli.run_pty("setup", "--rotate-tokens", "--yes", env=KEYS)
    assert PROMPT.decode() not in r.out, r
    assert_rotated(cli, r, old, old_bytes)


def test_rotate_without_a_terminal_does_not_ask(cli):
    old, old_bytes = set_up(cli)
    r = cli.run("setup", "--rotate-tokens", env=KEYS)      # stdin is /dev/null
    assert PROMPT.decode() not in r.text, r
    assert_rotated(cli, r, old, old_bytes)


@pytest.mark.parametrize("answer", [b"yes", b"", b"ROTATE", b"rotate please"])
def test_terminal_answer_other_than_rotate_cancels(cli, answer):
    old, old_bytes = set_up(cli)
    config = cli.read("config.yaml", "rb")
    r = cli.run_pty("setup", "--rotate-tokens", answer=answer, env=KEYS)
    assert PROMPT.decode() in r.out, r
    assert r.rc == 1, r
    assert "cancelled" in r.out, r
    assert cli.read("mappings.json", "rb") == old_bytes
    assert cli.read("config.yaml", "rb") == config
    assert backups(cli) == []


def test_terminal_answer_rotate_rotates(cli):
    old, old_bytes = set_up(cli)
    r = cli.run_pty("setup", "--rotate-tokens", answer=b"rotate", env=KEYS)
    assert PROMPT.decode() in r.out, r
    assert_rotated(cli, r, old, old_bytes)


def test_two_rotations_in_the_same_second_both_succeed(cli):
    """Each rotation must keep its own backup; a second rotation right after the
    first (a script, or an operator retrying) must not be refused."""
    first, first_bytes = set_up(cli)
    while time.time() % 1 > 0.5:        # both runs inside one wall-clock second
        time.sleep(0.05)
    r1 = cli.run("setup", "--rotate-tokens", "--yes", env=KEYS)
    assert r1.rc == 0, r1
    second, second_bytes = cli.tokens(), cli.read("mappings.json", "rb")
    r2 = cli.run("setup", "--rotate-tokens", "--yes", env=KEYS)
    assert r2.rc == 0, r2
    third = cli.tokens()
    assert all(third[k] not in (first[k], second[k]) for k in third)
    contents = []
    for path in backups(cli):
        with open(path, "rb") as f:
            contents.append(f.read())
    assert sorted(contents) == sorted([first_bytes, second_bytes]), backups(cli)


def test_rotate_on_first_setup_has_nothing_to_rotate(cli):
    r = cli.run("setup", "--rotate-tokens", env=KEYS)
    assert r.rc == 0, r
    assert "nothing to rotate" in r.out, r
    assert backups(cli) == []
    assert set(cli.tokens()) == set(KEYS)
