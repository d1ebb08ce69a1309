#!/usr/bin/env bash
# Runs each libFuzzer harness for a bounded time on a scratch copy of its seed
# corpus (tests/fuzz/corpus/<name>, copied under FUZZ_DIR: nothing is written
# into tests/) with its dictionary if present, FUZZ_JOBS harnesses at a time
# (default: the number of cores). Any crash, leak, timeout or broken invariant
# fails the run and names the harness, the reproducer and how to replay it.
#   scripts/run-fuzz.sh FUZZ_DIR SECONDS HARNESS...
set -u
dir=$1; secs=$2; shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
[ "$jobs" -ge 1 ] 2>/dev/null || jobs=1
mkdir -p "$dir/artifacts"

# One harness; its exit status goes to $dir/<name>.rc.
run_one() {
  local bin=$1 name short work dict=() rc=0
  name=$(basename "$bin"); short=${name#fuzz_}
  work="$dir/corpus-$short"
  rm -rf "$work" "$dir/$short.rc"; mkdir -p "$work"
  if [ -d "$root/tests/fuzz/corpus/$short" ]; then
    cp "$root/tests/fuzz/corpus/$short"/* "$work"/ 2>/dev/null
  fi
  [ -f "$root/tests/fuzz/$short.dict" ] && dict=(-dict="$root/tests/fuzz/$short.dict")
  "$bin" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$dir/artifacts/$short-" \
    "${dict[@]}" "$work" > "$dir/$short.log" 2>&1 || rc=$?
  echo "$rc" > "$dir/$short.rc"
}

# What a run left behind, in the order the harnesses were named.
report() {
  local bin=$1 name short log rc repro
  name=$(basename "$bin"); short=${name#fuzz_}; log="$dir/$short.log"
  rc=$(cat "$dir/$short.rc" 2>/dev/null || echo 99)
  if [ "$rc" = 0 ]; then
    echo "fuzz: $name ok ($(grep -Eo 'stat::number_of_executed_units: [0-9]+' "$log" | grep -Eo '[0-9]+$') runs)"
    return 0
  fi
  repro=$(sed -n 's/.*Test unit written to \([^ ]*\).*/\1/p' "$log" | tail -1)
  echo "fuzz: $name FAILED (exit $rc); log: $log"
  grep -E 'invariant failed|ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|runtime error' "$log" | head -3 | sed 's/^/    /'
  if [ -n "$repro" ]; then
    echo "    reproducer: $repro"
    echo "    replay:     $bin $repro"
  else
    tail -20 "$log" | sed 's/^/    /'
  fi
  return 1
}

start=$(date +%s)
echo "fuzz: $# harnesses, ${secs}s each, $jobs at a time"
for bin in "$@"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
  run_one "$bin" &
done
wait
rc=0
for bin in "$@"; do
  report "$bin" || rc=1
done
echo "fuzz: done in $(($(date +%s) - start))s$([ $rc = 0 ] || echo ', FAILED')"
exit $rc
