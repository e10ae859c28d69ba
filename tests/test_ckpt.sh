#!/usr/bin/env bash
# Checkpoints (train --save, --resume) and eval: a run killed by SIGKILL between epochs, in the middle
# of one, or from outside at a moment it does not choose, resumed, gives the uninterrupted run's row
# and curve (time, RSS and git_sha aside), at 1 and 2 threads and for every strategy; eval of DIR/best
# gives the row's test AUC; a damaged checkpoint, another run's, or another vocabulary is refused.
. "$(dirname "$0")/testing.sh"
col() { awk -F'\t' -v n="$2" 'NR==1 { for (i = 1; i <= NF; i++) if ($i == n) c = i } NR==2 { print $c }' "$1"; }
strip() { awk -F'\t' 'NR==1 { for (i = 1; i <= NF; i++) if ($i == "peak_rss_bytes" || $i == "git_sha" || $i ~ /_seconds$|_per_sec$/) drop[i] = 1 }
    { s = ""; for (i = 1; i <= NF; i++) if (!drop[i]) s = s $i "\t"; print s }' "$1"; }
same() { # same A B WHAT: rows and curves (epoch to test_auc) equal
    [ "$(strip "$1")" = "$(strip "$2")" ] || { bad "$3: the row differs from the uninterrupted run's"; diff <(strip "$1" | tr '\t' '\n') <(strip "$2" | tr '\t' '\n') | head -6 >&2; }
    [ "$(cut -f1-6 "${1%.tsv}.curve.tsv")" = "$(cut -f1-6 "${2%.tsv}.curve.tsv")" ] || bad "$3: the curve differs"
}

"$H" gen --profile tiny --rows 16000 --seed 5 --out "$T/tiny" 2>/dev/null || { bad "gen tiny"; exit 1; }
# 12,800 train rows: 25 steps an epoch at batch 512
FLAGS=(--data "$T/tiny" --dim 8 --mlp 16 --batch 512 --epochs 3 --patience 9 --quiet)

for th in 1 2; do
    A=(train "${FLAGS[@]}" --emb hash --ratio 4 --compress-min 50 --threads $th)
    "$H" "${A[@]}" --out "$T/u$th.tsv" || bad "uninterrupted run, $th thread(s)"
    # killed right after the first checkpoint, then resumed
    (HASHEMB_TEST_KILL=save:1 "$H" "${A[@]}" --save "$T/s$th" --out "$T/k$th.tsv"; exit $?) 2>/dev/null
    [ $? = 137 ] || bad "HASHEMB_TEST_KILL=save:1 should end in SIGKILL"
    [ -f "$T/s$th/last" ] && [ -f "$T/s$th/best" ] && [ ! -e "$T/k$th.tsv" ] || bad "after the kill: DIR/last and DIR/best, no row"
    "$H" "${A[@]}" --resume "$T/s$th" --out "$T/k$th.tsv" 2> "$T/r.err" || bad "resume after a kill between epochs"
    grep -q "1 epoch(s) done, continuing" "$T/r.err" || bad "the resume did not continue from epoch 1: $(cat "$T/r.err")"
    same "$T/k$th.tsv" "$T/u$th.tsv" "killed between epochs, $th thread(s)"
    # killed in the middle of epoch 3 (step 60 of 75), resumed from epoch 2's checkpoint and killed
    # again in epoch 3 (the resumed process's step 12), resumed again
    (HASHEMB_TEST_KILL=step:60 "$H" "${A[@]}" --save "$T/m$th" --out "$T/m$th.tsv"; exit $?) 2>/dev/null
    [ $? = 137 ] || bad "HASHEMB_TEST_KILL=step:60 should end in SIGKILL"
    (HASHEMB_TEST_KILL=step:12 "$H" "${A[@]}" --resume "$T/m$th" --out "$T/m$th.tsv"; exit $?) 2>/dev/null
    [ $? = 137 ] || bad "HASHEMB_TEST_KILL=step:12 after a resume should end in SIGKILL"
    "$H" "${A[@]}" --resume "$T/m$th" --out "$T/m$th.tsv" 2> "$T/r.err" || bad "resume after two kills mid-epoch"
    grep -q "2 epoch(s) done, continuing" "$T/r.err" || bad "the second resume did not continue from epoch 2: $(cat "$T/r.err")"
    same "$T/m$th.tsv" "$T/u$th.tsv" "killed twice mid-epoch, $th thread(s)"
    # a finished run resumed: the same row again, nothing trained
    "$H" "${A[@]}" --resume "$T/m$th" --out "$T/f$th.tsv" 2> "$T/r.err" || bad "resume of a finished run"
    grep -q "3 epoch(s) done, the run had ended" "$T/r.err" || bad "a finished run resumed: $(cat "$T/r.err")"
    same "$T/f$th.tsv" "$T/u$th.tsv" "a finished run resumed, $th thread(s)"
    # eval of DIR/best: the row's test and valid AUC
    "$H" eval --model "$T/m$th/best" --data "$T/tiny" --threads $th > "$T/e$th.out" || bad "eval"
    "$H" eval --model "$T/m$th/best" --data "$T/tiny" --split valid --threads $th > "$T/v$th.out" || bad "eval --split valid"
    ea=$(awk -F'\t' '$1 == "auc" { print $2 }' "$T/e$th.out"); va=$(awk -F'\t' '$1 == "auc" { print $2 }' "$T/v$th.out")
    awk -v a="$ea" -v b="$(col "$T/u$th.tsv" test_auc)" -v c="$va" -v d="$(col "$T/u$th.tsv" valid_auc)" \
        'BEGIN { exit !(a != "" && c != "" && (a - b)^2 <= 1e-12 && (c - d)^2 <= 1e-12) }' ||
        bad "eval of DIR/best: test AUC $ea (row $(col "$T/u$th.tsv" test_auc)), valid $va (row $(col "$T/u$th.tsv" valid_auc))"
    grep -q "^oov_share.t8	" "$T/e$th.out" || bad "eval: per-field OOV share"
done
echo "  hash, 1 and 2 threads: killed between epochs, twice mid-epoch, finished: the uninterrupted row; eval AUC $ea"

# --- from outside: SIGKILL once the first checkpoint exists, wherever the run is then (10 epochs of
# a wider model: about 2 s here, the kill comes after the first's 0.2 s) ---
"$H" gen --profile tiny --rows 60000 --seed 7 --out "$T/long" 2>/dev/null || bad "gen long"
B=(train "${FLAGS[@]}" --data "$T/long" --mlp 256,256 --batch 256 --epochs 10 --patience 11 --emb full --threads 2)
"$H" "${B[@]}" --out "$T/xu.tsv" || bad "uninterrupted full run"
"$H" "${B[@]}" --save "$T/x" --out "$T/x.tsv" &
pid=$!
waitfor "$T/x/last" || bad "no checkpoint appeared"
kill -9 $pid 2>/dev/null
{ wait $pid; } 2>/dev/null
[ ! -e "$T/x.tsv" ] || bad "the run ended before the outside SIGKILL: nothing was tested"
"$H" "${B[@]}" --resume "$T/x" --out "$T/x.tsv" 2> "$T/r.err" || bad "resume after an outside SIGKILL"
grep -q "epoch(s) done, continuing" "$T/r.err" || bad "after the outside SIGKILL the resume did not continue: $(cat "$T/r.err")"
same "$T/x.tsv" "$T/xu.tsv" "killed from outside"
ls "$T"/x/*.tmp.* >/dev/null 2>&1 && bad "temporary checkpoint files left behind"

# --- every strategy's state: killed after epoch 1 of 2, resumed ---
names=$("$H" plan --cards 1000 --emb / 2>&1 | sed -n 's/.*is not one of \([a-z0-9|]*\).*/\1/p' | head -1 | tr '|' ' ')
[ -n "$names" ] || bad "no strategy names from plan's refusal"
for s in $names; do
    S=(train "${FLAGS[@]}" --epochs 2 --threads 2 --emb "$s")
    [ "$s" = full ] || S+=(--ratio 4 --compress-min 50)
    "$H" "${S[@]}" --out "$T/$s.u.tsv" || { bad "$s: uninterrupted run"; continue; }
    (HASHEMB_TEST_KILL=save:1 "$H" "${S[@]}" --save "$T/$s" --out "$T/$s.tsv"; exit $?) 2>/dev/null
    [ $? = 137 ] && [ -f "$T/$s/last" ] || bad "$s: not killed after its first checkpoint"
    "$H" "${S[@]}" --resume "$T/$s" --out "$T/$s.tsv" 2> "$T/r.err" || { bad "$s: resume"; continue; }
    grep -q "1 epoch(s) done, continuing" "$T/r.err" || bad "$s: the resume did not continue from epoch 1: $(cat "$T/r.err")"
    same "$T/$s.tsv" "$T/$s.u.tsv" "$s killed after epoch 1"
done
echo "  every strategy ($names): resumed after epoch 1, the uninterrupted row"

# --- refusals: a damaged checkpoint (naming the check), another run's, another vocabulary ---
C="$T/s2/last"
refuse() { # refuse WANT FILE: eval and train --resume both exit 1 naming WANT, and write no row
    local want=$1 f=$2 d
    "$H" eval --model "$f" --data "$T/tiny" > /dev/null 2> "$T/err"
    [ $? = 1 ] && grep -q "$want" "$T/err" || bad "eval of a checkpoint with $want: $(head -1 "$T/err")"
    d=$(mktemp -d "$T/r.XXXX"); cp "$f" "$d/last"
    "$H" train "${FLAGS[@]}" --emb hash --ratio 4 --compress-min 50 --threads 2 --resume "$d" --out "$T/no.tsv" 2> "$T/err"
    [ $? = 1 ] && grep -q "$want" "$T/err" || bad "train --resume from a checkpoint with $want: $(head -1 "$T/err")"
    [ ! -e "$T/no.tsv" ] || bad "a refused resume wrote a row"
}
cp "$C" "$T/flip"; printf '\x55' | dd of="$T/flip" bs=1 seek=5000 conv=notrunc 2>/dev/null
refuse "checksum mismatch" "$T/flip"
head -c 4000 "$C" > "$T/short"; refuse "length mismatch" "$T/short"
cp "$C" "$T/magic"; printf 'X' | dd of="$T/magic" bs=1 seek=0 conv=notrunc 2>/dev/null; refuse "bad magic" "$T/magic"
cp "$C" "$T/ver"; printf '\x09' | dd of="$T/ver" bs=1 seek=8 conv=notrunc 2>/dev/null; refuse "unsupported version" "$T/ver"
head -c 10 "$C" > "$T/tiny10"; refuse "bad magic" "$T/tiny10"
"$H" train "${FLAGS[@]}" --emb hash --ratio 4 --compress-min 50 --threads 2 --lr 3e-3 --resume "$T/s2" --out "$T/no.tsv" 2> "$T/err"
[ $? = 1 ] && grep -q "another run's" "$T/err" && [ ! -e "$T/no.tsv" ] || bad "resume with another --lr: $(head -1 "$T/err")"
"$H" gen --profile tiny --rows 9000 --seed 6 --out "$T/other" 2>/dev/null || bad "gen other"
"$H" eval --model "$T/s2/best" --data "$T/other" > /dev/null 2> "$T/err"
[ $? = 1 ] && grep -q "another vocabulary" "$T/err" || bad "eval on another vocabulary: $(head -1 "$T/err")"
"$H" gen --profile tiny --rows 16000 --seed 5 --id-order freq --out "$T/freq" 2>/dev/null || bad "gen freq"
"$H" eval --model "$T/s2/best" --data "$T/freq" > /dev/null 2> "$T/err"
[ $? = 1 ] && grep -q "though of the same sizes" "$T/err" || bad "eval on the same data numbered in another order: $(head -1 "$T/err")"
"$H" eval --model "$T/s2/best" 2> "$T/err"; [ $? = 2 ] || bad "eval without --data: exit 2"
"$H" train "${FLAGS[@]}" --emb hash --ratio 4 --compress-min 50 --save "$T/s2" --out "$T/no.tsv" 2> "$T/err"
[ $? = 2 ] && grep -q "exists: --resume" "$T/err" && [ ! -e "$T/no.tsv" ] || bad "--save over an existing checkpoint without --resume: $(head -1 "$T/err")"
touch "$T/afile"; "$H" train "${FLAGS[@]}" --emb full --save "$T/afile" 2> "$T/err"
[ $? = 2 ] && grep -q "not a directory" "$T/err" || bad "--save on a file: $(head -1 "$T/err")"
# what the results depend on beyond the flags: a checkpoint of 1 thread is not continued at 2
"$H" train "${FLAGS[@]}" --emb hash --ratio 4 --compress-min 50 --threads 2 --resume "$T/s1" --out "$T/no.tsv" 2> "$T/err"
[ $? = 1 ] && grep -q "trained with 1 thread(s) and this run has 2" "$T/err" && [ ! -e "$T/no.tsv" ] ||
    bad "resume at another thread count: $(head -1 "$T/err")"
"$H" train "${FLAGS[@]}" --emb hash --ratio 4 --compress-min 50 --threads 2 --resume "$T/s2" --save "$T/m2" --out "$T/no.tsv" 2> "$T/err"
[ $? = 2 ] && grep -q "exists: --resume" "$T/err" || bad "--resume A --save B where B holds a checkpoint: $(head -1 "$T/err")"
# eval without --threads scores with the run's own (1 here): the row's test AUC
ea=$("$H" eval --model "$T/m1/best" --data "$T/tiny" | awk -F'\t' '$1 == "auc" { print $2 }')
awk -v a="$ea" -v b="$(col "$T/u1.tsv" test_auc)" 'BEGIN { exit !(a != "" && (a - b)^2 <= 1e-12) }' ||
    bad "eval at the run's thread count by default: $ea against $(col "$T/u1.tsv" test_auc)"
echo "  refused: flipped byte, truncated, bad magic, other version, another run's flags, another vocabulary, another thread count"
exit $fail
