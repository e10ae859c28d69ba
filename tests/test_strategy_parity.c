/* test_strategy_parity: every embedding strategy against references written in Python from SPEC 4 and the
 * methods' public code, frozen in tests/fixtures/strategy_parity.txt (made by
 * tests/fixtures/gen_strategy_fixture.py in float64 from float32 inputs): XXH64 for hash, dlrm's
 * QREmbeddingBag for qr, the binary-code block indices of Yan et al. with SPEC 4's layout for bh,
 * Svenstrup et al.'s hash embeddings for dhash, Desai et al.'s ROBE-Z for robe, the hot/cold split of
 * hybrid hashing for hotcold (which plans from the fixture's train counts), and torch.optim.SparseAdam
 * for the lazy update. For each configuration: hashemb's planner lays the field
 * out from the configuration's flags, as `train` would, and the layout must be the reference's (m, S, t,
 * n, block lengths, rows, parameters, and the tables' shapes); emb_create builds it and its tables are
 * overwritten with the fixture's; then the forward and the gradient wrt every table of one batch are
 * compared within 1e-5, and the tables after 20 steps of lazy Adam (train's default optimizer and
 * learning rate) within 1e-4, absolute, or relative where the value exceeds 1. hashemb's Adam adds eps
 * to sqrt(v / (1 - beta2^k)) where SparseAdam adds it to sqrt(v): on this fixture's gradients (of order
 * 0.1 to 1) the two forms end 5.3e-6 apart (the fixture's header says by how much), so the check holds
 * hashemb to SparseAdam's laziness and step count, not to where eps goes. Needs no Python; run from the
 * repository root. */
#include <stdlib.h>
#include <string.h>

#include "emb/emb.h"
#include "fixture.h"
#include "model/optim.h"
#include "testing.h"
#include "cli/train.h"
#include "core/util.h"

#define FIXTURE "tests/fixtures/strategy_parity.txt"
#define TOL_STEP 1e-5  /* forward and gradients */
#define TOL_TRAIN 1e-4 /* the tables after 20 steps */

/* A `config NAME FLAGS...` line: the strategy flags as a user types them. */
typedef struct {
    char name[64];
    const char *flags;
} Config;

static Fixture fx;
static Config *configs;
static int nconfigs;

/* the configurations, from the fixture's `config` lines; -1 when one is malformed */
static int read_configs(void) {
    for (int i = 0; i < fx.ntexts; i++) {
        const char *rest = fx.texts[i].rest;
        size_t len = strcspn(rest, " ");
        if (strcmp(fx.texts[i].key, "config") || len == 0 || len >= sizeof configs->name || rest[len] != ' ') {
            fprintf(stderr, "  %s: expected `config NAME FLAGS...`, not `%s %s`\n", FIXTURE, fx.texts[i].key, rest);
            return -1;
        }
        configs = xrealloc(configs, (size_t)(nconfigs + 1) * sizeof *configs);
        Config *c = &configs[nconfigs++];
        memcpy(c->name, rest, len);
        c->name[len] = 0;
        c->flags = rest + len + 1;
    }
    return 0;
}

/* The array `prefix.name` (or `name` when prefix is NULL), which must have n values (n < 0: any). */
static const FixArray *get(const char *prefix, const char *name, int n) { return fixture_get(&fx, prefix, name, n); }

/* The largest error met per quantity over all configurations, and where: printed at the end. */
typedef struct {
    const char *what;
    double worst;
    char where[128];
} Worst;

static Worst worst_fwd = {.what = "forward"}, worst_grad = {.what = "gradients"},
             worst_train = {.what = "20-step tables"};

/* |c - ref| <= tol * max(1, |ref|) for every element; a failure names the configuration, the quantity,
 * the first element outside and how many are. */
