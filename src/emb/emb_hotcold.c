/* emb_hotcold: the frequency hybrid (Twitter's hybrid hashing, Zhang et al. 2020; the idea behind
 * CAFE's hot-id sketch, SIGMOD 2024): the H ids seen most often in the train split get rows of their
 * own (tables[1], H x w, in id order); every other id, the unseen ones included, is hashed into a
 * shared cold table of m rows (tables[0]; row XXH64(id, seed_f) mod m, the hashing
 * trick's). The hot ids are found through an open-addressing map of 2^k >= 2H slots (a 4-byte key
 * and a 4-byte row each), which counts in the budget like parameters: memory the method needs per hot
 * id, as CAFE counts its sketch. Hot ids: the H largest train counts, ties to the smaller id. The OOV
 * id 0 is an id like the others: hot when it is frequent in train (prep's --min-count folds rare
 * values into it), cold otherwise.
 *
 * H for a budget of N w / r: every H whose layout fits, (H + m) w + 2 slots(H) <= budget with m >= 1
 * cold rows, is scored by the train traffic the cold table serves times the other cold ids a row is
 * expected to hold, F_cold(H) (N - H - 1) / m, and the smallest score wins (ties: the smaller H). Few
 * hot rows leave the heavy ids colliding; many leave too few cold rows for the rest. A budget below
 * one row is clamped at H = 0, m = 1. The counts come from the prepared dataset (train and plan
 * --data count them); without them (plan --cards) the layout is infeasible. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/radix.h"
#include "emb/emb.h"

typedef struct {
    uint64_t hot, m; /* hot rows (H), cold rows */
    uint64_t slots;  /* the hot-id map's slots: 0, or a power of two >= 2H */
    double share;    /* the hot ids' share of the train occurrences */
    uint32_t edge;   /* the H-th largest count: create takes every id above it, then its ties in id order */
} HotLayout;
_Static_assert(sizeof(HotLayout) <= EMB_LAYOUT_BYTES, "hotcold's layout fits EmbFieldPlan.layout");

static inline const HotLayout *layout(const EmbFieldPlan *fp) { return (const HotLayout *)fp->layout; }

static void hotcold_variant(const void *sopt, long compress_min, char *buf, size_t n) {
    (void)sopt;
    snprintf(buf, n, "hotcold:cm%ld", compress_min);
}

/* --- layout --- */

static uint64_t map_slots(uint64_t hot) {
    if (!hot) return 0;
    uint64_t s = 2;
    while (s < 2 * hot) s <<= 1;
    return s;
}

RADIX_SORT_DEFINE(sort_counts, uint32_t, 4, 8, RADIX_BYTE)


static void hotcold_plan(EmbFieldPlan *fp, const EmbOptions *common, const void *sopt, int w) {
    (void)common, (void)sopt;
    HotLayout *L = (HotLayout *)fp->layout;
    const uint64_t N = fp->N;
    fp->reads = 1;
    if (!fp->counts) {
        fp->feasible = 0;
        snprintf(fp->reason, sizeof fp->reason,
                 "hotcold chooses its hot ids from the train split's counts (plan --data DIR, not --cards)");
        return;
    }
    uint32_t *a = xmalloc(N * sizeof *a), *tmp = xmalloc(N * sizeof *tmp);
    memcpy(a, fp->counts, N * sizeof *a);
    const uint32_t *s = sort_counts(a, tmp, N); /* ascending: the H-th largest is s[N - H] */
    double total = 0;
    for (uint64_t i = 0; i < N; i++) total += s[i];
    uint64_t best_h = 0, best_m = 1;
    double best = INFINITY, top = 0, best_top = 0;
    for (uint64_t H = 0; H < N; top += s[N - 1 - H], H++) {
        const double rows = floor((fp->budget - 2.0 * (double)map_slots(H)) / w);
        if (rows < (double)H + 1) break; /* fewer than one cold row: larger H fit no better */
        const uint64_t m = (uint64_t)rows - H;
        const double score = (total - top) * (double)(N - H - 1) / (double)m;
        if (score < best) best = score, best_h = H, best_m = m, best_top = top;
    }
    L->edge = best_h ? s[N - best_h] : 0;
    free(a);
    free(tmp);
    L->hot = best_h;
    L->m = best_m;
    L->slots = map_slots(best_h);
    L->share = total > 0 ? best_top / total : 0;
    fp->rows = L->hot + L->m;
    fp->params = fp->rows * (uint64_t)w + 2 * L->slots;
    fp->clamped = (double)fp->params > fp->budget;
}

static void hotcold_plan_cols(const EmbFieldPlan *fp, EmbPlanCols *c) {
    if (!fp->feasible) return; /* no counts: no layout */
    snprintf(c->m, sizeof c->m, "%llu", (unsigned long long)layout(fp)->m);
    snprintf(c->hyper, sizeof c->hyper, "hot=%llu,m=%llu", (unsigned long long)layout(fp)->hot,
             (unsigned long long)layout(fp)->m);
}

static void hotcold_plan_note(const EmbFieldPlan *fp, char *buf, size_t n) {
    snprintf(buf, n, " hot ids %.1f%% of train", 100 * layout(fp)->share);
}

static void hotcold_describe(const EmbFieldPlan *fp, char *buf, size_t n) {
    const HotLayout *L = layout(fp);
    snprintf(buf, n, "hot=%llu m=%llu slots=%llu", (unsigned long long)L->hot, (unsigned long long)L->m,
             (unsigned long long)L->slots);
}

