#!/usr/bin/env bash
# aggregate.sh SWEEP: results/SWEEP/grid.tsv + runs/*.tsv -> summary.tsv and headline.tsv (SPEC 7).
#
# summary.tsv: one line per grid point (dataset, model, variant, ratio_target): the seeds, a status,
# then M_mean and M_std (sample std over seeds, NA for one seed) of every numeric result column, then
# rel_auc_mean (test AUC / the full table's) and rel_gain_mean ((AUC - 0.5) / (full AUC - 0.5)), and,
# appended, the learning rate kept (the one with the best mean valid AUC where the sweep tries several),
# the learning rates tried, and how many seeds finished ok. A grid point whose run failed or never ran
# is present with status `error`; infeasible and diverged points keep their status.
# headline.tsv: per model and variant, the largest mean ratio_actual whose mean test AUC keeps 99% of
# the full table's, by both measures.
# A run counts once per grid point and learning rate, however often grid.tsv lists it. Both files are
# written under this process's own names and renamed into place; run_all.sh runs this under the
# sweep's aggregation claim, so concurrent drivers do not interleave the two files.
set -euo pipefail
sweep=${1:?usage: aggregate.sh SWEEP}
cd "$(dirname "$0")/.."
dir=results/$sweep
[ -f "$dir/grid.tsv" ] || { echo "aggregate.sh: $dir/grid.tsv not found" >&2; exit 1; }

