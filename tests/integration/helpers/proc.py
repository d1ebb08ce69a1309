"""Processes in tests: what /proc says about one, and reaping a Popen'd one."""
import os



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


def front_pids(pid, role=b"__front"):
    """Pids of keyhole's front processes (privsep: true): the children of
    daemon pid whose argv[1] is __front (or role: b"__signer"). Empty in
    one-process mode."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and len(argv) > 1 and argv[1] == role:
            pids.append(int(d))
    return sorted(pids)


def keyhole_pids(pid):
    """The daemon and its front processes: where keyhole's client connections,
    descriptors and memory are (in one-process mode, just pid)."""
    return [pid] + front_pids(pid)


def fd_count(pid):
    """Open descriptors of the daemon and its fronts together."""
    n = 0
    for p in keyhole_pids(pid):
        try:
            n += len(os.listdir(f"/proc/{p}/fd"))
        except OSError:       # a front that just exited
            pass
    return n


def rss_kib_all(pid):
    """VmRSS of the daemon and its fronts together, in KiB."""
    n = 0
    for p in keyhole_pids(pid):
        try:
            n += rss_kib(p)
        except (OSError, IndexError):
            pass
    return n


def cpu_seconds(pid):
    """CPU time (utime + stime of every thread) of the daemon and its fronts
    together, in seconds: a front that spins shows here too."""
    ticks = 0
    for p in keyhole_pids(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:       # a front that just exited
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")
