"""Reload under load with zero failed requests.

For about ten seconds, client threads drive HTTPS through keyhole to a local
TLS upstream: keep-alive connections (many requests each), a new connection
(CONNECT + both handshakes) per request, and long SSE streams that span
several reloads. Meanwhile the test reloads the daemon (SIGHUP) several times,
each time rotating the real key behind the proxy token in the credential
source (credential_command) and/or changing the allowlist. Checks:
- not one request fails, and every streamed event arrives, in order;
- every request started after a reload finished carries that reload's key
  (or a later one): new connections and the next request on a kept-alive
  connection see the new policy; keys only ever move forward;
- after each reload a new CONNECT to other.test is allowed or refused
  exactly as the new allowlist says;
- no key leaks into keyhole's output or the audit log.
"""
import http.client
import os
import secrets
import signal
import threading
import time

from helpers.checks import assert_no_leak, echoed, echoed_headers
from helpers.client import client_context, send_connect
from helpers.keyhole import dump_yaml

DURATION = 10.0
RELOADS = 6
SSE_EVENTS, SSE_GAP = 10, 0.6      # each stream lasts ~6 s


class Keys:
    """The real key the credential command prints, rotated by the test."""

    def __init__(self, path):
        self.path, self.values = path, []
        self.rotate()

    def rotate(self):
        self.values.append(f"sk-rotated-{len(self.values)}-" + secrets.token_hex(12))
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(self.values[-1])
        os.replace(tmp, self.path)      # the command never sees half a key


class Load:
    def __init__(self, kh, echo, token, keys):
        self.kh, self.echo, self.token, self.keys = kh, echo, token, keys
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.failures, self.results = [], []   # results: (t_start, key index)
        self.streams = 0
        self.reload_done = []                  # monotonic time reload k finished (k = 1..)

    def _conn(self):
        c = http.client.HTTPSConnection("127.0.0.1", self.kh.port, timeout=15,
                                        context=client_context(self.kh.ca_crt))
        c.set_tunnel("api.openai.test", self.echo.port)
        return c

    def _one(self, c, n):
        t0 = time.monotonic()
        c.request("GET", f"/v1/models?n={n}", headers={"Authorization": f"Bearer {self.token}"})
        r = c.getresponse()
        body = r.read()
        if r.status != 200:
            raise AssertionError(f"status {r.status}: {body[:200]!r}")
        got = echoed_headers(echoed(body), "Authorization")
        if len(got) != 1 or not got[0].startswith("Bearer "):
            raise AssertionError(f"Authorization upstream: {got!r}")
        key = got[0][len("Bearer "):]
        if key not in self.keys.values:
            raise AssertionError("the upstream got something that is not a real key")
        with self.lock:
            self.results.append((t0, self.keys.values.index(key)))

    def _guard(self, name, fn):
        try:
            fn()
        except Exception as e:      # any failure is the test's finding
            with self.lock:
                self.failures.append(f"{name}: {type(e).__name__}: {e}")

    def keepalive(self, name):
        c, n = self._conn(), 0
        try:
            while not self.stop.is_set():
                self._one(c, n)
                n += 1
        finally:
            c.close()

    def new_connections(self, name):
        n = 0
        while not self.stop.is_set():
            c = self._conn()
            try:
                self._one(c, n)
            finally:
                c.close()
            n += 1

    def streams_loop(self, name):
        while not self.stop.is_set():
            c = self._conn()
            try:
                c.request("GET", f"/sse?n={SSE_EVENTS}&gap={SSE_GAP}",
                          headers={"Authorization": f"Bearer {self.token}"})
                r = c.getresponse()
                assert r.status == 200, r.status
                body = r.read().decode()
                want = "".join(f"id: {i}\ndata: event-{i}\n\n" for i in range(SSE_EVENTS))
                assert body == want, f"stream cut or altered: {body!r}"
                with self.lock:
                    self.streams += 1
            finally:
                c.close()

    def start(self):
        jobs = [("keepalive-1", self.keepalive), ("keepalive-2", self.keepalive),
                ("newconn-1", self.new_connections), ("newconn-2", self.new_connections),
                ("sse", self.streams_loop)]
        self.threads = [threading.Thread(target=self._guard, args=(n, lambda f=f, n=n: f(n)),
                                         daemon=True) for n, f in jobs]
        for t in self.threads:
            t.start()

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)
            assert not t.is_alive(), "a client thread hung"


def reload_and_wait(kh, n_ok):
    kh.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while kh.stderr_text().count("reload: ok") < n_ok:
        assert "reload failed" not in kh.stderr_text(), kh.stderr_text()[-2000:]
        assert time.monotonic() < deadline, "reload did not finish"
        time.sleep(0.02)
    return time.monotonic()


def other_allowed(kh, port):
    conn, resp = send_connect(kh.port, f"other.test:{port}")
    conn.close()
    assert resp.status in (200, 403), resp.status
    return resp.status == 200


def test_reload_under_load_zero_failures(start_keyhole, echo, token, tmp_path):
    keys = Keys(str(tmp_path / "real-key"))
    script = tmp_path / "get-key.sh"
    script.write_text(f"#!/bin/sh\nprintf 'OPENAI_API_KEY=%s\\n' \"$(cat {keys.path})\"\n")
    script.chmod(0o700)
    cfg = {"credential_source": "command", "credential_command": str(script),
           "extra_allowed_hosts": ["api.openai.test", "other.test"], "workers": 2}
    # no key in the environment: every value comes from the command
    kh = start_keyhole(cfg, env={"OPENAI_API_KEY": None})
    full = dict(kh.config)

    load = Load(kh, echo, token, keys)
    load.start()
    t_end = time.monotonic() + DURATION
    allow_other = True
    for k in range(1, RELOADS + 1):
        time.sleep(DURATION / (RELOADS + 1))
        if k % 2 == 1:
            keys.rotate()
        if k % 3 != 0:                  # also flip the allowlist on most reloads
            allow_other = not allow_other
            full["extra_allowed_hosts"] = ["api.openai.test"] + (["other.test"] if allow_other
                                                                   else [])
            with open(os.path.join(kh.home, "config.yaml"), "w") as f:
                f.write(dump_yaml(full))
        done = reload_and_wait(kh, k)
        with load.lock:
            load.reload_done.append((done, len(keys.values) - 1))
        assert other_allowed(kh, echo.port) == allow_other, f"reload {k}: allowlist not applied"
    time.sleep(max(0.0, t_end - time.monotonic()))
    load.join()

    print(f"requests={len(load.results)} streams={load.streams} keys={len(keys.values)}")
    assert not load.failures, "\n".join(load.failures[:10])
    assert len(load.results) >= 40, f"too little load to mean anything: {len(load.results)}"
    assert load.streams >= 1, "no stream completed"
    # every request started after reload k finished got key k's value or a later one
    late = [(t, i, want) for t, i in load.results for done, want in load.reload_done
            if t > done and i < want]
    assert not late, f"{len(late)} request(s) used a rotated-out key after the reload"
    newest = len(keys.values) - 1
    assert any(i == newest for _, i in load.results), "the last rotated key was never used"
    assert kh.running()
    assert_no_leak(kh, keys.values, [token])
