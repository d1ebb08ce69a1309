"""A question to the sandbox's DNS responder (pid 1, 127.0.0.1:53) whose
labels hold a dot or a NUL must not be judged as some other name. Before,
the single label "api.openai.test" or the labels "api" "openai" "test\\0x"
were read as api.openai.test: the allowed name was answered, and the audit
record named a host other than the one asked (a token after the NUL would
also have escaped the leak check). Now such a question is malformed:
FORMERR, no address. The plain question for the same name is the control."""
from helpers.cli import cli  # noqa: F401
from helpers.sandbox import sandbox  # noqa: F401

# Prints "<rcode> <answer count>" for each question given as labels joined
# by "|" (a label may hold "." or "\0", written \x00 here).
ASK = r"""
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2.0)
for i, spec in enumerate(sys.argv[1:]):
    labels = [p.encode().replace(b"\\x00", b"\0") for p in spec.split("|")]
    name = b"".join(bytes([len(p)]) + p for p in labels) + b"\0"
    s.sendto(struct.pack("!HHHHHH", i + 1, 0x0100, 1, 0, 0, 0) + name + b"\0\1\0\1",
             ("127.0.0.1", 53))
    try:
        data = s.recv(512)
        print(data[3] & 0x0f, struct.unpack("!H", data[6:8])[0])
    except socket.timeout:
        print("timeout", 0)
"""


def test_labels_with_dot_or_nul_are_malformed(sandbox):
    r = sandbox.run("/usr/bin/python3", "-c", ASK, "api|openai|test", "api.openai.test",
                    "api|openai|test\\x00x", timeout=30)
    assert r.rc == 0, r
    plain, dotted, nul = [line.split() for line in r.out.strip().splitlines()]
    assert plain == ["0", "1"], r.out  # the control: the allowed name is answered
    assert dotted == ["1", "0"], r.out  # FORMERR, no answer
    assert nul == ["1", "0"], r.out
