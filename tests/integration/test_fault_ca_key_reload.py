"""The CA key becomes unreadable while the daemon runs (deleted, or replaced
by garbage). A reload (SIGHUP) does not re-read the CA: it succeeds, and the
daemon keeps minting leaves for hosts it has not seen yet with the CA it
holds, so clients that trust ca.crt keep working. A fresh start, though,
refuses with a message naming ca.key, and never silently makes a new CA."""
import os
import signal
import time

import pytest

from helpers.client import curl


def _wait_log(kh, text, timeout=5):
    deadline = time.monotonic() + timeout
    while text not in kh.stderr_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    return text in kh.stderr_text()


@pytest.mark.parametrize("damage", ["deleted", "garbage"])
def test_ca_key_gone_at_reload(start_keyhole, make_upstream, echo, damage):
    other = make_upstream("server", name="other.test")
    kh = start_keyhole()
    key = os.path.join(kh.home, "ca.key")
    with open(kh.ca_crt, "rb") as f:
        ca_before = f.read()
    ok = curl(f"https://api.openai.test:{echo.port}/a", proxy=kh.proxy_url, cacert=kh.ca_crt)
    assert ok.status == 200

    os.unlink(key)
    if damage == "garbage":
        fd = os.open(key, os.O_WRONLY | os.O_CREAT, 0o000)
        os.write(fd, b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
        os.close(fd)
    kh.proc.send_signal(signal.SIGHUP)
    assert _wait_log(kh, "reload"), kh.stderr_text()
    assert kh.running()

    # a host never seen before: needs a freshly minted leaf
    fresh = curl(f"https://other.test:{other.port}/b", proxy=kh.proxy_url, cacert=kh.ca_crt)
    assert fresh.rc == 0 and fresh.status == 200, fresh.stderr
    again = curl(f"https://api.openai.test:{echo.port}/c", proxy=kh.proxy_url, cacert=kh.ca_crt)
    assert again.status == 200
    with open(kh.ca_crt, "rb") as f:
        assert f.read() == ca_before, "ca.crt was replaced"

    assert kh.stop() == 0
    kh2 = start_keyhole(home=kh.home, wait=False)
    rc = kh2.wait_exit(10)
    assert rc not in (None, 0), "started without a usable CA key"
    assert "ca.key" in kh2.stderr_text(), kh2.stderr_text()
    with open(kh.ca_crt, "rb") as f:
        assert f.read() == ca_before, "a new CA was made over the old one"
