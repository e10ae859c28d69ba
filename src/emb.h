/* emb: the embedding-strategy interface of SPEC 4 and what all strategies share: the plan (per-field
 * layout under the parameter budget, the two achieved ratios, clamped and infeasible fields), tables
 * with their sparse gradients and lazily updated optimizer state, and the whole-model embedding that
 * runs one strategy per field. A strategy is one file (emb_full.c, emb_hash.c, emb_qr.c, emb_bh.c) that
 * fills one EmbStrategy; EMB_STRATEGIES lists them, indexed by EmbKind.
 *
 * Shapes: a batch of ids is (B, F) u32, row-major, as in the dataset; the output is (B, F, w) floats. A
 * field's strategy sees its column of ids and its (B, w) slice of the output through strides. */
#ifndef HASHEMB_EMB_H
#define HASHEMB_EMB_H

#include <stddef.h>
#include <stdint.h>

#include "optim.h"
#include "rng.h"
#include "util.h"

#define EMB_MAX_BLOCKS 64
#define EMB_MAX_TABLES 64
#define EMB_INIT_STD 1e-4 /* the full table's element-wise std (FuxiCTR) */
#define EMB_MAX_ROWS 2147483647ull /* 2^31 - 1: EmbTable.slot holds a row's place as int32 */

typedef enum { EMB_FULL, EMB_HASH, EMB_QR, EMB_BH, EMB_NKINDS } EmbKind;
typedef enum { QR_MULT, QR_ADD, QR_CONCAT, QR_NOPS } QrOp;
typedef enum { BH_SUCCESSION, BH_SKIP } BhBlocks;
typedef enum { BH_SHARED, BH_PER_BLOCK } BhTable;
typedef enum { BH_SUM, BH_MEAN, BH_CONCAT } BhFuse;

extern const char *const EMB_NAMES[EMB_NKINDS];  /* "full", "hash", "qr", "bh" */
extern const char *const QR_OP_NAMES[QR_NOPS];   /* "mult", "add", "concat" */
extern const char *const BH_BLOCKS_NAMES[2];     /* "succession", "skip" */
extern const char *const BH_TABLE_NAMES[2];      /* "shared", "per-block" */
extern const char *const BH_FUSE_NAMES[3];       /* "sum", "mean", "concat" */

/* Everything that chooses a strategy and its layout (the strategy options of SPEC 2). */
typedef struct {
    EmbKind kind;
    double ratio;        /* target r; 1 for full */
    long compress_min;   /* fields with N_f <= this stay full (default 200) */
    uint64_t seed;       /* the run's --seed: seeds the hashing (seed_f) and the init */
    QrOp qr_op;
    BhBlocks bh_blocks;
    BhTable bh_table;
    BhFuse bh_fuse;
    int bh_bits;         /* 0 = auto: ceil(log2 N_f) */
    int bh_t;            /* 0 = derive t from the budget; else t = min(bh_t, S) */
} EmbOptions;

void emb_options_default(EmbOptions *o);
/* The strategy flags of SPEC 2, shared by `plan` and `train` (embopt.c): flag is the long
 * option's name with or without its dashes ("qr-op", "--bh-t"); "emb" and "ratio" are accepted too.
 * 0 when value was stored in o; -1 with an Err naming the flag when it is not a strategy flag or the
 * value is bad. emb_options_check then refuses options of another strategy than o->kind (e.g.
 * --qr-op with --emb bh), which would otherwise be silently ignored. */
/* The getopt_long entries of the strategy flags (besides --emb and --ratio), each returning `code`:
 * `plan` and `train` list them with EMB_STRATEGY_LONGOPTS(code) and hand them to
 * emb_options_parse_flag with the option's name. */
#define EMB_STRATEGY_LONGOPTS(code)                                                                \
    {"compress-min", required_argument, 0, (code)}, {"qr-op", required_argument, 0, (code)},      \
        {"bh-blocks", required_argument, 0, (code)}, {"bh-table", required_argument, 0, (code)},  \
        {"bh-fuse", required_argument, 0, (code)}, {"bh-bits", required_argument, 0, (code)},     \
        {"bh-t", required_argument, 0, (code)}
