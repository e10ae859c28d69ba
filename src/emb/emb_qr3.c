/* emb_qr3: the quotient-remainder trick generalised to three complementary partitions (Shi et al., KDD
 * 2020, section 3: "complementary partitions"; qr is the case of two). With m rows in each of two
 * remainder tables and q = ceil(N_f / m^2) rows in the quotient table:
 *   vector(id) = A[id mod m] op B[(id / m) mod m] op C[id / m^2],   op = add (default) or mult,
 * A, B, C being tables[0], [1], [2], all w wide. The triple (id mod m, (id / m) mod m, id / m^2) is
 * distinct for distinct ids, so no two ids share all three rows.
 * Budget: the smallest m >= 1 with (2m + ceil(N_f / m^2)) w <= N_f w / r (as qr takes its smallest m:
 * the largest layout that fits); when none does, the m that minimises the rows, clamped.
 * Init (SPEC 4: composed vectors of std 1e-4): add, each table from N(0, 1e-4 / sqrt(3)); mult, each
 * from N(0, 1e-4^(1/3)). */
#include <math.h>
#include <stddef.h>
#include <stdio.h>

#include "emb/emb.h"

enum { QR3_ADD, QR3_MULT, QR3_NOPS };
static const char *const QR3_OP_NAMES[QR3_NOPS] = {"add", "mult"};

typedef struct {
    int op; /* QR3_ADD (zero, the default) or QR3_MULT */
} Qr3Options;
typedef struct {
    uint64_t m; /* rows of each remainder table */
    uint64_t q; /* rows of the quotient table: ceil(N / m^2) */
    int op;
} Qr3Layout;
_Static_assert(sizeof(Qr3Options) <= EMB_SOPT_BYTES, "qr3's options fit EmbOptions.sopt");
_Static_assert(sizeof(Qr3Layout) <= EMB_LAYOUT_BYTES, "qr3's layout fits EmbFieldPlan.layout");

static inline const Qr3Layout *layout(const EmbFieldPlan *fp) { return (const Qr3Layout *)fp->layout; }

/* --- options --- */

static int parse_op(void *sopt, const char *value, const char *flag, Err *e) {
    return parse_name(value, QR3_OP_NAMES, QR3_NOPS, flag, &((Qr3Options *)sopt)->op, e);
}

static const EmbFlag QR3_FLAGS[] = {
    {"qr3-op", "  --qr3-op add|mult                  qr3: how the three partitions' vectors combine (default add)\n",
     parse_op, offsetof(Qr3Options, op), sizeof(int)},
};

static void qr3_variant(const void *sopt, long compress_min, char *buf, size_t n) {
    snprintf(buf, n, "qr3:%s:cm%ld", QR3_OP_NAMES[((const Qr3Options *)sopt)->op], compress_min);
}

/* --- layout --- */

