#!/usr/bin/env bash
# run_all.sh treats sweep values and paths as data, never as shell code: values with command
# substitutions, semicolons or globs reach hashemb as plain arguments (the run fails and is reported,
# nothing else runs), in the driver and in the figures' shell commands; a checkout and a --data path
# with spaces, quotes and $(...) in their names work; --emit prints lines that bash -c, sh -c and
# experiments/slurm.sbatch turn into exactly the arguments of a plain run; a path with a tab or a
# newline is refused (exit 2); a failed run always gives a reason; a failed aggregation says so in one
# line instead of printing its awk program.
. "$(dirname "$0")/testing.sh"
pwned() { find "$T" -name "${1:-pwned*}" 2>/dev/null | sed "s|^$T/||" | head -3 | tr '\n' ' '; } # [NAME]: canaries made
export HASHEMB_NO_BUILD=1

# a stand-in for hashemb that records the arguments of each `train` (one file each, NUL-separated)
# in $REC_DIR, then runs the real one (REC_RUN=0: records only). Its own path has a space in it.
mkdir -p "$T/bin dir"
REC="$T/bin dir/rec"
printf '#!/bin/bash\nif [ "${1-}" = train ]; then\n    printf "%%s\\0" "$@" > "$(mktemp "$REC_DIR/argv.XXXXXX")"\n    [ "${REC_RUN:-1}" = 0 ] && exit 0\nfi\nexec %q "$@"\n' "$H" > "$REC"
chmod +x "$REC"
export HASHEMB=$REC REC_DIR=$T/argv-none
mkdir -p "$REC_DIR"
argvs() { local f; for f in "$1"/argv.*; do [ -f "$f" ] && sha256sum < "$f"; done | sort; }

# the fuzzing campaign's reproducers run in a checkout with a plain path (where the old driver's eval
# did run them); the paths with spaces and quotes further down in another
R=$T/plain
mkcopy "$R"

# --- sweep values with shell syntax: each reaches hashemb as words; the runs fail; nothing runs ---
cat > "$R/experiments/inject.sweep" <<'SWEEP'
dataset   tiny = gen --profile tiny --rows 20000 --seed 3
models    deepfm x;touch${IFS}pwned_model;true
ratios    2
seeds     1
train     --dim 8 --mlp 16 --batch 512 --epochs 1
strategy  full
strategy  hash --compress-min 50 $(touch pwned_strategy)
strategy  hash --compress-min 50 `touch pwned_backtick`
strategy  bh --compress-min 50 *
SWEEP
export REC_DIR=$T/argv-inject
mkdir -p "$REC_DIR"
(cd "$R" && ./run_all.sh inject > "$T/inject.out" 2> "$T/inject.err"); st=$?
[ "$st" = 1 ] || bad "a sweep with unusable values: exit $st, not 1: $(tail -3 "$T/inject.err")"
for c in pwned_model pwned_strategy pwned_backtick; do [ -z "$(pwned $c)" ] || bad "sweep values were run as shell code: $(pwned $c)"; done
grep -q "FAILED: .*hash_compress-min_50_touch_pwned_strategy" "$T/inject.err" || bad "the run with \$(...) in its strategy is reported as failed: $(grep FAILED "$T/inject.err" | head -2)"
[ "$(nres "$R/results/inject/runs")" = 1 ] || bad "only deepfm's full run succeeds ($(nres "$R/results/inject/runs") results)"
# the words as written: no command substitution, no glob
tr '\0' '\n' < /dev/null > "$T/words"
for f in "$REC_DIR"/argv.*; do tr '\0' '\n' < "$f"; done > "$T/words"
grep -qx '\$(touch' "$T/words" && grep -qx 'pwned_strategy)' "$T/words" || bad "\$(touch pwned_strategy) reaches hashemb as two words"
grep -qx '`touch' "$T/words" || bad "a backquote reaches hashemb as it is"
grep -qx '\*' "$T/words" || bad "* reaches hashemb unexpanded"
grep -qx 'run_all.sh' "$T/words" && bad "* was expanded to file names"
grep -qx 'x;touch${IFS}pwned_model;true' "$T/words" || bad "the model value reaches hashemb as one word"
# the model's name is a key the figures put in shell commands: it is made harmless there
cut -f2 "$R/results/inject/grid.tsv" | sort -u | grep -q '^bad_x_touch' || bad "grid.tsv keeps a model name with ';' and '\$': $(cut -f2 "$R/results/inject/grid.tsv" | sort -u | tr '\n' ' ')"
cut -f1-6 "$R/results/inject/grid.tsv" | grep -q '[;$`*]' && bad "grid.tsv keys hold shell characters: $(cut -f1-6 "$R/results/inject/grid.tsv" | grep '[;$`*]' | head -1)"

