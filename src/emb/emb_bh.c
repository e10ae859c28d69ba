/* emb_bh: binary-code based hash embedding (SPEC 4; Yan et al., CIKM 2021). An id's S-bit code (the id
 * itself, or the low S bits of XXH64(id, seed_f) with --bh-bits S) is cut into n blocks, by succession
 * (block j = bits [j*t, min(S, (j+1)*t))) or by skip (block j = bits j, j+n, j+2n, ...); each block,
 * read as an integer with its first bit least significant, indexes a table; the n block vectors are
 * fused by sum, mean or concat.
 *
 * Tables: shared (one table of 2^(longest block) rows, tables[0]) or per-block (block j's 2^len_j rows
 * after those of the blocks before it: one table for sum and mean, tables[0]; for concat, whose blocks
 * have different widths, one table per block, tables[j], holding the same rows).
 *
 * The per-field masks and shifts are computed once (EmbBhLayout, the field's priv); the hot loop is a
 * shift and a mask per block for succession, one pext per block for skip: no division, no allocation. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __BMI2__
#include <immintrin.h>
#endif

#include <xxhash.h>

#include "core/radix.h"
#include "emb/emb_bh.h"

/* --- the layout --- */

static int bits_auto(uint64_t N) {
    int S = 0;
    while (S < 64 && (1ull << S) < N) S++;
    return S < 1 ? 1 : S;
}

/* n = ceil(S/t) blocks and their lengths in bits */
static int bh_lengths(int S, int t, int blocks, int *len) {
    int n = (S + t - 1) / t;
    for (int j = 0; j < n; j++) {
        if (blocks == BH_SUCCESSION) len[j] = ((j + 1) * t < S ? (j + 1) * t : S) - j * t;
        else len[j] = (S - j + n - 1) / n; /* bits j, j+n, ... below S */
    }
    return n;
}

static int max_len(const int *len, int n) {
    int m = 0;
    for (int j = 0; j < n; j++) m = len[j] > m ? len[j] : m;
    return m;
}

/* Rows and parameters of a layout (128-bit: a fixed --bh-t may ask for 2^63 rows); -1 when it cannot
 * be built. */
typedef unsigned __int128 u128;
static int bh_size(const int *len, int n, int table, int fuse, int w, u128 *rows, u128 *params) {
    if (fuse == BH_CONCAT && (table == BH_SHARED || n > w)) return -1;
    u128 r = 0, p = 0;
    if (table == BH_SHARED) r = (u128)1 << max_len(len, n);
    else
        for (int j = 0; j < n; j++) r += (u128)1 << len[j];
    if (fuse == BH_CONCAT)
        for (int j = 0; j < n; j++) p += ((u128)1 << len[j]) * (u128)(w / n + (j < w % n));
    else p = r * (u128)w;
    *rows = r;
    *params = p;
    return 0;
}

static uint64_t sat64(u128 x) { return x > UINT64_MAX ? UINT64_MAX : (uint64_t)x; }

