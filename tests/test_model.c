/* test_model: both backbones end to end. Finite-difference gradients of the mean BCE loss wrt a
 * sample of the dense parameters of every layer and wrt every element of the embedding input; init
 * (argument checks, layout, Xavier range, seeding); the same answer by several paths (a batch vs one
 * row at a time, demb NULL, the same thread count twice, 1 thread vs 2). */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "model/layers.h"
#include "model/model.h"
#include "model/optim.h"
#include "core/rng.h"
#include "testing.h"
#include "core/util.h"

extern void openblas_set_num_threads(int n);

static void set_threads(int n) {
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

static void fill(Rng *r, float *p, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) p[i] = (float)(lo + (hi - lo) * rng_uniform(r));
}

static double max_rel(const float *a, const float *b, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / (1.0 + fabs((double)b[i]));
        if (!(d <= m)) m = d;
    }
    return m;
}

/* A model with its batch: random embeddings and labels, and biases moved off zero so that every
 * parameter matters and the ReLU patterns vary. */
typedef struct {
    Model m;
    int B;
    float *emb, *logits, *dlogits, *demb;
    unsigned char *labels;
} Case;

static void case_init(Case *c, ModelKind kind, int F, int d, const int *hidden, int nh, int B,
                      uint64_t seed) {
    Err e;
    memset(c, 0, sizeof *c);
    CHECK(model_init(&c->m, kind, F, d, hidden, nh, B, seed, &e) == 0);
    c->B = B;
    size_t n = (size_t)B * F * c->m.width;
    c->emb = xmalloc(n * sizeof(float));
    c->demb = xmalloc(n * sizeof(float));
    c->logits = xmalloc(B * sizeof(float));
    c->dlogits = xmalloc(B * sizeof(float));
    c->labels = xmalloc(B);
    Rng r;
    rng_seed(&r, seed ^ 0xabcdef);
    fill(&r, c->emb, n, -0.7f, 0.7f);
    for (int i = 0; i < B; i++) c->labels[i] = rng_below(&r, 2);
    for (int l = 0; l <= nh; l++) fill(&r, c->m.b[l], c->m.out_dim[l], -0.2f, 0.2f);
    if (c->m.bias) c->m.bias[0] = 0.1f;
}

static void case_free(Case *c) {
    model_free(&c->m);
    free(c->emb), free(c->demb), free(c->logits), free(c->dlogits), free(c->labels);
}

static double case_loss(Case *c) {
    model_forward(&c->m, c->logits, c->emb, c->B);
    return bce_forward(c->logits, c->labels, c->B);
}

/* zero_grad, forward, BCE, backward: the analytic gradients land in m.grads and c->demb */
static double case_grad(Case *c) {
    model_zero_grad(&c->m);
    double loss = case_loss(c);
    bce_backward(c->dlogits, c->logits, c->labels, c->B);
    model_backward(&c->m, c->demb, c->dlogits, c->emb, c->B);
    return loss;
}

/* signature of every ReLU's on/off state in the last forward */
static unsigned case_mask(const Case *c) {
    unsigned h = 2166136261u;
    for (int l = 0; l < c->m.nhidden; l++) {
        const float *a = model_hidden(&c->m, l);
        for (long i = 0; i < (long)c->B * c->m.hidden[l]; i++) h = (h ^ (a[i] > 0)) * 16777619u;
    }
    return h;
}

/* Central differences of the loss wrt p[idx[i]] against ana[idx[i]]; a coordinate whose perturbation
 * flips a ReLU is skipped (and counted). */
static void fd_model(Case *c, const char *what, float *p, const float *ana, const int *idx, int n,
                     float eps) {
    case_loss(c);
    unsigned m0 = case_mask(c);
    int bad = 0, skipped = 0, checked = 0;
    double worst = 0.0, gmax = 0.0;
    for (int t = 0; t < n; t++) {
        int i = idx ? idx[t] : t;
        float save = p[i];
        p[i] = save + eps;
        double lp = case_loss(c);
        unsigned mp = case_mask(c);
        p[i] = save - eps;
        double lm = case_loss(c);
        unsigned mm = case_mask(c);
        p[i] = save;
        if (mp != m0 || mm != m0) {
            skipped++;
            continue;
        }
        double num = (lp - lm) / ((double)(save + eps) - (double)(save - eps));
        double err = fabs(num - ana[i]), tol = 2e-4 + 1e-2 * fmax(fabs(num), fabs(ana[i]));
        if (err > tol && bad++ < 5)
            fprintf(stderr, "    %s[%d]: analytic %.7g numeric %.7g\n", what, i, ana[i], num);
        if (err / tol > worst) worst = err / tol;
        if (fabs(ana[i]) > gmax) gmax = fabs(ana[i]);
        checked++;
    }
    T_CHECK(bad == 0, "%s: %d of %d gradients off (worst err/tol %.2f)", what, bad, checked, worst);
    T_CHECK(skipped * 10 <= n, "%s: %d of %d coordinates sit on a ReLU kink", what, skipped, n);
    T_CHECK(gmax > 1e-3, "%s: gradient all (near) zero, max %g: the check proves nothing", what, gmax);
}

