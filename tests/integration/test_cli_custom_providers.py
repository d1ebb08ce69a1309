"""Custom providers in config.yaml: `keyhole setup` mints a token for each one
whose variable is set, with the hosts and locations given, keeps it on a
re-run like a built-in's, and refuses an invalid entry naming its key path
and what is wrong (without touching mappings.json)."""
import secrets

from helpers.cli import TOKEN_RE, cli  # noqa: F401

GIT = "ghp-real-git-" + secrets.token_hex(10)
GH = "gh-real-" + secrets.token_hex(10)

CONFIG = """# operator's notes stay
providers:
  - env: GIT_TOKEN
    hosts: [git.example.com, "*.git.example.com"]
    location: basic
  - env: GITHUB_TOKEN
    hosts: [api.github.com]
    location: [header Authorization, query access_token]
    template: "token {}"
  - env: NOT_SET_ANYWHERE
    hosts: [x.example.com]
    location: bearer
"""


def test_setup_mints_tokens_for_custom_providers(cli):
    cli.write_config(CONFIG)
    env = {"GIT_TOKEN": GIT, "GITHUB_TOKEN": GH}
    r = cli.run("setup", env=env)
    assert r.rc == 0, r
    doc = {t["env_name"]: t for t in cli.read_mappings()["tokens"]}
    assert set(doc) == {"GIT_TOKEN", "GITHUB_TOKEN"}, doc
    git, gh = doc["GIT_TOKEN"], doc["GITHUB_TOKEN"]
    assert TOKEN_RE.match(git["proxy_token"]) and git["proxy_token"].startswith(
        "keyhole-git-token-")
    assert git["upstream_hosts"] == ["git.example.com", "*.git.example.com"]
    assert git["locations"] == [{"type": "basic"}]
    assert git["match_headers"] == ["Authorization"]
    assert gh["locations"] == [
        {"type": "header", "name": "Authorization", "template": "token {}"},
        {"type": "query", "name": "access_token"}]
    assert "# operator's notes stay" in cli.file_text("config.yaml")

    # a re-run keeps the tokens
    first = cli.tokens()
    r = cli.run("setup", env=env)
    assert r.rc == 0, r
    assert cli.tokens() == first and "(kept)" in r.out
    cli.assert_no_leak([GIT, GH], first.values())


def test_invalid_entry_is_refused_with_its_path(cli):
    cli.write_config("providers:\n  - env: GIT_TOKEN\n    hosts: [git.example.com]\n"
                     "    location: header Content-Length\n")
    r = cli.run("setup", env={"GIT_TOKEN": GIT})
    assert r.rc != 0, r
    assert "config.yaml:4: providers[0].location: 'header Content-Length'" in r.err, r
    assert "managed by keyhole" in r.err, r
    assert "GIT_TOKEN" not in cli.file_text("mappings.json")
    assert GIT not in r.text
