"""Attack: get a whole token (or the real key) written into keyhole's records
by dressing it up. The sandbox puts a proxy token, a sandbox token and the
real key into every place keyhole records or quotes (path, query, Host,
CONNECT target, SNI, method, a header name and value, an absolute URL's host,
a name split into DNS labels), each percent-encoded byte by byte (upper, lower and mixed
case, and twice: %25..), base64 and base64url at byte offsets 0, 1 and 2,
and hex in both cases. keyhole's token check only recognised a token as
written or percent-decoded once, so the rest went into audit.log whole.

Afterwards no form of any of them may appear in audit.log, keyhole.log,
`keyhole status` (plain and --json), `keyhole log` (plain, --json, --denied),
keyhole's own error responses, or /metrics. A token may show its first 12
characters ("keyhole-open") and, as written, 4 of its random part; nothing
longer. With front processes (privsep: true) the same: a front holds no real
key to redact, so its answers must not quote what the sandbox sent as a host.
"""
import base64
import http.client
import json
import secrets
import ssl
import time

import pytest

from helpers.cli import cli, free_port, proxy_settings  # noqa: F401
from helpers.client import Conn, client_context, open_tunnel, send_connect
from helpers.keyhole import mapping

# A real key with bytes that percent-encoding and base64 change.
REAL = "sk-real/openai+" + secrets.token_hex(12)


def pct(s, digits="0123456789ABCDEF", mixed=False):
    out = []
    for i, b in enumerate(s.encode()):
        d = (digits.lower() if i % 2 else digits.upper()) if mixed else digits
        out.append("%" + d[b >> 4] + d[b & 15])
    return "".join(out)


def b64(s, offset, url):
    enc = base64.b64encode(b"xy"[:offset] + s.encode()).decode()
    return enc.replace("+", "-").replace("/", "_") if url else enc


def encodings(v):
    """name -> the value as the sandbox sends it."""
    e = {"raw": v, "pct-upper": pct(v), "pct-lower": pct(v, "0123456789abcdef"),
         "pct-mixed": pct(v, mixed=True), "pct-twice": pct(pct(v), "0123456789abcdef"),
         "hex-lower": v.encode().hex(), "hex-upper": v.encode().hex().upper()}
    for off in range(3):
        e[f"b64-{off}"] = b64(v, off, False)
        e[f"b64url-{off}"] = b64(v, off, True)
    h = v.encode().hex()
    e["dns-hex"] = ".".join(h[i:i + 40] for i in range(0, len(h), 40)) + ".example.test"
    e["dns-raw"] = ".".join(v[i:i + 20] for i in range(0, len(v), 20)) + ".example.test"
    return e


def needles(label, v, random_part=None):
    """Every string whose presence in an output means a leak of v."""
    out = {f"{label} {k}": s for k, s in encodings(v).items() if not k.startswith("dns")}
    for off in range(3):                      # the characters from v alone, any alignment
        for url in (False, True):
            core = b64(v, off, url)[4:-4]
            out[f"{label} base64{'url' if url else ''} core at {off}"] = core
    out[f"{label} as DNS labels (hex)"] = encodings(v)["dns-hex"].split(".example")[0]
    out[f"{label} as DNS labels"] = encodings(v)["dns-raw"].split(".example")[0]
    if random_part:
        rp = random_part
        out[f"{label} random part"] = rp
        out[f"{label} random part, upper"] = rp.upper()
        out[f"{label} random part hex"] = rp.encode().hex()
        out[f"{label} random part, 8"] = rp[4:12]   # more than the 4 a record may show
    return out


class Traffic:
    def __init__(self, port, ca, echo, plain_echo):
        self.port, self.ca, self.echo, self.plain = port, ca, echo, plain_echo
        self.mine = []                        # keyhole's own responses (error bodies)

    def keep(self, r):
        if r is not None and r.header("X-Keyhole-Reason"):
            self.mine.append(r)

    def tunnel_raw(self, raw, sni=None):
        try:
            with open_tunnel(self.port, "api.openai.test", self.echo.port, self.ca,
                             server_hostname="api.openai.test" if sni is None else sni) as c:
                c.send(raw.encode("latin-1"))
                self.keep(c.read_response(timeout=5))
        except (ssl.SSLError, ValueError, OSError, AssertionError, UnicodeError):
            pass                              # refused before HTTP: only records remain

    def plain_raw(self, raw):
        try:
            with Conn.to_proxy(self.port) as c:
                c.send(raw.encode("latin-1"))
                self.keep(c.read_response(timeout=5))
        except OSError:
            pass

    def connect(self, authority):
        try:
            conn, r = send_connect(self.port, authority)
            conn.close()
            self.keep(r)
        except OSError:
            pass

    def run(self, enc, token):
        host = f"api.openai.test:{self.echo.port}"
        auth = f"Authorization: Bearer {token}\r\n"
        self.tunnel_raw(f"GET /v1/{enc}/x HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n")
        self.tunnel_raw(f"GET /v1/q?x={enc} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n")
        self.tunnel_raw(f"GET /v1/h HTTP/1.1\r\nHost: {enc}\r\n{auth}\r\n")
        self.tunnel_raw(f"GET /v1/n HTTP/1.1\r\nHost: {host}\r\nX-Note: {enc}\r\n{auth}\r\n")
        self.tunnel_raw(f"GET /v1/n HTTP/1.1\r\nHost: {host}\r\nX-{enc}: 1\r\n{auth}\r\n")
        self.tunnel_raw(f"{enc} /v1/m HTTP/1.1\r\nHost: {host}\r\n\r\n")
        self.tunnel_raw(f"GET /v1/s HTTP/1.1\r\nHost: {host}\r\n\r\n", sni=enc)
        self.connect(f"{enc}:443")
        self.plain_raw(f"GET http://{enc}/p HTTP/1.1\r\nHost: {enc}\r\n\r\n")
        plain = f"plain.test:{self.plain.port}"
        self.plain_raw(f"GET http://{plain}/{enc} HTTP/1.1\r\nHost: {plain}\r\n\r\n")


