#!/usr/bin/env bash
# House-rule checks: banned libc calls, VLAs and alloca in src/ and tests/,
# then cppcheck. Exit non-zero on any finding.
set -u
cd "$(dirname "$0")/.."
rc=0
banned='\b(sprintf|vsprintf|strcpy|strcat|strncpy|strncat|strtok|atoi|atol|atoll|gets|alloca|strtol|strtoul|strtoll|strtoull)\s*\('
if grep -nE "$banned" src/*.c src/*/*.c src/*/*.h tests/unit/*.c tests/fuzz/*.c 2>/dev/null | grep -v '/\*.*\*/' ; then
  echo "lint: banned function above (see docs/HACKING.md for the allowed replacements)"
  rc=1
fi
if command -v cppcheck >/dev/null 2>&1; then
  cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability \
    --inline-suppr --suppress=missingIncludeSystem -D_GNU_SOURCE -I src src || rc=1
else
  echo "lint: cppcheck not installed (make deps)"; rc=1
fi
[ $rc -eq 0 ] && echo "lint: clean"
exit $rc
