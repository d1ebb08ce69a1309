"""`keyhole setup` with real AWS credentials in the environment mints a fake
key id, secret and (when set) session token; `keyhole docker args` hands the
container the fakes, never the real values."""
import json
import secrets

from helpers.cli import cli  # noqa: F401
from helpers.sandbox import pairs, setup_and_start

AWS = {"AWS_ACCESS_KEY_ID": "AKIA" + secrets.token_hex(8).upper(),
       "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
       "AWS_SESSION_TOKEN": "IQoJb3JpZ2luX2VjE" + secrets.token_urlsafe(40)}


def test_setup_mints_fake_aws_credentials(cli):
    port = setup_and_start(cli, AWS)
    tokens = cli.tokens()
    assert set(tokens) == set(AWS), tokens
    assert tokens["AWS_ACCESS_KEY_ID"].startswith("keyhole-aws-key-")
    assert tokens["AWS_SECRET_ACCESS_KEY"].startswith("keyhole-aws-secret-")
    assert tokens["AWS_SESSION_TOKEN"].startswith("keyhole-aws-session-")
    for t in cli.read_mappings()["tokens"]:
        assert t["upstream_hosts"] == ["*.amazonaws.com", "*.amazonaws.com.cn"], t

    r = cli.run("docker", "args", "--format", "json", env=AWS)
    assert r.rc == 0, r
    got = dict(v.partition("=")[::2] for f, v in pairs(json.loads(r.out)) if f == "-e")
    for name, fake in tokens.items():
        assert got[name] == fake, got
    assert str(port) in got["HTTPS_PROXY"]

    # a re-run keeps the fakes a running sandbox already has
    r = cli.run("setup", env=AWS)
    assert r.rc == 0, r
    assert cli.tokens() == tokens
    for res in cli.results:
        for s in AWS.values():
            assert s not in res.out + res.err, f"real AWS value printed by {res.args}"


def test_session_token_alone_is_not_mapped(cli):
    keys = {"OPENAI_API_KEY": "sk-real-" + secrets.token_hex(8),
            "AWS_SESSION_TOKEN": AWS["AWS_SESSION_TOKEN"]}
    r = cli.run("setup", env=keys)
    assert r.rc == 0, r
    assert set(cli.tokens()) == {"OPENAI_API_KEY"}
    assert "AWS_SESSION_TOKEN is set without the rest of its AWS key pair" in r.out, r
