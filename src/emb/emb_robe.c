/* emb_robe: ROBE-Z, the random offset block embedding array (Desai, Chou and Shrivastava, MLSys 2022).
 * Each compressed field has one array of M parameters, M = max(1, floor(N_f w / r)): the whole budget
 * (tables[0], M rows of width 1: the lazy optimizer updates single elements). An id's w-wide vector is
 * cut into chunks of Z columns (the last one shorter when Z does not divide w); chunk c is Z
 * consecutive elements of the array from a hashed offset, wrapping around its end, each times a
 * hashed sign (the paper's sign function g, as Hetu's robe_sign_op):
 *   off_c = XXH64(id, seed_f + c) mod M,   s_c = XXH64(id, seed_f + C + c)   (C = ceil(w / Z) chunks)
 *   vector[c Z + j] = (1 - 2 bit_j(s_c)) A[(off_c + j) mod M],   j < min(Z, w - c Z).
 * Z: --robe-z (default 32, taken as min(Z, w): one chunk for DeepFM's w = 17 at d = 16); Z = 1 is
 * ROBE-1, every element hashed on its own (HashedNets). Init: A from N(0, 1e-4), so every element of a
 * vector has SPEC 4's std. Not built: the paper's variant with one array shared by all fields. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>

#include "emb/emb.h"

#define ROBE_MAX_Z 64 /* a chunk's signs are the bits of one 64-bit hash */

typedef struct {
    int z; /* --robe-z, 1..ROBE_MAX_Z */
} RobeOptions;
typedef struct {
    uint64_t M; /* the array's elements */
    int z;      /* min(--robe-z, w) */
    int chunks; /* ceil(w / z) */
} RobeLayout;
_Static_assert(sizeof(RobeOptions) <= EMB_SOPT_BYTES, "robe's options fit EmbOptions.sopt");
_Static_assert(sizeof(RobeLayout) <= EMB_LAYOUT_BYTES, "robe's layout fits EmbFieldPlan.layout");

static inline const RobeLayout *layout(const EmbFieldPlan *fp) { return (const RobeLayout *)fp->layout; }

/* --- options --- */

static void robe_default(void *sopt) { ((RobeOptions *)sopt)->z = 32; }

static int parse_z(void *sopt, const char *value, const char *flag, Err *e) {
    long long z;
    if (parse_i64(value, 1, ROBE_MAX_Z, flag, &z, e)) return -1;
    ((RobeOptions *)sopt)->z = (int)z;
    return 0;
}

static const EmbFlag ROBE_FLAGS[] = {
    {"robe-z",
     "  --robe-z Z                         robe: consecutive array elements per chunk, 1 to 64, taken as\n"
     "                                     min(Z, w) (default 32)\n",
     parse_z, offsetof(RobeOptions, z), sizeof(int)},
};

static void robe_variant(const void *sopt, long compress_min, char *buf, size_t n) {
    snprintf(buf, n, "robe:z%d:cm%ld", ((const RobeOptions *)sopt)->z, compress_min);
}

/* --- layout --- */

static void robe_plan(EmbFieldPlan *fp, const EmbOptions *common, const void *sopt, int w) {
    (void)common;
    RobeLayout *L = (RobeLayout *)fp->layout;
    const int z = ((const RobeOptions *)sopt)->z;
    L->z = z < w ? z : w;
    L->chunks = (w + L->z - 1) / L->z;
    const uint64_t M = (uint64_t)floor(fp->budget);
    L->M = M < 1 ? 1 : M;
    fp->reads = w; /* elements: each is a row of width 1 */
    fp->rows = L->M;
    fp->params = L->M;
    fp->clamped = (double)fp->params > fp->budget;
}

static void robe_plan_cols(const EmbFieldPlan *fp, EmbPlanCols *c) {
    snprintf(c->hyper, sizeof c->hyper, "M=%llu,Z=%d", (unsigned long long)layout(fp)->M, layout(fp)->z);
}

static void robe_describe(const EmbFieldPlan *fp, char *buf, size_t n) {
    snprintf(buf, n, "M=%llu Z=%d chunks=%d", (unsigned long long)layout(fp)->M, layout(fp)->z,
             layout(fp)->chunks);
}

