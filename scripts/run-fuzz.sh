#!/usr/bin/env bash
# Runs each libFuzzer harness for a bounded time on a scratch copy of its seed
# corpus (tests/fuzz/corpus/<name>) with its dictionary if present. Any crash
# fails the run; the reproducer is left in build/fuzz/artifacts/.
#   scripts/run-fuzz.sh FUZZ_DIR SECONDS HARNESS...
set -u
dir=$1; secs=$2; shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dir/artifacts"
rc=0
for bin in "$@"; do
  name=$(basename "$bin"); short=${name#fuzz_}
  work="$dir/corpus-$short"
  rm -rf "$work"; mkdir -p "$work"
  [ -d "$root/tests/fuzz/corpus/$short" ] && cp "$root/tests/fuzz/corpus/$short"/* "$work"/ 2>/dev/null
  dict=()
  [ -f "$root/tests/fuzz/$short.dict" ] && dict=(-dict="$root/tests/fuzz/$short.dict")
  echo "fuzz: $name for ${secs}s"
  if ! "$bin" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$dir/artifacts/$short-" \
       "${dict[@]}" "$work" > "$dir/$short.log" 2>&1; then
    echo "fuzz: $name FAILED; see $dir/$short.log"; tail -30 "$dir/$short.log"; rc=1
  else
    grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$dir/$short.log" | sed "s/^/    /"
  fi
done
exit $rc
