"""Scan a live process's memory for credential bytes (issue 17, proof tests).

scan_pid(pid, needles) reads every readable mapping of /proc/PID/maps through
/proc/PID/mem (root, or ptrace rights over PID) and reports where each needle
occurs. A Hit names the needle, the region and the offset, never the bytes,
so a failing assertion cannot print a secret.

The pattern generators turn one credential into every form a process might
hold it in: raw, base64/base64url at the three alignments, hex, the HTTP Basic
value, the SigV4 signing key chain, and for a PEM private key its body, its
DER encodings and its raw scalar in both byte orders (BIGNUM limbs on a
little-endian machine hold the scalar byte-reversed).
"""
import base64
import binascii
import datetime
import hashlib
import hmac
import os
import re
import subprocess
import time
from dataclasses import dataclass, field

# Regions never worth reading: kernel-provided pages that fault or mean nothing.
SKIP_NAMES = ("[vvar]", "[vvar_vclock]", "[vsyscall]")
CHUNK = 1 << 20
# A needle shorter than this would match by chance in megabytes of memory.
MIN_NEEDLE = 8
MAPS_RE = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$")


@dataclass(frozen=True)
class Region:
    start: int
    end: int
    perms: str
    name: str

    def __str__(self):
        return f"{self.start:x}-{self.end:x} {self.perms} {self.name or '[anon]'}"


@dataclass(frozen=True)
class Hit:
    needle: str     # the needle's name, never its value
    region: str     # str(Region)
    offset: int     # from the region's start


@dataclass
class ScanResult:
    hits: list = field(default_factory=list)
    bytes_read: int = 0
    regions_read: int = 0
    regions_skipped: list = field(default_factory=list)   # (region, reason)
    truncated: str = ""     # why the scan stopped early, "" if it covered everything

    def names(self):
        return {h.needle for h in self.hits}

    def summary(self):
        return (f"{len(self.hits)} hits of {sorted(self.names())}, {self.regions_read} regions, "
                f"{self.bytes_read} bytes, {len(self.regions_skipped)} skipped"
                + (f", truncated: {self.truncated}" if self.truncated else ""))


def can_scan():
    """(True, "") when this process may read other processes' memory, else (False, why)."""
    if os.geteuid() != 0:
        return False, "memscan needs root to read /proc/PID/mem of other processes"
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            if int(f.read().strip()) >= 3:
                return False, "Yama ptrace_scope is 3: no process may read another's memory"
    except FileNotFoundError:
        pass
    return True, ""


def read_maps(pid):
    regions = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            m = MAPS_RE.match(line.rstrip("\n"))
            if m:
                regions.append(Region(int(m[1], 16), int(m[2], 16), m[3], m[4].strip()))
    return regions


def _find_all(buf, needle):
    i = buf.find(needle)
    while i >= 0:
        yield i
        i = buf.find(needle, i + 1)


def _scan_region(fd, region, needles, res, budget, deadline):
    """Read region in chunks overlapping by the longest needle; record hits."""
    overlap = max(len(v) for v in needles.values()) - 1
    pos, tail, tail_pos = region.start, b"", region.start
    while pos < region.end:
        if res.bytes_read >= budget:
            res.truncated = f"byte budget {budget} reached"
            return
        if time.monotonic() > deadline:
            res.truncated = "time budget reached"
            return
        n = min(CHUNK, region.end - pos, budget - res.bytes_read)
        try:
            data = os.pread(fd, n, pos)
        except OSError as e:      # EIO on guard pages, device mappings, raced unmaps
            res.regions_skipped.append((str(region), f"read at +{pos - region.start:#x}: "
                                        f"{e.strerror}"))
            return
        if not data:
            return
        buf = tail + data
        for name, value in needles.items():
            for i in _find_all(buf, value):
                # Skip matches lying wholly inside the tail: already reported.
                if i + len(value) > len(tail):
                    res.hits.append(Hit(name, str(region), tail_pos + i - region.start))
        res.bytes_read += len(data)
        pos += len(data)
        keep = min(overlap, len(buf))
        tail, tail_pos = buf[len(buf) - keep:] if keep else b"", pos - keep


def scan_pid(pid, needles, max_bytes=2 << 30, timeout=60.0):
    """Search every readable mapping of pid for each of needles {name: bytes}.

    Bounded by max_bytes read in total and timeout seconds; res.truncated says
    when a bound cut the scan short, so a caller expecting "no hit" can refuse
    an incomplete scan. Unreadable regions are listed in res.regions_skipped.
    """
    for name, value in needles.items():
        if not isinstance(value, bytes) or len(value) < MIN_NEEDLE:
            raise ValueError(f"needle {name!r} must be bytes of at least {MIN_NEEDLE}")
    res = ScanResult()
    deadline = time.monotonic() + timeout
    fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
    try:
        for region in read_maps(pid):
            if region.name in SKIP_NAMES:
                res.regions_skipped.append((str(region), "kernel page"))
                continue
            if region.perms[0] != "r":
                res.regions_skipped.append((str(region), "not readable"))
                continue
            res.regions_read += 1
            _scan_region(fd, region, needles, res, max_bytes, deadline)
            if res.truncated:
                break
    finally:
        os.close(fd)
    return res


# ---- pattern generators ----------------------------------------------------
# Each returns {name: bytes}; names are prefixed by the caller's label so a hit
# says which credential and which form matched.

def _b(v):
    return v.encode() if isinstance(v, str) else bytes(v)


