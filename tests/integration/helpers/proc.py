"""What /proc says about a process."""


def rss_kib(pid):
    """Resident set size of pid, in KiB (VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        return int([ln for ln in f if ln.startswith("VmRSS:")][0].split()[1])
