"""Test PKI made with the openssl CLI: an upstream CA and certs it signs.

Everything here is about the *upstream* side (what keyhole must verify);
keyhole's own interception CA lives in its --home and is made by keyhole.
"""
import os
import subprocess
from dataclasses import dataclass

SERVER_NAMES = ["api.openai.test", "other.test", "denied.test", "denied6.test",
                "plain.test", "*.wild.test", "x.y.wild.test", "localhost"]
SERVER_IPS = ["127.0.0.1", "127.0.0.2"]


@dataclass
class CertPair:
    cert: str
    key: str


@dataclass
class Pki:
    dir: str
    ca: CertPair        # "keyhole-test upstream CA"
    server: CertPair    # signed by ca, SANs = SERVER_NAMES + SERVER_IPS
    rogue: CertPair     # self-signed api.openai.test, NOT from ca
    wrong: CertPair     # signed by ca, SAN wrong.test only


def _openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {r.stderr.strip()}")


def _newkey_args(keyfile):
    return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", keyfile]


def _leaf_ext(path, sans):
    with open(path, "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n"
                "subjectKeyIdentifier=hash\n"
                "authorityKeyIdentifier=keyid,issuer\n"
                f"subjectAltName={','.join(sans)}\n")


def _signed_leaf(d, name, cn, sans):
    _leaf_ext(os.path.join(d, f"{name}.ext"), sans)
    _openssl("req", "-new", *_newkey_args(f"{name}.key"), "-out", f"{name}.csr",
             "-subj", f"/CN={cn}", cwd=d)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "30", "-sha256", "-extfile", f"{name}.ext",
             "-out", f"{name}.crt", cwd=d)
    return CertPair(os.path.join(d, f"{name}.crt"), os.path.join(d, f"{name}.key"))


def make_leaf(pki, name, dns_names):
    """Another server cert from the test CA, for dns_names (and the loopback IPs);
    made once per name and PKI."""
    crt = os.path.join(pki.dir, f"{name}.crt")
    if os.path.exists(crt):
        return CertPair(crt, os.path.join(pki.dir, f"{name}.key"))
    sans = [f"DNS:{n}" for n in dns_names] + [f"IP:{ip}" for ip in SERVER_IPS]
    return _signed_leaf(pki.dir, name, dns_names[0], sans)


def make_pki(d):
    """Creates the whole test PKI in directory d and returns its paths."""
    os.makedirs(d, exist_ok=True)
    _openssl("req", "-x509", *_newkey_args("ca.key"), "-out", "ca.crt", "-days", "30",
             "-sha256", "-subj", "/CN=keyhole-test upstream CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-addext", "subjectKeyIdentifier=hash", cwd=d)
    sans = [f"DNS:{n}" for n in SERVER_NAMES] + [f"IP:{ip}" for ip in SERVER_IPS]
    server = _signed_leaf(d, "server", "api.openai.test", sans)
    wrong = _signed_leaf(d, "wrong", "wrong.test", ["DNS:wrong.test"])
    _openssl("req", "-x509", *_newkey_args("rogue.key"), "-out", "rogue.crt", "-days", "30",
             "-sha256", "-subj", "/CN=api.openai.test",
             "-addext", "subjectAltName=DNS:api.openai.test",
             "-addext", "basicConstraints=critical,CA:FALSE",
             "-addext", "extendedKeyUsage=serverAuth", cwd=d)
    rogue = CertPair(os.path.join(d, "rogue.crt"), os.path.join(d, "rogue.key"))
    ca = CertPair(os.path.join(d, "ca.crt"), os.path.join(d, "ca.key"))
    return Pki(d, ca, server, rogue, wrong)
