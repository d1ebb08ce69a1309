"""Self-test of the memory scanner (tests/integration/helpers/memscan.py) that
issue 17's proof test relies on: it must find every planted form of a key in a
live process, must not report a key that was never there, must survive the
regions it cannot read, and must stay within its bounds. Without this, a
"no key in the front worker" result could just mean a blind scanner."""
import base64
import json
import os
import secrets
import subprocess
import sys

import pytest

from helpers import memscan, sigv4
from helpers.client import curl
from helpers.checks import echoed, echoed_headers

OK, WHY = memscan.can_scan()
if not OK:
    print(f"SKIP test_memscan_selftest: {WHY}")
pytestmark = pytest.mark.skipif(not OK, reason=WHY)

# The toy: reads hex-encoded values from stdin, keeps each decoded value alive
# in its own object, says "ready", then waits for EOF. Values travel as hex so
# the decoded forms exist in the toy only because it decoded them.
TOY = r"""
import json, sys
held = {k: bytes.fromhex(v) for k, v in json.loads(sys.stdin.readline()).items()}
print("ready", flush=True)
sys.stdin.read()
print(len(held))
"""


@pytest.fixture
def toy():
    procs = []

    def _start(values):
        p = subprocess.Popen([sys.executable, "-c", TOY], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
        procs.append(p)
        p.stdin.write(json.dumps({k: v.hex() for k, v in values.items()}) + "\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "ready"
        return p

    yield _start
    for p in procs:
        p.stdin.close()
        p.wait(timeout=5)


def _ec_key_pem(tmp_path):
    path = tmp_path / "k.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-out", str(path)], check=True,
                   capture_output=True, timeout=10)
    return path.read_bytes()


def test_finds_every_planted_form_and_not_an_absent_key(toy, tmp_path):
    # a key whose base64url differs from its base64 at every alignment, so
    # that finding "b64url" means the url form itself was found
    for _ in range(1000):
        key = secrets.token_bytes(32)
        if all(f"key.b64url@{i}" in memscan.raw_patterns("key", key) for i in range(3)):
            break
    aws_secret = base64.b64encode(secrets.token_bytes(30)).decode()
    user, password = "svc-user", "pw-" + secrets.token_hex(12)
    pem = _ec_key_pem(tmp_path)
    absent = secrets.token_bytes(32)

    k = memscan.raw_patterns("key", key)
    aws = memscan.aws_patterns("aws", aws_secret, scopes=[("eu-west-1", "sts")])
    basic = memscan.basic_patterns("basic", user, password)
    ca = memscan.pem_key_patterns("ca", pem)
    date = sorted({n.split("/")[1] for n in aws if "/" in n})[-1]   # today
    ksig = f"aws.kSigning/{date}/eu-west-1/sts"
    planted = {
        # raw, and base64 at each alignment (0/1/2 bytes before the key in
        # one encoded run, as inside a larger token), base64url, upper hex
        "key.raw": key,
        "key.b64@0": base64.b64encode(key + b"tail"),
        "key.b64@1": base64.b64encode(b"x" + key + b"t"),
        "key.b64url@2": base64.urlsafe_b64encode(b"xy" + key),
        "key.HEX": key.hex().upper().encode(),
        "basic.basic": b"Basic " + base64.b64encode(f"{user}:{password}".encode()),
        "aws.raw": aws_secret.encode(),
        ksig: memscan.sigv4_signing_keys(aws_secret, date, "eu-west-1", "sts")["kSigning"],
        "ca.der_pkcs8": ca["ca.der_pkcs8"],
        "ca.scalar_le": ca["ca.scalar_le"],
        "ca.pem_line0": pem,
    }
    p = toy(planted)
    needles = {**k, **aws, **basic, **ca, **memscan.raw_patterns("absent", absent)}
    res = memscan.scan_pid(p.pid, needles)
    print(res.summary())
    assert not res.truncated, res.summary()
    found = res.names()
    wanted = {"key.raw", "key.b64@0", "key.b64@1", "key.b64url@2", "key.HEX",
              "basic.basic", "aws.raw", ksig, "ca.der_pkcs8", "ca.scalar_le", "ca.pem_line0",
              "ca.pem_line1"}
    assert wanted <= found, f"planted forms not found: {sorted(wanted - found)}"
    assert not {n for n in found if n.startswith("absent.")}, "a never-planted key was found"
    # The kDate of a date that was never used is not derivable from what the
    # toy holds: the generator's other dates must stay silent.
    yesterday = sorted({n.split("/")[1] for n in aws if "/" in n})[0]
    assert not {n for n in found if f"/{yesterday}/" in n}
    for h in res.hits:
        assert isinstance(h.offset, int) and h.region and h.needle in needles


