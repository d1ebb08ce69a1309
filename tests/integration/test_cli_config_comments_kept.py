"""Commands that change config.yaml (setup, setup --tunnel-port, disable) keep
the operator's file: comments, blank lines, unknown keys, nested blocks and
key order survive byte for byte; only the changed values differ."""
import secrets

from helpers.cli import cli  # noqa: F401

KEYS = {"OPENAI_API_KEY": "sk-real-openai-" + secrets.token_hex(10)}

OPERATOR_FILE = """\
# keyhole settings for the lab box -- owned by ops, edit with care

# the port goes first here, on purpose
tunnel_port: 9191   # agreed with the firewall team
my_team_note: "keep me"   # not a keyhole key; must survive

enabled: false # off until the audit is done
credential_source: env    # env for now
timeouts:
  # long calls in the lab
  shutdown_grace: 3
extra_allowed_hosts:
  - other.test   # lab mirror

# trailing comment, after a blank line
"""


def test_setup_and_disable_keep_the_file(cli):
    cli.write_config(OPERATOR_FILE)

    r = cli.run("setup", env=KEYS)
    assert r.rc == 0, r
    on = OPERATOR_FILE.replace("enabled: false # off", "enabled: true # off")
    assert cli.read("config.yaml") == on
    assert "my_team_note" in r.err, "an unknown key should be reported, not silently dropped"

    r = cli.run("disable")
    assert r.rc == 0, r
    assert cli.read("config.yaml") == OPERATOR_FILE

    r = cli.run("setup", "--tunnel-port", "9999", env=KEYS)
    assert r.rc == 0, r
    assert cli.read("config.yaml") == on.replace("tunnel_port: 9191   #",
                                                 "tunnel_port: 9999   #")
    assert cli.mode("config.yaml") == 0o600


def test_missing_keys_are_appended_not_reordered(cli):
    text = "# minimal\nextra_allowed_hosts: [other.test]  # flow style\nworkers: 1\n"
    cli.write_config(text)
    r = cli.run("setup", env=KEYS)
    assert r.rc == 0, r
    out = cli.read("config.yaml")
    assert out.startswith(text), out
    tail = out[len(text):].splitlines()
    assert sorted(tail) == ["credential_source: env", "enabled: true"], out


def test_file_without_final_newline(cli):
    text = "# no newline at the end\nenabled: false"
    cli.write_config(text)
    r = cli.run("setup", env=KEYS)
    assert r.rc == 0, r
    out = cli.read("config.yaml")
    assert out.startswith("# no newline at the end\nenabled: true\n"), repr(out)
    assert "credential_source: env\n" in out


def test_crlf_line_endings_kept(cli):
    """A config saved with Windows line endings keeps them on every line,
    including the lines whose value setup/disable changed."""
    text = "# edited on windows\r\nenabled: false\r\ncredential_source: env\r\ntunnel_port: 9191\r\n"
    cli.write_config(text)
    r = cli.run("setup", env=KEYS)
    assert r.rc == 0, r
    assert cli.read("config.yaml", "rb") == text.replace(
        "enabled: false", "enabled: true").encode()
    r = cli.run("disable")
    assert r.rc == 0, r
    assert cli.read("config.yaml", "rb") == text.encode()
