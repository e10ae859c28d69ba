#!/usr/bin/env bash
# run_all.sh: the sweep driver (SPEC 7). Installs what is missing, builds, expands each sweep file of
# experiments/ into runs, runs those without a result (so an interrupted sweep resumes), aggregates
# results/SWEEP/summary.tsv and headline.tsv, and draws plots/out/SWEEP/*.png and *.pdf.
#
#   ./run_all.sh [options] [SWEEP...]        (default: quick)
#     --jobs N          runs at once (default 1; each gets cores/N threads)
#     --data DIR        train on this prepared dataset instead of the sweep's own
#     --dry-run         print the runs, their estimated time and memory; run nothing
#     --emit            make the dataset, then print the runs as shell command lines (threads fixed),
#                       one per line, for GNU parallel or a Slurm array (experiments/slurm.sbatch)
#     --collect         aggregate and plot what has been run (anywhere), run nothing
#     --threads N       threads per run (default: cores / jobs)
#     --nodes N         with --dry-run: also the estimate on N machines like this one (a Slurm job
#                       array of --emit's lines, or N drivers sharing results/), longest runs first
#     --no-plots        skip the figures
#     --steal-claims    take over runs and datasets claimed by drivers on other hosts (only when
#                       those drivers are known to be dead)
#
# Several drivers may share one results/ directory, on one machine or on several over a shared disk:
# each run, each dataset being made and each aggregation is claimed first (see "claims" below). A
# driver skips what another one holds; it waits for drivers of this host, and takes over from those
# that died; runs held by drivers of other hosts are left to them and named at the end (exit 3).
# Exit status: 0 all done, 1 a run or a step failed, 2 bad command line, 3 runs left to other hosts
# (or, with --collect, runs without a result yet).
set -uo pipefail
unset CDPATH
cd "$(dirname "$0")" || exit 1
ROOT=$PWD
H=${HASHEMB:-$ROOT/build/hashemb}   # (tests point HASHEMB at a built binary and set HASHEMB_NO_BUILD=1)

jobs=1 data_override="" mode=run threads="" plots=1 steal=0 nodes=0
sweeps=()
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
die() { echo "run_all.sh: $*" >&2; exit 2; }
has_tab_or_newline() { [[ $1 == *[$'\t\n']* ]]; }
while [ $# -gt 0 ]; do
    case $1 in
    --jobs) [ $# -ge 2 ] && [[ $2 =~ ^[1-9][0-9]*$ ]] || die "--jobs: needs a positive whole number"; jobs=$2; shift 2 ;;
    --threads) [ $# -ge 2 ] && [[ $2 =~ ^[1-9][0-9]*$ ]] || die "--threads: needs a positive whole number"; threads=$2; shift 2 ;;
    --data) [ $# -ge 2 ] && [ -n "$2" ] || die "--data: needs a prepared dataset directory"; data_override=$2; shift 2 ;;
    --nodes) [ $# -ge 2 ] && [[ $2 =~ ^[1-9][0-9]*$ ]] || die "--nodes: needs a positive whole number"; nodes=$2; shift 2 ;;
    --dry-run) mode=dry; shift ;;
    --emit) mode=emit; shift ;;
    --collect) mode=collect; shift ;;
    --no-plots) plots=0; shift ;;
    --steal-claims) steal=1; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option '$1'" ;;
    *) sweeps+=("$1"); shift ;;
    esac