int emb_options_parse_flag(EmbOptions *o, const char *flag, const char *value, Err *e);
int emb_options_check(const EmbOptions *o, Err *e);
/* The usage lines of those flags, for a command's --help. */
extern const char EMB_OPTIONS_USAGE[];
/* The `variant` column of SPEC 6: "full", "hash:cm200", "qr:mult:cm200",
 * "bh:succession:shared:sum:Sauto:cm200", "bh:skip:per-block:concat:S24:t8:cm200". */
void emb_variant(const EmbOptions *o, char *buf, size_t n);

/* One field's layout. */
typedef struct {
    uint64_t N;          /* ids, OOV included */
    int compressed;      /* 0: a full table (strategy full, or N <= compress_min) */
    int feasible;        /* 0: the layout cannot be built (reason says why) */
    int clamped;         /* the strategy could not fit the budget and uses its smallest layout */
    double budget;       /* N * w / r parameters */
    uint64_t m;          /* hash: rows; qr: the remainder table's rows (0 otherwise) */
    int S, t, n;         /* bh: code bits, block length (skip: its longest block), blocks */
    int lengths[EMB_MAX_BLOCKS]; /* bh: bits per block */
    uint64_t rows;       /* rows over all its tables */
    uint64_t params;     /* parameters over all its tables */
    uint64_t seed_f;     /* XXH64(le32(f), seed) */
    char reason[160];    /* why infeasible */
    /* The options that shape the field's tables, copied by the strategy's plan: create and the
     * plan printer read the layout from here alone. */
    QrOp qr_op;
    BhBlocks bh_blocks;
    BhTable bh_table;
    BhFuse bh_fuse;
    int bh_hashed;       /* bh: 1 = the code is the low S bits of XXH64(id, seed_f) (--bh-bits S) */
} EmbFieldPlan;

typedef struct {
    EmbOptions opt;
    int fields, w;
    EmbFieldPlan *f;             /* (fields) */
    uint64_t full_params;        /* sum N_f * w */
    uint64_t params;             /* sum of the fields' parameters */
    uint64_t full_compressed;    /* sum N_f * w over compressed fields */
    uint64_t params_compressed;  /* their parameters under the strategy */
    int n_compressed, n_clamped;
    double ratio_actual;         /* full_params / params */
    double ratio_compressed;     /* full_compressed / params_compressed; NAN without compressed fields */
    int infeasible;              /* SPEC 4: a layout cannot be built, or ratio_compressed < r / 2 */
    char reason[256];
} EmbPlan;

/* Lays out every field. Bad options (e.g. a ratio below 1) and a field needing more than EMB_MAX_ROWS
 * rows are an Err; an infeasible plan is not an error: it is reported through plan->infeasible. */
int emb_plan_make(EmbPlan *p, const uint64_t *cards, int fields, int w, const EmbOptions *o, Err *e);
void emb_plan_free(EmbPlan *p);
/* An upper bound of the bytes emb_create allocates for a feasible plan: parameters, optimizer state,
 * the per-row slots and the sparse-gradient rows of a batch (the memory check before a run). */
uint64_t emb_plan_bytes(const EmbPlan *p, OptKind opt, int max_batch);
/* The field with the most parameters (the first of equals): what a refusal names. */
int emb_plan_largest(const EmbPlan *p);

/* seed_f of SPEC 4, and the hash of an id under it */
uint64_t emb_field_seed(uint32_t f, uint64_t seed);
uint64_t emb_hash_id(uint32_t id, uint64_t seed_f);

/* A table of rows x width parameters with its optimizer state and the sparse gradient of the current
 * batch: slot[row] is the row's place in the touched list (-1 when untouched), g holds one gradient
 * row per touched row, in order of first touch (deterministic). */
typedef struct {
    float *w;            // (rows, width)
    float *m, *v;        // optimizer state (rows, width), NULL where the optimizer has none
    uint64_t rows;
    int width;
    int32_t *slot;       // (rows)
    uint32_t *touched;   // (cap)
    float *g;            // (cap, width)
    uint32_t ntouched, cap;
} EmbTable;

