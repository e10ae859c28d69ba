/* layers: linear (cblas_sgemm), ReLU, FM and BCE, each fast kernel beside a plain `_ref`.
 * BLAS is called only outside OpenMP regions (SPEC 8): the OpenMP build of OpenBLAS runs on the same
 * threads. Element-wise loops are `omp parallel for` with a static schedule over the index written,
 * and every sum runs in a fixed order, so the results do not depend on the thread count. */
#include "model/layers.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------- */
/* element-wise helpers shared by linear and the fused linear+ReLU */

/* Why the sgemms run with beta = 1 on a prefilled C: OpenBLAS 0.3.21 first scales C by beta in a
 * separate pass (sgemm_beta), and for beta = 0 that pass cost 15-25% of a 4096x400x400 product here,
 * several times a parallel fill. So the forward fills y with the bias and adds the product onto it
 * (y = b + x W^T, the bias pass fused away), and dx is zeroed here and accumulated into. */

/* y[b,:] = bias (zero when bias is NULL); rows split statically */
static void fill_rows(float *y, const float *bias, int B, int out) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < B; r++) {
        float *yr = y + (size_t)r * out;
        if (bias)
            for (int j = 0; j < out; j++) yr[j] = bias[j];
        else
            for (int j = 0; j < out; j++) yr[j] = 0.0f;
    }
}

/* y = max(y, 0) written as `v < 0 ? 0 : v`, so a NaN passes through (a diverged run must show as NaN,
 * not as a silent 0). */
static void relu_inplace(float *y, long n) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) y[i] = y[i] < 0.0f ? 0.0f : y[i];
}

/* Column sums of dy (B, out) added into db (out). Parallel over blocks of columns (the index
 * written); each column is summed in row order. */
#define COLBLOCK 16

/* Eight floats as a GCC/Clang vector; loads and stores go through memcpy, so alignment does not
 * matter. The column-blocked passes below use two of them per full block of COLBLOCK columns (gcc
 * leaves the plain loops scalar there); each lane still sums its column in row order. */
/* (passed by value: without AVX enabled, as in `make asan`, gcc warns at each call that this changes
 * the ABI; only this file's static inline helpers take them, so the warning is off for the file) */
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float v8f __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));
static inline v8f v8_load(const float *p) {
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void v8_store(float *p, v8f v) { memcpy(p, &v, sizeof v); }
/* y > 0 ? x : 0 per lane (a NaN y gives 0, as the scalar `y > 0.0f ? x : 0.0f`) */
static inline v8f v8_where_pos(v8f y, v8f x) { return (v8f)((v8i)x & (y > (v8f){0})); }
static void colsum(float *db, const float *dy, int B, int out) {
    int nblocks = (out + COLBLOCK - 1) / COLBLOCK;
#pragma omp parallel for schedule(static)
    for (int jb = 0; jb < nblocks; jb++) {
        int j0 = jb * COLBLOCK, n = out - j0 < COLBLOCK ? out - j0 : COLBLOCK;
        float acc[COLBLOCK] = {0};
        for (int r = 0; r < B; r++) {
            const float *g = dy + (size_t)r * out + j0;
            for (int j = 0; j < n; j++) acc[j] += g[j];
        }
        for (int j = 0; j < n; j++) db[j0 + j] += acc[j];
    }
}

/* The same, after masking dy in place by y > 0 (ReLU backward): one pass instead of two. dx (B, in),
 * when not NULL, is zeroed in the same parallel region, ready for the beta = 1 sgemm. */
static void colsum_relu_mask(float *db, float *dy, const float *y, float *dx, int B, int in, int out) {
    int nblocks = (out + COLBLOCK - 1) / COLBLOCK;
#pragma omp parallel
    {
        if (dx) {
#pragma omp for schedule(static) nowait
            for (int r = 0; r < B; r++) memset(dx + (size_t)r * in, 0, (size_t)in * sizeof(float));
        }
#pragma omp for schedule(static)
        for (int jb = 0; jb < nblocks; jb++) {
            int j0 = jb * COLBLOCK, n = out - j0 < COLBLOCK ? out - j0 : COLBLOCK;
            float acc[COLBLOCK] = {0};
            if (n == COLBLOCK) {
                v8f a0 = {0}, a1 = {0};
                for (int r = 0; r < B; r++) {
                    float *g = dy + (size_t)r * out + j0;
                    const float *yr = y + (size_t)r * out + j0;
                    v8f g0 = v8_where_pos(v8_load(yr), v8_load(g));
                    v8f g1 = v8_where_pos(v8_load(yr + 8), v8_load(g + 8));
                    v8_store(g, g0);
                    v8_store(g + 8, g1);
                    a0 += g0;
                    a1 += g1;
                }
                v8_store(acc, a0);
                v8_store(acc + 8, a1);
            } else {
                for (int r = 0; r < B; r++) {
                    float *g = dy + (size_t)r * out + j0;
                    const float *yr = y + (size_t)r * out + j0;
                    for (int j = 0; j < n; j++) {
                        g[j] = yr[j] > 0.0f ? g[j] : 0.0f;
                        acc[j] += g[j];
                    }
                }
            }
            for (int j = 0; j < n; j++) db[j0 + j] += acc[j];
        }
    }
}

/* dx += dy W (B, in), dx zeroed by the caller; dW += dy^T x (out, in) */
static void linear_backward_gemms(float *dx, float *dW, const float *dy, const float *x,
                                  const float *W, int B, int in, int out) {
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, in, out, 1.0f, dy, out, W, in,
                    1.0f, dx, in);
    if (dW)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, B, 1.0f, dy, out, x, in, 1.0f,
                    dW, in);
}

