/* emb_qr: the quotient-remainder trick (SPEC 4; Shi et al., KDD 2020, dlrm's QREmbeddingBag): a
 * quotient table Q of ceil(N_f / m) rows (tables[0]) and a remainder table R of m rows (tables[1]);
 * vector(id) = Q[id / m] op R[id mod m]. mult and add: both w wide; concat: Q holds the first ceil(w/2)
 * columns (column 0, DeepFM's first-order weight, among them), R the other floor(w/2).
 * The division by the field's constant m is a multiply by a precomputed reciprocal (Lemire's fastdiv). */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "emb/emb_qr.h"

const char *const QR_OP_NAMES[QR_NOPS] = {"mult", "add", "concat"};

static inline const QrLayout *layout(const EmbFieldPlan *fp) { return (const QrLayout *)fp->layout; }

/* --- options --- */

static int parse_op(void *sopt, const char *value, const char *flag, Err *e) {
    return parse_name(value, QR_OP_NAMES, QR_NOPS, flag, &((QrOptions *)sopt)->op, e);
}

static const EmbFlag QR_FLAGS[] = {
    {"qr-op", "  --qr-op mult|add|concat            qr: how quotient and remainder vectors combine (default mult)\n",
     parse_op, offsetof(QrOptions, op), sizeof(int)},
};

static void qr_variant(const void *sopt, long compress_min, char *buf, size_t n) {
    snprintf(buf, n, "qr:%s:cm%ld", QR_OP_NAMES[((const QrOptions *)sopt)->op], compress_min);
}

/* --- layout --- */

/* Parameters of the layout with m remainder rows and q = ceil(N/m) quotient rows. */
static uint64_t qr_params(uint64_t q, uint64_t m, QrOp op, int w) {
    if (op == QR_CONCAT) return q * (uint64_t)((w + 1) / 2) + m * (uint64_t)(w / 2);
    return (q + m) * (uint64_t)w;
}