static void bh_plan(EmbFieldPlan *fp, const EmbOptions *common, const void *sopt, int w) {
    (void)common;
    const BhOptions *o = sopt;
    BhPlan *P = (BhPlan *)fp->layout;
    P->blocks = o->blocks;
    P->table = o->table;
    P->fuse = o->fuse;
    P->hashed = o->bits != 0;
    const int S = o->bits ? o->bits : bits_auto(fp->N);
    P->S = S;
    if (o->fuse == BH_CONCAT && o->table == BH_SHARED) {
        fp->feasible = 0;
        snprintf(fp->reason, sizeof fp->reason,
                 "bh concat fusion needs per-block tables (blocks of a shared table have one width)");
        return;
    }
    int len[EMB_MAX_BLOCKS], n, t;
    u128 rows, params;
    if (o->t) {
        t = o->t < S ? o->t : S;
        n = bh_lengths(S, t, o->blocks, len);
        if (bh_size(len, n, o->table, o->fuse, w, &rows, &params)) {
            fp->feasible = 0;
            snprintf(fp->reason, sizeof fp->reason,
                     "bh concat of %d blocks needs at least %d columns (w = %d)", n, n, w);
            P->t = o->blocks == BH_SKIP ? max_len(len, n) : t;
            P->n = n;
            fp->reads = n;
            memcpy(P->lengths, len, (size_t)n * sizeof *len);
            return;
        }
    } else {
        /* the largest t that fits; else the largest t among those with the fewest parameters */
        int best_fit = 0, best_small = 0;
        u128 fewest = 0;
        for (int tt = S; tt >= 1; tt--) {
            int l[EMB_MAX_BLOCKS];
            u128 r, p;
            if (bh_size(l, bh_lengths(S, tt, o->blocks, l), o->table, o->fuse, w, &r, &p))
                continue;
            if ((double)p <= fp->budget) {
                best_fit = tt;
                break;
            }
            if (!best_small || p < fewest) {
                best_small = tt;
                fewest = p;
            }
        }
        t = best_fit ? best_fit : best_small;
        CHECK(t >= 1); /* t = S is one block: buildable in every feasible layout */
        n = bh_lengths(S, t, o->blocks, len);
        CHECK(bh_size(len, n, o->table, o->fuse, w, &rows, &params) == 0);
    }
    P->t = o->blocks == BH_SKIP ? max_len(len, n) : t; /* skip: reported by its longest block */
    P->n = n;
    fp->reads = n;
    memcpy(P->lengths, len, (size_t)n * sizeof *len);
    fp->rows = sat64(rows);
    fp->params = sat64(params);
    fp->clamped = (double)fp->params > fp->budget;
    if (rows >= ((u128)1 << 31)) {
        fp->feasible = 0;
        snprintf(fp->reason, sizeof fp->reason,
                 "bh tables of 2^31 rows or more cannot be built (S = %d, t = %d)", S, P->t);
    }
}

uint64_t emb_bh_pext_ref(uint64_t x, uint64_t mask) {
    uint64_t r = 0;
    for (int k = 0; mask; k++) {
        uint64_t low = mask & -mask;
        if (x & low) r |= 1ull << k;
        mask ^= low;
    }
    return r;
}

static inline uint64_t pext64(uint64_t x, uint64_t mask) {
#ifdef __BMI2__
    return _pext_u64(x, mask);
#else
    return emb_bh_pext_ref(x, mask);
#endif
}

uint64_t emb_bh_pext(uint64_t x, uint64_t mask) { return pext64(x, mask); }

void emb_bh_layout(EmbBhLayout *L, const EmbFieldPlan *fp) {
    memset(L, 0, sizeof *L);
    CHECK(BHP(fp)->S >= 1 && BHP(fp)->S <= 64 && BHP(fp)->n >= 1 && BHP(fp)->n <= EMB_MAX_BLOCKS);
    L->S = BHP(fp)->S;
    L->n = BHP(fp)->n;
    L->skip = BHP(fp)->blocks == BH_SKIP;
    L->hashed = BHP(fp)->hashed;
    L->seed_f = fp->seed_f;
    L->code_mask = BHP(fp)->S >= 64 ? UINT64_MAX : (1ull << BHP(fp)->S) - 1;
    uint64_t off = 0;
    int start = 0;
    for (int j = 0; j < BHP(fp)->n; j++) {
        const int len = BHP(fp)->lengths[j];
        if (L->skip) {
            for (int b = j; b < BHP(fp)->S; b += BHP(fp)->n) L->mask[j] |= 1ull << b;
        } else {
            L->shift[j] = start;
            L->mask[j] = len >= 64 ? UINT64_MAX : (1ull << len) - 1;
            start += len;
        }
        L->offset[j] = BHP(fp)->table == BH_PER_BLOCK ? off : 0;
        off += len >= 64 ? 0 : 1ull << len;
    }
}

