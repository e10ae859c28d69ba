# Embedding bytes (parameters, from what was allocated) against the target ratio: what memory shrinks by.
load 'plots/common.gpi'
fig = 'bytes_ratio'; ycol = 'emb_bytes'; ylab = 'embedding parameters (bytes, log scale)'; ref = 1; ylog = 1
xcol = 'ratio_target'; xlab = 'target compression ratio r (log scale)'
ttl = sprintf('Embedding memory vs target ratio, sweep %s', sweep)
load 'plots/ratio_figure.gpi'
