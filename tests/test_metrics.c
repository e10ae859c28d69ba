/* test_metrics: AUC by hand-computed cases and against the O(n^2) pairwise reference on vectors with
 * many ties; logloss by hand, with clipping at both ends and the logit form. `test_metrics --bench N`
 * times AUC on N random scores instead (speed lives in make bench, not in the tests). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"
#include "testing.h"
#include "core/util.h"

static uint64_t t_rng = 0x1234567u;
static uint64_t next_u64(void) {
    uint64_t z = (t_rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void test_auc_hand(void) {
    {
        float s[] = {0.1f, 0.4f, 0.35f, 0.8f};
        uint8_t y[] = {0, 0, 1, 1};
        // pairs (pos, neg): (0.35,0.1)=1 (0.35,0.4)=0 (0.8,0.1)=1 (0.8,0.4)=1 -> 3/4
        T_NEAR(metric_auc(s, y, 4), 0.75, 0, "classic 4-point");
    }
    {
        float s[] = {0.5f, 0.5f, 0.5f, 0.2f, 0.9f};
        uint8_t y[] = {1, 0, 0, 0, 1};
        // pos 0.5 vs negs {0.5,0.5,0.2}: 0.5+0.5+1 = 2; pos 0.9: 3 -> 5/6
        T_NEAR(metric_auc(s, y, 5), 5.0 / 6.0, 1e-15, "ties get half");
    }
    {
        float s[] = {0.3f, 0.3f, 0.3f, 0.3f};
        uint8_t y[] = {1, 0, 1, 0};
        T_NEAR(metric_auc(s, y, 4), 0.5, 0, "all tied");
    }
    {
        float s[] = {1, 2, 3, 4, 5, 6};
        uint8_t y[] = {0, 0, 0, 1, 1, 1};
        uint8_t r[] = {1, 1, 1, 0, 0, 0};
        T_NEAR(metric_auc(s, y, 6), 1.0, 0, "perfect");
        T_NEAR(metric_auc(s, r, 6), 0.0, 0, "reversed");
    }
    {
        float s[] = {-0.0f, 0.0f, -1.0f, -INFINITY, INFINITY};
        uint8_t y[] = {1, 0, 0, 0, 1};
        // pos -0.0 vs negs {0.0 tie, -1, -inf}: 0.5+1+1; pos inf: 3 -> 5.5/6
        T_NEAR(metric_auc(s, y, 5), 5.5 / 6.0, 1e-15, "signed zeros tie, infinities order");
        T_NEAR(metric_auc_ref(s, y, 5), 5.5 / 6.0, 1e-15, "ref: signed zeros");
    }
    {
        float s[] = {0.1f, 0.2f, 0.3f};
        uint8_t y1[] = {1, 1, 1}, y0[] = {0, 0, 0};
        T_CHECK(isnan(metric_auc(s, y1, 3)), "only positives must give NaN");
        T_CHECK(isnan(metric_auc(s, y0, 3)), "only negatives must give NaN");
        T_CHECK(isnan(metric_auc(s, y0, 0)), "empty must give NaN");
        T_CHECK(isnan(metric_auc_ref(s, y1, 3)), "ref: one class gives NaN");
    }
    {
        float s[] = {NAN, 1.0f, NAN, INFINITY};
        uint8_t y[] = {1, 0, 0, 1};
        T_NEAR(metric_auc(s, y, 4), metric_auc_ref(s, y, 4), 0, "NaN handled the same by both");
    }
}

/* Random vectors from few distinct values (many ties), and wide ones with negatives and both signs of
 * zero, against the pairwise definition. Both compute the same integer twice-U, so equal within 1e-12. */
static void test_auc_vs_ref(void) {
    for (int trial = 0; trial < 60; trial++) {
        size_t n = 1 + next_u64() % 700;
        int levels = trial % 3 == 0 ? 2 : trial % 3 == 1 ? 17 : 0; // 0: continuous
        double prate = (double)(next_u64() % 100) / 100.0;
        float *s = xmalloc(n * sizeof *s);
        uint8_t *y = xmalloc(n);
        for (size_t i = 0; i < n; i++) {
            uint64_t r = next_u64();
            if (levels)
                s[i] = (float)(r % (uint64_t)levels) * 0.25f - 1.0f;
            else
                s[i] = (float)((double)(int64_t)r * 0x1.0p-60);
            if (r % 97 == 0) s[i] = (r & 1) ? -0.0f : 0.0f;
            y[i] = (double)(next_u64() >> 11) * 0x1.0p-53 < prate;
        }
        double a = metric_auc(s, y, n), b = metric_auc_ref(s, y, n);
        if (isnan(b))
            T_CHECK(isnan(a), "trial %d: ref NaN, fast %g", trial, a);
        else
            T_NEAR(a, b, 1e-12, "random vs ref");
        // a permutation of the rows changes nothing
        for (size_t i = n; i > 1; i--) {
            size_t j = next_u64() % i;
            float ts = s[i - 1];
            s[i - 1] = s[j];
            s[j] = ts;
            uint8_t ty = y[i - 1];
            y[i - 1] = y[j];
            y[j] = ty;
        }
        double c = metric_auc(s, y, n);
        T_CHECK((isnan(a) && isnan(c)) || a == c, "trial %d: permuted rows give %.17g, not %.17g",
                trial, c, a);
        free(s);
        free(y);
    }
    // a larger case that exercises all three radix passes
    size_t n = 200000;
    float *s = xmalloc(n * sizeof *s);
    uint8_t *y = xmalloc(n);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = next_u64();
        y[i] = r & 1;
        s[i] = (float)((r >> 1) % 5000) * 1e-3f - 2.0f + (y[i] ? 0.3f : 0.0f);
    }
    // the reference in O(n^2) on a 10000-row prefix; the fast one must agree there
    size_t m = 10000;
    T_NEAR(metric_auc(s, y, m), metric_auc_ref(s, y, m), 1e-12, "10000 rows vs ref");
    double full = metric_auc(s, y, n);
    T_CHECK(full > 0.5 && full < 1.0, "200000 rows: %g", full);
    free(s);
    free(y);
}

