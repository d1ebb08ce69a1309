"""credential_source: bitwarden, with a stand-in `bws` (helpers/fake_bws).

setup --from-bitwarden maps the keys of the configured project and records
credential_source: bitwarden; a plain re-run keeps it (and says so);
--no-bitwarden goes back to the environment. setup and start refuse when the
access token or bitwarden.project_id is missing, or the vault has nothing;
start refuses when the vault lacks a mapped key unless allow_env_fallback.
The access token is handed to bws in its environment, never in argv."""
import hashlib
import json
import os
import secrets
import subprocess

import yaml

from helpers.checks import echoed, echoed_headers
from helpers.cli import cli, free_port, proxy_settings  # noqa: F401
from helpers.client import curl
from helpers.keyhole import mapping, mint_token

BWS_TOKEN = "0.bws-access-" + secrets.token_hex(16)
VAULT_OPENAI = "sk-vault-openai-" + secrets.token_hex(10)
VAULT_GROQ = "gsk-vault-groq-" + secrets.token_hex(10)
ENV_OPENAI = "sk-env-openai-" + secrets.token_hex(10)
ENV_ANTHROPIC = "sk-env-anthropic-" + secrets.token_hex(10)
PROJECT = "3f1c2b1e-aaaa-4bbb-8ccc-000000000001"
EMPTY = "3f1c2b1e-aaaa-4bbb-8ccc-000000000002"
GROQ_ONLY = "3f1c2b1e-aaaa-4bbb-8ccc-000000000003"
ALL_SECRETS = [BWS_TOKEN, VAULT_OPENAI, VAULT_GROQ, ENV_OPENAI, ENV_ANTHROPIC]

PROJECTS = {
    PROJECT: {"OPENAI_API_KEY": VAULT_OPENAI, "GROQ_API_KEY": VAULT_GROQ,
              "database-password": "not a variable name", "UNRELATED_SERVICE_TOKEN": "abc"},
    EMPTY: {},
    GROQ_ONLY: {"GROQ_API_KEY": VAULT_GROQ},
}


def bw_config(project=PROJECT, **extra):
    text = "# bitwarden test\nbitwarden:\n"
    if project is not None:
        text += f"  project_id: {project}   # the lab project\n"
    text += "  access_token_env: " + extra.pop("token_env", "BWS_ACCESS_TOKEN") + "\n"
    for k, v in extra.items():
        text += f"{k}: {v}\n"
    return text


def check_bws_calls(bws, project, min_calls=1):
    calls = bws.calls()
    assert len(calls) >= min_calls, calls
    for c in calls:
        assert c["argv"] == ["secret", "list", project, "--output", "json"], c
        assert not c["token_in_argv"] and not c["token_option"], \
            f"the access token was put on bws's command line: {c}"
        assert c["token_sha256"] == hashlib.sha256(BWS_TOKEN.encode()).hexdigest(), c
    return calls


def test_fake_bws_honours_the_contract(cli):
    """The stand-in itself: what the tests below rely on it to do."""
    bws = cli.install_bws(PROJECTS)
    exe = os.path.join(cli.bin_dir, "bws")

    def run(args, token=BWS_TOKEN):
        env = cli.environment({"BWS_ACCESS_TOKEN": token})
        return subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=10)

    p = run(["secret", "list", PROJECT, "--output", "json"])
    assert p.returncode == 0, p.stderr
    items = json.loads(p.stdout)
    assert {i["key"]: i["value"] for i in items} == PROJECTS[PROJECT]
    for i in items:
        assert set(i) == {"object", "id", "organizationId", "projectId", "key", "value",
                          "note", "creationDate", "revisionDate"}, i
        assert i["object"] == "secret" and i["projectId"] == PROJECT and i["note"] == ""
    assert json.loads(run(["secret", "list", EMPTY, "--output", "json"]).stdout) == []
    p = run(["secret", "list", PROJECT, "--output", "json"], token=None)
    assert p.returncode != 0 and "access token" in p.stderr.lower(), p
    p = run(["secret", "list", "no-such-project", "--output", "json"])
    assert p.returncode != 0 and p.stderr, p
    p = run(["secret", "list", PROJECT, "--output", "json", "--access-token", BWS_TOKEN])
    assert p.returncode != 0, p
    calls = bws.calls()
    assert len(calls) == 5
    assert [c["token_in_argv"] for c in calls] == [False, False, False, False, True]
    assert calls[-1]["token_option"] is True
    assert BWS_TOKEN not in open(bws.log_path).read(), "the fake logged the token itself"


