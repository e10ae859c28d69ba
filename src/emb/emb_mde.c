/* emb_mde: mixed-dimension embeddings (Ginart, Naumov, Mudigere, Yang and Zou, "Mixed Dimension
 * Embeddings with Application to Memory-Efficient Recommendation Systems", ISIT 2021; dlrm's
 * md_embedding_bag), in the paper's blocked form within each field. The field's ids, ranked by their
 * train count (descending, ties to the smaller id), are cut into K blocks (--mde-blocks, default 4) of
 * log-uniform sizes: block i holds the ranks [round(N^(i/K)), round(N^((i+1)/K))) (block 0 from rank
 * 0, the last to N; each at least one id), so the head blocks are small and the tail block holds most
 * ids. Block i has a table E_i of n_i rows of dimension d_i, and a learned projection P_i (d_i x w,
 * dlrm's Linear without bias) to the row width; a block of full dimension d_i = w has no projection
 * (dlrm's identity). An id's vector: E_i[rank - start_i] P_i.
 *
 * Dimensions: the paper's power rule d_i = lambda p_i^alpha (alpha: --mde-alpha, default 0.3 as
 * dlrm), p_i the block's popularity, its mean train count per id; each d_i rounded to the nearest
 * integer and kept in [1, w]. lambda is the largest whose layout fits the budget, projections
 * included: sum_i n_i d_i + sum_{d_i < w} d_i w <= N w / r (the candidates are the lambdas where some
 * d_i steps, so the search is exact). When even every d_i = 1 does not fit, the layout is clamped
 * there: every id keeps at least one parameter, so mde cannot compress a field by more than about w
 * (17 for DeepFM at d = 16) and larger ratios are infeasible, as the method is.
 *
 * The rank of an id comes from the train counts (train and plan --data count them; plan --cards has
 * none: infeasible). It is kept as an N-entry index (4 bytes per id), always read, that does not
 * count in the budget: a practitioner composes it with the vocabulary (raw value -> id) into one
 * value -> rank map, as Ginart et al.'s blocks assume ids numbered by frequency, so it costs no more
 * than the vocabulary every strategy keeps outside its parameters. (hashemb's ids need not be in that
 * order: --id-order first or hash, as the zoo's data, number them otherwise, and even freq puts the
 * OOV id 0 first whatever its count; so the index is kept here.) Counted as hotcold counts its map,
 * 4 bytes a parameter, the index alone would be N parameters and mde's ceiling would fall from about
 * w to about w/2 (8.5 at w = 17). The memory check counts it, and create's sort (16 bytes an id, for
 * a moment).
 * Init: E_i from N(0, 1e-4), P_i Gaussian with every column scaled to norm 1, so that each column of
 * the composed vectors has std 1e-4.
 * Not built: dlrm's md_solver form (one dimension per field, by the field's size), which allots the
 * dimensions across fields and needs a plan across fields. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/radix.h"
#include "emb/emb.h"

#define MDE_MAX_BLOCKS 16

typedef struct {
    double alpha; /* --mde-alpha, 0..2 (default 0.3) */
    int blocks;   /* --mde-blocks, 1..MDE_MAX_BLOCKS (default 4) */
} MdeOptions;
typedef struct {
    uint64_t start[MDE_MAX_BLOCKS + 1]; /* block i: ranks [start[i], start[i+1]) */
    float pop[MDE_MAX_BLOCKS];           /* mean train count per id */
    int d[MDE_MAX_BLOCKS];
    int K;
    double alpha, lambda;
} MdeLayout;
_Static_assert(sizeof(MdeOptions) <= EMB_SOPT_BYTES, "mde's options fit EmbOptions.sopt");
_Static_assert(sizeof(MdeLayout) <= EMB_LAYOUT_BYTES, "mde's layout fits EmbFieldPlan.layout");

static inline const MdeLayout *layout(const EmbFieldPlan *fp) { return (const MdeLayout *)fp->layout; }

