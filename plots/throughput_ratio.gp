# Training throughput of each strategy against the target ratio.
load 'plots/common.gpi'
fig = 'throughput_ratio'; ycol = 'samples_per_sec'; ylab = 'training samples/s'; ref = 1
ttl = sprintf('Training throughput, sweep %s', sweep)
load 'plots/ratio_figure.gpi'