host=$(uname -n 2>/dev/null); host=${host//[^A-Za-z0-9._-]/_}
sum_tmp=$dir/summary.tsv.tmp.${host:-localhost}.$$ head_tmp=$dir/headline.tsv.tmp.${host:-localhost}.$$
rows=$(mktemp)
trap 'rm -f "$rows" "$rows".* "$sum_tmp" "$head_tmp"' EXIT

# one line per grid line: the grid's keys, then the run's result row (or nothing)
declare -A seen=() seed_run=()
while IFS=$'\t' read -r dataset model variant ratio lr seed run _; do
    [ -n "$run" ] || continue
    k="$dataset|$model|$variant|$ratio|$lr|"
    [ -z "${seen[$k$run]:-}" ] || continue
    seen[$k$run]=1
    if [ -n "${seed_run[$k$seed]:-}" ]; then
        echo "aggregate.sh: $dir/grid.tsv: seed $seed of $dataset $model $variant r$ratio lr$lr is listed under two runs ($run and ${seed_run[$k$seed]}): counted once" >&2
        continue
    fi
    seed_run[$k$seed]=$run
    f=$dir/runs/$run.tsv
    if [ -f "$f" ]; then
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$dataset" "$model" "$variant" "$ratio" "$lr" "$seed" "$(sed -n 2p "$f")"
    else
        printf '%s\t%s\t%s\t%s\t%s\t%s\tMISSING\n' "$dataset" "$model" "$variant" "$ratio" "$lr" "$seed"
    fi
done < "$dir/grid.tsv" > "$rows"
: > "$rows.header"
for f in "$dir"/runs/*.tsv; do
    case $f in *.curve.tsv) continue ;; esac
    [ -f "$f" ] && { head -n 1 "$f" > "$rows.header" || true; break; }
done
[ -s "$rows.header" ] || printf '%s\n' "run_id	dataset	model	emb	variant	ratio_target	ratio_actual	ratio_compressed	emb_params	emb_bytes	opt_bytes	dense_params	peak_rss_bytes	seed	epochs	best_epoch	valid_auc	valid_logloss	test_auc	test_logloss	oracle_auc	oracle_logloss	train_seconds	samples_per_sec	threads	blas_core	git_sha	status	config" > "$rows.header"

# (the program is in a variable: were awk to die of a signal, bash would print the command as written)
# shellcheck disable=SC2016
prog='
BEGIN {
    getline h < headfile; nh = split(h, H, "\t")
    for (i = 1; i <= nh; i++) col[H[i]] = i
    # the numeric result columns, in result order (seed is what is averaged over; ratio_target is a key)
    nm = 0
    split("ratio_actual ratio_compressed emb_params emb_bytes opt_bytes dense_params peak_rss_bytes epochs best_epoch valid_auc valid_logloss test_auc test_logloss oracle_auc oracle_logloss train_seconds samples_per_sec threads", M, " ")
    for (i = 1; M[i] != ""; i++) nm++
}
{
    ds = $1; model = $2; variant = $3; ratio = $4; lr = $5; seed = $6
    g = ds SUBSEP model SUBSEP variant SUBSEP ratio
    k = g SUBSEP lr
    if (!(g in gseen)) { gseen[g] = 1; gorder[++ng] = g }
    # (mawk creates an element on the left of = before the right is read: test first)
    if (!(k in kseen)) { kseen[k] = 1; t = (g in lrs) ? lrs[g] "," lr : lr; lrs[g] = t }
    n[k]++
    t = (k in seeds) ? seeds[k] "," seed : seed; seeds[k] = t
    if ($7 == "MISSING") { st = "error" } else { st = $(6 + col["status"]); if (st == "") st = "error" }
    if (st == "ok") nok[k]++
    stat[k, st]++
    for (j = 1; j <= nm; j++) {
        v = ($7 == "MISSING") ? "NA" : $(6 + col[M[j]])
        if (v != "NA" && v != "" && v != "nan") { s[k, j] += v; ss[k, j] += v * v; c[k, j]++ }
    }
}
function status(k) {
    if (stat[k, "error"]) return "error"
    if (stat[k, "infeasible"]) return "infeasible"
    if (stat[k, "diverged"]) return "diverged"
    return "ok"
}
function mean(k, j) { return c[k, j] ? s[k, j] / c[k, j] : "NA" }
function sd(k, j,   m, v) {
    if (c[k, j] < 2) return "NA"
    m = s[k, j] / c[k, j]; v = (ss[k, j] - c[k, j] * m * m) / (c[k, j] - 1)
    return v > 0 ? sqrt(v) : 0
}
END {
    for (j = 1; j <= nm; j++) if (M[j] == "test_auc") jt = j; else if (M[j] == "valid_auc") jv = j; else if (M[j] == "ratio_actual") jr = j
    # per grid point: the learning rate with the best mean valid AUC among its ok runs
    for (i = 1; i <= ng; i++) {
        g = gorder[i]; nl = split(lrs[g], L, ","); best[g] = L[1]
        for (l = 1; l <= nl; l++) {
            k = g SUBSEP L[l]; kb = g SUBSEP best[g]
            if (status(k) == "ok" && (status(kb) != "ok" || mean(k, jv) > mean(kb, jv))) best[g] = L[l]
        }
        split(g, G, SUBSEP)
        if (G[3] == "full" && status(g SUBSEP best[g]) == "ok") full[G[1] SUBSEP G[2]] = mean(g SUBSEP best[g], jt)
    }
    printf "dataset\tmodel\tvariant\tratio_target\tseeds\tstatus"
    for (j = 1; j <= nm; j++) printf "\t%s_mean\t%s_std", M[j], M[j]
    printf "\trel_auc_mean\trel_gain_mean\tlr\tlrs_tried\tseeds_ok\n"
    for (i = 1; i <= ng; i++) {
        g = gorder[i]; k = g SUBSEP best[g]; split(g, G, SUBSEP)
        printf "%s\t%s\t%s\t%s\t%s\t%s", G[1], G[2], G[3], G[4], seeds[k], status(k)
        for (j = 1; j <= nm; j++) printf "\t%s\t%s", fmt(mean(k, j)), fmt(sd(k, j))
        a = mean(k, jt); f = full[G[1] SUBSEP G[2]]
        ra = (a != "NA" && f != "" && f > 0) ? a / f : "NA"
        rg = (a != "NA" && f != "" && f > 0.5) ? (a - 0.5) / (f - 0.5) : "NA"
        printf "\t%s\t%s\t%s\t%s\t%d\n", fmt(ra), fmt(rg), best[g], lrs[g], nok[k]
        if (G[3] != "full") {
            hv = G[1] SUBSEP G[2] SUBSEP G[3]
            if (!(hv in hseen)) { hseen[hv] = 1; horder[++nhv] = hv; hra[hv] = hrg[hv] = "NA"; tra[hv] = trg[hv] = "NA"; npt[hv] = 0 }
            npt[hv]++
            r = mean(k, jr)
            if (status(k) == "ok" && ra != "NA" && ra >= 0.99 && (hra[hv] == "NA" || r > hra[hv])) { hra[hv] = r; tra[hv] = G[4] }
            if (status(k) == "ok" && rg != "NA" && rg >= 0.99 && (hrg[hv] == "NA" || r > hrg[hv])) { hrg[hv] = r; trg[hv] = G[4] }
        }
    }
    print "dataset\tmodel\tvariant\tmax_ratio_rel_auc\tat_ratio_target_rel_auc\tmax_ratio_rel_gain\tat_ratio_target_rel_gain\tfull_test_auc\tpoints" > headline
    for (i = 1; i <= nhv; i++) {
        hv = horder[i]; split(hv, G, SUBSEP)
        fk = G[1] SUBSEP G[2]
        printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", G[1], G[2], G[3], fmt(hra[hv]), tra[hv], fmt(hrg[hv]), trg[hv], fmt((fk in full) ? full[fk] : "NA"), npt[hv] > headline
    }
}
function fmt(v) { return (v == "NA" || v == "") ? "NA" : sprintf("%.8g", v) }
'
st=0
{ awk -F'\t' -v OFS='\t' -v headfile="$rows.header" -v headline="$head_tmp" "$prog" "$rows" > "$sum_tmp" 2> "$rows.err"; } 2> /dev/null || st=$?
if [ $st -ne 0 ]; then # one line, naming the files (awk's own words, not its program)
    if [ -f "$rows.err" ]; then why=$( { grep -v '^[[:space:]]*$' "$rows.err" || true; } | head -n 1 | cut -c1-200)
    else why="cannot create $sum_tmp"; fi
    [ $st -gt 128 ] && why="killed by signal $((st - 128))${why:+; $why}"
    echo "aggregate.sh: could not write $dir/summary.tsv and headline.tsv (awk exit $st)${why:+: $why}" >&2
    exit 1
fi
mv -f "$sum_tmp" "$dir/summary.tsv"
mv -f "$head_tmp" "$dir/headline.tsv"
