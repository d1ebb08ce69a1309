#!/usr/bin/env bash
# House-rule checks, each printing what it found; exit non-zero on any finding:
#   1. include directions and cycles between modules (src/LAYERS)
#   2. banned libc calls, VLAs and alloca in src/, tests/ and bench/ (comments
#      are stripped first, so a call on a line with a comment is still seen)
#   3. strerror (one buffer shared by all threads) in the daemon's layers:
#      kh_strerror there; only cli/ and sandbox/ are single-threaded
#   4. clang-format: the tree must be formatted (make format fixes it)
#   5. cppcheck
set -u
cd "$(dirname "$0")/.."
rc=0
c_files=(src/*.c src/*/*.c src/*/*.h tests/unit/*.c tests/unit/*.h tests/fuzz/*.c tests/fuzz/*.h bench/*.c)

/usr/bin/python3 scripts/check-layers.py || rc=1

banned='\b(sprintf|vsprintf|strcpy|strcat|strncpy|strncat|strtok|atoi|atol|atoll|gets|alloca|strtol|strtoul|strtoll|strtoull)\s*\('
if /usr/bin/python3 scripts/strip-comments.py "${c_files[@]}" | grep -E "$banned"; then
  echo "lint: banned function above (see docs/HACKING.md for the allowed replacements)"
  rc=1
fi

daemon_files=(src/{base,secret,event,http,tls,policy,credsrc,swap,proxy,tools}/*.[ch])
if /usr/bin/python3 scripts/strip-comments.py "${daemon_files[@]}" | grep -E '(^|[^_a-z])strerror\s*\('; then
  echo "lint: strerror above runs on daemon threads: use kh_strerror (base/err.h)"
  rc=1
fi

if command -v clang-format >/dev/null 2>&1; then
  if ! clang-format --dry-run --Werror "${c_files[@]}" 2>/tmp/kh-format.$$; then
    grep -E '^[^ ].*: (error|warning):' /tmp/kh-format.$$ | cut -d: -f1,2 | sort -u | head -40
    echo "lint: the files above are not clang-formatted (make format)"
    rc=1
  fi
  rm -f /tmp/kh-format.$$
else
  echo "lint: clang-format not installed (make deps)"; rc=1
fi

if command -v cppcheck >/dev/null 2>&1; then
  cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability \
    --inline-suppr --suppress=missingIncludeSystem -D_GNU_SOURCE -I src src || rc=1
else
  echo "lint: cppcheck not installed (make deps)"; rc=1
fi
[ $rc -eq 0 ] && echo "lint: clean"
exit $rc
