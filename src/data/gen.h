/* gen: synthetic CTR data with a planted model and a known optimum (SPEC 3.3), written as a prepared
 * dataset. Field values follow a Zipf law drawn by rejection-inversion (Hoermann & Derflinger 1996, as
 * Apache Commons RNG's RejectionInversionZipfSampler), in O(1) per draw and with no per-value table;
 * the planted weights and latent vectors of a (field, value) come from a seeded hash and are never
 * stored. Every row is a pure function of (arguments, row index), so the bytes do not depend on the
 * thread count. It does not model time, drift, or correlations between the values of a row.
 *
 * The ids are then numbered by prep's rule (gen_vocab): the raw values seen in the train split get
 * ids 1..N_f-1, every other value the OOV id 0, so N_f is what a practitioner's full table holds.
 *
 * The pieces are public for the tests: the sampler, one-row generation and the vocabulary pass. */
#ifndef HASHEMB_GEN_H
#define HASHEMB_GEN_H

#include <stdint.h>

#include "data/genlaw.h"
#include "core/util.h"

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

typedef enum { GEN_ORDER_FREQ, GEN_ORDER_HASH } GenIdOrder;

/* The generator's version: the same arguments give the same data while it stays. Bump it with any
 * change to what gen writes (values, labels, text); sweeps key their cached datasets by it. */
