"""No real secret and no whole proxy token (nor their base64 forms) in anything
keyhole shows or writes: stdout/stderr of every CLI command run here (setup,
start, status, status --json, config, reload, start again, stop, and two that fail),
keyhole.log, audit.log, every other file under KEYHOLE_HOME except
mappings.json, and every response keyhole itself generated (its error heads and
bodies). Traffic mixes allowed swaps, denied hosts, misplaced tokens, a token
sent to another provider's host, tokens in cleartext HTTP, and malformed
requests carrying tokens. (`status --show-tokens` is run too: its output may
hold tokens, by request, but never a secret.)"""
import base64
import os
import secrets

from helpers.cli import cli, free_port, proxy_settings  # noqa: F401
from helpers.client import Conn, open_tunnel, send_connect
from helpers.keyhole import mapping

KEYS = {"OPENAI_API_KEY": "sk-real-openai-" + secrets.token_hex(16),
        "GROQ_API_KEY": "gsk_real_groq_" + secrets.token_hex(16)}


def b64_forms(s):
    """Substrings every base64 (standard or URL-safe) encoding of s must contain,
    whatever its alignment inside a longer encoded string."""
    out = set()
    for pad in range(3):
        enc = base64.b64encode(b"\0" * pad + s.encode()).decode()
        core = enc[4:-4]                    # drop the blocks mixed with neighbours
        out |= {core, core.replace("+", "-").replace("/", "_")}
    return out


def needles(tokens):
    found = {}
    for name, v in KEYS.items():
        found[f"secret {name}"] = v
        for i, f in enumerate(b64_forms(v)):
            found[f"base64 of secret {name} #{i}"] = f
    for t in tokens:
        found[f"token {t[:12]}…"] = t
        found[f"random part of token {t[:12]}…"] = t.rsplit("-", 1)[1]
        for i, f in enumerate(b64_forms(t)):
            found[f"base64 of token {t[:12]}… #{i}"] = f
    return found


def traffic(port, cli, echo, plain_echo, tok, groq):
    """Requests meant to be refused or mangled; returns keyhole's own responses."""
    mine = []
    host = f"api.openai.test:{echo.port}"
    auth = [("Authorization", f"Bearer {tok}")]

    def tunnel(reqs, target="api.openai.test", tport=echo.port):
        with open_tunnel(port, target, tport, cli.ca_crt) as c:
            for method, path, hdrs in reqs:
                r = c.request(method, path, f"{target}:{tport}", hdrs)
                if r.header("X-Keyhole-Reason"):
                    mine.append(r)
                if (r.header("Connection") or "").lower() == "close":
                    break

    tunnel([("GET", "/v1/models", auth)])                                # allowed swap
    tunnel([("GET", f"/v1/models?key={tok}", [])])                       # misplaced
    tunnel([("GET", "/v1/models", [("X-Api-Key", tok)])])
    tunnel([("GET", f"/v1/{tok}/x", auth)])
    tunnel([("GET", "/v1/models", [("Authorization", f"Bearer {groq}")])])  # other host's
    tunnel([("GET", "/v1/models", [("Authorization", f"Bearer {tok}")])],
           target="other.test")                                          # host mismatch
    for authority in ("nothere.test:443", f"{tok}.example:443", f"api.openai.test:{tok}"):
        conn, r = send_connect(port, authority, headers=[("Proxy-Authorization",
                                                          f"Bearer {tok}")])
        conn.close()
        mine.append(r)
    raw = [
        f"GET http://plain.test:{plain_echo.port}/p HTTP/1.1\r\nHost: plain.test:"
        f"{plain_echo.port}\r\nAuthorization: Bearer {tok}\r\n\r\n",      # cleartext
        f"GET http://nothere.test/{tok} HTTP/1.1\r\nHost: nothere.test\r\n\r\n",
        f"GET /{tok} HTTP/1.1\r\nHost: x\r\n\r\n",                        # not a proxy request
        f"GET http://plain.test/ HTTP/1.1\r\nHost: plain.test\r\nBad {tok}\r\n\r\n",
        f"GET http://plain.test/ HTTP/1.1\r\nX: {tok}\nY: 1\r\n\r\n",     # bare LF
        f"GET http://plain.test/{tok} HTTP/9.9\r\nHost: plain.test\r\n\r\n",
        f"GET http://plain.test/ HTTP/1.1\r\nHost: plain.test\r\nX: {tok * 600}\r\n\r\n",
        f"POST http://plain.test:{plain_echo.port}/ HTTP/1.1\r\nHost: plain.test\r\n"
        f"Content-Length: 5\r\nTransfer-Encoding: chunked\r\nX: {tok}\r\n\r\n0\r\n\r\n",
    ]
    for req in raw:
        with Conn.to_proxy(port) as c:
            c.send(req.encode())
            mine.append(c.read_response())
    with open_tunnel(port, "api.openai.test", echo.port, cli.ca_crt) as c:  # malformed inside
        c.send(f"GET /v1/models HTTP/1.1\r\nHost: {host}\r\nAuthorization : Bearer {tok}\r\n"
               f"\r\n".encode())
        mine.append(c.read_response())
    return mine


