#!/usr/bin/env bash
# Runs every test binary and test script given, even after a failure, names each failure, and ends
# with "N passed, N failed, N skipped". A test passes with exit 0 and is skipped with exit 77 (it
# needed ../shared, which is absent: it says what); anything else is a failure, and its FAIL lines
# are repeated in the list of failures at the end. Scripts get $HASHEMB (the binary) and $SHARED (../shared) in
# the environment.
set -u
export BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac # an absolute BUILD= works too
export HASHEMB=${HASHEMB:-$BUILD/hashemb}
export SHARED=${SHARED:-$(cd "$PWD/../shared" 2>/dev/null && pwd || echo "$PWD/../shared")}
passed=0 failed=0 skipped=0
failures=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in "$@"; do
    start=$(date +%s.%N)
    "$t" 2>&1 | tee "$log"
    st=${PIPESTATUS[0]}
    took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    name=$(basename "$t")
    if [ "$st" -eq 0 ]; then
        passed=$((passed + 1))
        printf 'ok    %-40s %6ss\n' "$name" "$took"
    elif [ "$st" -eq 77 ]; then
        skipped=$((skipped + 1))
        printf 'SKIP  %-40s %6ss  %s\n' "$name" "$took" "$(grep -i 'skip' "$log" | tail -n 1 | sed 's/^ *//')"
    else
        failed=$((failed + 1))
        failures+=("$name (exit $st)")
        while IFS= read -r l; do failures+=("    $l"); done < <(grep 'FAIL' "$log" | sed 's/^ *//' | head -n 10)
        printf 'FAIL  %-40s %6ss  exit %s\n' "$name" "$took" "$st"
    fi
done
if [ "$failed" -gt 0 ]; then
    echo "failed:"
    printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