def metrics_text(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", "/metrics")
        return c.getresponse().read().decode("utf-8", "replace")
    finally:
        c.close()


@pytest.mark.parametrize("privsep", [False, True], ids=["one-process", "privsep"])
def test_no_encoded_token_or_key_in_any_record(cli, pki, echo, plain_echo, privsep):  # noqa: F811
    port, mport = free_port(), free_port()
    keys = {"OPENAI_API_KEY": REAL}
    assert cli.run("setup", "--tunnel-port", str(port), env=keys).rc == 0
    tok = cli.tokens()["OPENAI_API_KEY"]
    cli.write_mappings([mapping(tok)])
    cli.write_config(proxy_settings(pki, port, metrics_listen=f"127.0.0.1:{mport}",
                                    extra_allowed_hosts=["api.openai.test", "plain.test"],
                                    resolve={"api.openai.test": "127.0.0.1",
                                             "plain.test": "127.0.0.1"},
                                    privsep=privsep))
    assert cli.run("start", env=keys).rc == 0
    issued = cli.run("token", "issue", "--label", "enc")
    assert issued.rc == 0, issued
    sbx = dict(ln.split("=", 1) for ln in issued.out.splitlines())["OPENAI_API_KEY"]

    t = Traffic(port, cli.ca_crt, echo, plain_echo)
    values = {"proxy token": (tok, tok.rsplit("-", 1)[1]),
              "sandbox token": (sbx, sbx.rsplit("-", 1)[1]),
              "real key": (REAL, None)}
    for label, (v, _) in values.items():
        for enc in encodings(v).values():
            t.run(enc, tok)
    assert len(t.mine) > 50, "keyhole refused too little for this test to mean anything"

    audit = cli.file_text("audit.log")
    decoded = [json.loads(line) for line in audit.splitlines()]
    outputs = [("audit.log", audit),
               ("audit.log, JSON-decoded", "\n".join(str(v) for rec in decoded
                                                     for v in rec.values())),
               ("keyhole.log", cli.file_text("keyhole.log")),
               ("/metrics", metrics_text(mport))]
    for args in (("status",), ("status", "--json"), ("log",), ("log", "--json"),
                 ("log", "--denied")):
        r = cli.run(*args)
        assert r.rc == 0, r
        outputs.append((f"`keyhole {' '.join(args)}`", r.out + r.err))
    outputs += [(f"error response {x.status} {x.header('X-Keyhole-Reason')}",
                 x.raw_head.decode("latin-1") + x.text) for x in t.mine]

    found = {}
    for label, (v, rp) in values.items():
        found.update(needles(label, v, rp))
    leaks = sorted({f"{what} in {where}" for where, text in outputs
                    for what, n in found.items() if n in text})
    assert not leaks, f"{len(leaks)} leak(s):\n" + "\n".join(leaks[:60])
    assert "[redacted:OPENAI_API_KEY]" in audit, "the corpus never reached the redactor"


@pytest.mark.parametrize("privsep", [False, True], ids=["one-process", "privsep"])
def test_refusal_names_a_host_too_short_to_hold_a_key(cli, pki, privsep):  # noqa: F811
    """A front names a refused host only when it is shorter than the shortest
    real key (so it holds none in any form); a longer one is "this host",
    and the record names it. In one process every host is named, redacted."""
    port = free_port()
    keys = {"OPENAI_API_KEY": REAL}
    assert cli.run("setup", "--tunnel-port", str(port), env=keys).rc == 0
    cli.write_config(proxy_settings(pki, port, privsep=privsep))
    assert cli.run("start", env=keys).rc == 0
    short = "denied.example.test"
    long_ = "a" * len(REAL) + ".example.test"     # as long as a key: could be one
    bodies = {}
    for host in (short, long_):
        conn, r = send_connect(port, f"{host}:443")
        conn.close()
        assert r.status == 403 and r.header("X-Keyhole-Reason") == "host_not_allowed", r.text
        bodies[host] = r.text
    assert f"keyhole: {short} is not on the allowlist" in bodies[short], bodies[short]
    if privsep:
        assert long_ not in bodies[long_], bodies[long_]
        assert "keyhole: this host is not on the allowlist" in bodies[long_], bodies[long_]
    else:
        assert f"keyhole: {long_} is not on the allowlist" in bodies[long_], bodies[long_]
    deadline = time.monotonic() + 5      # a front's records reach audit.log via the daemon
    while long_ not in cli.file_text("audit.log") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert long_ in cli.file_text("audit.log")
