"""Re-running `keyhole setup` keeps every existing proxy token (running
sandboxes keep working), mints a token only for a newly found provider, and
drops the mapping of a provider whose key is gone. The CA is made once."""
import secrets

from helpers.cli import TOKEN_RE, cli  # noqa: F401

OPENAI = "sk-real-openai-" + secrets.token_hex(10)
GROQ = "gsk-real-groq-" + secrets.token_hex(10)


def test_tokens_survive_reruns(cli):
    r = cli.run("setup", env={"OPENAI_API_KEY": OPENAI})
    assert r.rc == 0, r
    first = cli.tokens()
    ca = cli.read("ca.crt", "rb"), cli.read("ca.key", "rb")
    assert list(first) == ["OPENAI_API_KEY"]

    # same environment: same token, same CA, and setup says the token was kept
    r = cli.run("setup", env={"OPENAI_API_KEY": OPENAI})
    assert r.rc == 0, r
    assert cli.tokens() == first
    assert "(kept)" in r.out and "existing" in r.out, r.out
    assert (cli.read("ca.crt", "rb"), cli.read("ca.key", "rb")) == ca

    # a new value for the same key (the operator rotated the real key): token kept
    r = cli.run("setup", env={"OPENAI_API_KEY": OPENAI + "-v2"})
    assert r.rc == 0, r
    assert cli.tokens() == first

    # a second provider: only it gets a new token
    r = cli.run("setup", env={"OPENAI_API_KEY": OPENAI, "GROQ_API_KEY": GROQ})
    assert r.rc == 0, r
    second = cli.tokens()
    assert set(second) == {"OPENAI_API_KEY", "GROQ_API_KEY"}
    assert second["OPENAI_API_KEY"] == first["OPENAI_API_KEY"]
    assert TOKEN_RE.match(second["GROQ_API_KEY"]) and second["GROQ_API_KEY"].startswith(
        "keyhole-groq-")
    groq_line = [line for line in r.out.splitlines() if "GROQ_API_KEY" in line]
    assert groq_line and "(kept)" not in groq_line[0], r.out

    # OpenAI's key removed from the environment: its mapping goes, Groq's stays
    r = cli.run("setup", env={"GROQ_API_KEY": GROQ})
    assert r.rc == 0, r
    assert cli.tokens() == {"GROQ_API_KEY": second["GROQ_API_KEY"]}
    assert cli.mode("mappings.json") == 0o600
    assert (cli.read("ca.crt", "rb"), cli.read("ca.key", "rb")) == ca
    cli.assert_no_leak([OPENAI, GROQ], list(second.values()))
