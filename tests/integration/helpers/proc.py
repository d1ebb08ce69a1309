"""Processes in tests: what /proc says about one, and reaping a Popen'd one."""


def rss_kib(pid):
    """Resident set size of pid, in KiB (VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        return int([ln for ln in f if ln.startswith("VmRSS:")][0].split()[1])


def reap(p):
    """Kills a Popen'd process if it still runs, waits for it (5 s at most) and
    closes its stdout and stderr pipes."""
    if p.poll() is None:
        p.kill()
        p.wait(5)
    p.stdout.close()
    p.stderr.close()