/* --- options --- */

static void mde_default(void *sopt) {
    MdeOptions *o = sopt;
    o->alpha = 0.3;
    o->blocks = 4;
}

static int parse_alpha(void *sopt, const char *value, const char *flag, Err *e) {
    return parse_f64(value, 0, 2, flag, &((MdeOptions *)sopt)->alpha, e);
}

static int parse_blocks(void *sopt, const char *value, const char *flag, Err *e) {
    long long k;
    if (parse_i64(value, 1, MDE_MAX_BLOCKS, flag, &k, e)) return -1;
    ((MdeOptions *)sopt)->blocks = (int)k;
    return 0;
}

static const EmbFlag MDE_FLAGS[] = {
    {"mde-alpha",
     "  --mde-alpha A                      mde: block dimensions follow popularity^A, 0 to 2 (default 0.3)\n",
     parse_alpha, offsetof(MdeOptions, alpha), sizeof(double)},
    {"mde-blocks",
     "  --mde-blocks K                     mde: frequency blocks per field, 1 to 16 (default 4)\n",
     parse_blocks, offsetof(MdeOptions, blocks), sizeof(int)},
};

static void mde_variant(const void *sopt, long compress_min, char *buf, size_t n) {
    const MdeOptions *o = sopt;
    snprintf(buf, n, "mde:a%g:K%d:cm%ld", o->alpha, o->blocks, compress_min);
}

/* --- layout --- */

RADIX_SORT_DEFINE(sort_counts, uint32_t, 4, 8, RADIX_BYTE)

static int mde_dim(const MdeLayout *L, int i, double lambda, int w) {
    if (!(L->pop[i] > 0)) return 1;
    const double d = floor(lambda * pow(L->pop[i], L->alpha) + 0.5);
    return d < 1 ? 1 : d > w ? w : (int)d;
}

static uint64_t mde_params(const MdeLayout *L, const int *d, int w) {
    uint64_t p = 0;
    for (int i = 0; i < L->K; i++)
        p += (L->start[i + 1] - L->start[i]) * (uint64_t)d[i] + (d[i] < w ? (uint64_t)d[i] * (uint64_t)w : 0);
    return p;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void mde_plan(EmbFieldPlan *fp, const EmbOptions *common, const void *sopt, int w) {
    (void)common;
    const MdeOptions *o = sopt;
    MdeLayout *L = (MdeLayout *)fp->layout;
    const uint64_t N = fp->N;
    if (!fp->counts) {
        fp->feasible = 0;
        snprintf(fp->reason, sizeof fp->reason,
                 "mde ranks the ids by the train split's counts (plan --data DIR, not --cards)");
        return;
    }
    /* the blocks: log-uniform sizes, each at least one id */
    L->K = (uint64_t)o->blocks < N ? o->blocks : (int)N;
    L->alpha = o->alpha;
    L->start[0] = 0;
    for (int i = 1; i < L->K; i++) {
        uint64_t s = (uint64_t)llround(pow((double)N, (double)i / L->K));
        const uint64_t lo = L->start[i - 1] + 1, hi = N - (uint64_t)(L->K - i);
        L->start[i] = s < lo ? lo : s > hi ? hi : s;
    }
    L->start[L->K] = N;
    /* popularity: the mean count of each block's ranks */
    uint32_t *a = xmalloc(N * sizeof *a), *tmp = xmalloc(N * sizeof *tmp);
    memcpy(a, fp->counts, N * sizeof *a);
    const uint32_t *s = sort_counts(a, tmp, N); /* ascending: rank q is s[N - 1 - q] */
    for (int i = 0; i < L->K; i++) {
        double sum = 0;
        for (uint64_t q = L->start[i]; q < L->start[i + 1]; q++) sum += s[N - 1 - q];
        L->pop[i] = (float)(sum / (double)(L->start[i + 1] - L->start[i]));
    }
    free(a);
    free(tmp);
    /* lambda: the largest of the values where some d_i steps whose layout fits; none: all ones */
    double *cand = xmalloc(sizeof *cand * (size_t)L->K * (size_t)w);
    int nc = 0;
    for (int i = 0; i < L->K; i++)
        if (L->pop[i] > 0)
            for (int j = 2; j <= w; j++) cand[nc++] = (j - 0.5) / pow(L->pop[i], L->alpha);
    qsort(cand, (size_t)nc, sizeof *cand, cmp_double);
    int d[MDE_MAX_BLOCKS];
    L->lambda = 0;
    for (int c = nc - 1; c >= 0; c--) {
        for (int i = 0; i < L->K; i++) d[i] = mde_dim(L, i, cand[c] * (1 + 1e-12), w);
        if ((double)mde_params(L, d, w) <= fp->budget) {
            L->lambda = cand[c] * (1 + 1e-12);
            break;
        }
    }
    free(cand);
    for (int i = 0; i < L->K; i++) L->d[i] = mde_dim(L, i, L->lambda, w);
    fp->reads = 2;
    fp->rows = 0;
    for (int i = 0; i < L->K; i++) fp->rows += L->start[i + 1] - L->start[i] + (L->d[i] < w ? (uint64_t)L->d[i] : 0);
    fp->params = mde_params(L, L->d, w);
    fp->clamped = (double)fp->params > fp->budget;
}

static void mde_dims(const MdeLayout *L, char *buf, size_t n) {
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; i < L->K && at < n; i++) at += (size_t)snprintf(buf + at, n - at, "%s%d", i ? "," : "", L->d[i]);
}

