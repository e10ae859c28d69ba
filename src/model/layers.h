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

/* DeepFM's input stage over the embedding rows v (B, F, d+1), column 0 of each field its first-order
 * weight, in one pass per row: x0 (B, F*d) = columns 1..d (the MLP input) and
 * wide[b] = bias + sum_f v[b,f,0] + FM(columns 1..d). Backward, also one pass (dv overwritten):
 * dv[b,f,0] = dout[b], dv[b,f,1+k] = dx0[b,f*d+k] + dout[b] * (sum_f' v[b,f',1+k] - v[b,f,1+k]),
 * dx0 being the MLP's gradient wrt x0. The _ref are the copies plus fm_*_ref. */
void deepfm_input_forward(float *x0, float *wide, const float *v, float bias, int B, int F, int d);
void deepfm_input_forward_ref(float *x0, float *wide, const float *v, float bias, int B, int F, int d);
void deepfm_input_backward(float *dv, const float *dx0, const float *dout, const float *v, int B, int F,
                           int d);
void deepfm_input_backward_ref(float *dv, const float *dx0, const float *dout, const float *v, int B,
                               int F, int d);

/* Backward of the output layer z = h w + b (Linear(in, 1)) on a ReLU output h (B, in): dw += h^T dz,
 * db += sum_b dz, and, in one pass, dh[b,i] = h[b,i] > 0 ? dz[b] w[i] : 0 (the gradient wrt the
 * pre-activation of h, overwritten) with dbh += its column sums (the bias gradient of the layer that
 * made h). Equal to linear_backward then the masking of linear_relu_backward (tests check it). */
void linear_out_relu_backward(float *dh, float *dbh, float *dw, float *db, const float *dz,
                              const float *h, const float *w, int B, int in);

/* Binary cross-entropy on logits, mean over the batch: returns the mean loss (double accumulation);
 * dlogits[b] = (sigmoid(z_b) - y_b) / B. Numerically stable for large |z|. */
double bce_forward(const float *logits, const unsigned char *labels, int B);
void bce_backward(float *dlogits, const float *logits, const unsigned char *labels, int B);

#endif
