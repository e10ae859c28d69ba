#!/usr/bin/env bash
# run_all.sh end to end on the tiny sweep, in a copy of the scripts: results and figures, the summary's
# means against the result rows, a second run that trains nothing, a failed grid point, a sweep killed
# with SIGKILL and resumed (its claims taken over), and --emit | parallel + --collect against a plain
# run. test_sweep_quoting.sh and test_sweep_concurrent.sh test values as data and concurrent drivers.
. "$(dirname "$0")/testing.sh"
export HASHEMB=$H HASHEMB_NO_BUILD=1

# --- a plain run: results, summary, headline, figures ---
mkcopy "$T/a"
(cd "$T/a" && ./run_all.sh tiny > "$T/a.out" 2> "$T/a.err") || { bad "run_all.sh tiny failed: $(tail -3 "$T/a.err")"; exit 1; }
S=$T/a/results/tiny
for f in summary.tsv headline.tsv grid.tsv; do [ -s "$S/$f" ] || bad "$f missing"; done
[ "$(ls "$S"/runs/*.tsv | grep -vc curve)" = 10 ] || bad "10 result rows (full x 2 seeds + 2 strategies x 2 ratios x 2 seeds)"
[ "$(tail -n +2 "$S/summary.tsv" | wc -l)" = 5 ] || bad "5 grid points in the summary"
# the summary's means are the means of the result rows
while IFS=$'\t' read -r ds model variant ratio lr seed run cfg; do
    echo "$model	$variant	$ratio	$(awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i } NR == 2 { print $c["test_auc"] "\t" $c["ratio_actual"] "\t" $c["emb_bytes"] }' "$S/runs/$run.tsv")"
done < "$S/grid.tsv" | awk -F'\t' '{ k = $1 FS $2 FS $3; n[k]++; a[k] += $4; r[k] += $5; b[k] += $6 }
    END { for (k in n) printf "%s\t%.6f\t%.6f\t%.1f\n", k, a[k] / n[k], r[k] / n[k], b[k] / n[k] }' | sort > "$T/mine"
awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    { printf "%s\t%s\t%s\t%.6f\t%.6f\t%.1f\n", $c["model"], $c["variant"], $c["ratio_target"], $c["test_auc_mean"], $c["ratio_actual_mean"], $c["emb_bytes_mean"] }' "$S/summary.tsv" | sort > "$T/theirs"
diff "$T/mine" "$T/theirs" > /dev/null || bad "summary means differ from the result rows: $(diff "$T/mine" "$T/theirs" | head -4)"
awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next } $c["variant"] == "full" && $c["rel_auc_mean"] != 1 { exit 1 }' "$S/summary.tsv" || bad "full's rel_auc_mean is 1"
for fig in auc_ratio gain_ratio logloss_ratio bytes_ratio throughput_ratio bh_ablation curves compressibility; do
    P=$T/a/plots/out/tiny/$fig
    [ "$(head -c 8 "$P.png" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || bad "$fig.png is not a PNG"
    [ "$(head -c 5 "$P.pdf" 2>/dev/null)" = "%PDF-" ] || bad "$fig.pdf is not a PDF"
    [ "$(stat -c %s "$P.png" 2>/dev/null || echo 0)" -gt 10000 ] || bad "$fig.png is nearly empty"
done

# --- one clamped layout for two ratios: shared only while both are feasible ---
# qr's floor gives every compressed tiny field the same layout at r = 20 (feasible: within 2x of the
# ~13x it reaches) and r = 100 (infeasible): the two must not share a run
cat > "$T/a/experiments/clamp.sweep" <<'SWEEP'
dataset   tiny = gen --profile tiny --rows 20000 --seed 3
models    deepfm
ratios    20 100
seeds     1
train     --dim 4 --mlp 8 --batch 512 --epochs 1
strategy  qr
SWEEP
(cd "$T/a" && ./run_all.sh clamp --no-plots > "$T/clamp.out" 2>&1) || bad "clamp sweep failed: $(tail -3 "$T/clamp.out")"
st=$(awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next } { printf "%s=%s ", $c["ratio_target"], $c["status"] }' \
    "$T/a/results/clamp/summary.tsv" 2>/dev/null)
[ "$st" = "20=ok 100=infeasible " ] || bad "a clamped layout shared across the feasibility line: $st"

# --- a second run trains nothing ---
(cd "$T/a" && ./run_all.sh tiny --no-plots > "$T/a2.out" 2>&1) || bad "second run failed"
grep -q "(0 to do)" "$T/a2.out" || bad "second run should have nothing to do: $(grep 'to do' "$T/a2.out")"
grep -q "making dataset" "$T/a2.out" && bad "second run made its dataset again"
# a generator of another version makes the dataset anew (the cache is keyed by gen --version)
printf '#!/bin/sh\n[ "$1 $2" = "gen --version" ] && { echo "gen_version 999999"; exit 0; }\nexec "%s" "$@"\n' "$H" > "$T/newgen"
chmod +x "$T/newgen"
(cd "$T/a" && HASHEMB=$T/newgen ./run_all.sh tiny --no-plots --dry-run > "$T/a3.out" 2>&1) || bad "run with another gen version failed: $(tail -2 "$T/a3.out")"
grep -q "making dataset" "$T/a3.out" || bad "another gen version reused the cached dataset"

# --- a failed grid point: the others complete, it is named, the exit is non-zero ---
mkcopy "$T/b"
cat > "$T/b/experiments/broken.sweep" <<'SWEEP'
dataset   tiny = gen --profile tiny --rows 20000 --seed 3
ratios    2
seeds     1
train     --dim 8 --mlp 16 --batch 512 --epochs 1
strategy  full
strategy  hash --compress-min 50 lr=1e-3,3e-3
strategy  qr --qr-op bogus --compress-min 50
strategy  bh --bh-fuse bogus --compress-min 50
SWEEP
(cd "$T/b" && ./run_all.sh broken --no-plots > "$T/b.out" 2> "$T/b.err"); st=$?
[ "$st" -ne 0 ] || bad "a failed run should make run_all.sh exit non-zero"
grep -q "qr_qr-op_bogus" "$T/b.err" || bad "the failed run is named: $(cat "$T/b.err" | tail -3)"
grep -q "^tiny deepfm qr --qr-op bogus --compress-min 50 r2: .*--qr-op" "$T/b/results/broken/plan.err" &&
    grep -q "^tiny deepfm bh --bh-fuse bogus --compress-min 50 r2: .*--bh-fuse" "$T/b/results/broken/plan.err" ||
    bad "plan.err names every unbuildable point: $(cat "$T/b/results/broken/plan.err")"
[ "$(ls "$T/b/results/broken/runs/"*.tsv | grep -vc curve)" = 3 ] || bad "the other runs complete"
# two learning rates for hash: one summary line, the lr with the best valid AUC kept and named
awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next } $c["variant"] ~ /^hash/ { n++; lr = $c["lr"]; tried = $c["lrs_tried"] }
    END { exit !(n == 1 && (lr == "1e-3" || lr == "3e-3") && tried == "1e-3,3e-3") }' "$T/b/results/broken/summary.tsv" ||
    bad "learning rates per strategy: $(cut -f3,4,45- "$T/b/results/broken/summary.tsv" | tr '\n' ';')"