static inline uint64_t bh_code(const EmbBhLayout *L, uint32_t id) {
    return (L->hashed ? emb_hash_id(id, L->seed_f) : (uint64_t)id) & L->code_mask;
}

/* The row of block j (offset included). */
static inline uint64_t bh_row(const EmbBhLayout *L, uint64_t code, int j) {
    uint64_t v = L->skip ? pext64(code, L->mask[j]) : (code >> L->shift[j]) & L->mask[j];
    return v + L->offset[j];
}

uint64_t emb_bh_code(const EmbBhLayout *L, uint32_t id) { return bh_code(L, id); }

void emb_bh_rows(const EmbBhLayout *L, uint32_t id, uint64_t *rows) {
    const uint64_t code = bh_code(L, id);
    for (int j = 0; j < L->n; j++) rows[j] = bh_row(L, code, j);
}

/* --- sharing count --- */

RADIX_SORT_DEFINE(sort_u64, uint64_t, 8, 8, RADIX_BYTE)

uint64_t emb_bh_sharing(const EmbFieldPlan *fp, uint64_t max_ids) {
    const int permute = BHP(fp)->table == BH_SHARED && BHP(fp)->fuse != BH_CONCAT;
    if (!permute && !BHP(fp)->hashed) return 0; /* distinct ids, distinct codes, distinct rows */
    if (fp->N > max_ids) return UINT64_MAX;
    EmbBhLayout L;
    emb_bh_layout(&L, fp);
    const size_t N = (size_t)fp->N;
    uint64_t *key = xmalloc(N * sizeof *key), *tmp = xmalloc(N * sizeof *tmp);
    /* a canonical key per id: its code, or its sorted block rows packed into t bits each (exact when
     * they fit in 64 bits; else their XXH64, where a false match has probability ~N^2 / 2^64) */
    const int bits = max_len(BHP(fp)->lengths, BHP(fp)->n);
    const int packed = (long)bits * BHP(fp)->n <= 64;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) {
        const uint64_t code = bh_code(&L, (uint32_t)i);
        if (!permute) {
            key[i] = code;
            continue;
        }
        uint64_t r[EMB_MAX_BLOCKS];
        for (int j = 0; j < L.n; j++) {
            uint64_t v = bh_row(&L, code, j);
            int k = j;
            for (; k > 0 && r[k - 1] > v; k--) r[k] = r[k - 1];
            r[k] = v;
        }
        if (L.n == 1) {
            key[i] = r[0];
        } else if (packed) { /* n >= 2 here, so bits <= 32 */
            uint64_t x = 0;
            for (int j = 0; j < L.n; j++) x = (x << bits) | r[j];
            key[i] = x;
        } else {
            key[i] = XXH64(r, (size_t)L.n * sizeof *r, 0);
        }
    }
    const uint64_t *sorted = sort_u64(key, tmp, N);
    uint64_t sharing = 0;
    for (size_t i = 0; i < N;) {
        size_t k = i + 1;
        while (k < N && sorted[k] == sorted[i]) k++;
        if (k - i > 1) sharing += k - i;
        i = k;
    }
    free(key);
    free(tmp);
    return sharing;
}

/* --- the strategy --- */

/* The field's priv: the layout, and for concat each block's columns. */
typedef struct {
    EmbBhLayout L;
    float scale;                 /* mean: 1/n; sum: 1 */
    int col[EMB_MAX_BLOCKS + 1]; /* concat: block j's columns are [col[j], col[j+1]) */
} BhPriv;

