"""AWS Signature Version 4 for the tests, written independently of keyhole's
C code: a signer (what an SDK in the sandbox does) and a TLS upstream that
checks signatures with the *real* credentials, as an AWS endpoint would.

The canonicalization follows AWS's documentation: S3 signs the path as sent,
other services normalize it and URI-encode it again; query names and values
are decoded and re-encoded strictly; header values are trimmed and their
inner runs of spaces collapsed.
"""
import datetime
import hashlib
import hmac
import http.client
import http.server
import posixpath
import secrets
import socket
import ssl
import threading
from urllib.parse import quote, unquote

from .client import client_context
from .keyhole import mapping
from .pki import make_leaf

ALGORITHM = "AWS4-HMAC-SHA256"

# Real AWS endpoint names, pinned to loopback by the tests' `resolve:`, so that
# keyhole's rules for AWS hosts apply as they would toward AWS itself.
AWS_NAMES = ["sts.us-east-1.amazonaws.com", "s3.us-east-1.amazonaws.com",
             "*.s3.us-east-1.amazonaws.com", "s3.eu-west-1.amazonaws.com",
             "x.execute-api.us-east-1.amazonaws.com"]
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def amz_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _normalize_path(path, service):
    if service == "s3":
        return path or "/"
    norm = posixpath.normpath(path or "/")
    while norm.startswith("//"):
        norm = norm[1:]
    if path.endswith("/") and norm != "/":
        norm += "/"
    return quote(norm, safe="/~")


def _canonical_query(query):
    pairs = []
    for part in query.split("&") if query else []:
        if not part:
            continue
        k, _, v = part.partition("=")
        pairs.append((quote(unquote(k), safe="-_.~"), quote(unquote(v), safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def _canonical_value(v):
    return " ".join(v.strip().split())


def canonical_request(method, path, query, headers, signed, payload_hash, service):
    lines = [method, _normalize_path(path, service), _canonical_query(query)]
    for name in signed:
        vals = [_canonical_value(v) for n, v in headers if n.lower() == name]
        lines.append(f"{name}:{','.join(vals)}")
    return "\n".join(lines) + "\n\n" + ";".join(signed) + "\n" + payload_hash


def signing_key(secret, date, region, service):
    k = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def signature(secret, amz_date, scope, creq):
    date, region, service, _ = scope.split("/")
    sts = "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    return hmac.new(signing_key(secret, date, region, service), sts.encode(),
                    hashlib.sha256).hexdigest()


def sign(method, host, target, *, akid, secret, region="us-east-1", service="sts",
         headers=(), body=b"", session=None, content_sha256=None, amz_date=None):
    """Headers (list of (name, value)) for a header-authorized request.

    content_sha256: None signs the body's hash without sending the header (most
    services); a string is sent as x-amz-content-sha256 and signed as the hash.
    """
    amz_date = amz_date or amz_now()
    path, _, query = target.partition("?")
    hs = [("Host", host), ("X-Amz-Date", amz_date)] + list(headers)
    if content_sha256 is not None:
        hs.append(("x-amz-content-sha256", content_sha256))
    if session is not None:
        hs.append(("X-Amz-Security-Token", session))
    signed = sorted({n.lower() for n, _ in hs})
    payload = content_sha256 or hashlib.sha256(body).hexdigest()
    creq = canonical_request(method, path, query, hs, signed, payload, service)
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    sig = signature(secret, amz_date, scope, creq)
    hs.append(("Authorization", f"{ALGORITHM} Credential={akid}/{scope}, "
                                f"SignedHeaders={';'.join(signed)}, Signature={sig}"))
    return hs


def verify(method, target, headers, body, *, akid, secret, session=None):
    """None if the request is correctly signed with these credentials, else why not."""
    auth = [v for n, v in headers if n.lower() == "authorization"]
    if len(auth) != 1 or not auth[0].startswith(ALGORITHM + " "):
        return "no SigV4 Authorization"
    parts = dict(p.strip().split("=", 1) for p in auth[0][len(ALGORITHM) + 1:].split(","))
    key_id, scope = parts["Credential"].split("/", 1)
    if key_id != akid:
        return f"unknown access key id {key_id[:8]}..."
    tokens = [v for n, v in headers if n.lower() == "x-amz-security-token"]
    if session is not None and tokens != [session]:
        return "missing or wrong session token"
    dates = [v for n, v in headers if n.lower() == "x-amz-date"]
    sent = [v for n, v in headers if n.lower() == "x-amz-content-sha256"]
    payload = sent[0] if sent else hashlib.sha256(body).hexdigest()
    if sent and sent[0] not in ("UNSIGNED-PAYLOAD",) and sent[0] != hashlib.sha256(body).hexdigest():
        return "x-amz-content-sha256 does not match the body"
    signed = parts["SignedHeaders"].split(";")
    path, _, query = target.partition("?")
    creq = canonical_request(method, path, query, headers, signed, payload,
                             scope.split("/")[2])
    want = signature(secret, dates[0] if dates else "", scope, creq)
    return None if hmac.compare_digest(want, parts["Signature"]) else "SignatureDoesNotMatch"


class AwsUpstream:
    """A TLS server that answers 200 to requests signed with the real keys and
    403 to anything else, recording what it saw."""

    def __init__(self, cert, *, akid, secret, session=None):
        self.akid, self.secret, self.session = akid, secret, session
        self.seen = []      # (method, target, headers, body, verdict)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _chunked(self):
                """The de-chunked body, or None if the connection ends first."""
                body = b""
                while True:
                    line = self.rfile.readline()
                    if not line.endswith(b"\r\n"):
                        return None
                    size = int(line.split(b";")[0], 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b""):
                            pass
                        return body
                    body += self.rfile.read(size)
                    self.rfile.readline()

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    body = self._chunked()
                    if body is None:    # cut off mid-body: nothing to answer
                        outer.seen.append((self.command, self.path, list(self.headers.items()),
                                           b"", "incomplete chunked body"))
                        self.close_connection = True
                        return
                else:
                    body = self.rfile.read(n) if n else b""
                hs = list(self.headers.items())
                why = verify(self.command, self.path, hs, body, akid=outer.akid,
                             secret=outer.secret, session=outer.session)
                outer.seen.append((self.command, self.path, hs, body, why))
                out = b"ok\n" if why is None else f"denied: {why}\n".encode()
                self.send_response(200 if why is None else 403)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = _any

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert.cert, cert.key)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.1}, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def fake_pair():
    """A sandbox's fake credentials in keyhole's token format."""
    return (f"keyhole-aws-key-{secrets.token_hex(16)}",
            f"keyhole-aws-secret-{secrets.token_hex(16)}")