done
[ "$nodes" -gt 0 ] && [ "$mode" != dry ] && die "--nodes: only with --dry-run (it sizes the sweep for N machines)"
[ ${#sweeps[@]} -eq 0 ] && sweeps=(quick)
for s in "${sweeps[@]}"; do
    # the name becomes a path under results/ and plots/out/ and a gnuplot string
    [[ $s =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] || die "bad sweep name $(printf '%q' "$s") (letters, digits, '_', '.', '-')"
    if [ ! -f "experiments/$s.sweep" ]; then
        have=""; for f in experiments/*.sweep; do f=${f##*/}; have+="${f%.sweep} "; done
        die "no sweep '$s' (experiments/$s.sweep; have: $have)"
    fi
done
if [ -n "$data_override" ]; then
    # a tab or newline in the path would break the TSV files that record it (grid.tsv, result rows)
    has_tab_or_newline "$data_override" && die "--data: the path $(printf '%q' "$data_override") contains a tab or a newline, which the result files (TSV) cannot hold: rename the directory or link it under another name"
    [ -f "$data_override/dataset.meta" ] || die "--data: $data_override is not a prepared dataset (no dataset.meta)"
    data_override=$(cd -- "$data_override" && pwd) || die "--data: cannot enter $data_override"
    has_tab_or_newline "$data_override" && die "--data: the full path $(printf '%q' "$data_override") contains a tab or a newline (TSV files cannot hold it)"
fi

log() { if [ "$mode" = emit ]; then echo "$*" >&2; else echo "$*"; fi; }

# --- install and build: both cost nothing when done ---
if [ "${HASHEMB_NO_BUILD:-0}" != 1 ] && { [ "$mode" != collect ] || [ ! -x "$H" ]; }; then
    make -s deps >&2 || { echo "run_all.sh: 'make deps' failed: install the packages it names, then run again" >&2; exit 1; }
    make -s >&2 || { echo "run_all.sh: the build failed" >&2; exit 1; }
fi
cores=$(nproc)
[ -z "$threads" ] && threads=$(( cores / jobs > 0 ? cores / jobs : 1 ))

# --- shell words: sweep values and paths are data, never code ---
# Values are split on whitespace into separate arguments (read -a: no glob, no expansion) and kept
# in arrays; a run's arguments are stored tab-joined (no argument holds a tab: sweep values are split
# on tabs, and paths with tabs are refused).
shq() { # the arguments as POSIX shell words on one line: plain words as they are, others in '...'
    local a out="" sq="'\\''"
    for a in "$@"; do
        if [[ $a =~ ^[A-Za-z0-9_.,:=/+@%-]+$ ]]; then out+=" $a"; else out+=" '${a//\'/$sq}'"; fi
    done
    printf '%s' "${out# }"
}
label() { # VAR VALUE: VAR = VALUE as a key of grid.tsv and summary.tsv, which the plots put in shell
    # commands: a value with other characters than these becomes bad_<them replaced>_<hash>
    local -n _lab=$1
    if [[ $2 =~ ^[A-Za-z0-9_.,:=+-]+$ ]]; then _lab=$2
    else _lab="bad_$(printf '%s' "$2" | tr -c 'A-Za-z0-9_.-' '_' | cut -c1-40)_$(printf '%s' "$2" | sha256sum | cut -c1-8)"; fi
}

# --- claims ---
# A run (results/SWEEP/runs/RUN.claim), a dataset being made (results/data/gen-KEY.claim) and an
# aggregation (results/SWEEP/aggregate.claim) are each claimed by a file made complete under a
# private name and then hard-linked to the claim's name: link(2) is atomic, fails when the name
# exists, and is safe on NFS (where flock is not). The file names its owner (host, boot id, driver
# pid and start time) and the processes the driver started for it (the trainer, gen, prep). A claim
# is live while one of them runs. On this host that is checked (/proc, or kill -0); a claim of this
# host whose processes are all gone (SIGKILL, a crash, a reboot) is taken over: moved aside under a
# private name (only one driver can), checked to be the one judged dead, then claimed as usual. A
# claim of another host cannot be checked from here: its run is left to that driver and named at the
# end, its dataset waited for, unless --steal-claims. An aggregation takes seconds: its claim is also
# taken over when older than 10 minutes. Temporaries carry host and pid (NAME.what.HOST.PID), so a
# driver that holds a claim removes those of this host's dead processes, and hashemb's own NAME.tmp.PID
# when their process is gone and the claim was not another host's.
HOST=$(uname -n 2>/dev/null); HOST=${HOST//[^A-Za-z0-9._-]/_}; HOST=${HOST:-localhost}
BOOT=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null) || BOOT=unknown
pid_start() { # PID: its start time (clock ticks after boot), from /proc
    local s fld
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    read -ra fld <<< "${s##*) }"
    printf '%s' "${fld[19]:--}"
}
pid_alive() { # PID [START]: a process PID runs on this host (the one started at START, when given)
    local st s fld
    [[ $1 =~ ^[1-9][0-9]*$ ]] || return 1
    if [ -d "/proc/$1" ]; then
        # a zombie (killed, not yet reaped: an orphan waits for whatever adopts it) runs no more
        s=$(cat "/proc/$1/stat" 2>/dev/null) && read -ra fld <<< "${s##*) }" &&
            { [ "${fld[0]}" = Z ] || [ "${fld[0]}" = X ]; } && return 1
        [ -z "${2:-}" ] || [ "$2" = - ] && return 0
        st=$(pid_start "$1") || { [ -d "/proc/$1" ]; return; }
        [ "$st" = "$2" ] || [ "$st" = - ]
        return
    fi
    [ -d /proc/self ] && return 1
    kill -0 "$1" 2>/dev/null || [[ $(kill -0 "$1" 2>&1) == *ermitted* ]]
}
OWNER="owner $HOST $BOOT $$ $(pid_start $$ || echo -)"
HELD=()                 # claims taken (released at exit when still ours)
declare -A pids=()      # processes started: pid -> run name (or - for a dataset step)
CLAIM_STATE="" CLAIM_BY="" CLAIM_PRIOR=""

claim_judge() { # CONTENT: CLAIM_STATE = live, dead (this host, none of its processes runs), away
    # (another host) or odd (not a claim this script wrote); CLAIM_BY = who, for messages
    local kw h b p s live=0
    CLAIM_STATE=odd CLAIM_BY="an unknown owner"
    read -r kw h b p s <<< "${1%%$'\n'*}"
    [ "$kw" = owner ] && [[ $p =~ ^[0-9]+$ ]] || return 0
    CLAIM_BY="host $h pid $p"
    if [ "$h" != "$HOST" ]; then CLAIM_STATE=away; return 0; fi
    CLAIM_STATE=dead
    [ "$b" = "$BOOT" ] || return 0
    pid_alive "$p" "$s" && live=1
    while read -r kw p s; do
        [ "$kw" = child ] && pid_alive "$p" "$s" && live=1
    done <<< "$1"
    [ $live = 1 ] && CLAIM_STATE=live
    return 0
}
file_age() { # FILE: seconds since its last change, by the clock of the disk that holds it
    local probe=$1.age.$HOST.$$ now was
    if ! : > "$probe" 2>/dev/null || ! now=$(stat -c %Y "$probe"); then rm -f "$probe"; echo 0; return; fi
    rm -f "$probe"
    was=$(stat -c %Y "$1" 2>/dev/null) || { echo 0; return; }
    echo $((now - was))
}
claim_try() { # FILE [MAX_AGE]: 0 when this driver now holds FILE; 1 when another does (CLAIM_STATE,
    # CLAIM_BY); 2 when the claim cannot be written. CLAIM_PRIOR = the content of a dead claim taken over
    local f=$1 maxage=${2:-} tmp=$1.new.$HOST.$$ moved=$1.stale.$HOST.$$ content _
    CLAIM_PRIOR=""
    for _ in 1 2 3 4 5; do
        if [ -e "$f" ]; then
            content=$(cat "$f" 2>/dev/null) || continue     # released meanwhile: try again
            [ "${content%%$'\n'*}" = "$OWNER" ] && return 0    # already ours
            claim_judge "$content"
            if [ "$CLAIM_STATE" = away ] || [ "$CLAIM_STATE" = odd ]; then
                if [ "$steal" = 1 ]; then CLAIM_STATE=dead
                elif [ -n "$maxage" ] && [ "$(file_age "$f")" -gt "$maxage" ]; then CLAIM_STATE=dead; fi
            fi
            [ "$CLAIM_STATE" = dead ] || return 1
            # take it over: one driver moves it aside, and puts it back if it was not the dead one
            mv -f "$f" "$moved" 2>/dev/null || continue
            if [ "$(cat "$moved" 2>/dev/null)" = "$content" ]; then CLAIM_PRIOR=$content
            else ln "$moved" "$f" 2>/dev/null; fi
            rm -f "$moved"
            continue
        fi
        printf '%s\nsince %s\n' "$OWNER" "$(date '+%Y-%m-%dT%H:%M:%S%z')" > "$tmp" ||
            { rm -f "$tmp"; echo "run_all.sh: cannot write $tmp (is the disk full?)" >&2; return 2; }
        # (over NFS a lost reply can make ln fail after it linked: the link count tells)
        if ln "$tmp" "$f" 2>/dev/null || [ "$(stat -c %h "$tmp" 2>/dev/null)" = 2 ]; then
            rm -f "$tmp"; HELD+=("$f"); return 0
        fi
        rm -f "$tmp"
    done
    CLAIM_STATE=live; return 1
}
claim_ours() { [ "$(head -n 1 "$1" 2>/dev/null)" = "$OWNER" ]; }
claim_add_child() { # FILE PID: PID works for the claim (it stays live while PID runs)
    local f=$1 tmp=$1.new.$HOST.$$ st
    st=$(pid_start "$2") || st=-
    claim_ours "$f" && { cat "$f"; printf 'child %s %s\n' "$2" "$st"; } > "$tmp" 2>/dev/null && mv -f "$tmp" "$f"
    rm -f "$tmp"
}
claim_release() { claim_ours "$1" && rm -f "$1"; return 0; }
rm_dead() { # PATH PID: remove PATH when no process PID runs on this host
    [[ $2 =~ ^[1-9][0-9]*$ ]] && ! pid_alive "$2" && rm -rf -- "$1"
    return 0
}
rm_leftovers() { # BASE [NO]: remove BASE.*.HOST.PID of this host's dead processes, and (unless NO)
    # BASE.tmp.PID and BASE.old.PID (hashemb's temporaries) of dead processes
    local f
    for f in "$1".*."$HOST".[0-9]*; do [ -e "$f" ] && rm_dead "$f" "${f##*.}"; done
    [ -n "${2:-}" ] && return 0
    for f in "$1".tmp.[0-9]* "$1".old.[0-9]*; do [ -e "$f" ] && rm_dead "$f" "${f##*.}"; done
    return 0
}
keep_untagged() { # "keep" when the claim just taken over was another host's: hashemb's temporaries
    # (NAME.tmp.PID) may then be that host's, and their pids mean nothing here
    local kw h
    read -r kw h _ <<< "$CLAIM_PRIOR"
    [ -n "$CLAIM_PRIOR" ] && [ "$kw $h" != "owner $HOST" ] && echo keep
}
run_child() { # CLAIM CMD...: runs CMD (stdout to stderr) as a process of CLAIM, returns its status
    local claim=$1 c st
    shift
    "$@" >&2 &
    c=$!; pids[$c]=-
    claim_add_child "$claim" "$c"
    wait "$c"; st=$?
    unset "pids[$c]"
    return $st
}
TMPD=$(mktemp -d) || exit 1
# shellcheck disable=SC2317 # (called by the trap)
cleanup() {
    local p f
    for p in "${!pids[@]}"; do kill "$p" 2>/dev/null; done
    for f in "${HELD[@]}"; do claim_release "$f"; done
    rm -rf "$TMPD"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- a sweep file: "key value..." lines; strategy lines repeat ---
parse_sweep() { # sets: S_DATASETS[] S_MODELS S_RATIOS S_SEEDS S_TRAIN S_LRS S_STRATS[]
    local f=experiments/$1.sweep key rest n=0 line
    S_DATASETS=() S_MODELS="deepfm" S_RATIOS="" S_SEEDS="1" S_TRAIN="" S_LRS="1e-3" S_STRATS=()
    while IFS= read -r line || [ -n "$line" ]; do
        n=$((n + 1))
        line=${line%$'\r'}
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
        strategy) # words joined by one space; lr= and ratios= checked here, each at most once
            local -a sw=()
            local wd nr=0 nl=0
            read -ra sw <<< "$rest"
            for wd in "${sw[@]}"; do
                case $wd in
                ratios=*) nr=$((nr + 1)) ;;
                lr=*) nl=$((nl + 1)) ;;
                *) continue ;;
                esac
                [[ ${wd#*=} =~ ^[0-9.eE+-]+(,[0-9.eE+-]+)*$ ]] ||
                    { echo "run_all.sh: $f:$n: '$wd': give numbers separated by commas" >&2; return 1; }
            done
            [ "$nr" -le 1 ] && [ "$nl" -le 1 ] ||
                { echo "run_all.sh: $f:$n: ratios= or lr= given twice on one strategy line" >&2; return 1; }
            [ "${sw[0]:-}" = full ] && [ "$nr" -gt 0 ] &&
                { echo "run_all.sh: $f:$n: 'full' has no ratio (ratios= is for compressing strategies)" >&2; return 1; }
            S_STRATS+=("${sw[*]}") ;;
        *) echo "run_all.sh: $f:$n: unknown key '$key' (dataset, models, ratios, seeds, train, lr, strategy)" >&2; return 1 ;;
        esac
    done < "$f"
    [ ${#S_DATASETS[@]} -gt 0 ] || [ -n "$data_override" ] || { echo "run_all.sh: $f: no 'dataset' line" >&2; return 1; }
    [ ${#S_STRATS[@]} -gt 0 ] || { echo "run_all.sh: $f: no 'strategy' line" >&2; return 1; }
}

# --- the datasets: "[NAME =] RECIPE", where RECIPE is a prepared directory, a `gen ...` command, or
# `gen ... | prep ...` (gen's Criteo text prepared by prep, e.g. with another --id-order). Recipes are
# made once into results/data/ (keyed by the recipe and gen --version) and reused by every sweep that
# names them; each is made under a claim, so two drivers never make the same one.
make_datasets() { # sets DATA_NAMES[] DATA_DIRS[]; returns 2 for a path no TSV can hold
    DATA_NAMES=() DATA_DIRS=()
    local spec name recipe dir key genv=""
    if [ -n "$data_override" ]; then
        name=$(basename "$data_override")
        DATA_NAMES=("${name//[^A-Za-z0-9_.,:=+-]/_}"); DATA_DIRS=("$data_override"); return 0
    fi
    for spec in "${S_DATASETS[@]}"; do
        if [[ $spec =~ ^([A-Za-z0-9_.-]+)[[:space:]]*=[[:space:]]*(.*)$ ]]; then name=${BASH_REMATCH[1]}; recipe=${BASH_REMATCH[2]}
        else name=""; recipe=$spec; fi
        case $recipe in
        gen\ *)
            # keyed by the recipe and the generator's version, so a gen that changed makes new data
            [ -n "$genv" ] || genv=$("$H" gen --version) ||
                { echo "run_all.sh: $H gen --version failed: is it an older hashemb? (make)" >&2; return 1; }
            key=$( { echo "$recipe" | tr -s ' '; echo "$genv"; } | sha256sum | cut -c1-12)
            dir=results/data/gen-$key
            [ -n "$name" ] || name=$(printf '%s\n' "$recipe" | sed -n 's/.*--profile \([a-z]*\).*/\1/p')
            [ -f "$dir/dataset.meta" ] || make_dataset "$name" "$recipe" "$dir" || return 1
            dir=$ROOT/$dir ;;
        *)
            dir=$recipe
            if has_tab_or_newline "$dir"; then
                echo "run_all.sh: experiments/$sweep.sweep: dataset $(printf '%q' "$recipe") contains a tab, which the result files (TSV) cannot hold: rename the directory" >&2
                return 2
            fi
            [ "${dir#/}" = "$dir" ] && dir=$ROOT/$dir
            [ -n "$name" ] || { name=$(basename "$dir"); name=${name//[^A-Za-z0-9_.,:=+-]/_}; }
            [ -f "$dir/dataset.meta" ] || { echo "run_all.sh: dataset '$recipe' is not a prepared dataset; make it with hashemb prep or gen" >&2; return 1; } ;;
        esac
        label name "$name"      # (a name a directory gave is already plain)
        DATA_NAMES+=("$name"); DATA_DIRS+=("$dir")
    done
}
make_dataset() { # NAME RECIPE DIR: makes DIR (relative to ROOT) from a gen recipe, under DIR.claim
    local name=$1 recipe=$2 dir=$3 claim=$3.claim said="" st=0 part g p cst keep
    local -a gw pw
    mkdir -p results/data || return 1
    until [ -f "$dir/dataset.meta" ]; do
        claim_try "$claim"; cst=$?
        [ $cst = 2 ] && return 1
        if [ $cst = 0 ]; then
            if [ ! -f "$dir/dataset.meta" ]; then
                # what processes of this host that died while making it left (the driver's:
                # .part.HOST.PID and claim temporaries; hashemb's: .tmp.PID, .old.PID; of earlier
                # versions of this script: .txt, .gen)
                keep=$(keep_untagged)
                rm_leftovers "$dir" "$keep"
                if [ -z "$keep" ]; then
                    rm -rf -- "$dir.txt" "$dir.gen"
                    rm_leftovers "$dir.txt"; rm_leftovers "$dir.gen"
                fi
                log "making dataset $name: hashemb $recipe"
                if [[ $recipe == *"|"* ]]; then
                    g=${recipe%%|*} p=${recipe#*|}
                    read -ra gw <<< "$g"; read -ra pw <<< "$p"
                    part=$dir.part.$HOST.$$        # gen's text and dataset, this driver's only
                    rm -rf -- "$part" && mkdir -p "$part" &&
                        run_child "$claim" "$H" "${gw[@]}" --text "$part/text.txt" --out "$part/gen" &&
                        run_child "$claim" "$H" "${pw[@]}" --train "$part/text.txt" --out "$dir"
                    st=$?
                    rm -rf -- "$part"
                else
                    read -ra gw <<< "$recipe"
                    run_child "$claim" "$H" "${gw[@]}" --out "$dir"; st=$?
                fi
            fi
            claim_release "$claim"
            [ $st -eq 0 ] || { echo "run_all.sh: could not make dataset $name ($recipe)" >&2; return 1; }
            continue
        fi
        if [ -z "$said" ]; then
            log "waiting for dataset $name: $CLAIM_BY is making it ($claim)"
            [ "$CLAIM_STATE" = live ] || log "  (if that driver is dead, remove $claim or run with --steal-claims)"
            said=1
        fi
        sleep 1
    done
}

# --- grid expansion: writes results/SWEEP/grid.tsv (one line per grid point and seed) ---
# columns: dataset model variant ratio_target lr seed run flags; run = the result file's name in
# runs/, flags = its hashemb train arguments as shell words. Sets RUN_ORDER[] (the distinct runs) and
# RUN_ARGV[run] (their arguments, tab-joined).
declare -A RUN_ARGV=()
RUN_ORDER=()
expand_grid() {
    local sweep=$1 out=results/$1/grid.tsv perr=results/$1/plan.err one=$TMPD/plan.err.one
    local gtmp perrtmp m strat r lr s emb lrs sratios variant plankey plantsv planout feas run cfg di DATA dname rarg d k
    local lm lr_l s_l r_l
    local -a models seeds ratios lrlist sw trainw dimargs rargs argv
    mkdir -p "results/$sweep/runs" || return 1
    gtmp=$out.tmp.$HOST.$$ perrtmp=$perr.tmp.$HOST.$$
    rm_leftovers "$out" keep; rm_leftovers "$perr" keep
    declare -A seen_plan=()
    RUN_ORDER=(); RUN_ARGV=()
    read -ra models <<< "$S_MODELS"; read -ra seeds <<< "$S_SEEDS"; read -ra trainw <<< "$S_TRAIN"
    dimargs=(); d=$(train_dim); [ -n "$d" ] && dimargs=(--dim "$d")
    : > "$gtmp" && : > "$perrtmp" || return 1
    for di in "${!DATA_DIRS[@]}"; do
    DATA=${DATA_DIRS[$di]} dname=${DATA_NAMES[$di]}
    for m in "${models[@]}"; do
        label lm "$m"
        for strat in "${S_STRATS[@]}"; do
            lrs=$S_LRS sratios=$S_RATIOS
            if [[ $strat == *"ratios="* ]]; then # the strategy's own ratios instead of the sweep's
                sratios=$(printf '%s\n' "$strat" | sed 's/.*ratios=\([^ ]*\).*/\1/' | tr ',' ' ')
                strat=$(printf '%s\n' "$strat" | sed 's/ *ratios=[^ ]*//')
            fi
            if [[ $strat == *"lr="* ]]; then
                lrs=$(printf '%s\n' "$strat" | sed 's/.*lr=\([^ ]*\).*/\1/' | tr ',' ' ')
                strat=$(printf '%s\n' "$strat" | sed 's/ *lr=[^ ]*//')
            fi
            read -ra lrlist <<< "$lrs"
            read -ra sw <<< "$strat"
            emb=${sw[0]:-}
            if [ "$emb" = full ]; then ratios=(1); else read -ra ratios <<< "$sratios"; fi
            for r in "${ratios[@]}"; do
                rarg="" rargs=()
                [ "$emb" = full ] || { rarg="--ratio $r"; rargs=(--ratio "$r"); }
                label r_l "$r"
                # the resolved plan: grid points with identical layouts share one run (skip's coarse steps),
                # unless one is infeasible and the other not (one clamped layout serves every ratio past
                # the floor, but only the ratios within 2x of it are trained)
                plantsv=$("$H" plan --data "$DATA" --model "$m" --emb "${sw[@]}" "${rargs[@]}" "${dimargs[@]}" --tsv 2> "$one")
                if [ ! -s "$one" ]; then
                    planout=$("$H" plan --data "$DATA" --model "$m" --emb "${sw[@]}" "${rargs[@]}" "${dimargs[@]}" 2>/dev/null)
                    variant=$(printf '%s\n' "$planout" | awk 'NR == 1 { sub(/,$/, "", $2); print $2 }')
                    feas=feasible; [[ $planout == *INFEASIBLE* ]] && feas=infeasible
                    plankey=$(printf '%s\n%s\n' "$plantsv" "$feas" | sha256sum | cut -c1-12)
                    label variant "$variant"
                else # every unbuildable point, named, in plan.err
                    while IFS= read -r l; do printf '%s: %s\n' "$dname $m $strat${rarg:+ r$r}" "$l"; done < "$one" >> "$perrtmp"
                    variant="invalid:$(printf '%s' "$strat" | tr ' ' '_' | tr -c 'A-Za-z0-9_.,:=+-' '_')"
                    plankey="err-$(printf '%s\n' "$m $strat $r" | sha256sum | cut -c1-12)"
                fi
                for lr in "${lrlist[@]}"; do
                    label lr_l "$lr"
                    for s in "${seeds[@]}"; do
                        label s_l "$s"
                        k="$dname|$m|$strat|$lr|$s|$plankey"
                        if [ -n "${seen_plan[$k]:-}" ]; then
                            run=${seen_plan[$k]}
                        else
                            # the name ends in a hash of the whole configuration (dataset directory and
                            # training flags included): a changed sweep file never reuses an old result
                            cfg="--data $DATA --model $m --emb $strat $rarg --lr $lr --seed $s $S_TRAIN"
                            run=$(printf '%s\n' "$dname $m $strat r$r lr$lr s$s" | sed 's/--//g' | tr -s ' ' | tr ' :=/' '____' | tr -cd 'A-Za-z0-9_.,-')_$(printf '%s' "$cfg" | sha256sum | cut -c1-8)
                            seen_plan[$k]=$run
                            if [ -z "${RUN_ARGV[$run]+set}" ]; then
                                argv=(--data "$DATA" --model "$m" --emb "${sw[@]}" "${rargs[@]}" --lr "$lr" --seed "$s" "${trainw[@]}")
                                RUN_ORDER+=("$run")
                                RUN_ARGV[$run]=$(IFS=$'\t'; printf '%s' "${argv[*]}")
                            fi
                        fi
                        IFS=$'\t' read -ra argv <<< "${RUN_ARGV[$run]}"
                        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$dname" "$lm" "$variant" "$r_l" "$lr_l" "$s_l" "$run" "$(shq "${argv[@]}")" >> "$gtmp"
                    done
                done
            done
        done
    done
    done
    # each driver writes its own file and renames it into place: concurrent drivers never mix lines
    if ! mv -f "$perrtmp" "$perr" || ! mv -f "$gtmp" "$out"; then rm -f "$perrtmp" "$gtmp"; return 1; fi
}
train_dim() { # the --dim among the training flags (the plan depends on it)
    printf '%s\n' " $S_TRAIN " | sed -n 's/.* --dim \([0-9]*\) .*/\1/p'
}

# this machine's sgemm at a model's shapes and $threads threads (hashemb bench sgemm, about a second,
# once per model and sweep): "ceiling_samples_per_s gflops", cached in $TMPD
sgemm_cal() { # MODEL MLP DIM BATCH FIELDS
    local f="$TMPD/cal.$1.$2.$3.$4.$5" out
    if [ ! -s "$f" ]; then
        out=$("$H" bench sgemm --model "$1" --mlp "$2" --dim "$3" --batch "$4" --fields "$5" --threads "$threads" \
            --reps 3 2>/dev/null | awk -F'\t' '$1 == "total" && $11 + 0 > 0 { print $11, $10 }')
        echo "${out:-0 0}" > "$f"
    fi
    cat "$f"
}

estimate() { # ARGS (a run's train arguments) -> "seconds bytes checkpoint_bytes"
    local a v data="" epochs=3 mlp=400,400,400 dim=16 batch=4096 rows=0 fields=0 params model=deepfm
    local -a pa=()
    while [ $# -gt 0 ]; do
        a=$1; shift
        case $a in
        --data | --epochs | --mlp | --dim | --batch | --lr | --seed | --patience | --optim | --emb-l2 | --model)
            v=${1-}; [ $# -gt 0 ] && shift
            case $a in
            --data) data=$v ;;
            --epochs) [[ $v =~ ^[0-9]+$ ]] && epochs=$v ;;
            --mlp) [[ $v =~ ^[0-9,]+$ ]] && mlp=$v ;;
            --dim) [[ $v =~ ^[0-9]+$ ]] && dim=$v ;;
            --batch) [[ $v =~ ^[0-9]+$ ]] && batch=$v ;;
            --model) [[ $v =~ ^[a-z0-9]+$ ]] && model=$v ;;
            esac
            # the plan takes the layout's and the backbone's flags, not the training's
            case $a in --data | --dim | --mlp | --model) pa+=("$a" "$v") ;; esac ;;
        *) pa+=("$a") ;;
        esac
    done
    if [ -f "$data/dataset.meta" ]; then
        rows=$(sed -n 's/^rows_train=//p' "$data/dataset.meta")
        fields=$(sed -n 's/^fields=//p' "$data/dataset.meta")
    fi
    # the sizes from the plan and the backbone table (plan --cost): embedding parameters, the row width
    # and the multiply-adds of a sample's forward
    local cost params macs emacs width cal
    if ! cost=$("$H" plan "${pa[@]}" --cost 2>&1); then
        echo "  warning: no estimate from plan --cost for '${pa[*]}': $(head -1 <<< "$cost")" >&2
        cost=""
    fi
    params=$(awk -F'\t' '$1 == "emb_params" && $2 != "NA" { print $2 }' <<< "$cost")
    macs=$(awk -F'\t' '$1 == "macs_per_sample" { print $2 }' <<< "$cost")
    emacs=$(awk -F'\t' '$1 == "emb_cost_macs_per_sample" && $2 != "NA" { print $2 }' <<< "$cost")
    width=$(awk -F'\t' '$1 == "width" { print $2 }' <<< "$cost")
    cal=$(sgemm_cal "$model" "$mlp" "$dim" "$batch" "${fields:-39}")
    awk -v rows="${rows:-0}" -v ep="$epochs" -v macs="${macs:-1}" -v emacs="${emacs:-0}" -v w="${width:-$((dim + 1))}" -v f="${fields:-0}" -v b="$batch" -v p="${params:-0}" -v t="$threads" -v cal="$cal" 'BEGIN {
        if (macs < 1) macs = 1
        # the backbone: 85% of the sgemm ceiling of this machine for the model (bench sgemm; the
        # full table of quick trains at 87% of it, EPYC Zen 3, 2026-12-01), or 25 GFLOP/s a thread
        # where bench failed; a strategy that computes its rows adds emb_cost_macs_per_sample, its
        # multiply-adds weighted by what each costs in sgemm multiply-adds (EmbStrategy.mac_cost)
        split(cal, c, " ")
        ceil = c[1] + 0; g = c[2] * 1e9
        if (ceil <= 0 || g <= 0) { g = 25e9 * t; ceil = g / (6 * macs) }
        spt = 1 / (0.85 * ceil) + emacs * 2 / g
        sps = 1 / spt
        sec = rows * ep / sps * 1.15 + 2
        bytes = p * 4 * 3 + p * 1 + b * f * w * 4 * 2 + 3 * macs * 4 * 4 + rows * (f * 4 + 5) + 64e6
        # a checkpoint: the tables, the dense model (about its MACs in parameters) and Adam state for
        # both, 12 bytes a parameter; up to three on disk while one is written (last, best, the new)
        ck = 3 * 12 * (p + macs)
        printf "%.0f %.0f %.0f\n", sec, bytes, ck }'
}

