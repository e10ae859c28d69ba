# The BH ablations: every bh variant of the sweep (block layout, tables, fusion, code length, block
# length) against the achieved ratio, with the full table for reference.
load 'plots/common.gpi'
fig = 'bh_ablation'; ycol = 'test_auc'; ylab = 'test AUC'; ref = 1; vfilter = 'bh*'
ttl = sprintf('Binary-code hash embedding variants, sweep %s', sweep)
load 'plots/ratio_figure.gpi'
