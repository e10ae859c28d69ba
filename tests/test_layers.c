/* test_layers: each fast kernel against its `_ref` on random inputs (odd sizes, sizes big enough for
 * threaded sgemm, 1 and 2 threads), and a central finite-difference check of every backward, with a
 * guard that the gradient checked is not all zero. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "model/layers.h"
#include "core/rng.h"
#include "testing.h"
#include "core/util.h"

extern void openblas_set_num_threads(int n);

static void set_threads(int n) {
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

static float *rand_buf(Rng *r, size_t n, float lo, float hi) {
    float *p = xmalloc(n * sizeof(float) + 1);
    for (size_t i = 0; i < n; i++) p[i] = (float)(lo + (hi - lo) * rng_uniform(r));
    return p;
}

static float *copy_buf(const float *src, size_t n) {
    float *p = xmalloc(n * sizeof(float) + 1);
    memcpy(p, src, n * sizeof(float));
    return p;
}

/* max over i of |a-b| / (1 + |b|) (the thread comparisons' note) */
static double max_rel(const float *a, const float *b, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / (1.0 + fabs((double)b[i]));
        if (!(d <= m)) m = d; /* NaN propagates */
    }
    return m;
}

static double max_abs(const float *a, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabs(a[i]) > m) m = fabs(a[i]);
    return m;
}

static float *abs_buf(const float *src, size_t n) {
    float *p = xmalloc(n * sizeof(float) + 1);
    for (size_t i = 0; i < n; i++) p[i] = fabsf(src[i]);
    return p;
}

/* Per-element bounds (testing.h) of linear's outputs. The sums of |terms| are the same reductions
 * over absolute values, so the `_ref` kernels compute them: y = b + x W^T has in + 1 terms per
 * element, dx = dy W has out, dW = dW0 + dy^T x has B + 1, db = db0 + colsum(dy) has B + 1. */
typedef struct {
    double *y, *dx, *dW, *db;
} LinBounds;

static LinBounds linear_bounds(const float *x, const float *W, const float *b, const float *dy,
                               const float *dW0, const float *db0, const float *y_ref,
                               const float *dx_ref, const float *dW_ref, const float *db_ref, int B,
                               int in, int out) {
    size_t ny = (size_t)B * out, nx = (size_t)B * in, nw = (size_t)out * in;
    float *ax = abs_buf(x, nx), *aW = abs_buf(W, nw), *ab = b ? abs_buf(b, out) : NULL;
    float *ady = abs_buf(dy, ny), *sy = xmalloc(ny * 4), *sx = xmalloc(nx * 4);
    float *sW = abs_buf(dW0, nw), *sb = abs_buf(db0, out);
    linear_forward_ref(sy, ax, aW, ab, B, in, out);
    linear_backward_ref(sx, sW, sb, ady, ax, aW, B, in, out);
    LinBounds L = {xmalloc(ny * 8), xmalloc(nx * 8), xmalloc(nw * 8), xmalloc(out * 8)};
    for (size_t i = 0; i < ny; i++) L.y[i] = t_bound(in + 1, sy[i], y_ref[i]);
    for (size_t i = 0; i < nx; i++) L.dx[i] = t_bound(out, sx[i], dx_ref[i]);
    for (size_t i = 0; i < nw; i++) L.dW[i] = t_bound(B + 1, sW[i], dW_ref[i]);
    for (int i = 0; i < out; i++) L.db[i] = t_bound(B + 1, sb[i], db_ref[i]);
    free(ax), free(aW), free(ab), free(ady), free(sy), free(sx), free(sW), free(sb);
    return L;
}

static void linear_bounds_free(LinBounds *L) { free(L->y), free(L->dx), free(L->dW), free(L->db); }

/* ---------------------------------------------------------------------------------------------- */
/* fast vs ref */

