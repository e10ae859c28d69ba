#include "emb/emb.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

const char *const EMB_NAMES[EMB_NKINDS] = {
#define EMB_NAME_(kind, name, strategy) [kind] = name,
    EMB_STRATEGY_LIST(EMB_NAME_)
#undef EMB_NAME_
};

const EmbStrategy *const EMB_STRATEGIES[EMB_NKINDS] = {
#define EMB_ENTRY_(kind, name, strategy) [kind] = &strategy,
    EMB_STRATEGY_LIST(EMB_ENTRY_)
#undef EMB_ENTRY_
};

void emb_options_default(EmbOptions *o) {
    memset(o, 0, sizeof *o);
    o->kind = EMB_FULL;
    o->ratio = 1.0;
    o->compress_min = 200;
    o->seed = 1;
    for (int k = 0; k < EMB_NKINDS; k++) {
        CHECK(EMB_STRATEGIES[k]->opt_size <= EMB_SOPT_BYTES);
        if (EMB_STRATEGIES[k]->opt_default) EMB_STRATEGIES[k]->opt_default(o->sopt[k]);
    }
}

void emb_variant(const EmbOptions *o, char *buf, size_t n) {
    EMB_STRATEGIES[o->kind]->variant(o->sopt[o->kind], o->compress_min, buf, n);
}

const EmbStrategy *emb_field_strategy(const EmbPlan *p, const EmbFieldPlan *fp) {
    return EMB_STRATEGIES[emb_field_kind(p, fp)];
}

EmbKind emb_field_kind(const EmbPlan *p, const EmbFieldPlan *fp) {
    return fp->compressed ? p->opt.kind : EMB_FULL;
}

void emb_plan_cols(const EmbPlan *p, const EmbFieldPlan *fp, EmbPlanCols *c) {
    strcpy(c->m, "NA");
    strcpy(c->S, "NA");
    strcpy(c->t, "NA");
    strcpy(c->n, "NA");
    strcpy(c->lengths, "NA");
    strcpy(c->hyper, "NA");
    const EmbStrategy *s = emb_field_strategy(p, fp);
    if (s->plan_cols) s->plan_cols(fp, c);
}

void emb_describe(const EmbPlan *p, const EmbFieldPlan *fp, char *buf, size_t n) {
    const EmbStrategy *s = emb_field_strategy(p, fp);
    if (s->describe) s->describe(fp, buf, n);
    else snprintf(buf, n, "-");
}

static uint64_t h4(uint32_t v, uint64_t seed) {
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    return XXH64(b, 4, seed);
}

uint64_t emb_field_seed(uint32_t f, uint64_t seed) { return h4(f, seed); }
uint64_t emb_hash_id(uint32_t id, uint64_t seed_f) { return h4(id, seed_f); }

int emb_plan_needs_counts(const EmbOptions *o) { return EMB_STRATEGIES[o->kind]->needs_counts; }

int emb_plan_make(EmbPlan *p, const uint64_t *cards, int fields, int w, const EmbOptions *o, Err *e) {
    return emb_plan_make_counts(p, cards, NULL, fields, w, o, e);
}