#define GEN_VERSION 4 /* 2: ids numbered by the train split's vocabulary (gen_vocab); 3: per-field laws
                           * fitted to Criteo's vocabulary growth (genlaw.h); 4: the calibrated planted
                           * model by default (--planted; version 3's is --planted independent) */
#define GEN_K 4 /* width of the planted latent vectors */
#define GEN_PARENT_HEAD 16384u /* gen_parent's values kept per fine field (--redundancy) */
#define GEN_MAX_FIELDS 64 /* the largest profile has 39 */

/* A profile: its fields, the distinct counts real data shows (the growth targets, genlaw.h) and the law
 * fitted to them per field. `gen --law` prints it with the expected counts; `gen --law --refit` fits it
 * again and prints the arrays to commit. */
typedef struct {
    const char *name;
    uint32_t fields, nint;        // nint: the leading integer-like fields (criteo's I1..I13)
    const char *const *names;     // (fields)
    const uint64_t *listed;       // (fields) the cardinalities the profile lists (SPEC 3.3)
    const uint64_t *sample_nf;    // (fields) prep's N_f on a real sample of sample_rows train rows; or NULL
    double sample_rows, full_rows; // the two sizes of the targets (0: none)
    const uint64_t *support;      // (fields) fitted V_f: raw values 1..V_f-1
    const double *exponent;       // (fields) fitted Zipf exponent
    const int (*pairs)[2];        // (npairs) fine field, coarse field: one entity at two granularities
    uint32_t npairs;              //   (--redundancy; as site and site category in real logs)
} GenProfile;

/* NULL for an unknown name */
const GenProfile *gen_profile(const char *name);
/* field f's growth targets and search range (genlaw_fit's input); 0 when the profile has none (tiny) */
int gen_profile_target(const GenProfile *p, uint32_t f, GenLawTarget *t);

/* The planted model's structure (SPEC 3.3), each a gen flag recorded in dataset.meta. */
typedef struct {
    double rarity;     // R0: value r's effect has amplitude (1 + r/R0)^-1/2 (--rarity)
    double redundancy; // lambda in [0, 1): in each of the profile's (fine, coarse) field pairs the coarse
                       // value is a function of the fine one (its rank at the same quantile of the two
                       // laws) and the fine value's effect is sqrt(1-lambda) its own plus sqrt(lambda)
                       // the coarse value's (--redundancy; 0: independent fields)
    uint32_t clusters;    // K: each field's values fall into K latent clusters by a seeded hash (--clusters;
    double cluster_share; // 0: none) whose effect is this share of every member's (--cluster-share)
    double share_power;   // P: a field's share of the logit variance is proportional to (ln V_f)^P
                          // (--share-power; 1: the large fields most; 0: every field alike; < 0: small fields most)
} GenKnobs;
#define GEN_CLUSTER_SHARE_DEFAULT 0.8
/* The presets of --planted. calibrated, the default since gen_version 4: on quick's data and model the
 * hashing trick keeps about 99% of the full table's test AUC at 1000x, as real Criteo does (README, "How
 * compressible is the synthetic data"); most of the signal in the small fields, the large ones' effects
 * 90% their small partner's, effects concentrated in the popular values. independent: gen_version 3's
 * model, byte for byte (independent fields and values, shares growing with ln V_f). */
#define GEN_KNOBS_CALIBRATED ((GenKnobs){1.0, 0.9, 0, GEN_CLUSTER_SHARE_DEFAULT, -2.0})
#define GEN_KNOBS_INDEPENDENT ((GenKnobs){30.0, 0, 0, GEN_CLUSTER_SHARE_DEFAULT, 1.0})
#define GEN_KNOBS_DEFAULT GEN_KNOBS_CALIBRATED
/* the preset (calibrated or independent) these knobs are, or NULL */
const char *gen_knobs_preset(const GenKnobs *k);
/* the knobs of preset `name`; 0 when there is none of that name */
int gen_knobs_of_preset(const char *name, GenKnobs *k);

/* A profile resolved at one vocab scale, zipf exponent, id order and seed: everything a row needs. */
typedef struct {
    const char *profile;
    uint32_t fields;
    const char *const *names; // (fields)
    uint64_t *support;        // (fields) V_f: the law draws raw values 1..V_f-1 (N_f comes from train)
    double *exponent;         // (fields) the law's exponent
    double vocab_scale, zipf; // zipf: the --zipf override, 0 for the fitted exponents
    GenKnobs knobs;
    double inv_rarity;        // 1 / knobs.rarity
    int32_t *coarse;          // (fields) with redundancy > 0: a fine field's coarse field, else -1
    uint32_t **parent_head;   // (fields) with redundancy > 0: a fine field's gen_parent of ranks
                              // 1..GEN_PARENT_HEAD (most draws), index r - 1; NULL for the others
    double red_own, red_shared; // sqrt(1 - lambda), sqrt(lambda)
    uint64_t *ckey;           // (fields) with clusters: the key of a field's cluster assignment and effects
    double cl_own, cl_shared; // sqrt(1 - share), sqrt(share)
    GenIdOrder order;
    uint64_t seed;
    GenZipf *dist;            // (fields) over V_f - 1 ranks
    double *oms, *ioms;       // (fields) 1 - s and 1 / (1 - s) of each law (0, 0 at s = 1), for row_terms
    uint64_t *key;            // (fields) planted-model hash key
    double *sw, *sv;          // (fields) weight and vector scale of each field
    uint64_t row_key;         // seeds the per-row counter streams
    double lin_mu, lin_sd, pair_mu, pair_sd; // standardise the two logit terms (see gen.c)
} GenModel;

/* -1 with an Err for an unknown profile or a scale that makes a support overflow u32. zipf > 0 gives
 * every field that exponent; 0 keeps the profile's fitted ones. knobs NULL: the defaults. */
int gen_model_init_knobs(GenModel *m, const char *profile, double vocab_scale, double zipf, GenIdOrder order,
                         uint64_t seed, const GenKnobs *knobs, Err *e);
static inline int gen_model_init(GenModel *m, const char *profile, double vocab_scale, double zipf,
                                 GenIdOrder order, uint64_t seed, Err *e) {
    return gen_model_init_knobs(m, profile, vocab_scale, zipf, order, seed, NULL, e);
}
void gen_model_free(GenModel *m);

/* Row `row` (global index over train, valid, test): its raw values (fields; rank r of field f's law
 * is value r), the true click probability, the label, and optionally the logit. */
void gen_row(const GenModel *m, uint64_t row, uint32_t *ids, float *prob, uint8_t *label,
             double *logit);

/* The counter stream field f of row `row` draws its rank from: gen_zipf_draw on it gives the raw
 * value gen_row writes. For tests. */
uint64_t gen_stream(const GenModel *m, uint64_t row, uint32_t f);

/* Prep's vocabulary rule (SPEC 3.2, 3.3) on generated rows: per field, the raw values seen at least
 * min_count times in the train split (ids[0], (rows[0], F)) get ids 1..N_f-1 in `order` (freq: train
 * count descending, ties by value; hash: XXH64 of the value under `seed`, as prep's --id-order hash),
 * and every other raw value becomes the OOV id 0, in every split ids[0..nsplits). nf (F) receives
 * N_f. support (F; may be NULL) bounds the raw values, field f's below support[f]: then each field's
 * values below a dense bound (train rows / 4 + 4096, at most its support) are counted in an array and
 * the rarer ones in the table (the same ids, faster). peak_bytes (may be NULL) receives a bound on
 * the memory the pass held at once, from what it allocated: every field's table at its largest and
 * its array, plus the two largest transients (a finalize's sort or a table's growth; one per thread
 * at a time on two threads; all fields' on more). */
void gen_vocab(uint32_t F, uint32_t *const *ids, const uint64_t *rows, int nsplits, const uint64_t *support,
               GenIdOrder order, uint32_t min_count, uint64_t seed, uint64_t *nf, uint64_t *peak_bytes);

/* With redundancy: the rank in field f's coarse field (m->coarse[f] >= 0) that goes with rank r of f,
 * the rank at the same quantile of the coarse field's law. */
uint32_t gen_parent(const GenModel *m, uint32_t f, uint32_t r);

/* Planted parts of the value of rank r in field f: its weight and GEN_K-vector (both scaled). */
void gen_planted(const GenModel *m, uint32_t f, uint32_t r, double *w, double *v);

#endif
