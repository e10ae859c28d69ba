#!/usr/bin/env bash
# Runs each test binary and test script given, stops at the first failure, and ends with the
# "N passed, N failed" line. Scripts get $HASHEMB (the binary) and $SHARED (../shared) in the
# environment; they skip with a message where ../shared/data is absent.
set -u
export BUILD=${BUILD:-build}
export HASHEMB=${HASHEMB:-$PWD/$BUILD/hashemb}
export SHARED=${SHARED:-$(cd "$PWD/../shared" 2>/dev/null && pwd || echo "$PWD/../shared")}
passed=0
failed=0
for t in "$@"; do
    start=$(date +%s.%N)
    if "$t"; then
        passed=$((passed + 1))
        awk -v n="$(basename "$t")" -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "ok    %-40s %6.1fs\n", n, b - a }'
    else
        failed=$((failed + 1))
        printf 'FAIL  %s\n' "$t"
        break
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