def test_setup_from_bitwarden_then_keep_then_switch_back(cli):
    bws = cli.install_bws(PROJECTS)
    cli.write_config(bw_config())
    env = {"BWS_ACCESS_TOKEN": BWS_TOKEN, "ANTHROPIC_API_KEY": ENV_ANTHROPIC}

    r = cli.run("setup", "--from-bitwarden", env=env)
    assert r.rc == 0, r
    tokens = cli.tokens()
    # the project's provider keys, not the environment's
    assert set(tokens) == {"OPENAI_API_KEY", "GROQ_API_KEY"}, tokens
    cfg = yaml.safe_load(cli.read("config.yaml"))
    assert cfg["credential_source"] == "bitwarden" and cfg["enabled"] is True, cfg
    assert cfg["bitwarden"]["project_id"] == PROJECT
    assert "# the lab project" in cli.read("config.yaml")
    check_bws_calls(bws, PROJECT)

    # re-run without flags: stays on bitwarden, says so, keeps the tokens
    r = cli.run("setup", env=env)
    assert r.rc == 0, r
    assert "keeping credential_source: bitwarden" in r.out, r
    assert yaml.safe_load(cli.read("config.yaml"))["credential_source"] == "bitwarden"
    assert cli.tokens() == tokens

    # --no-bitwarden: back to the environment
    r = cli.run("setup", "--no-bitwarden", env={"OPENAI_API_KEY": ENV_OPENAI,
                                                 "BWS_ACCESS_TOKEN": BWS_TOKEN})
    assert r.rc == 0, r
    assert "switching credential_source from bitwarden to env" in r.out, r
    assert yaml.safe_load(cli.read("config.yaml"))["credential_source"] == "env"
    assert cli.tokens() == {"OPENAI_API_KEY": tokens["OPENAI_API_KEY"]}
    check_bws_calls(bws, PROJECT, min_calls=2)
    cli.assert_no_leak(ALL_SECRETS, tokens.values())


def test_setup_with_a_custom_token_variable(cli):
    bws = cli.install_bws(PROJECTS)
    cli.write_config(bw_config(token_env="LAB_BWS_TOKEN"))
    r = cli.run("setup", "--from-bitwarden", env={"LAB_BWS_TOKEN": BWS_TOKEN})
    assert r.rc == 0, r
    assert set(cli.tokens()) == {"OPENAI_API_KEY", "GROQ_API_KEY"}
    check_bws_calls(bws, PROJECT)       # bws got it as BWS_ACCESS_TOKEN
    cli.assert_no_leak(ALL_SECRETS)


def test_setup_from_bitwarden_refusals(cli):
    bws = cli.install_bws(PROJECTS)
    env = {"BWS_ACCESS_TOKEN": BWS_TOKEN, "OPENAI_API_KEY": ENV_OPENAI}

    cli.write_config(bw_config())
    r = cli.run("setup", "--from-bitwarden", env={**env, "BWS_ACCESS_TOKEN": None})
    assert r.rc == 1, r
    assert "BWS_ACCESS_TOKEN" in r.err, r

    cli.write_config(bw_config(token_env="LAB_BWS_TOKEN"))
    r = cli.run("setup", "--from-bitwarden", env=env)
    assert r.rc == 1, r
    assert "LAB_BWS_TOKEN" in r.err, r

    cli.write_config(bw_config(project=None))
    r = cli.run("setup", "--from-bitwarden", env=env)
    assert r.rc == 1, r
    assert "project_id" in r.err, r

    cli.write_config(bw_config(project=EMPTY))
    r = cli.run("setup", "--from-bitwarden", env=env)
    assert r.rc == 1, r
    assert "no secrets" in r.err, r

    cli.write_config(bw_config(project="3f1c2b1e-0000-0000-0000-00000000dead"))
    r = cli.run("setup", "--from-bitwarden", env=env)
    assert r.rc == 1, r
    assert "bws" in r.err and "Not Found" in r.err, r

    assert not os.path.exists(cli.mappings), "a refused setup wrote mappings.json"
    assert "enabled: true" not in cli.read("config.yaml")
    for c in bws.calls():
        assert not c["token_in_argv"] and not c["token_option"], c
    cli.assert_no_leak(ALL_SECRETS)