/* --- the tables and the hot-id map --- */

typedef struct {
    uint32_t *key; /* id + 1; 0: empty */
    uint32_t *row; /* the id's row of the hot table */
    uint64_t mask;
    int shift;
} HotMap;

static inline uint64_t map_home(const HotMap *h, uint32_t id) {
    return (uint64_t)(((uint64_t)id * 0x9E3779B97F4A7C15ull) >> h->shift);
}

/* the id's hot row, or -1 */
static inline int64_t map_find(const HotMap *h, uint32_t id) {
    if (!h->key) return -1;
    for (uint64_t i = map_home(h, id);; i = (i + 1) & h->mask) {
        const uint32_t k = h->key[i];
        if (k == id + 1) return h->row[i];
        if (!k) return -1;
    }
}

static void hotcold_create(EmbField *f, int max_batch, OptKind opt, Rng *rng) {
    const HotLayout *L = layout(&f->plan);
    HotMap *h = xcalloc(1, sizeof *h);
    f->priv = h;
    f->ntables = L->hot ? 2 : 1;
    emb_table_alloc(&f->tables[0], L->m, f->w, (uint32_t)max_batch, opt);
    emb_table_init_normal(&f->tables[0], 0.0, EMB_INIT_STD, rng);
    if (!L->hot) return;
    emb_table_alloc(&f->tables[1], L->hot, f->w, (uint32_t)max_batch, opt);
    emb_table_init_normal(&f->tables[1], 0.0, EMB_INIT_STD, rng);
    /* the hot ids: every count above the H-th largest, then that count's ids in id order */
    const uint64_t N = f->plan.N;
    const uint32_t *cnt = f->plan.counts, edge = L->edge;
    CHECK(cnt);
    uint64_t above = 0;
    for (uint64_t i = 0; i < N; i++) above += cnt[i] > edge;
    h->key = xcalloc(L->slots, sizeof *h->key);
    h->row = xcalloc(L->slots, sizeof *h->row);
    h->mask = L->slots - 1;
    h->shift = 64 - __builtin_ctzll(L->slots);
    uint64_t at_edge = L->hot - above, row = 0;
    for (uint64_t id = 0; id < N && row < L->hot; id++) {
        if (cnt[id] < edge || (cnt[id] == edge && !at_edge)) continue;
        if (cnt[id] == edge) at_edge--;
        uint64_t i = map_home(h, (uint32_t)id);
        while (h->key[i]) i = (i + 1) & h->mask;
        h->key[i] = (uint32_t)id + 1;
        h->row[i] = (uint32_t)row++;
    }
    CHECK(row == L->hot);
}

static void hotcold_free_priv(EmbField *f) {
    HotMap *h = f->priv;
    if (!h) return;
    free(h->key);
    free(h->row);
    free(h);
    f->priv = NULL;
}

static uint64_t hotcold_priv_bytes(const EmbField *f) {
    return layout(&f->plan)->slots * 2 * sizeof(uint32_t);
}

/* The id's row: (table, row). */
static inline const float *hc_row(const EmbField *f, EmbMod mod, uint32_t id, int *table, uint32_t *row) {
    const int64_t r = map_find(f->priv, id);
    *table = r >= 0;
    *row = r >= 0 ? (uint32_t)r : (uint32_t)emb_mod(mod, emb_hash_id(id, f->plan.seed_f));
    return f->tables[*table].w + (size_t)*row * (size_t)f->w;
}

static void hotcold_forward(const EmbField *f, float *out, size_t out_stride, const uint32_t *ids,
                            size_t id_stride, int B) {
    const int w = f->w;
    const EmbMod mod = emb_mod_init(layout(&f->plan)->m);
    for (int b0 = 0; b0 < B; b0 += EMB_GROUP) {
        const int n = B - b0 < EMB_GROUP ? B - b0 : EMB_GROUP;
        const float *src[EMB_GROUP];
        for (int i = 0; i < n; i++) {
            int t;
            uint32_t r;
            src[i] = hc_row(f, mod, ids[(size_t)(b0 + i) * id_stride], &t, &r);
            emb_prefetch_row(src[i], w);
        }
        for (int i = 0; i < n; i++) emb_row_copy(out + (size_t)(b0 + i) * out_stride, src[i], w);
    }
}

static void hotcold_backward(EmbField *f, const float *dout, size_t dout_stride, const uint32_t *ids,
                             size_t id_stride, int B) {
    const int w = f->w;
    const EmbMod mod = emb_mod_init(layout(&f->plan)->m);
    for (int b = 0; b < B; b++) {
        int t;
        uint32_t r;
        hc_row(f, mod, ids[(size_t)b * id_stride], &t, &r);
        emb_row_add(emb_grad_row(&f->tables[t], r), dout + (size_t)b * dout_stride, w);
    }
}

const EmbStrategy EMB_HOTCOLD_STRATEGY = {
    .variant = hotcold_variant,
    .plan = hotcold_plan,
    .plan_cols = hotcold_plan_cols,
    .plan_shown = EMB_COL_M | EMB_COL_HYPER,
    .plan_note = hotcold_plan_note,
    .plan_notes_head = "notes",
    .describe = hotcold_describe,
    .create = hotcold_create,
    .forward = hotcold_forward,
    .backward = hotcold_backward,
    .free_priv = hotcold_free_priv,
    .priv_bytes = hotcold_priv_bytes,
    .needs_counts = 1,
};
