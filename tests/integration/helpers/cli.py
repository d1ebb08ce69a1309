"""Running keyhole's operator commands (setup, start, stop, status, ...) in tests.

`Cli` is one operator: a private KEYHOLE_HOME (not created until a command or
the test makes it), a user HOME, a bin directory first on PATH (where the fake
`bws` goes), and a controlled environment: nothing from the test runner's
environment reaches keyhole except what is listed here, so no real provider key
can leak in. Every run has a timeout and is recorded, so a test can check
that no secret ever appeared in anything keyhole printed. At teardown the
`cli` fixture stops any daemon the test started (SIGTERM, then SIGKILL, by
pid, and only a `keyhole proxy --home <its home>` process).

Import the fixtures into a test module: `from helpers.cli import cli  # noqa: F401`.
"""
import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import time
from dataclasses import dataclass

import pytest

from .keyhole import PASS_ENV, TEST_ALLOWED_PORTS, dump_yaml

HELPERS = os.path.dirname(os.path.abspath(__file__))
FAKE_BWS = os.path.join(HELPERS, "fake_bws")
STARTED_RE = re.compile(r"keyhole started \(pid (\d+)\)")
TOKEN_RE = re.compile(r"^keyhole-[a-z0-9-]+-[0-9a-f]{32}$")
PROMPT = b"Type 'rotate' to confirm"


@dataclass(repr=False)
class Result:
    args: list
    rc: int
    out: str
    err: str
    elapsed: float

    def __repr__(self):
        return (f"keyhole {' '.join(self.args)} -> exit {self.rc} in {self.elapsed:.2f}s\n"
                f"--- stdout ---\n{self.out}--- stderr ---\n{self.err}")

    @property
    def text(self):
        return self.out + self.err


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proxy_settings(pki, port, **extra):
    """config.yaml keys that let a started daemon reach the tests' loopback upstreams."""
    cfg = {
        "enabled": True,
        "tunnel_port": port,
        "upstream_ca_file": pki.ca.cert,
        "resolve": {"api.openai.test": "127.0.0.1", "other.test": "127.0.0.1"},
        "upstream_deny_cidrs": ["127.0.0.2/32"],
        "extra_allowed_hosts": ["api.openai.test"],
        "allowed_ports": TEST_ALLOWED_PORTS,
    }
    cfg.update(extra)
    return cfg


def _write_private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def proc_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def pid_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def run_on_pty(argv, env, timeout, what, answer=None, cwd=None):
    """argv (argv[0] the binary, run with env, in cwd if given) on a pseudo-terminal
    as its stdin, stdout and stderr; a Result of argv[1:] whose out holds everything
    the terminal showed (CRLF as LF) and whose err is empty.

    answer (bytes) is typed, followed by Enter, once the rotation prompt shows.
    Past timeout seconds the process is killed and the test fails, naming what."""
    t0 = time.monotonic()
    pid, fd = pty.fork()
    if pid == 0:
        try:
            if cwd is not None:
                os.chdir(cwd)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    out, answered, deadline = b"", False, time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:        # EIO: the last holder closed the terminal
                    break
                if not data:
                    break
                out += data
            if answer is not None and not answered and PROMPT in out:
                os.write(fd, answer + b"\n")
                answered = True
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail(f"{what} on a tty did not finish within {timeout}s; "
                        f"terminal showed {out!r}")
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return Result(argv[1:], os.waitstatus_to_exitcode(status),
                  out.decode("utf-8", "replace").replace("\r\n", "\n"), "",
                  time.monotonic() - t0)


class FakeBws:
    """The fake `bws` installed in a Cli's bin directory, with its data and call log."""

    def __init__(self, cli, projects):
        self.cli = cli
        self.data_path = os.path.join(cli.root, "bws-data.json")
        self.log_path = os.path.join(cli.root, "bws-calls.jsonl")
        self.set_projects(projects)
        link = os.path.join(cli.bin_dir, "bws")
        if not os.path.lexists(link):
            os.symlink(FAKE_BWS, link)
        with open(os.path.join(cli.bin_dir, "fake_bws.json"), "w") as f:
            json.dump({"data": self.data_path, "log": self.log_path}, f)
        cli.env["FAKE_BWS_DATA"] = self.data_path
        cli.env["FAKE_BWS_LOG"] = self.log_path

    def set_projects(self, projects):
        with open(self.data_path, "w") as f:
            json.dump(projects, f)

    def calls(self):
        try:
            with open(self.log_path) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []


class Cli:
    def __init__(self, binary, root):
        self.binary = binary
        self.root = str(root)
        self.home = os.path.join(self.root, "home")
        self.user_home = os.path.join(self.root, "user")
        self.bin_dir = os.path.join(self.root, "bin")
        os.makedirs(self.user_home, exist_ok=True)
        os.makedirs(self.bin_dir, exist_ok=True)
        self.env = {"PATH": f"{self.bin_dir}:/usr/local/bin:/usr/bin:/bin",
                    "HOME": self.user_home, "LANG": "C.UTF-8", "KEYHOLE_HOME": self.home}
        self.env.update({k: os.environ[k] for k in PASS_ENV if k in os.environ})
        self.results = []
        self.daemon_pids = set()

    # ---- paths ---------------------------------------------------------------
    def path(self, name):
        return os.path.join(self.home, name)

    config = property(lambda self: self.path("config.yaml"))
    mappings = property(lambda self: self.path("mappings.json"))
    pidfile = property(lambda self: self.path("keyhole.pid"))
    nonce = property(lambda self: self.path("keyhole.nonce"))
    log = property(lambda self: self.path("keyhole.log"))
    audit = property(lambda self: self.path("audit.log"))
    ca_crt = property(lambda self: self.path("ca.crt"))
    ca_key = property(lambda self: self.path("ca.key"))

    def mode(self, name):
        return os.stat(self.path(name)).st_mode & 0o7777

    def read(self, name, mode="r"):
        with open(self.path(name), mode) as f:
            return f.read()

    def read_mappings(self):
        with open(self.mappings) as f:
            return json.load(f)

    def tokens(self):
        """{env_name: proxy_token} from mappings.json."""
        return {t["env_name"]: t["proxy_token"] for t in self.read_mappings()["tokens"]}

    def make_home(self):
        os.makedirs(self.home, mode=0o700, exist_ok=True)

    def write_config(self, cfg):
        """config.yaml from a dict (block-style YAML) or verbatim text."""
        self.make_home()
        _write_private(self.config, cfg if isinstance(cfg, str) else dump_yaml(cfg))

    def write_mappings(self, tokens):
        self.make_home()
        _write_private(self.mappings, json.dumps({"version": 1, "tokens": list(tokens)},
                                                 indent=2))

    def pid(self):
        """The pid in keyhole.pid, or None."""
        try:
            with open(self.pidfile) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def install_bws(self, projects):
        return FakeBws(self, projects)

    # ---- running -------------------------------------------------------------
    def environment(self, env=None):
        e = dict(self.env)
        for k, v in (env or {}).items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
        return e

    def _record(self, res):
        self.results.append(res)
        for m in STARTED_RE.finditer(res.out):
            self.daemon_pids.add(int(m.group(1)))
        return res

    def run(self, *args, env=None, timeout=30, stdin=subprocess.DEVNULL, wrapper=(),
            preexec_fn=None):
        """`keyhole args...`; env entries override (None removes). Never hangs."""
        t0 = time.monotonic()
        try:
            p = subprocess.run([*wrapper, self.binary, *args], env=self.environment(env),
                               stdin=stdin, capture_output=True, timeout=timeout,
                               preexec_fn=preexec_fn)
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"keyhole {' '.join(args)} did not finish within {timeout}s; "
                        f"stdout={e.stdout!r} stderr={e.stderr!r}")
        res = Result(list(args), p.returncode, p.stdout.decode("utf-8", "replace"),
                     p.stderr.decode("utf-8", "replace"), time.monotonic() - t0)
        return self._record(res)

    def run_pty(self, *args, answer=None, env=None, timeout=20):
        """`keyhole args...` on a pseudo-terminal (stdin, stdout and stderr are the tty).

        answer (bytes) is typed, followed by Enter, once the rotation prompt shows;
        the result's out holds everything the terminal showed, err is empty."""
        res = run_on_pty([self.binary, *args], self.environment(env), timeout,
                         f"keyhole {' '.join(args)}", answer=answer)
        return self._record(res)

    # ---- checks --------------------------------------------------------------
    def file_text(self, name):
        try:
            with open(self.path(name), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def assert_no_leak(self, secrets, tokens=()):
        """No secret in any recorded stdout/stderr, keyhole.log or audit.log; nothing of
        a token's random part in the logs or in any output but `status --show-tokens`."""
        outputs = [(f"output of `keyhole {' '.join(r.args)}`", r.out + r.err, r)
                   for r in self.results]
        logs = [(name, self.file_text(name), None) for name in ("keyhole.log", "audit.log")]
        for label, text, res in outputs + logs:
            for s in secrets:
                assert s not in text, f"a real secret leaked into {label}:\n{text}"
            if res is not None and "--show-tokens" in res.args:
                continue
            for t in tokens:
                assert t.rsplit("-", 1)[1][:8] not in text, \
                    f"the random part of a proxy token leaked into {label}:\n{text}"

    def stop_all(self):
        """Teardown: SIGTERM, then SIGKILL, every daemon of this home still running.

        Only pids this test saw (start's output, keyhole.pid) whose command line is
        `keyhole proxy --home <this home>` are signalled. `keyhole stop` is not used
        here: it waits for the exit to be reaped, which init may do only later."""
        pids = set(self.daemon_pids)
        if self.pid():
            pids.add(self.pid())
        ours = [p for p in pids if self._is_our_daemon(p)]
        for pid in ours:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while any(pid_alive(p) for p in ours) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in ours:
            if self._is_our_daemon(pid):
                os.kill(pid, signal.SIGKILL)

    def _is_our_daemon(self, pid):
        argv = proc_cmdline(pid)
        return pid_alive(pid) and argv[:2] == [b"keyhole", b"proxy"] and \
            self.home.encode() in argv


@pytest.fixture
def cli(tmp_path, keyhole_bin):
    c = Cli(keyhole_bin, tmp_path)
    yield c
    c.stop_all()
