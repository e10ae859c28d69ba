#!/usr/bin/env bash
# make bench: the speed and memory measurements of SPEC 8, written to results/bench/ (see bench/README.md).
#   train   hashemb train samples/s (DeepFM 39 fields, d=16, MLP 400-400-400, batch 4096, 1 epoch on
#           gen criteo 400k rows at vocab-scale 0.01) per strategy and thread count; ratio to full;
#           2-thread speedup
#   peer    the PyTorch peer (bench/peer_torch.py) on the same data, or a row saying why it was skipped
#   sgemm   hashemb bench sgemm at the model's layer shapes; the sgemm-bound ceiling and the share of it
#           the full-table run reaches; hashemb bench model (forward + backward alone)
#   prep    prep MB/s (one thread) on the real Criteo sample repeated to ~100 MB and on gen --text output
#   gen     gen rows/s (1M criteo rows, the quick sweep's data) and its vocabulary memory per value
#   growth  one criteo set of Criteo Kaggle's 45,840,617 train rows, made once: N_f per field against
#           the listed cardinalities (GROWTH=0 skips it)
#   auc     seconds of metric_auc on 10M predictions
#   scale   samples/s and peak RSS of full, hash, qr and bh at quick's vocabulary (1.36M ids) and at
#           Criteo's (33.8M, the growth set), a fixed number of batches a run (SCALE=0 skips it)
#   memory  peak RSS of the full-table run against the bytes it accounts for
# Every timing is the median of REPS runs (default 3), runs of different configurations interleaved,
# each rep in another order, so drift hits them alike. AGREE=1 runs the accuracy agreement with the peer instead
# (agree.tsv, agree_check.tsv and agree_strategies.tsv; AGREE=full, check or strategies runs one part;
# exit 1 when a part disagrees).
#
# Environment: REPS (3), THREADS ("1 2"), STRATS1 (strategies at 1 thread), STRATS2 (at the other
# thread counts; every strategy at r = 100 and 1000), ONLY=train (section a alone), ONLY=scale (the scale section alone), PEER_THREADS ("2"), PEER_STEPS (40 training steps per peer run; 0 = a whole epoch),
# OUT (results/bench), HASHEMB (build/hashemb), PY (/usr/bin/python3), AGREE_SEEDS ("1 2 3"),
# AGREE_THREADS (2), AGREE_STRATS ("full", then hash, qr, bh, dhash, robe, hotcold, tt, dhe and qr3 at 10
# and 100, mde at 5 and 10: its ceiling is about w).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
HASHEMB=${HASHEMB:-$ROOT/build/hashemb}
PY=${PY:-/usr/bin/python3}
REPS=${REPS:-3}
THREADS=${THREADS:-1 2}
STRATS1=${STRATS1:-full hash:100 qr:100 bh:100}
STRATS2=${STRATS2:-full hash:100 qr:100 bh:100 dhash:100 robe:100 hotcold:100 hash:1000 qr:1000 bh:1000 dhash:1000 robe:1000 hotcold:1000}
PEER_THREADS=${PEER_THREADS:-2}
PEER_STEPS=${PEER_STEPS:-40}
OUT=${OUT:-$ROOT/results/bench}
WORK=$OUT/work
RAW=$OUT/raw
LOGS=$WORK/logs
CRITEO_SAMPLE=${CRITEO_SAMPLE:-$ROOT/../shared/data/criteo/criteo_dac_train7200.tsv.gz}
DATA=$WORK/criteo400k
GEN_ARGS=(--profile criteo --rows 400000 --vocab-scale 0.01 --seed 1)
# shellcheck disable=SC2054
TRAIN_ARGS=(--model deepfm --dim 16 --mlp 400,400,400 --batch 4096 --epochs 1 --seed 1)

[ -x "$HASHEMB" ] || { echo "bench: $HASHEMB not built (make)" >&2; exit 1; }
mkdir -p "$OUT" "$WORK" "$RAW" "$LOGS"
T_START=$(date +%s.%N)

