#include "model/optim.h"

#include <math.h>
#ifdef __AVX__
#include <immintrin.h>
#endif

#include "core/util.h"

const char *const OPT_NAMES[OPT_NKINDS] = {
#define OPT_NAME_(kind, name, state) [kind] = name,
    OPT_LIST(OPT_NAME_)
#undef OPT_NAME_
};

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
    static const int per[OPT_NKINDS] = {
#define OPT_STATE_(k, name, state) [k] = state,
        OPT_LIST(OPT_STATE_)
#undef OPT_STATE_
    };
    return per[kind];
}

void optim_begin_step(Optim *o) {
    o->step++;
    o->bc1 = (float)(1.0 - pow(o->beta1, (double)o->step));
    o->bc2 = (float)(1.0 - pow(o->beta2, (double)o->step));
}

/* The update of one parameter; the arithmetic both forms must reproduce bit for bit. */
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
    case OPT_NKINDS:
        CHECK(0);
    }
}

void optim_dense_ref(const Optim *o, float *w, const float *g, float *m, float *v, size_t n) {
    float none = 0;
    for (size_t i = 0; i < n; i++) step_one(o, &w[i], g[i], m ? &m[i] : &none, v ? &v[i] : &none);
}

void optim_row_ref(const Optim *o, float *w, const float *g, float *m, float *v, int n) {
    float none = 0;
    for (int i = 0; i < n; i++) {
        float gi = g[i] + o->emb_l2 * w[i];
        step_one(o, &w[i], gi, m ? &m[i] : &none, v ? &v[i] : &none);
    }
}

/* The fast forms: the optimizer's kind chosen once per call, not per element, and the loops written
 * for the vectoriser with the operations of step_one in the same order (no FMA contraction under
 * -std=c11, and sqrt, division and the rest are correctly rounded in the vector units as in scalar
 * code), so they equal the references bit for bit. sqrtf would not vectorise with errno semantics,
 * hence the AVX intrinsics. `l2` adds the embedding L2 term, g + emb_l2 * w, as optim_row_ref. */
static void adam_span(const Optim *o, float *restrict w, const float *restrict g, float *restrict m,
                      float *restrict v, size_t n, int l2) {
    const float b1 = o->beta1, c1 = 1.0f - o->beta1, b2 = o->beta2, c2 = 1.0f - o->beta2;
    const float bc1 = o->bc1, bc2 = o->bc2, lr = o->lr, eps = o->eps, lam = o->emb_l2;
    size_t i = 0;
#ifdef __AVX__
    const __m256 vb1 = _mm256_set1_ps(b1), vc1 = _mm256_set1_ps(c1), vb2 = _mm256_set1_ps(b2),
                 vc2 = _mm256_set1_ps(c2), vbc1 = _mm256_set1_ps(bc1), vbc2 = _mm256_set1_ps(bc2),
                 vlr = _mm256_set1_ps(lr), veps = _mm256_set1_ps(eps), vlam = _mm256_set1_ps(lam);
    for (; i + 8 <= n; i += 8) {
        __m256 wi = _mm256_loadu_ps(w + i), gi = _mm256_loadu_ps(g + i);
        if (l2) gi = _mm256_add_ps(gi, _mm256_mul_ps(vlam, wi));
        __m256 mi = _mm256_add_ps(_mm256_mul_ps(vb1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(vc1, gi));
        __m256 vi = _mm256_add_ps(_mm256_mul_ps(vb2, _mm256_loadu_ps(v + i)),
                                  _mm256_mul_ps(_mm256_mul_ps(vc2, gi), gi));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        __m256 mh = _mm256_div_ps(mi, vbc1), vh = _mm256_div_ps(vi, vbc2);
        __m256 den = _mm256_add_ps(_mm256_sqrt_ps(vh), veps);
        _mm256_storeu_ps(w + i, _mm256_sub_ps(wi, _mm256_div_ps(_mm256_mul_ps(vlr, mh), den)));
    }
#endif
    for (; i < n; i++) {
        float gi = l2 ? g[i] + lam * w[i] : g[i];
        float mi = b1 * m[i] + c1 * gi, vi = b2 * v[i] + c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] -= lr * (mi / bc1) / (sqrtf(vi / bc2) + eps);
    }
}

static void adagrad_span(const Optim *o, float *restrict w, const float *restrict g,
                         float *restrict v, size_t n, int l2) {
    const float lr = o->lr, eps = o->eps, lam = o->emb_l2;
    size_t i = 0;
#ifdef __AVX__
    const __m256 vlr = _mm256_set1_ps(lr), veps = _mm256_set1_ps(eps), vlam = _mm256_set1_ps(lam);
    for (; i + 8 <= n; i += 8) {
        __m256 wi = _mm256_loadu_ps(w + i), gi = _mm256_loadu_ps(g + i);
        if (l2) gi = _mm256_add_ps(gi, _mm256_mul_ps(vlam, wi));
        __m256 vi = _mm256_add_ps(_mm256_loadu_ps(v + i), _mm256_mul_ps(gi, gi));
        _mm256_storeu_ps(v + i, vi);
        __m256 den = _mm256_add_ps(_mm256_sqrt_ps(vi), veps);
        _mm256_storeu_ps(w + i, _mm256_sub_ps(wi, _mm256_div_ps(_mm256_mul_ps(vlr, gi), den)));
    }
#endif
    for (; i < n; i++) {
        float gi = l2 ? g[i] + lam * w[i] : g[i];
        v[i] += gi * gi;
        w[i] -= lr * gi / (sqrtf(v[i]) + eps);
    }
}

static void sgd_span(const Optim *o, float *restrict w, const float *restrict g, size_t n, int l2) {
    const float lr = o->lr, lam = o->emb_l2;
    for (size_t i = 0; i < n; i++) {
        float gi = l2 ? g[i] + lam * w[i] : g[i];
        w[i] -= lr * gi;
    }
}

static void optim_span(const Optim *o, float *w, const float *g, float *m, float *v, size_t n, int l2) {
    switch (o->kind) {
    case OPT_ADAM:
        adam_span(o, w, g, m, v, n, l2);
        break;
    case OPT_ADAGRAD:
        adagrad_span(o, w, g, v, n, l2);
        break;
    case OPT_SGD:
        sgd_span(o, w, g, n, l2);
        break;
    case OPT_NKINDS:
        CHECK(0);
    }
}

/* Parallel over fixed spans of OPT_SPAN parameters (a multiple of 8: the vector loop covers every span
 * but the last the same way whatever the thread count). */
#define OPT_SPAN 4096
void optim_dense(const Optim *o, float *w, const float *g, float *m, float *v, size_t n) {
    CHECK(optim_state_per_param(o->kind) < 2 || m);
    CHECK(optim_state_per_param(o->kind) < 1 || v);
    const long nspan = (long)((n + OPT_SPAN - 1) / OPT_SPAN);
#pragma omp parallel for schedule(static)
    for (long s = 0; s < nspan; s++) {
        size_t i0 = (size_t)s * OPT_SPAN, len = n - i0 < OPT_SPAN ? n - i0 : OPT_SPAN;
        optim_span(o, w + i0, g + i0, m ? m + i0 : NULL, v ? v + i0 : NULL, len, 0);
    }
}

void optim_row(const Optim *o, float *w, const float *g, float *m, float *v, int n) {
    optim_span(o, w, g, m, v, (size_t)n, 1);
}
