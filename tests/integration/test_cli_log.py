"""`keyhole log` shows audit.log for people: one line per record with time,
sandbox client, decision, status, method, host, path and reason; --denied
keeps refusals, --json prints the records themselves. Colors only on a
terminal and never with NO_COLOR. Hostile bytes in a host or path (terminal
escapes, C1 controls, bidi overrides) are shown escaped, never raw.
Malformed lines are skipped and counted. --follow prints appended records
and keeps going across truncation and rotation. A real daemon's records
come out the same way."""
import json
import os
import select
import signal
import subprocess
import time

from helpers.cli import cli  # noqa: F401
from helpers.client import curl, send_connect

ALLOW = {"time": "2026-11-28T15:18:58.153Z", "client": "127.0.0.1:52814", "mode": "mitm",
         "method": "GET", "host": "api.openai.test", "port": 443, "path": "/v1/models",
         "status": 200, "bytes_in": 120, "bytes_out": 900, "duration_ms": 12.345,
         "decision": "allow", "reason": "allowed", "swapped": ["OPENAI_API_KEY"],
         "scrubbed": {"OPENAI_API_KEY": 2}}
DENY = {"time": "2026-11-28T15:18:59.000Z", "client": "unix:pid=42", "mode": "connect",
        "method": "CONNECT", "host": "evil.test\x1b[2J\x1b]0;pwned\x07", "port": 8443,
        "path": None, "status": 403, "bytes_in": 0, "bytes_out": 0, "duration_ms": 0.1,
        "decision": "deny", "reason": "host_not_allowed", "swapped": []}
ERROR = {"time": "2026-11-28T15:19:00.000Z", "client": "127.0.0.1:1", "mode": "http",
         "method": "POST", "host": "plain.test", "port": 8080,
         "path": "/a\u009b2Jb\u202eexe.txt\\x", "status": 502, "decision": "error",
         "reason": "upstream_reset", "detail": "closed\x7f early", "swapped": []}
RAW_TERMINAL_BYTES = ("\x1b", "\x07", "\x7f", "\u009b", "\u202e")


def line(rec, ensure_ascii=True):
    return json.dumps(rec, separators=(",", ":"), ensure_ascii=ensure_ascii) + "\n"


def write_fixture(cli, extra=""):
    cli.make_home()
    text = (line(ALLOW) + line(DENY) + "not json at all\n" + "[1, 2]\n" + '{"time": "x"}\n'
            + line(ERROR, ensure_ascii=False) + "\n" + "{" + "x" * 70000 + "\n" + extra)
    with open(cli.audit, "w", encoding="utf-8") as f:
        f.write(text)


def no_raw_terminal_bytes(text):
    for ch in RAW_TERMINAL_BYTES:
        assert ch not in text, f"raw {ch!r} reached the terminal: {text!r}"


def test_plain_view_escapes_and_counts(cli):
    write_fixture(cli)
    r = cli.run("log")
    assert r.rc == 0, r
    rows = r.out.splitlines()
    assert len(rows) == 3, r
    assert rows[0].split() == ["2026-11-28T15:18:58.153Z", "127.0.0.1:52814", "ALLOW", "200",
                               "GET", "api.openai.test/v1/models", "allowed",
                               "swapped=OPENAI_API_KEY", "scrubbed=OPENAI_API_KEY(2)"]
    assert "DENY" in rows[1] and "403" in rows[1] and "unix:pid=42" in rows[1]
    assert "CONNECT evil.test\\x1b[2J\\x1b]0;pwned\\x07:8443" in rows[1], rows[1]
    assert "host_not_allowed" in rows[1]
    assert "ERROR" in rows[2] and "502" in rows[2]
    assert "POST plain.test:8080/a\\u{009b}2Jb\\u{202e}exe.txt\\\\x" in rows[2], rows[2]
    assert "upstream_reset (closed\\x7f early)" in rows[2]
    no_raw_terminal_bytes(r.out)
    # blank lines are not records; the 4 malformed ones (incl. the 70 kB one) are counted
    assert "skipped 4 malformed line(s)" in r.err, r


def test_denied_and_json(cli):
    write_fixture(cli)
    r = cli.run("log", "--denied")
    assert r.rc == 0 and len(r.out.splitlines()) == 1 and "DENY" in r.out, r

    r = cli.run("log", "--json")
    assert r.rc == 0, r
    recs = [json.loads(x) for x in r.out.splitlines()]
    assert recs == [ALLOW, DENY, ERROR]
    no_raw_terminal_bytes(r.out)          # re-encoded as \u escapes where needed
    assert r.out.splitlines()[0] + "\n" == line(ALLOW)   # an ASCII record is passed verbatim
    assert "skipped 4 malformed" in r.err

    r = cli.run("log", "--json", "--denied")
    assert [json.loads(x) for x in r.out.splitlines()] == [DENY]


def test_colors_only_on_a_terminal(cli):
    write_fixture(cli)
    assert "\x1b" not in cli.run("log").out          # a pipe: no colors
    r = cli.run_pty("log")
    assert r.rc == 0, r
    assert "\x1b[32mALLOW" in r.out and "\x1b[1;31mDENY" in r.out, r.out
    assert "\\x1b[2J" in r.out                        # the hostile one is still escaped
    assert "\x1b[2J" not in r.out and "\x07" not in r.out
    r = cli.run_pty("log", env={"NO_COLOR": "1"})
    assert r.rc == 0 and "ALLOW" in r.out and "\x1b" not in r.out, r.out


