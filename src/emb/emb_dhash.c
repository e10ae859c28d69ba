/* emb_dhash: multiple hashing (Svenstrup, Hansen and Winther, "Hash Embeddings for Efficient Word
 * Representations", NeurIPS 2017). k hash functions pick k rows of one shared pool of m rows per field
 * (tables[0], m x w); the id's vector is their sum, or with learned importance weights
 * (--dhash-weights learned) their weighted sum, sum_i p_i(id) E[h_i(id)], the k weights of an id being
 * a row of a second table (tables[1], K x k) that counts in the budget.
 *   h_i(id) = XXH64(id, seed_f + i) mod m, i = 0..k-1 (h_0 is the hashing trick's row);
 *   the id's weight row: the id itself when K = N_f, else XXH64(id, seed_f + k) mod K.
 * Budget: without weights m = max(1, floor(N_f / r)), hash's m; with weights the budget is split in
 * halves as in the paper's experiments (10M importance buckets of k = 2 weights beside 1M component
 * vectors of d = 20: 20M parameters each): m = max(1, floor(budget / 2 / w)) pool rows and
 * K = min(N_f, max(1, floor(budget / 2 / k))) weight rows; when the budget is below 2w (one pool row
 * takes more than half), K = max(1, floor((budget - w) / k)) instead.
 * Init (SPEC 4: composed vectors of std 1e-4): the pool from N(0, 1e-4 / sqrt(k)); the weights 1, so a
 * learned run starts as the plain sum. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>

#include "emb/emb.h"

#define DHASH_MAX_K 8

typedef struct {
    int k;       /* hash functions, 1..DHASH_MAX_K (default 2) */
    int learned; /* --dhash-weights learned */
} DhashOptions;
typedef struct {
    uint64_t m, K; /* pool rows; weight rows (0 without weights) */
    int k, learned;
} DhashLayout;
_Static_assert(sizeof(DhashOptions) <= EMB_SOPT_BYTES, "dhash's options fit EmbOptions.sopt");
_Static_assert(sizeof(DhashLayout) <= EMB_LAYOUT_BYTES, "dhash's layout fits EmbFieldPlan.layout");

static inline const DhashLayout *layout(const EmbFieldPlan *fp) { return (const DhashLayout *)fp->layout; }

/* --- options --- */

static const char *const WEIGHT_NAMES[2] = {"none", "learned"};

static void dhash_default(void *sopt) { ((DhashOptions *)sopt)->k = 2; }

static int parse_k(void *sopt, const char *value, const char *flag, Err *e) {
    long long k;
    if (parse_i64(value, 1, DHASH_MAX_K, flag, &k, e)) return -1;
    ((DhashOptions *)sopt)->k = (int)k;
    return 0;
}

static int parse_weights(void *sopt, const char *value, const char *flag, Err *e) {
    return parse_name(value, WEIGHT_NAMES, 2, flag, &((DhashOptions *)sopt)->learned, e);
}

static const EmbFlag DHASH_FLAGS[] = {
    {"dhash-k", "  --dhash-k K                        dhash: hash functions per id, 1 to 8 (default 2)\n",
     parse_k, offsetof(DhashOptions, k), sizeof(int)},
    {"dhash-weights",
     "  --dhash-weights none|learned       dhash: sum the k rows, or weight them by k learned weights per\n"
     "                                     id (half the budget; default none)\n",
     parse_weights, offsetof(DhashOptions, learned), sizeof(int)},
};

static void dhash_variant(const void *sopt, long compress_min, char *buf, size_t n) {
    const DhashOptions *o = sopt;
    snprintf(buf, n, "dhash:k%d:%s:cm%ld", o->k, WEIGHT_NAMES[o->learned], compress_min);
}

/* --- layout --- */

