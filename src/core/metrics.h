/* metrics: exact AUC and clipped logloss (SPEC 5), the numbers every result and the oracle report.
 * AUC is the Mann-Whitney statistic with midranks for ties, computed from a radix sort of the scores
 * (O(n), about 0.1-0.2 s for 10M scores on one core); metric_auc_ref is the O(n^2) pairwise definition
 * the fast one is tested against. Logloss clips p to [1e-7, 1 - 1e-7] and averages in double.
 * Both are serial or split into fixed blocks, so the same inputs give the same bits on any thread count.
 * What they do not do: weights, multi-class, streaming. */
#ifndef HASHEMB_METRICS_H
#define HASHEMB_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRIC_CLIP 1e-7

/* AUC of scores against 0/1 labels: P(score_pos > score_neg) + 0.5 P(score_pos == score_neg) over all
 * positive-negative pairs. Returns NAN when there are no positives or no negatives (also for n == 0):
 * callers print NA. -0.0 and +0.0 tie; NaN scores tie with each other above +inf (a run that produced
 * them is flagged diverged elsewhere). Allocates 8n bytes of scratch. */
double metric_auc(const float *score, const uint8_t *label, size_t n); // score (n), label (n)
double metric_auc_ref(const float *score, const uint8_t *label, size_t n);

/* Mean binary cross-entropy; NAN for n == 0. */
double metric_logloss(const float *prob, const uint8_t *label, size_t n);   // prob (n)
/* The same from logits: p = sigmoid(z) in double, then the same clip (finer than a float p near 0, 1). */
double metric_logloss_logit(const float *logit, const uint8_t *label, size_t n); // logit (n)

/* Positives / n (NAN for n == 0). */
double metric_pos_rate(const uint8_t *label, size_t n);

#endif
