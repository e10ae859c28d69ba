/* bb_deepfm: DeepFM (SPEC 5; Guo et al., IJCAI 2017) as a backbone. Rows are d + 1 wide: column 0 is
 * the field's first-order weight, columns 1..d its factor vector. The head builds the tower's input,
 * the concatenated factor vectors (F d), and adds bias + sum of first-order weights + FM's pairwise
 * interactions to the tower's output; its one parameter is the bias. */
#include "model/layers.h"
#include "model/model.h"

static int deepfm_width(int dim) { return dim + 1; }

static long long deepfm_tower_in(int fields, int dim) { return (long long)fields * dim; }

static void deepfm_forward(float *x, float *out, const float *emb, const float *own, int B, int F, int d) {
    deepfm_input_forward(x, out, emb, own[0], B, F, d);
}

static void deepfm_backward(float *demb, float *down, const float *dx, const float *dlogits, const float *emb,
                            int B, int F, int d) {
    float dsum = 0.0f; /* the bias */
    for (int r = 0; r < B; r++) dsum += dlogits[r];
    down[0] += dsum;
    if (demb) deepfm_input_backward(demb, dx, dlogits, emb, B, F, d); /* first order, then MLP + FM */
}

/* the first-order sum (F), FM's sum of vectors and of squares (2 F d) */
static double deepfm_head_macs(int fields, int dim) { return (double)fields * (2.0 * dim + 1.0); }

const Backbone BACKBONE_DEEPFM = {
    .width = deepfm_width,
    .tower_in = deepfm_tower_in,
    .own_params = 1,
    .has_head = 1,
    .input_forward = deepfm_forward,
    .input_backward = deepfm_backward,
    .head_macs = deepfm_head_macs,
};