int emb_plan_make_counts(EmbPlan *p, const uint64_t *cards, const uint32_t *const *counts, int fields, int w,
                         const EmbOptions *o, Err *e) {
    memset(p, 0, sizeof *p);
    if (fields < 1) return err_set(e, "no fields");
    if (w < 1) return err_set(e, "row width %d", w);
    if (o->kind != EMB_FULL && !(o->ratio >= 1.0))
        return err_set(e, "--ratio: %g is below 1 (a ratio is full size / compressed size)", o->ratio);
    if (o->compress_min < 0) return err_set(e, "--compress-min: %ld is negative", o->compress_min);
    const EmbStrategy *s = EMB_STRATEGIES[o->kind];
    if (s->opt_check && s->opt_check(o->sopt[o->kind], e)) return -1;
    p->opt = *o;
    if (o->kind == EMB_FULL) p->opt.ratio = 1.0;
    p->fields = fields;
    p->w = w;
    p->f = xcalloc((size_t)fields, sizeof *p->f);
    for (int i = 0; i < fields; i++) {
        EmbFieldPlan *fp = &p->f[i];
        fp->N = cards[i];
        fp->feasible = 1;
        fp->budget = (double)cards[i] * w / p->opt.ratio;
        fp->seed_f = emb_field_seed((uint32_t)i, o->seed);
        fp->counts = counts ? counts[i] : NULL;
        fp->compressed = o->kind != EMB_FULL && (long long)cards[i] > o->compress_min;
        if (fp->compressed) s->plan(fp, &p->opt, p->opt.sopt[o->kind], w);
        else EMB_FULL_STRATEGY.plan(fp, &p->opt, p->opt.sopt[EMB_FULL], w);
        if (fp->rows > EMB_MAX_ROWS) {
            err_set(e, "field %d (N=%llu): %llu rows over its tables; a table holds at most 2^31-1 = "
                       "%llu rows (its sparse gradient is indexed by int32): use a compressing --emb "
                       "or a larger --ratio",
                    i, (unsigned long long)fp->N, (unsigned long long)fp->rows,
                    (unsigned long long)EMB_MAX_ROWS);
            emb_plan_free(p);
            return -1;
        }
        p->full_params += fp->N * (uint64_t)w;
        p->params += fp->params;
        if (fp->compressed) {
            p->n_compressed++;
            p->n_clamped += fp->clamped;
            p->full_compressed += fp->N * (uint64_t)w;
            p->params_compressed += fp->params;
        }
        if (!fp->feasible && !p->infeasible) {
            p->infeasible = 1;
            snprintf(p->reason, sizeof p->reason, "field %d (N=%llu): %s", i,
                     (unsigned long long)fp->N, fp->reason);
        }
    }
    p->ratio_actual = p->params ? (double)p->full_params / (double)p->params : NAN;
    p->ratio_compressed =
        p->params_compressed ? (double)p->full_compressed / (double)p->params_compressed : NAN;
    if (p->infeasible) /* a field without a layout: no total to speak of */
        p->ratio_actual = p->ratio_compressed = NAN;
    if (!p->infeasible && o->kind != EMB_FULL && p->n_compressed > 0 &&
        p->ratio_compressed * 2.0 < p->opt.ratio) {
        p->infeasible = 1;
        snprintf(p->reason, sizeof p->reason,
                 "ratio_compressed %.3g falls short of the target %g by more than 2x (%d of %d "
                 "compressed fields clamped)",
                 p->ratio_compressed, p->opt.ratio, p->n_clamped, p->n_compressed);
    }
    return 0;
}

uint64_t emb_plan_bytes(const EmbPlan *p, OptKind opt, int max_batch) {
    uint64_t n = 0, per = (uint64_t)optim_state_per_param(opt);
    for (int i = 0; i < p->fields; i++) {
        const EmbFieldPlan *fp = &p->f[i];
        n += fp->params * sizeof(float) * (1 + per) + fp->rows * sizeof(int32_t);
        const EmbStrategy *s = emb_field_strategy(p, fp);
        if (s->plan_touch_bytes) {
            n += s->plan_touch_bytes(fp, p->w, max_batch);
            continue;
        }
        /* a batch touches at most one row per id and table (bh: per block; qr: two tables), and
         * never more than the field's rows */
        uint64_t touch = (uint64_t)max_batch * (uint64_t)(fp->reads > 1 ? fp->reads : 2);
        if (touch > fp->rows) touch = fp->rows;
        n += touch * (sizeof(uint32_t) + (uint64_t)p->w * sizeof(float));
    }
    return n;
}

static double plan_macs(const EmbPlan *p, int weighted) {
    double n = 0;
    for (int i = 0; i < p->fields; i++) {
        const EmbStrategy *s = emb_field_strategy(p, &p->f[i]);
        if (s->plan_macs && p->f[i].feasible) n += s->plan_macs(&p->f[i], p->w) * (weighted ? s->mac_cost : 1.0);
    }
    return n;
}

double emb_plan_macs(const EmbPlan *p) { return plan_macs(p, 0); }
double emb_plan_cost_macs(const EmbPlan *p) { return plan_macs(p, 1); }

uint64_t emb_plan_create_temp_bytes(const EmbPlan *p) {
    uint64_t n = 0;
    for (int i = 0; i < p->fields; i++) {
        const EmbStrategy *s = emb_field_strategy(p, &p->f[i]);
        const uint64_t b = s->create_temp_bytes && p->f[i].feasible ? s->create_temp_bytes(&p->f[i]) : 0;
        if (b > n) n = b;
    }
    return n;
}

