#!/usr/bin/env bash
# test_plan: `hashemb plan` end to end (SPEC 2, 4): the --tsv columns and total row, sizes that agree
# with ../shared/vectors, infeasible layouts reported with exit 0, and bad flags (exit 2, the flag named).
set -u
H=${HASHEMB:-build/hashemb}
fail=0
no() { echo "  FAIL test_plan: $*" >&2; fail=1; }

# run CMD...: sets out, err, rc
run() {
    out=$("$@" 2>/tmp/test_plan.$$.err)
    rc=$?
    err=$(cat /tmp/test_plan.$$.err)
}
trap 'rm -f /tmp/test_plan.$$.err' EXIT

header=$'field\tN\tm\tS\tt\tn\tlengths\trows\tparams\tbytes\tratio\tclamped\thyper'
cards=1460,583,10131227,2202608,305,24,12517

for emb in "full" "hash" "qr" "qr --qr-op concat" "bh" "bh --bh-blocks skip --bh-table per-block --bh-fuse concat" \
           "bh --bh-bits 20 --bh-t 4"; do
    ratio="--ratio 100"
    [ "$emb" = full ] && ratio=""  # a ratio with the full table is refused (never silently ignored)
    # shellcheck disable=SC2086
    run "$H" plan --cards $cards --emb $emb $ratio --tsv
    [ "$rc" = 0 ] || no "plan --emb $emb: exit $rc: $err"
    [ "$(printf '%s\n' "$out" | head -1)" = "$header" ] || no "plan --emb $emb: header: $(printf '%s\n' "$out" | head -1)"
    [ "$(printf '%s\n' "$out" | wc -l)" = 9 ] || no "plan --emb $emb: $(printf '%s\n' "$out" | wc -l) lines, 9 expected"
    [ "$(printf '%s\n' "$out" | tail -1 | cut -f1)" = total ] || no "plan --emb $emb: no total row"
    printf '%s\n' "$out" | awk -F'\t' 'NF != 13 { bad = 1 } END { exit bad }' || no "plan --emb $emb: a row without 13 columns"
    # the 24-id field stays full (compress-min 200)
    [ "$(printf '%s\n' "$out" | awk -F'\t' '$1 == 5 { print $3 $4 $9 $11 $12 }')" = "NANA40810" ] ||
        no "plan --emb $emb: field 5 should be full: $(printf '%s\n' "$out" | awk -F'\t' '$1 == 5')"
    # the total's params are the sum of the fields'
    printf '%s\n' "$out" | awk -F'\t' 'NR > 1 && $1 != "total" { s += $9; r += $8 } $1 == "total" { t = $9; tr = $8 }
        END { exit !(s == t && r == tr) }' || no "plan --emb $emb: total params or rows are not the sum"
done

# every strategy the binary has (as its refusal of an unknown --emb lists them), at its defaults: the same table shape; those that plan from the train
# split's counts (hotcold, mde) are infeasible without them (--cards), never an error
names=$("$H" plan --cards 1000 --emb / 2>&1 | sed -n 's/.*is not one of \([a-z0-9|]*\).*/\1/p' | head -1 | tr '|' ' ')
[ "$(wc -w <<< "$names")" -ge 10 ] || no "plan --help lists too few strategies: '$names'"
for emb in $names; do
    [ "$emb" = full ] && continue
    run "$H" plan --cards $cards --emb "$emb" --ratio 10 --tsv
    [ "$rc" = 0 ] || no "plan --emb $emb: exit $rc: $err"
    printf '%s\n' "$out" | awk -F'\t' 'NF != 13 { bad = 1 } END { exit bad || NR != 9 }' ||
        no "plan --emb $emb --tsv: not 9 rows of 13 columns: $out"
    run "$H" plan --cards $cards --emb "$emb" --ratio 10 --cost
    [ "$rc" = 0 ] && grep -q "^emb_macs_per_sample" <<< "$out" || no "plan --emb $emb --cost: exit $rc: $out $err"
done

# sizes of plan.tsv rows (vectors: hash N=12517 r=100 w=17 m=125; qr mult N=10131227 r=1000 w=16)
run "$H" plan --cards 12517 --emb hash --ratio 100 --tsv
[ "$(printf '%s\n' "$out" | awk -F'\t' '$1 == 0 { print $3, $8, $9, $10, $12 }')" = "125 125 2125 8500 0" ] ||
    no "hash sizes: $out"