static void test_logloss(void) {
    {
        float p[] = {0.5f, 0.5f};
        uint8_t y[] = {1, 0};
        T_NEAR(metric_logloss(p, y, 2), log(2.0), 1e-15, "p=0.5");
    }
    {
        float p[] = {0.9f, 0.2f, 0.7f};
        uint8_t y[] = {1, 0, 0};
        double want = -(log((double)0.9f) + log(1.0 - (double)0.2f) + log(1.0 - (double)0.7f)) / 3.0;
        T_NEAR(metric_logloss(p, y, 3), want, 1e-15, "mixed");
    }
    {
        // p = 0 and 1: clipped to 1e-7 and 1 - 1e-7, never inf
        float p[] = {0.0f, 1.0f, 0.0f, 1.0f};
        uint8_t y[] = {1, 0, 0, 1};
        // 1 - p is clipped as p is: at p = 1 the loss is -log(1 - (1 - 1e-7)), a hair off -log(1e-7)
        double wrong0 = -log(1e-7), wrong1 = -log(1.0 - (1.0 - 1e-7)), right = -log(1.0 - 1e-7);
        T_NEAR(metric_logloss(p, y, 4), (wrong0 + wrong1 + 2 * right) / 4.0, 1e-12, "clipped at 0 and 1");
        T_NEAR(metric_logloss(p, y, 1), -log(1e-7), 1e-12, "clip: p=0, y=1 gives -log(1e-7)");
    }
    {
        float z[] = {0.0f, 2.0f, -3.0f, 40.0f, -40.0f};
        uint8_t y[] = {1, 1, 1, 0, 0};
        double s = 0;
        for (int i = 0; i < 5; i++) {
            double p = 1.0 / (1.0 + exp(-(double)z[i]));
            p = p < 1e-7 ? 1e-7 : p > 1 - 1e-7 ? 1 - 1e-7 : p;
            s -= y[i] ? log(p) : log(1 - p);
        }
        T_NEAR(metric_logloss_logit(z, y, 5), s / 5, 1e-15, "from logits, clipped");
        T_NEAR(metric_logloss_logit(z + 3, y + 3, 1), -log(1e-7), 1e-9, "logit 40, label 0: clip");
    }
    {
        // block sums: a length past one block gives the mean of identical terms
        size_t n = 200003;
        float *p = xmalloc(n * sizeof *p);
        uint8_t *y = xmalloc(n);
        for (size_t i = 0; i < n; i++) {
            p[i] = 0.25f;
            y[i] = 1;
        }
        T_NEAR(metric_logloss(p, y, n), -log(0.25), 1e-9, "many blocks");
        T_NEAR(metric_pos_rate(y, n), 1.0, 0, "pos rate");
        free(p);
        free(y);
    }
    T_CHECK(isnan(metric_logloss(NULL, NULL, 0)), "empty logloss is NaN");
}

static int bench(size_t n) {
    float *s = xmalloc(n * sizeof *s);
    uint8_t *y = xmalloc(n);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = next_u64();
        y[i] = (r & 3) == 0;
        s[i] = (float)((double)(r >> 11) * 0x1.0p-53) + (y[i] ? 0.2f : 0.0f);
    }
    double best = 1e9, auc = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now_seconds();
        auc = metric_auc(s, y, n);
        double t = now_seconds() - t0;
        if (t < best) best = t;
    }
    double t0 = now_seconds();
    double ll = metric_logloss(s, y, n);
    double tl = now_seconds() - t0;
    printf("metric_auc n=%zu: %.3f s (best of 3), auc %.6f; metric_logloss %.3f s (%.6f)\n", n, best,
           auc, tl, ll);
    free(s);
    free(y);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--bench")) return bench((size_t)strtoull(argv[2], NULL, 10));
    test_auc_hand();
    test_auc_vs_ref();
    test_logloss();
    return t_report("test_metrics");
}
