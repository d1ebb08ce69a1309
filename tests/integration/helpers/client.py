"""Client side of the tests: curl runs and a raw-socket HTTP/1.1 client.

The raw client exists for what curl will not send: pipelined requests in
one write, malformed heads, a TLS handshake with a chosen SNI.
"""
import hashlib
import json
import os
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

DEFAULT = object()


class Closed(Exception):
    """The peer closed (EOF or reset) while more bytes were expected."""


@dataclass
class Response:
    status: int
    reason: str
    version: str
    headers: list                    # [(name, value)]
    body: bytes = b""
    raw_head: bytes = b""

    def header(self, name):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def header_all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)


def parse_head(head):
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code, _, reason = rest.partition(" ")
    headers = []
    for line in lines[1:]:
        if line:
            n, _, v = line.partition(":")
            headers.append((n.strip(), v.strip()))
    return Response(int(code), reason, version, headers, raw_head=head)


def build_request(method, target, host, headers=(), body=None, version="HTTP/1.1"):
    """Bytes of one request; adds Content-Length when a body is given and none is set."""
    lines = [f"{method} {target} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    names = {n.lower() for n, _ in headers}
    lines += [f"{n}: {v}" for n, v in headers]
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


class Conn:
    """A socket (plain or TLS) with a read buffer and deadline-bounded reads."""

    def __init__(self, sock, timeout=5.0):
        self.sock, self.buf, self.timeout = sock, b"", timeout

    @classmethod
    def to_proxy(cls, port, timeout=5.0, source=None):
        """source: a loopback address to connect from (another client, as keyhole sees it)."""
        addr = (source, 0) if source else None
        return cls(socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                            source_address=addr), timeout)

    @classmethod
    def to_unix(cls, path, timeout=5.0):
        """To one of keyhole's Unix sockets (proxy.sock, tls.sock, http.sock)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(path)
        except OSError:
            s.close()
            raise
        return cls(s, timeout)

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _deadline(self, timeout):
        return time.monotonic() + (self.timeout if timeout is None else timeout)

    def recv_some(self, deadline):
        """Appends what arrives next to buf; Closed on EOF/reset, socket.timeout at deadline."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("deadline passed")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(256 * 1024)
        except (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError,
                ssl.SSLZeroReturnError) as e:
            raise Closed(str(e)) from e
        except ssl.SSLError as e:
            raise Closed(f"TLS error: {e}") from e
        if not data:
            raise Closed("eof")
        self.buf += data
        return data

    def read_head(self, timeout=None):
        deadline = self._deadline(timeout)
        while b"\r\n\r\n" not in self.buf:
            self.recv_some(deadline)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        return head + b"\r\n\r\n"

    def read_exact(self, n, timeout=None):
        deadline = self._deadline(timeout)
        while len(self.buf) < n:
            self.recv_some(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_line(self, deadline):
        while b"\r\n" not in self.buf:
            self.recv_some(deadline)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_until_close(self, timeout=None):
        deadline = self._deadline(timeout)
        try:
            while True:
                self.recv_some(deadline)
        except Closed:
            pass
        out, self.buf = self.buf, b""
        return out

    def wait_closed(self, timeout=None):
        """True if the peer closes within timeout (data read meanwhile is kept in buf)."""
        deadline = self._deadline(timeout)
        try:
            while True:
                self.recv_some(deadline)
        except Closed:
            return True
        except (socket.timeout, TimeoutError):
            return False

    def read_response(self, timeout=None, method="GET", skip_interim=True, connect=False):
        """Reads one response; the body by Content-Length, chunked or until close."""
        deadline = self._deadline(timeout)
        while True:
            resp = parse_head(self.read_head(deadline - time.monotonic()))
            if not (skip_interim and 100 <= resp.status < 200 and resp.status != 101):
                break
        if (method == "HEAD" or resp.status in (101, 204, 304)
                or (connect and 200 <= resp.status < 300)):
            return resp
        te = (resp.header("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            resp.body = self._read_chunked(deadline)
        elif resp.header("Content-Length") is not None:
            resp.body = self.read_exact(int(resp.header("Content-Length")),
                                        deadline - time.monotonic())
        else:
            resp.body = self.read_until_close(deadline - time.monotonic())
        return resp

    def _read_chunked(self, deadline):
        body = b""
        while True:
            size = int(self.read_line(deadline).split(b";")[0].strip(), 16)
            if size == 0:
                while self.read_line(deadline):
                    pass
                return body
            body += self.read_exact(size, deadline - time.monotonic())
            if self.read_exact(2, deadline - time.monotonic()) != b"\r\n":
                raise AssertionError("chunk not followed by CRLF")

    def request(self, method, target, host, headers=(), body=None, timeout=None):
        self.send(build_request(method, target, host, headers, body))
        return self.read_response(timeout, method=method)

    def start_tls(self, cafile, server_hostname, check_hostname=True, timeout=None):
        """Wraps the socket in TLS, trusting only cafile; raises ssl.SSLError etc. on failure."""
        ctx = client_context(cafile, check_hostname)
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)
        return self


def client_context(cafile, check_hostname=True):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    ctx.check_hostname = check_hostname
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def send_connect(port, authority, timeout=5.0, headers=(), source=None):
    """Opens a TCP connection to the proxy, sends CONNECT, returns (conn, response)."""
    conn = Conn.to_proxy(port, timeout, source)
    extra = "".join(f"{n}: {v}\r\n" for n, v in headers)
    conn.send(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n{extra}\r\n".encode())
    return conn, conn.read_response(connect=True)


def open_tunnel(port, host, upstream_port, cafile, server_hostname=DEFAULT,
                check_hostname=True, timeout=5.0, source=None):
    """CONNECT host:upstream_port through the proxy, then TLS with keyhole's CA."""
    conn, resp = send_connect(port, f"{host}:{upstream_port}", timeout, source=source)
    if resp.status != 200:
        conn.close()
        raise AssertionError(f"CONNECT {host}:{upstream_port} -> {resp.status} "
                             f"{resp.header('X-Keyhole-Reason')} {resp.text!r}")
    assert not conn.buf, f"bytes after the CONNECT response: {conn.buf!r}"
    sni = host if server_hostname is DEFAULT else server_hostname
    return conn.start_tls(cafile, sni, check_hostname)


# ---- curl ------------------------------------------------------------------

@dataclass
class CurlResult:
    rc: int
    body: bytes
    stderr: str
    info: dict = field(default_factory=dict)   # curl -w '%{json}'

    @property
    def status(self):
        return self.info.get("http_code")

    @property
    def connect_status(self):
        return self.info.get("http_connect")

    def json(self):
        return json.loads(self.body)


def curl_env(extra=None):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tempfile.gettempdir(),
           "LANG": "C"}
    env.update(extra or {})
    return env


def _curl_cmd(timeout, proxy, cacert, headers, args):
    cmd = ["curl", "-q", "-sS", "--max-time", str(timeout)]
    if proxy:
        cmd += ["-x", proxy]
    if cacert:
        cmd += ["--cacert", cacert]
    for h in headers:
        cmd += ["-H", h]
    return cmd + list(args)


def curl(url, *, proxy=None, cacert=None, headers=(), args=(), env=None, timeout=10,
         stdin_path=None):
    """One curl transfer; the body goes to a temp file, metadata comes from %{json}."""
    with tempfile.NamedTemporaryFile(prefix="kh-curl-") as out:
        cmd = _curl_cmd(timeout, proxy, cacert, headers, args)
        cmd += ["-o", out.name, "-w", "%{json}", url]
        stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        try:
            r = subprocess.run(cmd, stdin=stdin, capture_output=True, env=curl_env(env),
                               timeout=timeout + 5)
        finally:
            if stdin_path:
                stdin.close()
        body = open(out.name, "rb").read()
    try:
        info = json.loads(r.stdout or b"{}")
    except ValueError:
        info = {}
    return CurlResult(r.returncode, body, r.stderr.decode("utf-8", "replace"), info)


def curl_sha256(url, *, proxy=None, cacert=None, headers=(), args=(), timeout=20):
    """Streams a download through sha256 without storing it: (rc, hexdigest, size, stderr)."""
    cmd = _curl_cmd(timeout, proxy, cacert, headers, args) + [url]
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=curl_env())
        h, size = hashlib.sha256(), 0
        while True:
            data = p.stdout.read(1 << 20)
            if not data:
                break
            h.update(data)
            size += len(data)
        rc = p.wait(timeout + 5)
        err.seek(0)
        return rc, h.hexdigest(), size, err.read().decode("utf-8", "replace")
