"""Credentials keyhole cannot swap (Google service accounts, half an AWS key
pair): setup warns that they are not mapped, maps only what it covers, and
status lists them; their values are never printed. A whole AWS key pair is
covered (re-signed, see test_sigv4_resign.py) and is not listed."""
import json
import secrets

from helpers.cli import cli  # noqa: F401

OPENAI = "sk-real-openai-" + secrets.token_hex(10)
AWS_KEY_ID = "AKIA" + secrets.token_hex(8).upper()
AWS_SECRET = "aws-secret-" + secrets.token_hex(12)
UNCOVERED = {"GOOGLE_APPLICATION_CREDENTIALS": "/secret/path/sa-" + secrets.token_hex(6)}


def test_uncovered_providers_are_reported(cli):
    env = {"OPENAI_API_KEY": OPENAI, **UNCOVERED}
    r = cli.run("setup", env=env)
    assert r.rc == 0, r
    for name in UNCOVERED:
        line = [ln for ln in r.out.splitlines() if name in ln]
        assert line and "warning" in line[0], r
    assert set(cli.tokens()) == {"OPENAI_API_KEY"}

    r = cli.run("status", env=env)
    assert r.rc == 0, r
    section = r.out.split("Uncovered providers", 1)
    assert len(section) == 2, r
    for name in UNCOVERED:
        assert name in section[1], r
    doc = json.loads(cli.run("status", "--json", env=env).out)
    assert doc["uncovered"] == list(UNCOVERED), doc

    # only AWS_ACCESS_KEY_ID: half a pair cannot sign, so it is listed
    doc = json.loads(cli.run("status", "--json", env={"AWS_ACCESS_KEY_ID": AWS_KEY_ID}).out)
    assert doc["uncovered"] == ["AWS_ACCESS_KEY_ID"], doc
    # the whole pair is covered
    doc = json.loads(cli.run("status", "--json", env={"AWS_ACCESS_KEY_ID": AWS_KEY_ID,
                                                      "AWS_SECRET_ACCESS_KEY": AWS_SECRET}).out)
    assert doc["uncovered"] == [], doc
    # none set: no section at all
    r = cli.run("status")
    assert "Uncovered" not in r.out, r
    cli.assert_no_leak([OPENAI, AWS_KEY_ID, AWS_SECRET, *UNCOVERED.values()],
                       cli.tokens().values())


def test_half_an_aws_pair_is_not_a_setup(cli):
    r = cli.run("setup", env={"AWS_ACCESS_KEY_ID": AWS_KEY_ID})
    assert r.rc == 1, r
    assert AWS_KEY_ID not in r.text
    assert "AWS_ACCESS_KEY_ID (with AWS_SECRET_ACCESS_KEY)" in r.err, r


def test_strict_tier_blocks_only_llm_keys(cli):
    """fail_on_uncovered_providers refuses only for LLM keys keyhole cannot swap;
    with Anthropic, Azure OpenAI and Gemini covered that tier is empty, so an
    uncovered Google service-account path does not block `keyhole start`."""
    from helpers.cli import free_port
    env = {"OPENAI_API_KEY": OPENAI, **UNCOVERED}
    r = cli.run("setup", "--tunnel-port", str(free_port()), env=env)
    assert r.rc == 0, r
    with open(cli.config, "a") as f:
        f.write("fail_on_uncovered_providers: true\n")
    r = cli.run("start", env=env)
    try:
        assert r.rc == 0, r
        assert "fail_on_uncovered_providers: true" in cli.run("config", env=env).out
        doc = json.loads(cli.run("status", "--json", env=env).out)
        assert doc["uncovered"] == list(UNCOVERED), doc
    finally:
        cli.run("stop")
    cli.assert_no_leak([OPENAI, *UNCOVERED.values()], cli.tokens().values())
