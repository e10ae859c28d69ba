#!/usr/bin/env bash
# Several run_all.sh drivers on one results/ directory (claims, SPEC 7): two drivers started together
# make the dataset once, train each run once and leave one consistent grid, summary and headline; a
# claim of a dead driver of this host is taken over and its temporaries removed, a live one is waited
# for, another host's is left (exit 3) until --steal-claims; a driver killed with SIGKILL while making
# a dataset leaves temporaries that the next driver removes; aggregation counts a run once however
# often grid.tsv lists it.
. "$(dirname "$0")/testing.sh"
leftovers() { find "$1" \( -name '*.claim' -o -name '*.tmp*' -o -name '*.new.*' -o -name '*.stale.*' -o -name '*.part.*' -o -name '*.txt' -o -name '*.gen' -o -name '*.old.*' \) 2>/dev/null | sed "s|^$1/||" | head -5 | tr '\n' ' '; }
col() { awk -F'\t' -v n="$2" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next } { print $c[n] }' "$1"; }
export HASHEMB_NO_BUILD=1

# a stand-in for hashemb that logs each call and can be slowed down (the same pid runs the real one)
printf '#!/bin/bash\necho "$*" >> %q\n[ "${1-}" = train ] && sleep "${SLOW_TRAIN:-0}"\nexec %q "$@"\n' "$T/calls" "$H" > "$T/slow"
chmod +x "$T/slow"
export HASHEMB=$T/slow

# what run_all.sh writes in a claim, to make claims of other processes
HOST=$(uname -n); HOST=${HOST//[^A-Za-z0-9._-]/_}
BOOT=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)
start_of() { local s f; s=$(cat "/proc/$1/stat") && read -ra f <<< "${s##*) }" && echo "${f[19]}"; }

# --- two drivers at once from an empty results/ (the fuzzing campaign's reproducer) ---
mkcopy "$T/a"
: > "$T/calls"
(cd "$T/a" && SLOW_TRAIN=0.3 ./run_all.sh tiny --no-plots > "$T/a1.out" 2>&1) & p1=$!
(cd "$T/a" && SLOW_TRAIN=0.3 ./run_all.sh tiny --no-plots --jobs 2 > "$T/a2.out" 2>&1) & p2=$!
wait $p1; s1=$?
wait $p2; s2=$?
[ $s1 = 0 ] && [ $s2 = 0 ] || bad "two drivers at once: exit $s1 and $s2, not 0 and 0: $(tail -2 "$T/a1.out") / $(tail -2 "$T/a2.out")"
S=$T/a/results/tiny
[ "$(grep -c '^gen --profile' "$T/calls")" = 1 ] || bad "the dataset is made once, not $(grep -c '^gen --profile' "$T/calls") times"
[ "$(grep -c '^train ' "$T/calls")" = 10 ] || bad "each of the 10 runs trains once, not $(grep -c '^train ' "$T/calls") trainings"
[ "$(wc -l < "$S/grid.tsv")" = 10 ] && [ "$(sort -u "$S/grid.tsv" | wc -l)" = 10 ] || bad "grid.tsv: 10 distinct lines ($(wc -l < "$S/grid.tsv"), $(sort -u "$S/grid.tsv" | wc -l) distinct)"
[ "$(nres "$S/runs")" = 10 ] || bad "10 results ($(nres "$S/runs"))"
[ "$(tail -n +2 "$S/summary.tsv" | wc -l)" = 5 ] || bad "summary: 5 points ($(tail -n +2 "$S/summary.tsv" | wc -l))"
[ "$(col "$S/summary.tsv" seeds | sort -u | tr '\n' ' ')" = "1,2 " ] || bad "summary: seeds 1,2 at every point: $(col "$S/summary.tsv" seeds | tr '\n' ' ')"
[ "$(col "$S/summary.tsv" seeds_ok | sort -u | tr '\n' ' ')" = "2 " ] || bad "summary: 2 seeds ok at every point: $(col "$S/summary.tsv" seeds_ok | tr '\n' ' ')"
[ "$(col "$S/summary.tsv" status | sort -u | tr '\n' ' ')" = "ok " ] || bad "summary: every point ok: $(col "$S/summary.tsv" status | tr '\n' ' ')"
[ "$(tail -n +2 "$S/headline.tsv" | wc -l)" = 2 ] || bad "headline: 2 variants"
[ -z "$(leftovers "$T/a/results")" ] || bad "claims or temporaries left behind: $(leftovers "$T/a/results")"
# the summary's means are the result rows' (a seed counted twice would move the std, not the mean)
while IFS=$'\t' read -r _ model variant ratio _ _ run _; do
    printf '%s\t%s\t%s\t%s\n' "$model" "$variant" "$ratio" "$(col "$S/runs/$run.tsv" test_auc)"