say() { printf '%s\n' "$*" >&2; }
now() { date +%s.%N; }
# median of the numbers on stdin (NA when none)
median() { { grep -E '^[-+]?[0-9.]+([eE][-+]?[0-9]+)?$' || true; } | sort -g | awk '{ v[NR] = $1 } END { if (!NR) print "NA"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.6g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# column NAME of a header+row TSV on stdin
col() { awk -F'\t' -v c="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) k = i; next } k { print $k }'; }
# value of KEY in a two-column key/value TSV file
kv() { awk -F'\t' -v k="$2" '$1 == k { print $2 }' "$1"; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "NA" || b == "NA" || b == 0) print "NA"; else printf "%.4g\n", a / b }'; }
fsize() { stat -c %s "$1"; }

# --- the data, made once and reused -----------------------------------------------------------------
make_data() {
    if [ -f "$DATA/dataset.meta" ] && grep -q "^source=gen --profile criteo --rows 400000 --vocab-scale 0.01 " "$DATA/dataset.meta" &&
        [ "$(sed -n 's/^gen_version=//p' "$DATA/dataset.meta")" = "$("$HASHEMB" gen --version | cut -d' ' -f2)" ]; then
        return
    fi
    say "bench: making $DATA (gen ${GEN_ARGS[*]})"
    "$HASHEMB" gen "${GEN_ARGS[@]}" --out "$DATA" 2>"$LOGS/gen_data.log"
}

# --- the full-size criteo set (Criteo Kaggle's 45,840,617 train rows, 57.3M rows, about 9.5 GB),
# generated once and kept in $GROWTH_DIR while the generator's version and recipe stay (growth and
# scale read it; the paper sweep's synthetic dataset is the same set, reused where run_all.sh made it)
GROWTH_DIR=${GROWTH_DIR:-$ROOT/results/data/bench-criteo-full}
G_SRC="gen --profile criteo --rows 57300772 --vocab-scale 1 --id-order hash --min-count 1 --seed 1"
same_set() { [ -f "$1/dataset.meta" ] && [ "$(sed -n 's/^source=//p' "$1/dataset.meta")" = "$G_SRC" ] &&
    [ "$(sed -n 's/^gen_version=//p' "$1/dataset.meta")" = "$("$HASHEMB" gen --version | cut -d' ' -f2)" ]; }
full_set() {
    rm -f "$LOGS/gen_full.log" # its speed line is this run's, or none when the set is reused
    if ! same_set "$GROWTH_DIR"; then
        for d in "$ROOT"/results/data/gen-*; do
            if same_set "$d"; then GROWTH_DIR=$d; break; fi
        done
    fi
    if ! same_set "$GROWTH_DIR"; then
        mkdir -p "$(dirname "$GROWTH_DIR")"
        "$HASHEMB" gen --profile criteo --rows 57300772 --seed 1 --out "$GROWTH_DIR" 2>"$LOGS/gen_full.log" ||
            say "bench: the full-size gen failed (see $LOGS/gen_full.log)"
    fi
}

# --- scale: the full table and three compressions at quick's vocabulary (gen criteo, 1M rows: 1.36M
# ids) and at Criteo's (the full-size set: 33.8M ids), quick's model, SCALE_STEPS batches a run
# (train --steps: no evaluation, so the section stays short), REPS reps interleaved, 2 threads (or
# SCALE_THREADS): samples/s and peak RSS medians in scale.tsv; the full table at Criteo's vocabulary
# also on 4 KiB pages (HASHEMB_HUGEPAGES=0: what huge pages bring); one --profile run of the full
# table at each vocabulary (scale_profile_*.txt). SCALE=0 skips it; ONLY=scale runs it alone.
SCALE_STEPS=${SCALE_STEPS:-150}
SCALE_STRATS=${SCALE_STRATS:-full hash:100 qr:100 bh:100}
SCALE_THREADS=${SCALE_THREADS:-$(nproc)}
scale_section() {
    local qd=$WORK/criteo1m sf=$OUT/scale.tsv sr=$RAW/scale_runs.tsv v s hp d r rep j n t0 wall
    local -a jobs=() ea
    say "bench: scale: quick's vocabulary and Criteo's, $SCALE_STEPS batches a run, ${REPS} reps, $SCALE_THREADS threads"
    if ! { [ -f "$qd/dataset.meta" ] && grep -q '^source=gen --profile criteo --rows 1000000 ' "$qd/dataset.meta" &&
        [ "$(sed -n 's/^gen_version=//p' "$qd/dataset.meta")" = "$("$HASHEMB" gen --version | cut -d' ' -f2)" ]; }; then
        "$HASHEMB" gen --profile criteo --rows 1000000 --seed 1 --id-order hash --out "$qd" 2>"$LOGS/gen_quick.log"
    fi
    full_set
    if [ ! -f "$GROWTH_DIR/dataset.meta" ]; then say "bench: scale: no full-size set, skipped"; return; fi
    for v in quick criteo; do for s in $SCALE_STRATS; do jobs+=("$v $s 1"); done; done
    jobs+=("criteo full 0")
    rm -f "$sr"
    for rep in $(seq 1 "$REPS"); do
        for j in $(seq 0 $((${#jobs[@]} - 1))); do
            read -r v s hp <<<"${jobs[$(( (j + (rep - 1) * ${#jobs[@]} / REPS) % ${#jobs[@]} ))]}"
            d=$qd; [ "$v" = criteo ] && d=$GROWTH_DIR
            case $s in full) ea=(--emb full) ;; *) ea=(--emb "${s%%:*}" --ratio "${s##*:}") ;; esac
            t0=$(now)
            r=$(HASHEMB_HUGEPAGES=$hp "$HASHEMB" train --data "$d" --model deepfm --dim 16 --mlp 256,128 --batch 4096 \
                --seed 1 --steps "$SCALE_STEPS" "${ea[@]}" --threads "$SCALE_THREADS" --quiet 2>>"$LOGS/scale.log") || true
            wall=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
            [ -n "$r" ] || { say "  rep $rep, $v, $s: failed (see $LOGS/scale.log)"; continue; }
            [ -f "$sr" ] || printf 'vocab\tstrategy\thugepages\trep\twall_seconds\t%s\n' "$(head -1 <<<"$r")" >"$sr"
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$v" "$s" "$hp" "$rep" "$wall" "$(tail -1 <<<"$r")" >>"$sr"
            say "  rep $rep, $v vocabulary, $s$([ "$hp" = 0 ] && echo ' (4 KiB pages)'): $(col samples_per_sec <<<"$r") samples/s," \
                "peak RSS $(awk -v b="$(col peak_rss_bytes <<<"$r")" 'BEGIN { printf "%.2f GB", b / 1e9 }'), ${wall} s wall"
        done
    done
    [ -f "$sr" ] || return
    local c_sps c_rss
    c_sps=$(awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "samples_per_sec") print i; exit }' "$sr")
    c_rss=$(awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "peak_rss_bytes") print i; exit }' "$sr")
    smed() { awk -F'\t' -v v="$1" -v s="$2" -v h="$3" -v c="$4" 'NR > 1 && $1 == v && $2 == s && $3 == h { print $c }' "$sr" | median; }
    ids() { awk -F'=' '$1 == "cardinalities" { n = split($2, a, ","); for (i = 1; i <= n; i++) t += a[i]; print t }' "$1/dataset.meta"; }
    printf 'vocab\tids\tstrategy\thugepages\treps\tsamples_per_sec\trel_to_quick_vocab\tpeak_rss_bytes\tcpu\n' >"$sf"
    for j in "${jobs[@]}"; do
        read -r v s hp <<<"$j"
        d=$qd; [ "$v" = criteo ] && d=$GROWTH_DIR
        n=$(awk -F'\t' -v v="$v" -v s="$s" -v h="$hp" 'NR > 1 && $1 == v && $2 == s && $3 == h' "$sr" | wc -l)
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$v" "$(ids "$d")" "$s" "$hp" "$n" "$(smed "$v" "$s" "$hp" "$c_sps")" \
            "$(div "$(smed "$v" "$s" "$hp" "$c_sps")" "$(smed quick "$s" 1 "$c_sps")")" "$(smed "$v" "$s" "$hp" "$c_rss")" \
            "$CPU" >>"$sf"
    done
    for v in quick criteo; do
        d=$qd; [ "$v" = criteo ] && d=$GROWTH_DIR
        "$HASHEMB" train --data "$d" --model deepfm --dim 16 --mlp 256,128 --batch 4096 --seed 1 --steps "$SCALE_STEPS" \
            --emb full --threads "$SCALE_THREADS" --profile 2>"$OUT/scale_profile_$v.txt" >/dev/null || true
    done
    say ""; say "== scale (scale.tsv)"; column -t -s $'\t' "$sf" >&2
}

torch_status() { # prints "ok VERSION" or "skipped: reason"
    if [ ! -x "$PY" ]; then echo "skipped: $PY not found (Debian python3; make bench-peer installs python3-torch)"; return; fi
    local v
    if v=$("$PY" -c 'import torch, numpy; print(torch.__version__)' 2>/dev/null); then echo "ok $v"
    else echo "skipped: $PY cannot import torch and numpy (make bench-peer installs python3-torch)"; fi
}

# =====================================================================================================
# AGREE=1: the accuracy agreement with the peer, in three parts (AGREE=full, check or strategies runs one):
#  full        full-table DeepFM test AUC of hashemb and the peer, each with its own init and order, seeds
#              1 2 3, 2 epochs (SPEC 8: the means within 0.005): agree.tsv
#  strategies  every strategy at two ratios (AGREE_STRATS), 1 epoch, the peer started from hashemb's
#              initial values and epoch order (train --dump-init; peer_torch.py --init) with its own
#              lookups and torch.optim.SparseAdam, and again with SparseAdam's eps placed as hashemb
#              places it (--sparse-adam hashemb); seeds 1 2 3, the means within 0.003: agree_strategies.tsv
#  check       (also run by strategies) the peer itself: every strategy and option on a 25,000-row set,
#              one epoch with --sparse-adam hashemb, valid AUC and logloss equal to rounding: agree_check.tsv
if [ "${AGREE:-0}" != 0 ]; then
    AGREE_SEEDS=${AGREE_SEEDS:-1 2 3}
    AGREE_THREADS=${AGREE_THREADS:-2}
    AGREE_STRATS=${AGREE_STRATS:-full hash:10 hash:100 qr:10 qr:100 bh:10 bh:100 dhash:10 dhash:100 robe:10 robe:100 hotcold:10 hotcold:100 mde:5 mde:10 tt:10 tt:100 dhe:10 dhe:100 qr3:10 qr3:100}
    case $AGREE in 1|full|strategies|check) ;; *) say "bench: AGREE=$AGREE: give 1, full, strategies or check"; exit 2 ;; esac
    ts=$(torch_status)
    case $ts in ok*) ;; *) say "bench: agreement needs the peer: $ts"; exit 1 ;; esac
    make_data