def test_hit_reports_name_region_offset_not_the_secret(toy):
    key = secrets.token_bytes(24)
    p = toy({"k": key})
    res = memscan.scan_pid(p.pid, {"mykey": key})
    assert res.hits, res.summary()
    text = repr(res.hits) + res.summary()
    assert key.hex() not in text and repr(key) not in text
    with open(f"/proc/{p.pid}/mem", "rb") as f:      # the offset points at the key
        h = res.hits[0]
        start = int(h.region.split("-")[0], 16)
        f.seek(start + h.offset)
        assert f.read(len(key)) == key


def test_unreadable_regions_skipped_and_bounds_respected(toy):
    p = toy({"k": secrets.token_bytes(16)})
    res = memscan.scan_pid(p.pid, {"x": secrets.token_bytes(16)})
    assert not res.truncated and res.regions_read > 0
    reasons = dict(res.regions_skipped)
    assert any("[vvar]" in r for r in reasons) or not os.path.exists("/proc/self/maps")
    small = memscan.scan_pid(p.pid, {"x": secrets.token_bytes(16)}, max_bytes=100000)
    assert small.truncated and small.bytes_read <= 100000
    with pytest.raises(ValueError):
        memscan.scan_pid(p.pid, {"short": b"abc"})


def test_positive_control_daemon_holds_raw_key_today(start_keyhole, echo, token, secret):
    """Positive control for the scanner, NOT a requirement on keyhole: today
    one keyhole process parses sandbox bytes and holds the real key, so a scan
    of it must find the key. Issue 17 moves the key out of the processes that
    parse sandbox bytes; the privsep proof test will then expect no hit in a
    front worker and this hit in the key holder. If this fails, suspect the
    scanner before concluding anything about keyhole."""
    kh = start_keyhole()
    r = curl(f"https://api.openai.test:{echo.port}/v1/models", cacert=kh.ca_crt,
             headers=[f"Authorization: Bearer {token}"], env={"HTTPS_PROXY": kh.proxy_url})
    assert r.rc == 0 and r.status == 200, r.stderr
    assert echoed_headers(echoed(r), "Authorization") == [f"Bearer {secret}"]
    needles = memscan.raw_patterns("openai", secret)
    with open(os.path.join(kh.home, "ca.key"), "rb") as f:
        needles.update(memscan.pem_key_patterns("ca", f.read()))
    res = memscan.scan_pid(kh.proc.pid, needles)
    print(res.summary())       # documents today's state, e.g. the CA scalar too
    assert not res.truncated, res.summary()
    assert "openai.raw" in res.names(), \
        f"scanner missed the raw key in today's single process: {res.summary()}"


def test_generators_match_independent_sources(tmp_path):
    """The derived forms are right, not just self-consistent: the SigV4 chain
    matches AWS's documented example and the tests' own signer, and the EC
    scalar matches what the cryptography package reads from the key."""
    aws_doc = memscan.sigv4_signing_keys("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                         "20120215", "us-east-1", "iam")
    assert aws_doc["kSigning"].hex() == \
        "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
    s = "s3cr3t-" + secrets.token_hex(8)
    assert memscan.sigv4_signing_keys(s, "20260101", "eu-west-1", "s3")["kSigning"] == \
        sigv4.signing_key(s, "20260101", "eu-west-1", "s3")
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    for _ in range(4):      # covers scalars with and without the top bit set
        pem = _ec_key_pem(tmp_path)
        want = serialization.load_pem_private_key(pem, None).private_numbers() \
            .private_value.to_bytes(32, "big")
        got = memscan.pem_key_patterns("ca", pem)
        assert got["ca.scalar_be"] == want and got["ca.scalar_le"] == want[::-1]
