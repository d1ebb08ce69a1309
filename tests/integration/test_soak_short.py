"""A 15-second version of scripts/soak.py: mixed traffic from 3 client threads
(swaps, keep-alive, 256 KiB up and down, SSE, plain HTTP, denied, misplaced
token, malformed, clients vanishing mid-download) with zero unexpected
outcomes, the daemon alive, no descriptor left behind, no secret or token in
its logs, and RSS growth after warm-up bounded. The long run is scripts/soak.sh."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))

import soak  # noqa: E402


def test_soak_short(keyhole_bin):
    res = soak.run(15, 3, keyhole_bin, interval=3, out=lambda s: None)
    assert not res["errors"], "\n".join(res["errors"][:20])
    assert res["daemon_alive"]
    assert res["total_ops"] >= 100, res["ops"]
    assert all(res["ops"].get(op, 0) > 0 for op in soak.Soak.OPS), res["ops"]
    assert not res["secret_in_logs"]
    assert soak.leftover_fds(res) <= 2, res["fds"]
    growth = res["rss_kib"]["end"] - res["rss_kib"]["after_warmup"]
    if "ASAN_OPTIONS" not in os.environ:     # ASan's quarantine grows by design
        assert growth < 8192, res["rss_kib"]