static void test_linear_vs_ref(int B, int in, int out, int with_bias, int threads, uint64_t seed) {
    set_threads(threads);
    Rng r;
    rng_seed(&r, seed);
    float *x = rand_buf(&r, (size_t)B * in, -1, 1), *W = rand_buf(&r, (size_t)out * in, -1, 1);
    float *b = with_bias ? rand_buf(&r, out, -1, 1) : NULL;
    float *y = rand_buf(&r, (size_t)B * out, -9, 9), *y_ref = rand_buf(&r, (size_t)B * out, -9, 9);
    float *dy = rand_buf(&r, (size_t)B * out, -1, 1);
    float *dx = rand_buf(&r, (size_t)B * in, -9, 9), *dx_ref = rand_buf(&r, (size_t)B * in, -9, 9);
    /* weight gradients start non-zero: backward must add, not overwrite */
    float *dW = rand_buf(&r, (size_t)out * in, -1, 1), *dW_ref = copy_buf(dW, (size_t)out * in);
    float *db = rand_buf(&r, out, -1, 1), *db_ref = copy_buf(db, out);
    float *dW0 = copy_buf(dW, (size_t)out * in), *db0 = copy_buf(db, out);
    float *zero = xcalloc(out > 0 ? out : 1, 4);
    char what[128];
    snprintf(what, sizeof what, "linear B=%d in=%d out=%d bias=%d threads=%d", B, in, out, with_bias,
             threads);

    linear_forward(y, x, W, b, B, in, out);
    linear_forward_ref(y_ref, x, W, b, B, in, out);
    linear_backward(dx, dW, with_bias ? db : NULL, dy, x, W, B, in, out);
    linear_backward_ref(dx_ref, dW_ref, with_bias ? db_ref : NULL, dy, x, W, B, in, out);
    LinBounds L = linear_bounds(x, W, b, dy, dW0, with_bias ? db0 : zero, y_ref, dx_ref, dW_ref,
                                db_ref, B, in, out);
    T_BOUNDED("linear y", y, y_ref, L.y, (size_t)B * out, "%s forward", what);
    T_BOUNDED("linear dx", dx, dx_ref, L.dx, (size_t)B * in, "%s dx", what);
    T_BOUNDED("linear dW", dW, dW_ref, L.dW, (size_t)out * in, "%s dW", what);
    if (with_bias) T_BOUNDED("linear db", db, db_ref, L.db, out, "%s db", what);

    /* dx NULL: weights still get their gradients, identical to the call with dx */
    float *dW2 = rand_buf(&r, (size_t)out * in, -1, 1), *dW2b = copy_buf(dW2, (size_t)out * in);
    linear_backward(NULL, dW2, NULL, dy, x, W, B, in, out);
    linear_backward(dx, dW2b, NULL, dy, x, W, B, in, out);
    T_CHECK(!memcmp(dW2, dW2b, (size_t)out * in * sizeof(float)), "%s: dx NULL changes dW", what);

    /* fused Linear+ReLU = linear then relu; the backward's gradient is the ReLU-masked dy */
    if (with_bias) {
        float *h = xmalloc((size_t)B * out * sizeof(float)), *dz = copy_buf(dy, (size_t)B * out);
        float *dz_ref = xmalloc((size_t)B * out * sizeof(float));
        linear_relu_forward(h, x, W, b, B, in, out);
        relu_forward(y_ref, y_ref, (long)B * out);
        T_BOUNDED("linear+relu y", h, y_ref, L.y, (size_t)B * out, "%s relu forward", what);
        long alive = 0;
        for (long i = 0; i < (long)B * out; i++) alive += h[i] > 0;
        T_CHECK((long)B * out < 20 || (alive > 0 && alive < (long)B * out),
                "%s: %ld of %ld units alive (want a mix)", what, alive, (long)B * out);
        memcpy(dW_ref, dW, (size_t)out * in * sizeof(float));
        memcpy(db_ref, db, out * sizeof(float));
        memcpy(dW0, dW, (size_t)out * in * sizeof(float));
        memcpy(db0, db, out * sizeof(float));
        linear_relu_backward(dx, dW, db, dz, h, x, W, B, in, out);
        relu_backward(dz_ref, dy, h, (long)B * out);
        T_CHECK(!memcmp(dz, dz_ref, (size_t)B * out * sizeof(float)),
                "%s: fused relu mask differs from relu_backward", what);
        linear_backward_ref(dx_ref, dW_ref, db_ref, dz_ref, x, W, B, in, out);
        LinBounds R = linear_bounds(x, W, b, dz_ref, dW0, db0, y_ref, dx_ref, dW_ref, db_ref, B, in,
                                    out);
        T_BOUNDED("linear+relu dx", dx, dx_ref, R.dx, (size_t)B * in, "%s relu dx", what);
        T_BOUNDED("linear+relu dW", dW, dW_ref, R.dW, (size_t)out * in, "%s relu dW", what);
        T_BOUNDED("linear+relu db", db, db_ref, R.db, out, "%s relu db", what);
        linear_bounds_free(&R);
        free(h);
        free(dz);
        free(dz_ref);
    }
    linear_bounds_free(&L);
    free(x), free(W), free(b), free(y), free(y_ref), free(dy), free(dx), free(dx_ref);
    free(dW), free(dW_ref), free(db), free(db_ref), free(dW2), free(dW2b), free(dW0), free(db0);
    free(zero);
}

/* The bound is not vacuous: an error of 10x one element's bound, put into a result that passes, is
 * caught (and at 0.5x it is not), for each output of linear on the output layer's long reduction. */