static void bh_create(EmbField *f, int max_batch, OptKind opt, Rng *rng) {
    const EmbFieldPlan *p = &f->plan;
    const BhPlan *P = BHP(p);
    BhPriv *pv = xcalloc(1, sizeof *pv);
    emb_bh_layout(&pv->L, p);
    const int n = P->n;
    pv->scale = P->fuse == BH_MEAN ? 1.0f / (float)n : 1.0f;
    /* a batch touches at most B rows per block */
    const uint64_t touch64 = (uint64_t)max_batch * (uint64_t)n;
    const uint32_t touch = touch64 > UINT32_MAX ? UINT32_MAX : (uint32_t)touch64;
    const double s = EMB_INIT_STD;
    if (P->fuse == BH_CONCAT) {
        /* one table per block: block j's rows are those SPEC 4 numbers from offset[j] */
        CHECK(P->table == BH_PER_BLOCK && n <= f->w && n <= EMB_MAX_TABLES);
        f->ntables = n;
        for (int j = 0, c = 0; j <= n; j++) {
            pv->col[j] = c;
            if (j == n) break;
            const int cw = f->w / n + (j < f->w % n);
            c += cw;
            emb_table_alloc(&f->tables[j], 1ull << P->lengths[j], cw, (uint32_t)max_batch, opt);
            emb_table_init_normal(&f->tables[j], 0.0, s, rng);
            pv->L.offset[j] = 0;
        }
    } else {
        f->ntables = 1;
        emb_table_alloc(&f->tables[0], p->rows, f->w, touch, opt);
        /* The sum of n rows has variance st^2 * E[sum_v c_v^2], c_v the blocks reading row v: n for
         * per-block tables; a shared table adds, for each ordered pair of blocks, the chance that they
         * read the same row, 1 / 2^max(len_j, len_k) for uniform code bits. mean divides by n. */
        double e2 = n;
        if (P->table == BH_SHARED)
            for (int j = 0; j < n; j++)
                for (int k = 0; k < n; k++)
                    if (j != k) e2 += ldexp(1.0, -max_len((const int[2]){P->lengths[j], P->lengths[k]}, 2));
        const double st = (P->fuse == BH_MEAN ? s * n : s) / sqrt(e2);
        emb_table_init_normal(&f->tables[0], 0.0, st, rng);
    }
    f->priv = pv;
}

static void bh_free_priv(EmbField *f) {
    free(f->priv);
    f->priv = NULL;
}

static void bh_forward(const EmbField *f, float *out, size_t out_stride, const uint32_t *ids,
                       size_t id_stride, int B) {
    const BhPriv *pv = f->priv;
    const EmbBhLayout *L = &pv->L;
    const int n = L->n, w = f->w;
    if (BHP(&f->plan)->fuse == BH_CONCAT) {
        for (int b = 0; b < B; b++) {
            const uint64_t code = bh_code(L, ids[(size_t)b * id_stride]);
            float *o = out + (size_t)b * out_stride;
            for (int j = 0; j < n; j++) {
                const EmbTable *t = &f->tables[j];
                memcpy(o + pv->col[j], t->w + (size_t)bh_row(L, code, j) * (size_t)t->width,
                       (size_t)t->width * sizeof(float));
            }
        }
        return;
    }
    const float *T = f->tables[0].w;
    const float scale = pv->scale;
    for (int b = 0; b < B; b++) {
        const uint64_t code = bh_code(L, ids[(size_t)b * id_stride]);
        float *o = out + (size_t)b * out_stride;
        const float *r0 = T + (size_t)bh_row(L, code, 0) * (size_t)w;
        for (int k = 0; k < w; k++) o[k] = r0[k];
        for (int j = 1; j < n; j++) {
            const float *r = T + (size_t)bh_row(L, code, j) * (size_t)w;
            for (int k = 0; k < w; k++) o[k] += r[k];
        }
        if (scale != 1.0f)
            for (int k = 0; k < w; k++) o[k] *= scale;
    }
}

