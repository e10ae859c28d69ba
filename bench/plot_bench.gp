# bench/plot_bench.gp: training throughput per strategy at 1 and 2 threads, the PyTorch peer, and the
# sgemm-bound ceilings as lines. bench/bench.sh calls it with
#   gnuplot -e "datafile='results/bench/bench_plot.dat'; outfile='results/bench/bench.png'; term='png';
#               ceil1=13000; ceil2=25000; subtitle='...'" bench/plot_bench.gp
# datafile: a comment line, then "label" samples/s at 1 thread, at 2 threads (NaN where not measured),
# and a note shown at the foot of the group ("infeasible", or "-" for none).
if (!exists("datafile")) datafile = 'results/bench/bench_plot.dat'
if (!exists("outfile")) outfile = 'results/bench/bench.png'
if (!exists("term")) term = 'png'
if (!exists("ceil1")) ceil1 = NaN
if (!exists("ceil2")) ceil2 = NaN
if (!exists("subtitle")) subtitle = ''

if (term eq 'pdf') {
    set terminal pdfcairo size 8in,4.5in font 'Helvetica,10'
} else {
    set terminal pngcairo size 1200,675 font 'Helvetica,12'
}
set output outfile

stats datafile using 0 nooutput
n = STATS_records
stats datafile using 2 nooutput
ymax = STATS_max
stats datafile using 3 nooutput
ymax = STATS_max > ymax ? STATS_max : ymax
ymax = ceil1 == ceil1 && ceil1 > ymax ? ceil1 : ymax
ymax = ceil2 == ceil2 && ceil2 > ymax ? ceil2 : ymax

set title "Training throughput: DeepFM, 39 fields, d = 16, MLP 400-400-400, batch 4096\n{/*0.8 ".subtitle."}"
set ylabel 'training samples per second'
set xlabel 'embedding strategy (compression ratio)'
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key top left horizontal maxrows 2 box opaque width 1
set yrange [0:ymax * 1.3]
set xrange [-0.6:n - 0.4]
set xtics nomirror
set format y '%.0s%c'

plot datafile using 2:xtic(1) title '1 thread' lc rgb '#4c72b0', \
     '' using 3 title '2 threads' lc rgb '#dd8452', \
     '' using 0:(ymax * 0.03):(stringcolumn(4) eq '-' ? '' : stringcolumn(4)) with labels font ',9' notitle, \
     '' using 0:($2 == $2 ? $2 : 1/0):(sprintf('%.0f', $2)) with labels offset -1.8,0.6 font ',8' notitle, \
     '' using 0:($3 == $3 ? $3 : 1/0):(sprintf('%.0f', $3)) with labels offset 1.8,0.6 font ',8' notitle, \
     ceil1 with lines dt 2 lw 2 lc rgb '#4c72b0' title sprintf('sgemm ceiling, 1 thread (%.0f)', ceil1), \
     ceil2 with lines dt 2 lw 2 lc rgb '#dd8452' title sprintf('sgemm ceiling, 2 threads (%.0f)', ceil2)
