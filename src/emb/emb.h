/* emb: the embedding-strategy interface of SPEC 4 and what all strategies share: the plan (per-field
 * layout under the parameter budget, the two achieved ratios, clamped and infeasible fields), tables
 * with their sparse gradients and lazily updated optimizer state, and the whole-model embedding that
 * runs one strategy per field. A strategy is one file (src/emb/emb_NAME.c) that fills one EmbStrategy,
 * and one line of EMB_STRATEGY_LIST below; EMB_STRATEGIES lists them, indexed by EmbKind.
 *
 * Shapes: a batch of ids is (B, F) u32, row-major, as in the dataset; the output is (B, F, w) floats. A
 * field's strategy sees its column of ids and its (B, w) slice of the output through strides. */
#ifndef HASHEMB_EMB_H
#define HASHEMB_EMB_H

#include <stddef.h>
#include <stdint.h>

#include "model/optim.h"
#include "core/rng.h"
#include "core/util.h"

#define EMB_MAX_TABLES 64
#define EMB_INIT_STD 1e-4 /* the full table's element-wise std (FuxiCTR) */
#define EMB_MAX_ROWS 2147483647ull /* 2^31 - 1: EmbTable.slot holds a row's place as int32 */

/* The strategies, one line each: X(kind, name, the strategy's instance in its file). Adding a strategy
 * is its file and its line here: the kind, its name for --emb and its table entry all come from this
 * list, so none can be missing. */
#define EMB_STRATEGY_LIST(X)                                                                       \
    X(EMB_FULL, "full", EMB_FULL_STRATEGY)                                                         \
    X(EMB_HASH, "hash", EMB_HASH_STRATEGY)                                                         \
    X(EMB_QR, "qr", EMB_QR_STRATEGY)                                                               \
    X(EMB_BH, "bh", EMB_BH_STRATEGY)                                                               \
    X(EMB_DHASH, "dhash", EMB_DHASH_STRATEGY)                                                      \
    X(EMB_ROBE, "robe", EMB_ROBE_STRATEGY)                                                         \
    X(EMB_HOTCOLD, "hotcold", EMB_HOTCOLD_STRATEGY)                                                \
    X(EMB_MDE, "mde", EMB_MDE_STRATEGY)                                                            \
    X(EMB_TT, "tt", EMB_TT_STRATEGY)                                                               \
    X(EMB_DHE, "dhe", EMB_DHE_STRATEGY)                                                            \
    X(EMB_QR3, "qr3", EMB_QR3_STRATEGY)

typedef enum {
#define EMB_KIND_(kind, name, strategy) kind,
    EMB_STRATEGY_LIST(EMB_KIND_)
#undef EMB_KIND_
    EMB_NKINDS
} EmbKind;

extern const char *const EMB_NAMES[EMB_NKINDS]; /* "full", "hash", ... from EMB_STRATEGY_LIST */

/* A strategy's own options and layout live in fixed-size blobs of the shared structs, each strategy's
 * file casting them to a struct of its own (checked against these sizes where it is defined). */
#define EMB_SOPT_BYTES 32
#define EMB_LAYOUT_BYTES 320

/* Everything that chooses a strategy and its layout (the strategy options of SPEC 2). */
typedef struct {
    EmbKind kind;
    double ratio;        /* target r; 1 for full */
    long compress_min;   /* fields with N_f <= this stay full (default 200) */
    uint64_t seed;       /* the run's --seed: seeds the hashing (seed_f) and the init */
    /* each strategy's own options (its flags), whichever --emb is chosen: a flag may come before
     * --emb, and emb_options_check refuses one of another strategy than the chosen one */
    _Alignas(16) unsigned char sopt[EMB_NKINDS][EMB_SOPT_BYTES];
} EmbOptions;

void emb_options_default(EmbOptions *o);
/* The strategy flags of SPEC 2, shared by `plan` and `train` (embopt.c): flag is the long option's
 * name with or without its dashes ("qr-op", "--bh-t"); "emb", "ratio" and "compress-min" are the
 * common ones, the rest come from each strategy's flag table. 0 when value was stored in o; -1 with an
 * Err naming the flag when it is not a strategy flag or the value is bad. emb_options_check then
 * refuses options of another strategy than o->kind (e.g. --qr-op with --emb bh), which would otherwise
 * be silently ignored. */