/* touched rows are single elements: up to w per id, 4 bytes of gradient each */
static uint64_t robe_touch_bytes(const EmbFieldPlan *fp, int w, int max_batch) {
    uint64_t touch = (uint64_t)max_batch * (uint64_t)w;
    if (touch > layout(fp)->M) touch = layout(fp)->M;
    return touch * (sizeof(uint32_t) + sizeof(float));
}

/* --- the array --- */

static void robe_create(EmbField *f, int max_batch, OptKind opt, Rng *rng) {
    const RobeLayout *L = layout(&f->plan);
    uint64_t touch = (uint64_t)max_batch * (uint64_t)f->w;
    f->ntables = 1;
    emb_table_alloc(&f->tables[0], L->M, 1, touch > UINT32_MAX ? UINT32_MAX : (uint32_t)touch, opt);
    emb_table_init_normal(&f->tables[0], 0.0, EMB_INIT_STD, rng);
}

/* Chunk c of id: its offset in the array and its signs (bit j set: column c Z + j negated). */
static inline uint64_t robe_chunk(const EmbFieldPlan *p, EmbMod mod, uint32_t id, int c, uint64_t *signs) {
    const RobeLayout *L = layout(p);
    *signs = emb_hash_id(id, p->seed_f + (uint64_t)(L->chunks + c));
    return emb_mod(mod, emb_hash_id(id, p->seed_f + (uint64_t)c));
}

/* the element after `at`, wrapping around the array's end */
static inline uint64_t robe_next(uint64_t at, uint64_t M) { return at + 1 == M ? 0 : at + 1; }

static void robe_forward(const EmbField *f, float *out, size_t out_stride, const uint32_t *ids,
                         size_t id_stride, int B) {
    const RobeLayout *L = layout(&f->plan);
    const float *A = f->tables[0].w;
    const int w = f->w;
    const EmbMod mod = emb_mod_init(L->M);
    for (int b = 0; b < B; b++) {
        const uint32_t id = ids[(size_t)b * id_stride];
        float *o = out + (size_t)b * out_stride;
        for (int c = 0; c < L->chunks; c++) {
            uint64_t signs, at = robe_chunk(&f->plan, mod, id, c, &signs);
            const int c0 = c * L->z, len = w - c0 < L->z ? w - c0 : L->z;
            if (at + (uint64_t)len <= L->M) { /* no wrap: a straight run of the array */
                const float *a = A + at;
                for (int j = 0; j < len; j++) o[c0 + j] = (signs >> j & 1) ? -a[j] : a[j];
                continue;
            }
            for (int j = 0; j < len; j++, at = robe_next(at, L->M)) o[c0 + j] = (signs >> j & 1) ? -A[at] : A[at];
        }
    }
}

static void robe_backward(EmbField *f, const float *dout, size_t dout_stride, const uint32_t *ids,
                          size_t id_stride, int B) {
    const RobeLayout *L = layout(&f->plan);
    EmbTable *t = &f->tables[0];
    const int w = f->w;
    const EmbMod mod = emb_mod_init(L->M);
    for (int b = 0; b < B; b++) {
        const uint32_t id = ids[(size_t)b * id_stride];
        const float *d = dout + (size_t)b * dout_stride;
        for (int c = 0; c < L->chunks; c++) {
            uint64_t signs, at = robe_chunk(&f->plan, mod, id, c, &signs);
            const int c0 = c * L->z, len = w - c0 < L->z ? w - c0 : L->z;
            for (int j = 0; j < len; j++, at = robe_next(at, L->M)) {
                const float g = d[c0 + j];
                *emb_grad_row(t, (uint32_t)at) += (signs >> j & 1) ? -g : g;
            }
        }
    }
}

static const char *const ROBE_TEST_CONFIGS[] = {"--robe-z {1,2,3,32}", NULL};

const EmbStrategy EMB_ROBE_STRATEGY = {
    .opt_size = sizeof(RobeOptions),
    .opt_default = robe_default,
    .flags = ROBE_FLAGS,
    .nflags = sizeof ROBE_FLAGS / sizeof *ROBE_FLAGS,
    .variant = robe_variant,
    .plan = robe_plan,
    .plan_cols = robe_plan_cols,
    .plan_shown = EMB_COL_HYPER,
    .describe = robe_describe,
    .plan_touch_bytes = robe_touch_bytes,
    .create = robe_create,
    .forward = robe_forward,
    .backward = robe_backward,
    .test_configs = ROBE_TEST_CONFIGS,
};