/* ---------------------------------------------------------------------------------------------- */
/* linear; the references sum in double, so they are the accurate side of the comparison */

void linear_forward(float *y, const float *x, const float *W, const float *b, int B, int in,
                    int out) {
    if (out == 1) { /* the model's output layer: sgemm with N = 1 would pack all of x first */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, B, in, 1.0f, x, in, W, 1, 0.0f, y, 1);
        if (b)
            for (int r = 0; r < B; r++) y[r] += b[0];
        return;
    }
    fill_rows(y, b, B, out);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, out, in, 1.0f, x, in, W, in, 1.0f, y,
                out);
}

void linear_forward_ref(float *y, const float *x, const float *W, const float *b, int B, int in,
                        int out) {
    for (int r = 0; r < B; r++)
        for (int o = 0; o < out; o++) {
            double s = 0.0;
            for (int i = 0; i < in; i++)
                s += (double)x[(size_t)r * in + i] * W[(size_t)o * in + i];
            y[(size_t)r * out + o] = (float)(s + (b ? b[o] : 0.0f));
        }
}

void linear_backward(float *dx, float *dW, float *db, const float *dy, const float *x,
                     const float *W, int B, int in, int out) {
    if (out == 1) { /* an outer product and a gemv, not two sgemms with a dimension of 1 */
        if (db) {
            double s = 0.0;
            for (int r = 0; r < B; r++) s += dy[r];
            db[0] += (float)s;
        }
        if (dW) cblas_sgemv(CblasRowMajor, CblasTrans, B, in, 1.0f, x, in, dy, 1, 1.0f, dW, 1);
        if (dx) {
#pragma omp parallel for schedule(static)
            for (int r = 0; r < B; r++)
                for (int i = 0; i < in; i++) dx[(size_t)r * in + i] = dy[r] * W[i];
        }
        return;
    }
    if (db) colsum(db, dy, B, out);
    if (dx) fill_rows(dx, NULL, B, in);
    linear_backward_gemms(dx, dW, dy, x, W, B, in, out);
}

