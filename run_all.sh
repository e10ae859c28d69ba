#!/usr/bin/env bash
# run_all.sh: the sweep driver (SPEC 7). Installs what is missing, builds, expands each sweep file of
# experiments/ into runs, runs those without a result (so an interrupted sweep resumes), aggregates
# results/SWEEP/summary.tsv and headline.tsv, and draws plots/out/SWEEP/*.png and *.pdf.
#
#   ./run_all.sh [options] [SWEEP...]        (default: quick)
#     --jobs N      runs at once (default 1; each gets cores/N threads)
#     --data DIR    train on this prepared dataset instead of the sweep's own
#     --dry-run     print the runs, their estimated time and memory; run nothing
#     --emit        make the dataset, then print the runs as command lines (threads fixed), one per
#                   line, for GNU parallel or a Slurm array (experiments/slurm.sbatch)
#     --collect     aggregate and plot what has been run (anywhere), run nothing
#     --threads N   threads per run (default: cores / jobs)
#     --no-plots    skip the figures
set -uo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
H=${HASHEMB:-$ROOT/build/hashemb}   # (tests point HASHEMB at a built binary and set HASHEMB_NO_BUILD=1)

jobs=1 data_override="" mode=run threads="" plots=1
sweeps=()
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "run_all.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
    --jobs) [ $# -ge 2 ] && [[ $2 =~ ^[1-9][0-9]*$ ]] || die "--jobs: needs a positive whole number"; jobs=$2; shift 2 ;;
    --threads) [ $# -ge 2 ] && [[ $2 =~ ^[1-9][0-9]*$ ]] || die "--threads: needs a positive whole number"; threads=$2; shift 2 ;;
    --data) [ $# -ge 2 ] || die "--data: needs a prepared dataset directory"; data_override=$2; shift 2 ;;
    --dry-run) mode=dry; shift ;;
    --emit) mode=emit; shift ;;
    --collect) mode=collect; shift ;;
    --no-plots) plots=0; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option '$1'" ;;
    *) sweeps+=("$1"); shift ;;
    esac