static void mde_sizes(const MdeLayout *L, char *buf, size_t n) {
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; i < L->K && at < n; i++)
        at += (size_t)snprintf(buf + at, n - at, "%s%llu", i ? "," : "",
                               (unsigned long long)(L->start[i + 1] - L->start[i]));
}

static void mde_plan_cols(const EmbFieldPlan *fp, EmbPlanCols *c) {
    if (!fp->feasible) return;
    char d[128];
    mde_dims(layout(fp), d, sizeof d);
    /* 16 blocks of 4-digit widths overflow the column: cut at a comma and mark the cut */
    if ((size_t)snprintf(c->hyper, sizeof c->hyper, "d=%s", d) >= sizeof c->hyper) {
        char *cut = strrchr(c->hyper, ',');
        while (cut && (size_t)(cut - c->hyper) + 4 >= sizeof c->hyper) {
            *cut = 0;
            cut = strrchr(c->hyper, ',');
        }
        if (cut) strcpy(cut, ",...");
    }
}

static void mde_plan_note(const EmbFieldPlan *fp, char *buf, size_t n) {
    char s[256];
    mde_sizes(layout(fp), s, sizeof s);
    snprintf(buf, n, " blocks of %s ids", s);
}

static void mde_describe(const EmbFieldPlan *fp, char *buf, size_t n) {
    char d[128], s[256];
    mde_dims(layout(fp), d, sizeof d);
    mde_sizes(layout(fp), s, sizeof s);
    snprintf(buf, n, "K=%d dims=%s sizes=%s", layout(fp)->K, d, s);
}

/* touched rows: up to one per id in each block's table, every row of the projections; and the rank
 * index, N u32 outside the budget */
static uint64_t mde_touch_bytes(const EmbFieldPlan *fp, int w, int max_batch) {
    const MdeLayout *L = layout(fp);
    uint64_t n = fp->N * sizeof(uint32_t);
    for (int i = 0; i < L->K; i++) {
        const uint64_t ni = L->start[i + 1] - L->start[i];
        n += (ni < (uint64_t)max_batch ? ni : (uint64_t)max_batch) * (sizeof(uint32_t) + (uint64_t)L->d[i] * sizeof(float));
        if (L->d[i] < w) n += (uint64_t)L->d[i] * (sizeof(uint32_t) + (uint64_t)w * sizeof(float));
    }
    return n;
}

