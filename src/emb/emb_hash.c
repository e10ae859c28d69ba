/* emb_hash: the hashing trick (SPEC 4): m = max(1, floor(N_f / r)) rows; row = XXH64(id, seed_f) mod m.
 * Ids are hashed once per lookup; the row index is not cached, as a table of them would cost as much
 * memory as the compression saves. */
#include <math.h>
#include <stdio.h>

#include "emb/emb.h"

typedef struct {
    uint64_t m; /* rows */
} HashLayout;
_Static_assert(sizeof(HashLayout) <= EMB_LAYOUT_BYTES, "hash's layout fits EmbFieldPlan.layout");

static inline const HashLayout *layout(const EmbFieldPlan *fp) { return (const HashLayout *)fp->layout; }

static void hash_variant(const void *sopt, long compress_min, char *buf, size_t n) {
    (void)sopt;
    snprintf(buf, n, "hash:cm%ld", compress_min);
}

static void hash_plan(EmbFieldPlan *fp, const EmbOptions *o, const void *sopt, int w) {
    (void)sopt;
    HashLayout *L = (HashLayout *)fp->layout;
    uint64_t m = (uint64_t)floor((double)fp->N / o->ratio);
    L->m = m < 1 ? 1 : m;
    fp->reads = 1;
    fp->rows = L->m;
    fp->params = L->m * (uint64_t)w;
    fp->clamped = (double)fp->params > fp->budget;
}

static void hash_plan_cols(const EmbFieldPlan *fp, EmbPlanCols *c) {
    snprintf(c->m, sizeof c->m, "%llu", (unsigned long long)layout(fp)->m);
    snprintf(c->hyper, sizeof c->hyper, "m=%llu", (unsigned long long)layout(fp)->m);
}

static void hash_describe(const EmbFieldPlan *fp, char *buf, size_t n) {
    snprintf(buf, n, "m=%llu", (unsigned long long)layout(fp)->m);
}

static void hash_create(EmbField *f, int max_batch, OptKind opt, Rng *rng) {
    f->ntables = 1;
    emb_table_alloc(&f->tables[0], layout(&f->plan)->m, f->w, (uint32_t)max_batch, opt);
    emb_table_init_normal(&f->tables[0], 0.0, EMB_INIT_STD, rng);
}

static inline uint32_t hash_row(const EmbField *f, EmbMod mod, uint32_t id) {
    return (uint32_t)emb_mod(mod, emb_hash_id(id, f->plan.seed_f));
}

/* The exact h mod m of SPEC 4 without a 64-bit division per lookup (emb_mod, checked against % by
 * test_emb's test_mod, and end to end against shared/vectors). */
static void hash_forward(const EmbField *f, float *out, size_t out_stride, const uint32_t *ids,
                         size_t id_stride, int B) {
    const EmbTable *t = &f->tables[0];
    const int w = f->w;
    const EmbMod mod = emb_mod_init(layout(&f->plan)->m);
    for (int b0 = 0; b0 < B; b0 += EMB_GROUP) {
        const int n = B - b0 < EMB_GROUP ? B - b0 : EMB_GROUP;
        const float *row[EMB_GROUP];
        for (int i = 0; i < n; i++) {
            row[i] = t->w + (size_t)hash_row(f, mod, ids[(size_t)(b0 + i) * id_stride]) * (size_t)w;
            emb_prefetch_row(row[i], w);
        }
        for (int i = 0; i < n; i++) emb_row_copy(out + (size_t)(b0 + i) * out_stride, row[i], w);
    }
}

static void hash_backward(EmbField *f, const float *dout, size_t dout_stride, const uint32_t *ids,
                          size_t id_stride, int B) {
    EmbTable *t = &f->tables[0];
    const int w = f->w;
    const EmbMod mod = emb_mod_init(layout(&f->plan)->m);
    for (int b = 0; b < B; b++)
        emb_row_add(emb_grad_row(t, hash_row(f, mod, ids[(size_t)b * id_stride])),
                    dout + (size_t)b * dout_stride, w);
}

const EmbStrategy EMB_HASH_STRATEGY = {
    .variant = hash_variant,
    .plan = hash_plan,
    .plan_cols = hash_plan_cols,
    .plan_shown = EMB_COL_M,
    .describe = hash_describe,
    .create = hash_create,
    .forward = hash_forward,
    .backward = hash_backward,
};
