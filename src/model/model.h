/* model: the two backbones of SPEC 5 on top of the embedding output.
 *   DeepFM: logit = b + sum_f e_f[0] + FM(e_f[1..d]) + MLP(concat_f e_f[1..d])   (rows are d+1 wide)
 *   MLP:    logit = MLP(concat_f e_f)                                            (rows are d wide)
 * MLP hidden layers are Linear+ReLU with sizes from --mlp, then a Linear to one output; Xavier-uniform
 * weights, zero biases; the DeepFM bias b starts at 0. Dense parameters and their gradients each live in
 * one buffer with named views (llm.c); activations in a third, sized for the largest batch, allocated
 * once. The model knows nothing of how the embeddings were made: it reads emb (B, F, w) and writes
 * demb (B, F, w). Matrix products go through cblas_sgemm, called outside any OpenMP region. */
#ifndef HASHEMB_MODEL_H
#define HASHEMB_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/util.h"

#define MODEL_MAX_HIDDEN 8

/* The backbones, one line each: X(kind, its --model name, its Backbone in a file of its own:
 * bb_deepfm.c, bb_mlp.c). The kind, the name and the table entry come from this list. */
#define MODEL_LIST(X)                                                                              \
    X(MODEL_DEEPFM, "deepfm", BACKBONE_DEEPFM)                                                     \
    X(MODEL_MLP, "mlp", BACKBONE_MLP)

typedef enum {
#define MODEL_KIND_(kind, name, backbone) kind,
    MODEL_LIST(MODEL_KIND_)
#undef MODEL_KIND_
    MODEL_NKINDS
} ModelKind;

/* A backbone: what it reads of the embedding rows and what it adds around the shared tower (the MLP
 * of --mlp's hidden layers and a Linear(last, 1) output, in model.c). A backbone with a head of its
 * own (DeepFM) builds the tower's input from the rows, adds a per-row term to the tower's output, and
 * owns parameters before the tower's; one without (the MLP) feeds the rows to the tower as they are. */
typedef struct {
    int (*width)(int dim);                /* the embedding row width it reads */
    /* the tower's input width per sample; without a head it must be fields x width (model_init checks) */
    long long (*tower_in)(int fields, int dim);
    int own_params;                       /* parameters of its own, first in Model.params (may be 0) */
    int has_head;                         /* 1: input_forward / input_backward below */
    /* x (B, tower_in) and out (B) from the rows emb (B, F, width) and its own parameters own (the
     * start of Model.params) */
    void (*input_forward)(float *x, float *out, const float *emb, const float *own, int B, int F, int d);
    /* from dx (B, tower_in) and dlogits (B): adds into its own parameters' gradients down, and writes
     * demb (B, F, width) when it is not NULL */
    void (*input_backward)(float *demb, float *down, const float *dx, const float *dlogits,
                           const float *emb, int B, int F, int d);
    /* multiply-adds per sample of its head (forward), for the cost model */
    double (*head_macs)(int fields, int dim);
} Backbone;

#define MODEL_DECLARE_(kind, name, backbone) extern const Backbone backbone;
MODEL_LIST(MODEL_DECLARE_)
#undef MODEL_DECLARE_
extern const Backbone *const BACKBONES[MODEL_NKINDS];

extern const char *const MODEL_NAMES[MODEL_NKINDS]; /* "deepfm", "mlp" */
/* "deepfm|mlp": the --model choices for a usage line */
const char *model_names_usage(void);

typedef struct {
    ModelKind kind;
    int fields, dim, width; /* width = dim + 1 (DeepFM) or dim (MLP) */
    int nhidden;
    int hidden[MODEL_MAX_HIDDEN];
    int max_batch;

    /* dense parameters: one buffer, and the same layout for gradients */
    size_t nparams;
    float *params; // (nparams)
    float *grads;  // (nparams)
    /* named views into params (the same offsets into grads via model_grad_view) */
    float *bias;                      // the backbone's own parameters (DeepFM: its bias), NULL without
    float *W[MODEL_MAX_HIDDEN + 1];   // layer l: (out_l, in_l), row-major, as PyTorch's nn.Linear
    float *b[MODEL_MAX_HIDDEN + 1];   // (out_l)
    int in_dim[MODEL_MAX_HIDDEN + 1], out_dim[MODEL_MAX_HIDDEN + 1];

    /* activations for max_batch rows, one buffer */
    size_t nacts;
    float *acts;
    /* opaque views into acts, owned by model.c */
    void *priv;
} Model;

/* Checks its arguments (Err on bad sizes) and initialises the parameters from seed. */
int model_init(Model *m, ModelKind kind, int fields, int dim, const int *hidden, int nhidden,
               int max_batch, uint64_t seed, Err *e);
void model_free(Model *m);

/* logits (B) from emb (B, F, width). Keeps what backward needs in m->acts. */
void model_forward(Model *m, float *logits, const float *emb, int B);

/* Given dlogits (B) for the last forward's batch: adds into m->grads and writes (overwrites) demb
 * (B, F, width); demb NULL skips the input gradient. */
void model_backward(Model *m, float *demb, const float *dlogits, const float *emb, int B);

void model_zero_grad(Model *m);

/* (B, hidden[l]) post-ReLU output of hidden layer l from the last forward; for tests (ReLU kinks). */
const float *model_hidden(const Model *m, int l);

/* The embedding row width a backbone reads (DeepFM d + 1, column 0 the first-order weight; the MLP d). */
int model_width(ModelKind kind, int dim);
/* The layer shapes of the tower (in_dim, out_dim of layers 0..nhidden), its dense parameters and the
 * multiply-adds of one sample's forward (the tower's and the head's): what train, plan --cost and
 * bench read. Returns the number of layers (nhidden + 1). */
int model_shapes(ModelKind kind, int fields, int dim, const int *hidden, int nhidden, int *in_dim,
                 int *out_dim, size_t *nparams, double *macs);
/* Without building it: the checks of model_init, its dense parameter count and the bytes model_bytes
 * will report (either pointer may be NULL). */
int model_size(ModelKind kind, int fields, int dim, const int *hidden, int nhidden, int max_batch,
               size_t *nparams, uint64_t *bytes, Err *e);

/* --mlp's value, the one parser train, plan and bench use: hidden sizes "400,400,400" (each 1 to 65536,
 * at most MODEL_MAX_HIDDEN) or "none" (no hidden layer: the tower is one Linear(in, 1), as the result
 * row's config then says). -1 and an Err naming flag otherwise. */
int model_parse_hidden(const char *s, const char *flag, int *hidden, int *nhidden, Err *e);

/* Bytes of activations + parameters + gradients held by the model. */
size_t model_bytes(const Model *m);

#endif
