"""credential_source: command: `keyhole start` runs credential_command and takes
the keys from what it prints, either NAME=value lines or one JSON object;
requests through the started daemon get the real value. A failing command
stops the start. Neither the command's output nor its text is printed."""
import os
import secrets

import pytest

from helpers.checks import echoed, echoed_headers
from helpers.cli import cli, free_port, proxy_settings  # noqa: F401
from helpers.client import curl
from helpers.keyhole import mapping, mint_token

SECRET = "sk-from-command-" + secrets.token_hex(12)
OTHER = "sk-other-" + secrets.token_hex(12)

SCRIPTS = {
    "lines": ("#!/bin/sh\n"
              "echo '# written by the vault helper'\n"
              "echo ''\n"
              "echo 'not a line with a name'\n"
              "printf 'GROQ_API_KEY=%s\\n' \"$(cat \"$(dirname \"$0\")/other.txt\")\"\n"
              "printf 'OPENAI_API_KEY=%s\\n' \"$(cat \"$(dirname \"$0\")/secret.txt\")\"\n"),
    "json": ("#!/bin/sh\n"
             "printf '  {\"OPENAI_API_KEY\": \"%s\", \"GROQ_API_KEY\": \"%s\", \"n\": 5}\\n' "
             "\"$(cat \"$(dirname \"$0\")/secret.txt\")\" \"$(cat \"$(dirname \"$0\")/other.txt\")\"\n"),
}


def write_script(cli, body):
    d = os.path.join(cli.root, "vault")
    os.makedirs(d, exist_ok=True)
    for name, value in (("secret.txt", SECRET), ("other.txt", OTHER)):
        with open(os.path.join(d, name), "w") as f:
            f.write(value)
    path = os.path.join(d, "get-keys.sh")
    with open(path, "w") as f:
        f.write(body)
    os.chmod(path, 0o700)
    return path


@pytest.mark.parametrize("shape", ["lines", "json"])
def test_start_with_credential_command(cli, pki, echo, shape):
    token = mint_token("openai")
    cli.write_mappings([mapping(token)])
    port = free_port()
    cli.write_config(proxy_settings(pki, port, credential_source="command",
                                    credential_command=write_script(cli, SCRIPTS[shape])))
    # no OPENAI_API_KEY in the environment: the value can only come from the command
    r = cli.run("start")
    assert r.rc == 0, r
    got = curl(f"https://api.openai.test:{echo.port}/v1/models", proxy=f"http://127.0.0.1:{port}",
               cacert=cli.ca_crt, headers=[f"Authorization: Bearer {token}"])
    assert got.rc == 0 and got.status == 200, (got.rc, got.status, got.stderr)
    assert echoed_headers(echoed(got), "Authorization") == [f"Bearer {SECRET}"]
    assert token.encode() not in echo.raw

    r = cli.run("status")
    assert r.rc == 0 and "command" in r.out, r
    cli.assert_no_leak([SECRET, OTHER], [token])


def test_failing_credential_command_stops_the_start(cli, pki):
    cli.write_mappings([mapping(mint_token("openai"))])
    cli.write_config(proxy_settings(pki, free_port(), credential_source="command",
                                    credential_command=write_script(
                                        cli, "#!/bin/sh\necho 'vault locked' >&2\nexit 3\n")))
    r = cli.run("start", env={"OPENAI_API_KEY": OTHER})
    assert r.rc == 1, r
    assert "exit 3" in r.err and "vault locked" in r.err, r
    assert not os.path.exists(cli.pidfile) and not cli.daemon_pids
    cli.assert_no_leak([SECRET, OTHER])


def test_command_without_the_mapped_key_is_refused(cli, pki):
    cli.write_mappings([mapping(mint_token("openai"))])
    cli.write_config(proxy_settings(pki, free_port(), credential_source="command",
                                    credential_command=write_script(
                                        cli, "#!/bin/sh\necho GROQ_API_KEY=x\n")))
    r = cli.run("start", env={"OPENAI_API_KEY": OTHER})
    assert r.rc == 1, r
    assert "OPENAI_API_KEY" in r.err, r
    assert not os.path.exists(cli.pidfile) and not cli.daemon_pids
