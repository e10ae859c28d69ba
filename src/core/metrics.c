#include "core/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/radix.h"
#include "core/util.h"

/* Float bits -> u32 whose unsigned order is the float order: flip all bits of negatives, set the sign
 * bit of the rest. -0.0 becomes +0.0 first so that the two tie; every NaN becomes one quiet NaN, which
 * lands above +inf. */
static inline uint32_t sortable_key(float f) {
    uint32_t b;
    if (f == 0.0f) f = 0.0f;
    if (isnan(f)) f = NAN;
    memcpy(&b, &f, 4);
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

RADIX_SORT_DEFINE(sort_keys, uint32_t, 3, 11, RADIX_D11)

double metric_auc(const float *score, const uint8_t *label, size_t n) {
    size_t npos = 0;
    for (size_t i = 0; i < n; i++) npos += label[i] != 0;
    size_t nneg = n - npos;
    if (npos == 0 || nneg == 0) return NAN;
    // pos keys in buf[0, npos), neg keys in buf[npos, n); the scratch half mirrors them
    uint32_t *buf = xmalloc(2 * n * sizeof *buf);
    uint32_t *pos = buf, *neg = buf + npos;
    size_t ip = 0, in = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t k = sortable_key(score[i]);
        if (label[i])
            pos[ip++] = k;
        else
            neg[in++] = k;
    }
    const uint32_t *sp = sort_keys(pos, buf + n, npos);
    const uint32_t *sn = sort_keys(neg, buf + n + npos, nneg);
    /* Twice the Mann-Whitney U, an exact integer: for each positive, 2 per lower negative and 1 per
     * tied one. The midrank formula gives the same number; this form never leaves the integers. */
    uint64_t u2 = 0;
    size_t j = 0;
    for (size_t i = 0; i < npos;) {
        uint32_t k = sp[i];
        size_t i2 = i;
        while (i2 < npos && sp[i2] == k) i2++;
        while (j < nneg && sn[j] < k) j++;
        size_t j2 = j;
        while (j2 < nneg && sn[j2] == k) j2++;
        u2 += (uint64_t)(i2 - i) * (2 * (uint64_t)j + (uint64_t)(j2 - j));
        i = i2;
    }
    free(buf);
    return (double)u2 / (2.0 * (double)npos * (double)nneg);
}

double metric_auc_ref(const float *score, const uint8_t *label, size_t n) {
    uint64_t u2 = 0, npos = 0, nneg = 0;
    for (size_t i = 0; i < n; i++) *(label[i] ? &npos : &nneg) += 1;
    if (npos == 0 || nneg == 0) return NAN;
    for (size_t i = 0; i < n; i++) {
        if (!label[i]) continue;
        for (size_t j = 0; j < n; j++) {
            if (label[j]) continue;
            // NaN: the fast path ties NaNs with each other above everything; so does this
            float a = score[i], b = score[j];
            int an = isnan(a), bn = isnan(b);
            if (an || bn)
                u2 += an && bn ? 1 : an ? 2 : 0;
            else
                u2 += a > b ? 2 : a == b ? 1 : 0;
        }
    }
    return (double)u2 / (2.0 * (double)npos * (double)nneg);
}

static inline double clip_p(double p) {
    return p < METRIC_CLIP ? METRIC_CLIP : p > 1.0 - METRIC_CLIP ? 1.0 - METRIC_CLIP : p;
}

/* Sums in fixed blocks, added in order: parallel, yet the same bits on any thread count. */
#define LL_BLOCK 65536

static double logloss_blocks(const float *x, const uint8_t *label, size_t n, int is_logit) {
    if (n == 0) return NAN;
    size_t nb = (n + LL_BLOCK - 1) / LL_BLOCK;
    double *part = xmalloc(nb * sizeof *part);
#pragma omp parallel for schedule(static)
    for (size_t b = 0; b < nb; b++) {
        size_t lo = b * LL_BLOCK, hi = lo + LL_BLOCK < n ? lo + LL_BLOCK : n;
        double s = 0;
        for (size_t i = lo; i < hi; i++) {
            double p = is_logit ? 1.0 / (1.0 + exp(-(double)x[i])) : (double)x[i];
            p = clip_p(p);
            s -= label[i] ? log(p) : log(1.0 - p);
        }
        part[b] = s;
    }
    double s = 0;
    for (size_t b = 0; b < nb; b++) s += part[b];
    free(part);
    return s / (double)n;
}

double metric_logloss(const float *prob, const uint8_t *label, size_t n) {
    return logloss_blocks(prob, label, n, 0);
}

double metric_logloss_logit(const float *logit, const uint8_t *label, size_t n) {
    return logloss_blocks(logit, label, n, 1);
}

double metric_pos_rate(const uint8_t *label, size_t n) {
    if (n == 0) return NAN;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += label[i] != 0;
    return (double)k / (double)n;
}