/* the projection, d_i w, weighted by each block's share of the train occurrences */
static double mde_macs(const EmbFieldPlan *fp, int w) {
    const MdeLayout *L = layout(fp);
    double all = 0, m = 0;
    for (int i = 0; i < L->K; i++) {
        const double occ = (double)L->pop[i] * (double)(L->start[i + 1] - L->start[i]);
        all += occ;
        m += occ * (L->d[i] < w ? (double)L->d[i] * w : 0);
    }
    return all > 0 ? m / all : 0;
}

/* --- the tables --- */

typedef struct {
    uint32_t *rank;                                  /* (N) */
    int tE[MDE_MAX_BLOCKS], tP[MDE_MAX_BLOCKS];      /* block i's tables; tP -1: no projection */
} MdePriv;

RADIX_SORT_DEFINE(sort_keys, uint64_t, 8, 8, RADIX_BYTE)

static void mde_create(EmbField *f, int max_batch, OptKind opt, Rng *rng) {
    const MdeLayout *L = layout(&f->plan);
    const uint64_t N = f->plan.N;
    MdePriv *P = xcalloc(1, sizeof *P);
    f->priv = P;
    f->ntables = 0;
    for (int i = 0; i < L->K; i++) {
        const uint64_t ni = L->start[i + 1] - L->start[i];
        P->tE[i] = f->ntables++;
        emb_table_alloc(&f->tables[P->tE[i]], ni, L->d[i], (uint32_t)max_batch, opt);
        emb_table_init_normal(&f->tables[P->tE[i]], 0.0, EMB_INIT_STD, rng);
        P->tP[i] = -1;
        if (L->d[i] < f->w) {
            P->tP[i] = f->ntables++;
            emb_table_alloc(&f->tables[P->tP[i]], (uint64_t)L->d[i], f->w, (uint32_t)L->d[i], opt);
            /* Gaussian columns, each scaled to norm 1: every column of the vector has std 1e-4 */
            EmbTable *t = &f->tables[P->tP[i]];
            emb_table_init_normal(t, 0.0, 1.0, rng);
            for (int c = 0; c < f->w; c++) {
                double nn = 0;
                for (int k = 0; k < L->d[i]; k++) nn += (double)t->w[k * f->w + c] * t->w[k * f->w + c];
                for (int k = 0; k < L->d[i]; k++) t->w[k * f->w + c] = (float)(t->w[k * f->w + c] / sqrt(nn));
            }
        }
    }
    /* ranks: ids by count descending, ties to the smaller id (key: ~count, id) */
    const uint32_t *cnt = f->plan.counts;
    CHECK(cnt);
    uint64_t *k = xmalloc(N * sizeof *k), *tmp = xmalloc(N * sizeof *tmp);
    for (uint64_t id = 0; id < N; id++) k[id] = (uint64_t)(uint32_t)~cnt[id] << 32 | id;
    const uint64_t *s = sort_keys(k, tmp, N);
    P->rank = xmalloc(N * sizeof *P->rank);
    for (uint64_t q = 0; q < N; q++) P->rank[(uint32_t)s[q]] = (uint32_t)q;
    free(k);
    free(tmp);
}

/* create's sort: keys and their scratch, 8 bytes an id each */
static uint64_t mde_create_temp_bytes(const EmbFieldPlan *fp) { return 16 * fp->N; }

static void mde_free_priv(EmbField *f) {
    MdePriv *P = f->priv;
    if (!P) return;
    free(P->rank);
    free(P);
    f->priv = NULL;
}

