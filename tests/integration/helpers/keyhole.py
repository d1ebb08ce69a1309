"""A `keyhole proxy` process under test: its files, its port, its logs."""
import http.client
import json
import os
import re
import secrets
import signal
import subprocess
import time

try:
    import yaml
except ImportError:     # JSON is valid YAML; only the block style is lost
    yaml = None

LISTEN_RE = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
METRICS_RE = re.compile(r"metrics on http://([0-9.:\[\]a-f]+)/metrics")
PASS_ENV = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "MSAN_OPTIONS")

# The tests' upstreams listen on ephemeral loopback ports, and keyhole reaches
# only 443 (TLS) and 80 (plain HTTP) unless allowed_ports widens them: every
# test config starts from this (conftest.default_config, cli.proxy_settings);
# a test of the port rule itself sets allowed_ports to None (removed).
TEST_ALLOWED_PORTS = {"*": ["1-65535"]}

# The real secret keyhole injects. Random per run so a leak check is exact.
OPENAI_SECRET = "sk-real-openai-" + secrets.token_hex(10)
GROQ_SECRET = "gsk-real-groq-" + secrets.token_hex(10)


def privsep_on():
    """Whether daemons the tests start run front processes: keyhole's default
    (privsep: true), unless KH_TEST_PRIVSEP=0 runs the suite in one process
    (`make test-one-process`). A test that sets privsep itself decides alone."""
    return os.environ.get("KH_TEST_PRIVSEP", "1") != "0"


def sanitized_binary(path):
    """True when path was built with AddressSanitizer (make asan)."""
    with open(path, "rb") as f:
        return b"__asan_init" in f.read()


def mint_token(provider="openai"):
    """A proxy token in keyhole's format: keyhole-<provider>-<32 lowercase hex>."""
    return f"keyhole-{provider}-{secrets.token_hex(16)}"


def mapping(token, env_name="OPENAI_API_KEY", hosts=("api.openai.test",),
            headers=("Authorization",)):
    return {"proxy_token": token, "env_name": env_name,
            "upstream_hosts": list(hosts), "match_headers": list(headers)}


def dump_yaml(cfg):
    if yaml is not None:
        return yaml.safe_dump(cfg, default_flow_style=False, sort_keys=False)
    return json.dumps(cfg, indent=2) + "\n"


def _write_private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


