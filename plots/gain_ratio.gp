# Relative gain (AUC - 0.5) / (full AUC - 0.5) against the achieved compression ratio.
load 'plots/common.gpi'
fig = 'gain_ratio'; ycol = 'rel_gain'; ylab = 'relative gain over random (full table = 1)'; ref = 0
ttl = sprintf('Relative AUC gain vs compression, sweep %s', sweep)
load 'plots/ratio_figure.gpi'
