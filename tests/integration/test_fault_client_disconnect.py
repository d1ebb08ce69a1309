"""A client that goes away mid-stream (a reset or a plain close, during a
download or during an upload) makes keyhole drop the upstream connection of
that exchange promptly, record it, and go on serving: no connection or
buffer is left behind and the next request succeeds."""
import socket
import struct
import time

import pytest

from helpers.client import curl, open_tunnel


def _wait_upstream_closed(up, timeout=5):
    deadline = time.monotonic() + timeout
    while up.open_connections() and time.monotonic() < deadline:
        time.sleep(0.05)
    return up.open_connections() == 0


def _abort(conn, how):
    if how == "reset":
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


@pytest.mark.parametrize("how", ["reset", "close"])
def test_client_gone_mid_download(start_keyhole, echo, how):
    kh = start_keyhole()
    c = open_tunnel(kh.port, "api.openai.test", echo.port, kh.ca_crt, timeout=10)
    # ~20 s of stream if nobody stops it
    c.send(f"GET /bytes?n=20000000&block=100000&delay=0.1 HTTP/1.1\r\n"
           f"Host: api.openai.test:{echo.port}\r\n\r\n".encode())
    deadline = time.monotonic() + 5
    while len(c.buf) < 300000:
        c.recv_some(deadline)
    assert echo.open_connections() == 1
    _abort(c, how)
    assert _wait_upstream_closed(echo), "keyhole kept the upstream side of a dead client"
    rec = kh.wait_audit(lambda a: a.get("path") == "/bytes")[0]
    assert 300000 <= rec["bytes_out"] < 20000000, rec
    assert rec["decision"] == "error", rec
    r = curl(f"https://api.openai.test:{echo.port}/after", proxy=kh.proxy_url, cacert=kh.ca_crt)
    assert r.rc == 0 and r.status == 200, r.stderr


@pytest.mark.parametrize("how", ["reset", "close"])
def test_client_gone_mid_upload(start_keyhole, echo, how):
    kh = start_keyhole()
    c = open_tunnel(kh.port, "api.openai.test", echo.port, kh.ca_crt, timeout=10)
    c.send(f"POST /upload HTTP/1.1\r\nHost: api.openai.test:{echo.port}\r\n"
           f"Content-Length: 10000000\r\n\r\n".encode() + b"u" * 500000)
    echo.wait_requests(0)
    deadline = time.monotonic() + 5
    while not echo.requests and time.monotonic() < deadline:
        time.sleep(0.02)
    assert echo.requests, echo.describe()
    _abort(c, how)
    assert _wait_upstream_closed(echo), "keyhole kept the upstream side of a dead client"
    assert not echo.complete_requests(), "a truncated upload reached the upstream as complete"
    kh.wait_audit(lambda a: a.get("path") == "/upload")
    r = curl(f"https://api.openai.test:{echo.port}/after", proxy=kh.proxy_url, cacert=kh.ca_crt)
    assert r.rc == 0 and r.status == 200, r.stderr