static void compare(Worst *w, const char *cfg, const char *what, const float *c, const FixArray *ref,
                    double tol) {
    double worst = 0.0;
    int first = -1, bad = 0;
    for (int i = 0; i < ref->n; i++) {
        double err = fabs((double)c[i] - ref->v[i]) / fmax(1.0, fabs(ref->v[i]));
        if (!(err <= tol)) {
            if (first < 0) first = i;
            bad++;
        }
        if (!(err <= worst)) worst = err;
    }
    T_CHECK(bad == 0, "%s %s: %d of %d elements off by more than %g, the first at [%d] (C %.9g, reference "
            "%.9g); largest err %.3g", cfg, what, bad, ref->n, tol, first, first >= 0 ? c[first] : 0.0,
            first >= 0 ? ref->v[first] : 0.0, worst);
    if (!(worst <= w->worst)) {
        w->worst = worst;
        snprintf(w->where, sizeof w->where, "%s %s", cfg, what);
    }
}

/* The layout hashemb's planner chose must be the reference's: `layout` is m S t n rows params lengths. */
static int check_layout(const char *cfg, const EmbPlan *p, const FixArray *L) {
    const EmbFieldPlan *fp = &p->f[0];
    T_CHECK(!p->infeasible && fp->feasible && !fp->clamped, "%s: plan infeasible or clamped: %s", cfg,
            p->reason);
    /* both written out the same way, so a mismatch prints both whole */
    char mine[512], ref[256], len[256];
    EmbPlanCols c; /* the layout as `plan` shows it; 0 where a column does not apply */
    emb_plan_cols(p, fp, &c);
#define NA0(x) (strcmp((x), "NA") ? (x) : "0")
    snprintf(len, sizeof len, "%s", strcmp(c.lengths, "NA") ? c.lengths : "");
    for (char *q = len; *q; q++)
        if (*q == '/') *q = ' ';
    snprintf(mine, sizeof mine, "m=%s S=%s t=%s n=%s rows=%llu params=%llu lengths%s%s", NA0(c.m), NA0(c.S),
             NA0(c.t), NA0(c.n), (unsigned long long)fp->rows, (unsigned long long)fp->params,
             len[0] ? " " : "", len);
#undef NA0
    int b = snprintf(ref, sizeof ref, "m=%g S=%g t=%g n=%g rows=%g params=%g lengths", L->v[0], L->v[1],
                     L->v[2], L->v[3], L->v[4], L->v[5]);
    for (int j = 6; j < L->n && b < (int)sizeof ref; j++)
        b += snprintf(ref + b, sizeof ref - (size_t)b, " %g", L->v[j]);
    const int same = !strcmp(mine, ref);
    T_CHECK(same, "%s: the plan has %s, the reference %s", cfg, mine, ref);
    return same && !p->infeasible;
}

/* The sparse gradient of the batch as a dense (rows, width) array, zero on rows the batch did not read. */
static void dense_grad(float *g, const EmbTable *t) {
    memset(g, 0, (size_t)t->rows * (size_t)t->width * sizeof *g);
    for (uint32_t s = 0; s < t->ntouched; s++)
        memcpy(g + (size_t)t->touched[s] * t->width, t->g + (size_t)s * t->width,
               (size_t)t->width * sizeof *g);
}