int emb_options_parse_flag(EmbOptions *o, const char *flag, const char *value, Err *e);
int emb_options_check(const EmbOptions *o, Err *e);
/* Space-separated flags as typed ("--emb bh --bh-fuse mean"): tests and fixtures describe
 * configurations this way. */
int emb_options_parse_string(EmbOptions *o, const char *flags, Err *e);
/* A command's getopt_long table: its own nbase entries (base), then every strategy flag (--emb, --ratio
 * and the strategies' own), each returning `code`, then the terminating zero entry; opts has room for
 * nbase + EMB_MAX_LONGOPTS + 1. Commands hand what getopt returns for `code` to
 * emb_options_parse_flag with the option's name. */
#define EMB_MAX_LONGOPTS 48
struct option;
void emb_longopts(struct option *opts, const struct option *base, int nbase, int code);
/* The usage lines of those flags, for a command's --help. */
const char *emb_options_usage(void);
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
    uint64_t rows;       /* rows over all its tables */
    uint64_t params;     /* parameters over all its tables */
    int reads;           /* table rows one id reads (bounds the rows a batch touches) */
    uint64_t seed_f;     /* XXH64(le32(f), seed) */
    /* how often each of the N ids occurs in the train split (borrowed from the caller of
     * emb_plan_make_counts, which keeps it alive until emb_free), or NULL: for strategies that
     * set needs_counts */
    const uint32_t *counts;
    char reason[160];    /* why infeasible */
    /* the strategy's own layout, as its plan chose it (m, S, t, ...; the options that shape the
     * tables copied in): create, forward and the plan printer read it from here alone */
    _Alignas(16) unsigned char layout[EMB_LAYOUT_BYTES];
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
/* The same with each field's train counts (counts[f]: N_f values; counts may be NULL), for a strategy
 * that chooses its layout from them (EmbStrategy.needs_counts); emb_plan_needs_counts says whether
 * o's strategy does, so that a caller counts only then. */
int emb_plan_make_counts(EmbPlan *p, const uint64_t *cards, const uint32_t *const *counts, int fields, int w,
                         const EmbOptions *o, Err *e);
int emb_plan_needs_counts(const EmbOptions *o);
void emb_plan_free(EmbPlan *p);
/* An upper bound of the bytes emb_create allocates for a feasible plan: parameters, optimizer state,
 * the per-row slots and the sparse-gradient rows of a batch (the memory check before a run). */
uint64_t emb_plan_bytes(const EmbPlan *p, OptKind opt, int max_batch);
/* The multiply-adds of one sample's embedding forward: every field's plan_macs. */
double emb_plan_macs(const EmbPlan *p);
/* The same, each field's weighted by its strategy's mac_cost: sgemm multiply-adds of a training step. */
double emb_plan_cost_macs(const EmbPlan *p);
/* The field with the most parameters (the first of equals): what a refusal names. */
int emb_plan_largest(const EmbPlan *p);
/* The largest create_temp_bytes of the plan's feasible fields (0: none). */
uint64_t emb_plan_create_temp_bytes(const EmbPlan *p);

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

/* The gradient of a dense table, one whose every row each batch touches (a projection, an MLP's
 * layer; allocated with max_touch >= rows): the first call of a batch touches every row in order, so
 * that the gradient is the (rows, width) matrix t->g, row r at slot r. */