void linear_backward_ref(float *dx, float *dW, float *db, const float *dy, const float *x,
                         const float *W, int B, int in, int out) {
    if (dx)
        for (int r = 0; r < B; r++)
            for (int i = 0; i < in; i++) {
                double s = 0.0;
                for (int o = 0; o < out; o++)
                    s += (double)dy[(size_t)r * out + o] * W[(size_t)o * in + i];
                dx[(size_t)r * in + i] = (float)s;
            }
    if (dW)
        for (int o = 0; o < out; o++)
            for (int i = 0; i < in; i++) {
                double s = 0.0;
                for (int r = 0; r < B; r++)
                    s += (double)dy[(size_t)r * out + o] * x[(size_t)r * in + i];
                dW[(size_t)o * in + i] += (float)s;
            }
    if (db)
        for (int o = 0; o < out; o++) {
            double s = 0.0;
            for (int r = 0; r < B; r++) s += dy[(size_t)r * out + o];
            db[o] += (float)s;
        }
}

void linear_relu_forward(float *y, const float *x, const float *W, const float *b, int B, int in,
                         int out) {
    fill_rows(y, b, B, out);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, out, in, 1.0f, x, in, W, in, 1.0f, y,
                out);
    relu_inplace(y, (long)B * out);
}

void linear_relu_backward(float *dx, float *dW, float *db, float *dy, const float *y, const float *x,
                          const float *W, int B, int in, int out) {
    colsum_relu_mask(db, dy, y, dx, B, in, out);
    linear_backward_gemms(dx, dW, dy, x, W, B, in, out);
}

/* One column-blocked pass over h, as colsum_relu_mask: per column j, dh = mask * dz w[j] written,
 * its sum into dbh[j] and sum_b h[b,j] dz[b] into dw[j], each in row order. */
void linear_out_relu_backward(float *dh, float *dbh, float *dw, float *db, const float *dz,
                              const float *h, const float *w, int B, int in) {
    if (db) {
        double s = 0.0;
        for (int r = 0; r < B; r++) s += dz[r];
        db[0] += (float)s;
    }
    int nblocks = (in + COLBLOCK - 1) / COLBLOCK;
#pragma omp parallel for schedule(static)
    for (int jb = 0; jb < nblocks; jb++) {
        int j0 = jb * COLBLOCK, n = in - j0 < COLBLOCK ? in - j0 : COLBLOCK;
        float acc[COLBLOCK] = {0}, accw[COLBLOCK] = {0}, wj[COLBLOCK] = {0};
        for (int j = 0; j < n; j++) wj[j] = w[j0 + j];
        const v8f w0 = v8_load(wj), w1 = v8_load(wj + 8);
        v8f a0 = {0}, a1 = {0}, aw0 = {0}, aw1 = {0};
        for (int r = 0; r < B; r++) {
            float *g = dh + (size_t)r * in + j0;
            const float *hr = h + (size_t)r * in + j0;
            const float z = dz[r];
            if (n == COLBLOCK) {
                v8f h0 = v8_load(hr), h1 = v8_load(hr + 8);
                v8f g0 = v8_where_pos(h0, z * w0), g1 = v8_where_pos(h1, z * w1);
                v8_store(g, g0);
                v8_store(g + 8, g1);
                a0 += g0;
                a1 += g1;
                aw0 += h0 * z;
                aw1 += h1 * z;
            } else {
                for (int j = 0; j < n; j++) {
                    float hv = hr[j], v = hv > 0.0f ? z * wj[j] : 0.0f;
                    g[j] = v;
                    acc[j] += v;
                    accw[j] += hv * z;
                }
            }
        }
        if (n == COLBLOCK) {
            v8_store(acc, a0);
            v8_store(acc + 8, a1);
            v8_store(accw, aw0);
            v8_store(accw + 8, aw1);
        }
        for (int j = 0; j < n; j++) {
            if (dbh) dbh[j0 + j] += acc[j];
            if (dw) dw[j0 + j] += accw[j];
        }
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* ReLU */

void relu_forward(float *y, const float *x, long n) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

void relu_backward(float *dx, const float *dy, const float *y, long n) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* ---------------------------------------------------------------------------------------------- */
/* FM: per row, the field sums s_k = sum_f v_fk once (O(F d)) instead of the O(F^2 d) pairs.
 * Columns go in chunks of FMCHUNK so the sums live on the stack whatever d is; within a chunk the
 * loop over k is innermost and independent per k, so it vectorises without reordering any sum. */
#define FMCHUNK 64

void fm_forward(float *out, const float *v, int B, int F, int w, int c0, int d) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < B; r++) {
        const float *vr = v + (size_t)r * F * w + c0;
        float total = 0.0f;
        for (int k0 = 0; k0 < d; k0 += FMCHUNK) {
            int n = d - k0 < FMCHUNK ? d - k0 : FMCHUNK;
            float s[FMCHUNK] = {0}, q[FMCHUNK] = {0};
            for (int f = 0; f < F; f++) {
                const float *vf = vr + (size_t)f * w + k0;
                for (int k = 0; k < n; k++) {
                    s[k] += vf[k];
                    q[k] += vf[k] * vf[k];
                }
            }
            for (int k = 0; k < n; k++) total += s[k] * s[k] - q[k];
        }
        out[r] = 0.5f * total;
    }
}

