/* layers: linear (cblas_sgemm), ReLU, FM and BCE, each fast kernel beside a plain `_ref`.
 * BLAS is called only outside OpenMP regions (SPEC 8): the OpenMP build of OpenBLAS runs on the same
 * threads. Element-wise loops are `omp parallel for` with a static schedule over the index written,
 * and every sum runs in a fixed order, so the results do not depend on the thread count. */
#include "layers.h"

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
            for (int r = 0; r < B; r++) {
                float *g = dy + (size_t)r * out + j0;
                const float *yr = y + (size_t)r * out + j0;
                for (int j = 0; j < n; j++) {
                    g[j] = yr[j] > 0.0f ? g[j] : 0.0f;
                    acc[j] += g[j];
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