static void test_fd(ModelKind kind, const int *hidden, int nh) {
    const int F = 5, d = 4, B = 7;
    Case c;
    case_init(&c, kind, F, d, hidden, nh, B, 1234);
    case_grad(&c);
    Model *m = &c.m;
    /* snapshot: the perturbed forwards below do not touch grads, but keep the analytic copy apart */
    float *g = xmalloc(m->nparams * sizeof(float));
    memcpy(g, m->grads, m->nparams * sizeof(float));
    size_t ne = (size_t)B * F * m->width;
    float *demb = xmalloc(ne * sizeof(float));
    memcpy(demb, c.demb, ne * sizeof(float));
    const float eps = 2e-3f;
    char what[64];
    Rng r;
    rng_seed(&r, 99);
    for (int l = 0; l <= m->nhidden; l++) {
        int nw = m->out_dim[l] * m->in_dim[l], idx[40], n = nw < 40 ? nw : 40;
        for (int t = 0; t < n; t++) idx[t] = nw <= 40 ? t : (int)rng_below(&r, nw);
        idx[0] = 0, idx[n - 1] = nw - 1; /* both ends of the view */
        snprintf(what, sizeof what, "%s L=%d W[%d]", MODEL_NAMES[kind], nh, l);
        fd_model(&c, what, m->W[l], g + (m->W[l] - m->params), idx, n, eps);
        snprintf(what, sizeof what, "%s L=%d b[%d]", MODEL_NAMES[kind], nh, l);
        fd_model(&c, what, m->b[l], g + (m->b[l] - m->params), NULL, m->out_dim[l], eps);
    }
    if (m->bias) {
        snprintf(what, sizeof what, "%s L=%d bias", MODEL_NAMES[kind], nh);
        fd_model(&c, what, m->bias, g, NULL, 1, eps);
    }
    snprintf(what, sizeof what, "%s L=%d demb", MODEL_NAMES[kind], nh);
    fd_model(&c, what, c.emb, demb, NULL, (int)ne, eps);
    if (kind == MODEL_DEEPFM) { /* the first-order columns get dlogit itself */
        int bad = 0;
        for (int b = 0; b < B; b++)
            for (int f = 0; f < F; f++) bad += demb[((size_t)b * F + f) * m->width] != c.dlogits[b];
        T_CHECK(bad == 0, "deepfm demb[b,f,0] != dlogit[b] in %d places", bad);
    }
    free(g), free(demb);
    case_free(&c);
}