def real_pair():
    return ("AKIA" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30))


def unused_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def aws_cert(pki):
    """A test-CA server cert for AWS_NAMES."""
    return make_leaf(pki, "aws", AWS_NAMES)


def aws_resolve(names=AWS_NAMES):
    """`resolve:` pins sending the AWS names (not the wildcards) to the test upstream."""
    return {n: "127.0.0.1" for n in names if not n.startswith("*")}


class AwsKeys:
    """The sandbox's fake key pair (keyhole tokens) and the real one keyhole holds."""

    def __init__(self):
        self.fake_akid, self.fake_secret = fake_pair()
        self.real_akid, self.real_secret = real_pair()

    def mappings(self, hosts=("*.amazonaws.com",)):
        return [mapping(self.fake_akid, "AWS_ACCESS_KEY_ID", hosts, ()),
                mapping(self.fake_secret, "AWS_SECRET_ACCESS_KEY", hosts, ())]

    def env(self):
        return {"AWS_ACCESS_KEY_ID": self.real_akid, "AWS_SECRET_ACCESS_KEY": self.real_secret}

    def upstream(self, cert):
        """An AwsUpstream that accepts only what the real keys signed."""
        return AwsUpstream(cert, akid=self.real_akid, secret=self.real_secret).start()

    def sign(self, method, host, port, target, **kw):
        """Headers signed with the fake keys, as an SDK in the sandbox would."""
        return sign(method, f"{host}:{port}", target, akid=self.fake_akid,
                    secret=self.fake_secret, **kw)


def tunnel_request(kh, host, port, method, target, headers, body=b"", source=None,
                   timeout=10):
    """One request in a CONNECT tunnel through keyhole, optionally from another
    loopback address: (status, X-Keyhole-Reason, body)."""
    conn = http.client.HTTPSConnection("127.0.0.1", kh.port, timeout=timeout,
                                       context=client_context(kh.ca_crt),
                                       source_address=(source, 0) if source else None)
    conn.set_tunnel(host, port)
    return send_signed(conn, method, target, headers, body)


def send_signed(conn, method, target, headers, body=b""):
    """Sends exactly the signed headers (no Host or Accept-Encoding of
    http.client's own) on conn, then closes it: (status, X-Keyhole-Reason, body)."""
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for n, v in headers:
            conn.putheader(n, v)
        if body or method in ("POST", "PUT"):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        return r.status, r.getheader("X-Keyhole-Reason"), r.read()
    finally:
        conn.close()
