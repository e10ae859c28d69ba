#!/usr/bin/env bash
# make test-cores: the unit test binaries once per OpenBLAS core that the installed build can run on
# this CPU, each forced with OPENBLAS_CORETYPE (test_blas checks that OpenBLAS really runs the core
# asked for). The cores: Prescott (any x86-64), Sandybridge (AVX), Haswell (AVX2 + FMA), Zen (AMD with
# AVX2), SkylakeX (AVX-512 F/BW/VL/DQ), Cooperlake (and AVX-512 BF16). Ends with one
# "N passed, N failed, N skipped" line over all cores.
set -u
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
vendor=$(grep -m1 '^vendor_id' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
has() { for f in "$@"; do [[ $flags == *" $f "* ]] || return 1; done; }
cores=(Prescott)
has avx && cores+=(Sandybridge)
has avx2 fma && cores+=(Haswell)
has avx2 fma && [ "$vendor" = AuthenticAMD ] && cores+=(Zen)
has avx512f avx512bw avx512vl avx512dq && cores+=(SkylakeX)
has avx512f avx512bw avx512vl avx512dq avx512_bf16 && cores+=(Cooperlake)
echo "test-cores: $vendor CPU; cores: ${cores[*]}"
passed=0 failed=0 skipped=0 bad=()
for c in "${cores[@]}"; do
    echo "== OPENBLAS_CORETYPE=$c"
    out=$(OPENBLAS_CORETYPE=$c "$(dirname "$0")/run_tests.sh" "$@" 2>&1)
    st=$?
    echo "$out" | grep -E '^(ok|FAIL|SKIP) |^  [^ ]|error/bound' | grep -v '^  note:'
    read -r p f s <<< "$(echo "$out" | tail -n 1 | awk '{ print $1, $3, $5 }')"
    passed=$((passed + ${p:-0})) failed=$((failed + ${f:-0})) skipped=$((skipped + ${s:-0}))
    [ "$st" -eq 0 ] || { bad+=("$c"); [ "${f:-0}" -gt 0 ] || failed=$((failed + 1)); }
done
[ ${#bad[@]} -eq 0 ] || echo "failed on: ${bad[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ ${#bad[@]} -eq 0 ]