int emb_plan_largest(const EmbPlan *p) {
    int big = 0;
    for (int i = 1; i < p->fields; i++)
        if (p->f[i].params > p->f[big].params) big = i;
    return big;
}

void emb_plan_free(EmbPlan *p) {
    free(p->f);
    memset(p, 0, sizeof *p);
}

/* --- tables --- */

void emb_table_alloc(EmbTable *t, uint64_t rows, int width, uint32_t max_touch, OptKind opt) {
    memset(t, 0, sizeof *t);
    CHECK(rows >= 1 && rows <= EMB_MAX_ROWS && width >= 1); /* emb_plan_make refuses larger */
    t->rows = rows;
    t->width = width;
    size_t n = (size_t)rows * (size_t)width;
    t->w = xaligned_big(n * sizeof(float)); /* huge pages for large tables (core/util.h) */
    int per = optim_state_per_param(opt);
    if (per >= 1) {
        t->v = xaligned_big(n * sizeof(float));
        memset(t->v, 0, n * sizeof(float));
    }
    if (per >= 2) {
        t->m = xaligned_big(n * sizeof(float));
        memset(t->m, 0, n * sizeof(float));
    }
    t->slot = xmalloc((size_t)rows * sizeof *t->slot);
    memset(t->slot, 0xff, (size_t)rows * sizeof *t->slot);
    t->cap = max_touch < rows ? max_touch : (uint32_t)rows;
    t->touched = xmalloc((size_t)t->cap * sizeof *t->touched);
    t->g = xaligned((size_t)t->cap * (size_t)width * sizeof(float));
    t->ntouched = 0;
}

void emb_table_init_normal(EmbTable *t, double mean, double std, Rng *rng) {
    size_t n = (size_t)t->rows * (size_t)t->width;
    for (size_t i = 0; i < n; i++) t->w[i] = (float)(mean + std * rng_normal(rng));
}

void emb_table_free(EmbTable *t) {
    free(t->w);
    free(t->m);
    free(t->v);
    free(t->slot);
    free(t->touched);
    free(t->g);
    memset(t, 0, sizeof *t);
}

void emb_tables_update(EmbField *f, const Optim *o) {
    for (int k = 0; k < f->ntables; k++) {
        EmbTable *t = &f->tables[k];
        size_t W = (size_t)t->width;
        for (uint32_t s = 0; s < t->ntouched; s++) {
            uint32_t row = t->touched[s];
            size_t off = (size_t)row * W;
            if (s + 8 < t->ntouched) { /* the rows are scattered: fetch a few ahead */
                size_t ahead = (size_t)t->touched[s + 8] * W;
                emb_prefetch_row(t->w + ahead, t->width);
                if (t->m) emb_prefetch_row(t->m + ahead, t->width);
                if (t->v) emb_prefetch_row(t->v + ahead, t->width);
            }
            optim_row(o, t->w + off, t->g + (size_t)s * W, t->m ? t->m + off : NULL,
                      t->v ? t->v + off : NULL, t->width);
            t->slot[row] = -1;
        }
        t->ntouched = 0;
    }
}

void emb_tables_bytes(const EmbField *f, uint64_t *param_bytes, uint64_t *opt_bytes) {
    uint64_t p = 0, s = 0;
    for (int k = 0; k < f->ntables; k++) {
        const EmbTable *t = &f->tables[k];
        uint64_t n = t->rows * (uint64_t)t->width * sizeof(float);
        p += n;
        s += (t->m ? n : 0) + (t->v ? n : 0);
    }
    *param_bytes = p;
    *opt_bytes = s;
}

/* --- all fields --- */

