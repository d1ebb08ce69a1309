"""`keyhole setup` with no provider key in the environment refuses (exit 1),
lists every variable it understands, and switches nothing on."""
import os

from helpers.cli import cli  # noqa: F401

SUPPORTED = ["OPENROUTER_API_KEY", "OPENAI_API_KEY", "GROQ_API_KEY", "TOGETHER_API_KEY",
             "DEEPSEEK_API_KEY", "MISTRAL_API_KEY", "XAI_API_KEY", "NOUS_API_KEY",
             "ANTHROPIC_API_KEY", "AZURE_OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"]


def test_setup_without_keys_lists_supported_variables(cli):
    # an empty value is not a key; uncovered and unrelated variables are not either
    r = cli.run("setup", env={"OPENAI_API_KEY": "", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
                              "SOME_TOKEN": "x"})
    assert r.rc == 1, r
    assert "no provider keys" in r.err, r
    for var in SUPPORTED:
        assert var in r.err, f"{var} missing from the list:\n{r.err}"
    assert not os.path.exists(cli.mappings)
    assert not os.path.exists(cli.config), "a refused setup must not switch keyhole on"


def test_setup_without_keys_keeps_an_existing_setup(cli):
    r = cli.run("setup", env={"OPENAI_API_KEY": "sk-real-one"})
    assert r.rc == 0, r
    before = {n: cli.read(n) for n in ("mappings.json", "config.yaml")}
    r = cli.run("setup")
    assert r.rc == 1, r
    assert "OPENAI_API_KEY" in r.err
    assert {n: cli.read(n) for n in ("mappings.json", "config.yaml")} == before
