/* emb_tt: TT-Rec, the table as a tensor train (Yin, Acun, Wu and Gupta, MLSys 2021; FBTT's
 * TTEmbeddingBag). The N_f x w table is read as a tensor of shape (n1 x w1) (n2 x w2) (n3 x w3) with
 * n1 n2 n3 >= N_f and w1 w2 w3 = w' >= w, stored as three cores of rank R:
 *   G1: n1 rows of (w1, R),   G2: n2 rows of (R, w2, R),   G3: n3 rows of (R, w3)   (tables[0..2]);
 * the id (i1, i2, i3) = (id / (n2 n3), id / n3 mod n2, id mod n3) has the row
 *   E[(a w2 + b) w3 + c] = sum_{r,s} G1[i1][a][r] G2[i2][r][b][s] G3[i3][s][c],
 * of which the first w columns are the vector. n1 = n2 = ceil(cbrt(N_f)), n3 = ceil(N_f / (n1 n2)).
 *
 * The width: TT factors the row, and DeepFM's w = d + 1 = 17 is prime. The row is padded to w', the
 * smallest width >= w with three factors none above 2 ceil(cbrt(w')) (17 -> 18 = 2 x 3 x 3, 16 = 2 x 2
 * x 4, 65 -> 70 = 2 x 5 x 7); the pad columns are computed, never read, and their parameters count in
 * the budget (1/18 of the cores at w = 17). Keeping column 0 (DeepFM's first-order weight) in a table of
 * its own instead would cost N_f parameters, more than the whole budget past r = w, or a compression of
 * its own: padding keeps one method per field.
 *
 * R: the largest rank whose cores fit the budget N_f w / r, params = n1 w1 R + n2 w2 R^2 + n3 w3 R
 * (--tt-rank R caps it; clamped at R = 1). Init: every core element from N(0, s) with
 * R^2 s^6 = 1e-8, so a row's elements (sums of R^2 products of three) have SPEC 4's std 1e-4, as
 * TT-Rec's sampled Gaussian init. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emb/emb.h"

#define TT_MAX_RANK 1024

typedef struct {
    int rank; /* --tt-rank: 0 = auto (the budget's), else a cap */
} TtOptions;
typedef struct {
    uint64_t n[3]; /* the id's factors */
    int wf[3];     /* the padded width's factors */
    int wp;        /* w' = wf[0] wf[1] wf[2] >= w */
    int R;
} TtLayout;
_Static_assert(sizeof(TtOptions) <= EMB_SOPT_BYTES, "tt's options fit EmbOptions.sopt");
_Static_assert(sizeof(TtLayout) <= EMB_LAYOUT_BYTES, "tt's layout fits EmbFieldPlan.layout");

static inline const TtLayout *layout(const EmbFieldPlan *fp) { return (const TtLayout *)fp->layout; }

/* --- options --- */

static int parse_rank(void *sopt, const char *value, const char *flag, Err *e) {
    long long r = 0;
    if (strcmp(value, "auto") && parse_i64(value, 1, TT_MAX_RANK, flag, &r, e)) return -1;
    ((TtOptions *)sopt)->rank = (int)r;
    return 0;
}

static const EmbFlag TT_FLAGS[] = {
    {"tt-rank",
     "  --tt-rank auto|R                   tt: the cores' rank: the largest the budget allows (auto,\n"
     "                                     default), or at most R (1 to 1024)\n",
     parse_rank, offsetof(TtOptions, rank), sizeof(int)},
};

static void tt_variant(const void *sopt, long compress_min, char *buf, size_t n) {
    const int r = ((const TtOptions *)sopt)->rank;
    if (r) snprintf(buf, n, "tt:R%d:cm%ld", r, compress_min);
    else snprintf(buf, n, "tt:cm%ld", compress_min);
}

/* --- layout --- */

