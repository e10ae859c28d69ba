#include "data/vocab.h"

#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "core/radix.h"

const char *const VOCAB_ORDER_NAMES[VOCAB_NORDERS] = {"freq", "first", "hash"};

#define TAG_STR 0x80000000u
#define TAG_LOW 0x7fffffffu
#define INIT_CAP 1024u

void vocab_init(VocabMap *m) {
    memset(m, 0, sizeof *m);
    m->cap = INIT_CAP;
    m->slots = xcalloc(m->cap, sizeof *m->slots);
    m->arena_len = 1; /* offset 0 unused */
}

void vocab_free(VocabMap *m) {
    free(m->slots);
    free(m->str);
    free(m->arena);
    memset(m, 0, sizeof *m);
}

VocabVal vocab_val_str(const char *p, uint32_t len) {
    VocabVal v = {XXH3_64bits(p, len), p, len, VOCAB_STR};
    return v;
}

uint64_t vocab_distinct(const VocabMap *m) { return m->n + (m->empty_count > 0); }

uint64_t vocab_bytes(const VocabMap *m) {
    return m->cap * (sizeof *m->slots + (m->str ? sizeof *m->str : 0)) + m->arena_cap;
}

int vocab_str_eq(const VocabMap *m, uint64_t i, const VocabVal *v) {
    if (!(m->slots[i].tag & TAG_STR)) return 0;
    uint64_t ref = m->str[i];
    return (uint32_t)(ref & VOCAB_MAX_STR) == v->len && !memcmp(m->arena + (ref >> 24), v->p, v->len);
}

static void grow(VocabMap *m) {
    uint64_t ncap = m->cap * 2, mask = ncap - 1;
    VocabSlot *ns = xcalloc(ncap, sizeof *ns);
    uint64_t *nstr = m->str ? xcalloc(ncap, sizeof *nstr) : NULL;
    for (uint64_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].count) continue;
        uint64_t j = vocab_mix(m->slots[i].key) & mask;
        while (ns[j].count) j = (j + 1) & mask;
        ns[j] = m->slots[i];
        if (nstr) nstr[j] = m->str[i];
    }
    free(m->slots);
    free(m->str);
    m->slots = ns;
    m->str = nstr;
    m->cap = ncap;
}

int vocab_add_slow(VocabMap *m, const VocabVal *v, Err *e) {
    if (v->kind == VOCAB_EMPTY) {
        if (m->empty_count == 0) {
            if (m->next_seq >= VOCAB_MAX_VALUES)
                return err_set(e, "more than %u distinct values in one field", VOCAB_MAX_VALUES);
            m->empty_tag = m->next_seq++;
        }
        if (m->empty_count != UINT32_MAX) m->empty_count++;
        return 0;
    }
    uint64_t mask = m->cap - 1, i = vocab_mix(v->key) & mask;
    for (;; i = (i + 1) & mask) {
        VocabSlot *s = &m->slots[i];
        if (!s->count) break;
        if (vocab_slot_is(m, i, v)) {
            if (s->count != UINT32_MAX) s->count++;
            return 0;
        }
    }
    /* a new value: keep the load under 5/8, where linear probing is still short */
    if ((m->n + 1) * 8 > m->cap * 5) {
        grow(m);
        mask = m->cap - 1;
        for (i = vocab_mix(v->key) & mask; m->slots[i].count; i = (i + 1) & mask) {
        }
    }
    /* the parsers cut a longer value's length to VOCAB_MAX_STR + 1: its real length is not known here */
    if (v->kind == VOCAB_STR && v->len > VOCAB_MAX_STR)
        return err_set(e, "a value of 16 MiB or more (at most %u bytes)", VOCAB_MAX_STR);
    if (m->next_seq >= VOCAB_MAX_VALUES)
        return err_set(e, "more than %u distinct values in one field", VOCAB_MAX_VALUES);
    uint32_t tag = m->next_seq++;
    if (v->kind == VOCAB_STR) {
        if (!m->str) m->str = xcalloc(m->cap, sizeof *m->str);
        if (m->arena_len + v->len > m->arena_cap) {
            m->arena_cap = (m->arena_len + v->len) * 2 + 4096;
            m->arena = xrealloc(m->arena, m->arena_cap);
        }
        memcpy(m->arena + m->arena_len, v->p, v->len);
        m->str[i] = m->arena_len << 24 | v->len;
        m->arena_len += v->len;
        tag |= TAG_STR;
    }
    m->slots[i].key = v->key;
    m->slots[i].count = 1;
    m->slots[i].tag = tag;
    m->n++;
    return 0;
}

int vocab_add_count(VocabMap *m, uint64_t key, uint32_t n, Err *e) {
    VocabVal v = vocab_val_inline(key);
    if (n == 0) return 0;
    if (vocab_add(m, &v, e)) return -1;
    uint64_t mask = m->cap - 1, i = vocab_mix(key) & mask;
    while (!vocab_slot_is(m, i, &v)) i = (i + 1) & mask;
    uint64_t c = (uint64_t)m->slots[i].count + (n - 1);
    m->slots[i].count = c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
    return 0;
}

/* --- finalize: sort the kept values, write ids over the first-appearance numbers --- */

