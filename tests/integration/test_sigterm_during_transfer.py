"""SIGTERM stops accepting at once, lets an in-flight transfer finish (within
timeouts.shutdown_grace) and exits 0; SIGINT does the same; a transfer
longer than the grace period does not keep keyhole alive."""
import hashlib
import os
import signal
import socket
import subprocess
import time

from helpers.client import curl_env
from helpers.data import pattern_sha256

N, BLOCK, DELAY = 2 * 1024 * 1024, 64 * 1024, 0.1     # 32 blocks, ~3.2 s


def _slow_download(kh, echo, out_path, n=N):
    url = f"https://api.openai.test:{echo.port}/bytes?n={n}&block={BLOCK}&delay={DELAY}"
    return subprocess.Popen(["curl", "-q", "-sS", "--max-time", "20", "-x", kh.proxy_url,
                             "--cacert", kh.ca_crt, "-o", out_path, url],
                            stderr=subprocess.PIPE, env=curl_env())


def _wait_bytes(path, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            return
        time.sleep(0.02)
    raise AssertionError("download never started")


def _refused(port, timeout=2):
    """True once a new connection is refused (or closed without a response)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                if s.recv(64) == b"":
                    return True
        except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            pass
        time.sleep(0.05)
    return False


def test_sigterm_lets_download_finish(start_keyhole, echo, tmp_path):
    kh = start_keyhole({"timeouts": {"shutdown_grace": 10}})
    out = str(tmp_path / "download.bin")
    p = _slow_download(kh, echo, out)
    try:
        _wait_bytes(out)
        kh.proc.send_signal(signal.SIGTERM)
        assert _refused(kh.port), "new connections still served after SIGTERM"
        assert p.wait(15) == 0, p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
    with open(out, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == pattern_sha256(N)
    rc = kh.wait_exit(3)
    assert rc == 0, f"exit code {rc} (None = still running 3 s after the transfer ended)"


def test_sigint_when_idle_exits_0_quickly(start_keyhole):
    kh = start_keyhole()
    t0 = time.monotonic()
    assert kh.stop(signal.SIGINT, timeout=5) == 0
    assert time.monotonic() - t0 < 3


def test_grace_period_bounds_shutdown(start_keyhole, echo, tmp_path):
    kh = start_keyhole({"timeouts": {"shutdown_grace": 1}})
    out = str(tmp_path / "download.bin")
    p = _slow_download(kh, echo, out, n=8 * N)     # ~13 s, far beyond the grace
    try:
        _wait_bytes(out)
        t0 = time.monotonic()
        kh.proc.send_signal(signal.SIGTERM)
        rc = kh.wait_exit(6)
        assert rc == 0, f"exit code {rc} (None = still running 6 s after SIGTERM)"
        assert time.monotonic() - t0 >= 0.5, "the in-flight transfer got no grace at all"
        assert p.wait(10) != 0, "the cut-off download cannot have completed"
    finally:
        if p.poll() is None:
            p.kill()
