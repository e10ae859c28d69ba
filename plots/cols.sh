#!/bin/sh
# cols.sh FILE MODEL VARIANT[@DATASET] COLUMN...: the named columns of FILE's rows (a summary.tsv) for
# MODEL and VARIANT (of DATASET, where given), ok rows only, sorted by the first column; an NA std is
# written 0 so error bars draw. Used by the plots/*.gp scripts.
f=$1 model=$2 variant=${3%@*} dataset=
case $3 in *@*) dataset=${3##*@} ;; esac
shift 3
awk -F'\t' -v OFS='\t' -v model="$model" -v variant="$variant" -v dataset="$dataset" -v want="$*" '
NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; n = split(want, W, " "); next }
$c["model"] == model && $c["variant"] == variant && (dataset == "" || $c["dataset"] == dataset) && $c["status"] == "ok" {
    s = ""
    for (i = 1; i <= n; i++) { v = (W[i] in c) ? $c[W[i]] : "NA"; if (v == "NA" && W[i] ~ /_std$/) v = 0; s = s (i > 1 ? OFS : "") v }
    print s
}' "$f" | sort -g -k1,1