# the reproducers of the fuzzing campaign: a train value and a learning rate
printf 'dataset   tiny = gen --profile tiny --rows 20000 --seed 3\nratios    2\nstrategy  full\ntrain     --dim 8 --mlp 16 --batch 512 --epochs 1;touch pwned_train;true\n' > "$R/experiments/inject-train.sweep"
printf 'dataset   tiny = gen --profile tiny --rows 20000 --seed 3\nratios    2\nstrategy  full\ntrain     --dim 8 --mlp 16 --batch 512 --epochs 1\nlr        1e-3;touch${IFS}pwned_lr;true\n' > "$R/experiments/inject-lr.sweep"
for s in inject-train inject-lr; do
    (cd "$R" && ./run_all.sh --no-plots "$s" > "$T/$s.out" 2> "$T/$s.err"); st=$?
    [ "$st" = 1 ] || bad "$s: exit $st, not 1 (the run fails in hashemb)"
    grep -q "FAILED: " "$T/$s.err" || bad "$s: the failed run is reported"
    c=pwned_${s#inject-}
    [ -z "$(pwned "$c")" ] || bad "$s: sweep value run as shell code: $(pwned "$c")"
done

# --- --data with a space and $(...) in its path, in a checkout whose path holds a space, a quote and
# a command substitution: the runs work, nothing is run ---
D=$T/'my data $(touch${IFS}pwned_data)'
cp -r "$(ls -d "$R"/results/data/gen-*/ | head -1)" "$D"
R=$T/'root dir $(touch${IFS}pwned_root) q'\''s'
mkcopy "$R"
export REC_DIR=$T/argv-run
mkdir -p "$REC_DIR"
(cd "$R" && ./run_all.sh --no-plots --data "$D" tiny > "$T/data.out" 2> "$T/data.err") || bad "--data with a space in its path: $(tail -3 "$T/data.err")"
[ "$(nres "$R/results/tiny/runs")" = 10 ] || bad "--data with a space: 10 results ($(nres "$R/results/tiny/runs"))"
[ "$(tail -n +2 "$R/results/tiny/summary.tsv" 2>/dev/null | awk -F'\t' '$6 == "ok"' | wc -l)" = 5 ] || bad "--data with a space: 5 points ok in the summary"
[ -z "$(pwned pwned_data)" ] || bad "the --data path was run as shell code: $(pwned pwned_data)"
[ -z "$(pwned pwned_root)" ] || bad "the checkout's path was run as shell code: $(pwned pwned_root)"
grep -qxF -- "$D" <(for f in "$REC_DIR"/argv.*; do tr '\0' '\n' < "$f"; done) || bad "the --data path reaches hashemb as one argument"

# --- --emit: bash -c, sh -c and slurm.sbatch run exactly the arguments of a plain run ---
R2=$T/'emit copy $x'
mkcopy "$R2"
(cd "$R2" && REC_RUN=0 ./run_all.sh --emit --data "$D" tiny > "$T/cmds" 2> "$T/emit.err") || bad "--emit failed: $(tail -2 "$T/emit.err")"
[ "$(wc -l < "$T/cmds")" = 10 ] || bad "--emit: 10 lines ($(wc -l < "$T/cmds"))"
for sh in bash sh; do
    mkdir -p "$T/argv-$sh"
    while IFS= read -r line; do REC_DIR=$T/argv-$sh REC_RUN=0 $sh -c "$line" || bad "$sh -c failed on: $line"; done < "$T/cmds"
done
[ -z "$(pwned)" ] || bad "emitted lines ran shell code: $(pwned)"
ls "$R2/results/tiny/runs/"*.log > /dev/null 2>&1 || bad "emitted lines write the run's log"
mkdir -p "$T/argv-slurm" "$T/argv-line3"
SLURM_ARRAY_TASK_ID=3 REC_DIR=$T/argv-slurm REC_RUN=0 bash "$R2/experiments/slurm.sbatch" "$T/cmds" || bad "slurm.sbatch failed on line 3"
REC_DIR=$T/argv-line3 REC_RUN=0 bash -c "$(sed -n 3p "$T/cmds")"
[ -n "$(argvs "$T/argv-slurm")" ] && [ "$(argvs "$T/argv-slurm")" = "$(argvs "$T/argv-line3")" ] || bad "slurm.sbatch runs line 3's arguments"
export REC_DIR=$T/argv-run2
mkdir -p "$REC_DIR"
(cd "$R2" && ./run_all.sh --no-plots --data "$D" tiny > "$T/run2.out" 2>&1) || bad "plain run in the emit copy: $(tail -2 "$T/run2.out")"
[ "$(argvs "$T/argv-run2" | wc -l)" = 10 ] || bad "the plain run trains 10 times"
[ "$(argvs "$T/argv-bash")" = "$(argvs "$T/argv-run2")" ] || bad "bash -c LINE does not give the plain run's arguments: $(diff <(for f in "$T"/argv-bash/argv.*; do tr '\0' ' ' < "$f"; echo; done | sort) <(for f in "$T"/argv-run2/argv.*; do tr '\0' ' ' < "$f"; echo; done | sort) | head -4)"
[ "$(argvs "$T/argv-sh")" = "$(argvs "$T/argv-run2")" ] || bad "sh -c LINE does not give the plain run's arguments"
(cd "$R2" && ./run_all.sh --collect --no-plots tiny > /dev/null 2>&1) || bad "--collect after the run"

# --- a tab or a newline in a dataset path: refused, exit 2, with the reason ---
R=$T/plain
for c in $'\t' $'\n'; do
    P="$T/tab${c}data"
    cp -r "$D" "$P"
    (cd "$R" && ./run_all.sh --dry-run --data "$P" tiny > /dev/null 2> "$T/tab.err"); st=$?
    [ "$st" = 2 ] || bad "--data with $(printf '%q' "$c") in its path: exit $st, not 2"
    grep -q "tab or a newline" "$T/tab.err" || bad "--data with $(printf '%q' "$c"): the reason: $(head -2 "$T/tab.err")"
done
printf 'dataset   x = %s\nratios    2\nstrategy  full\n' "$T/tab"$'\t'"data" > "$R/experiments/tabdata.sweep"
(cd "$R" && ./run_all.sh --dry-run tabdata > /dev/null 2> "$T/tab.err"); st=$?
[ "$st" = 2 ] && grep -q "contains a tab" "$T/tab.err" || bad "a sweep's dataset path with a tab: exit $st, $(head -2 "$T/tab.err")"

# --- a failed run gives a reason, even when hashemb printed no error line (a full disk) ---
printf '#!/bin/bash\nif [ "${1-}" = train ]; then\n    case $FAILMODE in\n    msg) printf "epoch 1 of 1\\nwrite failed: No space left on device\\n\\n" >&2; exit 1 ;;\n    empty) exit 1 ;;\n    esac\nfi\nexec %q "$@"\n' "$H" > "$T/failer"
chmod +x "$T/failer"
printf 'dataset   tiny = gen --profile tiny --rows 20000 --seed 3\nratios    2\nstrategy  full\ntrain     --dim 8 --mlp 16 --batch 512 --epochs 1\n' > "$R/experiments/one.sweep"
(cd "$R" && FAILMODE=msg HASHEMB=$T/failer ./run_all.sh --no-plots one > /dev/null 2> "$T/fail.err")
grep -q "FAILED: .*(exit 1): write failed: No space left on device" "$T/fail.err" || bad "a failed run without a hashemb line shows its log's last line: $(grep FAILED "$T/fail.err")"
(cd "$R" && FAILMODE=empty HASHEMB=$T/failer ./run_all.sh --no-plots one > /dev/null 2> "$T/fail.err")
grep -q "FAILED: .*(exit 1): no message (see results/one/runs/.*\.log" "$T/fail.err" || bad "a failed run with an empty log says so and names the log: $(grep FAILED "$T/fail.err")"
grep -q "no message" "$R/results/one/errors.tsv" || bad "errors.tsv keeps the reason"

# --- an aggregation whose awk dies (mawk aborts on a full disk): one line naming the file ---
mkdir -p "$T/shim"
printf '#!/bin/bash\nfor a in "$@"; do case $a in *"getline h < headfile"*) echo "awk: write failure (No space left on device)" >&2; kill -ABRT $$ ;; esac; done\nexec %q "$@"\n' "$(command -v awk)" > "$T/shim/awk"
chmod +x "$T/shim/awk"
(cd "$R2" && PATH=$T/shim:$PATH ./experiments/aggregate.sh tiny > /dev/null 2> "$T/agg.err"); st=$?
[ "$st" != 0 ] || bad "a failed aggregation exits non-zero"
grep -q "summary.tsv" "$T/agg.err" && grep -q "No space left" "$T/agg.err" || bad "a failed aggregation names the file and the reason: $(head -c 300 "$T/agg.err")"
grep -q "getline" "$T/agg.err" && bad "a failed aggregation prints its awk program: $(head -c 200 "$T/agg.err")"
[ "$(wc -l < "$T/agg.err")" -le 2 ] || bad "a failed aggregation: at most 2 lines on stderr ($(wc -l < "$T/agg.err"))"
ls "$R2/results/tiny/" | grep -q 'tmp' && bad "a failed aggregation leaves temporaries: $(ls "$R2/results/tiny/" | grep tmp)"
(cd "$R2" && PATH=$T/shim:$PATH ./run_all.sh --collect --no-plots tiny > /dev/null 2> "$T/agg.err"); st=$?
[ "$st" = 1 ] && grep -q "aggregation of tiny failed" "$T/agg.err" || bad "run_all.sh --collect with a failing aggregation: exit $st, $(tail -1 "$T/agg.err")"

[ -z "$(pwned)" ] || bad "something ran shell code from data: $(pwned)"
[ $fail = 0 ] && echo "test_sweep_quoting.sh: all passed"
exit $fail