if [ -f "${SHARED:-../shared}/vectors/plan.tsv" ]; then
    want=$(awk -F'\t' '$1 == "qr" && $2 == "mult" && $3 == 16 && $4 == 10131227 && $5 == 1000 { print $6, $7, $8 }' \
           "${SHARED:-../shared}/vectors/plan.tsv")
    run "$H" plan --cards 10131227 --model mlp --emb qr --ratio 1000 --tsv
    got=$(printf '%s\n' "$out" | awk -F'\t' '$1 == 0 { print "m=" $3, $8, $9 }')
    [ "$got" = "$want" ] || no "qr mlp sizes: $got, vectors: $want"
    want=$(awk -F'\t' '$1 == "bh" && $2 == "skip:per-block:concat" && $3 == 17 && $4 == 93145 && $5 == 19 { print $6, $7, $8, $9 }' \
           "${SHARED:-../shared}/vectors/plan.tsv")
    run "$H" plan --cards 93145 --emb bh --bh-blocks skip --bh-table per-block --bh-fuse concat --ratio 19 --tsv
    got=$(printf '%s\n' "$out" | awk -F'\t' '$1 == 0 { print "S=" $4 ",t=" $5 ",n=" $6 ",lengths=" $7, $8, $9, $12 }')
    [ "$got" = "$want" ] || no "bh skip concat sizes: $got, vectors: $want"
fi

# compress-min: --compress-min 0 compresses the small field
run "$H" plan --cards 24 --emb hash --ratio 2 --compress-min 0 --tsv
[ "$(printf '%s\n' "$out" | awk -F'\t' '$1 == 0 { print $3 }')" = 12 ] || no "--compress-min 0: $out"

# human output: the totals and the sharing count of a shared table
run "$H" plan --cards 1000,100 --emb bh --bh-t 4 --ratio 2
[ "$rc" = 0 ] || no "human plan: exit $rc: $err"
for k in ratio_actual ratio_compressed clamped "full params" "sharing: 933"; do
    printf '%s\n' "$out" | grep -q "$k" || no "human plan: no '$k' in: $out"
done

# infeasible layouts: reported, exit 0
run "$H" plan --cards 1000,5000 --emb bh --bh-fuse concat --ratio 10 --tsv
[ "$rc" = 0 ] || no "infeasible --tsv: exit $rc"
printf '%s\n' "$out" | awk -F'\t' '$1 == 0 { exit !($8 == "NA") }' || no "infeasible --tsv: rows should be NA: $out"
run "$H" plan --cards 1000,5000 --emb bh --bh-fuse concat --ratio 10
[ "$rc" = 0 ] || no "infeasible: exit $rc"
printf '%s\n' "$out" | grep -q 'INFEASIBLE.*per-block' || no "infeasible: no reason: $out"
run "$H" plan --cards 100000 --emb bh --bh-table per-block --bh-fuse concat --bh-t 1 --dim 8 --ratio 10
[ "$rc" = 0 ] || no "concat of too many blocks: exit $rc"
printf '%s\n' "$out" | grep -q 'INFEASIBLE.*columns' || no "concat of 17 blocks in 9 columns: $out"
run "$H" plan --cards 1000000 --emb hash --ratio 1e9
[ "$rc" = 0 ] || no "clamped: exit $rc"
printf '%s\n' "$out" | grep -q 'INFEASIBLE.*2x' || no "a clamped ratio short by more than 2x should be infeasible: $out"

# --data: dataset.meta's names and cardinalities
d=$(mktemp -d)
printf 'version=1\nfields=2\nfield_names=site,user\ncardinalities=300,70000\n' > "$d/dataset.meta"
run "$H" plan --data "$d" --emb qr --ratio 10 --tsv
[ "$rc" = 0 ] || no "--data: exit $rc: $err"
[ "$(printf '%s\n' "$out" | cut -f1 | tr '\n' ' ')" = "field site user total " ] || no "--data: $out"
run "$H" plan --data "$d/nope" --emb qr --ratio 10
[ "$rc" = 1 ] && printf '%s' "$err" | grep -q nope || no "--data of a missing directory: exit $rc: $err"
# the loader's checks of dataset.meta, not plan's own (a cardinality of 2^32, a list longer than fields,
# another version)
for meta in 'version=1\nfields=2\nfield_names=site,user\ncardinalities=300,4294967296' \
            'version=1\nfields=1\nfield_names=site,user\ncardinalities=300,70000' \
            'version=2\nfields=2\nfield_names=site,user\ncardinalities=300,70000'; do
    printf "$meta\n" > "$d/dataset.meta"
    run "$H" plan --data "$d" --emb qr --ratio 10
    [ "$rc" = 1 ] && printf '%s' "$err" | grep -q 'dataset.meta:[0-9]' || no "--data with a bad dataset.meta ($meta): exit $rc: $err"