static void test_bound_catches(void) {
    const int B = 3000, in = 400, out = 1;
    set_threads(1);
    Rng r;
    rng_seed(&r, 6);
    float *x = rand_buf(&r, (size_t)B * in, -1, 1), *W = rand_buf(&r, in, -1, 1);
    float *b = rand_buf(&r, 1, -1, 1), *dy = rand_buf(&r, B, -1, 1);
    float *dW = rand_buf(&r, in, -1, 1), *dW0 = copy_buf(dW, in), *dW_ref = copy_buf(dW, in);
    float *y = xmalloc(B * 4), *y_ref = xmalloc(B * 4), *dx = xmalloc((size_t)B * in * 4);
    float *dx_ref = xmalloc((size_t)B * in * 4), db0 = 0.0f, db = 0.0f, db_ref = 0.0f;
    linear_forward(y, x, W, b, B, in, out);
    linear_forward_ref(y_ref, x, W, b, B, in, out);
    linear_backward(dx, dW, &db, dy, x, W, B, in, out);
    linear_backward_ref(dx_ref, dW_ref, &db_ref, dy, x, W, B, in, out);
    LinBounds L = linear_bounds(x, W, b, dy, dW0, &db0, y_ref, dx_ref, dW_ref, &db_ref, B, in, out);
    struct {
        const char *name;
        float *got, *ref;
        double *bound;
        size_t n;
    } outs[3] = {{"y", y, y_ref, L.y, B}, {"dx", dx, dx_ref, L.dx, (size_t)B * in},
                 {"dW", dW, dW_ref, L.dW, in}};
    for (int k = 0; k < 3; k++) {
        double worst;
        size_t at, i = outs[k].n / 3;
        T_CHECK(t_outside(outs[k].got, outs[k].ref, outs[k].bound, outs[k].n, &worst, &at) == 0,
                "bound: %s of the untouched result out of bound (worst %.3g)", outs[k].name, worst);
        float keep = outs[k].got[i];
        outs[k].got[i] = (float)(outs[k].ref[i] + 10.0 * outs[k].bound[i]);
        T_CHECK(t_outside(outs[k].got, outs[k].ref, outs[k].bound, outs[k].n, &worst, &at) == 1 &&
                    at == i && worst > 5.0,
                "bound: an error of 10x the bound in %s[%zu] is not caught (worst %.3g at %zu)",
                outs[k].name, i, worst, at);
        outs[k].got[i] = (float)(outs[k].ref[i] - 0.5 * outs[k].bound[i]);
        T_CHECK(t_outside(outs[k].got, outs[k].ref, outs[k].bound, outs[k].n, &worst, &at) == 0,
                "bound: an error of 0.5x the bound in %s[%zu] fails (worst %.3g)", outs[k].name, i,
                worst);
        outs[k].got[i] = keep;
    }
    /* a kernel that drops one term of its 401-term sums (the last input column) is caught in almost
     * every element */
    float *W1 = copy_buf(W, in), *y1 = xmalloc(B * 4);
    W1[in - 1] = 0.0f;
    linear_forward(y1, x, W1, b, B, in, out);
    double worst;
    size_t at, missed = t_outside(y1, y_ref, L.y, B, &worst, &at);
    T_CHECK(missed > (size_t)B * 9 / 10, "bound: a sum missing one of its %d terms is caught in only %zu of %d "
            "elements (worst %.3g)", in + 1, missed, B, worst);
    free(W1), free(y1);
    linear_bounds_free(&L);
    free(x), free(W), free(b), free(dy), free(dW), free(dW0), free(dW_ref), free(y), free(y_ref);
    free(dx), free(dx_ref);
    set_threads(2);
}

/* Threads. The same thread count twice: bit-identical (SPEC 5). 1 thread vs 2: OpenBLAS 0.3.21's
 * sgemm is NOT bit-identical across thread counts (the split between threads moves which elements the
 * edge kernels compute, and for K > GEMM_Q how K is blocked), so each element is held to twice its
 * error bound (each side within one bound of the exact value) and the number of differing elements is
 * printed. The element-wise passes are thread-independent. */
static void test_linear_threads(void) {
    const int B = 512, in = 300, out = 200;
    Rng r;
    rng_seed(&r, 77);
    float *x = rand_buf(&r, (size_t)B * in, -1, 1), *W = rand_buf(&r, (size_t)out * in, -1, 1);
    float *b = rand_buf(&r, out, -1, 1), *dy = rand_buf(&r, (size_t)B * out, -1, 1);
    float *res[3][4], *dz1 = NULL;
    for (int t = 0; t < 3; t++) {
        set_threads(t == 0 ? 1 : 2);
        float *y = xmalloc((size_t)B * out * 4), *dx = xmalloc((size_t)B * in * 4);
        float *dW = xcalloc((size_t)out * in, 4), *db = xcalloc(out, 4);
        float *dz = copy_buf(dy, (size_t)B * out);
        linear_relu_forward(y, x, W, b, B, in, out);
        linear_relu_backward(dx, dW, db, dz, y, x, W, B, in, out);
        res[t][0] = y, res[t][1] = dx, res[t][2] = dW, res[t][3] = db;
        if (t == 0) dz1 = dz;
        else free(dz);
    }
    float *dW0 = xcalloc((size_t)out * in, 4), *db0 = xcalloc(out, 4);
    LinBounds L = linear_bounds(x, W, b, dz1, dW0, db0, res[0][0], res[0][1], res[0][2], res[0][3], B,
                                in, out);
    double *bounds[4] = {L.y, L.dx, L.dW, L.db};
    size_t n[4] = {(size_t)B * out, (size_t)B * in, (size_t)out * in, (size_t)out};
    const char *names[4] = {"y", "dx", "dW", "db"};
    for (int k = 0; k < 4; k++) {
        T_CHECK(!memcmp(res[1][k], res[2][k], n[k] * 4),
                "linear+relu %s: two runs with 2 threads differ", names[k]);
        size_t nd = 0;
        for (size_t i = 0; i < n[k]; i++) nd += res[0][k][i] != res[1][k][i], bounds[k][i] *= 2.0;
        T_BOUNDED("linear+relu 1 vs 2 threads", res[1][k], res[0][k], bounds[k], n[k],
                  "linear+relu %s, 1 thread vs 2", names[k]);
        if (nd)
            fprintf(stderr, "  note: linear+relu %s, 1 thread vs 2: %zu of %zu elements differ (max rel "
                            "%.2g): OpenBLAS sgemm is not bit-identical across thread counts\n",
                    names[k], nd, n[k], max_rel(res[0][k], res[1][k], n[k]));
        for (int t = 0; t < 3; t++) free(res[t][k]);
    }
    linear_bounds_free(&L);
    free(x), free(W), free(b), free(dy), free(dz1), free(dW0), free(db0);
    set_threads(2);
}