void fm_backward(float *dv, const float *dout, const float *v, int B, int F, int w, int c0, int d) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < B; r++) {
        const float *vr = v + (size_t)r * F * w + c0;
        float *dr = dv + (size_t)r * F * w + c0;
        float g = dout[r];
        for (int k0 = 0; k0 < d; k0 += FMCHUNK) {
            int n = d - k0 < FMCHUNK ? d - k0 : FMCHUNK;
            float s[FMCHUNK] = {0};
            for (int f = 0; f < F; f++)
                for (int k = 0; k < n; k++) s[k] += vr[(size_t)f * w + k0 + k];
            for (int f = 0; f < F; f++)
                for (int k = 0; k < n; k++) {
                    size_t i = (size_t)f * w + k0 + k;
                    dr[i] += g * (s[k] - vr[i]);
                }
        }
    }
}

/* the textbook pairwise form: sum over f < f' of <v_f, v_f'> */
void fm_forward_ref(float *out, const float *v, int B, int F, int w, int c0, int d) {
    for (int r = 0; r < B; r++) {
        const float *vr = v + (size_t)r * F * w + c0;
        double total = 0.0;
        for (int f = 0; f < F; f++)
            for (int f2 = f + 1; f2 < F; f2++)
                for (int k = 0; k < d; k++)
                    total += (double)vr[(size_t)f * w + k] * vr[(size_t)f2 * w + k];
        out[r] = (float)total;
    }
}