static void dhash_plan(EmbFieldPlan *fp, const EmbOptions *common, const void *sopt, int w) {
    const DhashOptions *o = sopt;
    DhashLayout *L = (DhashLayout *)fp->layout;
    L->k = o->k;
    L->learned = o->learned;
    /* without weights hash's m, floor(N / r); with weights half the budget */
    const uint64_t m = o->learned ? (uint64_t)floor(fp->budget / 2 / w) : (uint64_t)floor((double)fp->N / common->ratio);
    L->m = m < 1 ? 1 : m;
    L->K = 0;
    if (o->learned) {
        /* the other half; when one pool row takes more than half, what it leaves */
        const double left = L->m * (double)w > fp->budget / 2 ? fp->budget - (double)w : fp->budget / 2;
        const uint64_t K = left > 0 ? (uint64_t)floor(left / o->k) : 0;
        L->K = K < 1 ? 1 : K > fp->N ? fp->N : K;
    }
    fp->reads = o->k + o->learned;
    fp->rows = L->m + L->K;
    fp->params = L->m * (uint64_t)w + L->K * (uint64_t)o->k;
    fp->clamped = (double)fp->params > fp->budget;
}

static void dhash_plan_cols(const EmbFieldPlan *fp, EmbPlanCols *c) {
    const DhashLayout *L = layout(fp);
    snprintf(c->m, sizeof c->m, "%llu", (unsigned long long)L->m);
    if (L->learned)
        snprintf(c->hyper, sizeof c->hyper, "m=%llu,K=%llu", (unsigned long long)L->m, (unsigned long long)L->K);
    else
        snprintf(c->hyper, sizeof c->hyper, "m=%llu", (unsigned long long)L->m);
}

static void dhash_describe(const EmbFieldPlan *fp, char *buf, size_t n) {
    const DhashLayout *L = layout(fp);
    snprintf(buf, n, "m=%llu k=%d weights=%s K=%llu", (unsigned long long)L->m, L->k, WEIGHT_NAMES[L->learned],
             (unsigned long long)L->K);
}

/* touched rows: up to k per id in the pool (w wide), one per id in the weights (k wide) */
static uint64_t dhash_touch_bytes(const EmbFieldPlan *fp, int w, int max_batch) {
    const DhashLayout *L = layout(fp);
    uint64_t pool = (uint64_t)max_batch * (uint64_t)L->k, wt = (uint64_t)max_batch;
    if (pool > L->m) pool = L->m;
    if (wt > L->K) wt = L->K;
    return pool * (sizeof(uint32_t) + (uint64_t)w * sizeof(float)) +
           wt * (sizeof(uint32_t) + (uint64_t)L->k * sizeof(float));
}

/* --- the tables --- */

static void dhash_create(EmbField *f, int max_batch, OptKind opt, Rng *rng) {
    const DhashLayout *L = layout(&f->plan);
    f->ntables = 1 + L->learned;
    emb_table_alloc(&f->tables[0], L->m, f->w, (uint32_t)max_batch * (uint32_t)L->k, opt);
    emb_table_init_normal(&f->tables[0], 0.0, EMB_INIT_STD / sqrt((double)L->k), rng);
    if (L->learned) {
        emb_table_alloc(&f->tables[1], L->K, L->k, (uint32_t)max_batch, opt);
        emb_table_init_normal(&f->tables[1], 1.0, 0.0, rng);
    }
}

/* The id's k pool rows and its weight row (-1 without weights). */
static inline int64_t dhash_rows(const EmbFieldPlan *p, EmbMod pool, EmbMod wmod, uint32_t id, uint32_t *row) {
    const DhashLayout *L = layout(p);
    for (int i = 0; i < L->k; i++) row[i] = (uint32_t)emb_mod(pool, emb_hash_id(id, p->seed_f + (uint64_t)i));
    if (!L->learned) return -1;
    if (L->K == p->N) return id;
    return (int64_t)emb_mod(wmod, emb_hash_id(id, p->seed_f + (uint64_t)L->k));
}