static void test_relu(void) {
    const long n = 1001;
    Rng r;
    rng_seed(&r, 5);
    float *x = rand_buf(&r, n, -1, 1), *y = xmalloc(n * 4), *dy = rand_buf(&r, n, -1, 1);
    float *dx = xmalloc(n * 4);
    x[0] = 0.0f, x[1] = NAN, x[2] = -0.0f;
    relu_forward(y, x, n);
    relu_backward(dx, dy, y, n);
    int bad = 0;
    for (long i = 0; i < n; i++) {
        if (i == 1) continue;
        float want = x[i] > 0 ? x[i] : 0.0f;
        if (y[i] != want || dx[i] != (x[i] > 0 ? dy[i] : 0.0f)) bad++;
    }
    T_CHECK(bad == 0, "relu: %d elements wrong", bad);
    T_CHECK(isnan(y[1]), "relu must pass NaN through (a diverged run must not look finite): %g",
            (double)y[1]);
    /* in place */
    float *z = copy_buf(x, n);
    relu_forward(z, z, n);
    T_CHECK(!memcmp(z + 2, y + 2, (n - 2) * 4), "relu in place differs");
    free(x), free(y), free(dy), free(dx), free(z);
}

/* FM's bounds. fm_forward forms, per column k, s_k = sum_f v_fk and q_k = sum_f v_fk^2 (F terms
 * each), then sums s_k^2 - q_k over the d columns: with the error of s_k doubled by the square, every
 * rounding is covered by the terms (sum_f |v_fk|)^2 + sum_f v_fk^2 summed over k, in reductions of at
 * most F + d + 1 steps. fm_backward adds g (s_k - v_fk) to dv_fk: F + 2 terms of magnitude
 * |dv_fk| + |g| (sum_f |v_fk| + |v_fk|). */
static double fm_terms(const float *vr, int F, int w, int d) { /* vr: the row at column c0 */
    double S = 0.0;
    for (int k = 0; k < d; k++) {
        double a = 0.0, q = 0.0;
        for (int f = 0; f < F; f++) {
            double x = vr[(size_t)f * w + k];
            a += fabs(x), q += x * x;
        }
        S += a * a + q;
    }
    return S;
}

static double *fm_backward_bounds(const float *dv0, const float *dout, const float *v,
                                  const float *dv_ref, int B, int F, int w, int c0, int d) {
    size_t n = (size_t)B * F * w;
    double *bd = xcalloc(n, 8);
    for (size_t i = 0; i < n; i++) bd[i] = FLT_EPSILON * fabs(dv_ref[i]);
    for (int r = 0; r < B; r++) {
        const float *vr = v + (size_t)r * F * w + c0;
        for (int k = 0; k < d; k++) {
            double a = 0.0;
            for (int f = 0; f < F; f++) a += fabs(vr[(size_t)f * w + k]);
            for (int f = 0; f < F; f++) {
                size_t i = (size_t)r * F * w + c0 + (size_t)f * w + k;
                double S = fabs(dv0[i]) + fabs(dout[r]) * (a + fabs(v[i]));
                bd[i] = t_bound(F + 2, S, dv_ref[i]);
            }
        }
    }
    return bd;
}

