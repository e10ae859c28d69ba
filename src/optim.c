#include "optim.h"

#include <math.h>

#include "util.h"

const char *const OPT_NAMES[OPT_NKINDS] = {"adam", "adagrad", "sgd"};

void optim_init(Optim *o, OptKind kind, float lr, float emb_l2) {
    o->kind = kind;
    o->lr = lr;
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->eps = kind == OPT_ADAGRAD ? 1e-10f : 1e-8f; /* PyTorch's defaults */
    o->emb_l2 = emb_l2;
    o->step = 0;
    o->bc1 = o->bc2 = 1.0f;
}

int optim_state_per_param(OptKind kind) {
    static const int per[OPT_NKINDS] = {2, 1, 0};
    _Static_assert(sizeof per / sizeof per[0] == OPT_NKINDS, "one entry per optimizer");
    return per[kind];
}

void optim_begin_step(Optim *o) {
    o->step++;
    o->bc1 = (float)(1.0 - pow(o->beta1, (double)o->step));
    o->bc2 = (float)(1.0 - pow(o->beta2, (double)o->step));
}

/* The update of one parameter; the same arithmetic for the dense and the sparse forms. */
static inline void step_one(const Optim *o, float *w, float g, float *m, float *v) {
    switch (o->kind) {
    case OPT_ADAM: {
        *m = o->beta1 * *m + (1.0f - o->beta1) * g;
        *v = o->beta2 * *v + (1.0f - o->beta2) * g * g;
        float mh = *m / o->bc1, vh = *v / o->bc2;
        *w -= o->lr * mh / (sqrtf(vh) + o->eps);
        break;
    }
    case OPT_ADAGRAD:
        *v += g * g;
        *w -= o->lr * g / (sqrtf(*v) + o->eps);
        break;
    case OPT_SGD:
        *w -= o->lr * g;
        break;
    default:
        CHECK(0);
    }
}

void optim_dense(const Optim *o, float *w, const float *g, float *m, float *v, size_t n) {
    static float none;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        step_one(o, &w[i], g[i], m ? &m[i] : &none, v ? &v[i] : &none);
}

void optim_row(const Optim *o, float *w, const float *g, float *m, float *v, int n) {
    float none = 0;
    for (int i = 0; i < n; i++) {
        float gi = g[i] + o->emb_l2 * w[i];
        step_one(o, &w[i], gi, m ? &m[i] : &none, v ? &v[i] : &none);
    }
}