static void test_config(const Config *c, int w, int B, int steps, const float *dout) {
    const char *name = c->name;
    EmbOptions o;
    emb_options_default(&o);
    Err e;
    int rc = emb_options_parse_string(&o, c->flags, &e);
    if (rc == 0) rc = emb_options_check(&o, &e);
    T_CHECK(rc == 0, "%s: flags `%s`: %s", name, c->flags, e.msg);
    const FixArray *field = get(name, "field", 2), *layout = get(name, "layout", -1);
    const FixArray *shapes = get(name, "tables", -1), *ids_a = get(name, "ids", steps * B);
    const FixArray *out_a = get(name, "out", B * w);
    const int complete = field && layout && layout->n >= 6 && shapes && shapes->n % 2 == 0 &&
                         shapes->n <= 2 * EMB_MAX_TABLES && ids_a && out_a;
    T_CHECK(complete, "%s: fixture incomplete", name);
    if (rc || !complete) return;
    const uint64_t N = (uint64_t)field->v[0];
    o.seed = (uint64_t)field->v[1];
    /* the train split's id counts, as train hands them to a strategy that plans from them (hotcold) */
    const FixArray *counts_a = get(name, "counts", (int)N);
    T_CHECK(counts_a != NULL, "%s: fixture has no counts", name);
    if (!counts_a) return;
    static uint32_t *counts; /* the plan borrows them: kept until the next configuration's */
    free(counts);
    counts = xmalloc(N * sizeof *counts);
    for (uint64_t i = 0; i < N; i++) counts[i] = (uint32_t)counts_a->v[i];
    const uint32_t *cp = counts;

    EmbPlan p;
    rc = emb_plan_make_counts(&p, &N, &cp, 1, w, &o, &e);
    T_CHECK(rc == 0, "%s: emb_plan_make: %s", name, e.msg);
    if (rc) return;
    if (!check_layout(name, &p, layout)) {
        emb_plan_free(&p);
        return;
    }
    TrainConfig tc;
    train_config_default(&tc);
    Emb emb;
    rc = emb_create(&emb, &p, B, tc.optim, o.seed, &e);
    emb_plan_free(&p);
    T_CHECK(rc == 0, "%s: emb_create: %s", name, e.msg);
    if (rc) return;
    EmbField *f = &emb.f[0];
    const int nt = shapes->n / 2;
    int shaped = f->ntables == nt;
    for (int k = 0; shaped && k < nt; k++)
        shaped = (double)f->tables[k].rows == shapes->v[2 * k] && f->tables[k].width == shapes->v[2 * k + 1];
    T_CHECK(shaped, "%s: %d tables built, not the reference's %d (or of other shapes)", name, f->ntables, nt);
    const FixArray *init[EMB_MAX_TABLES], *grad[EMB_MAX_TABLES], *final[EMB_MAX_TABLES];
    char tn[32];
    int loaded = shaped;
    for (int k = 0; shaped && k < nt; k++) {
        const int n = (int)(f->tables[k].rows * (uint64_t)f->tables[k].width);
        snprintf(tn, sizeof tn, "T%d.init", k);
        init[k] = get(name, tn, n);
        snprintf(tn, sizeof tn, "T%d.grad", k);
        grad[k] = get(name, tn, n);
        snprintf(tn, sizeof tn, "T%d.final", k);
        final[k] = get(name, tn, n);
        loaded = loaded && init[k] && grad[k] && final[k];
    }
    T_CHECK(!shaped || loaded, "%s: fixture tables incomplete", name);
    if (!loaded) {
        emb_free(&emb);
        return;
    }
    size_t maxn = 0;
    for (int k = 0; k < nt; k++) {
        EmbTable *t = &f->tables[k];
        for (int i = 0; i < init[k]->n; i++) t->w[i] = (float)init[k]->v[i];
        maxn = maxn > (size_t)init[k]->n ? maxn : (size_t)init[k]->n;
    }
    uint32_t *ids = xmalloc((size_t)steps * B * sizeof *ids);
    for (int i = 0; i < steps * B; i++) ids[i] = (uint32_t)ids_a->v[i];
    float *out = xmalloc((size_t)B * w * sizeof *out), *g = xmalloc(maxn * sizeof *g);

    /* Step 0's batch: the forward, and the gradient of sum(dout . out) wrt every table. The field's
     * strategy is called directly, not through emb_forward and the others, whose parallel regions would
     * dominate these small calls (and wait long for a second core when the machine is busy). */
    f->s->forward(f, out, (size_t)w, ids, 1, B);
    compare(&worst_fwd, name, "forward", out, out_a, TOL_STEP);
    f->s->backward(f, dout, (size_t)w, ids, 1, B);
    for (int k = 0; k < nt; k++) {
        dense_grad(g, &f->tables[k]);
        snprintf(tn, sizeof tn, "T%d gradient", k);
        compare(&worst_grad, name, tn, g, grad[k], TOL_STEP);
    }
    /* 20 steps of lazy Adam, each on a fresh batch (step 0's gradient is already in the tables) */
    Optim opt;
    optim_init(&opt, tc.optim, (float)tc.lr, (float)tc.emb_l2);
    for (int s = 0; s < steps; s++) {
        if (s > 0) f->s->backward(f, dout + (size_t)s * B * w, (size_t)w, ids + (size_t)s * B, 1, B);
        optim_begin_step(&opt);
        emb_field_update(f, &opt);
    }
    for (int k = 0; k < nt; k++) {
        snprintf(tn, sizeof tn, "T%d after %d steps", k, steps);
        compare(&worst_train, name, tn, f->tables[k].w, final[k], TOL_TRAIN);
        /* The steps must move every table well beyond the tolerance, or the comparison proves nothing
         * about them. One Adam step moves an element by up to lr (1e-3, ten times the tolerance); a
         * table whose gradients change sign from step to step moves less over the 20. */
        double moved = 0;
        for (int i = 0; i < final[k]->n; i++) moved = fmax(moved, fabs(final[k]->v[i] - init[k]->v[i]));
        T_CHECK(moved > 5 * TOL_TRAIN, "%s T%d: the reference's table moved only %.3g", name, k, moved);
    }
    free(ids), free(out), free(g);
    emb_free(&emb);
}

