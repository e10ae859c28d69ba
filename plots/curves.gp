# Valid AUC per epoch: the learning curve of every variant at one target ratio (the middle one of the
# sweep, or `ratio` given with -e), first seed, at the learning rate the summary kept for each point,
# one panel per model.
load 'plots/common.gpi'
grid = sprintf('results/%s/grid.tsv', sweep)
if (!exists("ratio")) { ratio = system(sprintf("awk -F'\t' '$4 != 1 { print $4 }' %s | sort -g -u | awk '{ r[NR] = $1 } END { print (NR ? r[int((NR + 1) / 2)] : 1) }'", grid)) }
summ = sprintf('results/%s/summary.tsv', sweep)
# per variant: the run of the first seed at the learning rate summary.tsv kept for that grid point
runs(m) = system(sprintf("awk -F'\t' -v m=%s -v r=%s -v sf=%s 'FILENAME == sf { if (FNR == 1) { for (i = 1; i <= NF; i++) c[$i] = i; next } best[$c[\"dataset\"] FS $c[\"model\"] FS $c[\"variant\"] FS $c[\"ratio_target\"]] = $c[\"lr\"]; next } $2 == m && ($4 == r || $3 == \"full\") { k = $1 FS $2 FS $3 FS $4; if ((k in best) && $5 != best[k]) next; if (!s[$1 $3]++) printf \"%%s \", $7 }' %s %s", m, ratio, summ, (system(sprintf('test -f %s && echo 1 || echo 0', summ)) + 0 ? summ : '/dev/null'), grid))
vlab(m, run) = system(sprintf("awk -F'\t' -v m=%s -v run=%s -v nd=%d '$2 == m && $7 == run { print $3 (nd > 1 ? \" (\" $1 \")\" : \"\"); exit }' %s | sed -e 's/:cm[0-9]*//' -e 's/:Sauto//' -e 's/:shared:sum//'", m, run, ndatasets, grid))
do for [t in "png pdf"] {
    if (t eq "png") { set terminal pngcairo size png_w,680 font 'Sans,15' } else { set terminal pdfcairo size (nmodels > 1 ? 11 : 7.5)in,4.6in font 'Sans,11' }
    set output sprintf('%s/curves.%s', outdir, t)
    if (nmodels > 1) { set multiplot layout 1,nmodels title sprintf('Valid AUC per epoch at r = %s, sweep %s', ratio, sweep) } else { set multiplot layout 1,1 }
    do for [mi = 1:nmodels] {
        m = word(models, mi)
        rs = runs(m)
        set xlabel 'epoch'
        set ylabel 'valid AUC'
        set xtics 1
        set offsets graph 0.05, graph 0.05, graph 0.06, graph 0.06
        set title (nmodels > 1 ? m : sprintf('Valid AUC per epoch at r = %s, sweep %s, %s', ratio, sweep, m)) noenhanced
        cmd = 'plot '
        do for [i = 1:words(rs)] {
            f = sprintf('results/%s/runs/%s.curve.tsv', sweep, word(rs, i))
            if (system(sprintf('test -f %s && echo 1 || echo 0', f)) + 0) {
                cmd = cmd . sprintf("'%s' using 1:4 with linespoints ls %d title '%s' noenhanced, ", f, (i - 1) % nstyles + 1, vlab(m, word(rs, i)))
            }
        }
        if (strlen(cmd) > 5) { eval(cmd[1:strlen(cmd) - 2]) }
    }
    unset multiplot
}