static void test_fm_vs_ref(int B, int F, int w, int c0, int d) {
    Rng r;
    rng_seed(&r, (uint64_t)(B * 1000 + F * 100 + d));
    size_t n = (size_t)B * F * w;
    float *v = rand_buf(&r, n, -1, 1), *out = xmalloc(B * 4), *out_ref = xmalloc(B * 4);
    float *dout = rand_buf(&r, B, -1, 1);
    float *dv = rand_buf(&r, n, -1, 1), *dv_ref = copy_buf(dv, n), *dv0 = copy_buf(dv, n);
    double *bo = xmalloc(B * 8);
    fm_forward(out, v, B, F, w, c0, d);
    fm_forward_ref(out_ref, v, B, F, w, c0, d);
    for (int i = 0; i < B; i++)
        bo[i] = t_bound(F + d + 1, fm_terms(v + (size_t)i * F * w + c0, F, w, d), out_ref[i]);
    T_BOUNDED("fm forward", out, out_ref, bo, B, "fm B=%d F=%d w=%d c0=%d d=%d forward", B, F, w, c0,
              d);
    fm_backward(dv, dout, v, B, F, w, c0, d);
    fm_backward_ref(dv_ref, dout, v, B, F, w, c0, d);
    double *bd = fm_backward_bounds(dv0, dout, v, dv_ref, B, F, w, c0, d);
    T_BOUNDED("fm backward", dv, dv_ref, bd, n, "fm B=%d F=%d w=%d c0=%d d=%d backward", B, F, w, c0,
              d);
    /* columns outside [c0, c0+d) are left alone */
    int touched = 0;
    for (size_t i = 0; i < n; i++) {
        int col = (int)(i % w);
        if ((col < c0 || col >= c0 + d) && dv[i] != dv0[i]) touched++;
    }
    T_CHECK(touched == 0, "fm backward wrote %d elements outside its columns", touched);
    free(v), free(out), free(out_ref), free(dout), free(dv), free(dv_ref), free(dv0), free(bo), free(bd);
}

/* DeepFM's fused input stage against its reference, and exactly against the unfused sequence the
 * model ran before (the copy loop, fm_forward / the copy loop, fm_backward) */
static void test_deepfm_input_vs_ref(int B, int F, int d, int threads) {
    set_threads(threads);
    Rng r;
    rng_seed(&r, (uint64_t)(B * 977 + F * 31 + d));
    const int w = d + 1;
    size_t n = (size_t)B * F * w, nx = (size_t)B * F * d;
    float *v = rand_buf(&r, n, -1, 1), *dout = rand_buf(&r, B, -1, 1), *dx0 = rand_buf(&r, nx, -1, 1);
    float *x0 = rand_buf(&r, nx, -9, 9), *x0_ref = rand_buf(&r, nx, -9, 9);
    float *wide = xmalloc(B * 4), *wide_ref = xmalloc(B * 4), *fm = xmalloc(B * 4);
    float *dv = rand_buf(&r, n, -9, 9), *dv_ref = rand_buf(&r, n, -9, 9), *dv_old = xmalloc(n * 4);
    const float bias = 0.25f;
    deepfm_input_forward(x0, wide, v, bias, B, F, d);
    deepfm_input_forward_ref(x0_ref, wide_ref, v, bias, B, F, d);
    T_CHECK(!memcmp(x0, x0_ref, nx * 4), "deepfm input B=%d F=%d d=%d: x0 differs from the copy", B, F,
            d);
    /* wide = bias + sum_f v_f0 + FM: the FM's terms and reduction plus F + 1 more */
    double *bw = xmalloc(B * 8);
    for (int i = 0; i < B; i++) {
        const float *vr = v + (size_t)i * F * w;
        double S = fabs(bias) + fm_terms(vr + 1, F, w, d);
        for (int f = 0; f < F; f++) S += fabs(vr[(size_t)f * w]);
        bw[i] = t_bound(2 * F + d + 2, S, wide_ref[i]);
    }
    T_BOUNDED("deepfm input forward", wide, wide_ref, bw, B, "deepfm input B=%d F=%d d=%d forward", B,
              F, d);
    free(bw);
    fm_forward(fm, v, B, F, w, 1, d);
    int same = 1;
    for (int i = 0; i < B; i++) {
        float lin = 0.0f;
        for (int f = 0; f < F; f++) lin += v[((size_t)i * F + f) * w];
        same &= wide[i] == bias + lin + fm[i];
    }
    T_CHECK(same, "deepfm input B=%d F=%d d=%d: wide differs from bias + first order + fm_forward", B, F,
            d);
    deepfm_input_backward(dv, dx0, dout, v, B, F, d);
    deepfm_input_backward_ref(dv_ref, dx0, dout, v, B, F, d);
    /* column 0 is dout itself; columns 1.. are fm_backward's onto dx0 */
    float *dv0 = xmalloc(n * 4);
    for (size_t i = 0; i < n; i++) {
        size_t row = i / ((size_t)F * w), f = i / w % F, k = i % w;
        dv0[i] = k == 0 ? dout[row] : dx0[(row * F + f) * d + k - 1];
    }
    double *bd = fm_backward_bounds(dv0, dout, v, dv_ref, B, F, w, 1, d);
    for (size_t i = 0; i < n; i += w) bd[i] = 0.0;
    T_BOUNDED("deepfm input backward", dv, dv_ref, bd, n, "deepfm input B=%d F=%d d=%d backward", B, F,
              d);
    free(dv0), free(bd);
    for (size_t i = 0; i < n; i++) {
        size_t row = i / ((size_t)F * w), f = i / w % F, k = i % w;
        dv_old[i] = k == 0 ? dout[row] : dx0[(row * F + f) * d + k - 1];
    }
    fm_backward(dv_old, dout, v, B, F, w, 1, d);
    T_CHECK(!memcmp(dv, dv_old, n * 4), "deepfm input B=%d F=%d d=%d: backward differs from the copy + "
            "fm_backward", B, F, d);
    free(v), free(dout), free(dx0), free(x0), free(x0_ref), free(wide), free(wide_ref), free(fm);
    free(dv), free(dv_ref), free(dv_old);
}

