"""A hostile command opens a vsock socket: vsock is not network-namespaced, so
from inside the sandbox's loopback-only network it reaches the hypervisor host
(CID 2) of a virtual machine, or a host's guests, around keyhole. keyhole's
seccomp filter refuses AF_VSOCK sockets with EPERM. Nothing is connected to:
creating the socket is the whole check."""
from helpers.cli import cli  # noqa: F401
from helpers.sandbox import PY, sandbox  # noqa: F401

PROBE = r'''
import errno, socket
for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
    try:
        socket.socket(socket.AF_VSOCK, kind).close()
        print("created")
    except OSError as e:
        print(errno.errorcode.get(e.errno, e.errno))
'''


def test_vsock_refused(sandbox):
    r = sandbox.run(PY, "-c", PROBE)
    assert r.rc == 0, r
    assert r.out == "EPERM\nEPERM\n", r
