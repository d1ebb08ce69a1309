"""Startup errors (invalid config value, broken YAML, port in use, unreadable
CA file) make `keyhole proxy` exit non-zero within seconds with a clear line
on stderr that names the file and key at fault."""
import socket

import pytest

EXIT_WITHIN = 5


def _fails(kh):
    rc = kh.wait_exit(EXIT_WITHIN)
    if rc is None:
        kh.kill()
        pytest.fail(f"keyhole still running {EXIT_WITHIN}s after a fatal config error; "
                    f"stderr:\n{kh.stderr_text()}")
    assert rc != 0, f"exit code 0 for a fatal error; stderr:\n{kh.stderr_text()}"
    err = kh.stderr_text()
    assert err.strip(), "no message on stderr"
    return err


@pytest.mark.parametrize("value", ["banana", 70000, -1])
def test_bad_tunnel_port(start_keyhole, value):
    err = _fails(start_keyhole({"tunnel_port": value}, wait=False))
    line = next((ln for ln in err.splitlines() if "tunnel_port" in ln), None)
    assert line is not None, f"stderr does not name tunnel_port:\n{err}"
    assert "config.yaml" in line, f"the tunnel_port message does not name config.yaml:\n{err}"


def test_yaml_syntax_error(start_keyhole):
    err = _fails(start_keyhole(raw_config="tunnel_port: 0\nresolve: [unclosed\n", wait=False))
    assert "config.yaml" in err


def test_port_in_use(start_keyhole):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        err = _fails(start_keyhole({"tunnel_port": busy.getsockname()[1]}, wait=False))
    assert "in use" in err.lower(), err


def test_missing_upstream_ca_file(start_keyhole, tmp_path):
    missing = str(tmp_path / "no-such-ca.pem")
    err = _fails(start_keyhole({"upstream_ca_file": missing}, wait=False))
    assert "upstream_ca_file" in err or "no-such-ca.pem" in err, err


def test_garbage_upstream_ca_file(start_keyhole, tmp_path):
    bad = tmp_path / "garbage-ca.pem"
    bad.write_text("this is not a certificate\n")
    err = _fails(start_keyhole({"upstream_ca_file": str(bad)}, wait=False))
    assert "upstream_ca_file" in err or "garbage-ca.pem" in err, err


def test_corrupt_home_ca_not_overwritten(start_keyhole):
    """A damaged ca.crt/ca.key is an error, never silently replaced (sandboxes trust it)."""
    junk = "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"
    kh = start_keyhole(files={"ca.crt": junk, "ca.key": "junk\n"}, wait=False)
    err = _fails(kh)
    assert "ca.crt" in err or "ca.key" in err, err
    assert open(kh.ca_crt).read() == junk