typedef struct {
    uint64_t a;    // primary key: ~count, first appearance, or hash
    uint64_t b;    // inline values: the key with its sign bit flipped (so unsigned order = signed order)
    uint64_t slot; // index into slots; cap for the empty value
} SortRec;

static int kind_of(const VocabMap *m, uint64_t slot) {
    if (slot == m->cap) return VOCAB_EMPTY;
    return (m->slots[slot].tag & TAG_STR) ? VOCAB_STR : VOCAB_INLINE;
}

/* The value order used to break ties: empty, then inline keys as signed integers, then string bytes. */
static int cmp_value(const VocabMap *m, uint64_t x, uint64_t y) {
    int kx = kind_of(m, x), ky = kind_of(m, y);
    if (kx != ky) return kx < ky ? -1 : 1;
    if (kx == VOCAB_EMPTY) return 0;
    if (kx == VOCAB_INLINE) {
        int64_t a = (int64_t)m->slots[x].key, b = (int64_t)m->slots[y].key;
        return (a > b) - (a < b);
    }
    uint64_t rx = m->str[x], ry = m->str[y];
    uint32_t lx = (uint32_t)(rx & VOCAB_MAX_STR), ly = (uint32_t)(ry & VOCAB_MAX_STR);
    int c = memcmp(m->arena + (rx >> 24), m->arena + (ry >> 24), lx < ly ? lx : ly);
    if (c) return c;
    return (lx > ly) - (lx < ly);
}

uint64_t vocab_finalize_bytes(uint64_t n) { return 2 * (n ? n : 1) * sizeof(SortRec); }

static int cmp_rec(const void *pa, const void *pb, void *ctx) {
    const SortRec *a = pa, *b = pb;
    if (a->a != b->a) return a->a < b->a ? -1 : 1;
    return cmp_value(ctx, a->slot, b->slot);
}

/* Sorted by (a, b): b's 8 bytes are the low half of the key, a's the high. */
#define REC_BYTE(r, d) ((d) < 8 ? RADIX_BYTE((r).b, (d)) : RADIX_BYTE((r).a, (d) - 8))
RADIX_SORT_DEFINE(radix_sort, SortRec, 16, 8, REC_BYTE)

uint32_t vocab_finalize(VocabMap *m, VocabOrder order, uint32_t min_count, uint64_t seed) {
    uint64_t n = vocab_distinct(m), k = 0, nstr = 0;
    SortRec *r = xmalloc(sizeof *r * (n ? n : 1));
    for (uint64_t i = 0; i <= m->cap; i++) {
        uint32_t count, tag;
        if (i == m->cap) {
            count = m->empty_count;
            tag = m->empty_tag;
        } else {
            count = m->slots[i].count;
            tag = m->slots[i].tag & TAG_LOW;
        }
        if (!count) continue;
        if (count < min_count) {
            /* dropped: id 0 */
            if (i == m->cap)
                m->empty_count = 0;
            else
                m->slots[i].tag &= TAG_STR;
            continue;
        }
        uint64_t a;
        if (order == VOCAB_ORDER_FREQ) {
            a = UINT64_MAX - count;
        } else if (order == VOCAB_ORDER_FIRST) {
            a = tag;
        } else if (i == m->cap) {
            a = XXH64("", 0, seed);
        } else if (m->slots[i].tag & TAG_STR) {
            a = XXH64(m->arena + (m->str[i] >> 24), m->str[i] & VOCAB_MAX_STR, seed);
        } else {
            uint8_t b[8];
            for (int j = 0; j < 8; j++) b[j] = (uint8_t)(m->slots[i].key >> (8 * j));
            a = XXH64(b, 8, seed);
        }
        r[k].a = a;
        r[k].b = i < m->cap ? m->slots[i].key ^ (UINT64_C(1) << 63) : 0;
        r[k].slot = i;
        if (i < m->cap && (m->slots[i].tag & TAG_STR)) nstr++;
        k++;
    }
    if (nstr) {
        qsort_r(r, k, sizeof *r, cmp_rec, m);
    } else {
        /* no strings: the value order is the order of b, but for the empty value (last in r when it is
         * kept), which comes before every inline value of the same primary key */
        int has_empty = k && r[k - 1].slot == m->cap;
        SortRec empty = has_empty ? r[k - 1] : (SortRec){0, 0, 0};
        uint64_t ni = k - (uint64_t)has_empty;
        SortRec *tmp = xmalloc(sizeof *tmp * (ni ? ni : 1));
        const SortRec *sorted = radix_sort(r, tmp, ni);
        if (sorted != r) memcpy(r, sorted, ni * sizeof *r);
        free(tmp);
        if (has_empty) {
            uint64_t at = 0;
            while (at < ni && r[at].a < empty.a) at++;
            memmove(r + at + 1, r + at, (ni - at) * sizeof *r);
            r[at] = empty;
        }
    }
    for (uint64_t j = 0; j < k; j++) {
        uint32_t id = (uint32_t)(j + 1);
        if (r[j].slot == m->cap)
            m->empty_tag = id;
        else
            m->slots[r[j].slot].tag = (m->slots[r[j].slot].tag & TAG_STR) | id;
    }
    free(r);
    m->nf = (uint32_t)(k + 1);
    return m->nf;
}
