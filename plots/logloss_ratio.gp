# Test logloss against the achieved compression ratio.
load 'plots/common.gpi'
fig = 'logloss_ratio'; ycol = 'test_logloss'; ylab = 'test logloss (lower is better)'; ref = 1
ttl = sprintf('Test logloss vs compression, sweep %s', sweep)
load 'plots/ratio_figure.gpi'