best=$(awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next } $c["variant"] ~ /^hash/ { print $c["lr"] }' "$T/b/results/broken/summary.tsv")
hv=$(for f in "$T"/b/results/broken/runs/*hash*.tsv; do case $f in *curve*) continue ;; esac
    awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i } NR == 2 { split($c["config"], a, " lr="); split(a[2], b, " "); print $c["valid_auc"], b[1] }' "$f"; done |
    sort -g -r | head -1 | cut -d' ' -f2)
[ "$(awk -v a="$best" -v b="$hv" 'BEGIN { print (a + 0 == b + 0) }')" = 1 ] || bad "kept lr $best, but the best valid AUC was at lr $hv"
grep -q "error" "$T/b/results/broken/summary.tsv" || bad "the failed point is in the summary as error"
# a changed sweep file never reuses a result made under other flags
sed -i 's/--epochs 1/--epochs 2/' "$T/b/experiments/broken.sweep"
(cd "$T/b" && ./run_all.sh broken --no-plots > "$T/b2.out" 2>&1)
grep -q "5 runs (5 to do)" "$T/b2.out" || bad "changed training flags must rerun every run: $(grep 'to do' "$T/b2.out")"
[ "$(awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next } $c["variant"] == "full" { print $c["epochs_mean"] }' "$T/b/results/broken/summary.tsv")" != "" ] || bad "summary after the change"

# a strategy's own ratios (ratios=) replace the sweep's for it alone, with lr= in either order
cat > "$T/b/experiments/perratio.sweep" <<'SWEEP'
dataset   tiny = gen --profile tiny --rows 20000 --seed 3
ratios    2 4
seeds     1
train     --dim 8 --mlp 16 --batch 512 --epochs 1
strategy  hash --compress-min 50 ratios=4 lr=1e-3,3e-3
strategy  qr --compress-min 50
SWEEP
(cd "$T/b" && ./run_all.sh perratio --no-plots --dry-run > "$T/pr.out" 2>&1) || bad "ratios= sweep: $(tail -2 "$T/pr.out")"
got=$(awk -F'\t' '{ split($3, v, ":"); print v[1], $4, $5 }' "$T/b/results/perratio/grid.tsv" | sort -u | tr '\n' ';')
[ "$got" = "hash 4 1e-3;hash 4 3e-3;qr 2 1e-3;qr 4 1e-3;" ] || bad "ratios= per strategy: grid $got"
for l in 'hash ratios=' 'hash ratios=4 ratios=8' 'full ratios=4' $'hash\tratios=4,x'; do
    sed -i '$d' "$T/b/experiments/perratio.sweep"
    printf 'strategy  %s\n' "$l" >> "$T/b/experiments/perratio.sweep"
    (cd "$T/b" && ./run_all.sh perratio --no-plots --dry-run > "$T/pr2.out" 2>&1) && bad "'$l' should be refused"
    grep -q "perratio.sweep:6: " "$T/pr2.out" || bad "'$l': no FILE:LINE in $(tail -1 "$T/pr2.out")"
done

# --- killed with SIGKILL in the middle, started again: one result per grid point ---
# (the driver runs in its own process group, which is killed whole: the driver and its trainer)
mkcopy "$T/c"
(cd "$T/c" && exec setsid ./run_all.sh tiny --no-plots > "$T/c.out" 2>&1) &
pid=$!
for _ in $(seq 1 100); do
    [ "$(ls "$T/c/results/tiny/runs/"*.tsv 2>/dev/null | grep -vc curve)" -ge 3 ] && break
    sleep 0.1
done
kill -KILL -- -"$pid" 2>/dev/null; wait "$pid" 2>/dev/null
n1=$(ls "$T/c/results/tiny/runs/"*.tsv 2>/dev/null | grep -vc curve)
[ "$n1" -lt 10 ] || echo "  note: the sweep finished before it was killed ($n1 runs)"
[ "$n1" -lt 10 ] && ! ls "$T/c/results/tiny/runs/" | grep -q '\.claim$' && echo "  note: the killed driver left no claim to take over"
(cd "$T/c" && ./run_all.sh tiny --no-plots > "$T/c2.out" 2>&1) || bad "resumed sweep failed: $(tail -3 "$T/c2.out")"
[ "$(ls "$T/c/results/tiny/runs/"*.tsv | grep -vc curve)" = 10 ] || bad "one result per run after the resume"
ls "$T/c/results/tiny/runs/" | grep -q 'tmp' && bad "a killed run left a temporary file that looks finished"
ls "$T/c/results/tiny/runs/" | grep -q 'claim' && bad "the killed driver's claim was not taken over: $(ls "$T/c/results/tiny/runs/" | grep claim)"
[ "$(tail -n +2 "$T/c/results/tiny/summary.tsv" | awk -F'\t' '$6 == "ok"' | wc -l)" = 5 ] || bad "all 5 points ok after the resume"

# --- a finished run's checkpoint left behind (its driver died before removing it) goes at the next start ---
r1=$(ls "$T/a/results/tiny/runs/"*.tsv | grep -v curve | head -1)
mkdir -p "${r1%.tsv}.ckpt" && touch "${r1%.tsv}.ckpt/last"
(cd "$T/a" && ./run_all.sh tiny --no-plots > /dev/null 2>&1) || bad "rerun of a finished sweep"
[ ! -e "${r1%.tsv}.ckpt" ] || bad "a finished run's checkpoint was left in place"

# --- --emit | parallel, then --collect: the same summary as a plain run, but for times and RSS ---
mkcopy "$T/d"
(cd "$T/d" && ./run_all.sh --emit --threads 1 tiny > "$T/d.cmds" 2> "$T/d.err") || bad "--emit failed"
[ "$(wc -l < "$T/d.cmds")" = 10 ] || bad "--emit prints one command line per run ($(wc -l < "$T/d.cmds"))"
grep -q -- "--threads 1 " "$T/d.cmds" || bad "emitted lines fix --threads (1 here)"
# GNU parallel (make deps installs it): each line as a job, two at a time
if command -v parallel > /dev/null; then parallel -j 2 < "$T/d.cmds" || bad "parallel -j 2 failed"
else bad "GNU parallel not found: make deps installs it (Debian's parallel)"; fi
ls -d "$T"/d/results/tiny/runs/*.ckpt > /dev/null 2>&1 && bad "emitted lines left their checkpoints behind"
(cd "$T/d" && ./run_all.sh --collect tiny --no-plots > /dev/null 2>&1) || bad "--collect failed"
strip() { awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i ~ /^(peak_rss_bytes|train_seconds|samples_per_sec|threads)_/) drop[i] = 1 }
    { s = ""; for (i = 1; i <= NF; i++) if (!drop[i]) s = s $i "\t"; print s }' "$1"; }
# --collect with a run missing: its point is error, and the exit status (3) says runs are missing
r1=$(ls "$T/d/results/tiny/runs/"*.tsv | grep -v curve | head -1)
mv "$r1" "$T/held.tsv"
(cd "$T/d" && ./run_all.sh --collect tiny --no-plots > /dev/null 2> "$T/coll.err"); st=$?
[ $st = 3 ] && grep -q "1 of 10 run(s) have no result yet" "$T/coll.err" || bad "--collect with a run missing: exit $st, $(tail -1 "$T/coll.err")"
mv "$T/held.tsv" "$r1"
(cd "$T/d" && ./run_all.sh --collect tiny --no-plots > /dev/null 2>&1) || bad "--collect after the run came back"
# against a plain run at the emitted lines' thread count (1: the sums split by threads)
mkcopy "$T/p1"
(cd "$T/p1" && ./run_all.sh tiny --threads 1 --no-plots > /dev/null 2>&1) || bad "plain run at 1 thread"
[ "$(strip "$T/p1/results/tiny/summary.tsv")" = "$(strip "$T/d/results/tiny/summary.tsv")" ] ||
    bad "--emit/--collect summary differs from a plain run's: $(diff <(strip "$T/p1/results/tiny/summary.tsv") <(strip "$T/d/results/tiny/summary.tsv") | head -4)"

# --- two learning rates: the summary keeps the better one, and the learning curves show its runs ---
mkcopy "$T/l"
cat > "$T/l/experiments/lr.sweep" <<'SWEEP'
dataset   tiny = gen --profile tiny --rows 20000 --seed 3
ratios    4
seeds     1
lr        1e-6 3e-3
train     --dim 8 --mlp 16 --batch 512 --epochs 2 --patience 2
strategy  full
strategy  hash --compress-min 50
SWEEP
(cd "$T/l" && ./run_all.sh lr > "$T/l.out" 2>&1) || bad "lr sweep failed: $(tail -2 "$T/l.out")"
kept=$(awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next } { print $c["variant"] "=" $c["lr"] }' "$T/l/results/lr/summary.tsv" | sort | tr '\n' ' ')
[ "$kept" = "full=3e-3 hash:cm50=3e-3 " ] || bad "kept learning rates: '$kept' (3e-3 trains, 1e-6 barely moves)"
shown=$(cd "$T/l" && gnuplot -e "sweep='lr'; ratio='4'" -e "load 'plots/common.gpi'" -e "grid='results/lr/grid.tsv'" \
    -e "$(grep -E '^(summ|runs\(m\)) =' plots/curves.gp | tr '\n' ';')" -e "set print '-'; print runs('deepfm')" 2>&1)
[[ $shown == *full_r1_lr3e-3_s1_* && $shown == *r4_lr3e-3_s1_* && $shown != *lr1e-6* ]] || bad "curves.png shows other runs than the kept learning rate's: $shown"

# --- bad command lines ---
(cd "$T/a" && ./run_all.sh nosuchsweep > /dev/null 2> "$T/e.err"); [ $? = 2 ] || bad "unknown sweep: exit 2"
grep -q "no sweep 'nosuchsweep'" "$T/e.err" || bad "unknown sweep named"
(cd "$T/a" && ./run_all.sh --jobs x tiny > /dev/null 2> "$T/e.err"); [ $? = 2 ] || bad "--jobs x: exit 2"
(cd "$T/a" && ./run_all.sh --dry-run tiny > "$T/dry.out" 2>&1) || bad "--dry-run failed"
grep -q "estimate" "$T/dry.out" || bad "--dry-run prints an estimate"
# --nodes N: the estimate on N machines is printed too; a count below 1 is refused
sed 's/--epochs 1/--epochs 2/' "$T/a/experiments/tiny.sweep" > "$T/a/experiments/nodes.sweep"
(cd "$T/a" && ./run_all.sh --dry-run --nodes 3 nodes > "$T/nodes.out" 2>&1) || bad "--dry-run --nodes 3 failed: $(tail -2 "$T/nodes.out")"
grep -q "on 3 node(s) like this one: " "$T/nodes.out" || bad "--nodes 3: no estimate for 3 nodes: $(tail -3 "$T/nodes.out")"
(cd "$T/a" && ./run_all.sh --dry-run --nodes 0 nodes > /dev/null 2>&1); [ $? = 2 ] || bad "--nodes 0: exit 2"
[ $fail = 0 ] && echo "test_sweep.sh: all passed"
exit $fail