done
rm -rf "$d"

# bad command lines: exit 2, the flag named, the usage
bad() {
    local flag=$1
    shift
    run "$H" plan "$@"
    [ "$rc" = 2 ] || no "plan $*: exit $rc, 2 expected"
    printf '%s' "$err" | grep -q -- "$flag" || no "plan $*: the message does not name $flag: $err"
    printf '%s' "$err" | grep -q 'usage: hashemb plan' || no "plan $*: no usage"
}
bad --ratio --cards 1000 --emb qr --ratio 0.5
bad --ratio --cards 1000 --emb qr --ratio 10x
bad --ratio --cards 1000 --emb qr
bad --emb --cards 1000 --emb lsh --ratio 2
bad --emb --cards 1000 --ratio 2
bad --qr-op --cards 1000 --emb qr --qr-op sub --ratio 2
bad --qr-op --cards 1000 --emb bh --qr-op add --ratio 2
bad --bh-bits --cards 1000 --emb bh --bh-bits 0 --ratio 2
bad --bh-bits --cards 1000 --emb bh --bh-bits many --ratio 2
bad --bh-t --cards 1000 --emb bh --bh-t 64 --ratio 2
bad --bh-fuse --cards 1000 --emb hash --bh-fuse mean --ratio 2
bad --bh-blocks --cards 1000 --emb bh --bh-blocks random --ratio 2
bad --bh-table --cards 1000 --emb bh --bh-table private --ratio 2
bad --cards --cards 1000,,5 --emb hash --ratio 2
bad --cards --cards 0 --emb hash --ratio 2
bad --cards --emb hash --ratio 2
bad --compress-min --cards 1000 --emb hash --ratio 2 --compress-min -1
bad --dim --cards 1000 --emb hash --ratio 2 --dim 0
bad --model --cards 1000 --emb hash --ratio 2 --model fm
bad --frobnicate --cards 1000 --emb hash --ratio 2 --frobnicate
bad extra --cards 1000 --emb hash --ratio 2 extra
# --cost: the backbone table's shapes and counts (DeepFM: 2 fields x d 4 in, hidden 8, the bias; the MLP
# reads the 4-wide rows as they are and has no bias)
run "$H" plan --cards 100,1000 --emb full --cost --dim 4 --mlp 8
[ "$rc" = 0 ] && [ "$(printf '%s\n' "$out" | awk -F'\t' '{ printf "%s=%s ", $1, $2 }')" = \
    "model=deepfm width=5 layers=8x8,8x1 dense_params=82 macs_per_sample=90 emb_params=5500 emb_macs_per_sample=0 emb_cost_macs_per_sample=0 " ] ||
    no "plan --cost (deepfm): $out"
run "$H" plan --cards 100,1000 --emb full --cost --dim 4 --mlp 8 --model mlp
[ "$rc" = 0 ] && [ "$(printf '%s\n' "$out" | awk -F'\t' '{ printf "%s=%s ", $1, $2 }')" = \
    "model=mlp width=4 layers=8x8,8x1 dense_params=81 macs_per_sample=72 emb_params=4400 emb_macs_per_sample=0 emb_cost_macs_per_sample=0 " ] ||
    no "plan --cost (mlp): $out"
# a strategy that computes its rows: its multiply-adds, and their cost in sgemm's (tt: 75 each)
run "$H" plan --cards 100,100000 --emb tt --ratio 10 --cost
[ "$rc" = 0 ] && printf '%s\n' "$out" | awk -F'\t' '{ v[$1] = $2 } END { exit !(v["emb_macs_per_sample"] > 0 &&
    (v["emb_cost_macs_per_sample"] - 75 * v["emb_macs_per_sample"])^2 < 1) }' || no "plan --cost (tt): $out"
bad --mlp --cards 1000 --emb full --cost --mlp 8,x
run "$H" plan --help
[ "$rc" = 0 ] && printf '%s' "$out" | grep -q -- --bh-fuse || no "plan --help: exit $rc"

[ "$fail" = 0 ] && echo "test_plan: ok" >&2
exit "$fail"
