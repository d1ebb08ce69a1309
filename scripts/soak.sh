#!/usr/bin/env bash
# A bounded soak of build/keyhole on loopback (not part of make test):
#   scripts/soak.sh [SECONDS] [CLIENTS]     default 180 s, 4 client threads
# Prints a sample line every 5 s and a summary; exit 1 on any error, RSS growth
# after warm-up beyond 8 MiB, leftover descriptors, or a secret in the logs.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
exec /usr/bin/python3 "$root/scripts/soak.py" --seconds "${1:-180}" --clients "${2:-4}"
