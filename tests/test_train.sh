#!/usr/bin/env bash
# hashemb train end to end: result row and curve, determinism, learning on synthetic data against
# the oracle, overfitting a tiny set, the real Criteo sample, bad flags and bad datasets.
. "$(dirname "$0")/testing.sh"
col() { # col FILE NAME: the value of column NAME in the result row
    awk -F'\t' -v n="$2" 'NR==1 { for (i = 1; i <= NF; i++) if ($i == n) c = i } NR==2 { print $c }' "$1"
}

"$H" gen --profile tiny --rows 60000 --seed 5 --out "$T/tiny" 2>/dev/null || { bad "gen tiny"; exit 1; }

# --- a run writes its curve, then a complete row ---
"$H" train --data "$T/tiny" --emb full --dim 8 --mlp 32,16 --batch 256 --epochs 3 --threads 2 \
    --quiet --out "$T/r1.tsv" || bad "train exit status"
[ -f "$T/r1.tsv" ] && [ -f "$T/r1.curve.tsv" ] || bad "result and curve files"
[ "$(head -1 "$T/r1.tsv" | cut -f1-29)" = "run_id	dataset	model	emb	variant	ratio_target	ratio_actual	ratio_compressed	emb_params	emb_bytes	opt_bytes	dense_params	peak_rss_bytes	seed	epochs	best_epoch	valid_auc	valid_logloss	test_auc	test_logloss	oracle_auc	oracle_logloss	train_seconds	samples_per_sec	threads	blas_core	git_sha	status	config" ] || bad "SPEC 6's 29 columns, in order"
[ "$(head -1 "$T/r1.tsv" | cut -f30-)" = accounted_bytes ] || bad "accounted_bytes appended after config"
[ "$(awk -F'\t' 'NR==2 { print NF }' "$T/r1.tsv")" = 30 ] || bad "30 values"
awk -v r="$(col "$T/r1.tsv" peak_rss_bytes)" -v a="$(col "$T/r1.tsv" accounted_bytes)" 'BEGIN { exit !(a > 0 && r > 0) }' || bad "peak RSS and accounted bytes"
[ "$(col "$T/r1.tsv" status)" = ok ] || bad "status ok"
[ "$(col "$T/r1.tsv" variant)" = full ] || bad "variant full"
[ "$(col "$T/r1.tsv" threads)" = 2 ] || bad "threads column"
[ "$(col "$T/r1.tsv" blas_core)" != "" ] || bad "blas_core"
[ "$(wc -l < "$T/r1.curve.tsv")" -ge 2 ] || bad "curve rows"
ls "$T"/*.tmp.* >/dev/null 2>&1 && bad "temporary files left behind"

# --- learning: at least 90% of the oracle's AUC lift on the tiny profile ---
auc=$(col "$T/r1.tsv" test_auc)
oracle=$(col "$T/r1.tsv" oracle_auc)
awk -v a="$auc" -v o="$oracle" 'BEGIN { exit !((a - 0.5) >= 0.9 * (o - 0.5)) }' ||
    bad "full-table DeepFM lift: test AUC $auc vs oracle $oracle (need 90% of the lift)"
echo "  tiny: test AUC $auc, oracle $oracle"

# --- same seed twice: identical rows but for peak RSS and the timing columns ---
"$H" train --data "$T/tiny" --emb full --dim 8 --mlp 32,16 --batch 256 --epochs 3 --threads 2 \
    --quiet --out "$T/r2.tsv" || bad "second run"
strip() { awk -F'\t' 'NR==1 { for (i = 1; i <= NF; i++) if ($i == "peak_rss_bytes" || $i ~ /_seconds$|_per_sec$/) drop[i] = 1 }
    { s = ""; for (i = 1; i <= NF; i++) if (!drop[i]) s = s $i "\t"; print s }' "$1"; }
[ "$(strip "$T/r1.tsv")" = "$(strip "$T/r2.tsv")" ] || bad "same seed, same row"
cut -f1-6 "$T/r1.curve.tsv" > "$T/c1"; cut -f1-6 "$T/r2.curve.tsv" > "$T/c2"
cmp -s "$T/c1" "$T/c2" || bad "same seed, same curve"

# --- without --out: header and row on stdout, no curve ---
"$H" train --data "$T/tiny" --dim 4 --mlp 8 --batch 512 --epochs 1 --quiet > "$T/stdout.tsv" || bad "stdout run"
[ "$(wc -l < "$T/stdout.tsv")" = 2 ] || bad "stdout holds header and row"

# --- hotcold plans from the train split's counts: it trains on a dataset, its hot-id map counted in
# emb_params and emb_bytes alike; plan --cards (no counts) reports it infeasible, exit 0 ---
"$H" train --data "$T/tiny" --emb hotcold --ratio 10 --dim 4 --mlp 8 --batch 512 --epochs 1 --quiet > "$T/hc.tsv" ||
    bad "train --emb hotcold"
[ "$(col "$T/hc.tsv" status)" = ok ] && [ "$(col "$T/hc.tsv" emb_bytes)" = "$(( $(col "$T/hc.tsv" emb_params) * 4 ))" ] ||
    bad "hotcold row: status $(col "$T/hc.tsv" status), emb_params $(col "$T/hc.tsv" emb_params), emb_bytes $(col "$T/hc.tsv" emb_bytes)"
"$H" plan --data "$T/tiny" --emb hotcold --ratio 10 --tsv | awk -F'\t' '$13 ~ /^hot=[0-9]+,m=[0-9]+$/ { n++ } END { exit !n }' ||
    bad "plan --data --emb hotcold: no hot=H,m=M in the hyper column"
"$H" plan --cards 1000,300 --emb hotcold --ratio 10 > "$T/hcp.txt" 2>&1 || bad "plan --cards --emb hotcold: exit $?"
grep -q "INFEASIBLE: field 0 (N=1000): hotcold chooses its hot ids from the train split's counts" "$T/hcp.txt" ||
    bad "plan --cards --emb hotcold: $(tail -1 "$T/hcp.txt")"

# --- --mlp none: no hidden layer, and the row's config gives it back (train, plan and bench parse it alike) ---
"$H" train --data "$T/tiny" --dim 4 --mlp none --batch 512 --epochs 1 --quiet > "$T/none.tsv" || bad "--mlp none"
cfg=$(awk -F'\t' 'NR == 1 { for (k = 1; k <= NF; k++) if ($k == "config") c = k } NR == 2 { print $c }' "$T/none.tsv")
case " $cfg " in *" mlp=none "*) ;; *) bad "--mlp none: config says '$cfg'" ;; esac
layers=$("$H" plan --cards 1000,50 --emb full --mlp none --cost | awk -F'\t' '$1 == "layers" { print $2 }')
[ "$layers" = 32x1 ] || bad "plan --mlp none --cost: layers '$layers', want 32x1 (2 fields x 16, then the output)"
"$H" train --data "$T/tiny" --mlp 1,2,3,4,5,6,7,8,9 2> "$T/err" && bad "--mlp with 9 layers accepted"
grep -q "at most 8 hidden layers" "$T/err" || bad "--mlp with 9 layers: $(head -1 "$T/err")"

# --- an MLP overfits a tiny set: valid = test = train, train AUC 1.0 ---
awk 'BEGIN { srand(3); print "label,a,b,c"; for (i = 0; i < 64; i++) printf "%d,a%d,b%d,c%d\n", rand() < 0.5, i, i % 7, i % 5 }' > "$T/small.csv"
printf 'label=label\ncat=a,b,c\n' > "$T/schema"
"$H" prep --format csv --schema "$T/schema" --train "$T/small.csv" --valid "$T/small.csv" --test "$T/small.csv" \
    --out "$T/small" 2>/dev/null || bad "prep small csv"
"$H" train --data "$T/small" --model mlp --dim 8 --mlp 32 --batch 16 --lr 0.01 --epochs 200 --patience 200 \
    --quiet --out "$T/of.tsv" || bad "overfit run"
[ "$(col "$T/of.tsv" valid_auc)" = 1 ] || bad "MLP overfits a tiny set: train AUC $(col "$T/of.tsv" valid_auc), want 1"

# --- bad flags exit 2 naming the flag; a bad dataset exits 1 ---
expect() { # expect STATUS PATTERN CMD...
    local want=$1 pat=$2; shift 2
    "$@" > "$T/out" 2> "$T/err"; local got=$?
    [ "$got" = "$want" ] || bad "exit $got (want $want): $*"
    grep -q -- "$pat" "$T/err" || bad "message lacks '$pat': $(head -1 "$T/err")"
}
expect 2 "--batch" "$H" train --data "$T/tiny" --batch 12x
expect 2 "--model" "$H" train --data "$T/tiny" --model cnn
expect 2 "--ratio" "$H" train --data "$T/tiny" --emb hash
expect 2 "--lr" "$H" train --data "$T/tiny" --lr -1
expect 2 "--data" "$H" train --emb full
expect 2 "--ratio" "$H" train --data "$T/tiny" --ratio 10
expect 2 "--out" "$H" train --data "$T/tiny" --out "$T/no/such/dir/r.tsv"
expect 2 "unrecognized" "$H" train --data "$T/tiny" --frobnicate 3
expect 1 "no such dataset" "$H" train --data "$T/nope"
cp -r "$T/tiny" "$T/broken"; truncate -s -8 "$T/broken/valid.bin"
expect 1 "valid.bin" "$H" train --data "$T/broken" --quiet
[ -f "$T/out.tsv" ] && bad "no result for a failed run"

# --- an infeasible layout and a diverged run: exit 0, a row that says so, nothing trained ---
"$H" train --data "$T/tiny" --emb qr --ratio 1e9 --compress-min 10 --quiet --out "$T/inf.tsv" 2> "$T/err" ||
    bad "infeasible: exit status"
[ "$(col "$T/inf.tsv" status)" = infeasible ] && [ "$(col "$T/inf.tsv" test_auc)" = NA ] &&
    [ "$(col "$T/inf.tsv" epochs)" = 0 ] && [ "$(col "$T/inf.tsv" emb_params)" != NA ] ||
    bad "infeasible row: status $(col "$T/inf.tsv" status), test_auc $(col "$T/inf.tsv" test_auc), sizes $(col "$T/inf.tsv" emb_params)"
[ -e "$T/inf.curve.tsv" ] && bad "infeasible: no curve"
grep -q "infeasible: ratio_compressed" "$T/err" || bad "infeasible: the reason on stderr"
"$H" train --data "$T/tiny" --optim sgd --lr 1000 --dim 4 --mlp 16 --epochs 2 --quiet --out "$T/div.tsv" 2> "$T/err" ||
    bad "diverged: exit status"
[ "$(col "$T/div.tsv" status)" = diverged ] && [ "$(col "$T/div.tsv" best_epoch)" = NA ] &&
    [ "$(col "$T/div.tsv" test_auc)" = NA ] || bad "diverged row: status $(col "$T/div.tsv" status)"
[ "$(wc -l < "$T/div.curve.tsv")" = 1 ] || bad "diverged in epoch 1: the curve has its header only"
grep -q "diverged" "$T/err" || bad "diverged: said on stderr"

# --- --dump-init: the initial state the PyTorch peer starts from (bench/peer_torch.py --init) ---
"$H" train --data "$T/tiny" --emb bh --ratio 10 --compress-min 10 --dim 8 --mlp 32,16 --batch 256 \
    --epochs 2 --quiet --dump-init "$T/init" 2> "$T/err" || bad "--dump-init: exit status ($(head -1 "$T/err"))"
I=$T/init
[ "$(sed -n 's/^version\t//p' "$I/init.tsv")" = 1 ] || bad "--dump-init: init.tsv version 1"
[ "$(grep -c '^order' "$I/init.tsv")" = 2 ] || bad "--dump-init: one order per epoch"
awk -F'\t' '$1 == "field" && $4 == "bh" { n++ } END { exit !n }' "$I/init.tsv" || bad "--dump-init: bh fields"
awk -F'\t' -v d="$I" '$1 == "table" { f = d "/" $6; c = "stat -c %s " f; c | getline sz; close(c);
    if (sz != $4 * $5 * 4) { print "  " f ": " sz " bytes, want " $4 * $5 * 4; bad = 1 } n++ }
    END { exit bad || !n }' "$I/init.tsv" || bad "--dump-init: each table file holds rows x width floats"
dense=$(awk -F'\t' '$1 == "dense" { print $3 }' "$I/init.tsv")
[ "$dense" = "$(col "$T/r1.tsv" dense_params)" ] && [ "$(stat -c %s "$I/dense.f32")" = $((dense * 4)) ] ||
    bad "--dump-init: dense.f32 holds the backbone's $(col "$T/r1.tsv" dense_params) parameters (init.tsv: $dense)"
ntrain=$(awk -F'\t' '$1 == "order" && $2 == 1 { print $4 }' "$I/init.tsv")
od -An -v -tu4 -w4 "$I/order.1.u32" | sort -n | awk -v n="$ntrain" '{ if ($1 != NR - 1) bad = 1 } END { exit bad || NR != n }' ||
    bad "--dump-init: order.1.u32 is a permutation of the $ntrain training rows"
cmp -s "$I/order.1.u32" "$I/order.2.u32" && bad "--dump-init: the epochs' orders differ"
expect 2 "--dump-init: '$I' exists" "$H" train --data "$T/tiny" --dump-init "$I"
expect 2 "--dump-init: '$I' exists" "$H" train --data "$T/tiny" --dump-init "$I/"
expect 2 "--dump-init and --out" "$H" train --data "$T/tiny" --dump-init "$T/init3" --out "$T/x.tsv"
expect 2 "cannot write into directory '$T/no/such'" "$H" train --data "$T/tiny" --dump-init "$T/no/such/init"
"$H" train --data "$T/tiny" --dim 4 --mlp 8 --epochs 1 --quiet --dump-init "$T/init4/" 2> "$T/err" &&
    [ -f "$T/init4/init.tsv" ] || bad "--dump-init DIR/: a trailing slash names the same directory ($(head -1 "$T/err"))"
grep -q "^dataset_source	gen --profile tiny" "$T/init4/init.tsv" || bad "--dump-init: the dataset's source recorded"
expect 1 "nothing to write" "$H" train --data "$T/tiny" --emb qr --ratio 1e9 --compress-min 10 --dump-init "$T/init2"
[ -e "$T/init2" ] && bad "--dump-init: no directory for an infeasible run"
ls -d "$T"/init*.tmp.* >/dev/null 2>&1 && bad "--dump-init: temporary directory left behind"

# --- --steps N: N batches across epochs (the tiny set's 48,000 train rows are 188 batches of 256),
# no evaluation ---
"$H" train --data "$T/tiny" --emb full --dim 8 --mlp 16 --batch 256 --steps 200 --threads 2 --quiet \
    --out "$T/steps.tsv" || bad "--steps run"
[ "$(col "$T/steps.tsv" epochs)" = 2 ] && [ "$(col "$T/steps.tsv" test_auc)" = NA ] &&
    [ "$(col "$T/steps.tsv" best_epoch)" = NA ] || bad "--steps 200: 2 epochs begun, metrics NA"
awk -v t="$(col "$T/steps.tsv" train_seconds)" -v s="$(col "$T/steps.tsv" samples_per_sec)" \
    'BEGIN { exit !((t * s - 51072)^2 < 1) }' || bad "--steps 200: samples/s x seconds is not 48,000 + 12 x 256 samples"
grep -q " steps=200" "$T/steps.tsv" || bad "--steps in the config column"
# one dataset spelled two ways is one run: the same run_id
"$H" train --data "$T/./tiny/" --emb full --dim 8 --mlp 16 --batch 256 --steps 200 --threads 2 --quiet \
    --out "$T/steps2.tsv" || bad "--steps run, --data spelled otherwise"
[ "$(col "$T/steps.tsv" run_id)" = "$(col "$T/steps2.tsv" run_id)" ] || bad "--data T/./tiny/ and T/tiny: two run_ids"
"$H" train --data "$T/tiny" --emb full --steps 5 --save "$T/ss" 2> /dev/null
[ $? = 2 ] || bad "--steps with --save: refused"

# --- the real Criteo sample: valid AUC >= 0.68 with the full table ---
if [ -f "$SHARED/data/criteo/criteo_dac_train7200.tsv.gz" ]; then
    C=$SHARED/data/criteo
    "$H" prep --format criteo --train "$C/criteo_dac_train7200.tsv.gz" --valid "$C/criteo_dac_dev409.tsv.gz" \
        --test "$C/criteo_dac_test391.tsv.gz" --out "$T/criteo" 2>/dev/null || bad "prep criteo"
    "$H" train --data "$T/criteo" --model deepfm --emb full --batch 256 --epochs 5 --seed 3 --quiet \
        --out "$T/criteo.tsv" || bad "train criteo"
    v=$(col "$T/criteo.tsv" valid_auc)
    awk -v v="$v" 'BEGIN { exit !(v >= 0.68) }' || bad "Criteo sample valid AUC $v < 0.68"
    [ "$(col "$T/criteo.tsv" oracle_auc)" = NA ] || bad "oracle NA on real data"
    echo "  criteo sample: valid AUC $v, test AUC $(col "$T/criteo.tsv" test_auc)"
else
    echo "  skip: $SHARED/data/criteo not found (the real-sample check needs ../shared)"
fi
exit $fail