int main(void) {
    int rc = fixture_load(&fx, FIXTURE);
    if (rc == 0) rc = read_configs();
    T_CHECK(rc == 0, "cannot load %s", FIXTURE);
    const FixArray *dims = rc ? NULL : get(NULL, "dims", 3), *adam = rc ? NULL : get(NULL, "adam", 4);
    const FixArray *dout_a = NULL;
    if (dims) dout_a = get(NULL, "dout", (int)(dims->v[0] * dims->v[1] * dims->v[2]));
    T_CHECK(rc || (dims && adam && dout_a && nconfigs > 0), "fixture incomplete");
    if (dims && adam && dout_a) {
        /* the reference's Adam is hashemb's defaults: train's optimizer and lr, optim's betas and eps */
        TrainConfig tc;
        train_config_default(&tc);
        Optim o;
        optim_init(&o, tc.optim, (float)tc.lr, (float)tc.emb_l2);
        T_CHECK(tc.optim == OPT_ADAM && tc.emb_l2 == 0 && o.lr == (float)adam->v[0] &&
                    o.beta1 == (float)adam->v[1] && o.beta2 == (float)adam->v[2] &&
                    o.eps == (float)adam->v[3],
                "the fixture's Adam (lr %g, betas %g %g, eps %g) is not train's default (%s, lr %g, betas "
                "%g %g, eps %g, emb-l2 %g)", adam->v[0], adam->v[1], adam->v[2], adam->v[3],
                OPT_NAMES[tc.optim], o.lr, o.beta1, o.beta2, o.eps, tc.emb_l2);
        const int w = (int)dims->v[0], B = (int)dims->v[1], steps = (int)dims->v[2];
        float *dout = xmalloc((size_t)dout_a->n * sizeof *dout);
        for (int i = 0; i < dout_a->n; i++) dout[i] = (float)dout_a->v[i];
        for (int c = 0; c < nconfigs; c++) test_config(&configs[c], w, B, steps, dout);
        free(dout);
        const Worst *ws[3] = {&worst_fwd, &worst_grad, &worst_train};
        fprintf(stderr, "  largest err over %d configurations:", nconfigs);
        for (int i = 0; i < 3; i++)
            fprintf(stderr, "%s %s %.3g (%s)", i ? "," : "", ws[i]->what, ws[i]->worst, ws[i]->where);
        fputc('\n', stderr);
    }
    free(configs);
    fixture_free(&fx);
    return t_report("test_strategy_parity");
}
