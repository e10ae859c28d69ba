/* emb_full: the uncompressed N_f x w table; also what every strategy uses for fields with
 * N_f <= --compress-min. */
#include <stdio.h>

#include "emb/emb.h"

static void full_variant(const void *sopt, long compress_min, char *buf, size_t n) {
    (void)sopt, (void)compress_min;
    snprintf(buf, n, "full");
}

static void full_plan(EmbFieldPlan *fp, const EmbOptions *o, const void *sopt, int w) {
    (void)o, (void)sopt;
    fp->compressed = 0;
    fp->reads = 1;
    fp->rows = fp->N;
    fp->params = fp->N * (uint64_t)w;
}

static void full_create(EmbField *f, int max_batch, OptKind opt, Rng *rng) {
    f->ntables = 1;
    emb_table_alloc(&f->tables[0], f->plan.N, f->w, (uint32_t)max_batch, opt);
    emb_table_init_normal(&f->tables[0], 0.0, EMB_INIT_STD, rng);
}

static void full_forward(const EmbField *f, float *out, size_t out_stride, const uint32_t *ids,
                         size_t id_stride, int B) {
    const EmbTable *t = &f->tables[0];
    const int w = f->w;
    for (int b0 = 0; b0 < B; b0 += EMB_GROUP) {
        const int n = B - b0 < EMB_GROUP ? B - b0 : EMB_GROUP;
        const float *row[EMB_GROUP];
        for (int i = 0; i < n; i++) {
            row[i] = t->w + (size_t)ids[(size_t)(b0 + i) * id_stride] * (size_t)w;
            emb_prefetch_row(row[i], w);
        }
        for (int i = 0; i < n; i++) emb_row_copy(out + (size_t)(b0 + i) * out_stride, row[i], w);
    }
}

static void full_backward(EmbField *f, const float *dout, size_t dout_stride, const uint32_t *ids,
                          size_t id_stride, int B) {
    EmbTable *t = &f->tables[0];
    const int w = f->w;
    for (int b = 0; b < B; b++)
        emb_row_add(emb_grad_row(t, ids[(size_t)b * id_stride]), dout + (size_t)b * dout_stride, w);
}

const EmbStrategy EMB_FULL_STRATEGY = {
    .variant = full_variant,
    .plan = full_plan,
    .create = full_create,
    .forward = full_forward,
    .backward = full_backward,
};