/* the output layer's fused backward over a ReLU output against linear_backward_ref then the mask */
static void test_out_relu_vs_ref(int B, int in, int threads) {
    set_threads(threads);
    Rng r;
    rng_seed(&r, (uint64_t)(B * 13 + in));
    size_t n = (size_t)B * in;
    float *h = rand_buf(&r, n, -1, 1), *w = rand_buf(&r, in, -1, 1), *dz = rand_buf(&r, B, -1, 1);
    for (size_t i = 0; i < n; i += 3) h[i] = 0.0f; /* the ReLU's exact zeros */
    float *dh = rand_buf(&r, n, -9, 9), *dh_ref = xmalloc(n * 4);
    float *dbh = rand_buf(&r, in, -1, 1), *dbh_ref = copy_buf(dbh, in);
    float *dw = rand_buf(&r, in, -1, 1), *dw_ref = copy_buf(dw, in);
    float db = 0.5f, db_ref = 0.5f, *dbh0 = copy_buf(dbh, in), *dw0 = copy_buf(dw, in);
    linear_out_relu_backward(dh, dbh, dw, &db, dz, h, w, B, in);
    linear_backward_ref(dh_ref, dw_ref, &db_ref, dz, h, w, B, in, 1);
    for (size_t i = 0; i < n; i++) dh_ref[i] = h[i] > 0.0f ? dh_ref[i] : 0.0f;
    for (int j = 0; j < in; j++) {
        double s = 0.0;
        for (int i = 0; i < B; i++) s += dh_ref[(size_t)i * in + j];
        dbh_ref[j] += (float)s;
    }
    /* dh = mask dz w: one product; dbh[j] += sum_b dh[b,j] and dw[j] += sum_b h[b,j] dz[b]: B + 1
     * terms each; db += sum dz, in double on both sides */
    double *bh = xmalloc(n * 8), *bbh = xmalloc(in * 8), *bw = xmalloc(in * 8), bdb;
    double sdb = 0.5;
    for (int i = 0; i < B; i++) sdb += fabs(dz[i]);
    bdb = t_bound(B + 1, sdb, db_ref);
    for (int j = 0; j < in; j++) {
        double sh = fabs(dbh0[j]), sw = fabs(dw0[j]);
        for (int i = 0; i < B; i++) {
            size_t q = (size_t)i * in + j;
            bh[q] = t_bound(1, fabs(dz[i] * w[j]), dh_ref[q]);
            sh += fabs(dh_ref[q]), sw += fabs(h[q] * dz[i]);
        }
        bbh[j] = t_bound(B + 1, sh, dbh_ref[j]);
        bw[j] = t_bound(B + 1, sw, dw_ref[j]);
    }
    T_BOUNDED("out relu dh", dh, dh_ref, bh, n, "out relu B=%d in=%d dh", B, in);
    T_BOUNDED("out relu dbh", dbh, dbh_ref, bbh, in, "out relu B=%d in=%d dbh", B, in);
    T_BOUNDED("out relu dw", dw, dw_ref, bw, in, "out relu B=%d in=%d dw", B, in);
    T_BOUNDED("out relu db", &db, &db_ref, &bdb, 1, "out relu B=%d in=%d db", B, in);
    free(bh), free(bbh), free(bw);
    float *dbh_add = xmalloc(in * 4), *dw_add = xmalloc(in * 4);
    for (int j = 0; j < in; j++) dbh_add[j] = dbh[j] - dbh0[j], dw_add[j] = dw[j] - dw0[j];
    if (n >= 8) /* (a 1x1 case may well be all masked) */
        T_CHECK(max_abs(dbh_add, in) > 0 && max_abs(dw_add, in) > 0, "out relu B=%d in=%d: nothing added",
                B, in);
    free(dbh_add), free(dw_add), free(dbh0), free(dw0);
    free(h), free(w), free(dz), free(dh), free(dh_ref), free(dbh), free(dbh_ref), free(dw), free(dw_ref);
}

