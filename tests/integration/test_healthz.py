"""`keyhole proxy` starts, makes its CA in the home, and answers /healthz itself.

/healthz is an origin-form request to the proxy, not to any upstream; the
suite relies on it as the readiness signal.
"""
import os
import stat
import subprocess

from helpers.client import Conn


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_healthz_answers_200(start_keyhole):
    kh = start_keyhole()
    status, body = kh.healthz()
    assert status == 200
    assert body == "keyhole ok\n"      # status only: see tests/attack/test_healthz_fingerprint.py

    # also over a raw HTTP/1.1 connection with an explicit Host header
    with Conn.to_proxy(kh.port) as c:
        r = c.request("GET", "/healthz", f"127.0.0.1:{kh.port}")
    assert r.status == 200 and r.text == "keyhole ok\n"


def test_home_ca_created_private(start_keyhole):
    kh = start_keyhole()
    assert _mode(kh.home) == 0o700
    key = os.path.join(kh.home, "ca.key")
    assert os.path.isfile(kh.ca_crt) and os.path.isfile(key)
    assert _mode(key) == 0o600, "ca.key must be owner-only"
    text = subprocess.run(["openssl", "x509", "-in", kh.ca_crt, "-noout", "-text"],
                          capture_output=True, text=True, timeout=10).stdout
    assert "CA:TRUE" in text, "ca.crt must be a CA certificate"


def test_ca_reused_on_restart(start_keyhole):
    """A second start with the same home keeps the CA (sandboxes already trust it)."""
    kh = start_keyhole()
    first = open(kh.ca_crt).read()
    assert kh.stop() == 0
    kh2 = start_keyhole(home=kh.home)
    assert open(kh2.ca_crt).read() == first
