/* optim: Adam (default), Adagrad and SGD (SPEC 5). The dense form updates every parameter; the sparse
 * ("lazy") form updates only the embedding rows a batch touched, each once, with the step count of
 * the whole run for Adam's bias correction (as TensorFlow's LazyAdam and PyTorch's SparseAdam). Adam's
 * step is torch.optim.Adam's, lr * m_hat / (sqrt(v_hat) + eps), in both forms; LazyAdam and SparseAdam
 * add eps to sqrt(v) instead (lr sqrt(1 - beta2^k) / (1 - beta1^k) * m / (sqrt(v) + eps)), which
 * differs only where sqrt(v_hat) is not far above eps (tests/fixtures/gen_strategy_fixture.py). */
#ifndef HASHEMB_OPTIM_H
#define HASHEMB_OPTIM_H

#include <stddef.h>
#include <stdint.h>

/* The optimizers, one line each: X(kind, its --optim name, floats of state per parameter). The enum,
 * the names and the state counts come from this list, so none can be missing; the switches on OptKind
 * have no default, so -Wswitch names a kind without its case. */
#define OPT_LIST(X)                                                                                \
    X(OPT_ADAM, "adam", 2)                                                                         \
    X(OPT_ADAGRAD, "adagrad", 1)                                                                   \
    X(OPT_SGD, "sgd", 0)

typedef enum {
#define OPT_KIND_(kind, name, state) kind,
    OPT_LIST(OPT_KIND_)
#undef OPT_KIND_
    OPT_NKINDS
} OptKind;
extern const char *const OPT_NAMES[OPT_NKINDS]; /* "adam", "adagrad", "sgd" */

typedef struct {
    OptKind kind;
    float lr, beta1, beta2, eps;
    float emb_l2;  /* L2 on touched embedding rows: g += emb_l2 * w */
    long step;     /* steps taken so far (Adam bias correction); optim_begin_step increments it */
    /* bias corrections of the current step, computed once per step */
    float bc1, bc2;
} Optim;

void optim_init(Optim *o, OptKind kind, float lr, float emb_l2);
/* How many floats of state a parameter needs (Adam 2, Adagrad 1, SGD 0). */
int optim_state_per_param(OptKind kind);
void optim_begin_step(Optim *o);

/* Dense: every one of n parameters. m, v: state arrays (NULL where the kind has none). */
void optim_dense(const Optim *o, float *w, const float *g, float *m, float *v, size_t n);
/* One row of width n with gradient g (the embedding L2 term is added here). */
void optim_row(const Optim *o, float *w, const float *g, float *m, float *v, int n);
/* The plain per-element forms; the fast ones above equal them bit for bit (tested). */
void optim_dense_ref(const Optim *o, float *w, const float *g, float *m, float *v, size_t n);
void optim_row_ref(const Optim *o, float *w, const float *g, float *m, float *v, int n);

#endif
