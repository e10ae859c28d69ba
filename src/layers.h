/* layers: forward/backward pairs of free functions, outputs first, then inputs, weights, sizes
 * (llm.c's convention). Backward adds (+=) into weight gradients; input gradients are overwritten
 * unless noted. Each fast kernel has a plain `_ref` beside it that the tests compare against. */
#ifndef HASHEMB_LAYERS_H
#define HASHEMB_LAYERS_H

/* y = x W^T + b   x (B, in), W (out, in), b (out), y (B, out); cblas_sgemm */
void linear_forward(float *y, const float *x, const float *W, const float *b, int B, int in, int out);
void linear_forward_ref(float *y, const float *x, const float *W, const float *b, int B, int in, int out);
/* dx = dy W (overwritten; skipped when dx is NULL), dW += dy^T x, db += sum_rows dy */
void linear_backward(float *dx, float *dW, float *db, const float *dy, const float *x, const float *W,
                     int B, int in, int out);
void linear_backward_ref(float *dx, float *dW, float *db, const float *dy, const float *x,
                         const float *W, int B, int in, int out);

/* Fused Linear+ReLU, what the model's hidden layers run: y = relu(x W^T + b) in one pass after the
 * sgemm. Backward takes dy (B, out), the gradient wrt the ReLU output y, and masks it in place into
 * the gradient wrt the pre-activation (so dy is clobbered); db in the same pass; then as
 * linear_backward. Equal to linear_* followed by relu_* (tests check it). */
void linear_relu_forward(float *y, const float *x, const float *W, const float *b, int B, int in, int out);
void linear_relu_backward(float *dx, float *dW, float *db, float *dy, const float *y, const float *x,
                          const float *W, int B, int in, int out);

/* y = max(x, 0), n elements (may be in place) ; dx = dy * (y > 0) */
void relu_forward(float *y, const float *x, long n);
void relu_backward(float *dx, const float *dy, const float *y, long n);

/* FM over v (B, F, w) using columns [c0, c0+d) of each row: out[b] = 0.5 * sum_k((sum_f v)^2 - sum_f v^2)
 * backward: dv[b,f,c0+k] = dout[b] * (sum_f' v[b,f',c0+k] - v[b,f,c0+k])  (added, +=) */
void fm_forward(float *out, const float *v, int B, int F, int w, int c0, int d);
void fm_backward(float *dv, const float *dout, const float *v, int B, int F, int w, int c0, int d);
void fm_forward_ref(float *out, const float *v, int B, int F, int w, int c0, int d);
void fm_backward_ref(float *dv, const float *dout, const float *v, int B, int F, int w, int c0, int d);

/* Binary cross-entropy on logits, mean over the batch: returns the mean loss (double accumulation);
 * dlogits[b] = (sigmoid(z_b) - y_b) / B. Numerically stable for large |z|. */
double bce_forward(const float *logits, const unsigned char *labels, int B);
void bce_backward(float *dlogits, const float *logits, const unsigned char *labels, int B);

#endif
