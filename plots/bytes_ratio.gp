# Embedding bytes (parameters, from what was allocated) against the target ratio: what memory shrinks by.
load 'plots/common.gpi'
fig = 'bytes_ratio'; ycol = 'emb_bytes'; ylab = 'embedding table size (bytes, log scale)'; ref = 1; ylog = 1; yfmt = '%.0s %cB'
ttl = sprintf('Embedding memory vs compression, sweep %s', sweep)
load 'plots/ratio_figure.gpi'