done
[ ${#sweeps[@]} -eq 0 ] && sweeps=(quick)
for s in "${sweeps[@]}"; do [ -f "experiments/$s.sweep" ] || die "no sweep '$s' (experiments/$s.sweep; have: $(ls experiments/*.sweep | xargs -n1 basename | sed 's/\.sweep$//' | tr '\n' ' '))"; done
[ -n "$data_override" ] && { [ -f "$data_override/dataset.meta" ] || die "--data: $data_override is not a prepared dataset (no dataset.meta)"; data_override=$(cd "$data_override" && pwd); }

log() { [ "$mode" = emit ] && echo "$*" >&2 || echo "$*"; }

# --- install and build: both cost nothing when done ---
if [ "${HASHEMB_NO_BUILD:-0}" != 1 ] && { [ "$mode" != collect ] || [ ! -x "$H" ]; }; then
    make -s deps >&2 || { echo "run_all.sh: 'make deps' failed: install the packages it names, then run again" >&2; exit 1; }
    make -s >&2 || { echo "run_all.sh: the build failed" >&2; exit 1; }
fi
cores=$(nproc)
[ -z "$threads" ] && threads=$(( cores / jobs > 0 ? cores / jobs : 1 ))

# --- a sweep file: "key value..." lines; strategy lines repeat ---
parse_sweep() { # sets: S_DATASETS[] S_MODELS S_RATIOS S_SEEDS S_TRAIN S_LRS S_STRATS[]
    local f=experiments/$1.sweep key rest n=0
    S_DATASETS=() S_MODELS="deepfm" S_RATIOS="" S_SEEDS="1" S_TRAIN="" S_LRS="1e-3" S_STRATS=()
    while IFS= read -r line || [ -n "$line" ]; do
        n=$((n + 1))
        line=${line%%#*}
        read -r key rest <<< "$line"
        [ -z "$key" ] && continue
        case $key in
        dataset) S_DATASETS+=("$rest") ;;
        models) S_MODELS=$rest ;;
        ratios) S_RATIOS=$rest ;;
        seeds) S_SEEDS=$rest ;;
        train) S_TRAIN=$rest ;;
        lr) S_LRS=$rest ;;
        strategy) S_STRATS+=("$rest") ;;
        *) echo "run_all.sh: $f:$n: unknown key '$key' (dataset, models, ratios, seeds, train, lr, strategy)" >&2; return 1 ;;
        esac
    done < "$f"
    [ ${#S_DATASETS[@]} -gt 0 ] || [ -n "$data_override" ] || { echo "run_all.sh: $f: no 'dataset' line" >&2; return 1; }
    [ ${#S_STRATS[@]} -gt 0 ] || { echo "run_all.sh: $f: no 'strategy' line" >&2; return 1; }
}

# --- the datasets: "[NAME =] RECIPE", where RECIPE is a prepared directory, a `gen ...` command, or
# `gen ... | prep ...` (gen's Criteo text prepared by prep, e.g. with another --id-order). Recipes are
# made once into results/data/ (keyed by the recipe and gen --version) and reused by every sweep that names them.
make_datasets() { # sets DATA_NAMES[] DATA_DIRS[]
    DATA_NAMES=() DATA_DIRS=()
    if [ -n "$data_override" ]; then DATA_NAMES=("$(basename "$data_override")"); DATA_DIRS=("$data_override"); return 0; fi
    local spec name recipe dir key genv=""
    for spec in "${S_DATASETS[@]}"; do
        if [[ $spec =~ ^([A-Za-z0-9_.-]+)[[:space:]]*=[[:space:]]*(.*)$ ]]; then name=${BASH_REMATCH[1]}; recipe=${BASH_REMATCH[2]}
        else name=""; recipe=$spec; fi
        case $recipe in
        gen\ *)
            # keyed by the recipe and the generator's version, so a gen that changed makes new data
            [ -n "$genv" ] || genv=$("$H" gen --version) ||
                { echo "run_all.sh: $H gen --version failed: is it an older hashemb? (make)" >&2; return 1; }
            key=$( { echo "$recipe" | tr -s ' '; echo "$genv"; } | sha256sum | cut -c1-12)
            dir=$ROOT/results/data/gen-$key
            [ -n "$name" ] || name=$(echo "$recipe" | sed -n 's/.*--profile \([a-z]*\).*/\1/p')
            if [ ! -f "$dir/dataset.meta" ]; then
                mkdir -p results/data
                log "making dataset $name: hashemb $recipe"
                if [[ $recipe == *"|"* ]]; then
                    local g=${recipe%%|*} p=${recipe#*|}
                    p=${p# }
                    # shellcheck disable=SC2086
                    "$H" $g --text "$dir.txt" --out "$dir.gen" >&2 &&
                        "$H" ${p} --train "$dir.txt" --out "$dir" >&2
                    local st=$?
                    rm -rf "$dir.txt" "$dir.gen"
                    [ $st -eq 0 ] || { echo "run_all.sh: could not make dataset $name ($recipe)" >&2; return 1; }
                else
                    # shellcheck disable=SC2086
                    "$H" $recipe --out "$dir" >&2 || { echo "run_all.sh: could not make dataset $name ($recipe)" >&2; return 1; }
                fi
            fi ;;
        *)
            dir=$recipe
            [ "${dir#/}" = "$dir" ] && dir=$ROOT/$dir
            [ -n "$name" ] || name=$(basename "$dir")
            [ -f "$dir/dataset.meta" ] || { echo "run_all.sh: dataset '$recipe' is not a prepared dataset; make it with hashemb prep or gen" >&2; return 1; } ;;
        esac
        DATA_NAMES+=("$name"); DATA_DIRS+=("$dir")
    done
}

# --- grid expansion: writes results/SWEEP/grid.tsv (one line per grid point and seed) ---
# columns: dataset model variant ratio_target lr seed run flags; run = the result file's name in runs/
expand_grid() {
    local sweep=$1 out=results/$1/grid.tsv m strat r lr s args emb lrs variant plankey run cfg di DATA dname
    mkdir -p "results/$sweep/runs"
    declare -A seen_plan=() seen_cfg=()
    : > "$out.tmp"
    : > "results/$sweep/plan.err"
    for di in "${!DATA_DIRS[@]}"; do
    DATA=${DATA_DIRS[$di]} dname=${DATA_NAMES[$di]}
    for m in $S_MODELS; do
        for strat in "${S_STRATS[@]}"; do
            lrs=$S_LRS
            if [[ $strat == *"lr="* ]]; then lrs=$(echo "$strat" | sed 's/.*lr=\([^ ]*\).*/\1/' | tr ',' ' '); strat=$(echo "$strat" | sed 's/ *lr=[^ ]*//'); fi
            emb=${strat%% *}
            args="--emb $strat"
            local ratios=$S_RATIOS
            [ "$emb" = full ] && ratios=1
            for r in $ratios; do
                local rarg="--ratio $r"
                [ "$emb" = full ] && rarg=""
                # the resolved plan: grid points with identical layouts share one run (skip's coarse steps)
                # shellcheck disable=SC2086
                plankey=$("$H" plan --data "$DATA" --model "$m" $args $rarg $(train_dim) --tsv 2> "results/$sweep/plan.err.one" | sha256sum | cut -c1-12)
                if [ -s "results/$sweep/plan.err.one" ]; then # every unbuildable point, named, in plan.err
                    while IFS= read -r l; do printf '%s: %s\n' "$dname $m $strat${rarg:+ r$r}" "$l"; done \
                        < "results/$sweep/plan.err.one" >> "results/$sweep/plan.err"
                fi
                if [ ! -s "results/$sweep/plan.err.one" ]; then
                    variant=$("$H" plan --data "$DATA" --model "$m" $args $rarg $(train_dim) 2>/dev/null | awk 'NR == 1 { sub(/,$/, "", $2); print $2 }')
                else
                    variant="invalid:$(echo "$strat" | tr ' ' '_')"; plankey="err-$(echo "$m $strat $r" | sha256sum | cut -c1-12)"
                fi
                for lr in $lrs; do
                    for s in $S_SEEDS; do
                        local k="$dname|$m|$strat|$lr|$s|$plankey"
                        cfg="--data $DATA --model $m $args $rarg --lr $lr --seed $s $S_TRAIN"
                        if [ -n "${seen_plan[$k]:-}" ]; then
                            run=${seen_plan[$k]}
                            cfg=${seen_cfg[$k]}
                        else
                            # the name ends in a hash of the whole configuration (dataset directory and
                            # training flags included): a changed sweep file never reuses an old result
                            run=$(echo "$dname $m $strat r$r lr$lr s$s" | sed 's/--//g' | tr -s ' ' | tr ' :=/' '____' | tr -cd 'A-Za-z0-9_.,-')_$(printf '%s' "$cfg" | sha256sum | cut -c1-8)
                            seen_plan[$k]=$run
                            seen_cfg[$k]=$cfg
                        fi
                        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$dname" "$m" "$variant" "$r" "$lr" "$s" "$run" "$cfg" >> "$out.tmp"
                    done
                done
            done
        done
    done
    done
    rm -f "results/$sweep/plan.err.one"
    mv "$out.tmp" "$out"
}
train_dim() { # the --dim among the training flags (the plan depends on it)
    local d
    d=$(echo " $S_TRAIN " | sed -n 's/.* --dim \([0-9]*\) .*/\1/p')
    [ -n "$d" ] && echo "--dim $d"
}

# the runs to do: unique run names with their flags
runs_of() { awk -F'\t' '!seen[$7]++ { print $7 "\t" $8 }' "results/$1/grid.tsv"; }

run_cmd() { # run_cmd SWEEP RUN FLAGS -> the command line
    # no --quiet: the run's log (runs/RUN.log) keeps its configuration table and a line per epoch
    printf '%q train %s --threads %s --out %q' "$H" "$3" "$threads" "$ROOT/results/$1/runs/$2.tsv"
}

estimate() { # per run: seconds and bytes, printed "sec bytes"
    local flags=$1 rows epochs mlp dim batch params DATA
    DATA=$(echo " $flags " | sed -n 's/.* --data \([^ ]*\) .*/\1/p')
    rows=$(sed -n 's/^rows_train=//p' "$DATA/dataset.meta")
    epochs=$(echo " $flags " | sed -n 's/.* --epochs \([0-9]*\) .*/\1/p'); epochs=${epochs:-3}
    mlp=$(echo " $flags " | sed -n 's/.* --mlp \([0-9,]*\) .*/\1/p'); mlp=${mlp:-400,400,400}
    dim=$(echo " $flags " | sed -n 's/.* --dim \([0-9]*\) .*/\1/p'); dim=${dim:-16}
    batch=$(echo " $flags " | sed -n 's/.* --batch \([0-9]*\) .*/\1/p'); batch=${batch:-4096}
    # shellcheck disable=SC2086
    params=$("$H" plan $(echo " $flags " | sed 's/ --\(lr\|seed\|epochs\|mlp\|batch\|patience\|optim\|emb-l2\) [^ ]*//g') --tsv 2>/dev/null | awk -F'\t' '$1 == "total" { print $9 }')
    params=${params:-0}
    local fields
    fields=$(sed -n 's/^fields=//p' "$DATA/dataset.meta")
    awk -v rows="$rows" -v ep="$epochs" -v mlp="$mlp" -v d="$dim" -v f="$fields" -v b="$batch" -v p="$params" -v t="$threads" 'BEGIN {
        n = split(mlp, h, ","); in_ = f * d; macs = 0
        for (i = 1; i <= n; i++) { macs += in_ * h[i]; in_ = h[i] } macs += in_
        # about 25 GFLOP/s per thread at these shapes, 6 flops per MAC (forward and backward)
        sps = 25e9 * t / (6 * macs); if (sps > 300000 * t) sps = 300000 * t
        sec = rows * ep / sps * 1.3 + 5
        bytes = p * 4 * 3 + p * 1 + b * f * (d + 1) * 4 * 2 + 3 * macs * 4 * 4 + rows * (f * 4 + 5) + 64e6
        printf "%.0f %.0f\n", sec, bytes }'
}

human_bytes() { awk -v b="$1" 'BEGIN { split("B KB MB GB TB", u); i = 1; while (b >= 1024 && i < 5) { b /= 1024; i++ } printf "%.1f %s", b, u[i] }'; }
human_time() { awk -v s="$1" 'BEGIN { s = int(s + 0.5); if (s >= 3600) printf "%dh%02dm", s / 3600, s % 3600 / 60; else printf "%dm%02ds", s / 60, s % 60 }'; }

total_failed=0
for sweep in "${sweeps[@]}"; do
    parse_sweep "$sweep" || exit 1
    if [ "$mode" = collect ]; then
        [ -f "results/$sweep/grid.tsv" ] || { echo "run_all.sh: results/$sweep/grid.tsv: nothing to collect (run or --emit the sweep first)" >&2; exit 1; }
    else
        make_datasets || exit 1
        mkdir -p "results/$sweep"
        expand_grid "$sweep" || exit 1
    fi
    npoints=$(awk -F'\t' '!s[$1 FS $2 FS $3 FS $4 FS $5]++' "results/$sweep/grid.tsv" | wc -l)
    mapfile -t RUNS < <(runs_of "$sweep")
    todo=()
    for line in "${RUNS[@]}"; do
        run=${line%%$'\t'*}
        [ -f "results/$sweep/runs/$run.tsv" ] || todo+=("$line")
    done
    log "sweep $sweep: $npoints grid points, ${#RUNS[@]} runs (${#todo[@]} to do)"

    if [ "$mode" = dry ] || [ "$mode" = run ]; then
        tot_sec=0 max_bytes=0
        for line in "${todo[@]}"; do
            read -r sec bytes <<< "$(estimate "${line#*$'\t'}")"
            tot_sec=$((tot_sec + sec)); [ "$bytes" -gt "$max_bytes" ] && max_bytes=$bytes
            [ "$mode" = dry ] && printf '  %-60s ~%s, ~%s\n' "${line%%$'\t'*}" "$(human_time "$sec")" "$(human_bytes "$bytes")"
        done
        avail=$(awk '/MemAvailable/ { printf "%.0f", $2 * 1024 }' /proc/meminfo)
        log "  estimate: $(human_time $((tot_sec / jobs))) with --jobs $jobs ($threads threads each), up to $(human_bytes "$max_bytes") per run"
        if [ $((max_bytes * jobs)) -gt "${avail:-0}" ]; then
            echo "run_all.sh: warning: $jobs runs at once may need $(human_bytes $((max_bytes * jobs))), more than the $(human_bytes "$avail") available: use fewer --jobs" >&2
        fi
        [ "$mode" = dry ] && continue
    fi
    if [ "$mode" = emit ]; then
        for line in "${todo[@]}"; do
            run=${line%%$'\t'*}
            echo "$(run_cmd "$sweep" "$run" "${line#*$'\t'}") 2> $(printf '%q' "$ROOT/results/$sweep/runs/$run.log")"
        done
        continue
    fi

    if [ "$mode" = run ] && [ ${#todo[@]} -gt 0 ]; then
        rm -f "results/$sweep/errors.tsv"
        done_n=0 fail_n=0 start=$(date +%s) i=0
        declare -A pids=()
        launch() {
            local line=$1 run flags
            run=${line%%$'\t'*}; flags=${line#*$'\t'}
            ( eval "$(run_cmd "$sweep" "$run" "$flags")" 2> "results/$sweep/runs/$run.log" ) &
            pids[$!]=$run
        }
        reap() {
            local pid st
            wait -n -p pid; st=$?
            local run=${pids[$pid]}; unset "pids[$pid]"
            if [ "$st" -eq 0 ] && [ -f "results/$sweep/runs/$run.tsv" ]; then done_n=$((done_n + 1))
            else
                fail_n=$((fail_n + 1)); done_n=$((done_n + 1))
                printf '%s\t%s\t%s\n' "$run" "$st" "$(grep '^hashemb\|^train:' "results/$sweep/runs/$run.log" | grep -v '^hashemb train [0-9a-f]*\(-dirty\)\?$' | tail -n 1)" >> "results/$sweep/errors.tsv"
                echo "  FAILED: $run (exit $st): $(cut -f3 "results/$sweep/errors.tsv" | tail -n 1)" >&2
            fi
            local now el eta
            now=$(date +%s); el=$((now - start))
            eta=$(( done_n > 0 ? el * (${#todo[@]} - done_n) / done_n : 0 ))
            printf '  [%d/%d] %s %s  elapsed %s  ETA %s\n' "$done_n" "${#todo[@]}" "$([ "$st" -eq 0 ] && echo done || echo failed)" "$run" "$(human_time $el)" "$(human_time $eta)"
        }
        for line in "${todo[@]}"; do
            while [ ${#pids[@]} -ge "$jobs" ]; do reap; done
            launch "$line"
        done
        while [ ${#pids[@]} -gt 0 ]; do reap; done
        total_failed=$((total_failed + fail_n))
    fi

    "$ROOT/experiments/aggregate.sh" "$sweep" || { echo "run_all.sh: aggregation of $sweep failed" >&2; exit 1; }
    if [ "$plots" = 1 ]; then
        if command -v gnuplot >/dev/null; then
            mkdir -p "plots/out/$sweep"
            for gp in plots/*.gp; do
                gnuplot -e "sweep='$sweep'" "$gp" 2> "plots/out/$sweep/$(basename "$gp" .gp).log" ||
                    echo "run_all.sh: warning: $gp failed on $sweep (plots/out/$sweep/$(basename "$gp" .gp).log)" >&2
            done
            log "  figures: plots/out/$sweep/ ($(ls "plots/out/$sweep"/*.png 2>/dev/null | wc -l) PNG)"
        else
            echo "run_all.sh: gnuplot not found: no figures (make deps installs gnuplot-nox)" >&2
        fi
    fi
    log "  summary: results/$sweep/summary.tsv, headline: results/$sweep/headline.tsv"
    [ -f "results/$sweep/headline.tsv" ] && [ "$mode" = run ] && { if command -v column > /dev/null; then column -t -s $'\t' "results/$sweep/headline.tsv"; else cat "results/$sweep/headline.tsv"; fi; } | sed 's/^/    /'
    if [ -f "results/$sweep/errors.tsv" ] && [ "$mode" != emit ]; then
        echo "run_all.sh: $(wc -l < "results/$sweep/errors.tsv") run(s) of $sweep failed (retried next time):" >&2
        cut -f1,3 "results/$sweep/errors.tsv" | sed 's/^/  /' >&2
        total_failed=$((total_failed + 0))
        [ "$mode" = collect ] && total_failed=$((total_failed + $(wc -l < "results/$sweep/errors.tsv")))
    fi
done
[ "$total_failed" -gt 0 ] && exit 1
exit 0
