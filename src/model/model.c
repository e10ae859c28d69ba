/* model: the backbones of SPEC 5 around one tower, over layers.c. A backbone (bb_deepfm.c, bb_mlp.c,
 * listed by MODEL_LIST) says what it reads of the rows and what its head adds; the tower is the MLP of
 * --mlp's hidden layers and a Linear(last, 1) output, the same for every backbone. Layout of the dense
 * parameters (and, at the same offsets, of their gradients): the backbone's own (DeepFM: the bias),
 * then W[0], b[0], W[1], b[1], ..., W[L], b[L], with L = nhidden. Activations (for max_batch rows) live
 * in one 64-byte aligned buffer cut into the views of ModelActs. */
#include "model/model.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/layers.h"
#include "core/rng.h"

const char *const MODEL_NAMES[MODEL_NKINDS] = {
#define MODEL_NAME_(kind, name, backbone) [kind] = name,
    MODEL_LIST(MODEL_NAME_)
#undef MODEL_NAME_
};

const Backbone *const BACKBONES[MODEL_NKINDS] = {
#define MODEL_ENTRY_(kind, name, backbone) [kind] = &backbone,
    MODEL_LIST(MODEL_ENTRY_)
#undef MODEL_ENTRY_
};

const char *model_names_usage(void) {
    static char buf[256];
    if (!buf[0]) names_join(buf, sizeof buf, MODEL_NAMES, MODEL_NKINDS, -1);
    return buf;
}

int model_width(ModelKind kind, int dim) { return BACKBONES[kind]->width(dim); }

int model_shapes(ModelKind kind, int fields, int dim, const int *hidden, int nhidden, int *in_dim,
                 int *out_dim, size_t *nparams, double *macs) {
    const Backbone *bb = BACKBONES[kind];
    long long in = bb->tower_in(fields, dim);
    size_t np = (size_t)bb->own_params;
    double mac = bb->head_macs ? bb->head_macs(fields, dim) : 0;
    for (int l = 0; l <= nhidden; l++) {
        long long out = l < nhidden ? hidden[l] : 1;
        if (in_dim) in_dim[l] = (int)in;
        if (out_dim) out_dim[l] = (int)out;
        np += (size_t)(out * in + out);
        mac += (double)in * (double)out;
        in = out;
    }
    if (nparams) *nparams = np;
    if (macs) *macs = mac;
    return nhidden + 1;
}

typedef struct {
    float *x0;                   // (B, tower_in) a head's tower input (DeepFM: concat_f e_f[1..d]); else NULL
    float *dx0;                  // (B, tower_in) its gradient; else NULL
    float *wide;                 // (B)       the head's term of the logit (DeepFM: bias + first order + FM)
    float *h[MODEL_MAX_HIDDEN];  // (B, hidden[l]) post-ReLU output of hidden layer l
    float *g[2];                 // (B, max hidden) gradient wrt h[l] lives in g[l % 2]
    float *dW[MODEL_MAX_HIDDEN + 1], *db[MODEL_MAX_HIDDEN + 1], *dbias; // views into grads (dbias: the head's own)
    int last_B;                  // batch size of the last forward, checked by backward
} ModelActs;

static size_t round16(size_t n) { return (n + 15) / 16 * 16; }

/* The arguments' checks, and the sizes model_init allocates (one place for both: model_init and the
 * memory check before it). */
static int model_check(ModelKind kind, int fields, int dim, const int *hidden, int nhidden,
                       int max_batch, Err *e) {
    if ((int)kind < 0 || kind >= MODEL_NKINDS)
        return err_set(e, "--model: unknown backbone %d (%s)", (int)kind, model_names_usage());
    if (fields < 1) return err_set(e, "model: %d fields (the data must have at least one)", fields);
    if (dim < 1) return err_set(e, "--dim: %d (must be >= 1)", dim);
    if (nhidden < 0 || nhidden > MODEL_MAX_HIDDEN)
        return err_set(e, "--mlp: %d hidden layers (0 to %d)", nhidden, MODEL_MAX_HIDDEN);
    if (nhidden > 0 && !hidden) return err_set(e, "--mlp: no layer sizes given");
    for (int l = 0; l < nhidden; l++)
        if (hidden[l] < 1 || hidden[l] > (1 << 20))
            return err_set(e, "--mlp: layer %d has size %d (must be 1 to %d)", l + 1, hidden[l],
                           1 << 20);
    if (max_batch < 1) return err_set(e, "--batch: %d (must be >= 1)", max_batch);
    int width = model_width(kind, dim);
    const Backbone *bb = BACKBONES[kind];
    if (!bb->has_head && bb->tower_in(fields, dim) != (long long)fields * width)
        return err_set(e, "model: %s has no head, so its tower must read the F x width rows as they are "
                          "(tower_in %lld, F x width %lld)",
                       MODEL_NAMES[kind], bb->tower_in(fields, dim), (long long)fields * width);
    if ((long long)fields * width > INT_MAX / 2)
        return err_set(e, "model: %d fields of width %d is too wide an input", fields, width);
    return 0;
}