def _b64_forms(label, data, min_len=MIN_NEEDLE):
    """base64 and base64url of data at the 3 alignments it can start at in a
    larger encoded string: encode with 0, 1, 2 leading bytes, drop the chars
    that depend on neighbouring bytes (the first one for 1 or 2 leading bytes,
    the last ones unless the data ends on a 3-byte group)."""
    out = {}
    for shift in range(3):
        enc = base64.b64encode(b"\0" * shift + data).rstrip(b"=")
        lead = (shift * 4 + 2) // 3          # chars touched by the leading bytes
        total = shift + len(data)
        tail_bits = (total * 8) % 6           # last char mixes in a following byte
        body = enc[lead:len(enc) - (1 if tail_bits else 0)]
        if len(body) >= min_len:
            out[f"{label}.b64@{shift}"] = body
            url = body.translate(bytes.maketrans(b"+/", b"-_"))
            if url != body:
                out[f"{label}.b64url@{shift}"] = url
    return out


def raw_patterns(label, value):
    """A key as the process may hold it: raw, base64/base64url at 3
    alignments, hex lower and upper."""
    data = _b(value)
    out = {f"{label}.raw": data}
    out.update(_b64_forms(label, data))
    out[f"{label}.hex"] = binascii.hexlify(data)
    out[f"{label}.HEX"] = binascii.hexlify(data).upper()
    return out


def basic_patterns(label, user, password):
    """The password's own forms plus the HTTP Basic value base64(user:password)."""
    out = raw_patterns(label, password)
    out[f"{label}.basic"] = base64.b64encode(_b(user) + b":" + _b(password))
    return out


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sigv4_signing_keys(secret, date, region, service):
    """kDate, kRegion, kService, kSigning as in AWS's SigV4 documentation."""
    k_date = _hmac(b"AWS4" + _b(secret), date)
    k_region = _hmac(k_date, region)
    k_service = _hmac(k_region, service)
    k_signing = _hmac(k_service, "aws4_request")
    return {"kDate": k_date, "kRegion": k_region, "kService": k_service,
            "kSigning": k_signing}


def aws_patterns(label, secret, scopes=(("us-east-1", "s3"),), dates=None,
                 access_key_id=None, session_token=None):
    """The secret access key's forms, "AWS4"+secret, and the derived signing
    keys for every (region, service) in scopes on each date (default: today
    and yesterday, UTC, as SigV4 dates are); plus the key id and session token
    raw when given."""
    out = raw_patterns(label, secret)
    out[f"{label}.AWS4secret"] = b"AWS4" + _b(secret)
    if dates is None:
        today = datetime.datetime.now(datetime.timezone.utc).date()
        dates = [d.strftime("%Y%m%d") for d in (today, today - datetime.timedelta(days=1))]
    for date in dates:
        for region, service in scopes:
            for k, v in sigv4_signing_keys(secret, date, region, service).items():
                out[f"{label}.{k}/{date}/{region}/{service}"] = v
                out[f"{label}.{k}/{date}/{region}/{service}.hex"] = binascii.hexlify(v)
    if access_key_id:
        out[f"{label}.access_key_id"] = _b(access_key_id)
    if session_token:
        out.update(raw_patterns(f"{label}.session_token", session_token))
    return out


def _openssl(args, data):
    return subprocess.run(["openssl", *args], input=data, capture_output=True,
                          check=True, timeout=10).stdout


def private_scalar(pem):
    """The private value of an EC or Ed25519/X25519 key (big-endian bytes), or
    for RSA the private exponent d, parsed from `openssl pkey -text`."""
    text = _openssl(["pkey", "-noout", "-text"], _b(pem)).decode()
    m = re.search(r"^(priv|privateExponent):\s*\n((?:\s+[0-9a-f:]+\n)+)", text, re.M)
    if not m:
        raise ValueError("no private value in `openssl pkey -text` output")
    raw = bytes.fromhex(re.sub(r"[\s:]", "", m[2]))
    # EC/EdDSA "priv" is printed at the group's fixed width (keep its zeros);
    # RSA's BIGNUM gets a leading 00 when its top bit is set (a sign byte).
    if m[1] == "privateExponent" and len(raw) > 1 and raw[0] == 0 and raw[1] & 0x80:
        raw = raw[1:]
    return raw


def pem_key_patterns(label, pem):
    """A PEM private key as a process may hold it: each PEM body line (64
    chars), PKCS#8 DER, the traditional DER (SEC1 for EC, PKCS#1 for RSA) when
    openssl gives one, and the private scalar big-endian and byte-reversed."""
    pem = _b(pem)
    out = {}
    body = [ln.strip() for ln in pem.splitlines() if ln.strip() and not ln.startswith(b"-----")]
    for i, ln in enumerate(body):
        if len(ln) >= 16:        # the short last line matches too easily elsewhere
            out[f"{label}.pem_line{i}"] = ln
    out[f"{label}.der_pkcs8"] = _openssl(["pkey", "-outform", "DER"], pem)
    try:
        trad = _openssl(["pkey", "-outform", "DER", "-traditional"], pem)
        if trad != out[f"{label}.der_pkcs8"]:
            out[f"{label}.der_trad"] = trad
    except subprocess.CalledProcessError:
        pass
    scalar = private_scalar(pem)
    out[f"{label}.scalar_be"] = scalar
    out[f"{label}.scalar_le"] = scalar[::-1]
    return out
