#!/usr/bin/env bash
# Runs the unit tests (TAP binaries under BUILD/tests) and the black-box
# suites (pytest: tests/integration and tests/attack) against BUILD/keyhole,
# then prints one summary line "N passed, N failed". Exit status is non-zero if
# anything failed.
#   scripts/run-tests.sh [--unit-only|--integration-only] BUILD
# The black-box tests run in parallel with pytest-xdist: KH_TEST_WORKERS
# processes (default: twice the CPUs, at most 8, as most of a test's time is
# spent waiting on its daemon and upstreams); KH_TEST_WORKERS=0 runs them in
# one process. PYTEST_ARGS is passed on to pytest.
set -u
mode=all
case "${1:-}" in
  --unit-only) mode=unit; shift ;;
  --integration-only) mode=integration; shift ;;
esac
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
passed=0; failed=0; skipped=0

if [ "$mode" != integration ]; then
  for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    case "$t" in *.d) continue ;; esac
    out=$("$t" 2>&1); rc=$?
    ok=$(grep -c '^ok ' <<<"$out")
    bad=$(grep -c '^not ok ' <<<"$out")
    if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
      bad=1   # crashed or exited early: count it
      out="$out"$'\n'"not ok - $(basename "$t") exited with status $rc"
    fi
    passed=$((passed + ok)); failed=$((failed + bad))
    if [ "$bad" -gt 0 ]; then
      echo "FAIL unit $(basename "$t")"; grep -v '^ok ' <<<"$out" | sed 's/^/    /'
    else
      echo "ok   unit $(basename "$t") ($ok tests)"
    fi
  done
fi

if [ "$mode" != unit ]; then
  py=/usr/bin/python3
  [ -x "$py" ] || py=python3
  mkdir -p "$build"
  # Two suites, tests/integration (features) and tests/attack (a hostile
  # sandbox's attempts), each with its own conftest.py, in one pytest run so
  # that the workers share the load to the end. Tests that must stay on one
  # worker carry an xdist_group mark (--dist loadgroup).
  par=()
  workers=${KH_TEST_WORKERS:-$(( $(nproc) * 2 > 8 ? 8 : $(nproc) * 2 ))}
  if [ "$workers" -gt 0 ]; then
    if "$py" -c 'import xdist' 2>/dev/null; then
      par=(-n "$workers" --dist loadgroup)
    else
      echo "pytest-xdist not installed (make deps-test): black-box tests run one at a time"
    fi
  fi
  # In parallel: everything but the tests marked serial (they measure the
  # daemon's own memory), which then run alone. In one process: all at once.
  runs=(all)
  [ ${#par[@]} -gt 0 ] && runs=(parallel serial)
  for run in "${runs[@]}"; do
    junit="$build/pytest-junit-$run.xml"
    rm -f "$junit"
    case $run in
      parallel) sel=("${par[@]}" -m "not serial") ;;
      serial) sel=(-m serial) ;;
      *) sel=() ;;
    esac
    KEYHOLE_BIN="$root/$build/keyhole" "$py" -m pytest -p no:cacheprovider -q -rs "${sel[@]}" \
      --junitxml="$junit" "$root/tests/integration" "$root/tests/attack" ${PYTEST_ARGS:-}
    if [ -f "$junit" ]; then
      read -r p f s < <("$py" - "$junit" <<'PY'
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
suites = [r] if r.tag == "testsuite" else list(r)
t = sum(int(s.get("tests", 0)) for s in suites)
f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
sk = sum(int(s.get("skipped", 0)) for s in suites)
print(t - f - sk, f, sk)
PY
)
      passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    else
      echo "FAIL black-box suites ($run): pytest produced no report"; failed=$((failed + 1))
    fi
  done
fi

[ "$skipped" -gt 0 ] && echo "($skipped skipped; the reasons are printed above)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