static size_t model_nacts(ModelKind kind, int fields, int dim, const int *hidden, int nhidden,
                          int max_batch) {
    size_t B = (size_t)max_batch, maxh = 1, xin = (size_t)BACKBONES[kind]->tower_in(fields, dim);
    for (int l = 0; l < nhidden; l++)
        if ((size_t)hidden[l] > maxh) maxh = hidden[l];
    size_t na = 2 * round16(B * maxh);
    if (BACKBONES[kind]->has_head) na += 2 * round16(B * xin) + round16(B);
    for (int l = 0; l < nhidden; l++) na += round16(B * hidden[l]);
    return na;
}

int model_size(ModelKind kind, int fields, int dim, const int *hidden, int nhidden, int max_batch,
               size_t *nparams, uint64_t *bytes, Err *e) {
    if (model_check(kind, fields, dim, hidden, nhidden, max_batch, e)) return -1;
    size_t np;
    model_shapes(kind, fields, dim, hidden, nhidden, NULL, NULL, &np, NULL);
    if (nparams) *nparams = np;
    if (bytes)
        *bytes = (2 * (uint64_t)np + model_nacts(kind, fields, dim, hidden, nhidden, max_batch)) *
                     sizeof(float) + sizeof(ModelActs);
    return 0;
}

int model_init(Model *m, ModelKind kind, int fields, int dim, const int *hidden, int nhidden,
               int max_batch, uint64_t seed, Err *e) {
    memset(m, 0, sizeof *m);
    if (model_check(kind, fields, dim, hidden, nhidden, max_batch, e)) return -1;
    int width = model_width(kind, dim);

    m->kind = kind;
    m->fields = fields;
    m->dim = dim;
    m->width = width;
    m->nhidden = nhidden;
    for (int l = 0; l < nhidden; l++) m->hidden[l] = hidden[l];
    m->max_batch = max_batch;

    /* layer shapes, parameters and gradients: one buffer each, the same layout */
    size_t np;
    model_shapes(kind, fields, dim, hidden, nhidden, m->in_dim, m->out_dim, &np, NULL);
    m->nparams = np;
    m->params = xaligned(np * sizeof(float));
    m->grads = xaligned(np * sizeof(float));
    memset(m->params, 0, np * sizeof(float));
    memset(m->grads, 0, np * sizeof(float));
    ModelActs *a = xcalloc(1, sizeof *a);
    m->priv = a;
    size_t off = (size_t)BACKBONES[kind]->own_params;
    if (off) {
        m->bias = m->params;
        a->dbias = m->grads;
    }
    for (int l = 0; l <= nhidden; l++) {
        m->W[l] = m->params + off;
        a->dW[l] = m->grads + off;
        off += (size_t)m->out_dim[l] * m->in_dim[l];
        m->b[l] = m->params + off;
        a->db[l] = m->grads + off;
        off += m->out_dim[l];
    }
    CHECK(off == np);

    /* Xavier-uniform, U(-s, s) with s = sqrt(6 / (in + out)), layer by layer, row-major; biases 0 */
    Rng rng;
    rng_seed(&rng, seed);
    for (int l = 0; l <= nhidden; l++) {
        double s = sqrt(6.0 / (m->in_dim[l] + m->out_dim[l]));
        size_t n = (size_t)m->out_dim[l] * m->in_dim[l];
        for (size_t i = 0; i < n; i++) m->W[l][i] = (float)((2.0 * rng_uniform(&rng) - 1.0) * s);
    }

    /* activations */
    size_t B = (size_t)max_batch, maxh = 1, xin = (size_t)BACKBONES[kind]->tower_in(fields, dim);
    for (int l = 0; l < nhidden; l++)
        if ((size_t)hidden[l] > maxh) maxh = hidden[l];
    size_t na = model_nacts(kind, fields, dim, hidden, nhidden, max_batch);
    m->nacts = na;
    m->acts = xaligned(na * sizeof(float));
    float *p = m->acts;
#define TAKE(n) (p += round16(n), p - round16(n))
    if (BACKBONES[kind]->has_head) {
        a->x0 = TAKE(B * xin);
        a->dx0 = TAKE(B * xin);
        a->wide = TAKE(B);
    }
    for (int l = 0; l < nhidden; l++) a->h[l] = TAKE(B * hidden[l]);
    a->g[0] = TAKE(B * maxh);
    a->g[1] = TAKE(B * maxh);
#undef TAKE
    CHECK((size_t)(p - m->acts) == na);
    memset(m->acts, 0, na * sizeof(float));
    return 0;
}