static void dhash_forward(const EmbField *f, float *out, size_t out_stride, const uint32_t *ids,
                          size_t id_stride, int B) {
    const DhashLayout *L = layout(&f->plan);
    const EmbTable *E = &f->tables[0];
    const int w = f->w, k = L->k;
    const EmbMod pool = emb_mod_init(L->m), wmod = emb_mod_init(L->learned ? L->K : 1);
    for (int b0 = 0; b0 < B; b0 += EMB_GROUP) {
        const int n = B - b0 < EMB_GROUP ? B - b0 : EMB_GROUP;
        uint32_t row[EMB_GROUP][DHASH_MAX_K];
        const float *p[EMB_GROUP];
        for (int i = 0; i < n; i++) {
            const int64_t wr = dhash_rows(&f->plan, pool, wmod, ids[(size_t)(b0 + i) * id_stride], row[i]);
            p[i] = wr < 0 ? NULL : f->tables[1].w + (size_t)wr * (size_t)k;
            for (int j = 0; j < k; j++) emb_prefetch_row(E->w + (size_t)row[i][j] * (size_t)w, w);
        }
        for (int i = 0; i < n; i++) {
            float *o = out + (size_t)(b0 + i) * out_stride;
            if (!p[i]) {
                emb_row_copy(o, E->w + (size_t)row[i][0] * (size_t)w, w);
                for (int j = 1; j < k; j++) emb_row_add(o, E->w + (size_t)row[i][j] * (size_t)w, w);
                continue;
            }
            for (int c = 0; c < w; c++) o[c] = 0.0f;
            for (int j = 0; j < k; j++) {
                const float pj = p[i][j], *e = E->w + (size_t)row[i][j] * (size_t)w;
                for (int c = 0; c < w; c++) o[c] += pj * e[c];
            }
        }
    }
}

/* dE[h_j] += p_j dout; with weights also dp_j += E[h_j] . dout (E as the forward read it: updates come
 * after the whole batch's backward). */
static void dhash_backward(EmbField *f, const float *dout, size_t dout_stride, const uint32_t *ids,
                           size_t id_stride, int B) {
    const DhashLayout *L = layout(&f->plan);
    EmbTable *E = &f->tables[0];
    const int w = f->w, k = L->k;
    const EmbMod pool = emb_mod_init(L->m), wmod = emb_mod_init(L->learned ? L->K : 1);
    uint32_t row[DHASH_MAX_K];
    for (int b = 0; b < B; b++) {
        const float *d = dout + (size_t)b * dout_stride;
        const int64_t wr = dhash_rows(&f->plan, pool, wmod, ids[(size_t)b * id_stride], row);
        if (wr < 0) {
            for (int j = 0; j < k; j++) emb_row_add(emb_grad_row(E, row[j]), d, w);
            continue;
        }
        EmbTable *P = &f->tables[1];
        const float *p = P->w + (size_t)wr * (size_t)k;
        float *gp = emb_grad_row(P, (uint32_t)wr);
        for (int j = 0; j < k; j++) {
            const float *e = E->w + (size_t)row[j] * (size_t)w;
            float *g = emb_grad_row(E, row[j]), dot = 0.0f;
            for (int c = 0; c < w; c++) {
                g[c] += p[j] * d[c];
                dot += e[c] * d[c];
            }
            gp[j] += dot;
        }
    }
}

static const char *const DHASH_TEST_CONFIGS[] = {"--dhash-k {1,2,3}", "--dhash-weights learned --dhash-k {2,5}",
                                                 NULL};

const EmbStrategy EMB_DHASH_STRATEGY = {
    .opt_size = sizeof(DhashOptions),
    .opt_default = dhash_default,
    .flags = DHASH_FLAGS,
    .nflags = sizeof DHASH_FLAGS / sizeof *DHASH_FLAGS,
    .variant = dhash_variant,
    .plan = dhash_plan,
    .plan_cols = dhash_plan_cols,
    .plan_touch_bytes = dhash_touch_bytes,
    .plan_shown = EMB_COL_M,
    .describe = dhash_describe,
    .create = dhash_create,
    .forward = dhash_forward,
    .backward = dhash_backward,
    .test_configs = DHASH_TEST_CONFIGS,
};
