"""Threaded upstream servers that stand in for real APIs behind keyhole.

`Upstream` is one HTTP/1.1 server (TLS when given a cert, else plain) that
records everything it receives, so a test can assert what reached the
upstream and, as importantly, that nothing did. Routes:

  /sse?n=3&gap=0.5&mode=chunked|close   text/event-stream, one flushed event per gap
  /bytes?n=N&chunked=1|framing=cl|chunked|close&delay=S&block=B
                                        N deterministic pattern bytes (helpers.data)
  /ws                                   WebSocket echo (RFC 6455) when Upgrade: websocket
  /hang                                 reads the request, never answers
  /reset?n=N&after=A                    promises N bytes (Content-Length), sends A, then RST
  /reset_body?after=A                   reads A bytes of the request body, then RST
  anything else (e.g. /upload, /echo)   200 JSON {"method","path","headers",
                                        "body_sha256","body_len","rid"}

The echo reply travels back through keyhole, whose response scrubbing turns
every real secret in it into the proxy token. What the upstream *received*
is therefore looked up by the reply's "rid" in this process's registry
(`received()`, used by helpers.checks.echoed).

`SilentServer` accepts TCP connections and never reads or writes.
"""
import hashlib
import itertools
import json
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from . import ws
from .data import pattern_chunks

RAW_CAPTURE_CAP = 4 << 20   # bytes of raw input kept for inspection
MAX_HEAD = 1 << 20
BODY_HEAD_KEEP = 64 << 10


class PeerClosed(Exception):
    pass


_RECEIVED = {}               # rid -> Recorded, for every echo reply sent
_RID = itertools.count(1)
_RID_LOCK = threading.Lock()


def received(rid):
    """The Recorded request behind an echo reply's "rid", or None."""
    with _RID_LOCK:
        return _RECEIVED.get(rid)


@dataclass
class Recorded:
    """One request as the upstream received it."""
    conn_id: int
    method: str = ""
    target: str = ""
    version: str = ""
    headers: list = field(default_factory=list)   # [(name, value)] in received order
    body_len: int = 0
    body_sha256: str = ""
    body_head: bytes = b""
    complete: bool = False     # head and whole body received
    error: str = ""            # why parsing stopped, if it did

    def header(self, name):
        vals = self.header_all(name)
        return vals[0] if vals else None

    def header_all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]


class _Reader:
    """Buffered reads from one socket, feeding the server's raw capture."""

    def __init__(self, sock, server):
        self.sock, self.server, self.buf = sock, server, b""

    def fill(self):
        try:
            data = self.sock.recv(256 * 1024)
        except (ssl.SSLError, OSError) as e:
            raise PeerClosed(str(e)) from e
        if not data:
            raise PeerClosed("eof")
        self.server._capture(data)
        self.buf += data

    def read_head(self):
        """Bytes up to and including the blank line; None on EOF before any byte."""
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                head, self.buf = self.buf[:i + 4], self.buf[i + 4:]
                return head
            if len(self.buf) > MAX_HEAD:
                raise ValueError("head too large")
            try:
                self.fill()
            except PeerClosed:
                if self.buf:
                    raise
                return None

    def read_line(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise ValueError("line too long")
            self.fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_upto(self, n):
        if not self.buf:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def _parse_head(head, rec):
    lines = head.decode("latin-1").split("\r\n")[:-2]
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise ValueError(f"bad request line {lines[0]!r}")
    rec.method, rec.target, rec.version = parts
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"bad header line {line!r}")
        rec.headers.append((name, value.strip(" \t")))


def _route(target):
    """(path, query dict) from an origin-form or absolute-form target."""
    u = urlsplit(target)
    return u.path or "/", {k: v[-1] for k, v in parse_qs(u.query).items()}