/* The gradient row of `row` for this batch, zeroed at its first touch. */
static inline float *emb_grad_row(EmbTable *t, uint32_t row) {
    int32_t s = t->slot[row];
    if (s < 0) {
        s = (int32_t)t->ntouched++;
        t->slot[row] = s;
        t->touched[s] = row;
        float *g = t->g + (size_t)s * (size_t)t->width;
        for (int k = 0; k < t->width; k++) g[k] = 0.0f;
        return g;
    }
    return t->g + (size_t)s * (size_t)t->width;
}

/* Rows a strategy looks up are gathered in groups of EMB_GROUP: their indices first, then a prefetch of
 * each row, then the reads, so the group's cache misses overlap instead of following one another. */
#define EMB_GROUP 16

static inline void emb_prefetch_row(const float *row, int width) {
    __builtin_prefetch(row);
    if (width > 16) __builtin_prefetch(row + 16);
}

/* dst = src and dst += src over n floats: plain loops the compiler inlines and vectorises, instead of
 * a memcpy call per 17-float row. */
static inline void emb_row_copy(float *restrict dst, const float *restrict src, int n) {
    for (int k = 0; k < n; k++) dst[k] = src[k];
}
static inline void emb_row_add(float *restrict dst, const float *restrict src, int n) {
    for (int k = 0; k < n; k++) dst[k] += src[k];
}

/* Exact h mod m for any 64-bit h and 1 <= m < 2^32 without a division: Lemire, Kaser and Kurz's
 * "direct remainder" (2019) with a 128-bit reciprocal c = ceil(2^128 / m), exact for all 64-bit
 * dividends because c has 128 fractional bits for a 64-bit h: h mod m = ((c h mod 2^128) m) >> 128.
 * m = 1 gives c = 0 (2^128 wraps), hence 0, which is right. Tested against % (test_emb). */
typedef struct {
    unsigned __int128 c;
    uint64_t m;
} EmbMod;

static inline EmbMod emb_mod_init(uint64_t m) {
    EmbMod d = {~(unsigned __int128)0 / m + 1, m};
    return d;
}

static inline uint64_t emb_mod(EmbMod d, uint64_t h) {
    unsigned __int128 low = d.c * h; /* c h mod 2^128 */
    /* (low * m) >> 128 with low = hi 2^64 + lo: hi m + ((lo m) >> 64), then the top 64 bits */
    unsigned __int128 lo_m = (unsigned __int128)(uint64_t)low * d.m;
    unsigned __int128 hi_m = (unsigned __int128)(uint64_t)(low >> 64) * d.m;
    return (uint64_t)((hi_m + (lo_m >> 64)) >> 64);
}

typedef struct EmbField EmbField;

/* A strategy: one const instance per file, no state of its own. */
typedef struct {
    const char *name;
    /* Fill fp's layout (m / S, t, n, lengths, rows, params, clamped, feasible) for a compressed field;
     * fp->N, fp->budget and fp->seed_f are set. */
    void (*plan)(EmbFieldPlan *fp, const EmbOptions *o, int w);
    /* Allocate f->tables from f->plan (emb_table_alloc) and initialise them so that the composed
     * vectors have std EMB_INIT_STD element-wise (SPEC 4 Init); max_batch bounds the touched rows. */
    void (*create)(EmbField *f, int max_batch, OptKind opt, Rng *rng);
    /* out[b*out_stride + 0..w) = vector of ids[b*id_stride]   out (B, w) strided, ids (B) strided */
    void (*forward)(const EmbField *f, float *out, size_t out_stride, const uint32_t *ids,
                    size_t id_stride, int B);
    /* Adds the gradients of dout (B, w) into the tables' sparse gradients; right with repeated ids. */
    void (*backward)(EmbField *f, const float *dout, size_t dout_stride, const uint32_t *ids,
                     size_t id_stride, int B);
    /* Applies the optimizer to the touched rows, each once, and clears the sparse gradient. */
    void (*update)(EmbField *f, const Optim *o);
    /* Bytes of parameters and of optimizer state, from what was allocated. */
    void (*bytes)(const EmbField *f, uint64_t *param_bytes, uint64_t *opt_bytes);
    /* Frees strategy-private state (tables are freed by emb_field_free). */
    void (*free_priv)(EmbField *f);
} EmbStrategy;

