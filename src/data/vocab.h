/* vocab: one field's value -> id map for prep (SPEC 3.2). Pass 1 counts the training values, vocab_finalize
 * gives the kept ones dense ids 1..N_f-1 in the order --id-order asks for (0 is OOV), pass 2 looks ids up.
 * It is an open-addressing table with linear probing whose 16-byte slots hold the key itself, so most
 * lookups touch one cache line: values that have a short exact encoding (8 lowercase hex chars, small
 * decimals, integers) are stored inline as a u64; any other string is keyed by its XXH3 hash and its bytes
 * live in an arena, compared on a hash match. The empty value lives outside the table. It does not know
 * about formats or files (prep.c does). */
#ifndef HASHEMB_VOCAB_H
#define HASHEMB_VOCAB_H

#include <stdint.h>

#include "core/rng.h"
#include "core/util.h"

typedef enum { VOCAB_EMPTY, VOCAB_INLINE, VOCAB_STR } VocabKind;
typedef enum { VOCAB_ORDER_FREQ, VOCAB_ORDER_FIRST, VOCAB_ORDER_HASH, VOCAB_NORDERS } VocabOrder;
extern const char *const VOCAB_ORDER_NAMES[VOCAB_NORDERS]; /* "freq", "first", "hash" */

/* One parsed value: what the format parsers hand over. For VOCAB_STR, key is XXH3_64bits of the bytes
 * (vocab_val_str fills it); for VOCAB_INLINE, key is the value's exact encoding. */
typedef struct {
    uint64_t key;
    const char *p; // VOCAB_STR: the bytes (not NUL-terminated)
    uint32_t len;  // VOCAB_STR
    uint32_t kind; // VocabKind
} VocabVal;

typedef struct {
    uint64_t key;
    uint32_t count; // occurrences in the training split (saturates at 2^32-1); 0 = free slot
    uint32_t tag;   // bit 31: a string key; bits 0..30: order of first appearance, then the id
} VocabSlot;

typedef struct {
    VocabSlot *slots; // (cap), cap a power of two
    uint64_t *str;    // (cap) arena offset << 24 | length, for string slots; NULL until one is stored
    uint64_t cap, n;  // n: values in the table (the empty value not included)
    char *arena;      // string bytes; offset 0 unused
    uint64_t arena_len, arena_cap;
    uint32_t empty_count, empty_tag; // the empty value: count and first-appearance order, then id
    uint32_t next_seq;
    uint32_t nf;      // N_f after vocab_finalize (OOV included)
} VocabMap;

#define VOCAB_MAX_VALUES 0x7fffffffu /* ids must fit the tag's 31 bits */
#define VOCAB_MAX_STR 0xffffffu      /* a string value of 16 MiB or more is refused */

void vocab_init(VocabMap *m);
void vocab_free(VocabMap *m);

static inline VocabVal vocab_val_inline(uint64_t key) {
    VocabVal v = {key, 0, 0, VOCAB_INLINE};
    return v;
}
static inline VocabVal vocab_val_empty(void) {
    VocabVal v = {0, 0, 0, VOCAB_EMPTY};
    return v;
}
VocabVal vocab_val_str(const char *p, uint32_t len);

/* The slot where v's probe starts, for a prefetch before the lookup. */
static inline uint64_t vocab_mix(uint64_t k) { return rng_fmix64(k); }
static inline void vocab_prefetch(const VocabMap *m, const VocabVal *v) {
    if (v->kind != VOCAB_EMPTY) __builtin_prefetch(&m->slots[vocab_mix(v->key) & (m->cap - 1)]);
}

/* 1 when slot i holds v; the string comparison is out of line, the rest inline (the hot loop). */
int vocab_str_eq(const VocabMap *m, uint64_t i, const VocabVal *v);
static inline int vocab_slot_is(const VocabMap *m, uint64_t i, const VocabVal *v) {
    const VocabSlot *s = &m->slots[i];
    if (s->key != v->key) return 0;
    if (v->kind == VOCAB_INLINE) return !(s->tag & 0x80000000u);
    return vocab_str_eq(m, i, v);
}

/* Pass 1: one more occurrence of v in the training split. -1 with an Err when the field has more
 * distinct values than ids can number, or the string is too long. */
int vocab_add_slow(VocabMap *m, const VocabVal *v, Err *e);
static inline int vocab_add(VocabMap *m, const VocabVal *v, Err *e) {
    if (v->kind != VOCAB_EMPTY) {
        uint64_t mask = m->cap - 1;
        for (uint64_t i = vocab_mix(v->key) & mask; m->slots[i].count; i = (i + 1) & mask)
            if (vocab_slot_is(m, i, v)) {
                m->slots[i].count += m->slots[i].count != UINT32_MAX;
                return 0;
            }
    }
    return vocab_add_slow(m, v, e); /* the empty value, or a new one */
}

/* Pass 1 in bulk: n more occurrences of the inline value `key` (counted elsewhere, e.g. in a dense
 * array; its first-appearance order is the order of these calls). */
int vocab_add_count(VocabMap *m, uint64_t key, uint32_t n, Err *e);

/* Values in the map (the empty value included when seen). */
uint64_t vocab_distinct(const VocabMap *m);
/* Bytes the map holds (slots, string references and arena), and the most vocab_finalize allocates
 * on top for a map of n values (its sort records). */
uint64_t vocab_bytes(const VocabMap *m);
uint64_t vocab_finalize_bytes(uint64_t n);
/* Values seen at least min_count times get ids 1..N_f-1 in the given order (freq: descending count, ties
 * by value; first: first appearance; hash: XXH64 of the value with `seed`, ties by value); the others
 * and every value not in the map get 0. Returns N_f. "By value": the empty value first, then inline
 * values as signed integers, then strings by bytes (shorter first on a common prefix). The hash of an
 * inline value is over its 8 little-endian key bytes; of a string, over its bytes. */
uint32_t vocab_finalize(VocabMap *m, VocabOrder order, uint32_t min_count, uint64_t seed);
/* Pass 2: the id of v, 0 when it is out of the vocabulary. Only after vocab_finalize. */
static inline uint32_t vocab_id(const VocabMap *m, const VocabVal *v) {
    if (v->kind == VOCAB_EMPTY) return m->empty_count ? m->empty_tag : 0;
    uint64_t mask = m->cap - 1;
    for (uint64_t i = vocab_mix(v->key) & mask; m->slots[i].count; i = (i + 1) & mask)
        if (vocab_slot_is(m, i, v)) return m->slots[i].tag & 0x7fffffffu;
    return 0;
}

#endif