def start_config(cli, pki, project=PROJECT, **extra):
    """A started daemon's config: bitwarden source, test upstream pins."""
    cfg = proxy_settings(pki, free_port(), credential_source="bitwarden", **extra)
    if project is not None:
        cfg["bitwarden"] = {"project_id": project}
    cli.write_config(cfg)
    return cfg["tunnel_port"]


def get_auth(cli, port, echo, token):
    r = curl(f"https://api.openai.test:{echo.port}/v1/models", proxy=f"http://127.0.0.1:{port}",
             cacert=cli.ca_crt, headers=[f"Authorization: Bearer {token}"])
    assert r.rc == 0 and r.status == 200, (r.rc, r.status, r.stderr, r.body[:300])
    return echoed_headers(echoed(r), "Authorization")


def test_start_uses_the_vault_and_reload_refetches(cli, pki, echo):
    bws = cli.install_bws(PROJECTS)
    token = mint_token("openai")
    cli.write_mappings([mapping(token)])
    port = start_config(cli, pki)
    # the environment also has a value: the vault's wins
    env = {"BWS_ACCESS_TOKEN": BWS_TOKEN, "OPENAI_API_KEY": ENV_OPENAI}
    r = cli.run("start", env=env)
    assert r.rc == 0, r
    assert get_auth(cli, port, echo, token) == [f"Bearer {VAULT_OPENAI}"]

    # the key is rotated in the vault; reload picks it up without a restart
    pid = cli.pid()
    rotated = VAULT_OPENAI + "-rotated"
    bws.set_projects({**PROJECTS, PROJECT: {**PROJECTS[PROJECT], "OPENAI_API_KEY": rotated}})
    r = cli.run("reload", env=env)
    assert r.rc == 0, r
    assert get_auth(cli, port, echo, token) == [f"Bearer {rotated}"]
    assert cli.pid() == pid

    calls = check_bws_calls(bws, PROJECT, min_calls=2)
    assert any(c["parent"][:2] == ["keyhole", "proxy"] for c in calls), \
        "the daemon itself never ran bws (reload cannot refetch)"
    cli.assert_no_leak(ALL_SECRETS + [rotated], [token])


def test_start_refusals(cli, pki):
    bws = cli.install_bws(PROJECTS)
    token = mint_token("openai")
    cli.write_mappings([mapping(token)])
    env = {"BWS_ACCESS_TOKEN": BWS_TOKEN, "OPENAI_API_KEY": ENV_OPENAI}

    start_config(cli, pki)
    r = cli.run("start", env={**env, "BWS_ACCESS_TOKEN": None})
    assert r.rc == 1, r
    assert "BWS_ACCESS_TOKEN" in r.err, r

    start_config(cli, pki, project=None)
    r = cli.run("start", env=env)
    assert r.rc == 1, r
    assert "project_id" in r.err, r

    # the vault lacks OPENAI_API_KEY: the environment's value is not used silently
    start_config(cli, pki, project=GROQ_ONLY)
    r = cli.run("start", env=env)
    assert r.rc == 1, r
    assert "OPENAI_API_KEY" in r.err and "allow_env_fallback" in r.err, r

    assert not os.path.exists(cli.pidfile) and not os.path.exists(cli.nonce)
    assert not cli.daemon_pids
    for c in bws.calls():
        assert not c["token_in_argv"] and not c["token_option"], c
    cli.assert_no_leak(ALL_SECRETS, [token])


def test_start_with_env_fallback(cli, pki, echo):
    bws = cli.install_bws(PROJECTS)
    token = mint_token("openai")
    cli.write_mappings([mapping(token)])
    port = start_config(cli, pki, project=GROQ_ONLY, allow_env_fallback=True)
    r = cli.run("start", env={"BWS_ACCESS_TOKEN": BWS_TOKEN, "OPENAI_API_KEY": ENV_OPENAI})
    assert r.rc == 0, r
    assert get_auth(cli, port, echo, token) == [f"Bearer {ENV_OPENAI}"]
    check_bws_calls(bws, GROQ_ONLY)
    cli.assert_no_leak(ALL_SECRETS, [token])