static uint64_t ceil_div(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

static uint64_t isqrt_ceil(uint64_t N) {
    uint64_t s = (uint64_t)sqrt((double)N);
    while (s * s > N) s--;
    while (s * s < N) s++;
    return s;
}

/* The smallest m in 1..N whose parameters fit the budget, 0 when none does. ceil(N/m) takes O(sqrt N)
 * distinct values; within a run of m with the same quotient count the parameters grow with m, so
 * only the first m of each run is a candidate, and the first candidate that fits is the answer. */
static uint64_t qr_smallest_m(uint64_t N, QrOp op, int w, double budget) {
    for (uint64_t m = 1; m <= N;) {
        uint64_t q = ceil_div(N, m);
        if ((double)qr_params(q, m, op, w) <= budget) return m;
        if (q == 1) break; /* every further m has q = 1 and more parameters */
        m = (N - 1) / (q - 1) + 1; /* the first m with ceil(N/m) < q */
    }
    return 0;
}

static void qr_plan(EmbFieldPlan *fp, const EmbOptions *common, const void *sopt, int w) {
    (void)common;
    const QrOptions *o = sopt;
    QrLayout *L = (QrLayout *)fp->layout;
    L->op = o->op;
    fp->reads = 2;
    if (o->op == QR_CONCAT && w < 2) {
        fp->feasible = 0;
        snprintf(fp->reason, sizeof fp->reason, "qr concat needs a row width of at least 2 (w = %d)", w);
        return;
    }
    uint64_t m = qr_smallest_m(fp->N, (QrOp)o->op, w, fp->budget);
    if (!m) {
        m = isqrt_ceil(fp->N);
        fp->clamped = 1;
    }
    uint64_t q = ceil_div(fp->N, m);
    L->m = m;
    fp->rows = q + m;
    fp->params = qr_params(q, m, (QrOp)o->op, w);
    if (q >= (1ull << 31) || m >= (1ull << 31)) {
        fp->feasible = 0;
        snprintf(fp->reason, sizeof fp->reason, "a qr table of 2^31 rows or more cannot be built");
    }
}

static void qr_plan_cols(const EmbFieldPlan *fp, EmbPlanCols *c) {
    snprintf(c->m, sizeof c->m, "%llu", (unsigned long long)layout(fp)->m);
    snprintf(c->hyper, sizeof c->hyper, "m=%llu", (unsigned long long)layout(fp)->m);
}

static void qr_describe(const EmbFieldPlan *fp, char *buf, size_t n) {
    snprintf(buf, n, "m=%llu op=%s", (unsigned long long)layout(fp)->m, QR_OP_NAMES[layout(fp)->op]);
}

/* --- the tables --- */

static void qr_create(EmbField *f, int max_batch, OptKind opt, Rng *rng) {
    const QrLayout *L = layout(&f->plan);
    const uint64_t q = ceil_div(f->plan.N, L->m);
    const int wq = L->op == QR_CONCAT ? (f->w + 1) / 2 : f->w;
    const int wr = L->op == QR_CONCAT ? f->w / 2 : f->w;
    f->ntables = 2;
    emb_table_alloc(&f->tables[0], q, wq, (uint32_t)max_batch, opt);
    emb_table_alloc(&f->tables[1], L->m, wr, (uint32_t)max_batch, opt);
    const double s = EMB_INIT_STD;
    switch ((QrOp)L->op) {
    case QR_MULT: {
        /* Q, R ~ N(0, sqrt(s)): Var(QR) = s^2. SPEC 4 says one part around 1 and the other around 0;
         * then a step of the table around 1 moves the ids' vectors by lr times the other's |x| ~ 1e-4,
         * so that table barely learns: the quotient rows with Q around 1 (gen_version 3's sweeps: test
         * AUC 0.708 at r = 10 on quick's data in hashed id order, hash 0.776), the remainder rows with
         * R around 1 (0.680 in frequency order). Both at sqrt(s) learn alike: 0.783 and 0.769 (README,
         * "The qr question"; test_emb's test_qr_mult_learns_both). */
        emb_table_init_normal(&f->tables[0], 0.0, sqrt(s), rng);
        emb_table_init_normal(&f->tables[1], 0.0, sqrt(s), rng);
        break;
    }
    case QR_ADD:
        emb_table_init_normal(&f->tables[0], 0.0, s / sqrt(2.0), rng);
        emb_table_init_normal(&f->tables[1], 0.0, s / sqrt(2.0), rng);
        break;
    case QR_CONCAT:
        emb_table_init_normal(&f->tables[0], 0.0, s, rng);
        emb_table_init_normal(&f->tables[1], 0.0, s, rng);
        break;
    case QR_NOPS: CHECK(0);
    }
}

/* id / m and id mod m for 32-bit ids: magic = floor((2^64 - 1) / m) + 1 is exact for every 32-bit
 * dividend and 2 <= m < 2^32 (Lemire, Kaser, Kurz 2019); m = 1 is its own case. */
typedef struct {
    uint64_t magic, m;
} QrDiv;

static inline QrDiv qr_div_init(uint64_t m) {
    QrDiv d = {m > 1 ? UINT64_MAX / m + 1 : 0, m};
    return d;
}

static inline void qr_split(QrDiv d, uint32_t id, uint32_t *q, uint32_t *r) {
    if (d.m == 1) {
        *q = id;
        *r = 0;
        return;
    }
    uint64_t qq = (uint64_t)(((unsigned __int128)d.magic * id) >> 64);
    *q = (uint32_t)qq;
    *r = (uint32_t)(id - qq * d.m);
}

static void qr_forward(const EmbField *f, float *out, size_t out_stride, const uint32_t *ids,
                       size_t id_stride, int B) {
    const EmbTable *tq = &f->tables[0], *tr = &f->tables[1];
    const QrDiv d = qr_div_init(layout(&f->plan)->m);
    const int w = f->w, wq = tq->width, wr = tr->width;
    uint32_t q, r;
    switch ((QrOp)layout(&f->plan)->op) {
    case QR_MULT:
        for (int b = 0; b < B; b++) {
            qr_split(d, ids[(size_t)b * id_stride], &q, &r);
            const float *Q = tq->w + (size_t)q * wq, *R = tr->w + (size_t)r * wr;
            float *o = out + (size_t)b * out_stride;
            for (int k = 0; k < w; k++) o[k] = Q[k] * R[k];
        }
        break;
    case QR_ADD:
        for (int b = 0; b < B; b++) {
            qr_split(d, ids[(size_t)b * id_stride], &q, &r);
            const float *Q = tq->w + (size_t)q * wq, *R = tr->w + (size_t)r * wr;
            float *o = out + (size_t)b * out_stride;
            for (int k = 0; k < w; k++) o[k] = Q[k] + R[k];
        }
        break;
    case QR_CONCAT:
        for (int b = 0; b < B; b++) {
            qr_split(d, ids[(size_t)b * id_stride], &q, &r);
            float *o = out + (size_t)b * out_stride;
            memcpy(o, tq->w + (size_t)q * wq, (size_t)wq * sizeof(float));
            memcpy(o + wq, tr->w + (size_t)r * wr, (size_t)wr * sizeof(float));
        }
        break;
    case QR_NOPS: CHECK(0);
    }
}

static void qr_backward(EmbField *f, const float *dout, size_t dout_stride, const uint32_t *ids,
                        size_t id_stride, int B) {
    EmbTable *tq = &f->tables[0], *tr = &f->tables[1];
    const QrDiv d = qr_div_init(layout(&f->plan)->m);
    const int w = f->w, wq = tq->width, wr = tr->width;
    const QrOp op = (QrOp)layout(&f->plan)->op;
    uint32_t q, r;
    for (int b = 0; b < B; b++) {
        qr_split(d, ids[(size_t)b * id_stride], &q, &r);
        const float *g = dout + (size_t)b * dout_stride;
        float *gq = emb_grad_row(tq, q), *gr = emb_grad_row(tr, r);
        if (op == QR_MULT) {
            const float *Q = tq->w + (size_t)q * wq, *R = tr->w + (size_t)r * wr;
            for (int k = 0; k < w; k++) {
                gq[k] += g[k] * R[k];
                gr[k] += g[k] * Q[k];
            }
        } else if (op == QR_ADD) {
            for (int k = 0; k < w; k++) {
                gq[k] += g[k];
                gr[k] += g[k];
            }
        } else {
            for (int k = 0; k < wq; k++) gq[k] += g[k];
            for (int k = 0; k < wr; k++) gr[k] += g[wq + k];
        }
    }
}

static const char *const QR_TESTS[] = {"--qr-op {mult,add,concat}", NULL};

const EmbStrategy EMB_QR_STRATEGY = {
    .opt_size = sizeof(QrOptions),
    .flags = QR_FLAGS,
    .nflags = sizeof QR_FLAGS / sizeof QR_FLAGS[0],
    .variant = qr_variant,
    .plan = qr_plan,
    .plan_cols = qr_plan_cols,
    .plan_shown = EMB_COL_M,
    .describe = qr_describe,
    .create = qr_create,
    .forward = qr_forward,
    .backward = qr_backward,
    .test_configs = QR_TESTS,
};