fi
if [ "${AGREE:-0}" = 1 ] || [ "${AGREE:-0}" = full ]; then
    f=$OUT/agree.tsv
    printf 'seed\thashemb_test_auc\tpeer_test_auc\tdiff\thashemb_best_epoch\tpeer_best_epoch\thashemb_valid_auc\tpeer_valid_auc\n' >"$f.tmp"
    for s in $AGREE_SEEDS; do
        say "bench: agree seed $s: hashemb"
        h=$("$HASHEMB" train --data "$DATA" --model deepfm --dim 16 --mlp 400,400,400 --batch 4096 \
            --epochs 2 --patience 1 --seed "$s" --threads "$AGREE_THREADS" --quiet 2>>"$LOGS/agree.log")
        say "bench: agree seed $s: peer"
        p=$("$PY" bench/peer_torch.py --data "$DATA" --model deepfm --dim 16 --mlp 400,400,400 --batch 4096 \
            --epochs 2 --patience 1 --seed "$s" --threads "$AGREE_THREADS" 2>>"$LOGS/agree.log")
        ha=$(col test_auc <<<"$h"); pa=$(col test_auc <<<"$p")
        printf '%s\t%s\t%s\t%.6f\t%s\t%s\t%s\t%s\n' "$s" "$ha" "$pa" "$(awk -v a="$ha" -v b="$pa" 'BEGIN { print a - b }')" \
            "$(col best_epoch <<<"$h")" "$(col best_epoch <<<"$p")" "$(col valid_auc <<<"$h")" "$(col valid_auc <<<"$p")" >>"$f.tmp"
    done
    awk -F'\t' 'NR > 1 { n++; h += $2; p += $3 } { print } END { d = (h - p) / n;
        printf "mean\t%.6f\t%.6f\t%.6f\tNA\tNA\tNA\tNA\n", h / n, p / n, d;
        printf "# |mean diff| %.4f: %s (SPEC: within 0.005)\n", d < 0 ? -d : d, (d < 0 ? -d : d) <= 0.005 ? "agree" : "DISAGREE" > "/dev/stderr" }' \
        "$f.tmp" >"$f.tmp2" && mv "$f.tmp2" "$f" && rm -f "$f.tmp"
    column -t -s $'\t' "$f" >&2
fi
AGREE_FAILED=0
if [ "${AGREE:-0}" = 1 ] || [ "${AGREE:-0}" = strategies ] || [ "${AGREE:-0}" = check ]; then
    # the peer's own check: with hashemb's eps placement, the same init and order, both compute the same
    # thing, so after one short epoch (a 25,000-row set: 5 steps) valid AUC and logloss agree to float
    # rounding, for every strategy and option. The peer with torch's own SparseAdam beside it shows
    # that the check can tell the two optimizers apart: agree_check.tsv
    small=$WORK/criteo25k
    if [ ! -f "$small/dataset.meta" ] || [ "$(sed -n 's/^gen_version=//p' "$small/dataset.meta")" != "$("$HASHEMB" gen --version | cut -d' ' -f2)" ]; then
        "$HASHEMB" gen --profile criteo --rows 25000 --vocab-scale 0.01 --seed 3 --out "$small" 2>>"$LOGS/agree.log" </dev/null
    fi
    f=$OUT/agree_check.tsv
    printf 'flags\thashemb_valid_auc\tpeer_valid_auc\thashemb_valid_logloss\tpeer_valid_logloss\tverdict\tpeer_sparseadam_valid_auc\n' >"$f.tmp"
    bad=0
    while IFS= read -r fl; do
        read -ra fa <<<"$fl"
        rm -rf "$WORK/check_init"
        targs=(--data "$small" "${fa[@]}" --epochs 1 --seed 1 --threads "$AGREE_THREADS" --quiet)
        "$HASHEMB" train "${targs[@]}" --dump-init "$WORK/check_init" 2>>"$LOGS/agree.log" </dev/null
        h=$("$HASHEMB" train "${targs[@]}" 2>>"$LOGS/agree.log" </dev/null)
        p=$("$PY" bench/peer_torch.py --data "$small" --init "$WORK/check_init" --epochs 1 --threads "$AGREE_THREADS" \
            --sparse-adam hashemb 2>>"$LOGS/agree.log" </dev/null)
        q=$("$PY" bench/peer_torch.py --data "$small" --init "$WORK/check_init" --epochs 1 --threads "$AGREE_THREADS" \
            2>>"$LOGS/agree.log" </dev/null)
        v=$(awk -v a="$(col valid_auc <<<"$h")" -v b="$(col valid_auc <<<"$p")" -v c="$(col valid_logloss <<<"$h")" \
            -v d="$(col valid_logloss <<<"$p")" 'BEGIN { x = a - b; y = c - d; print (x < 0 ? -x : x) <= 1e-4 && (y < 0 ? -y : y) <= 1e-5 ? "same" : "DIFFERENT" }')
        [ "$v" = same ] || bad=$((bad + 1))
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$fl" "$(col valid_auc <<<"$h")" "$(col valid_auc <<<"$p")" \
            "$(col valid_logloss <<<"$h")" "$(col valid_logloss <<<"$p")" "$v" "$(col valid_auc <<<"$q")" >>"$f.tmp"
    done <<'FLAGS'