/* The padded width and its factors: the smallest w' >= w with a factorisation a <= b <= c, c <=
 * 2 ceil(cbrt(w')), taking the one with the smallest c, then the largest a (16 = 2 x 2 x 4, not 1 x 4 x 4):
 * the more even factorisation, as TT-Rec factors both the ids and the width as evenly as it can. */
static void tt_width(int w, int *wf, int *wp) {
    for (int x = w;; x++) {
        int lim = 1;
        while (lim * lim * lim < x) lim++;
        lim *= 2;
        int best = 0;
        for (int a = 1; a * a * a <= x; a++) {
            if (x % a) continue;
            for (int b = a; a * b * b <= x; b++) {
                if ((x / a) % b) continue;
                const int c = x / a / b;
                if (c <= lim && (!best || c <= wf[2])) wf[0] = a, wf[1] = b, wf[2] = c, best = 1;
            }
        }
        if (best) {
            *wp = x;
            return;
        }
    }
}

static double tt_params(const TtLayout *L, double R) {
    return (double)L->n[0] * L->wf[0] * R + (double)L->n[1] * L->wf[1] * R * R + (double)L->n[2] * L->wf[2] * R;
}

static void tt_plan(EmbFieldPlan *fp, const EmbOptions *common, const void *sopt, int w) {
    (void)common;
    TtLayout *L = (TtLayout *)fp->layout;
    const uint64_t N = fp->N;
    uint64_t c = (uint64_t)ceil(cbrt((double)N));
    while (c > 1 && (c - 1) * (c - 1) * (c - 1) >= N) c--;
    while (c * c * c < N) c++;
    L->n[0] = L->n[1] = c;
    L->n[2] = (N + c * c - 1) / (c * c);
    tt_width(w, L->wf, &L->wp);
    const int cap = ((const TtOptions *)sopt)->rank ? ((const TtOptions *)sopt)->rank : TT_MAX_RANK;
    int R = 1;
    while (R < cap && tt_params(L, R + 1) <= fp->budget) R++;
    L->R = R;
    fp->reads = 3;
    fp->rows = L->n[0] + L->n[1] + L->n[2];
    fp->params = (uint64_t)tt_params(L, R);
    fp->clamped = (double)fp->params > fp->budget;
}

static void tt_plan_cols(const EmbFieldPlan *fp, EmbPlanCols *c) {
    const TtLayout *L = layout(fp);
    snprintf(c->hyper, sizeof c->hyper, "R=%d,n=%llux%llux%llu,w=%dx%dx%d", L->R, (unsigned long long)L->n[0],
             (unsigned long long)L->n[1], (unsigned long long)L->n[2], L->wf[0], L->wf[1], L->wf[2]);
}

static void tt_describe(const EmbFieldPlan *fp, char *buf, size_t n) {
    const TtLayout *L = layout(fp);
    snprintf(buf, n, "R=%d n1=%llu n2=%llu n3=%llu w1=%d w2=%d w3=%d", L->R, (unsigned long long)L->n[0],
             (unsigned long long)L->n[1], (unsigned long long)L->n[2], L->wf[0], L->wf[1], L->wf[2]);
}

static int core_width(const TtLayout *L, int k) {
    return k == 0 ? L->wf[0] * L->R : k == 1 ? L->R * L->wf[1] * L->R : L->R * L->wf[2];
}

/* touched rows: one per id and core, each its core's width */
static uint64_t tt_touch_bytes(const EmbFieldPlan *fp, int w, int max_batch) {
    (void)w;
    const TtLayout *L = layout(fp);
    uint64_t n = 0;
    for (int k = 0; k < 3; k++) {
        uint64_t rows = (uint64_t)max_batch < L->n[k] ? (uint64_t)max_batch : L->n[k];
        n += rows * (sizeof(uint32_t) + (uint64_t)core_width(L, k) * sizeof(float));
    }
    return n;
}