def test_usage_and_missing_file(cli):
    r = cli.run("log", "--bogus")
    assert r.rc == 2 and "--bogus" in r.err
    r = cli.run("log")
    assert r.rc == 1 and "audit.log" in r.err, r
    assert "log" in cli.run("--help").out


class Follower:
    def __init__(self, cli, *args):
        self.p = subprocess.Popen([cli.binary, "log", "--follow", *args],
                                  env=cli.environment(), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.buf = b""

    def expect(self, needle, timeout=5.0):
        deadline = time.monotonic() + timeout
        while needle.encode() not in self.buf:
            left = deadline - time.monotonic()
            assert left > 0, f"{needle!r} not shown; got {self.buf!r}"
            ready, _, _ = select.select([self.p.stdout], [], [], left)
            if ready:
                chunk = os.read(self.p.stdout.fileno(), 65536)
                assert chunk, f"log --follow exited; got {self.buf!r}"
                self.buf += chunk
        i = self.buf.index(needle.encode()) + len(needle)
        self.buf = self.buf[i:]

    def stop(self):
        self.p.send_signal(signal.SIGINT)
        try:
            rc = self.p.wait(5)
        except subprocess.TimeoutExpired:
            self.p.kill()
            raise
        return rc, self.p.stderr.read().decode()


def rec(n, decision="allow"):
    return line(dict(ALLOW, path=f"/req-{n}", decision=decision))


def append(path, text):
    with open(path, "a") as f:
        f.write(text)


def test_follow_appends_truncation_and_rotation(cli):
    cli.make_home()
    append(cli.audit, rec(0))
    f = Follower(cli)
    try:
        f.expect("/req-0")
        append(cli.audit, rec(1))
        f.expect("/req-1")
        append(cli.audit, rec(2)[:40])              # half a record: not shown yet
        time.sleep(0.5)
        assert b"/req-2" not in f.buf
        append(cli.audit, rec(2)[40:])
        f.expect("/req-2")
        append(cli.audit, "garbage\n")
        time.sleep(0.5)                             # read before the truncation below

        with open(cli.audit, "w") as fh:            # truncated (copytruncate rotation)
            fh.write(rec(3))
        f.expect("/req-3")

        os.rename(cli.audit, cli.audit + ".1")      # renamed away (logrotate create)
        append(cli.audit + ".1", rec(4))            # the daemon still writes the old fd
        time.sleep(0.5)
        append(cli.audit, rec(5))
        f.expect("/req-4")
        f.expect("/req-5")
        append(cli.audit, rec(6))
        f.expect("/req-6")
    finally:
        rc, err = f.stop()
    assert rc == 0, err
    assert "truncated" in err and "skipped 1 malformed" in err, err


def test_follow_denied_only(cli):
    cli.make_home()
    append(cli.audit, rec(0))
    f = Follower(cli, "--denied", "--json")
    try:
        append(cli.audit, rec(1) + rec(2, "deny") + rec(3))
        f.expect("/req-2")
        append(cli.audit, rec(4, "deny"))
        f.expect("/req-4")
    finally:
        f.stop()
    assert b"/req-1" not in f.buf and b"/req-3" not in f.buf


def test_real_daemon_records(start_keyhole, echo, token, keyhole_bin):
    kh = start_keyhole()
    r = curl(f"https://api.openai.test:{echo.port}/v1/models", proxy=kh.proxy_url,
             cacert=kh.ca_crt, headers=[f"Authorization: Bearer {token}"])
    assert r.rc == 0 and r.status == 200, r.stderr
    conn, resp = send_connect(kh.port, "not-allowed.test:443")
    conn.close()
    kh.wait_audit(n=2)
    env = {"PATH": "/usr/bin:/bin", "HOME": kh.user_home}
    out = subprocess.run([keyhole_bin, "log", "--home", kh.home], capture_output=True,
                         text=True, env=env, timeout=10)
    assert out.returncode == 0, out
    assert f"ALLOW  200  GET api.openai.test:{echo.port}/v1/models" in out.stdout, out.stdout
    assert "swapped=OPENAI_API_KEY" in out.stdout
    assert "DENY   403  CONNECT not-allowed.test  host_not_allowed" in out.stdout, out.stdout
    assert token not in out.stdout and token[:-8] not in out.stdout
    out = subprocess.run([keyhole_bin, "log", "--home", kh.home, "--denied"],
                         capture_output=True, text=True, env=env, timeout=10)
    assert out.stdout.count("\n") == 1 and "not-allowed.test" in out.stdout


def test_sandbox_label_shown_instead_of_address(cli):
    labelled = dict(ALLOW, sandbox="job-42")
    hostile = dict(DENY, sandbox="x\x1b[31mred")
    cli.make_home()
    with open(cli.audit, "w", encoding="utf-8") as f:
        f.write(line(labelled) + line(hostile))
    r = cli.run("log")
    assert r.rc == 0, r
    rows = r.out.splitlines()
    assert rows[0].split()[1] == "job-42" and "127.0.0.1:52814" not in rows[0], rows[0]
    assert rows[1].split()[1] == "x\\x1b[31mred", rows[1]
    no_raw_terminal_bytes(r.out)