/* The id's block and its row there. */
static inline int mde_find(const EmbField *f, uint32_t id, uint32_t *row) {
    const MdeLayout *L = layout(&f->plan);
    const uint32_t q = ((const MdePriv *)f->priv)->rank[id];
    int i = 0;
    while (i + 1 < L->K && q >= L->start[i + 1]) i++;
    *row = q - (uint32_t)L->start[i];
    return i;
}

static void mde_forward(const EmbField *f, float *out, size_t out_stride, const uint32_t *ids, size_t id_stride,
                        int B) {
    const MdeLayout *L = layout(&f->plan);
    const MdePriv *P = f->priv;
    const int w = f->w;
    for (int b = 0; b < B; b++) {
        uint32_t row;
        const int i = mde_find(f, ids[(size_t)b * id_stride], &row), d = L->d[i];
        const float *e = f->tables[P->tE[i]].w + (size_t)row * (size_t)d;
        float *o = out + (size_t)b * out_stride;
        if (P->tP[i] < 0) {
            emb_row_copy(o, e, w);
            continue;
        }
        const float *pm = f->tables[P->tP[i]].w;
        for (int c = 0; c < w; c++) o[c] = 0.0f;
        for (int k = 0; k < d; k++) {
            const float x = e[k], *p = pm + (size_t)k * (size_t)w;
            for (int c = 0; c < w; c++) o[c] += x * p[c];
        }
    }
}

/* dE_i[row] += dout P_i^T; dP_i[k] += e[k] dout (P_i, e as the forward read them) */
static void mde_backward(EmbField *f, const float *dout, size_t dout_stride, const uint32_t *ids, size_t id_stride,
                         int B) {
    const MdeLayout *L = layout(&f->plan);
    const MdePriv *P = f->priv;
    const int w = f->w;
    for (int b = 0; b < B; b++) {
        uint32_t row;
        const int i = mde_find(f, ids[(size_t)b * id_stride], &row), d = L->d[i];
        const float *g = dout + (size_t)b * dout_stride;
        EmbTable *E = &f->tables[P->tE[i]];
        float *ge = emb_grad_row(E, row);
        if (P->tP[i] < 0) {
            emb_row_add(ge, g, w);
            continue;
        }
        EmbTable *Pm = &f->tables[P->tP[i]];
        const float *e = E->w + (size_t)row * (size_t)d;
        for (int k = 0; k < d; k++) {
            const float *p = Pm->w + (size_t)k * (size_t)w;
            float *gp = emb_grad_row(Pm, (uint32_t)k), acc = 0.0f;
            for (int c = 0; c < w; c++) {
                acc += g[c] * p[c];
                gp[c] += e[k] * g[c];
            }
            ge[k] += acc;
        }
    }
}

static const char *const MDE_TEST_CONFIGS[] = {"--mde-blocks {1,4} --mde-alpha {0.3,1}", "--mde-blocks 16", NULL};

const EmbStrategy EMB_MDE_STRATEGY = {
    .opt_size = sizeof(MdeOptions),
    .opt_default = mde_default,
    .flags = MDE_FLAGS,
    .nflags = sizeof MDE_FLAGS / sizeof *MDE_FLAGS,
    .variant = mde_variant,
    .plan = mde_plan,
    .plan_cols = mde_plan_cols,
    .plan_shown = EMB_COL_HYPER,
    .plan_note = mde_plan_note,
    .plan_notes_head = "notes",
    .describe = mde_describe,
    .plan_touch_bytes = mde_touch_bytes,
    .plan_macs = mde_macs,
    /* a projection of a few columns: 1.6 us a sample more than the full table at r = 10 on the zoo's
     * data, mostly the rank lookup's, which no multiply-add count sees: not counted */
    .mac_cost = 0,
    .create = mde_create,
    .create_temp_bytes = mde_create_temp_bytes,
    .forward = mde_forward,
    .backward = mde_backward,
    .free_priv = mde_free_priv,
    .needs_counts = 1,
    .test_configs = MDE_TEST_CONFIGS,
};
