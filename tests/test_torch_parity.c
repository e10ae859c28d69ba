/* test_torch_parity: the C model against PyTorch on the frozen fixture tests/fixtures/torch_parity.txt
 * (made by tests/fixtures/gen_torch_fixture.py in float64 from float32 inputs). For each backbone:
 * load the fixture's weights and embeddings, run forward, BCE, backward, and compare the logits, the
 * loss, every dense-parameter gradient and the embedding gradient within 1e-5 (absolute, or relative
 * to the value when it is above 1). Needs no Python; run from the repository root. */
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "model/layers.h"
#include "model/model.h"
#include "testing.h"
#include "core/util.h"

#define FIXTURE "tests/fixtures/torch_parity.txt"
static Fixture fx;

/* the array `kind.name`, which must have n values (n < 0: any) */
static const FixArray *get(const char *kind, const char *name, int n) { return fixture_get(&fx, kind, name, n); }

static void to_float(float *dst, const FixArray *a) {
    for (int i = 0; i < a->n; i++) dst[i] = (float)a->v[i];
}

/* |c - t| <= 1e-5 * max(1, |t|) for every element */
static void compare(const char *kind, const char *name, const float *c, const FixArray *t) {
    double worst = 0.0, tmax = 0.0;
    int at = -1;
    for (int i = 0; i < t->n; i++) {
        double err = fabs((double)c[i] - t->v[i]) / fmax(1.0, fabs(t->v[i]));
        if (!(err <= worst)) worst = err, at = i;
        tmax = fmax(tmax, fabs(t->v[i]));
    }
    T_CHECK(worst <= 1e-5, "%s %s: max err %.3g at [%d] (C %.9g, torch %.9g)", kind, name, worst, at,
            at >= 0 ? c[at] : 0.0, at >= 0 ? t->v[at] : 0.0);
    /* a comparison of zeros would prove nothing */
    T_CHECK(tmax > 1e-4, "%s %s: the torch values are all (near) zero", kind, name);
}

static void test_kind(ModelKind kind) {
    const char *k = MODEL_NAMES[kind];
    const FixArray *shape = get(k, "shape", -1);
    T_CHECK(shape && shape->n >= 4 && shape->n == 4 + (int)shape->v[3], "%s: bad shape array", k);
    if (!shape || shape->n < 4 || shape->n != 4 + (int)shape->v[3]) return;
    int F = (int)shape->v[0], d = (int)shape->v[1], B = (int)shape->v[2], nh = (int)shape->v[3];
    int hidden[MODEL_MAX_HIDDEN];
    for (int l = 0; l < nh && l < MODEL_MAX_HIDDEN; l++) hidden[l] = (int)shape->v[4 + l];
    Model m;
    Err e;
    int rc = model_init(&m, kind, F, d, hidden, nh, B, 1, &e);
    T_CHECK(rc == 0, "%s: model_init: %s", k, e.msg);
    if (rc) return;

    size_t ne = (size_t)B * F * m.width;
    float *emb = xmalloc(ne * 4), *demb = xmalloc(ne * 4), *logits = xmalloc(B * 4);
    float *dlogits = xmalloc(B * 4);
    unsigned char *labels = xmalloc(B);
    const FixArray *a;
    int ok = 1;
    if ((a = get(k, "emb", (int)ne))) to_float(emb, a);
    else ok = 0;
    if ((a = get(k, "labels", B)))
        for (int i = 0; i < B; i++) labels[i] = a->v[i] > 0.5;
    else ok = 0;
    if (m.bias) {
        if ((a = get(k, "bias", 1))) to_float(m.bias, a);
        else ok = 0;
    }
    char nm[32];
    for (int l = 0; l <= nh; l++) {
        snprintf(nm, sizeof nm, "W%d", l);
        if ((a = get(k, nm, m.out_dim[l] * m.in_dim[l]))) to_float(m.W[l], a);
        else ok = 0;
        snprintf(nm, sizeof nm, "b%d", l);
        if ((a = get(k, nm, m.out_dim[l]))) to_float(m.b[l], a);
        else ok = 0;
    }
    T_CHECK(ok, "%s: fixture incomplete", k);
    if (ok) {
        model_zero_grad(&m);
        model_forward(&m, logits, emb, B);
        float loss = (float)bce_forward(logits, labels, B);
        bce_backward(dlogits, logits, labels, B);
        model_backward(&m, demb, dlogits, emb, B);
        if ((a = get(k, "logits", B))) compare(k, "logits", logits, a);
        if ((a = get(k, "loss", 1))) compare(k, "loss", &loss, a);
        if (m.bias && (a = get(k, "dbias", 1))) compare(k, "dbias", m.grads, a);
        for (int l = 0; l <= nh; l++) {
            snprintf(nm, sizeof nm, "dW%d", l);
            if ((a = get(k, nm, m.out_dim[l] * m.in_dim[l])))
                compare(k, nm, m.grads + (m.W[l] - m.params), a);
            snprintf(nm, sizeof nm, "db%d", l);
            if ((a = get(k, nm, m.out_dim[l]))) compare(k, nm, m.grads + (m.b[l] - m.params), a);
        }
        if ((a = get(k, "demb", (int)ne))) compare(k, "demb", demb, a);
    }
    free(emb), free(demb), free(logits), free(dlogits), free(labels);
    model_free(&m);
}

int main(void) {
    int rc = fixture_load(&fx, FIXTURE);
    T_CHECK(rc == 0, "cannot load %s", FIXTURE);
    if (rc == 0)
        for (int k = 0; k < MODEL_NKINDS; k++) test_kind((ModelKind)k);
    fixture_free(&fx);
    return t_report("test_torch_parity");
}
