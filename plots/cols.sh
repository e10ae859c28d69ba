#!/bin/sh
# cols.sh FILE MODEL VARIANT COLUMN...: the named columns of FILE's rows for MODEL and VARIANT (a
# summary.tsv), ok rows only, sorted by the first column; NA std written 0 so error bars draw.
# MODEL or VARIANT may be '*'; VARIANT 'bh*' matches every bh variant. Used by the plots/*.gp scripts.
f=$1 model=$2 variant=$3
shift 3
awk -F'\t' -v OFS='\t' -v model="$model" -v variant="$variant" -v want="$*" '
NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; n = split(want, W, " "); next }
(model == "*" || $c["model"] == model) && (variant == "*" || $c["variant"] == variant || (variant ~ /\*$/ && index($c["variant"], substr(variant, 1, length(variant) - 1)) == 1)) && $c["status"] == "ok" {
    s = ""
    for (i = 1; i <= n; i++) { v = (W[i] in c) ? $c[W[i]] : "NA"; if (v == "NA" && W[i] ~ /_std$/) v = 0; s = s (i > 1 ? OFS : "") v }
    print s
}' "$f" | sort -g -k1,1