class Keyhole:
    def __init__(self, binary, home, *, config=None, mappings=None, env=None,
                 raw_config=None, user_home=None, logdir=None, wrapper=(), preexec_fn=None):
        self.binary, self.home = binary, home
        self.wrapper, self.preexec_fn = list(wrapper), preexec_fn
        self.config, self.mappings, self.raw_config = config, mappings, raw_config
        self.user_home = user_home or os.path.dirname(home)
        self.env = self._make_env(env or {})
        self.proc = None
        self.port = None
        logdir = logdir or os.path.dirname(home)
        self.stderr_path = os.path.join(logdir, "keyhole.stderr")
        self.stdout_path = os.path.join(logdir, "keyhole.stdout")

    def _make_env(self, extra):
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": self.user_home, "LANG": "C.UTF-8"}
        env.update({k: os.environ[k] for k in PASS_ENV if k in os.environ})
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env

    # ---- files -------------------------------------------------------------
    @property
    def ca_crt(self):
        return os.path.join(self.home, "ca.crt")

    @property
    def audit_path(self):
        return os.path.join(self.home, "audit.log")

    @property
    def metrics_addr(self):
        """"ip:port" of the metrics listener, from the startup banner."""
        m = METRICS_RE.search(self.stderr_text())
        assert m, f"no 'metrics on' line in keyhole's stderr:\n{self.stderr_text()}"
        return m.group(1)

    def metrics_get(self, path="/metrics", method="GET", timeout=5.0):
        """(status, body text) from the metrics listener."""
        host, _, port = self.metrics_addr.rpartition(":")
        c = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=timeout)
        try:
            c.request(method, path)
            r = c.getresponse()
            return r.status, r.read().decode("utf-8", "replace")
        finally:
            c.close()

    @property
    def proxy_url(self):
        return f"http://127.0.0.1:{self.port}"

    def write_files(self):
        os.makedirs(self.home, mode=0o700, exist_ok=True)
        if self.raw_config is not None:
            _write_private(os.path.join(self.home, "config.yaml"), self.raw_config)
        elif self.config is not None:
            _write_private(os.path.join(self.home, "config.yaml"), dump_yaml(self.config))
        if self.mappings is not None:
            doc = self.mappings if isinstance(self.mappings, dict) else \
                {"version": 1, "tokens": list(self.mappings)}
            _write_private(os.path.join(self.home, "mappings.json"), json.dumps(doc, indent=2))

    # ---- process -----------------------------------------------------------
    # the daemon may wait 5 s for its CA signer and 5 s for its fronts (as
    # keyhole start does, with room for a busy machine)
    def start(self, wait=True, ready_timeout=15.0):
        self.write_files()
        with open(self.stderr_path, "wb") as err, open(self.stdout_path, "wb") as out:
            self.proc = subprocess.Popen([*self.wrapper, self.binary, "proxy", "--home",
                                          self.home],
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         env=self.env, start_new_session=True,
                                         preexec_fn=self.preexec_fn)
        if wait:
            self.wait_ready(ready_timeout)
        return self

    def wait_ready(self, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"keyhole exited with {self.proc.returncode} before "
                                     f"becoming ready; stderr:\n{self.stderr_text()}")
            if self.port is None:
                m = LISTEN_RE.search(self.stderr_text())
                if m:
                    self.port = int(m.group(1))
            if self.port is not None:
                try:
                    status, body = self.healthz(timeout=1)
                    if status == 200 and body.startswith("keyhole "):
                        return
                except OSError:
                    pass
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"keyhole not ready within {timeout}s (port={self.port}); "
                             f"stderr:\n{self.stderr_text()}")

    def healthz(self, timeout=2.0):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request("GET", "/healthz")
            r = c.getresponse()
            return r.status, r.read().decode("utf-8", "replace")
        finally:
            c.close()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout):
        """Exit code, or None if still running after timeout."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Sends sig and returns the exit code; fails the test if it does not exit."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.wait_exit(timeout)
        if rc is None:
            self.kill()
            raise AssertionError(f"keyhole did not exit within {timeout}s of signal {sig}")
        return rc

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def reload(self, timeout=10.0, **changes):
        """Edits config.yaml as an operator would (changes override keys of
        self.config), sends SIGHUP and waits for the daemon's "reload: ok"."""
        self.config = {**self.config, **changes}
        before = self.stderr_text().count("reload: ok")
        self.write_files()
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while self.stderr_text().count("reload: ok") <= before:
            assert "reload failed" not in self.stderr_text(), self.stderr_text()[-2000:]
            assert time.monotonic() < deadline, "reload did not finish"
            time.sleep(0.02)

    # ---- logs --------------------------------------------------------------
    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def audit_text(self):
        try:
            with open(self.audit_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def audit(self):
        """Every audit record; fails if any complete line is not one JSON object."""
        text = self.audit_text()
        if text and not text.endswith("\n"):       # a write in progress: look again
            time.sleep(0.1)
            text = self.audit_text()
            assert text.endswith("\n"), f"audit.log ends mid-line: {text[-200:]!r}"
        records = []
        for i, line in enumerate(text.splitlines(), 1):
            try:
                rec = json.loads(line)
            except ValueError as e:
                raise AssertionError(f"audit.log line {i} is not JSON ({e}): {line!r}") from e
            assert isinstance(rec, dict), f"audit.log line {i} is not an object: {line!r}"
            records.append(rec)
        return records

    def wait_audit_count(self, pred=lambda r: True, n=1, timeout=4.0):
        """Waits until the records satisfying pred stand for at least n events,
        counting a fold record (repeated refusals of one kind from one source
        within a second, written when that second ends) as its "repeated"
        count; returns the records."""
        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in self.audit() if pred(r)]
            count = sum(r.get("repeated", 1) for r in found)
            if count >= n or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert count >= n, (f"wanted {n} matching audit events, got {count}; "
                            f"audit.log:\n{self.audit_text()}")
        return found

    def wait_audit(self, pred=lambda r: True, n=1, timeout=3.0):
        """Waits until at least n records satisfy pred; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in self.audit() if pred(r)]
            if len(found) >= n or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert len(found) >= n, (f"wanted {n} matching audit records, got {len(found)}; "
                                 f"audit.log:\n{self.audit_text()}")
        return found