--emb full
--emb hash --ratio 10
--emb hash --ratio 1000
--emb qr --ratio 10
--emb qr --ratio 10 --qr-op add
--emb qr --ratio 10 --qr-op concat
--emb bh --ratio 10
--emb bh --ratio 100 --bh-fuse mean
--emb bh --ratio 10 --bh-table per-block
--emb bh --ratio 30 --bh-table per-block --bh-fuse concat
--emb bh --ratio 10 --bh-blocks skip
--emb bh --ratio 30 --bh-blocks skip --bh-table per-block --bh-fuse concat
--emb bh --ratio 10 --bh-bits 12
--model mlp --emb bh --ratio 10
--emb dhash --ratio 10
--emb dhash --ratio 100 --dhash-k 3
--emb dhash --ratio 10 --dhash-weights learned
--emb robe --ratio 10
--emb robe --ratio 100 --robe-z 2
--emb hotcold --ratio 10
--emb hotcold --ratio 100
--emb mde --ratio 5
--emb mde --ratio 8 --mde-blocks 2 --mde-alpha 1
--emb tt --ratio 10
--emb tt --ratio 100
--emb dhe --ratio 10
--emb dhe --ratio 100 --dhe-dist gaussian --dhe-k 8 --dhe-layers 1
--emb qr3 --ratio 10
--emb qr3 --ratio 10 --qr3-op mult
FLAGS
    rm -rf "$WORK/check_init"
    mv "$f.tmp" "$f"
    column -t -s $'\t' "$f" >&2
    if [ "$bad" = 0 ]; then
        say "# the peer's check: every configuration the same (valid AUC within 1e-4, logloss within 1e-5)"
    else
        say "# the peer's check: $bad configuration(s) DIFFERENT: the peer is not a reference; no strategies run"
        AGREE_FAILED=1
    fi
fi
if { [ "${AGREE:-0}" = 1 ] || [ "${AGREE:-0}" = strategies ]; } && [ "$AGREE_FAILED" = 0 ]; then
    f=$OUT/agree_strategies.tsv
    init=$WORK/agree_init
    printf 'strategy\tratio\tseed\tvariant\tratio_compressed\thashemb_test_auc\tpeer_test_auc\tdiff\tpeer_heps_test_auc\tdiff_heps\n' >"$f.tmp"
    for st in $AGREE_STRATS; do
        emb=${st%%:*}; r=${st#*:}; [ "$emb" = "$st" ] && r=1
        eargs=(--emb "$emb"); [ "$emb" = full ] || eargs+=(--ratio "$r")
        for s in $AGREE_SEEDS; do
            targs=(--data "$DATA" "${TRAIN_ARGS[@]}" "${eargs[@]}" --epochs 1 --seed "$s" --threads "$AGREE_THREADS" --quiet)
            say "bench: agree $st seed $s: hashemb, then the peer with SparseAdam and with hashemb's eps"
            rm -rf "$init"
            if ! "$HASHEMB" train "${targs[@]}" --dump-init "$init" 2>>"$LOGS/agree.log" </dev/null; then
                # an infeasible layout (or a failure): no init to start from; the row says NA
                h=$("$HASHEMB" train "${targs[@]}" 2>>"$LOGS/agree.log" </dev/null || true)
                printf '%s\t%s\t%s\t%s\t%s\tNA\tNA\tNA\tNA\tNA\n' "$emb" "$r" "$s" "$(col variant <<<"$h")" \
                    "$(col ratio_compressed <<<"$h")" >>"$f.tmp"
                continue
            fi
            h=$("$HASHEMB" train "${targs[@]}" 2>>"$LOGS/agree.log" </dev/null)
            p=$("$PY" bench/peer_torch.py --data "$DATA" --init "$init" --epochs 1 --threads "$AGREE_THREADS" 2>>"$LOGS/agree.log" </dev/null)
            q=$("$PY" bench/peer_torch.py --data "$DATA" --init "$init" --epochs 1 --threads "$AGREE_THREADS" \
                --sparse-adam hashemb 2>>"$LOGS/agree.log" </dev/null)
            ha=$(col test_auc <<<"$h"); pa=$(col test_auc <<<"$p"); qa=$(col test_auc <<<"$q")
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.6f\t%s\t%.6f\n' "$emb" "$r" "$s" "$(col variant <<<"$h")" \
                "$(col ratio_compressed <<<"$h")" "$ha" "$pa" "$(awk -v a="$ha" -v b="$pa" 'BEGIN { print a - b }')" \
                "$qa" "$(awk -v a="$ha" -v b="$qa" 'BEGIN { print a - b }')" >>"$f.tmp"
        done
    done
    rm -rf "$init"
    # per strategy and ratio: the means over the seeds, and the verdict (|mean diff| within 0.003); a
    # point with an NA (infeasible) row gets no mean
    awk -F'\t' 'NR == 1 { print; next } { print; k = $1 "\t" $2; if (!(k in n)) order[++K] = k;
        n[k]++; if ($6 == "NA") na[k] = 1; h[k] += $6; p[k] += $7; q[k] += $9; v[k] = $4; rc[k] = $5 }
        END { bad = 0; for (i = 1; i <= K; i++) { k = order[i];
            if (na[k]) { printf "# %s: NA (no initial state: infeasible, or a failure in agree.log)\n", k > "/dev/stderr"; continue }
            d = (h[k] - p[k]) / n[k]; e = (h[k] - q[k]) / n[k];
            ad = d < 0 ? -d : d; if (ad > 0.003) bad++;
            printf "%s\tmean\t%s\t%s\t%.6f\t%.6f\t%.6f\t%.6f\t%.6f\n", k, v[k], rc[k], h[k] / n[k], p[k] / n[k], d, q[k] / n[k], e;
            printf "# %s: |mean diff| %.4f: %s (within 0.003)\n", k, ad, ad <= 0.003 ? "agree" : "DISAGREE" > "/dev/stderr" }
            if (bad) { printf "# %d strategy/ratio point(s) DISAGREE\n", bad > "/dev/stderr"; exit 1 } }' \
        "$f.tmp" >"$f.tmp2" || AGREE_FAILED=1
    mv "$f.tmp2" "$f" && rm -f "$f.tmp"
    grep -v '^#' "$f" | awk -F'\t' '$3 == "mean" || NR == 1' | column -t -s $'\t' >&2
fi
[ "${AGREE:-0}" = 0 ] || exit "$AGREE_FAILED"

