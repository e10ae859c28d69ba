# How compressible is the data: the hashing trick's test AUC relative to the full table's, against the
# achieved ratio of the compressed fields, one line per dataset of the sweep (compressibility.sweep:
# three settings of gen's planted model), beside a published real-Criteo curve (plots/criteo_real.tsv,
# relative to its 2x point). Error bars: the test AUC's standard deviation over seeds, relative.
load 'plots/common.gpi'
real = 'plots/criteo_real.tsv'
real_ref = 0.8083 # the real curve's 2x point
do for [t in "png pdf"] {
    if (t eq "png") { set terminal pngcairo size png_w,680 font 'Sans,15' enhanced } else { set terminal pdfcairo size (nmodels > 1 ? 11 : 7.5)in,4.6in font 'Sans,11' enhanced }
    set output sprintf('%s/compressibility.%s', outdir, t)
    ttl = sprintf('Hash relative to the full table, sweep %s', sweep)
    if (nmodels > 1) { set multiplot layout 1,nmodels title ttl } else { set multiplot layout 1,1 }
    do for [mi = 1:nmodels] {
        m = word(models, mi)
        vs = system(sprintf("echo '%s' | tr ' ' '\n' | grep '^hash' | tr '\n' ' '", variants(m)))
        nv = words(vs)
        set logscale x
        unset logscale y
        set format x '%g'
        set format y '%g%%'
        set xlabel 'achieved ratio of the compressed fields (ratio\_compressed, log scale)'
        set ylabel 'test AUC, % of the full table'
        set title (nmodels > 1 ? m : ttl . ', ' . m) noenhanced
        set offsets graph 0.03, graph 0.03, graph 0.06, graph 0.06
        cmd = 'plot '
        do for [i = 1:nv] {
            v = word(vs, i)
            ds = v[strstrt(v, '@') + 1:]
            fv = fullval(m, ds, 'test_auc_mean')
            if (fv ne '' && fv ne 'NA') {
                cmd = cmd . sprintf("sel('%s','%s','ratio_compressed_mean test_auc_mean test_auc_std') using 1:(100*$2/%s):(100*$3/%s) with yerrorlines ls %d title '%s' noenhanced, ", m, v, fv, fv, (i - 1) % nstyles + 1, ndatasets > 1 ? 'synthetic: ' . ds : label(v))
            }
        }
        cmd = cmd . sprintf("real using 1:(100*$2/%g) with linespoints ls 9 dt 2 title 'real Criteo (published)', ", real_ref)
        cmd = cmd . "100 with lines ls 20 title 'full table', 99 with lines ls 21 title '99% of full', "
        if (nv == 0) { set label 1 'no hash variant in this sweep' at graph 0.5, 0.5 center } else { unset label 1 }
        eval(cmd[1:strlen(cmd) - 2])
    }
    unset multiplot
}
