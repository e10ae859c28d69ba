/* emb_full: the uncompressed N_f x w table; also what every strategy uses for fields with
 * N_f <= --compress-min. */
#include <string.h>

#include "emb.h"

static void full_plan(EmbFieldPlan *fp, const EmbOptions *o, int w) {
    (void)o;
    fp->compressed = 0;
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
    const size_t w = (size_t)f->w;
    for (int b = 0; b < B; b++)
        memcpy(out + (size_t)b * out_stride, t->w + (size_t)ids[(size_t)b * id_stride] * w,
               w * sizeof(float));
}

static void full_backward(EmbField *f, const float *dout, size_t dout_stride, const uint32_t *ids,
                          size_t id_stride, int B) {
    EmbTable *t = &f->tables[0];
    const int w = f->w;
    for (int b = 0; b < B; b++) {
        float *g = emb_grad_row(t, ids[(size_t)b * id_stride]);
        const float *d = dout + (size_t)b * dout_stride;
        for (int k = 0; k < w; k++) g[k] += d[k];
    }
}

const EmbStrategy EMB_FULL_STRATEGY = {
    .name = "full",
    .plan = full_plan,
    .create = full_create,
    .forward = full_forward,
    .backward = full_backward,
    .update = emb_tables_update,
    .bytes = emb_tables_bytes,
    .free_priv = NULL,
};