# =====================================================================================================
# 0. environment
GIT_SHA=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src Makefile 2>/dev/null || echo -dirty)
CPU=$(lscpu 2>/dev/null | awk -F': *' '/^Model name/ { print $2; exit }')
SETUP=$("$HASHEMB" bench auc --n 2 --reps 1 --threads 1 2>&1 >/dev/null | grep '^# hashemb' || true)
BLAS_CORE=$(sed -n 's/.*OpenBLAS core \([^ ]*\) (\([^)]*\)).*/\1/p' <<<"$SETUP")
BLAS_SRC=$(sed -n 's/.*OpenBLAS core \([^ ]*\) (\([^)]*\)).*/\2/p' <<<"$SETUP")
BLAS_BUILD=$(sed -n 's/.*, \([a-z]*\) build (parallel=\([0-9]*\)).*/\1/p' <<<"$SETUP")
BLAS_PAR=$(sed -n 's/.*, \([a-z]*\) build (parallel=\([0-9]*\)).*/\2/p' <<<"$SETUP")
TORCH=$(torch_status)
ENVF=$OUT/env.tsv
{
    printf 'key\tvalue\n'
    printf 'date\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    printf 'git_sha\t%s\n' "$GIT_SHA"
    printf 'hashemb\t%s\n' "$("$HASHEMB" --version)"
    printf 'cpu\t%s\n' "${CPU:-unknown}"
    printf 'cores\t%s\n' "$(nproc)"
    printf 'blas_core\t%s\n' "$BLAS_CORE"
    printf 'blas_core_source\t%s\n' "$BLAS_SRC"
    printf 'blas_build\t%s\n' "$BLAS_BUILD"
    printf 'blas_parallel\t%s\n' "$BLAS_PAR"
    printf 'threads\t%s\n' "$THREADS"
    printf 'peer_threads\t%s\n' "$PEER_THREADS"
    printf 'reps\t%s\n' "$REPS"
    printf 'torch\t%s\n' "$TORCH"
    printf 'loadavg_start\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$ENVF"
say "bench: $CPU, $(nproc) cores; OpenBLAS core $BLAS_CORE ($BLAS_SRC), $BLAS_BUILD build (parallel=$BLAS_PAR); threads $THREADS; REPS=$REPS; git $GIT_SHA"
load1=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load1" 'BEGIN { exit !(l > 0.5) }'; then
    say "bench: warning: load average $load1 before starting: other processes will distort the timings"
fi

make_data
if [ "${ONLY:-}" = scale ]; then
    scale_section
    exit 0
fi

# =====================================================================================================
# a. training throughput: raw rows in raw/train_runs.tsv (every result column + rep), medians in train.tsv
say "bench: training throughput (${REPS} reps; 1 epoch of $(grep '^rows_train=' "$DATA/dataset.meta" | cut -d= -f2) rows each)"
TRAW=$RAW/train_runs.tsv
rm -f "$TRAW"
emb_args() { # full | STRATEGY:RATIO
    case $1 in full) echo "--emb full" ;; *) echo "--emb ${1%%:*} --ratio ${1##*:}" ;; esac
}
# every (threads, strategy) run once per rep; each rep starts the list at another place, so that no
# configuration always runs at the same point of the machine's slow and fast spells
JOBS=()
for t in $THREADS; do
    if [ "$t" = 1 ]; then strats=$STRATS1; else strats=$STRATS2; fi
    for s in $strats; do JOBS+=("$t $s"); done