static void bh_backward(EmbField *f, const float *dout, size_t dout_stride, const uint32_t *ids,
                        size_t id_stride, int B) {
    const BhPriv *pv = f->priv;
    const EmbBhLayout *L = &pv->L;
    const int n = L->n, w = f->w;
    if (BHP(&f->plan)->fuse == BH_CONCAT) {
        for (int b = 0; b < B; b++) {
            const uint64_t code = bh_code(L, ids[(size_t)b * id_stride]);
            const float *d = dout + (size_t)b * dout_stride;
            for (int j = 0; j < n; j++) {
                EmbTable *t = &f->tables[j];
                float *g = emb_grad_row(t, (uint32_t)bh_row(L, code, j));
                const float *dj = d + pv->col[j];
                for (int k = 0; k < t->width; k++) g[k] += dj[k];
            }
        }
        return;
    }
    EmbTable *t = &f->tables[0];
    const float scale = pv->scale;
    for (int b = 0; b < B; b++) {
        const uint64_t code = bh_code(L, ids[(size_t)b * id_stride]);
        const float *d = dout + (size_t)b * dout_stride;
        for (int j = 0; j < n; j++) {
            float *g = emb_grad_row(t, (uint32_t)bh_row(L, code, j));
            if (scale == 1.0f)
                for (int k = 0; k < w; k++) g[k] += d[k];
            else
                for (int k = 0; k < w; k++) g[k] += scale * d[k];
        }
    }
}

/* --- options, and what plan shows --- */

const char *const BH_BLOCKS_NAMES[2] = {"succession", "skip"};
const char *const BH_TABLE_NAMES[2] = {"shared", "per-block"};
const char *const BH_FUSE_NAMES[3] = {"sum", "mean", "concat"};

static int parse_blocks(void *o, const char *v, const char *fl, Err *e) {
    return parse_name(v, BH_BLOCKS_NAMES, 2, fl, &((BhOptions *)o)->blocks, e);
}
static int parse_table(void *o, const char *v, const char *fl, Err *e) {
    return parse_name(v, BH_TABLE_NAMES, 2, fl, &((BhOptions *)o)->table, e);
}
static int parse_fuse(void *o, const char *v, const char *fl, Err *e) {
    return parse_name(v, BH_FUSE_NAMES, 3, fl, &((BhOptions *)o)->fuse, e);
}
static int parse_bits(void *o, const char *v, const char *fl, Err *e) {
    long long x;
    if (!strcmp(v, "auto")) {
        ((BhOptions *)o)->bits = 0;
        return 0;
    }
    if (parse_i64(v, 1, 63, fl, &x, e)) {
        if (strstr(e->msg, "whole number"))
            err_set(e, "%s: '%s' is neither auto nor a bit count in [1, 63]", fl, v);
        return -1;
    }
    ((BhOptions *)o)->bits = (int)x;
    return 0;
}
static int parse_t(void *o, const char *v, const char *fl, Err *e) {
    long long x;
    if (parse_i64(v, 1, 63, fl, &x, e)) return -1;
    ((BhOptions *)o)->t = (int)x;
    return 0;
}

static const EmbFlag BH_FLAGS[] = {
    {"bh-blocks", "  --bh-blocks succession|skip        bh: how the code is cut into blocks (default succession)\n",
     parse_blocks, offsetof(BhOptions, blocks), sizeof(int)},
    {"bh-table", "  --bh-table shared|per-block        bh: one table for all blocks, or one per block (default shared)\n",
     parse_table, offsetof(BhOptions, table), sizeof(int)},
    {"bh-fuse", "  --bh-fuse sum|mean|concat          bh: how block vectors are fused (default sum)\n",
     parse_fuse, offsetof(BhOptions, fuse), sizeof(int)},
    {"bh-bits", "  --bh-bits auto|S                   bh: code length; auto = ceil(log2 N_f), the id as it is;\n"
                "                                     S = the low S bits of the id's XXH64 (default auto)\n",
     parse_bits, offsetof(BhOptions, bits), sizeof(int)},
    {"bh-t", "  --bh-t T                           bh: fix the block length to min(T, S) instead of the budget's\n",
     parse_t, offsetof(BhOptions, t), sizeof(int)},
};

static int bh_opt_check(const void *sopt, Err *e) {
    const BhOptions *o = sopt;
    if (o->bits < 0 || o->bits > 63) return err_set(e, "--bh-bits: %d is out of range [1, 63]", o->bits);
    if (o->t < 0 || o->t > 63) return err_set(e, "--bh-t: %d is out of range [1, 63]", o->t);
    return 0;
}