void model_free(Model *m) {
    free(m->params);
    free(m->grads);
    free(m->acts);
    free(m->priv);
    memset(m, 0, sizeof *m);
}

void model_zero_grad(Model *m) { memset(m->grads, 0, m->nparams * sizeof(float)); }

size_t model_bytes(const Model *m) {
    return (2 * m->nparams + m->nacts) * sizeof(float) + sizeof(ModelActs);
}

const float *model_hidden(const Model *m, int l) {
    CHECK(l >= 0 && l < m->nhidden);
    return ((const ModelActs *)m->priv)->h[l];
}

void model_forward(Model *m, float *logits, const float *emb, int B) {
    CHECK(B >= 1 && B <= m->max_batch);
    ModelActs *a = m->priv;
    const int F = m->fields, d = m->dim, L = m->nhidden;
    const Backbone *bb = BACKBONES[m->kind];
    const float *x = emb; // (B, in_dim[0]) the tower's input
    if (bb->has_head) {
        bb->input_forward(a->x0, a->wide, emb, m->params, B, F, d); /* its own parameters come first */
        x = a->x0;
    }
    for (int l = 0; l < L; l++) {
        linear_relu_forward(a->h[l], x, m->W[l], m->b[l], B, m->in_dim[l], m->out_dim[l]);
        x = a->h[l];
    }
    linear_forward(logits, x, m->W[L], m->b[L], B, m->in_dim[L], 1);
    if (bb->has_head)
        for (int r = 0; r < B; r++) logits[r] += a->wide[r];
    a->last_B = B;
}

void model_backward(Model *m, float *demb, const float *dlogits, const float *emb, int B) {
    ModelActs *a = m->priv;
    CHECK(B == a->last_B);
    const int F = m->fields, d = m->dim, L = m->nhidden;
    const Backbone *bb = BACKBONES[m->kind];
    const int head = bb->has_head;
    const float *x_in = head ? a->x0 : emb; // (B, in_dim[0])
    float *dx_in = head ? a->dx0 : demb;    // gradient wrt x_in; NULL skips it
    if (!demb) dx_in = NULL;

    /* output layer: Linear(in_dim[L], 1) on h[L-1] (or on the input when there is no hidden layer);
     * with a hidden layer its dx pass also masks by h[L-1]'s ReLU and sums db[L-1], so layer L-1 then
     * runs as a plain linear backward on the pre-activation gradient */
    if (L > 0) {
        float *g = a->g[(L - 1) % 2];
        linear_out_relu_backward(g, a->db[L - 1], a->dW[L], a->db[L], dlogits, a->h[L - 1], m->W[L], B,
                                 m->in_dim[L]);
        linear_backward(L > 1 ? a->g[(L - 2) % 2] : dx_in, a->dW[L - 1], NULL, g,
                        L > 1 ? a->h[L - 2] : x_in, m->W[L - 1], B, m->in_dim[L - 1], m->out_dim[L - 1]);
    } else {
        linear_backward(dx_in, a->dW[L], a->db[L], dlogits, x_in, m->W[L], B, m->in_dim[L], 1);
    }
    for (int l = L - 2; l >= 0; l--) {
        float *dx = l > 0 ? a->g[(l - 1) % 2] : dx_in;
        linear_relu_backward(dx, a->dW[l], a->db[l], a->g[l % 2], a->h[l], l > 0 ? a->h[l - 1] : x_in,
                             m->W[l], B, m->in_dim[l], m->out_dim[l]);
    }
    if (head) bb->input_backward(demb, m->grads, a->dx0, dlogits, emb, B, F, d);
}

int model_parse_hidden(const char *s, const char *flag, int *hidden, int *nhidden, Err *e) {
    if (!strcmp(s, "none")) {
        *nhidden = 0;
        return 0;
    }
    long long *h;
    int n;
    if (parse_i64_list(s, 1, 1 << 16, flag, &h, &n, e)) return -1;
    if (n > MODEL_MAX_HIDDEN) {
        free(h);
        return err_set(e, "%s: at most %d hidden layers (or none)", flag, MODEL_MAX_HIDDEN);
    }
    for (int i = 0; i < n; i++) hidden[i] = (int)h[i];
    *nhidden = n;
    free(h);
    return 0;
}
