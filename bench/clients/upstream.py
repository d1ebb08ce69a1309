"""Python TLS upstream for the agent scenarios (stdlib http.server + ssl, HTTP/1.1
keep-alive, 127.0.0.1 only), as API frameworks answer:
  /small   the head and the 30-byte body in two separate writes (two segments);
  /sse     text/event-stream, chunked: SSE_EVENTS small events SSE_GAP_MS apart;
  /whoami  auth=real-key when Authorization carries $BENCH_SECRET (never echoes it).
Usage: upstream.py PORT CERT KEY  (prints "listening" once bound)."""
import http.server
import os
import ssl
import sys
import time

BODY = b"hello from the bench upstream\n"
EVENTS = int(os.environ.get("SSE_EVENTS", "5"))
GAP = float(os.environ.get("SSE_GAP_MS", "10")) / 1000
SECRET = os.environ.get("BENCH_SECRET", "")


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY, as uvicorn/asyncio servers set: without it the body's write
    # waits for the ACK of the head (Nagle + delayed ACK, ~40 ms per request).
    disable_nagle_algorithm = True

    def log_message(self, *a):
        pass

    def _head(self, ctype, length=None):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()   # flushes the head: one write
        self.wfile.flush()

    def do_GET(self):
        if self.path == "/sse":
            self._head("text/event-stream")
            for i in range(EVENTS):
                ev = b'data: {"id": %d, "delta": "token token token"}\n\n' % i
                self.wfile.write(b"%x\r\n%s\r\n" % (len(ev), ev))
                self.wfile.flush()
                if i + 1 < EVENTS:
                    time.sleep(GAP)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return
        if self.path == "/whoami":
            ok = SECRET and self.headers.get("Authorization") == "Bearer " + SECRET
            body = b"auth=real-key" if ok else b"auth=other"
        else:
            body = BODY
        self._head("text/plain", len(body))
        self.wfile.write(body)   # the body: a second write
        self.wfile.flush()


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


def main():
    port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = Server(("127.0.0.1", port), H)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("listening", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