done
for rep in $(seq 1 "$REPS"); do
    for j in $(seq 0 $((${#JOBS[@]} - 1))); do
        read -r t s <<<"${JOBS[$(( (j + (rep - 1) * ${#JOBS[@]} / REPS) % ${#JOBS[@]} ))]}"
        t0=$(now)
        # shellcheck disable=SC2046
        r=$("$HASHEMB" train --data "$DATA" "${TRAIN_ARGS[@]}" $(emb_args "$s") --threads "$t" --quiet 2>>"$LOGS/train.log")
        wall=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
        [ -f "$TRAW" ] || printf 'strategy\trep\twall_seconds\t%s\n' "$(head -1 <<<"$r")" >"$TRAW"
        printf '%s\t%s\t%s\t%s\n' "$s" "$rep" "$wall" "$(tail -1 <<<"$r")" >>"$TRAW"
        say "  rep $rep, $t thread(s), $s: $(col samples_per_sec <<<"$r") samples/s (${wall} s wall)"
    done
done
# medians per strategy and thread count
tcol() { awk -F'\t' -v c="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) k = i; exit } END { print k }' "$TRAW"; }
C_SPS=$(tcol samples_per_sec); C_THR=$(tcol threads); C_RSS=$(tcol peak_rss_bytes); C_AUC=$(tcol test_auc)
C_RA=$(tcol ratio_actual); C_EB=$(tcol emb_bytes); C_OB=$(tcol opt_bytes); C_DP=$(tcol dense_params); C_ST=$(tcol status)
tmed() { # strategy threads column -> median over reps
    awk -F'\t' -v s="$1" -v t="$2" -v c="$3" -v ct="$C_THR" 'NR > 1 && $1 == s && $ct == t { print $c }' "$TRAW" | median
}
tfirst() { awk -F'\t' -v s="$1" -v t="$2" -v c="$3" -v ct="$C_THR" 'NR > 1 && $1 == s && $ct == t { print $c; exit }' "$TRAW"; }
TF=$OUT/train.tsv
printf 'strategy\temb\tratio_target\tthreads\treps\tsamples_per_sec\tmin\tmax\trel_to_full\tspeedup_vs_1_thread\tratio_actual\ttest_auc\tpeak_rss_bytes\tstatus\n' >"$TF"
for s in $STRATS2 $STRATS1; do
    for t in $THREADS; do
        n=$(awk -F'\t' -v s="$s" -v t="$t" -v ct="$C_THR" 'NR > 1 && $1 == s && $ct == t' "$TRAW" | wc -l)
        [ "$n" -gt 0 ] || continue
        awk -F'\t' -v s="$s" -v t="$t" '$1 == s && $4 == t { f = 1 } END { exit !f }' "$TF" && continue
        sps=$(tmed "$s" "$t" "$C_SPS")
        mn=$(awk -F'\t' -v s="$s" -v t="$t" -v c="$C_SPS" -v ct="$C_THR" 'NR > 1 && $1 == s && $ct == t { print $c }' "$TRAW" | sort -g | head -1)
        mx=$(awk -F'\t' -v s="$s" -v t="$t" -v c="$C_SPS" -v ct="$C_THR" 'NR > 1 && $1 == s && $ct == t { print $c }' "$TRAW" | sort -g | tail -1)
        full=$(tmed full "$t" "$C_SPS")
        one=$(tmed "$s" 1 "$C_SPS")
        sp=NA; [ "$t" != 1 ] && sp=$(div "$sps" "$one")
        emb=${s%%:*}; ratio=1; [ "$s" = full ] || ratio=${s##*:}
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$emb" "$ratio" "$t" "$n" "$sps" "$mn" "$mx" \
            "$(div "$sps" "$full")" "$sp" "$(tfirst "$s" "$t" "$C_RA")" "$(tfirst "$s" "$t" "$C_AUC")" \
            "$(tmed "$s" "$t" "$C_RSS")" "$(tfirst "$s" "$t" "$C_ST")" >>"$TF"
    done
done

if [ "${ONLY:-}" = train ]; then
    say "bench: ONLY=train: the training throughput is in ${TF#"$ROOT"/}; the other sections not run"
    exit 0
fi

# =====================================================================================================
# b. the PyTorch peer on the same data
PF=$OUT/peer.tsv
printf 'threads\treps\tsamples_per_sec\tmin\tmax\tsteps\ttorch\tblas_core\tstatus\n' >"$PF"
case $TORCH in
ok*)
    say "bench: PyTorch peer ($TORCH), threads $PEER_THREADS, ${PEER_STEPS} steps per run"
    PRAW=$RAW/peer_runs.tsv
    rm -f "$PRAW"
    for rep in $(seq 1 "$REPS"); do
        for t in $PEER_THREADS; do
            if r=$("$PY" bench/peer_torch.py --data "$DATA" "${TRAIN_ARGS[@]}" --threads "$t" --max-steps "$PEER_STEPS" 2>>"$LOGS/peer.log"); then
                [ -f "$PRAW" ] || printf 'rep\t%s\n' "$(head -1 <<<"$r")" >"$PRAW"
                printf '%s\t%s\n' "$rep" "$(tail -1 <<<"$r")" >>"$PRAW"
                say "  rep $rep, $t thread(s): $(col samples_per_sec <<<"$r") samples/s"
            else
                say "  rep $rep, $t thread(s): the peer failed (see $LOGS/peer.log)"
            fi
        done
    done
    for t in $PEER_THREADS; do
        if [ -f "$PRAW" ] && v=$(awk -F'\t' -v t="$t" 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next } $h["threads"] == t { print $h["samples_per_sec"] }' "$PRAW") && [ -n "$v" ]; then
            n=$(wc -l <<<"$v")
            core=$(awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next } { print $h["blas_core"]; exit }' "$PRAW")
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\tok\n' "$t" "$n" "$(median <<<"$v")" "$(sort -g <<<"$v" | head -1)" \
                "$(sort -g <<<"$v" | tail -1)" "$PEER_STEPS" "${TORCH#ok }" "$core" >>"$PF"
        else
            printf '%s\t0\tNA\tNA\tNA\t%s\t%s\tNA\tfailed: see %s\n' "$t" "$PEER_STEPS" "${TORCH#ok }" "$LOGS/peer.log" >>"$PF"
        fi
    done
    ;;
*)
    say "bench: PyTorch peer $TORCH"
    for t in $PEER_THREADS; do printf '%s\t0\tNA\tNA\tNA\tNA\tNA\tNA\t%s\n' "$t" "$TORCH" >>"$PF"; done
    ;;
esac

# =====================================================================================================
# c. sgemm at the layer shapes, the ceiling, the model alone
say "bench: sgemm at the layer shapes, model forward+backward"
SF=$OUT/sgemm.tsv
MF=$OUT/model.tsv
SRAW=$RAW/sgemm_runs.tsv
MRAW=$RAW/model_runs.tsv
rm -f "$SRAW" "$MRAW"
for rep in $(seq 1 "$REPS"); do
    for t in $THREADS; do
        r=$("$HASHEMB" bench sgemm --threads "$t" 2>>"$LOGS/sgemm.log")
        [ -f "$SRAW" ] || printf 'rep\t%s\n' "$(head -1 <<<"$r")" >"$SRAW"
        tail -n +2 <<<"$r" | sed "s/^/$rep\t/" >>"$SRAW"
        r=$("$HASHEMB" bench model --threads "$t" 2>>"$LOGS/sgemm.log")
        [ -f "$MRAW" ] || printf 'rep\t%s\n' "$(head -1 <<<"$r")" >"$MRAW"
        tail -n +2 <<<"$r" | sed "s/^/$rep\t/" >>"$MRAW"
    done
done
# per (threads, op, layer): median seconds and GFLOP/s; the total row carries the ceiling and the share
# of it that the full-table training run reached at that thread count
printf 'threads\top\tlayer\tB\tM\tN\tK\tflops\tseconds\tgflops\tceiling_samples_per_sec\tfull_samples_per_sec\tfraction_of_ceiling\n' >"$SF"
for t in $THREADS; do
    awk -F'\t' -v t="$t" 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next } $h["threads"] == t && !seen[$h["op"] "/" $h["layer"]]++ { print $h["op"] "\t" $h["layer"] }' "$SRAW" |
    while IFS=$'\t' read -r op layer; do
        sel() { awk -F'\t' -v t="$t" -v o="$op" -v l="$layer" -v c="$1" 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next } $h["threads"] == t && $h["op"] == o && $h["layer"] == l { print $h[c] }' "$SRAW"; }
        first() { sel "$1" | head -1; }
        sec=$(sel seconds | median); gf=$(sel gflops | median)
        ceil=NA; fsps=NA; frac=NA
        if [ "$op" = total ]; then
            ceil=$(sel ceiling_samples_per_sec | median)
            fsps=$(awk -F'\t' -v t="$t" '$1 == "full" && $4 == t { print $6 }' "$TF")
            [ -n "$fsps" ] || fsps=NA
            frac=$(div "$fsps" "$ceil")
        fi
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$op" "$layer" "$(first B)" "$(first M)" "$(first N)" "$(first K)" \
            "$(first flops)" "$sec" "$gf" "$ceil" "$fsps" "$frac"
    done
done >>"$SF"
# the model alone (no embedding, no data): its share of the same ceiling says how much of the gap to the
# ceiling is hashemb's own passes between the products and how much the rest of a training step
printf 'threads\treps\tmodel\tB\tforward_seconds\tseconds\tsamples_per_sec\tfraction_of_ceiling\n' >"$MF"
for t in $THREADS; do
    sel() { awk -F'\t' -v t="$t" -v c="$1" 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next } $h["threads"] == t { print $h[c] }' "$MRAW"; }
    msps=$(sel samples_per_sec | median)
    mceil=$(awk -F'\t' -v t="$t" '$1 == t && $2 == "total" { print $11 }' "$SF")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$(sel seconds | wc -l)" "$(sel model | head -1)" "$(sel B | head -1)" \
        "$(sel forward_seconds | median)" "$(sel seconds | median)" "$msps" \
        "$(awk -v a="$msps" -v b="$mceil" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.4f", a / b; else print "NA" }')" >>"$MF"
done

# =====================================================================================================
# d. prep MB/s, one thread; MB/s = input bytes / wall seconds of the whole prep command
PRF=$OUT/prep.tsv
printf 'input\tfile\tbytes\tlines\tthreads\treps\tseconds\tmb_per_sec\tstatus\n' >"$PRF"
time_prep() { # name file
    local name=$1 file=$2 secs=() t0 t1
    local bytes lines
    bytes=$(fsize "$file"); lines=$(wc -l <"$file")
    for rep in $(seq 1 "$REPS"); do
        rm -rf "$WORK/prep_out"
        t0=$(now)
        "$HASHEMB" prep --format criteo --train "$file" --threads 1 --out "$WORK/prep_out" 2>>"$LOGS/prep.log"
        t1=$(now)
        secs+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
    done
    rm -rf "$WORK/prep_out"
    local s
    s=$(printf '%s\n' "${secs[@]}" | median)
    printf '%s\t%s\t%s\t%s\t1\t%s\t%s\t%s\tok\n' "$name" "${file#"$ROOT"/}" "$bytes" "$lines" "$REPS" "$s" \
        "$(awk -v b="$bytes" -v s="$s" 'BEGIN { printf "%.1f", b / 1e6 / s }')" >>"$PRF"
    say "  prep $name: $(awk -v b="$bytes" -v s="$s" 'BEGIN { printf "%.1f MB in %.3f s: %.1f MB/s", b / 1e6, s, b / 1e6 / s }')"
}
say "bench: prep MB/s (1 thread)"
if [ -f "$CRITEO_SAMPLE" ]; then
    REAL=$WORK/criteo_real_100mb.tsv
    if [ ! -f "$REAL" ]; then
        zcat "$CRITEO_SAMPLE" >"$WORK/criteo_sample.tsv"
        n=$(( (100000000 + $(fsize "$WORK/criteo_sample.tsv") - 1) / $(fsize "$WORK/criteo_sample.tsv") ))
        for _ in $(seq 1 "$n"); do cat "$WORK/criteo_sample.tsv"; done >"$REAL.tmp"
        mv "$REAL.tmp" "$REAL"
        rm -f "$WORK/criteo_sample.tsv"
    fi
    time_prep criteo_real_x_repeated "$REAL"
else
    printf 'criteo_real_x_repeated\t%s\tNA\tNA\t1\t0\tNA\tNA\tskipped: %s absent\n' "${CRITEO_SAMPLE}" "$CRITEO_SAMPLE" >>"$PRF"
    say "  prep on the real Criteo sample skipped: $CRITEO_SAMPLE absent"
fi
GTEXT=$WORK/gen_criteo_1m.txt
if [ ! -f "$GTEXT" ]; then
    "$HASHEMB" gen --profile criteo --rows 1000000 --vocab-scale 1 --seed 1 --text "$GTEXT.tmp" --out "$WORK/gen_text_ds" 2>>"$LOGS/prep.log"
    mv "$GTEXT.tmp" "$GTEXT"
    rm -rf "$WORK/gen_text_ds"
fi
time_prep gen_criteo_text_1m "$GTEXT"

# =====================================================================================================
# e. gen rows/s: wall seconds of the whole gen command, at the quick sweep's data (1M criteo rows at
# the fitted laws' full support: 1.36M ids), and the vocabulary memory gen accounts for
say "bench: gen rows/s"
GF=$OUT/gen.tsv
GEN_ROWS=1000000
printf 'rows\tvocab_scale\tthreads\treps\tseconds\trows_per_sec\tvocab_bytes_per_value\n' >"$GF"
declare -A GSECS GVB
for rep in $(seq 1 "$REPS"); do
    for t in $THREADS; do
        rm -rf "$WORK/gen_out"
        t0=$(now)
        "$HASHEMB" gen --profile criteo --rows $GEN_ROWS --seed 1 --threads "$t" --out "$WORK/gen_out" 2>"$LOGS/gen.one.log"
        t1=$(now)
        cat "$LOGS/gen.one.log" >>"$LOGS/gen.log"
        GSECS[$t]="${GSECS[$t]:-} $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
        GVB[$t]=$(sed -n 's/.*(\([0-9.]*\) bytes per distinct train value).*/\1/p' "$LOGS/gen.one.log")
    done
done
rm -rf "$WORK/gen_out"
for t in $THREADS; do
    s=$(tr ' ' '\n' <<<"${GSECS[$t]}" | grep . | median)
    printf '%s\t1\t%s\t%s\t%s\t%.0f\t%s\n' $GEN_ROWS "$t" "$REPS" "$s" "$(awk -v s="$s" -v n=$GEN_ROWS 'BEGIN { print n / s }')" "${GVB[$t]:-NA}" >>"$GF"
done

# f. vocabulary growth at Criteo's size: one criteo set with Criteo Kaggle's 45,840,617 train rows (57.3M
# rows, about 9.5 GB), generated once and kept in $GROWTH_DIR while the generator's version and recipe
# stay; its N_f - 1 per field against the listed cardinality (SPEC 3.3: within 10% above 10,000).
# GROWTH=0 skips it.
GW=$OUT/growth.tsv
if [ "${GROWTH:-1}" = 1 ]; then
    say "bench: vocabulary growth at 45,840,617 train rows (generated once into ${GROWTH_DIR#"$ROOT"/})"
    full_set
    if [ -f "$GROWTH_DIR/dataset.meta" ]; then
        "$HASHEMB" gen --profile criteo --law >"$WORK/law.md"
        awk -F'|' -v cards="$(sed -n 's/^cardinalities=//p' "$GROWTH_DIR/dataset.meta")" '
            BEGIN { n = split(cards, c, ","); print "field\ttarget\texpected\tmeasured\tmeasured_vs_target" }
            $2 ~ /^ [IC][0-9]+ $/ { f++; name = $2; gsub(/ /, "", name); cell = $6; gsub(/^ +| +$/, "", cell)
                split(cell, a, " "); e = a[1]; t = a[3] == "" ? "NA" : a[3]; m = c[f] - 1
                printf "%s\t%s\t%s\t%d\t%s\n", name, t, e, m, t == "NA" ? "NA" : sprintf("%+.2f%%", 100 * (m / t - 1)) }' \
            "$WORK/law.md" >"$GW"
        if [ -f "$LOGS/gen_full.log" ]; then
            { grep -o 'in [0-9.]* s, [0-9.]*M rows/s.*' "$LOGS/gen_full.log" || true; } | sed 's/^/# gen: /' >>"$GW"
        fi
    fi
fi

[ "${SCALE:-1}" = 0 ] || scale_section

# =====================================================================================================
# g. AUC of 10M predictions (each bench auc run is itself the median of 5 calls)
say "bench: AUC of 10M predictions"
AF=$OUT/auc.tsv
printf 'n\tthreads\treps\tseconds\n' >"$AF"
for t in $THREADS; do
    v=$(for rep in $(seq 1 "$REPS"); do "$HASHEMB" bench auc --n 10000000 --threads "$t" 2>>"$LOGS/auc.log" | col seconds; done)
    printf '10000000\t%s\t%s\t%s\n' "$t" "$REPS" "$(median <<<"$v")" >>"$AF"
done

# =====================================================================================================
# h. peak RSS of the full-table run against what it accounts for
say "bench: memory"
MEMF=$OUT/memory.tsv
F=$(grep '^fields=' "$DATA/dataset.meta" | cut -d= -f2)
NTR=$(grep '^rows_train=' "$DATA/dataset.meta" | cut -d= -f2)
NVA=$(grep '^rows_valid=' "$DATA/dataset.meta" | cut -d= -f2)
NTE=$(grep '^rows_test=' "$DATA/dataset.meta" | cut -d= -f2)
DATA_BYTES=$(( $(fsize "$DATA/train.bin") + $(fsize "$DATA/valid.bin") + $(fsize "$DATA/test.bin") ))
printf 'threads\tpeak_rss_bytes\taccounted_bytes\tratio\temb_bytes\topt_bytes\tdense_bytes\tbatch_bytes\tact_bytes\tdata_bytes\tgoal\n' >"$MEMF"
for t in $THREADS; do
    rss=$(tmed full "$t" "$C_RSS")
    eb=$(tfirst full "$t" "$C_EB"); ob=$(tfirst full "$t" "$C_OB"); dp=$(tfirst full "$t" "$C_DP")
    [ -n "$eb" ] || continue
    # what train.c allocates besides the tables: ids, labels, E and dE, logits and dlogits, the eval
    # logits and the epoch order (its batch_bytes), and model.c's activations (B x: 2 max hidden for the
    # gradients, F*d twice for x0/dx0, 2 for wide/fm, each hidden layer's output)
    awk -v B=4096 -v F="$F" -v d=16 -v h=400 -v nh=3 -v ntr="$NTR" -v nva="$NVA" -v nte="$NTE" \
        -v rss="$rss" -v eb="$eb" -v ob="$ob" -v dp="$dp" -v data="$DATA_BYTES" -v t="$t" 'BEGIN {
        w = d + 1; ne = nva > nte ? nva : nte
        batch = B * F * 4 + B + 2 * B * F * w * 4 + 2 * B * 4 + ne * 4 + ntr * 4
        act = (2 * B * h + 2 * B * F * d + 2 * B + nh * B * h) * 4
        dense = dp * 4 * 2
        acc = eb + ob + dense + batch + act + data
        printf "%s\t%.0f\t%.0f\t%.3f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t<=1.3\n", t, rss, acc, rss / acc, eb, ob, dense, batch, act, data }' >>"$MEMF"
done

# =====================================================================================================
# the figure
T_END=$(now)
printf 'loadavg_end\t%s\nbench_seconds\t%.0f\n' "$(cut -d' ' -f1-3 /proc/loadavg)" "$(awk -v a="$T_START" -v b="$T_END" 'BEGIN { print b - a }')" >>"$ENVF"
PLOT=$OUT/bench_plot.dat
{
    printf '# label\tt1\tt2\tnote\n'
    for s in $STRATS2; do
        l=$s; [ "$s" = full ] || l="${s%%:*} ${s##*:}x"
        a=$(awk -F'\t' -v s="$s" '$1 == s && $4 == 1 { print $6 }' "$TF"); b=$(awk -F'\t' -v s="$s" '$1 == s && $4 == 2 { print $6 }' "$TF")
        [ "${a:-NA}" = NA ] && a=NaN; [ "${b:-NA}" = NA ] && b=NaN
        note=$(awk -F'\t' -v s="$s" '$1 == s && $14 != "ok" { print $14; exit }' "$TF")
        printf '"%s"\t%s\t%s\t%s\n' "$l" "$a" "$b" "${note:--}"
    done
    a=$(awk -F'\t' '$1 == 1 { print $3 }' "$PF"); b=$(awk -F'\t' '$1 == 2 { print $3 }' "$PF")
    [ "${a:-NA}" = NA ] && a=NaN; [ "${b:-NA}" = NA ] && b=NaN
    note=-; case $TORCH in ok*) ;; *) note=skipped ;; esac
    printf '"PyTorch peer"\t%s\t%s\t%s\n' "$a" "$b" "$note"
} >"$PLOT"
C1=$(awk -F'\t' '$1 == 1 && $2 == "total" { print $11 }' "$SF"); C2=$(awk -F'\t' '$1 == 2 && $2 == "total" { print $11 }' "$SF")
if command -v gnuplot >/dev/null; then
    title="$CPU, OpenBLAS $BLAS_CORE ($BLAS_BUILD), git $GIT_SHA; median of $REPS"
    for term in png pdf; do
        gnuplot -e "datafile='$PLOT'; outfile='$OUT/bench.$term'; term='$term'; ceil1=${C1:-NaN}; ceil2=${C2:-NaN}; subtitle='$title'" bench/plot_bench.gp 2>>"$LOGS/gnuplot.log" ||
            say "bench: gnuplot failed for $term (see $LOGS/gnuplot.log)"
    done
else
    say "bench: gnuplot not found: no figure (make deps)"
fi

# =====================================================================================================
# the summary
show() { say ""; say "== $1 ($(basename "$2"))"; column -t -s $'\t' "$2" >&2; }
say ""
say "bench: done in $(kv "$ENVF" bench_seconds) s; results in ${OUT#"$ROOT"/}/"
show environment "$ENVF"
show "training samples/s (hashemb train, DeepFM 400-400-400, batch 4096, 1 epoch)" "$TF"
show "PyTorch peer" "$PF"
show "sgemm at the layer shapes (median GFLOP/s) and the ceiling" "$SF"
show "model forward+backward alone" "$MF"
show "prep (1 thread)" "$PRF"
show "gen" "$GF"
[ -f "$GW" ] && show "vocabulary growth at 45,840,617 train rows" "$GW"
show "AUC" "$AF"
show "memory (full table)" "$MEMF"
say ""
f2=$(awk -F'\t' '$1 == "full" && $4 == 2 { print $6 }' "$TF")
m2=$(awk -F'\t' '$1 == 2 { print $7 " (" $8 " of it)" }' "$MF")
say "summary: full table at 2 threads $f2 samples/s (SPEC goal >= 35000); sgemm ceiling at 2 threads ${C2:-NA};" \
    "model forward+backward alone at 2 threads ${m2:-NA};" \
    "strategies/full at 2 threads: $(awk -F'\t' '$4 == 2 && $1 != "full" { printf "%s %s  ", $1, $9 }' "$TF")"
say "figure: ${OUT#"$ROOT"/}/bench.png"