struct EmbField {
    const EmbStrategy *s;
    EmbFieldPlan plan;
    int w;
    uint32_t index;      /* the field's number f */
    int ntables;
    EmbTable tables[EMB_MAX_TABLES];
    void *priv;          /* strategy-private (e.g. precomputed block offsets) */
};

/* bh (emb_bh.c): what the hot loop needs per field, from the plan alone: the code of an id and the
 * table row each block reads (per-block rows offset by the rows of the blocks before, as SPEC 4
 * stores them). The strategy's forward and backward use the same functions. */
typedef struct {
    int S, n, skip, hashed;
    uint64_t seed_f;
    uint64_t code_mask;                /* the low S bits */
    uint64_t mask[EMB_MAX_BLOCKS];     /* succession: (1 << len) - 1, after the shift; skip: the
                                        * block's bits j, j+n, ... in the code, for pext */
    int shift[EMB_MAX_BLOCKS];         /* succession: j * t */
    uint64_t offset[EMB_MAX_BLOCKS];   /* per-block: rows of the blocks before; shared: 0 */
} EmbBhLayout;

void emb_bh_layout(EmbBhLayout *L, const EmbFieldPlan *fp);
uint64_t emb_bh_code(const EmbBhLayout *L, uint32_t id);
void emb_bh_rows(const EmbBhLayout *L, uint32_t id, uint64_t *rows); /* rows (L->n) */
/* Gathers the bits of x under mask into the low bits (BMI2's pext): the fast one uses the instruction
 * where the build has it (__BMI2__), the _ref one a loop; both are tested against each other. */
uint64_t emb_bh_pext(uint64_t x, uint64_t mask);
uint64_t emb_bh_pext_ref(uint64_t x, uint64_t mask);
/* How many of the field's ids share their vector with another id: with a shared table and sum or
 * mean fusion, ids whose block rows are a permutation of each other's; in any layout, ids with the
 * same code (only possible with hashed codes). Exact; UINT64_MAX when N > max_ids (not counted: it
 * needs 16 bytes per id). */
uint64_t emb_bh_sharing(const EmbFieldPlan *fp, uint64_t max_ids);

extern const EmbStrategy EMB_FULL_STRATEGY, EMB_HASH_STRATEGY, EMB_QR_STRATEGY, EMB_BH_STRATEGY;
extern const EmbStrategy *const EMB_STRATEGIES[EMB_NKINDS];

/* Shared building blocks for strategies. */
void emb_table_alloc(EmbTable *t, uint64_t rows, int width, uint32_t max_touch, OptKind opt);
void emb_table_init_normal(EmbTable *t, double mean, double std, Rng *rng);
void emb_table_free(EmbTable *t);
void emb_tables_update(EmbField *f, const Optim *o);              /* generic `update` */
void emb_tables_bytes(const EmbField *f, uint64_t *param_bytes, uint64_t *opt_bytes); /* generic */

/* All fields of a model. */
typedef struct {
    EmbPlan plan;        /* owned copy */
    int fields, w, max_batch;
    EmbField *f;         /* (fields) */
} Emb;

/* Creates every field's tables from a feasible plan (copied), initialised from seed. */
int emb_create(Emb *emb, const EmbPlan *plan, int max_batch, OptKind opt, uint64_t seed, Err *e);
void emb_free(Emb *emb);
void emb_forward(const Emb *emb, float *out, const uint32_t *ids, int B);  // out (B,F,w), ids (B,F)
void emb_backward(Emb *emb, const float *dout, const uint32_t *ids, int B); // dout (B,F,w)
void emb_update(Emb *emb, const Optim *o);
void emb_bytes(const Emb *emb, uint64_t *param_bytes, uint64_t *opt_bytes);
/* Bytes of the sparse-gradient work buffers (slot maps, touched lists, gradient rows). */
uint64_t emb_work_bytes(const Emb *emb);

#endif
