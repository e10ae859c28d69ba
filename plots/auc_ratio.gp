# Test AUC against the achieved compression ratio: the paper's main figure.
load 'plots/common.gpi'
fig = 'auc_ratio'; ycol = 'test_auc'; ylab = 'test AUC'; ref = 1
ttl = sprintf('Test AUC vs compression, sweep %s', sweep)
load 'plots/ratio_figure.gpi'