static void test_bce(void) {
    const int B = 12;
    float z[12] = {-3.0f, -0.5f, 0.0f, 0.7f, 2.5f, 9.0f, -9.0f, 30.0f, -30.0f, 100.0f, -1000.0f,
                   1000.0f};
    unsigned char y[12] = {0, 1, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0};
    /* plain formula where it is safe (|z| <= 9), the asymptote where it is not */
    double want = 0.0;
    for (int i = 0; i < B; i++) {
        double p = 1.0 / (1.0 + exp(-(double)z[i])), li;
        if (fabs(z[i]) <= 9.0) li = y[i] ? -log(p) : -log(1.0 - p);
        else li = (y[i] ? (z[i] < 0) : (z[i] > 0)) ? fabs(z[i]) : 0.0;
        want += li;
    }
    want /= B;
    double got = bce_forward(z, y, B);
    T_CHECK(isfinite(got), "bce not finite for large |z|: %g", got);
    T_NEAR(got, want, 1e-9 * fabs(want), "bce mean loss");
    float dz[12];
    bce_backward(dz, z, y, B);
    for (int i = 0; i < B; i++) {
        double p = 1.0 / (1.0 + exp(-(double)z[i]));
        T_NEAR(dz[i], (p - y[i]) / B, 1e-7, "bce dlogit");
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* finite differences: loss(theta) in double, central differences of a float parameter */

typedef double (*LossFn)(void *ctx);

/* Checks ana[i] against (L(p+eps) - L(p-eps)) / 2eps for i in [0, n); `alive` (may be NULL) is called
 * after each perturbed evaluation and returns a signature of the ReLU masks: a coordinate whose
 * perturbation changes it sits on a kink and is skipped. Returns the number checked. */
static int fd_check(const char *what, float *p, const float *ana, int n, float eps, LossFn loss,
                    void *ctx, unsigned (*mask)(void *), double atol, double rtol) {
    unsigned m0 = mask ? (loss(ctx), mask(ctx)) : 0;
    int checked = 0, skipped = 0, bad = 0;
    double worst = 0.0;
    for (int i = 0; i < n; i++) {
        float save = p[i];
        p[i] = save + eps;
        double lp = loss(ctx);
        unsigned mp = mask ? mask(ctx) : 0;
        p[i] = save - eps;
        double lm = loss(ctx);
        unsigned mm = mask ? mask(ctx) : 0;
        p[i] = save;
        if (mask && (mp != m0 || mm != m0)) {
            skipped++;
            continue;
        }
        double num = (lp - lm) / (2.0 * ((double)(save + eps) - (double)save));
        double err = fabs(num - ana[i]), tol = atol + rtol * fmax(fabs(num), fabs(ana[i]));
        if (err > tol) {
            if (bad < 5)
                fprintf(stderr, "    %s[%d]: analytic %.7g numeric %.7g\n", what, i, ana[i], num);
            bad++;
        }
        if (err / (tol > 0 ? tol : 1) > worst) worst = err / tol;
        checked++;
    }
    T_CHECK(bad == 0, "%s: %d of %d gradients off (worst err/tol %.2f)", what, bad, checked, worst);
    T_CHECK(skipped * 10 <= n, "%s: %d of %d coordinates sit on a ReLU kink", what, skipped, n);
    T_CHECK(max_abs(ana, n) > 1e-3, "%s: gradient all (near) zero, max %g: the check proves nothing",
            what, max_abs(ana, n));
    return checked;
}

/* a layer and a fixed random weighting r of its outputs: loss = sum r * out */
typedef struct {
    int B, in, out, relu;
    float *x, *W, *b, *y, *r;
} LinCtx;

static double lin_loss(void *c) {
    LinCtx *k = c;
    if (k->relu) linear_relu_forward(k->y, k->x, k->W, k->b, k->B, k->in, k->out);
    else linear_forward(k->y, k->x, k->W, k->b, k->B, k->in, k->out);
    double s = 0.0;
    for (int i = 0; i < k->B * k->out; i++) s += (double)k->r[i] * k->y[i];
    return s;
}

static unsigned lin_mask(void *c) {
    LinCtx *k = c;
    unsigned h = 2166136261u;
    for (int i = 0; i < k->B * k->out; i++) h = (h ^ (k->y[i] > 0)) * 16777619u;
    return h;
}

static void fd_linear(int relu) {
    LinCtx k = {.B = 5, .in = 7, .out = 6, .relu = relu};
    Rng r;
    rng_seed(&r, 11 + relu);
    k.x = rand_buf(&r, k.B * k.in, -1, 1);
    k.W = rand_buf(&r, k.out * k.in, -1, 1);
    k.b = rand_buf(&r, k.out, -0.5, 0.5);
    k.y = xmalloc(k.B * k.out * 4);
    k.r = rand_buf(&r, k.B * k.out, -1, 1);
    float *dx = xmalloc(k.B * k.in * 4), *dW = xcalloc(k.out * k.in, 4), *db = xcalloc(k.out, 4);
    float *dy = copy_buf(k.r, k.B * k.out);
    lin_loss(&k);
    if (relu) linear_relu_backward(dx, dW, db, dy, k.y, k.x, k.W, k.B, k.in, k.out);
    else linear_backward(dx, dW, db, dy, k.x, k.W, k.B, k.in, k.out);
    const char *nm = relu ? "linear+relu" : "linear";
    char what[64];
    unsigned (*mask)(void *) = relu ? lin_mask : NULL;
    snprintf(what, sizeof what, "%s dx", nm);
    fd_check(what, k.x, dx, k.B * k.in, 1e-2f, lin_loss, &k, mask, 1e-3, 1e-2);
    snprintf(what, sizeof what, "%s dW", nm);
    fd_check(what, k.W, dW, k.out * k.in, 1e-2f, lin_loss, &k, mask, 1e-3, 1e-2);
    snprintf(what, sizeof what, "%s db", nm);
    fd_check(what, k.b, db, k.out, 1e-2f, lin_loss, &k, mask, 1e-3, 1e-2);
    free(k.x), free(k.W), free(k.b), free(k.y), free(k.r), free(dx), free(dW), free(db), free(dy);
}

typedef struct {
    long n;
    float *x, *y, *r;
} ReluCtx;

static double relu_loss(void *c) {
    ReluCtx *k = c;
    relu_forward(k->y, k->x, k->n);
    double s = 0.0;
    for (long i = 0; i < k->n; i++) s += (double)k->r[i] * k->y[i];
    return s;
}

static void fd_relu(void) {
    ReluCtx k = {.n = 40};
    Rng r;
    rng_seed(&r, 21);
    k.x = rand_buf(&r, k.n, -1, 1);
    for (long i = 0; i < k.n; i++) /* away from the kink: |x| >= 0.1 > eps */
        if (fabsf(k.x[i]) < 0.1f) k.x[i] = k.x[i] < 0 ? -0.1f - k.x[i] : 0.1f + k.x[i];
    k.y = xmalloc(k.n * 4);
    k.r = rand_buf(&r, k.n, -1, 1);
    float *dx = xmalloc(k.n * 4);
    relu_loss(&k);
    relu_backward(dx, k.r, k.y, k.n);
    fd_check("relu dx", k.x, dx, (int)k.n, 1e-2f, relu_loss, &k, NULL, 1e-4, 1e-3);
    free(k.x), free(k.y), free(k.r), free(dx);
}

typedef struct {
    int B, F, w, c0, d;
    float *v, *out, *r;
} FmCtx;

static double fm_loss(void *c) {
    FmCtx *k = c;
    fm_forward(k->out, k->v, k->B, k->F, k->w, k->c0, k->d);
    double s = 0.0;
    for (int i = 0; i < k->B; i++) s += (double)k->r[i] * k->out[i];
    return s;
}

static void fd_fm(void) {
    FmCtx k = {.B = 4, .F = 5, .w = 6, .c0 = 1, .d = 4};
    Rng r;
    rng_seed(&r, 31);
    int n = k.B * k.F * k.w;
    k.v = rand_buf(&r, n, -1, 1);
    k.out = xmalloc(k.B * 4);
    k.r = rand_buf(&r, k.B, -1, 1);
    float *dv = xcalloc(n, 4);
    fm_backward(dv, k.r, k.v, k.B, k.F, k.w, k.c0, k.d);
    fd_check("fm dv", k.v, dv, n, 1e-2f, fm_loss, &k, NULL, 1e-3, 1e-2);
    free(k.v), free(k.out), free(k.r), free(dv);
}

typedef struct {
    int B;
    float *z;
    unsigned char *y;
} BceCtx;

static double bce_loss(void *c) {
    BceCtx *k = c;
    return bce_forward(k->z, k->y, k->B);
}

static void fd_bce(void) {
    float z[8] = {-4.0f, -1.2f, -0.3f, 0.1f, 0.8f, 2.0f, 5.0f, -0.05f};
    unsigned char y[8] = {0, 1, 0, 1, 1, 0, 1, 0};
    BceCtx k = {8, z, y};
    float dz[8];
    bce_backward(dz, z, y, 8);
    fd_check("bce dlogits", z, dz, 8, 1e-3f, bce_loss, &k, NULL, 1e-5, 1e-3);
}

int main(void) {
    test_bound_catches();
    /* fast vs ref: odd sizes, a row-count below and above the thread split, with and without bias */
    for (int t = 1; t <= 2; t++) {
        test_linear_vs_ref(1, 1, 1, 1, t, 1);
        test_linear_vs_ref(37, 29, 23, 1, t, 2);
        test_linear_vs_ref(37, 29, 1, 1, t, 3);
        test_linear_vs_ref(13, 5, 3, 0, t, 4);
        test_linear_vs_ref(300, 200, 150, 1, t, 5);
        test_linear_vs_ref(3000, 400, 1, 1, t, 6); /* the output layer's gemv path, threaded */
    }
    test_linear_threads();
    test_relu();
    test_fm_vs_ref(1, 1, 1, 0, 1);
    test_fm_vs_ref(7, 5, 5, 1, 4);
    test_fm_vs_ref(33, 39, 17, 1, 16);
    test_fm_vs_ref(5, 3, 80, 0, 70); /* more than one column chunk */
    test_fm_vs_ref(4, 6, 9, 2, 3);
    for (int t = 1; t <= 2; t++) {
        test_deepfm_input_vs_ref(1, 1, 1, t);
        test_deepfm_input_vs_ref(33, 39, 16, t);
        test_deepfm_input_vs_ref(5, 3, 70, t); /* more than one column chunk */
        test_out_relu_vs_ref(1, 1, t);
        test_out_relu_vs_ref(37, 29, t);
        test_out_relu_vs_ref(3000, 400, t);
    }
    test_bce();
    /* finite differences */
    fd_linear(0);
    fd_linear(1);
    fd_relu();
    fd_fm();
    fd_bce();
    return t_report("test_layers");
}