static void test_init(void) {
    Model m;
    Err e;
    const int h3[3] = {400, 400, 400}, bad0[2] = {6, 0};
    struct {
        ModelKind kind;
        int F, d;
        const int *hidden;
        int nh, B;
        const char *needle;
    } bad[] = {
        {MODEL_DEEPFM, 0, 4, h3, 3, 8, "fields"},   {MODEL_DEEPFM, 5, 0, h3, 3, 8, "--dim"},
        {MODEL_MLP, 5, -3, h3, 3, 8, "--dim"},      {MODEL_MLP, 5, 4, h3, 9, 8, "--mlp"},
        {MODEL_MLP, 5, 4, h3, -1, 8, "--mlp"},      {MODEL_MLP, 5, 4, bad0, 2, 8, "--mlp"},
        {MODEL_MLP, 5, 4, NULL, 2, 8, "--mlp"},     {MODEL_DEEPFM, 5, 4, h3, 3, 0, "--batch"},
        {(ModelKind)7, 5, 4, h3, 3, 8, "--model"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        e.msg[0] = 0;
        int rc = model_init(&m, bad[i].kind, bad[i].F, bad[i].d, bad[i].hidden, bad[i].nh, bad[i].B,
                            1, &e);
        T_CHECK(rc == -1 && strstr(e.msg, bad[i].needle), "bad init %zu: rc %d, message '%s'", i, rc,
                e.msg);
    }

    /* layout: DeepFM F=5 d=4 hidden 6,5: 1 + (20*6+6) + (6*5+5) + (5+1) */
    const int h2[2] = {6, 5};
    CHECK(model_init(&m, MODEL_DEEPFM, 5, 4, h2, 2, 3, 1, &e) == 0);
    T_CHECK(m.nparams == 168 && m.width == 5 && m.in_dim[0] == 20 && m.out_dim[2] == 1,
            "deepfm layout: nparams %zu width %d in0 %d", m.nparams, m.width, m.in_dim[0]);
    T_CHECK(m.bias == m.params && m.W[0] == m.params + 1 && m.b[2] + 1 == m.params + m.nparams,
            "deepfm views out of place");
    T_CHECK(model_bytes(&m) >= (2 * m.nparams + m.nacts) * sizeof(float), "model_bytes too small");
    model_free(&m);
    /* MLP with no hidden layer: a linear model over concat_f e_f */
    CHECK(model_init(&m, MODEL_MLP, 5, 4, NULL, 0, 3, 1, &e) == 0);
    T_CHECK(m.nparams == 21 && m.bias == NULL && m.in_dim[0] == 20, "mlp linear: nparams %zu",
            m.nparams);
    model_free(&m);

    /* Xavier-uniform, zero biases, seeded */
    Model a, b2;
    CHECK(model_init(&a, MODEL_DEEPFM, 39, 16, h3, 3, 4, 42, &e) == 0);
    CHECK(model_init(&b2, MODEL_DEEPFM, 39, 16, h3, 3, 4, 42, &e) == 0);
    T_CHECK(!memcmp(a.params, b2.params, a.nparams * sizeof(float)), "same seed, different init");
    for (int l = 0; l <= a.nhidden; l++) {
        double lim = sqrt(6.0 / (a.in_dim[l] + a.out_dim[l])), mx = 0.0, sum = 0.0, sq = 0.0;
        size_t n = (size_t)a.in_dim[l] * a.out_dim[l];
        for (size_t i = 0; i < n; i++) {
            mx = fmax(mx, fabs(a.W[l][i]));
            sum += a.W[l][i];
            sq += (double)a.W[l][i] * a.W[l][i];
        }
        T_CHECK(mx <= lim && mx > (n > 100 ? 0.95 : 0.3) * lim, "W[%d] max %g, limit %g", l, mx, lim);
        if (n > 1000) {
            T_CHECK(fabs(sum / n) < 0.05 * lim && fabs(sq / n / (lim * lim / 3) - 1) < 0.05,
                    "W[%d] mean %g var %g, want 0 and %g", l, sum / n, sq / n, lim * lim / 3);
        }
        int nz = 0;
        for (int j = 0; j < a.out_dim[l]; j++) nz += a.b[l][j] != 0.0f;
        T_CHECK(nz == 0, "b[%d] has %d non-zero entries", l, nz);
    }
    T_CHECK(a.bias[0] == 0.0f, "deepfm bias starts at %g", a.bias[0]);
    model_free(&b2);
    CHECK(model_init(&b2, MODEL_DEEPFM, 39, 16, h3, 3, 4, 43, &e) == 0);
    T_CHECK(memcmp(a.params, b2.params, a.nparams * sizeof(float)), "seeds 42 and 43 give one init");
    model_free(&a), model_free(&b2);
}

/* A batch at once vs one row at a time (weight gradients add up over rows), and demb NULL */
static void test_paths(ModelKind kind) {
    const int hidden[2] = {6, 5}, F = 5, d = 4, B = 7;
    Case c;
    case_init(&c, kind, F, d, hidden, 2, B, 555);
    Model *m = &c.m;
    size_t w = (size_t)F * m->width, np = m->nparams;
    Rng r;
    rng_seed(&r, 3);
    fill(&r, c.dlogits, B, -1, 1);
    model_zero_grad(m);
    model_forward(m, c.logits, c.emb, B);
    model_backward(m, c.demb, c.dlogits, c.emb, B);
    float *g = xmalloc(np * 4), *lg = xmalloc(B * 4), *de = xmalloc(B * w * 4);
    memcpy(g, m->grads, np * 4);
    memcpy(lg, c.logits, B * 4);
    memcpy(de, c.demb, B * w * 4);

    model_zero_grad(m);
    float *l1 = xmalloc(B * 4), *de1 = xmalloc(B * w * 4);
    for (int b = 0; b < B; b++) {
        model_forward(m, l1 + b, c.emb + b * w, 1);
        model_backward(m, de1 + b * w, c.dlogits + b, c.emb + b * w, 1);
    }
    T_CHECK(max_rel(l1, lg, B) < 1e-6, "%s: logits one row at a time differ: %g", MODEL_NAMES[kind],
            max_rel(l1, lg, B));
    T_CHECK(max_rel(de1, de, B * w) < 1e-6, "%s: demb one row at a time differs: %g",
            MODEL_NAMES[kind], max_rel(de1, de, B * w));
    T_CHECK(max_rel(m->grads, g, np) < 1e-5, "%s: grads summed over rows differ: %g",
            MODEL_NAMES[kind], max_rel(m->grads, g, np));

    /* the input gradient is optional and does not change the weight gradients */
    model_zero_grad(m);
    model_forward(m, c.logits, c.emb, B);
    model_backward(m, NULL, c.dlogits, c.emb, B);
    T_CHECK(!memcmp(m->grads, g, np * 4), "%s: demb NULL changes the weight gradients",
            MODEL_NAMES[kind]);
    /* backward adds into grads */
    model_forward(m, c.logits, c.emb, B);
    model_backward(m, c.demb, c.dlogits, c.emb, B);
    float *g2 = xmalloc(np * 4);
    for (size_t i = 0; i < np; i++) g2[i] = 2 * g[i];
    T_CHECK(max_rel(m->grads, g2, np) < 1e-6, "%s: a second backward does not add",
            MODEL_NAMES[kind]);
    free(g), free(lg), free(de), free(l1), free(de1), free(g2);
    case_free(&c);
}

/* forward+backward with n threads; returns logits ++ grads ++ demb in one malloc'd buffer */
static float *run_threads(Case *c, int n, size_t *len) {
    set_threads(n);
    case_grad(c);
    size_t ne = (size_t)c->B * c->m.fields * c->m.width;
    *len = c->B + c->m.nparams + ne;
    float *out = xmalloc(*len * sizeof(float));
    memcpy(out, c->logits, c->B * sizeof(float));
    memcpy(out + c->B, c->m.grads, c->m.nparams * sizeof(float));
    memcpy(out + c->B + c->m.nparams, c->demb, ne * sizeof(float));
    return out;
}

/* Same thread count twice: bit-identical (SPEC 5). 1 thread vs 2: bit-identical where OpenBLAS runs
 * sgemm on one thread anyway (the small case: this checks hashemb's own loops), within a tolerance
 * where it splits the sgemm (OpenBLAS 0.3.21 is not bit-identical across thread counts; the count of
 * differing numbers is printed). */
static void test_threads(ModelKind kind, int F, int d, const int *hidden, int nh, int B,
                         int expect_identical) {
    Case c;
    case_init(&c, kind, F, d, hidden, nh, B, 8080);
    size_t n;
    float *t1 = run_threads(&c, 1, &n), *t2 = run_threads(&c, 2, &n), *t2b = run_threads(&c, 2, &n);
    T_CHECK(!memcmp(t2, t2b, n * 4), "%s B=%d: two runs with 2 threads differ", MODEL_NAMES[kind], B);
    size_t nd = 0;
    for (size_t i = 0; i < n; i++) nd += t1[i] != t2[i];
    if (expect_identical) {
        T_CHECK(nd == 0, "%s B=%d: 1 thread vs 2: %zu of %zu numbers differ", MODEL_NAMES[kind], B, nd,
                n);
    } else {
        double rel = max_rel(t1, t2, n);
        T_CHECK(rel < 1e-5, "%s B=%d: 1 thread vs 2 max rel diff %g", MODEL_NAMES[kind], B, rel);
        if (nd)
            fprintf(stderr, "  note: %s B=%d F=%d d=%d: 1 thread vs 2, %zu of %zu numbers (logits, "
                            "grads, demb) differ, max rel %.2g (OpenBLAS sgemm)\n",
                    MODEL_NAMES[kind], B, F, d, nd, n, rel);
    }
    free(t1), free(t2), free(t2b);
    case_free(&c);
    set_threads(2);
}

/* The fast optimizer forms against the per-element references: bit for bit, every kind, with and
 * without L2, over several steps, at lengths around the vector width and a dense span boundary, on
 * 1 and 2 threads; and a check that the step moved the weights at all. */
static void test_optim_vs_ref(void) {
    const size_t lens[] = {1, 7, 8, 17, 33, 4096 + 13, 3 * 4096};
    for (int k = 0; k < OPT_NKINDS; k++)
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
            for (int threads = 1; threads <= 2; threads++) {
                set_threads(threads);
                const size_t n = lens[li];
                Rng r;
                rng_seed(&r, 1000 + 10 * k + li);
                float *w[2], *m[2], *v[2], *g = xmalloc(n * sizeof(float));
                for (int c = 0; c < 2; c++) {
                    w[c] = xmalloc(n * sizeof(float));
                    m[c] = xmalloc(n * sizeof(float));
                    v[c] = xmalloc(n * sizeof(float));
                }
                fill(&r, w[0], n, -1, 1);
                fill(&r, m[0], n, -0.1f, 0.1f);
                fill(&r, v[0], n, 0, 0.01f);
                memcpy(w[1], w[0], n * sizeof(float));
                memcpy(m[1], m[0], n * sizeof(float));
                memcpy(v[1], v[0], n * sizeof(float));
                float *w0 = xmalloc(n * sizeof(float));
                memcpy(w0, w[0], n * sizeof(float));
                Optim o;
                optim_init(&o, (OptKind)k, 0.01f, li % 2 ? 0.05f : 0.0f);
                const int per = optim_state_per_param((OptKind)k);
                float *mm[2] = {per >= 2 ? m[0] : NULL, per >= 2 ? m[1] : NULL};
                float *vv[2] = {per >= 1 ? v[0] : NULL, per >= 1 ? v[1] : NULL};
                for (int step = 0; step < 3; step++) {
                    optim_begin_step(&o);
                    fill(&r, g, n, -1, 1);
                    if (step == 1) g[n / 2] = 0.0f;
                    optim_dense(&o, w[0], g, mm[0], vv[0], n);
                    optim_dense_ref(&o, w[1], g, mm[1], vv[1], n);
                    /* rows: width n, as the sparse update applies it */
                    optim_row(&o, w[0], g, mm[0], vv[0], (int)n);
                    optim_row_ref(&o, w[1], g, mm[1], vv[1], (int)n);
                }
                const char *what = OPT_NAMES[k];
                T_CHECK(!memcmp(w[0], w[1], n * sizeof(float)), "%s n=%zu threads=%d: w differs from ref",
                        what, n, threads);
                T_CHECK(!memcmp(m[0], m[1], n * sizeof(float)), "%s n=%zu: m differs from ref", what, n);
                T_CHECK(!memcmp(v[0], v[1], n * sizeof(float)), "%s n=%zu: v differs from ref", what, n);
                size_t moved = 0;
                for (size_t i = 0; i < n; i++) moved += w[0][i] != w0[i];
                T_CHECK(moved > 0, "%s n=%zu: no weight moved", what, n);
                for (int c = 0; c < 2; c++) free(w[c]), free(m[c]), free(v[c]);
                free(g), free(w0);
            }
    set_threads(2);
}

int main(void) {
    set_threads(2);
    test_init();
    test_optim_vs_ref();
    for (int k = 0; k < MODEL_NKINDS; k++) {
        /* 2 hidden layers, and the other shapes of the backward: no hidden layer (the output layer on
         * the input), one (the output layer's fused pass feeds layer 0 directly), three */
        const int h2[2] = {6, 5}, h1[1] = {6}, h3[3] = {16, 12, 8};
        test_fd((ModelKind)k, h2, 2);
        test_fd((ModelKind)k, NULL, 0);
        test_fd((ModelKind)k, h1, 1);
        test_fd((ModelKind)k, h3, 3);
        test_paths((ModelKind)k);
        const int small[2] = {6, 5}, medium[2] = {128, 64};
        test_threads((ModelKind)k, 5, 4, small, 2, 7, 1);
        test_threads((ModelKind)k, 20, 16, medium, 2, 300, 0);
    }
    return t_report("test_model");
}