static void bh_variant(const void *sopt, long compress_min, char *buf, size_t n) {
    const BhOptions *o = sopt;
    char bits[16], t[16] = "";
    if (o->bits) snprintf(bits, sizeof bits, "S%d", o->bits);
    else snprintf(bits, sizeof bits, "Sauto");
    if (o->t) snprintf(t, sizeof t, ":t%d", o->t);
    snprintf(buf, n, "bh:%s:%s:%s:%s%s:cm%ld", BH_BLOCKS_NAMES[o->blocks], BH_TABLE_NAMES[o->table],
             BH_FUSE_NAMES[o->fuse], bits, t, compress_min);
}

static void lengths_str(const BhPlan *P, char *buf, size_t n, const char *sep) {
    buf[0] = 0;
    for (int j = 0; j < P->n; j++) {
        size_t at = strlen(buf);
        snprintf(buf + at, n - at, "%s%d", j ? sep : "", P->lengths[j]);
    }
}

static void bh_plan_cols(const EmbFieldPlan *fp, EmbPlanCols *c) {
    const BhPlan *P = BHP(fp);
    snprintf(c->S, sizeof c->S, "%d", P->S);
    if (P->n) {
        snprintf(c->t, sizeof c->t, "%d", P->t);
        snprintf(c->n, sizeof c->n, "%d", P->n);
        lengths_str(P, c->lengths, sizeof c->lengths, "/");
        snprintf(c->hyper, sizeof c->hyper, "t=%d", P->t);
    }
}

/* ids sharing their vector are counted up to this field size (16 bytes per id) */
#define BH_SHARING_MAX_IDS (1ull << 25)

static void bh_plan_note(const EmbFieldPlan *fp, char *buf, size_t n) {
    uint64_t s = emb_bh_sharing(fp, BH_SHARING_MAX_IDS);
    if (s == UINT64_MAX) snprintf(buf, n, " sharing: not counted (N > %llu)", BH_SHARING_MAX_IDS);
    else snprintf(buf, n, " sharing: %llu (%.3g%%)", (unsigned long long)s, 100.0 * (double)s / (double)fp->N);
}

static void bh_describe(const EmbFieldPlan *fp, char *buf, size_t n) {
    const BhPlan *P = BHP(fp);
    char len[256];
    lengths_str(P, len, sizeof len, ",");
    snprintf(buf, n, "S=%d t=%d n=%d lengths=%s blocks=%s table=%s fuse=%s hashed=%d", P->S, P->t, P->n,
             len, BH_BLOCKS_NAMES[P->blocks], BH_TABLE_NAMES[P->table], BH_FUSE_NAMES[P->fuse], P->hashed);
}

static const char *const BH_TESTS[] = {
    "--bh-blocks {succession,skip} --bh-table {shared,per-block} --bh-fuse {sum,mean} "
    "{,--bh-bits 20,--bh-bits 12} {,--bh-t 3}",
    "--bh-blocks {succession,skip} --bh-table per-block --bh-fuse concat {,--bh-bits 20,--bh-bits 12} "
    "{,--bh-t 3}",
    NULL};

const EmbStrategy EMB_BH_STRATEGY = {
    .opt_size = sizeof(BhOptions),
    .flags = BH_FLAGS,
    .nflags = sizeof BH_FLAGS / sizeof BH_FLAGS[0],
    .opt_check = bh_opt_check,
    .variant = bh_variant,
    .plan = bh_plan,
    .plan_cols = bh_plan_cols,
    .plan_shown = EMB_COL_BH,
    .plan_note = bh_plan_note,
    .plan_notes_head = "notes (sharing: ids that share their vector with another)",
    .describe = bh_describe,
    .create = bh_create,
    .forward = bh_forward,
    .backward = bh_backward,
    .free_priv = bh_free_priv,
    .test_configs = BH_TESTS,
};