def test_nothing_leaks_anywhere(cli, pki, echo, plain_echo):
    port = free_port()
    r = cli.run("setup", "--tunnel-port", str(port), env=KEYS)
    assert r.rc == 0, r
    toks = cli.tokens()
    tok, groq = toks["OPENAI_API_KEY"], toks["GROQ_API_KEY"]
    cli.write_mappings([mapping(tok), mapping(groq, "GROQ_API_KEY", hosts=["other.test"])])
    cli.write_config(proxy_settings(pki, port, extra_allowed_hosts=[
        "api.openai.test", "other.test", "plain.test"],
        resolve={"api.openai.test": "127.0.0.1", "other.test": "127.0.0.1",
                 "plain.test": "127.0.0.1"}))
    assert cli.run("start", env=KEYS).rc == 0
    responses = traffic(port, cli, echo, plain_echo, tok, groq)
    assert len(responses) >= 12
    assert any(x.status == 403 and x.header("X-Keyhole-Reason") == "token_misplaced"
               for x in responses)
    assert any(x.status == 400 for x in responses)
    assert echo.wait_requests(1)[0].header("Authorization") == f"Bearer {KEYS['OPENAI_API_KEY']}"

    for args in (("status",), ("status", "--json"), ("config",), ("reload",),
                 ("start",), ("status", "--show-tokens"), ("stop",), ("reload",),
                 ("status", "--bogus")):
        cli.run(*args, env=KEYS)
    assert [r.rc != 0 for r in cli.results[-2:]] == [True, True], cli.results[-2:]

    outputs = [(f"`keyhole {' '.join(r.args)}`", r.out + r.err, "--show-tokens" in r.args)
               for r in cli.results]
    outputs += [(f"keyhole's {x.status} {x.header('X-Keyhole-Reason')} response",
                 x.raw_head.decode("latin-1") + x.text, False) for x in responses]
    for root, _, files in os.walk(cli.home):
        for name in files:
            path = os.path.join(root, name)
            if name == "mappings.json" or not os.path.isfile(path):
                continue
            with open(path, "rb") as f:
                outputs.append((path, f.read().decode("latin-1"), False))
    assert any("audit.log" in label for label, _, _ in outputs)
    assert any("keyhole.log" in label for label, _, _ in outputs)

    shown = [r.out for r in cli.results if "--show-tokens" in r.args][0]
    assert tok in shown, "the leak check would not even see a token printed on purpose"
    found = needles([tok, groq])
    leaks = []
    for label, text, tokens_ok in outputs:
        for what, needle in found.items():
            if tokens_ok and "secret" not in what:
                continue
            if needle in text:
                leaks.append(f"{what} in {label}")
    assert not leaks, "\n".join(leaks)