def _reset(sock):
    """Closes with an RST (SO_LINGER 0) instead of a FIN: an upstream crashing mid-way."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    try:
        sock.close()
    except OSError:
        pass


def _chunk(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


class Upstream:
    def __init__(self, host="127.0.0.1", cert=None, name="upstream"):
        self.host, self.name = host, name
        self.keepalive_timeout = 60   # seconds an idle keep-alive connection is kept
        self.ssl_ctx = None
        self.sni_seen = []
        if cert is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert.cert, cert.key)
            ctx.set_alpn_protocols(["http/1.1"])
            ctx.sni_callback = lambda s, name, c: self.sni_seen.append(name) and None
            self.ssl_ctx = ctx
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conns = set()
        self._threads = []
        self.reset()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET   # "::1" works too
        self._lsock = socket.socket(family, socket.SOCK_STREAM)
        self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._lsock.bind((host, 0))
        self._lsock.listen(128)
        self._lsock.settimeout(0.2)
        self.port = self._lsock.getsockname()[1]

    # ---- inspection ------------------------------------------------------
    def reset(self):
        with getattr(self, "_lock", threading.Lock()):
            self.requests = []        # Recorded, complete or not
            self.connections = 0      # TCP connections accepted
            self.tls_errors = []      # failed server-side handshakes
            self.raw_total = 0        # application bytes received (after TLS)
            self.raw = bytearray()    # first RAW_CAPTURE_CAP of them
            self.ws_messages = []     # (opcode, payload) received on /ws

    def _capture(self, data):
        with self._lock:
            self.raw_total += len(data)
            room = RAW_CAPTURE_CAP - len(self.raw)
            if room > 0:
                self.raw += data[:room]

    def complete_requests(self):
        with self._lock:
            return [r for r in self.requests if r.complete]

    def saw_nothing(self):
        """True if no application byte at all reached this upstream."""
        with self._lock:
            return self.raw_total == 0 and not self.requests

    def describe(self):
        with self._lock:
            reqs = [(r.method, r.target, r.complete, r.error) for r in self.requests]
            return (f"{self.name}: {self.connections} conns, {self.raw_total} bytes, "
                    f"requests={reqs}, raw[:300]={bytes(self.raw[:300])!r}")

    def open_connections(self):
        """TCP connections accepted and not yet closed by either side."""
        with self._lock:
            return len(self._conns)

    def wait_requests(self, n, timeout=5):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.complete_requests()) >= n:
                return self.complete_requests()
            time.sleep(0.02)
        raise AssertionError(f"expected {n} requests; {self.describe()}")

    # ---- lifecycle -------------------------------------------------------
    def start(self):
        t = threading.Thread(target=self._accept_loop, name=f"{self.name}-accept", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self):
        self._stop.set()
        with self._lock:
            conns = list(self._conns)
        for s in conns:
            try:
                # the plain socket's shutdown, also for an SSLSocket: it wakes the
                # serving thread without touching the TLS state that thread uses
                socket.socket.shutdown(s, socket.SHUT_RDWR)
            except OSError:
                pass
        for t in list(self._threads):
            t.join(timeout=2)
        self._lsock.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _accept_loop(self):
        conn_id = 0
        while not self._stop.is_set():
            try:
                sock, _ = self._lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn_id += 1
            with self._lock:
                self.connections += 1
                self._conns.add(sock)
            t = threading.Thread(target=self._serve, args=(sock, conn_id), daemon=True)
            t.start()
            self._threads.append(t)

    # ---- per connection --------------------------------------------------
    def _serve(self, sock, conn_id):
        raw_sock = sock
        try:
            if self.ssl_ctx is not None:
                sock.settimeout(10)
                try:
                    sock = self.ssl_ctx.wrap_socket(sock, server_side=True)
                except (ssl.SSLError, OSError) as e:
                    with self._lock:
                        self.tls_errors.append(str(e))
                    return
                # wrap_socket detached raw_sock: stop() must shut down this one
                # to wake a thread waiting on an idle (e.g. pooled) connection.
                with self._lock:
                    self._conns.discard(raw_sock)
                    self._conns.add(sock)
            sock.settimeout(self.keepalive_timeout)
            rd = _Reader(sock, self)
            while not self._stop.is_set() and self._serve_one(sock, rd, conn_id):
                pass
        except (PeerClosed, OSError):
            pass
        finally:
            with self._lock:
                self._conns.discard(raw_sock)
                self._conns.discard(sock)
            try:
                sock.close()
            except OSError:
                pass

    def _serve_one(self, sock, rd, conn_id):
        """Serves one request; returns True to keep the connection open."""
        rec = Recorded(conn_id)
        try:
            head = rd.read_head()
            if head is None:
                return False
            with self._lock:
                self.requests.append(rec)
            _parse_head(head, rec)
        except (ValueError, PeerClosed) as e:
            rec.error = f"head: {e}"
            with self._lock:
                if rec not in self.requests:
                    self.requests.append(rec)
            return False
        path, q = _route(rec.target)
        if path == "/ws" and (rec.header("Upgrade") or "").lower() == "websocket":
            rec.complete = True
            self._websocket(sock, rd, rec)
            return False
        if (rec.header("Expect") or "").lower() == "100-continue":
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if path == "/reset_body":
            got = 0
            while got < int(q.get("after", 0)):
                got += len(rd.read_upto(int(q["after"]) - got))
            rec.body_len, rec.error = got, "reset by the upstream (on purpose)"
            _reset(sock)
            return False
        try:
            self._read_body(rd, rec)
        except (ValueError, PeerClosed) as e:
            rec.error = f"body: {e}"
            return False
        rec.complete = True
        keep = self._keep_alive(rec)
        if path == "/hang":
            self._stop.wait(60)
            return False
        if path == "/sse":
            return self._sse(sock, q)
        if path == "/reset":
            n, after = int(q.get("n", 1 << 20)), int(q.get("after", 0))
            sock.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         f"Content-Length: {n}\r\n\r\n".encode())
            for piece in pattern_chunks(after):
                sock.sendall(piece)
            time.sleep(0.2)       # let the bytes leave before the reset overtakes them
            _reset(sock)
            return False
        if path == "/bytes":
            return self._bytes(sock, q, keep)
        self._echo(sock, rec, keep)
        return keep

    def _read_body(self, rd, rec):
        h = hashlib.sha256()
        te = (rec.header("Transfer-Encoding") or "").lower()

        def take(data):
            h.update(data)
            rec.body_len += len(data)
            if len(rec.body_head) < BODY_HEAD_KEEP:
                rec.body_head += data[:BODY_HEAD_KEEP - len(rec.body_head)]

        if "chunked" in te:
            while True:
                size = int(rd.read_line().split(b";")[0].strip(), 16)
                if size < 0:
                    raise ValueError("negative chunk size")
                if size == 0:
                    while rd.read_line():   # trailers until the blank line
                        pass
                    break
                while size:
                    data = rd.read_upto(min(size, 256 * 1024))
                    take(data)
                    size -= len(data)
                if rd.read_exact(2) != b"\r\n":
                    raise ValueError("missing CRLF after chunk")
        elif rec.header("Content-Length") is not None:
            left = int(rec.header("Content-Length"))
            if left < 0:
                raise ValueError("negative Content-Length")
            while left:
                data = rd.read_upto(min(left, 256 * 1024))
                take(data)
                left -= len(data)
        rec.body_sha256 = h.hexdigest()

    @staticmethod
    def _keep_alive(rec):
        conn = (rec.header("Connection") or "").lower()
        if rec.version == "HTTP/1.0":
            return "keep-alive" in conn
        return "close" not in conn

    # ---- handlers --------------------------------------------------------
    def _echo(self, sock, rec, keep):
        with _RID_LOCK:
            rid = f"{self.port}-{next(_RID)}"
            _RECEIVED[rid] = rec
        body = json.dumps({
            "method": rec.method, "path": rec.target,
            "headers": [[n, v] for n, v in rec.headers],
            "body_sha256": rec.body_sha256, "body_len": rec.body_len, "rid": rid,
        }).encode()
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nX-Upstream: {self.name}\r\n"
                f"{'' if keep else 'Connection: close' + chr(13) + chr(10)}\r\n").encode()
        sock.sendall(head + (b"" if rec.method == "HEAD" else body))

    def _sse(self, sock, q):
        n, gap = int(q.get("n", 3)), float(q.get("gap", 0.5))
        chunked = q.get("mode", "chunked") == "chunked"
        framing = "Transfer-Encoding: chunked" if chunked else "Connection: close"
        sock.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     f"Cache-Control: no-cache\r\n{framing}\r\n\r\n".encode())
        for i in range(n):
            if i:
                if self._stop.wait(gap):
                    return False
            ev = f"id: {i}\ndata: event-{i}\n\n".encode()
            sock.sendall(_chunk(ev) if chunked else ev)
        if chunked:
            sock.sendall(b"0\r\n\r\n")
        return chunked

    def _bytes(self, sock, q, keep):
        n = int(q.get("n", 1024))
        framing = q.get("framing", "chunked" if q.get("chunked") == "1" else "cl")
        delay, block = float(q.get("delay", 0)), int(q.get("block", 64 * 1024))
        head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
        if framing == "chunked":
            head += "Transfer-Encoding: chunked\r\n"
        elif framing == "cl":
            head += f"Content-Length: {n}\r\n"
        if framing == "close" or not keep:
            head += "Connection: close\r\n"
        sock.sendall((head + "\r\n").encode())
        for piece in pattern_chunks(n, block):
            sock.sendall(_chunk(piece) if framing == "chunked" else piece)
            if delay and self._stop.wait(delay):
                return False
        if framing == "chunked":
            sock.sendall(b"0\r\n\r\n")
        return keep and framing != "close"

    def _websocket(self, sock, rd, rec):
        key = rec.header("Sec-WebSocket-Key") or ""
        sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Accept: {ws.accept_key(key)}\r\n"
                      "\r\n").encode())
        while not self._stop.is_set():
            fin, op, payload = ws.read_frame(rd.read_exact)
            with self._lock:
                self.ws_messages.append((op, payload))
            if op == ws.OP_CLOSE:
                sock.sendall(ws.encode_frame(ws.OP_CLOSE, payload[:2], mask=False))
                return
            if op == ws.OP_PING:
                sock.sendall(ws.encode_frame(ws.OP_PONG, payload, mask=False))
            elif op in (ws.OP_TEXT, ws.OP_BINARY, ws.OP_CONT):
                sock.sendall(ws.encode_frame(op, payload, mask=False, fin=fin))


class SilentServer:
    """Accepts TCP connections and never reads or writes (for timeouts)."""

    def __init__(self, host="127.0.0.1"):
        self._lsock = socket.socket()
        self._lsock.bind((host, 0))
        self._lsock.listen(64)
        self._lsock.settimeout(0.2)
        self.port = self._lsock.getsockname()[1]
        self.accepted = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _loop(self):
        while not self._stop.is_set():
            try:
                s, _ = self._lsock.accept()
                self.accepted.append(s)
            except socket.timeout:
                continue
            except OSError:
                return

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=2)
        for s in self.accepted:
            s.close()
        self._lsock.close()
