#!/usr/bin/env bash
# Side-by-side benchmark of keyhole against direct, mitmproxy and Squid ssl-bump.
#
#   bench/run.sh            full run (under 20 minutes), writes bench/results/<date>.md
#   bench/run.sh --quick    short run (under 3 minutes), writes bench/results/<date>-quick.md
#   bench/run.sh --peers keyhole,squid --out /tmp/r.md
#   bench/run.sh --quick --peers keyhole --only idle    one section (load, mint, idle)
#   BENCH_KEYHOLE_WRAPPER="heaptrack -o /tmp/kh" bench/run.sh ...   profile the daemon
#   BENCH_KEYHOLE_CONFIG='{"privsep": false}' bench/run.sh ...     keyhole with these settings
#
# `make bench` calls this with $(BENCH_ARGS) (BENCH_ARGS=--quick for the short run).
# Needs root (mitmproxy's private /etc/hosts, squid's user switch, 100k descriptors),
# nginx, openssl and curl; a missing mitmproxy or squid-openssl only skips its column.
# Everything binds 127.0.0.1 and every process it starts is killed on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
[ -x "$py" ] || py=python3

"$py" "$here/bench.py" "$@" &
pid=$!
# The orchestrator kills its own children (by process group) when it gets a signal.
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid"; exit 130' INT TERM HUP
wait "$pid"