done < "$S/grid.tsv" | awk -F'\t' '{ k = $1 FS $2 FS $3; n[k]++; a[k] += $4; q[k] += $4 * $4 }
    END { for (k in n) { m = a[k] / n[k]; printf "%s\t%.6f\t%.6f\n", k, m, sqrt((q[k] - n[k] * m * m) / (n[k] - 1)) } }' | sort > "$T/mine"
awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    { printf "%s\t%s\t%s\t%.6f\t%.6f\n", $c["model"], $c["variant"], $c["ratio_target"], $c["test_auc_mean"], $c["test_auc_std"] }' "$S/summary.tsv" | sort > "$T/theirs"
diff "$T/mine" "$T/theirs" > /dev/null || bad "summary means and deviations differ from the result rows: $(diff "$T/mine" "$T/theirs" | head -3)"

# --- aggregation counts a run once, however often grid.tsv lists it ---
cp "$S/summary.tsv" "$T/summary.once"
cat "$S/grid.tsv" "$S/grid.tsv" > "$S/grid.twice" && mv "$S/grid.twice" "$S/grid.tsv"
(cd "$T/a" && ./experiments/aggregate.sh tiny 2> /dev/null) || bad "aggregate.sh on a grid listing each run twice failed"
cmp -s "$T/summary.once" "$S/summary.tsv" || bad "a grid listing each run twice changes the summary: $(diff "$T/summary.once" "$S/summary.tsv" | cut -c1-60 | head -3)"

# --- claims left by others: dead (this host), live (this host), another host's ---
mkcopy "$T/b"
(cd "$T/b" && ./run_all.sh --dry-run tiny > /dev/null 2>&1) || bad "--dry-run (makes the dataset and the grid)"
mapfile -t RUNS < <(cut -f7 "$T/b/results/tiny/grid.tsv" | awk '!s[$0]++')
B=$T/b/results/tiny/runs
sleep 0 & dead=$!
wait $dead
printf 'owner %s %s %s 1\nsince then\n' "$HOST" "$BOOT" "$dead" > "$B/${RUNS[0]}.claim"
echo partial > "$B/${RUNS[0]}.tsv.tmp.$dead"                # what a trainer killed while writing leaves
echo partial > "$B/${RUNS[0]}.claim.new.$HOST.$dead"        # what a driver killed while claiming leaves
# the live holder lives until the driver says it waits for it (however long the other runs take on a
# loaded machine), then ends, and its run must be taken over
sleep 300 & live=$!
printf 'owner %s %s %s %s\nsince now\n' "$HOST" "$BOOT" "$live" "$(start_of $live)" > "$B/${RUNS[1]}.claim"
printf 'owner elsewhere.example 0a1b 4242 77\nsince now\n' > "$B/${RUNS[2]}.claim"
(cd "$T/b" && exec ./run_all.sh tiny --no-plots > "$T/b1.out" 2>&1) & drv=$!
for _ in $(seq 1 240); do
    grep -q "waiting for runs" "$T/b1.out" 2>/dev/null && break
    kill -0 $drv 2>/dev/null || break
    sleep 0.5