static uint64_t ceil_div(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

/* rows of the layout with m: two remainder tables of m and the quotient table */
static uint64_t qr3_rows(uint64_t N, uint64_t m) { return 2 * m + ceil_div(N, m * m); }

static void qr3_plan(EmbFieldPlan *fp, const EmbOptions *common, const void *sopt, int w) {
    (void)common;
    Qr3Layout *L = (Qr3Layout *)fp->layout;
    L->op = ((const Qr3Options *)sopt)->op;
    /* the rows decrease in m up to about cbrt(N / 1) and grow after: scan that far */
    const uint64_t top = (uint64_t)cbrt((double)fp->N) + 2;
    uint64_t fit = 0, best = 1;
    for (uint64_t m = 1; m <= top; m++) {
        if (!fit && (double)qr3_rows(fp->N, m) * w <= fp->budget) fit = m;
        if (qr3_rows(fp->N, m) < qr3_rows(fp->N, best)) best = m;
    }
    L->m = fit ? fit : best;
    L->q = ceil_div(fp->N, L->m * L->m);
    fp->reads = 3;
    fp->rows = 2 * L->m + L->q;
    fp->params = fp->rows * (uint64_t)w;
    fp->clamped = (double)fp->params > fp->budget;
}

static void qr3_plan_cols(const EmbFieldPlan *fp, EmbPlanCols *c) {
    snprintf(c->m, sizeof c->m, "%llu", (unsigned long long)layout(fp)->m);
    snprintf(c->hyper, sizeof c->hyper, "m=%llu", (unsigned long long)layout(fp)->m);
}

static void qr3_describe(const EmbFieldPlan *fp, char *buf, size_t n) {
    snprintf(buf, n, "m=%llu q=%llu op=%s", (unsigned long long)layout(fp)->m, (unsigned long long)layout(fp)->q,
             QR3_OP_NAMES[layout(fp)->op]);
}

/* --- the tables --- */

static void qr3_create(EmbField *f, int max_batch, OptKind opt, Rng *rng) {
    const Qr3Layout *L = layout(&f->plan);
    const double std = L->op == QR3_MULT ? cbrt(EMB_INIT_STD) : EMB_INIT_STD / sqrt(3.0);
    f->ntables = 3;
    emb_table_alloc(&f->tables[0], L->m, f->w, (uint32_t)max_batch, opt);
    emb_table_alloc(&f->tables[1], L->m, f->w, (uint32_t)max_batch, opt);
    emb_table_alloc(&f->tables[2], L->q, f->w, (uint32_t)max_batch, opt);
    for (int t = 0; t < 3; t++) emb_table_init_normal(&f->tables[t], 0.0, std, rng);
}

/* the id's three rows */
static inline void qr3_split(uint64_t m, uint32_t id, const float *base[3], const EmbField *f, uint32_t r[3]) {
    const uint64_t a = id / m;
    r[0] = (uint32_t)(id - a * m);
    r[1] = (uint32_t)(a % m);
    r[2] = (uint32_t)(a / m);
    for (int t = 0; t < 3; t++) base[t] = f->tables[t].w + (size_t)r[t] * (size_t)f->w;
}

static void qr3_forward(const EmbField *f, float *out, size_t out_stride, const uint32_t *ids,
                        size_t id_stride, int B) {
    const uint64_t m = layout(&f->plan)->m;
    const int w = f->w, mult = layout(&f->plan)->op == QR3_MULT;
    for (int b = 0; b < B; b++) {
        const float *x[3];
        uint32_t r[3];
        qr3_split(m, ids[(size_t)b * id_stride], x, f, r);
        float *o = out + (size_t)b * out_stride;
        if (mult)
            for (int k = 0; k < w; k++) o[k] = x[0][k] * x[1][k] * x[2][k];
        else
            for (int k = 0; k < w; k++) o[k] = x[0][k] + x[1][k] + x[2][k];
    }
}

/* add: each row gets dout; mult: each gets dout times the other two (as the forward read them) */
static void qr3_backward(EmbField *f, const float *dout, size_t dout_stride, const uint32_t *ids,
                         size_t id_stride, int B) {
    const uint64_t m = layout(&f->plan)->m;
    const int w = f->w, mult = layout(&f->plan)->op == QR3_MULT;
    for (int b = 0; b < B; b++) {
        const float *x[3];
        uint32_t r[3];
        qr3_split(m, ids[(size_t)b * id_stride], x, f, r);
        const float *g = dout + (size_t)b * dout_stride;
        float *ga = emb_grad_row(&f->tables[0], r[0]), *gb = emb_grad_row(&f->tables[1], r[1]),
              *gc = emb_grad_row(&f->tables[2], r[2]);
        if (mult)
            for (int k = 0; k < w; k++) {
                ga[k] += g[k] * x[1][k] * x[2][k];
                gb[k] += g[k] * x[0][k] * x[2][k];
                gc[k] += g[k] * x[0][k] * x[1][k];
            }
        else
            for (int k = 0; k < w; k++) {
                ga[k] += g[k];
                gb[k] += g[k];
                gc[k] += g[k];
            }
    }
}

static const char *const QR3_TESTS[] = {"--qr3-op {add,mult}", NULL};

const EmbStrategy EMB_QR3_STRATEGY = {
    .opt_size = sizeof(Qr3Options),
    .flags = QR3_FLAGS,
    .nflags = sizeof QR3_FLAGS / sizeof *QR3_FLAGS,
    .variant = qr3_variant,
    .plan = qr3_plan,
    .plan_cols = qr3_plan_cols,
    .plan_shown = EMB_COL_M,
    .describe = qr3_describe,
    .create = qr3_create,
    .forward = qr3_forward,
    .backward = qr3_backward,
    .test_configs = QR3_TESTS,
};
