#!/usr/bin/env bash
# test_bench: `hashemb bench` end to end on tiny shapes (SPEC 2, 8): the TSV columns, the rows sgemm
# times (the calls model.c makes: 3 per hidden layer, 2 sgemv for the output layer, then a total), FLOP
# counts, the model and auc rows, and bad command lines (exit 2 with the reason). Speeds are not checked:
# they belong to make bench.
set -u
H=${HASHEMB:-build/hashemb}
fail=0
no() { echo "  FAIL test_bench: $*" >&2; fail=1; }
run() {
    out=$("$@" 2>/tmp/test_bench.$$.err)
    rc=$?
    err=$(cat /tmp/test_bench.$$.err)
}
trap 'rm -f /tmp/test_bench.$$.err' EXIT

run "$H" bench --help
{ [ "$rc" = 0 ] && grep -q '^usage: hashemb bench' <<<"$out"; } || no "bench --help: exit $rc"
run "$H" bench sgemm --help
{ [ "$rc" = 0 ] && grep -q '^usage: hashemb bench' <<<"$out"; } || no "bench sgemm --help: exit $rc"

# sgemm: deepfm, 2 hidden layers: fwd x2, fwd_gemv, bwd_gemv_dW, (bwd_dx, bwd_dW) x2, total
run "$H" bench sgemm --batch 64 --fields 5 --dim 4 --mlp 16,8 --reps 2 --threads 1
[ "$rc" = 0 ] || no "bench sgemm: exit $rc: $err"
[ "$(head -1 <<<"$out")" = $'op\tlayer\tB\tM\tN\tK\tbeta\tflops\tseconds\tgflops\tceiling_samples_per_sec\tthreads\tblas_core' ] ||
    no "bench sgemm: header: $(head -1 <<<"$out")"
[ "$(tail -n +2 <<<"$out" | cut -f1,2 | tr '\t\n' ': ')" = "fwd:0 fwd:1 fwd_gemv:2 bwd_gemv_dW:2 bwd_dx:1 bwd_dW:1 bwd_dx:0 bwd_dW:0 total:all " ] ||
    no "bench sgemm: rows: $(tail -n +2 <<<"$out" | cut -f1,2 | tr '\t\n' ': ')"
# shapes: in0 = 5 * 4 = 20; fwd 0 is M=64 N=16 K=20; dW 0 is M=16 N=20 K=64; dx 0 is M=64 N=20 K=16
[ "$(awk -F'\t' '$1 == "fwd" && $2 == 0 { print $4, $5, $6 }' <<<"$out")" = "64 16 20" ] || no "bench sgemm: fwd 0 shape"
[ "$(awk -F'\t' '$1 == "bwd_dW" && $2 == 0 { print $4, $5, $6 }' <<<"$out")" = "16 20 64" ] || no "bench sgemm: dW 0 shape"
[ "$(awk -F'\t' '$1 == "bwd_dx" && $2 == 0 { print $4, $5, $6 }' <<<"$out")" = "64 20 16" ] || no "bench sgemm: dx 0 shape"
# total FLOPs = 3 x 2 x 64 x (20*16 + 16*8) + 2 x 2 x 64 x 8 = 172032 + 2048
[ "$(awk -F'\t' '$1 == "total" { print $8 }' <<<"$out")" = 174080 ] ||
    no "bench sgemm: total flops $(awk -F'\t' '$1 == "total" { print $8 }' <<<"$out"), 174080 expected"
awk -F'\t' '$1 == "total" { exit !($11 > 0) }' <<<"$out" || no "bench sgemm: no ceiling in the total row"
grep -q 'OpenBLAS core .* build (parallel=' <<<"$err" || no "bench sgemm: no BLAS set-up on stderr: $err"

run "$H" bench model --batch 32 --fields 4 --dim 3 --mlp 8 --reps 2 --threads 1 --model mlp
[ "$rc" = 0 ] || no "bench model: exit $rc: $err"
[ "$(tail -1 <<<"$out" | cut -f1-5)" = $'mlp\t32\t4\t3\t8' ] || no "bench model: row $(tail -1 <<<"$out")"

run "$H" bench auc --n 1000 --reps 1 --threads 1
[ "$rc" = 0 ] || no "bench auc: exit $rc: $err"
tail -1 <<<"$out" | awk -F'\t' '{ exit !($1 == 1000 && $5 > 0.5 && $5 < 0.8) }' || no "bench auc: row $(tail -1 <<<"$out")"

# bad command lines: exit 2, the reason and the usage on stderr
for args in "" "flops" "sgemm --batch 0" "sgemm --batch 12x" "sgemm --reps" "sgemm --nope" "sgemm --model fm" \
            "sgemm --mlp 1,2,3,4,5,6,7,8,9" "sgemm --beta 2" "auc --n 1" "sgemm extra"; do
    # shellcheck disable=SC2086
    run "$H" bench $args
    [ "$rc" = 2 ] || no "bench $args: exit $rc, 2 expected"
    grep -q '^usage: hashemb bench' <<<"$err" || no "bench $args: no usage on stderr"
    [ -z "$out" ] || no "bench $args: wrote to stdout"
done
run "$H" bench sgemm --batch 0
grep -q -- '--batch' <<<"$err" || no "bench --batch 0: the flag is not named: $err"
run "$H" bench flops
grep -q "'flops'" <<<"$err" || no "bench flops: the word is not named: $err"

exit $fail
