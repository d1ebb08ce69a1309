"""A hostile command pushes characters into the input queue of the terminal it
shares with the user's shell (TIOCSTI): once the sandbox exits, the shell reads
and runs them as if typed, outside the sandbox. TIOCLINUX can paste on a Linux
virtual console the same way. keyhole's seccomp filter refuses both with EPERM,
also when the request number carries garbage in the upper half of the register
(the kernel reads only the lower 32 bits)."""
from helpers.cli import cli  # noqa: F401
from helpers.sandbox import PY, sandbox  # noqa: F401

INJECT = r'''
import errno, fcntl, termios
for name, req in (("plain", termios.TIOCSTI), ("high-bits", termios.TIOCSTI | (1 << 32))):
    try:
        fcntl.ioctl(0, req, b"#")
        print(name, "injected")
    except OSError as e:
        print(name, errno.errorcode.get(e.errno, e.errno))
'''


def test_tiocsti_refused(sandbox):
    r = sandbox.run_pty(PY, "-c", INJECT)
    assert r.rc == 0, r
    assert "plain EPERM" in r.out and "high-bits EPERM" in r.out, r
    assert "injected" not in r.out, r