human_bytes() { awk -v b="$1" 'BEGIN { split("B KB MB GB TB", u); i = 1; while (b >= 1024 && i < 5) { b /= 1024; i++ } printf "%.1f %s", b, u[i] }'; }
human_time() { awk -v s="$1" 'BEGIN { s = int(s + 0.5); if (s >= 3600) printf "%dh%02dm", s / 3600, s % 3600 / 60; else printf "%dm%02ds", s / 60, s % 60 }'; }

# --- running: each run under its claim; runs held by a live driver of this host are waited for ---
launch() { # RUN: starts hashemb train for it (its log: runs/RUN.log)
    local run=$1 c
    local -a argv
    IFS=$'\t' read -ra argv <<< "${RUN_ARGV[$run]}"
    # no --quiet: the run's log keeps its configuration table and a line per epoch; --resume: a
    # checkpoint after every epoch in runs/RUN.ckpt, continued by whoever runs RUN next after a crash,
    # and removed once the row is written (reap)
    ( exec "$H" train "${argv[@]}" --threads "$threads" --resume "$ROOT/results/$sweep/runs/$run.ckpt" \
        --out "$ROOT/results/$sweep/runs/$run.tsv" 2> "results/$sweep/runs/$run.log" ) &
    c=$!; pids[$c]=$run
    claim_add_child "results/$sweep/runs/$run.claim" "$c"
}
fail_reason() { # LOG: the reason a run failed, on one line
    local log=$1 why kb
    why=$(grep '^hashemb\|^train:' "$log" 2>/dev/null | grep -v '^hashemb train [0-9a-f]*\(-dirty\)\?$' | tail -n 1)
    [ -n "$why" ] || why=$(grep -v '^[[:space:]]*$' "$log" 2>/dev/null | tail -n 1)
    if [ -z "$why" ]; then
        why="no message (see $log)"
        kb=$(df -Pk "$(dirname "$log")" 2>/dev/null | awk 'NR == 2 { print $4 }')
        [ -n "$kb" ] && [ "$kb" -lt 1024 ] && why="no message (see $log; its disk has ${kb} KB free)"
    fi
    printf '%s' "$why" | tr '\t\r' '  ' | cut -c1-300
}
reap() {
    local pid st run now el eta why
    wait -n -p pid; st=$?
    run=${pids[$pid]}; unset "pids[$pid]"
    done_n=$((done_n + 1))
    if [ "$st" -eq 0 ] && [ -f "results/$sweep/runs/$run.tsv" ]; then rm -rf -- "results/$sweep/runs/$run.ckpt"
    else
        fail_n=$((fail_n + 1))
        why=$(fail_reason "results/$sweep/runs/$run.log")
        FAILS+=("$run"$'\t'"$st"$'\t'"$why")
        echo "  FAILED: $run (exit $st): $why" >&2
    fi
    claim_release "results/$sweep/runs/$run.claim"
    now=$(date +%s); el=$((now - start))
    eta=$(( done_n > 0 ? el * (${#todo[@]} - done_n) / done_n : 0 ))
    printf '  [%d/%d] %s %s  elapsed %s  ETA %s\n' "$done_n" "${#todo[@]}" "$([ "$st" -eq 0 ] && echo "done" || echo "failed")" "$run" "$(human_time $el)" "$(human_time $eta)"
}
run_todo() { # runs todo[] of $sweep; sets FAILS[], ATTEMPTED[], AWAY[] (runs left to other hosts)
    local run said="" claim cst keep
    local -a pending=("${todo[@]}") next
    done_n=0 fail_n=0 start=$(date +%s)
    while :; do
        next=()
        for run in "${pending[@]}"; do
            if [ -f "results/$sweep/runs/$run.tsv" ]; then done_n=$((done_n + 1)); continue; fi # run by another driver
            if [ ${#pids[@]} -ge "$jobs" ]; then next+=("$run"); continue; fi
            claim=results/$sweep/runs/$run.claim
            claim_try "$claim"; cst=$?
            if [ $cst = 0 ]; then
                if [ -f "results/$sweep/runs/$run.tsv" ]; then claim_release "$claim"; done_n=$((done_n + 1)); continue; fi
                keep=$(keep_untagged)
                rm_leftovers "$claim" keep
                rm_leftovers "results/$sweep/runs/$run.tsv" "$keep"
                rm_leftovers "results/$sweep/runs/$run.curve.tsv" "$keep"
                ATTEMPTED[$run]=1
                launch "$run"
            elif [ $cst = 2 ]; then
                ATTEMPTED[$run]=1; done_n=$((done_n + 1)); fail_n=$((fail_n + 1))
                FAILS+=("$run"$'\t'"-"$'\t'"cannot write $claim")
                echo "  FAILED: $run: cannot write $claim" >&2
            elif [ "$CLAIM_STATE" = live ]; then
                next+=("$run")
                [ -n "$said" ] || { log "  waiting for runs that $CLAIM_BY (this host) is running, e.g. $run"; said=1; }
            else
                AWAY+=("$run"$'\t'"$CLAIM_BY")
            fi
        done
        pending=("${next[@]}")
        if [ ${#pids[@]} -gt 0 ]; then reap
        elif [ ${#pending[@]} -gt 0 ]; then sleep 1
        else break; fi
    done
}
merge_errors() { # SWEEP: errors.tsv = the runs whose last attempt failed and that have no result
    local f=results/$1/errors.tsv tmp=results/$1/errors.tsv.tmp.$HOST.$$ line run
    {
        if [ -f "$f" ]; then
            while IFS= read -r line; do
                run=${line%%$'\t'*}
                [ -z "${ATTEMPTED[$run]:-}" ] && [ ! -f "results/$1/runs/$run.tsv" ] && printf '%s\n' "$line"
            done < "$f"
        fi
        for line in "${FAILS[@]}"; do
            [ -f "results/$1/runs/${line%%$'\t'*}.tsv" ] || printf '%s\n' "$line"
        done
    } > "$tmp" || { rm -f "$tmp"; return 1; }
    if [ -s "$tmp" ]; then mv -f "$tmp" "$f"; else rm -f "$tmp" "$f"; fi
}

total_failed=0 total_away=0
for sweep in "${sweeps[@]}"; do
    parse_sweep "$sweep" || exit 1
    if [ "$mode" = collect ]; then
        [ -f "results/$sweep/grid.tsv" ] || { echo "run_all.sh: results/$sweep/grid.tsv: nothing to collect (run or --emit the sweep first)" >&2; exit 1; }
        mapfile -t RUN_ORDER < <(awk -F'\t' '!seen[$7]++ { print $7 }' "results/$sweep/grid.tsv")
    else
        make_datasets; st=$?
        [ $st -eq 0 ] || exit $st
        expand_grid "$sweep" || { echo "run_all.sh: could not write results/$sweep/grid.tsv" >&2; exit 1; }
    fi
    npoints=$(awk -F'\t' '!s[$1 FS $2 FS $3 FS $4 FS $5]++' "results/$sweep/grid.tsv" | wc -l)
    todo=()
    for run in "${RUN_ORDER[@]}"; do
        if [ ! -f "results/$sweep/runs/$run.tsv" ]; then todo+=("$run")
        elif [ -e "results/$sweep/runs/$run.claim" ] && [ "$mode" != collect ]; then
            # a driver killed after its run's result was in place, before it released the claim: a dead
            # claim of a finished run is taken over and dropped (a live or another host's is left)
            claim_try "results/$sweep/runs/$run.claim" && claim_release "results/$sweep/runs/$run.claim"
        fi
        # a finished run's checkpoint, left by a driver or task that died between the row and its removal
        if [ -f "results/$sweep/runs/$run.tsv" ] && [ -d "results/$sweep/runs/$run.ckpt" ] && [ "$mode" != dry ]; then
            rm -rf -- "results/$sweep/runs/$run.ckpt"
        fi
    done
    log "sweep $sweep: $npoints grid points, ${#RUN_ORDER[@]} runs (${#todo[@]} to do)"

    if [ "$mode" = dry ] || [ "$mode" = run ]; then
        tot_sec=0 max_bytes=0 max_ck=0 run_secs=()
        for run in "${todo[@]}"; do
            IFS=$'\t' read -ra argv <<< "${RUN_ARGV[$run]}"
            read -r sec bytes ck <<< "$(estimate "${argv[@]}")"
            tot_sec=$((tot_sec + sec)); [ "$bytes" -gt "$max_bytes" ] && max_bytes=$bytes
            [ "${ck:-0}" -gt "$max_ck" ] && max_ck=$ck
            run_secs+=("$sec")
            [ "$mode" = dry ] && printf '  %-60s ~%s, ~%s\n' "$run" "$(human_time "$sec")" "$(human_bytes "$bytes")"
        done
        [ "$mode" = dry ] && log "  disk: checkpoints (runs/RUN.ckpt, removed when a run ends) up to $(human_bytes $((max_ck * jobs))) at once ($jobs run(s) at a time)"
        avail=$(awk '/MemAvailable/ { printf "%.0f", $2 * 1024 }' /proc/meminfo)
        log "  estimate: $(human_time $((tot_sec / jobs))) with --jobs $jobs ($threads threads each), up to $(human_bytes "$max_bytes") per run (every run to its last epoch: early stopping ends many sooner)"
        if [ "$nodes" -gt 0 ] && [ ${#run_secs[@]} -gt 0 ]; then
            # longest first, each onto the machine slot that frees first (nodes x jobs slots)
            span=$(printf '%s\n' "${run_secs[@]}" | sort -rn | awk -v k=$((nodes * jobs)) '
                { m = 1; for (i = 2; i <= k; i++) if (load[i] < load[m]) m = i; load[m] += $1 }
                END { x = 0; for (i = 1; i <= k; i++) if (load[i] > x) x = load[i]; print x }')
            log "  on $nodes node(s) like this one: $(human_time "$span") ($((nodes * jobs)) runs at once, longest first; the longest run alone $(human_time "$(printf '%s\n' "${run_secs[@]}" | sort -rn | head -1)"), each node needing up to $(human_bytes "$max_bytes") per run)"
        fi
        if [ $((max_bytes * jobs)) -gt "${avail:-0}" ]; then
            echo "run_all.sh: warning: $jobs runs at once may need $(human_bytes $((max_bytes * jobs))), more than the $(human_bytes "$avail") available: use fewer --jobs" >&2
        fi
        [ "$mode" = dry ] && continue
    fi
    if [ "$mode" = emit ]; then
        # one shell command line per run, every word quoted: `bash -c LINE`, `sh -c LINE`, GNU
        # parallel and experiments/slurm.sbatch run exactly these arguments; with --resume, as a plain
        # run's, so that a line run again (a requeued Slurm task) continues from its last epoch; the
        # checkpoint removed once the row is written; a line whose row exists does nothing; the log
        # appended to, so that a requeued task's earlier attempt stays in it
        for run in "${todo[@]}"; do
            IFS=$'\t' read -ra argv <<< "${RUN_ARGV[$run]}"
            printf 'if [ ! -f %s ]; then %s 2>> %s && rm -rf -- %s; fi\n' "$(shq "$ROOT/results/$sweep/runs/$run.tsv")" \
                "$(shq "$H" train "${argv[@]}" --threads "$threads" \
                --resume "$ROOT/results/$sweep/runs/$run.ckpt" --out "$ROOT/results/$sweep/runs/$run.tsv")" \
                "$(shq "$ROOT/results/$sweep/runs/$run.log")" "$(shq "$ROOT/results/$sweep/runs/$run.ckpt")"
        done
        continue
    fi

    FAILS=() AWAY=()
    declare -A ATTEMPTED=()
    if [ "$mode" = run ] && [ ${#todo[@]} -gt 0 ]; then
        run_todo
        if [ ${#AWAY[@]} -gt 0 ]; then
            total_away=$((total_away + ${#AWAY[@]}))
            echo "run_all.sh: ${#AWAY[@]} run(s) of $sweep left to drivers of other hosts (not failed, not in this summary; the driver that finishes last aggregates them, or run --collect $sweep later):" >&2
            printf '%s\n' "${AWAY[@]}" | awk -F'\t' '{ n[$2]++; if (!($2 in e)) e[$2] = $1 } END { for (k in n) printf "  %d held by %s, e.g. %s\n", n[k], k, e[k] }' >&2
            echo "  (if a driver named here is dead, run again with --steal-claims, or remove its results/$sweep/runs/*.claim files)" >&2
        fi
    fi

    # aggregation and figures under the sweep's aggregation claim: one writer at a time
    said=""
    until claim_try "results/$sweep/aggregate.claim" 600; do
        [ $? = 2 ] && exit 1
        [ -n "$said" ] || { log "  waiting for the aggregation by $CLAIM_BY"; said=1; }
        sleep 1
    done
    for f in summary.tsv headline.tsv errors.tsv; do rm_leftovers "results/$sweep/$f" keep; done
    rm -f "results/$sweep/summary.tsv.tmp" "results/$sweep/headline.tsv.tmp" # (earlier versions' names)
    [ "$mode" = run ] && { merge_errors "$sweep" || echo "run_all.sh: warning: could not update results/$sweep/errors.tsv" >&2; }
    if ! "$ROOT/experiments/aggregate.sh" "$sweep"; then
        claim_release "results/$sweep/aggregate.claim"
        echo "run_all.sh: aggregation of $sweep failed" >&2; exit 1
    fi
    if [ "$plots" = 1 ]; then
        if command -v gnuplot >/dev/null; then
            mkdir -p "plots/out/$sweep"
            for gp in plots/*.gp; do
                gnuplot -e "sweep='$sweep'" "$gp" 2> "plots/out/$sweep/$(basename "$gp" .gp).log" ||
                    echo "run_all.sh: warning: $gp failed on $sweep (plots/out/$sweep/$(basename "$gp" .gp).log)" >&2
            done
            npng=0; for f in "plots/out/$sweep"/*.png; do [ -f "$f" ] && npng=$((npng + 1)); done
            log "  figures: plots/out/$sweep/ ($npng PNG)"
        else
            echo "run_all.sh: gnuplot not found: no figures (make deps installs gnuplot-nox)" >&2
        fi
    fi
    claim_release "results/$sweep/aggregate.claim"
    log "  summary: results/$sweep/summary.tsv, headline: results/$sweep/headline.tsv"
    if [ "$mode" = collect ] && [ ${#todo[@]} -gt 0 ]; then
        # runs not (yet) done elsewhere: their points are in the summary as error, and the exit says so
        echo "run_all.sh: $sweep: ${#todo[@]} of ${#RUN_ORDER[@]} run(s) have no result yet (their points are 'error' in the summary until they do), e.g. ${todo[0]}" >&2
        total_away=$((total_away + ${#todo[@]}))
    fi
    [ -f "results/$sweep/headline.tsv" ] && [ "$mode" = run ] && { if command -v column > /dev/null; then column -t -s $'\t' "results/$sweep/headline.tsv"; else cat "results/$sweep/headline.tsv"; fi; } | sed 's/^/    /'
    if [ -f "results/$sweep/errors.tsv" ]; then
        nerr=$(wc -l < "results/$sweep/errors.tsv")
        echo "run_all.sh: $nerr run(s) of $sweep failed (retried next time):" >&2
        cut -f1,3 "results/$sweep/errors.tsv" | sed 's/^/  /' >&2
        total_failed=$((total_failed + nerr))
    fi
done
[ "$total_failed" -gt 0 ] && exit 1
[ "$total_away" -gt 0 ] && exit 3
exit 0