done
kill $live 2>/dev/null; wait $live 2>/dev/null
wait $drv; st=$?
[ $st = 3 ] || bad "a run claimed by another host: exit $st, not 3: $(tail -3 "$T/b1.out")"
grep -q "elsewhere.example" "$T/b1.out" || bad "the other host's claim is named: $(tail -3 "$T/b1.out")"
[ -f "$B/${RUNS[0]}.tsv" ] || bad "a dead driver's claim is taken over and its run made"
[ -e "$B/${RUNS[0]}.tsv.tmp.$dead" ] && bad "the dead trainer's temporary result is left"
[ -e "$B/${RUNS[0]}.claim.new.$HOST.$dead" ] && bad "the dead driver's claim temporary is left"
grep -q "waiting for runs that host $HOST pid $live" "$T/b1.out" || bad "a live claim of this host is waited for: $(grep -i wait "$T/b1.out")"
[ -f "$B/${RUNS[1]}.tsv" ] || bad "a live claim of this host whose process ended is then taken over"
[ -f "$B/${RUNS[2]}.tsv" ] && bad "a run claimed by another host is run"
[ -f "$B/${RUNS[2]}.claim" ] || bad "another host's claim is left"
[ "$(nres "$B")" = 9 ] || bad "9 results ($(nres "$B"))"
(cd "$T/b" && ./run_all.sh tiny --no-plots --steal-claims > "$T/b2.out" 2>&1) || bad "--steal-claims: $(tail -3 "$T/b2.out")"
[ "$(nres "$B")" = 10 ] && [ ! -e "$B/${RUNS[2]}.claim" ] || bad "--steal-claims runs the other host's run ($(nres "$B") results)"
[ -z "$(leftovers "$T/b/results")" ] || bad "claims or temporaries left behind: $(leftovers "$T/b/results")"
# a driver killed after its run's result was in place, before it released the claim: the next driver
# drops that dead claim (the run is done), but leaves a live one alone
sleep 0 & dead=$!
wait $dead
printf 'owner %s %s %s 1\nsince then\n' "$HOST" "$BOOT" "$dead" > "$B/${RUNS[3]}.claim"
sleep 300 & live=$!
printf 'owner %s %s %s %s\nsince now\n' "$HOST" "$BOOT" "$live" "$(start_of $live)" > "$B/${RUNS[4]}.claim"
(cd "$T/b" && ./run_all.sh tiny --no-plots > "$T/b3.out" 2>&1) || bad "a driver over finished runs: $(tail -3 "$T/b3.out")"
kill $live 2>/dev/null; wait $live 2>/dev/null
[ -e "$B/${RUNS[3]}.claim" ] && bad "a dead claim of a finished run is left"
[ -e "$B/${RUNS[4]}.claim" ] || bad "a live claim of a finished run was removed"
rm -f "$B/${RUNS[4]}.claim"

# --- SIGKILL while making a `gen | prep` dataset: the next driver removes what was left ---
mkcopy "$T/c"
printf 'dataset   crit = gen --profile criteo --rows 2000 --vocab-scale 0.001 --seed 3 | prep --format criteo\nratios    2\nseeds     1\ntrain     --dim 8 --mlp 16 --batch 512 --epochs 1\nstrategy  full\n' > "$T/c/experiments/mk.sweep"
# a gen that leaves what hashemb gen leaves when killed (OUT.tmp.PID, TEXT.tmp.PID), then hangs
printf '#!/bin/bash\nif [ "${1-}" = gen ] && [ "${2-}" != --version ]; then\n    while [ $# -gt 0 ]; do case $1 in --out) mkdir -p "$2.tmp.$$"; echo x > "$2.tmp.$$/train.bin" ;; --text) echo x > "$2.tmp.$$" ;; esac; shift; done\n    touch %q; exec sleep 60\nfi\nexec %q "$@"\n' "$T/hung" "$H" > "$T/hang"
chmod +x "$T/hang"
(cd "$T/c" && HASHEMB=$T/hang exec setsid ./run_all.sh --no-plots mk > "$T/c1.out" 2>&1) &
pg=$!
for _ in $(seq 1 600); do [ -e "$T/hung" ] && break; sleep 0.1; done
[ -e "$T/hung" ] || bad "the hanging gen never started: $(tail -2 "$T/c1.out")"
kill -KILL -- -"$pg" 2>/dev/null; wait "$pg" 2>/dev/null
DD=$T/c/results/data
left=$(ls -A "$DD" | tr '\n' ' ')
key=$(ls "$DD" | sed -n 's/^\(gen-[0-9a-f]*\).*/\1/p' | head -1)
[ -n "$key" ] || bad "the killed driver left nothing to clean up: '$left'"
# and what earlier versions of run_all.sh left: gen's --text and --out beside the dataset
sleep 0 & dead=$!
wait $dead
echo x > "$DD/$key.txt"; mkdir -p "$DD/$key.gen" "$DD/$key.tmp.$dead"; echo x > "$DD/$key.txt.tmp.$dead"
(cd "$T/c" && ./run_all.sh --no-plots mk > "$T/c2.out" 2>&1) || bad "the driver after the killed one failed: $(tail -3 "$T/c2.out")"
[ "$(ls -A "$DD" | tr '\n' ' ')" = "$key " ] || bad "after a SIGKILL while making a dataset (left: $left), the next driver leaves only the dataset: $(ls -A "$DD" | tr '\n' ' ')"
[ -f "$DD/$key/dataset.meta" ] || bad "the dataset is made"
[ "$(nres "$T/c/results/mk/runs")" = 1 ] || bad "the sweep runs on the dataset made"

[ $fail = 0 ] && echo "test_sweep_concurrent.sh: all passed"
exit $fail