/* the contraction: w1 w2 R^2 for T, then w1 w2 R w3 */
static double tt_macs(const EmbFieldPlan *fp, int w) {
    (void)w;
    const TtLayout *L = layout(fp);
    return (double)L->wf[0] * L->wf[1] * L->R * (L->R + L->wf[2]);
}

/* --- the cores --- */

static void tt_create(EmbField *f, int max_batch, OptKind opt, Rng *rng) {
    const TtLayout *L = layout(&f->plan);
    const double s = pow(EMB_INIT_STD * EMB_INIT_STD / ((double)L->R * L->R), 1.0 / 6.0);
    f->ntables = 3;
    for (int k = 0; k < 3; k++) {
        emb_table_alloc(&f->tables[k], L->n[k], core_width(L, k), (uint32_t)max_batch, opt);
        emb_table_init_normal(&f->tables[k], 0.0, s, rng);
    }
}

static inline void tt_index(const TtLayout *L, uint32_t id, uint32_t *i) {
    const uint64_t n23 = L->n[1] * L->n[2];
    i[0] = (uint32_t)(id / n23);
    i[1] = (uint32_t)((id / L->n[2]) % L->n[1]);
    i[2] = (uint32_t)(id % L->n[2]);
}

/* T[a][b][s] = sum_r G1[a][r] G2[r][b][s]: (w1, w2 R). The sums run in double: a row element sums R^2
 * products of three, and float sums of that many lose the precision the finite-difference checks
 * (and a 1000x compressed field's small gradients) need. */
static void tt_left(const TtLayout *L, const float *g1, const float *g2, double *T) {
    const int R = L->R, w2R = L->wf[1] * R;
    for (int a = 0; a < L->wf[0]; a++) {
        double *t = T + (size_t)a * w2R;
        for (int q = 0; q < w2R; q++) t[q] = 0.0;
        for (int r = 0; r < R; r++) {
            const double x = g1[a * R + r];
            const float *g = g2 + (size_t)r * w2R;
            for (int q = 0; q < w2R; q++) t[q] += x * g[q];
        }
    }
}

/* The id's padded row E (w') and, for backward, T (w1 w2 R). */
static void tt_row(const EmbField *f, uint32_t id, double *E, double *T) {
    const TtLayout *L = layout(&f->plan);
    uint32_t i[3];
    tt_index(L, id, i);
    const float *g1 = f->tables[0].w + (size_t)i[0] * core_width(L, 0);
    const float *g2 = f->tables[1].w + (size_t)i[1] * core_width(L, 1);
    const float *g3 = f->tables[2].w + (size_t)i[2] * core_width(L, 2);
    tt_left(L, g1, g2, T);
    const int R = L->R, w3 = L->wf[2], ab = L->wf[0] * L->wf[1];
    for (int x = 0; x < ab; x++) {
        const double *t = T + (size_t)x * R;
        double *e = E + (size_t)x * w3;
        for (int c = 0; c < w3; c++) e[c] = 0.0;
        for (int s = 0; s < R; s++) {
            const double y = t[s];
            const float *g = g3 + (size_t)s * w3;
            for (int c = 0; c < w3; c++) e[c] += y * g[c];
        }
    }
}

static void tt_forward(const EmbField *f, float *out, size_t out_stride, const uint32_t *ids, size_t id_stride,
                       int B) {
    const TtLayout *L = layout(&f->plan);
    double *E = xmalloc(sizeof(double) * ((size_t)L->wp + (size_t)L->wf[0] * L->wf[1] * L->R));
    double *T = E + L->wp;
    for (int b = 0; b < B; b++) {
        tt_row(f, ids[(size_t)b * id_stride], E, T);
        float *o = out + (size_t)b * out_stride;
        for (int c = 0; c < f->w; c++) o[c] = (float)E[c];
    }
    free(E);
}

