/* gen: synthetic CTR data with a planted model and a known optimum (SPEC 3.3), written as a prepared
 * dataset. Field values follow a Zipf law drawn by rejection-inversion (Hoermann & Derflinger 1996, as
 * Apache Commons RNG's RejectionInversionZipfSampler), in O(1) per draw and with no per-value table;
 * the planted weights and latent vectors of a (field, value) come from a seeded hash and are never
 * stored. Every row is a pure function of (arguments, row index), so the bytes do not depend on the
 * thread count. It does not model time, drift, or correlations between the values of a row.
 *
 * The pieces are public for the tests: the sampler, the id permutation and one-row generation. */
#ifndef HASHEMB_GEN_H
#define HASHEMB_GEN_H

#include <stdint.h>

#include "util.h"

/* Zipf law over ranks 1..n with P(k) proportional to k^-s (s > 0). */
typedef struct {
    uint32_t n;
    double s;
    double h_x1; // H(1.5) - 1, the lower end of the inversion interval
    double h_n;  // H(n + 0.5), the upper end
    double sq;   // squeeze: k - x <= sq accepts without evaluating H again
    double one_minus_s, inv_one_minus_s; // 0, 0 when s is 1 (within 1e-8): then H^-1 = exp
} GenZipf;

void gen_zipf_init(GenZipf *z, uint32_t n, double s);
/* One rank in 1..n, consuming 64-bit words from the counter stream *state (usually one). */
uint32_t gen_zipf_draw(const GenZipf *z, uint64_t *state);

/* A seeded bijection of [0, n), without tables: a 4-round Feistel network on the smallest even bit
 * width whose range covers n, cycle-walked back into [0, n) (at most 4 steps expected). */
typedef struct {
    uint32_t n;
    int half;          // bits per Feistel half
    uint64_t key[4];   // round keys
} GenPerm;

void gen_perm_init(GenPerm *p, uint32_t n, uint64_t seed);
uint32_t gen_perm_apply(const GenPerm *p, uint32_t x);

typedef enum { GEN_ORDER_FREQ, GEN_ORDER_HASH } GenIdOrder;

/* The generator's version: the same arguments give the same data while it stays. Bump it with any
 * change to what gen writes (values, labels, text); sweeps key their cached datasets by it. */
#define GEN_VERSION 1
#define GEN_K 4 /* width of the planted latent vectors */
#define GEN_MAX_FIELDS 64 /* the largest profile has 39 */

/* A profile resolved at one vocab scale, zipf exponent, id order and seed: everything a row needs. */
typedef struct {
    const char *profile;
    uint32_t fields;
    const char *const *names; // (fields)
    uint64_t *cards;          // (fields) N_f, OOV id 0 included; values 1..N_f-1
    double vocab_scale, zipf;
    GenIdOrder order;
    uint64_t seed;
    GenZipf *dist;            // (fields) over N_f - 1 ranks
    GenPerm *perm;            // (fields) used with GEN_ORDER_HASH
    uint64_t *key;            // (fields) planted-model hash key
    double *sw, *sv;          // (fields) weight and vector scale of each field
    uint64_t row_key;         // seeds the per-row counter streams
    double lin_mu, lin_sd, pair_mu, pair_sd; // standardise the two logit terms (see gen.c)
} GenModel;

/* -1 with an Err for an unknown profile or a scale that makes a cardinality overflow u32. */
int gen_model_init(GenModel *m, const char *profile, double vocab_scale, double zipf, GenIdOrder order,
                   uint64_t seed, Err *e);
void gen_model_free(GenModel *m);

/* Row `row` (global index over train, valid, test): ids (fields), the true click probability, the
 * label, and optionally the logit. */
void gen_row(const GenModel *m, uint64_t row, uint32_t *ids, float *prob, uint8_t *label,
             double *logit);

/* The counter stream field f of row `row` draws its rank from: gen_zipf_draw on it gives the rank
 * gen_row uses (its ids with GEN_ORDER_FREQ). For tests. */
uint64_t gen_stream(const GenModel *m, uint64_t row, uint32_t f);

/* Planted parts of the value of rank r in field f: its weight and GEN_K-vector (both scaled). */
void gen_planted(const GenModel *m, uint32_t f, uint32_t r, double *w, double *v);

#endif