/* d/dv_fk of the pairwise sum: sum over f' != f of v_f'k */
void fm_backward_ref(float *dv, const float *dout, const float *v, int B, int F, int w, int c0,
                     int d) {
    for (int r = 0; r < B; r++) {
        const float *vr = v + (size_t)r * F * w + c0;
        float *dr = dv + (size_t)r * F * w + c0;
        for (int f = 0; f < F; f++)
            for (int k = 0; k < d; k++) {
                double s = 0.0;
                for (int f2 = 0; f2 < F; f2++)
                    if (f2 != f) s += vr[(size_t)f2 * w + k];
                dr[(size_t)f * w + k] += (float)(dout[r] * s);
            }
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* DeepFM's input stage: the copy into the MLP input and the wide part (first order + FM) share one
 * read of each embedding row; backward writes each gradient row once. Sums run in the order of
 * fm_forward / fm_backward, so the results equal the unfused sequence exactly. */

void deepfm_input_forward(float *x0, float *wide, const float *v, float bias, int B, int F, int d) {
    const int w = d + 1;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < B; r++) {
        const float *vr = v + (size_t)r * F * w;
        float *xr = x0 + (size_t)r * F * d;
        float lin = 0.0f, total = 0.0f;
        for (int f = 0; f < F; f++) lin += vr[(size_t)f * w];
        for (int k0 = 0; k0 < d; k0 += FMCHUNK) {
            int n = d - k0 < FMCHUNK ? d - k0 : FMCHUNK;
            float s[FMCHUNK] = {0}, q[FMCHUNK] = {0};
            for (int f = 0; f < F; f++) {
                const float *vf = vr + (size_t)f * w + 1 + k0;
                float *xf = xr + (size_t)f * d + k0;
                for (int k = 0; k < n; k++) {
                    xf[k] = vf[k];
                    s[k] += vf[k];
                    q[k] += vf[k] * vf[k];
                }
            }
            for (int k = 0; k < n; k++) total += s[k] * s[k] - q[k];
        }
        wide[r] = bias + lin + 0.5f * total;
    }
}

void deepfm_input_forward_ref(float *x0, float *wide, const float *v, float bias, int B, int F, int d) {
    const int w = d + 1;
    fm_forward_ref(wide, v, B, F, w, 1, d);
    for (int r = 0; r < B; r++) {
        double lin = 0.0;
        for (int f = 0; f < F; f++) {
            const float *vf = v + ((size_t)r * F + f) * w;
            lin += vf[0];
            for (int k = 0; k < d; k++) x0[((size_t)r * F + f) * d + k] = vf[1 + k];
        }
        wide[r] = (float)(bias + lin + wide[r]);
    }
}

void deepfm_input_backward(float *dv, const float *dx0, const float *dout, const float *v, int B, int F,
                           int d) {
    const int w = d + 1;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < B; r++) {
        const float *vr = v + (size_t)r * F * w;
        const float *gr = dx0 + (size_t)r * F * d;
        float *dr = dv + (size_t)r * F * w;
        const float g = dout[r];
        for (int f = 0; f < F; f++) dr[(size_t)f * w] = g;
        for (int k0 = 0; k0 < d; k0 += FMCHUNK) {
            int n = d - k0 < FMCHUNK ? d - k0 : FMCHUNK;
            float s[FMCHUNK] = {0};
            for (int f = 0; f < F; f++)
                for (int k = 0; k < n; k++) s[k] += vr[(size_t)f * w + 1 + k0 + k];
            for (int f = 0; f < F; f++)
                for (int k = 0; k < n; k++) {
                    size_t i = (size_t)f * w + 1 + k0 + k;
                    dr[i] = gr[(size_t)f * d + k0 + k] + g * (s[k] - vr[i]);
                }
        }
    }
}

void deepfm_input_backward_ref(float *dv, const float *dx0, const float *dout, const float *v, int B,
                               int F, int d) {
    const int w = d + 1;
    for (int r = 0; r < B; r++)
        for (int f = 0; f < F; f++) {
            float *df = dv + ((size_t)r * F + f) * w;
            df[0] = dout[r];
            for (int k = 0; k < d; k++) df[1 + k] = dx0[((size_t)r * F + f) * d + k];
        }
    fm_backward_ref(dv, dout, v, B, F, w, 1, d);
}

/* ---------------------------------------------------------------------------------------------- */
/* BCE on logits: loss = max(z, 0) - z y + log1p(exp(-|z|)), never exp of a large positive number */

double bce_forward(const float *logits, const unsigned char *labels, int B) {
    double sum = 0.0;
    for (int r = 0; r < B; r++) {
        double z = logits[r], y = labels[r] ? 1.0 : 0.0;
        sum += (z > 0 ? z : 0.0) - z * y + log1p(exp(-fabs(z)));
    }
    return sum / B;
}

void bce_backward(float *dlogits, const float *logits, const unsigned char *labels, int B) {
    for (int r = 0; r < B; r++) {
        double z = logits[r], p;
        if (z >= 0) {
            p = 1.0 / (1.0 + exp(-z));
        } else {
            double ez = exp(z);
            p = ez / (1.0 + ez);
        }
        dlogits[r] = (float)((p - (labels[r] ? 1.0 : 0.0)) / B);
    }
}