/* With D = dout padded by zeros: dG3[s][c] += sum_ab T[ab][s] D[ab][c]; dT[ab][s] = sum_c D[ab][c] G3[s][c];
 * dG1[a][r] += sum_{b,s} dT[a][b][s] G2[r][b][s]; dG2[r][b][s] += sum_a G1[a][r] dT[a][b][s]. */
static void tt_backward(EmbField *f, const float *dout, size_t dout_stride, const uint32_t *ids, size_t id_stride,
                        int B) {
    const TtLayout *L = layout(&f->plan);
    const int R = L->R, w1 = L->wf[0], w3 = L->wf[2], w2R = L->wf[1] * R, ab = w1 * L->wf[1];
    const size_t nT = (size_t)w1 * w2R;
    double *E = xmalloc(sizeof(double) * ((size_t)L->wp * 2 + nT * 2));
    double *T = E + L->wp, *D = T + nT, *dT = D + L->wp;
    for (int c = f->w; c < L->wp; c++) D[c] = 0.0;
    for (int b = 0; b < B; b++) {
        const uint32_t id = ids[(size_t)b * id_stride];
        uint32_t i[3];
        tt_index(L, id, i);
        tt_row(f, id, E, T);
        for (int c = 0; c < f->w; c++) D[c] = dout[(size_t)b * dout_stride + (size_t)c];
        const float *g1 = f->tables[0].w + (size_t)i[0] * core_width(L, 0);
        const float *g2 = f->tables[1].w + (size_t)i[1] * core_width(L, 1);
        const float *g3 = f->tables[2].w + (size_t)i[2] * core_width(L, 2);
        float *d1 = emb_grad_row(&f->tables[0], i[0]);
        float *d2 = emb_grad_row(&f->tables[1], i[1]);
        float *d3 = emb_grad_row(&f->tables[2], i[2]);
        for (int x = 0; x < ab; x++) {
            const double *t = T + (size_t)x * R, *dd = D + (size_t)x * w3;
            double *dt = dT + (size_t)x * R;
            for (int s = 0; s < R; s++) {
                const float *g = g3 + (size_t)s * w3;
                float *d = d3 + (size_t)s * w3;
                double acc = 0.0;
                for (int c = 0; c < w3; c++) {
                    d[c] += (float)(t[s] * dd[c]);
                    acc += dd[c] * g[c];
                }
                dt[s] = acc;
            }
        }
        for (int a = 0; a < w1; a++) {
            const double *dt = dT + (size_t)a * w2R;
            for (int r = 0; r < R; r++) {
                const float *g = g2 + (size_t)r * w2R;
                float *d = d2 + (size_t)r * w2R;
                const double x = g1[a * R + r];
                double acc = 0.0;
                for (int q = 0; q < w2R; q++) {
                    acc += dt[q] * g[q];
                    d[q] += (float)(x * dt[q]);
                }
                d1[a * R + r] += (float)acc;
            }
        }
    }
    free(E);
}

static const char *const TT_TEST_CONFIGS[] = {"", "--tt-rank 2", NULL};

const EmbStrategy EMB_TT_STRATEGY = {
    .opt_size = sizeof(TtOptions),
    .flags = TT_FLAGS,
    .nflags = sizeof TT_FLAGS / sizeof *TT_FLAGS,
    .variant = tt_variant,
    .plan = tt_plan,
    .plan_cols = tt_plan_cols,
    .plan_shown = EMB_COL_HYPER,
    .describe = tt_describe,
    .plan_touch_bytes = tt_touch_bytes,
    .plan_macs = tt_macs,
    /* scalar contractions in double: at r = 10 on the zoo's data, 56 us a sample more than the full
     * table for 86,000 multiply-adds, 0.65 ns each against sgemm's 8.7 ps (2 threads, EPYC Zen 3) */
    .mac_cost = 75,
    .create = tt_create,
    .forward = tt_forward,
    .backward = tt_backward,
    .test_configs = TT_TEST_CONFIGS,
};