int emb_create(Emb *emb, const EmbPlan *plan, int max_batch, OptKind opt, uint64_t seed, Err *e) {
    memset(emb, 0, sizeof *emb);
    if (plan->infeasible) return err_set(e, "infeasible plan: %s", plan->reason);
    if (max_batch < 1) return err_set(e, "batch size %d", max_batch);
    emb->plan = *plan;
    emb->plan.f = xmalloc((size_t)plan->fields * sizeof *plan->f);
    memcpy(emb->plan.f, plan->f, (size_t)plan->fields * sizeof *plan->f);
    emb->fields = plan->fields;
    emb->w = plan->w;
    emb->max_batch = max_batch;
    emb->f = xcalloc((size_t)plan->fields, sizeof *emb->f);
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < emb->fields; i++) {
        EmbField *f = &emb->f[i];
        f->plan = plan->f[i];
        f->w = plan->w;
        f->index = (uint32_t)i;
        f->s = f->plan.compressed ? EMB_STRATEGIES[plan->opt.kind] : &EMB_FULL_STRATEGY;
        /* each field's init stream depends on (seed, field) only: the same tables whatever the
         * thread count */
        Rng rng;
        rng_seed(&rng, rng_mix(seed ^ 0x5eed0000ull) ^ rng_mix((uint64_t)i + 1));
        f->s->create(f, max_batch, opt, &rng);
    }
    return 0;
}

void emb_free(Emb *emb) {
    if (emb->f)
        for (int i = 0; i < emb->fields; i++) {
            EmbField *f = &emb->f[i];
            if (f->s && f->s->free_priv) f->s->free_priv(f);
            for (int k = 0; k < f->ntables; k++) emb_table_free(&f->tables[k]);
        }
    free(emb->f);
    free(emb->plan.f);
    memset(emb, 0, sizeof *emb);
}

void emb_forward(const Emb *emb, float *out, const uint32_t *ids, int B) {
    const int F = emb->fields, w = emb->w;
    const int chunk = 64;
    /* parallel over rows: each thread writes whole output rows */
#pragma omp parallel for schedule(static)
    for (int b0 = 0; b0 < B; b0 += chunk) {
        int nb = B - b0 < chunk ? B - b0 : chunk;
        for (int i = 0; i < F; i++) {
            const EmbField *f = &emb->f[i];
            f->s->forward(f, out + ((size_t)b0 * F + i) * w, (size_t)F * w, ids + (size_t)b0 * F + i,
                          (size_t)F, nb);
        }
    }
}

void emb_backward(Emb *emb, const float *dout, const uint32_t *ids, int B) {
    const int F = emb->fields, w = emb->w;
    const int chunk = 64;
    /* Each thread owns a contiguous run of fields (their tables are written by it alone) and walks the
     * batch in chunks of rows, handing each of its fields the chunk's rows: it reads its part of each
     * dout row in one sweep while the chunk is in cache, instead of one field at a time striding over
     * the whole (B, F, w) gradient. Every field still sees its rows in batch order, so the sums and
     * the touched order are those of one call per field, whatever the thread count. */
#pragma omp parallel
    {
        const int nt = omp_get_num_threads(), tid = omp_get_thread_num();
        const int f0 = (int)((long)F * tid / nt), f1 = (int)((long)F * (tid + 1) / nt);
        for (int b0 = 0; b0 < B; b0 += chunk) {
            const int nb = B - b0 < chunk ? B - b0 : chunk;
            for (int i = f0; i < f1; i++) {
                EmbField *f = &emb->f[i];
                f->s->backward(f, dout + ((size_t)b0 * F + i) * w, (size_t)F * w,
                               ids + (size_t)b0 * F + i, (size_t)F, nb);
            }
        }
    }
}

void emb_field_update(EmbField *f, const Optim *o) {
    if (f->s->update) f->s->update(f, o);
    else emb_tables_update(f, o);
}

void emb_update(Emb *emb, const Optim *o) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < emb->fields; i++) emb_field_update(&emb->f[i], o);
}

void emb_bytes(const Emb *emb, uint64_t *param_bytes, uint64_t *opt_bytes) {
    uint64_t p = 0, s = 0;
    for (int i = 0; i < emb->fields; i++) {
        uint64_t a, b;
        emb_tables_bytes(&emb->f[i], &a, &b);
        p += a + (emb->f[i].s->priv_bytes ? emb->f[i].s->priv_bytes(&emb->f[i]) : 0);
        s += b;
    }
    *param_bytes = p;
    *opt_bytes = s;
}

uint64_t emb_work_bytes(const Emb *emb) {
    uint64_t n = 0;
    for (int i = 0; i < emb->fields; i++)
        for (int k = 0; k < emb->f[i].ntables; k++) {
            const EmbTable *t = &emb->f[i].tables[k];
            n += t->rows * sizeof *t->slot + t->cap * (sizeof *t->touched + (uint64_t)t->width * 4);
        }
    return n;
}