static inline float *emb_grad_dense(EmbTable *t) {
    if (t->ntouched == 0) {
        for (uint32_t r = 0; r < (uint32_t)t->rows; r++) t->slot[r] = (int32_t)r, t->touched[r] = r;
        t->ntouched = (uint32_t)t->rows;
        for (size_t x = 0; x < (size_t)t->rows * (size_t)t->width; x++) t->g[x] = 0.0f;
    }
    return t->g;
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

/* A flag of a strategy: `--NAME VALUE` stored into the strategy's options by parse. */
typedef struct {
    const char *name;    /* the long option without dashes: "qr-op" */
    const char *usage;   /* its lines of --help, each ending in a newline */
    int (*parse)(void *sopt, const char *value, const char *flag, Err *e);
    /* where parse stores the value in the options struct: emb_options_check compares it with the
     * default to refuse a flag given with another strategy */
    size_t offset, size;
} EmbFlag;

/* What `plan` shows of a field: SPEC 4's strategy columns ("NA" where one does not apply; the
 * strategy fills those it has), and `hyper`, what the strategy chose to fit the budget as
 * comma-separated key=value pairs ("m=58", "t=4", "m=29,K=850"; plan --tsv's last column). */
typedef struct {
    char m[24], S[8], t[8], n[8], lengths[256], hyper[64];
} EmbPlanCols;
enum { EMB_COL_M = 1, EMB_COL_BH = 2, EMB_COL_HYPER = 4 }; /* which the human table shows: m; S, t, n
                                                             * and lengths; hyper */

/* A strategy: one const instance per file, no state of its own. Hooks marked "may be NULL" have a
 * default; the others are required. */
typedef struct {
    /* --- options --- */
    size_t opt_size;                         /* its options struct (<= EMB_SOPT_BYTES); 0: none */
    void (*opt_default)(void *sopt);         /* may be NULL: all zero */
    const EmbFlag *flags;                    /* its flags (may be NULL), nflags of them */
    int nflags;
    /* The options' checks beyond each flag's own (whole-options consistency); may be NULL. */
    int (*opt_check)(const void *sopt, Err *e);
    /* The `variant` column (SPEC 6) of these options; compress_min is the run's. */
    void (*variant)(const void *sopt, long compress_min, char *buf, size_t n);
    /* --- layout --- */
    /* Fill fp's layout (fp->layout, rows, params, reads, clamped, feasible) for a compressed field;
     * fp->N, fp->budget and fp->seed_f are set; o holds the common options (ratio, seed), sopt the
     * strategy's own. */
    void (*plan)(EmbFieldPlan *fp, const EmbOptions *o, const void *sopt, int w);
    /* `plan`'s columns of a field (may be NULL: all NA) and which the human table shows (EMB_COL_*) */
    void (*plan_cols)(const EmbFieldPlan *fp, EmbPlanCols *c);
    int plan_shown;
    /* A note on a feasible compressed field for `plan`'s human table (may be NULL), and the header
     * of the notes column (may be NULL: "notes"). */
    void (*plan_note)(const EmbFieldPlan *fp, char *buf, size_t n);
    const char *plan_notes_head;
    /* The layout as space-separated key=value pairs (train --dump-init; tests' references); may be
     * NULL: "-". */
    void (*describe)(const EmbFieldPlan *fp, char *buf, size_t n);
    /* Bytes the touched-row work buffers of a batch of max_batch ids can take (slot maps aside): may be
     * NULL, the bound min(rows, max_batch * max(reads, 2)) rows w floats wide, which overestimates a
     * strategy whose tables are narrower than w (emb_plan_bytes adds the parameters, their optimizer
     * state and the slot maps). */
    uint64_t (*plan_touch_bytes)(const EmbFieldPlan *fp, int w, int max_batch);
    /* Multiply-adds one id's vector costs in forward, on average over the train split's ids (may be
     * NULL: a gather, none worth counting): plan --cost adds them to the backbone's, so that
     * run_all.sh --dry-run's estimate sees a strategy that computes its rows (tt, dhe). */
    double (*plan_macs)(const EmbFieldPlan *fp, int w);
    /* What one of those multiply-adds costs in a training step (forward, backward and any recompute),
     * in sgemm multiply-adds at the model's shapes, as measured end to end against the full table
     * (0 with plan_macs NULL): plan --cost's emb_cost_macs_per_sample, which run_all.sh's estimate
     * adds to the backbone's. */
    double mac_cost;
    /* --- the tables --- */
    /* Allocate f->tables from f->plan (emb_table_alloc) and initialise them so that the composed
     * vectors have std EMB_INIT_STD element-wise (SPEC 4 Init); max_batch bounds the touched rows.
     * Every parameter of a strategy lives in f->tables: they are what a checkpoint saves (cli/ckpt.c),
     * with the train counts the plan read; anything else create builds (f->priv: mde's ranks,
     * hotcold's map) must follow from the plan and those counts alone, since resume and eval build it
     * again with create and then load the tables. */
    void (*create)(EmbField *f, int max_batch, OptKind opt, Rng *rng);
    /* Bytes create allocates for a moment and frees before it returns (a sort's buffers), beyond what
     * emb_plan_bytes counts; may be NULL: none. Fields are created in parallel, so train's memory
     * check reserves the largest field's on every core (emb_plan_create_temp_bytes). */
    uint64_t (*create_temp_bytes)(const EmbFieldPlan *fp);
    /* out[b*out_stride + 0..w) = vector of ids[b*id_stride]   out (B, w) strided, ids (B) strided */
    void (*forward)(const EmbField *f, float *out, size_t out_stride, const uint32_t *ids,
                    size_t id_stride, int B);
    /* Adds the gradients of dout (B, w) into the tables' sparse gradients; right with repeated ids. */
    void (*backward)(EmbField *f, const float *dout, size_t dout_stride, const uint32_t *ids,
                     size_t id_stride, int B);
    /* Applies the optimizer to the touched rows, each once, and clears the sparse gradient; may be
     * NULL: emb_tables_update. */
    void (*update)(EmbField *f, const Optim *o);
    /* Frees strategy-private state (tables are freed by emb_field_free); may be NULL. */
    void (*free_priv)(EmbField *f);
    /* Bytes of strategy-private state that is part of the layout (an index the method needs, such as
     * hotcold's hot-id map: its plan counts them in params, 4 bytes a parameter); emb_bytes adds them
     * to the parameter bytes. May be NULL: none. */
    uint64_t (*priv_bytes)(const EmbField *f);
    /* 1: plan reads fp->counts (the train split's id counts); a layout without them is infeasible */
    int needs_counts;
    /* --- tests --- */
    /* Option combinations test_emb runs every generic check on, as flags after --emb NAME; {a,b}
     * expands to each alternative ("--bh-fuse {sum,mean}"), {,x} to without and with x. NULL-ended;
     * may be NULL: the defaults only. */
    const char *const *test_configs;
    /* The half-width of the uniform values the tests fill table t with (may be NULL: 1, values in
     * [-1, 1]): an MLP's layers (dhe) take 1/sqrt(fan-in)-like ranges, so that activations stay of
     * order 1 and the float checks keep their precision. */
    double (*test_range)(const EmbField *f, int t);
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

#define EMB_DECLARE_(kind, name, strategy) extern const EmbStrategy strategy;
EMB_STRATEGY_LIST(EMB_DECLARE_)
#undef EMB_DECLARE_
extern const EmbStrategy *const EMB_STRATEGIES[EMB_NKINDS];

/* A field's strategy: its plan's when compressed, else the full table's. */
const EmbStrategy *emb_field_strategy(const EmbPlan *p, const EmbFieldPlan *fp);
EmbKind emb_field_kind(const EmbPlan *p, const EmbFieldPlan *fp);
/* `plan`'s columns and the key=value description of a field, through its strategy's hooks. */
void emb_plan_cols(const EmbPlan *p, const EmbFieldPlan *fp, EmbPlanCols *c);
void emb_describe(const EmbPlan *p, const EmbFieldPlan *fp, char *buf, size_t n);

/* Shared building blocks for strategies. */
void emb_table_alloc(EmbTable *t, uint64_t rows, int width, uint32_t max_touch, OptKind opt);
void emb_table_init_normal(EmbTable *t, double mean, double std, Rng *rng);
void emb_table_free(EmbTable *t);
void emb_tables_update(EmbField *f, const Optim *o);              /* generic `update` */
void emb_tables_bytes(const EmbField *f, uint64_t *param_bytes, uint64_t *opt_bytes);

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
void emb_field_update(EmbField *f, const Optim *o); /* one field's: its strategy's update or the generic */
void emb_bytes(const Emb *emb, uint64_t *param_bytes, uint64_t *opt_bytes);
/* Bytes of the sparse-gradient work buffers (slot maps, touched lists, gradient rows). */
uint64_t emb_work_bytes(const Emb *emb);

#endif
