#include "data/gen.h"
#include "core/rng.h"

/* No value changes (this is not -ffast-math): GCC may turn the selects of the per-field loops into
 * blends only when a comparison cannot trap; then it vectorizes those loops. */
#pragma GCC optimize("no-trapping-math")

#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "cli/cmd.h"
#include "data/dataset.h"
#include "data/genlaw.h"
#include "core/metrics.h"
#include "data/vocab.h"

/* --- counter-based randomness --- */

#define GOLDEN 0x9e3779b97f4a7c15ull

/* MurmurHash3's 64-bit finalizer: a bijection with full avalanche. The planted model hashes
 * (field key + rank) with it rather than calling XXH64 on 8 bytes: as well mixed for this use and a few
 * times cheaper in the innermost loop. */
static inline uint64_t mix64(uint64_t z) { return rng_fmix64(z); }

/* splitmix64: successive words of one counter stream */
static inline uint64_t next64(uint64_t *st) {
    uint64_t z = (*st += GOLDEN);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline double unit(uint64_t x) { return (double)(x >> 11) * 0x1.0p-53; } // [0, 1)

/* --- exp and log for the hot loop ---
 * Table-free, branch-free polynomials (relative error below 1e-12: a rank near 10^7 moves by 1e-5 of
 * its width, invisible in any count) that GCC vectorizes across the fields of a row with plain AVX2:
 * no int64 <-> double conversions (the 2^52 magic-number tricks instead), no lookups. Several times
 * cheaper than glibc's scalar calls here, and the same bits whatever glibc is in use. Only +, -, *, /
 * in a fixed order: no contraction in ISO C mode, so a vectorized and a scalar call agree bit for bit. */
static inline double as_f64(uint64_t b) {
    double d;
    memcpy(&d, &b, 8);
    return d;
}
static inline uint64_t as_u64(double d) {
    uint64_t b;
    memcpy(&b, &d, 8);
    return b;
}

/* e^x for |x| <= 700: x = k ln2 + r, |r| <= ln2/2, Taylor to degree 10 (next term < 3e-13) */
static inline double fast_exp(double x) {
    const double LN2_HI = 6.93147180369123816490e-01, LN2_LO = 1.90821492927058770002e-10;
    double y = x * 1.4426950408889634 + 0x1.8p52; // round to nearest: k in y's low bits
    double kd = y - 0x1.8p52;
    uint64_t k = as_u64(y) - 0x4338000000000000ull;
    double r = (x - kd * LN2_HI) - kd * LN2_LO;
    double p = 1.0 / 3628800;
    p = p * r + 1.0 / 362880;
    p = p * r + 1.0 / 40320;
    p = p * r + 1.0 / 5040;
    p = p * r + 1.0 / 720;
    p = p * r + 1.0 / 120;
    p = p * r + 1.0 / 24;
    p = p * r + 1.0 / 6;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    return p * as_f64((k + 1023) << 52);
}

/* ln x for a positive normal x: x = 2^e m, m in [sqrt(1/2), sqrt 2), ln m = 2 atanh((m-1)/(m+1)),
 * the odd series to r^15 (|r| <= 0.172: next term < 1e-14) */
static inline double fast_log(double x) {
    uint64_t b = as_u64(x);
    double m = as_f64((b & 0x000fffffffffffffull) | 0x3ff0000000000000ull); // [1, 2)
    double e = as_f64(0x4330000000000000ull | (b >> 52)) - (0x1p52 + 1023.0);
    int big = m > 1.4142135623730951;
    m = big ? m * 0.5 : m;
    e = big ? e + 1.0 : e;
    double r = (m - 1.0) / (m + 1.0), r2 = r * r;
    double p = 1.0 / 15;
    p = p * r2 + 1.0 / 13;
    p = p * r2 + 1.0 / 11;
    p = p * r2 + 1.0 / 9;
    p = p * r2 + 1.0 / 7;
    p = p * r2 + 1.0 / 5;
    p = p * r2 + 1.0 / 3;
    p = p * r2 + 1.0;
    return e * 0.6931471805599453 + 2.0 * r * p;
}

/* --- Zipf by rejection-inversion (Hoermann & Derflinger, ACM TOMACS 6(3), 1996) --- */

/* log1p(x)/x and expm1(x)/x, continuous at 0 */
static double helper1(double x) {
    return fabs(x) > 1e-8 ? log1p(x) / x : 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x));
}
static double helper2(double x) {
    return fabs(x) > 1e-8 ? expm1(x) / x : 1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x));
}
/* H(x) = integral of x^-s, shifted so that it is continuous in s at s = 1 */
static double h_integral(double x, double s) {
    double lx = log(x);
    return helper2((1.0 - s) * lx) * lx;
}
static double h_value(double x, double s) { return exp(-s * log(x)); }
static double h_integral_inverse(double x, double s) {
    double t = x * (1.0 - s);
    if (t < -1.0) t = -1.0; // rounding guard, as the reference implementation
    return exp(helper1(t) * x);
}

void gen_zipf_init(GenZipf *z, uint32_t n, double s) {
    CHECK(n >= 1 && s > 0);
    z->n = n;
    z->s = s;
    z->h_x1 = h_integral(1.5, s) - 1.0;
    z->h_n = h_integral((double)n + 0.5, s);
    z->sq = 2.0 - h_integral_inverse(h_integral(2.5, s) - h_value(2.0, s), s);
    z->one_minus_s = fabs(1.0 - s) < 1e-8 ? 0 : 1.0 - s;
    z->inv_one_minus_s = z->one_minus_s != 0 ? 1.0 / z->one_minus_s : 0;
}

/* One draw in three steps, so that row generation can run the first two for all fields of a row
 * without a branch (the draws of a row are independent: the CPU overlaps them) and the third, whose
 * slow path is taken ~2% of the time at s = 1.1, after. */
static inline double zipf_u(const GenZipf *z, uint64_t word) {
    return z->h_n + unit(word) * (z->h_x1 - z->h_n); // in (h_x1, h_n]
}

/* H^-1(u) = (1 + u(1-s))^(1/(1-s)) by log and exp rather than the reference's log1p: the ~1e-16
 * absolute error of 1 + t and the polynomials' < 1e-12 shift x by < 1e-12 relative, far below
 * anything the acceptance test or a count could see. b -> 0 (s > 1, u at the top) sends x to
 * infinity: rank n after the clamp. */
static inline double zipf_x_s(double u, double one_minus_s, double inv_one_minus_s) {
    double lx;
    if (one_minus_s != 0) {
        double b = 1.0 + u * one_minus_s;
        lx = b > 0x1p-1000 ? fast_log(b) * inv_one_minus_s : 700;
    } else {
        lx = u;
    }
    lx = lx < -700.0 ? -700.0 : lx;
    return fast_exp(lx > 700.0 ? 700.0 : lx);
}

static inline double zipf_x(const GenZipf *z, double u) {
    return zipf_x_s(u, z->one_minus_s, z->inv_one_minus_s);
}

/* The same for the n fields of a row, each with its own exponent: a loop GCC vectorizes (the s = 1
 * case, x = e^u, by a blend). */
static void zipf_x_batch(double *restrict x, const double *restrict u, uint32_t n,
                         const double *restrict one_minus_s, const double *restrict inv_one_minus_s) {
    for (uint32_t i = 0; i < n; i++) {
        double oms = one_minus_s[i];
        double b = 1.0 + u[i] * oms;
        double lx = fast_log(b) * inv_one_minus_s[i];
        lx = b > 0x1p-1000 ? lx : 700;
        lx = oms != 0 ? lx : u[i];
        lx = lx < -700.0 ? -700.0 : lx;
        x[i] = fast_exp(lx > 700.0 ? 700.0 : lx);
    }
}

static inline double zipf_k(const GenZipf *z, double x) {
    double k = floor(x + 0.5), n = (double)z->n;
    k = k < 1.0 ? 1.0 : k;
    return k > n ? n : k;
}

/* Accept k for (u, x) or keep drawing from the same stream. */
static inline uint32_t zipf_finish(const GenZipf *z, double u, double x, uint64_t *state) {
    for (;;) {
        double kd = zipf_k(z, x);
        if (kd - x <= z->sq || u >= h_integral(kd + 0.5, z->s) - h_value(kd, z->s)) return (uint32_t)kd;
        u = zipf_u(z, next64(state));
        x = zipf_x(z, u);
    }
}

uint32_t gen_zipf_draw(const GenZipf *z, uint64_t *state) {
    if (z->n == 1) return 1;
    double u = zipf_u(z, next64(state));
    return zipf_finish(z, u, zipf_x(z, u), state);
}

/* --- profiles --- */

static const char *const CRITEO_NAMES[39] = {
    "I1",  "I2",  "I3",  "I4",  "I5",  "I6",  "I7",  "I8",  "I9",  "I10", "I11", "I12", "I13",
    "C1",  "C2",  "C3",  "C4",  "C5",  "C6",  "C7",  "C8",  "C9",  "C10", "C11", "C12", "C13",
    "C14", "C15", "C16", "C17", "C18", "C19", "C20", "C21", "C22", "C23", "C24", "C25", "C26"};
/* I1..I13: fixed values in the 50-120 range of SPEC 3.3 (the real columns after the log-square
 * transform have tens to about a hundred values); C1..C26: the Criteo Kaggle cardinalities, the
 * distinct values of train.txt's 45,840,617 rows (the empty value counted). */
static const uint64_t CRITEO_LISTED[39] = {
    64,      110,   96,      52,    118,   87,    73,      58,     101,  60,     80,   115,     90,
    1460,    583,   10131227, 2202608, 305, 24,    12517,   633,    3,    93145,  5683, 8351593, 3194,
    27,      14992, 5461306, 10,    5652,  2173,  4,       7046547, 18,   15,     286181, 105, 142572};
/* prep's N_f per field (the empty value and the OOV id included) on the train split of the real
 * sample in ../shared/data/criteo (criteo_dac_train7200.tsv.gz: 7,200 rows of train.txt) */
static const uint64_t CRITEO_SAMPLE_NF[39] = {
    25,  76,   58,   25,   190,  77, 48,   26,   72, 5,    21,   17,   37,
    148, 361,  4138, 3102, 52,   9,  2646, 77,   4,  2411, 1806, 3970, 1516,
    23,  1752, 3578, 10,   1013, 458, 5,    3793, 9,  13,   2009, 39,   1527};
/* fitted by `hashemb gen --profile criteo --law --refit` (genlaw_fit on gen_profile_target) */
static const uint64_t CRITEO_SUPPORT[39] = {
    64, 110, 96, 52, 247, 87, 73, 58,
    101, 60, 80, 115, 90, 1461, 584, 4294967295,
    3693414, 306, 25, 12518, 634, 4, 93146, 5684,
    842282640, 3195, 28, 14993, 61603153, 11, 5653, 2174,
    5, 256880446, 19, 16, 287936, 106, 142736,
};
static const double CRITEO_EXPONENT[39] = {
    2.97206, 2.04905, 2.24701, 2.95303, 1.57628, 1.90236, 2.35052, 2.92204,
    2.06868, 6.36659, 3.17135, 3.42785, 2.62141, 1.88626, 1.41293, 1.06245,
    1.09106, 2.41675, 4.48453, 0.955903, 2.19096, 1.1, 1.09524, 1.03019,
    1.06902, 1.02061, 2.8719, 1.12145, 1.07944, 3.94342, 1.24467, 1.46261,
    1.1, 1.07392, 4.4725, 3.61769, 1.16653, 2.5893, 1.22428,
};

static const char *const AVAZU_NAMES[24] = {
    "hour_of_day", "weekday",   "is_weekend",  "C1",           "banner_pos", "site_id",
    "site_domain", "site_category", "app_id",  "app_domain",   "app_category", "device_id",
    "device_ip",   "device_model", "device_type", "device_conn_type", "C14", "C15",
    "C16",         "C17",       "C18",         "C19",          "C20",        "C21"};
/* The counts of distinct values in Avazu's 40M-row train.csv as reported in the CTR literature (e.g.
 * the FuxiCTR and PNN data descriptions), plus one for the OOV id; the three calendar fields get their
 * full range plus OOV. They are also the supports: only the exponents are fitted. */
static const uint64_t AVAZU_LISTED[24] = {25,   8,    3,       8,       8,    4738, 7746, 27,
                                          8553, 560,  37,      2686409, 6729487, 8252, 6,    5,
                                          2627, 9,    10,      436,     5,    69,   173,  61};
/* fitted by `hashemb gen --profile avazu --law --refit` */
static const double AVAZU_EXPONENT[24] = {
    1.1, 1.1, 1.1, 1.1, 1.1, 1.1, 1.1, 1.1,
    1.1, 1.1, 1.1, 0.627581, 0.211773, 1.1, 1.1, 1.1,
    1.1, 1.1, 1.1, 1.1, 1.1, 1.1, 1.1, 1.1,
};

static const char *const TINY_NAMES[8] = {"t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8"};
static const uint64_t TINY_CARDS[8] = {3, 10, 50, 100, 200, 400, 700, 1000};
static const double TINY_EXPONENT[8] = {1.1, 1.1, 1.1, 1.1, 1.1, 1.1, 1.1, 1.1};

/* --redundancy's (fine, coarse) pairs. criteo's columns are anonymous: its eight largest fields, each
 * with one of the eight small C fields (supports 4 to 106), largest with largest. avazu's are the
 * entities its names reveal. */
static const int CRITEO_PAIRS[][2] = {{15, 37}, {24, 26}, {33, 18}, {28, 34}, /* C3-C25 C12-C14 C21-C6 C16-C22 */
                                      {16, 35}, {36, 29}, {38, 32}, {22, 21}}; /* C4-C23 C24-C17 C26-C20 C10-C9 */
static const int AVAZU_PAIRS[][2] = {{5, 7}, {8, 10}, {12, 13}, {11, 14}}; /* site_id-site_category,
                                      * app_id-app_category, device_ip-device_model, device_id-device_type */
static const int TINY_PAIRS[][2] = {{7, 1}, {6, 2}};

static const GenProfile PROFILES[] = {
    {"criteo", 39, 13, CRITEO_NAMES, CRITEO_LISTED, CRITEO_SAMPLE_NF, 7200, 45840617, CRITEO_SUPPORT,
     CRITEO_EXPONENT, CRITEO_PAIRS, 8},
    {"avazu", 24, 0, AVAZU_NAMES, AVAZU_LISTED, NULL, 0, 40428967, AVAZU_LISTED, AVAZU_EXPONENT, AVAZU_PAIRS,
     4},
    {"tiny", 8, 0, TINY_NAMES, TINY_CARDS, NULL, 0, 0, TINY_CARDS, TINY_EXPONENT, TINY_PAIRS, 2},
};

const GenProfile *gen_profile(const char *name) {
    for (size_t i = 0; i < sizeof PROFILES / sizeof PROFILES[0]; i++)
        if (!strcmp(name, PROFILES[i].name)) return &PROFILES[i];
    return NULL;
}

/* The rules of SPEC 3.3 for each field's targets:
 * - criteo's C fields: t1 = the sample's N_f - 1 values at 7,200 rows, t2 = the listed count at
 *   45,840,617 rows; M (values, V_f - 1) between the listed count and 2^32 - 2, so the listed count is
 *   what the full rows show and the support may be far larger (the big fields' tails);
 * - criteo's I fields: only t1 (their listed counts are the profile's own, not Criteo's); M fixed at the
 *   listed support, raised to 1.3 times the sample's N_f where the sample shows more (I5);
 * - avazu: only t2, the listed count less the OOV id at its 40,428,967 rows; M fixed: the listed
 *   support. */
int gen_profile_target(const GenProfile *p, uint32_t f, GenLawTarget *t) {
    CHECK(f < p->fields);
    memset(t, 0, sizeof *t);
    if (!p->full_rows && !p->sample_rows) return 0;
    uint64_t listed = p->listed[f];
    if (p->sample_nf) {
        t->n1 = p->sample_rows;
        t->t1 = (double)p->sample_nf[f] - 1;
    }
    if (f < p->nint) {
        CHECK(p->sample_nf);
        uint64_t v = listed, v13 = (uint64_t)ceil(1.3 * (double)p->sample_nf[f]);
        if (p->sample_nf[f] > listed && v13 > v) v = v13;
        t->m_lo = t->m_hi = v - 1;
    } else if (p->sample_nf) {
        t->n2 = p->full_rows;
        t->t2 = (double)listed;
        t->m_lo = listed;
        t->m_hi = GENLAW_MAX_VALUES;
    } else {
        t->n2 = p->full_rows;
        t->t2 = (double)listed - 1;
        t->m_lo = t->m_hi = listed - 1;
    }
    return 1;
}

/* --- the planted model ---
 *
 * The value of rank r in field f has raw parts c_0..c_K (unit-variance uniforms from mix64(key_f + r))
 * times an amplitude a(r) = (1 + r/R0)^-1/2 (R0: --rarity; 30 in the independent preset, 1 in the
 * calibrated default): popular values carry the signal, and the tail, which no model sees often enough
 * to learn, carries little (in a 100k-value field at zipf 1.1 and R0 = 30, ranks past 100 hold ~4% of
 * the field's variance, past 1000 ~0.4%). Each field is then scaled so that its share of the logit
 * variance is proportional to (ln V_f)^P, V_f its support (--share-power P; weights: sw_f; vectors:
 * sv_f), measured on the field's own Zipf law. With P = 1 (independent) the ID-like fields with many
 * moderately frequent values carry most of the signal, so that compressing their tables costs much
 * accuracy (on criteo's fitted laws, at vocab scales 0.01 to 1, the fields whose support passes 200
 * hold 67-74% of the linear variance and take part in 89-93% of the pairwise weight); with P = -2
 * (calibrated) the small fields carry most of it (C9's three values and C20's four over a third), and
 * --redundancy 0.9 makes the large fields' effects mostly their coarse partner's. The logit is
 *
 *   bias + ALPHA * (lin - mu_l) / sd_l + BETA * (pair - mu_p) / sd_p,
 *   lin = sum_f w_f,  pair = sum_{i<j} <v_i, v_j> = 0.5 (||sum v||^2 - sum ||v||^2)   (O(F K)),
 *
 * with mu and sd measured on GEN_NSAMPLE rows of a stream disjoint from the data's, so that the three
 * constants below mean the same on every profile and scale. */
#define GEN_STAT_RANKS 32768u  /* ranks summed for the per-field scales; the rest hold < 0.1% */
#define GEN_NSAMPLE 16384
/* Calibrated once by experiment (gen_row's probabilities scored with metric_auc, 200k rows a point):
 * the logit sd sets the oracle AUC, the bias the click rate, and the split between the two terms how
 * much a model can learn from few rows. The pairwise part is the slow one to learn: with BETA = 0.85
 * (and R0 = 100) a full-table DeepFM reached only ~75% of the oracle's AUC lift over 0.5 on 160k
 * criteo rows (x0.01) and 48k tiny rows in 3 epochs; with the pairwise share of the logit variance at
 * ~9% (and R0 = 30) it reaches ~91% and ~92%. At these values criteo (one exponent, 1.1, for every
 * field) gave a click rate of 0.25 +- 0.005 and an oracle AUC of 0.800 +- 0.003 over seeds 1-3 and
 * vocab scales 0.01, 0.1 and 1 (logit sd ~1.36). With the fitted laws (gen_version 3; 250k rows a
 * point) criteo gives 0.250-0.255 and 0.797-0.805 over the same seeds and scales, avazu (x0.1) 0.245
 * and 0.785, tiny (x0.1) 0.249 and 0.791: that is --planted independent. The calibrated default keeps
 * the constants (the independent preset stays byte for byte) and spreads more, its signal sitting in
 * fewer fields: criteo 0.245-0.259 and 0.775-0.809 over the same seeds and scales (0.786-0.809 at
 * scale 1 over seeds 1-6), avazu (x0.1) 0.246-0.263 and 0.786-0.828, tiny (x0.1) 0.249-0.255 and
 * 0.773-0.800 (gen_version 4, 2026-11-30). */
#ifndef GEN_ALPHA /* overridable only to re-run the calibration */
#define GEN_ALPHA 1.3
#define GEN_BETA 0.41
#define GEN_BIAS -1.455
#endif

/* exact for integers below 2^52, and vectorizable (AVX2 has no u64 -> double conversion) */
static inline double u52_to_f64(uint64_t x) { return as_f64(0x4330000000000000ull | x) - 0x1p52; }

/* a(r) = (1 + r/R0)^-1/2 by the bit-trick guess and four Newton steps (relative error < 1e-15):
 * unlike sqrt, which may set errno, GCC vectorizes it. */
static inline double amplitude(uint32_t r, double inv_r0) {
    double y = 1.0 + u52_to_f64(r) * inv_r0;
    double g = as_f64(0x5fe6eb50c7b537a9ull - (as_u64(y) >> 1));
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) g = g * (1.5 - 0.5 * y * g * g);
    return g;
}

/* a times the 1 + GEN_K unit-variance parts in hash h (12-bit uniforms centred at 2047.5, times
 * sqrt(12)/4096 in a) */
static inline void unit_parts(uint64_t h, double a, double *w, double v[GEN_K]) {
    *w = a * (u52_to_f64(h & 0xfff) - 2047.5);
#pragma GCC unroll 4
    for (int k = 0; k < GEN_K; k++) v[k] = a * (u52_to_f64((h >> (12 * (k + 1))) & 0xfff) - 2047.5);
}

/* the amplitude a(r) with unit_parts' scale */
static inline double part_scale(uint32_t r, double inv_r0) {
    return amplitude(r, inv_r0) * (3.4641016151377546 / 4096);
}

static inline void planted_raw(uint64_t key, double inv_r0, uint32_t r, double *w, double v[GEN_K]) {
    unit_parts(mix64(key + r), part_scale(r, inv_r0), w, v);
}

/* rank r's position in field f's law as a share U in [0, 1) of the sampler's interval (0: the rare
 * end, 1: rank 1), at the middle of the ranks' stretch of it */
static double rank_share(const GenZipf *z, uint32_t r) {
    double u = r <= 1 ? 0.5 * (z->h_x1 + h_integral(1.5, z->s)) : h_integral((double)r, z->s);
    return (z->h_n - u) / (z->h_n - z->h_x1);
}

uint32_t gen_parent(const GenModel *m, uint32_t f, uint32_t r) {
    CHECK(m->coarse && m->coarse[f] >= 0);
    const GenZipf *zf = &m->dist[f], *zg = &m->dist[m->coarse[f]];
    if (zg->n == 1) return 1;
    double U = zf->n == 1 ? 1.0 : rank_share(zf, r);
    double u = zg->h_n - U * (zg->h_n - zg->h_x1);
    return (uint32_t)zipf_k(zg, h_integral_inverse(u, zg->s));
}

/* gen_parent, from the table of the head ranks where it holds them (built by gen_model_init_knobs) */
static inline uint32_t parent_rank(const GenModel *m, uint32_t f, uint32_t r) {
    return r <= GEN_PARENT_HEAD ? m->parent_head[f][r - 1] : gen_parent(m, f, r);
}

/* The value's parts within its field: its own, or with clusters sqrt(1-c) its own plus sqrt(c) its
 * cluster's (unit parts from the cluster's hash, at the value's own amplitude). */
static inline void value_parts(const GenModel *m, uint32_t f, uint32_t r, double *w, double v[GEN_K]) {
    double a = part_scale(r, m->inv_rarity);
    unit_parts(mix64(m->key[f] + r), a, w, v);
    if (!m->ckey) return;
    uint64_t c = 1 + mix64(m->ckey[f] ^ ((uint64_t)r * GOLDEN)) % m->knobs.clusters;
    double wc, vc[GEN_K];
    unit_parts(mix64(m->ckey[f] + c), a, &wc, vc);
    *w = m->cl_own * *w + m->cl_shared * wc;
    for (int k = 0; k < GEN_K; k++) v[k] = m->cl_own * v[k] + m->cl_shared * vc[k];
}

/* The raw parts of the value of rank r in field f: value_parts, or with redundancy for a fine field,
 * sqrt(1-lambda) those plus sqrt(lambda) those of its coarse value (rank g_r in the coarse field). */
static inline void planted_parts(const GenModel *m, uint32_t f, uint32_t r, uint32_t g_r, double *w,
                                 double v[GEN_K]) {
    value_parts(m, f, r, w, v);
    if (!m->coarse || m->coarse[f] < 0) return;
    double wc, vc[GEN_K];
    value_parts(m, (uint32_t)m->coarse[f], g_r, &wc, vc);
    *w = m->red_own * *w + m->red_shared * wc;
    for (int k = 0; k < GEN_K; k++) v[k] = m->red_own * v[k] + m->red_shared * vc[k];
}

void gen_planted(const GenModel *m, uint32_t f, uint32_t r, double *w, double *v) {
    planted_parts(m, f, r, m->coarse && m->coarse[f] >= 0 ? parent_rank(m, f, r) : 0, w, v);
    *w *= m->sw[f];
    for (int k = 0; k < GEN_K; k++) v[k] *= m->sv[f];
}

static inline uint64_t row_key(const GenModel *m, uint64_t row) { return mix64(m->row_key + row * GOLDEN); }

static inline uint64_t field_stream(uint64_t rk, uint32_t f) {
    return rk ^ ((uint64_t)(f + 1) * 0xd1b54a32d192ed03ull);
}

uint64_t gen_stream(const GenModel *m, uint64_t row, uint32_t f) { return field_stream(row_key(m, row), f); }

/* The two logit terms of one row, and its ids; rk is the row's stream key. Field f draws from the
 * stream rk ^ (f+1) * C: the same ranks as gen_zipf_draw on that stream (test_gen checks it). */
static inline void row_terms(const GenModel *m, uint64_t rk, uint32_t *ids, double *lin, double *pair) {
    uint32_t F = m->fields;
    uint64_t st[GEN_MAX_FIELDS];
    uint32_t rank[GEN_MAX_FIELDS];
    double us[GEN_MAX_FIELDS], xs[GEN_MAX_FIELDS], wf[GEN_MAX_FIELDS], qf[GEN_MAX_FIELDS];
    double vf[GEN_K][GEN_MAX_FIELDS];
    /* Three passes over the fields: draws (the x of all fields at once: vectorized), acceptance
     * (rarely a slow path), planted parts (vectorized); then the sums, in field order. */
    for (uint32_t f = 0; f < F; f++) {
        st[f] = field_stream(rk, f);
        us[f] = zipf_u(&m->dist[f], next64(&st[f]));
    }
    zipf_x_batch(xs, us, F, m->oms, m->ioms);
    for (uint32_t f = 0; f < F; f++) {
        const GenZipf *z = &m->dist[f];
        rank[f] = z->n == 1 ? 1 : zipf_finish(z, us[f], xs[f], &st[f]);
    }
    /* redundancy: each coarse field shows its fine field's entity at its own granularity */
    if (m->coarse)
        for (uint32_t f = 0; f < F; f++)
            if (m->coarse[f] >= 0)
                rank[m->coarse[f]] = parent_rank(m, f, rank[f]);
    memcpy(ids, rank, F * sizeof *ids); /* raw values; gen_vocab numbers them as prep would */
    /* the raw parts: with clusters a path apart, so that the others stay a loop GCC vectorizes */
    if (m->ckey) {
        for (uint32_t f = 0; f < F; f++) {
            double v[GEN_K];
            planted_parts(m, f, rank[f], m->coarse && m->coarse[f] >= 0 ? rank[m->coarse[f]] : 0, &wf[f], v);
            for (int k = 0; k < GEN_K; k++) vf[k][f] = v[k];
        }
    } else {
        for (uint32_t f = 0; f < F; f++) {
            double v[GEN_K];
            planted_raw(m->key[f], m->inv_rarity, rank[f], &wf[f], v);
#pragma GCC unroll 4
            for (int k = 0; k < GEN_K; k++) vf[k][f] = v[k];
        }
        /* redundancy: a fine field's parts mixed with its coarse field's, which are that field's own
         * value parts at rank[coarse] = its parent: planted_parts' arithmetic, in the same order (no
         * coarse field is a fine one: gen_model_init_knobs checks it) */
        if (m->coarse)
            for (uint32_t f = 0; f < F; f++) {
                int32_t c = m->coarse[f];
                if (c < 0) continue;
                wf[f] = m->red_own * wf[f] + m->red_shared * wf[c];
                for (int k = 0; k < GEN_K; k++) vf[k][f] = m->red_own * vf[k][f] + m->red_shared * vf[k][c];
            }
    }
    for (uint32_t f = 0; f < F; f++) {
        double q = 0;
        wf[f] *= m->sw[f];
#pragma GCC unroll 4
        for (int k = 0; k < GEN_K; k++) {
            double x = m->sv[f] * vf[k][f];
            vf[k][f] = x;
            q += x * x;
        }
        qf[f] = q;
    }
    double l = 0, q = 0, s[GEN_K] = {0};
    for (uint32_t f = 0; f < F; f++) {
        l += wf[f];
        q += qf[f];
        for (int k = 0; k < GEN_K; k++) s[k] += vf[k][f];
    }
    double ss = 0;
    for (int k = 0; k < GEN_K; k++) ss += s[k] * s[k];
    *lin = l;
    *pair = 0.5 * (ss - q);
}


void gen_row(const GenModel *m, uint64_t row, uint32_t *ids, float *prob, uint8_t *label,
             double *logit) {
    uint64_t rk = row_key(m, row);
    double lin, pair;
    row_terms(m, rk, ids, &lin, &pair);
    double z = GEN_BIAS + GEN_ALPHA * (lin - m->lin_mu) / m->lin_sd +
               GEN_BETA * (pair - m->pair_mu) / m->pair_sd;
    float p = (float)(1.0 / (1.0 + fast_exp(z < -700 ? 700 : z > 700 ? -700 : -z)));
    *prob = p;
    *label = unit(mix64(rk ^ 0x6a09e667f3bcc909ull)) < (double)p;
    if (logit) *logit = z;
}

static const struct {
    const char *name;
    GenKnobs knobs;
} PRESETS[] = {{"calibrated", GEN_KNOBS_CALIBRATED}, {"independent", GEN_KNOBS_INDEPENDENT}};

static int knobs_equal(const GenKnobs *a, const GenKnobs *b) {
    return a->rarity == b->rarity && a->redundancy == b->redundancy && a->clusters == b->clusters &&
           (!a->clusters || a->cluster_share == b->cluster_share) && a->share_power == b->share_power;
}

const char *gen_knobs_preset(const GenKnobs *k) {
    for (size_t i = 0; i < sizeof PRESETS / sizeof *PRESETS; i++)
        if (knobs_equal(k, &PRESETS[i].knobs)) return PRESETS[i].name;
    return NULL;
}

int gen_knobs_of_preset(const char *name, GenKnobs *k) {
    for (size_t i = 0; i < sizeof PRESETS / sizeof *PRESETS; i++)
        if (!strcmp(name, PRESETS[i].name)) {
            *k = PRESETS[i].knobs;
            return 1;
        }
    return 0;
}

int gen_model_init_knobs(GenModel *m, const char *profile, double vocab_scale, double zipf, GenIdOrder order,
                         uint64_t seed, const GenKnobs *knobs, Err *e) {
    memset(m, 0, sizeof *m);
    m->knobs = knobs ? *knobs : GEN_KNOBS_DEFAULT;
    CHECK(m->knobs.rarity > 0 && m->knobs.redundancy >= 0 && m->knobs.redundancy < 1);
    CHECK(m->knobs.cluster_share >= 0 && m->knobs.cluster_share <= 1);
    m->inv_rarity = 1.0 / m->knobs.rarity; // 1.0 / 30: gen_version 3's constant, bit for bit
    const GenProfile *pr = gen_profile(profile);
    if (!pr) return err_set(e, "--profile: unknown profile '%s' (criteo, avazu or tiny)", profile);
    uint32_t F = pr->fields;
    CHECK(F <= GEN_MAX_FIELDS);
    uint64_t *cards = xcalloc(F, sizeof *cards);
    for (uint32_t f = 0; f < F; f++) {
        double c = round((double)pr->support[f] * vocab_scale);
        if (c > 4294967295.0) {
            free(cards);
            return err_set(e, "--vocab-scale: %g makes field %s's support %.0f, above 2^32-1", vocab_scale,
                           pr->names[f], c);
        }
        cards[f] = c < 2 ? 2 : (uint64_t)c;
    }
    m->profile = pr->name;
    m->fields = F;
    m->names = pr->names;
    m->support = cards;
    m->vocab_scale = vocab_scale;
    m->zipf = zipf;
    m->order = order;
    m->seed = seed;
    m->exponent = xcalloc(F, sizeof *m->exponent);
    m->dist = xcalloc(F, sizeof *m->dist);
    m->oms = xcalloc(F, sizeof *m->oms);
    m->ioms = xcalloc(F, sizeof *m->ioms);
    m->key = xcalloc(F, sizeof *m->key);
    m->sw = xcalloc(F, sizeof *m->sw);
    m->sv = xcalloc(F, sizeof *m->sv);
    uint64_t st = mix64(seed ^ 0x243f6a8885a308d3ull);
    m->row_key = next64(&st);
    if (m->knobs.redundancy > 0) {
        m->coarse = xmalloc(F * sizeof *m->coarse);
        for (uint32_t f = 0; f < F; f++) m->coarse[f] = -1;
        for (uint32_t i = 0; i < pr->npairs; i++) m->coarse[pr->pairs[i][0]] = pr->pairs[i][1];
        for (uint32_t i = 0; i < pr->npairs; i++) CHECK(m->coarse[pr->pairs[i][1]] < 0); /* row_terms */
        m->red_own = sqrt(1 - m->knobs.redundancy);
        m->red_shared = sqrt(m->knobs.redundancy);
    }
    for (uint32_t f = 0; f < F; f++) {
        m->exponent[f] = zipf > 0 ? zipf : pr->exponent[f];
        gen_zipf_init(&m->dist[f], (uint32_t)(cards[f] - 1), m->exponent[f]);
        m->oms[f] = m->dist[f].one_minus_s;
        m->ioms[f] = m->dist[f].inv_one_minus_s;
        (void)next64(&st); /* gen_version 1's id permutation key: kept, so the rows stay the same */
        m->key[f] = next64(&st);
    }
    if (m->coarse) { /* gen_parent of the head ranks, where most draws fall: the same values, once */
        m->parent_head = xcalloc(F, sizeof *m->parent_head);
        for (uint32_t f = 0; f < F; f++) {
            if (m->coarse[f] < 0) continue;
            uint32_t n = m->dist[f].n < GEN_PARENT_HEAD ? m->dist[f].n : GEN_PARENT_HEAD;
            m->parent_head[f] = xmalloc(n * sizeof **m->parent_head);
            for (uint32_t r = 1; r <= n; r++) m->parent_head[f][r - 1] = gen_parent(m, f, r);
        }
    }
    if (m->knobs.clusters > 0) { /* keys from the fields' own, so the seed stream is as before */
        m->ckey = xmalloc(F * sizeof *m->ckey);
        for (uint32_t f = 0; f < F; f++) m->ckey[f] = mix64(m->key[f] ^ 0x452821e638d01377ull);
        m->cl_own = sqrt(1 - m->knobs.cluster_share);
        m->cl_shared = sqrt(m->knobs.cluster_share);
    }
    /* Per-field scales from the field's own law: the variance of its weight and the mean square of
     * its vector entries, over the first GEN_STAT_RANKS ranks. */
#pragma omp parallel for schedule(dynamic, 1)
    for (uint32_t f = 0; f < F; f++) {
        uint32_t n = (uint32_t)(cards[f] - 1);
        uint32_t k = n < GEN_STAT_RANKS ? n : GEN_STAT_RANKS;
        double s = m->exponent[f], hn = genlaw_norm(n, s);
        double mw = 0, m2w = 0, m2v = 0;
        for (uint32_t r = 1; r <= k; r++) {
            double p = pow((double)r, -s) / hn, w, v[GEN_K];
            planted_parts(m, f, r, m->coarse && m->coarse[f] >= 0 ? parent_rank(m, f, r) : 0, &w, v);
            mw += p * w;
            m2w += p * w * w;
            for (int j = 0; j < GEN_K; j++) m2v += p * v[j] * v[j] / GEN_K;
        }
        double var_w = m2w - mw * mw, g2 = log((double)cards[f]);
        if (m->knobs.share_power != 1) g2 = pow(g2, m->knobs.share_power); // (ln 2)^P > 0: every field
        m->sw[f] = var_w > 1e-12 ? sqrt(g2 / var_w) : 0; // one value only: a constant, no signal
        m->sv[f] = n > 1 && m2v > 1e-12 ? sqrt(g2 / m2v) : 0;
    }
    /* Standardise lin and pair on sample rows from indices no dataset reaches (rows < 2^40). */
    double *sl = xmalloc(GEN_NSAMPLE * sizeof *sl), *sp = xmalloc(GEN_NSAMPLE * sizeof *sp);
    m->lin_sd = m->pair_sd = 1;
#pragma omp parallel
    {
        uint32_t *ids = xmalloc(F * sizeof *ids);
#pragma omp for schedule(static)
        for (int i = 0; i < GEN_NSAMPLE; i++)
            row_terms(m, row_key(m, (1ull << 62) + (uint64_t)i), ids, &sl[i], &sp[i]);
        free(ids);
    }
    double ml = 0, mp = 0, vl = 0, vp = 0;
    for (int i = 0; i < GEN_NSAMPLE; i++) {
        ml += sl[i];
        mp += sp[i];
    }
    ml /= GEN_NSAMPLE;
    mp /= GEN_NSAMPLE;
    for (int i = 0; i < GEN_NSAMPLE; i++) {
        vl += (sl[i] - ml) * (sl[i] - ml);
        vp += (sp[i] - mp) * (sp[i] - mp);
    }
    free(sl);
    free(sp);
    m->lin_mu = ml;
    m->pair_mu = mp;
    // a scale with no signal (every N_f = 2) leaves the logit at the bias
    m->lin_sd = vl > 0 ? sqrt(vl / GEN_NSAMPLE) : 1;
    m->pair_sd = vp > 0 ? sqrt(vp / GEN_NSAMPLE) : 1;
    return 0;
}

void gen_model_free(GenModel *m) {
    free(m->support);
    free(m->exponent);
    if (m->parent_head)
        for (uint32_t f = 0; f < m->fields; f++) free(m->parent_head[f]);
    free(m->parent_head);
    free(m->coarse);
    free(m->ckey);
    free(m->dist);
    free(m->oms);
    free(m->ioms);
    free(m->key);
    free(m->sw);
    free(m->sv);
    memset(m, 0, sizeof *m);
}

/* --- Criteo-format text (--text) --- */

#define TEXT_CHUNK 8192 /* rows per formatted (and, for .gz, separately compressed) piece */
#define TEXT_MAX_INT_T 1000 /* beyond, x = exp(sqrt(t)) would pass 2^53; negative numbers take over */

static inline double criteo_int_transform(long long x) {
    return x > 2 ? floor(log((double)x) * log((double)x)) : (double)x;
}

/* The text of integer id v (1..N-1) of an I field, chosen so that prep's transform (floor(ln(x)^2) for
 * x > 2, else x) gives distinct values for distinct ids: 1 -> empty (the commonest value is missing, as
 * in Criteo), 2, 3, 4 -> 0, 1, 2, and v >= 5 -> the smallest x with floor(ln(x)^2) = v - 2 (x >= 6),
 * or -(v - 2) past TEXT_MAX_INT_T (negatives pass through the transform unchanged). */
static int int_token(uint32_t v, char *buf) {
    if (v == 1) return (buf[0] = 0, 0);
    if (v <= 4) return sprintf(buf, "%u", v - 2);
    long long t = v - 2;
    if (t > TEXT_MAX_INT_T) return sprintf(buf, "%lld", -t);
    long long x = (long long)ceil(exp(sqrt((double)t)));
    while (x > 3 && criteo_int_transform(x - 1) >= (double)t) x--;
    while (criteo_int_transform(x) < (double)t) x++;
    return sprintf(buf, "%lld", x);
}

/* murmur3's 32-bit finalizer, a bijection: distinct ids give distinct 8-hex tokens */
static inline uint32_t mix32(uint32_t h) {
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

typedef struct {
    char *path, *tmp;
    FILE *f;
    int gz;
    uint32_t nint;         // leading integer fields (13)
    char **int_tok;        // (nint) packed tokens, 24 bytes per id
    uint32_t *cat_key;     // (fields)
} TextOut;

#define INT_TOK 24

static void text_close(TextOut *t, int keep) {
    if (t->f) fclose(t->f);
    if (!keep && t->tmp) unlink(t->tmp);
    if (t->tmp) tmp_guard_remove(t->tmp);
    for (uint32_t f = 0; f < t->nint; f++) free(t->int_tok[f]);
    free(t->int_tok);
    free(t->cat_key);
    free(t->tmp);
    memset(t, 0, sizeof *t);
}

static int text_open(TextOut *t, const char *path, const GenModel *m, Err *e) {
    memset(t, 0, sizeof *t);
    t->tmp = tmp_sibling(path, "tmp");
    t->path = (char *)path;
    size_t len = strlen(path);
    t->gz = len > 3 && !strcmp(path + len - 3, ".gz");
    tmp_guard_add(t->tmp); /* a signal from here on removes it */
    t->f = fopen(t->tmp, "wb");
    if (!t->f) {
        err_set(e, "%s: cannot create: %s", t->tmp, strerror(errno));
        tmp_guard_remove(t->tmp);
        free(t->tmp);
        t->tmp = NULL;
        return -1;
    }
    t->nint = 13;
    t->int_tok = xcalloc(t->nint, sizeof *t->int_tok);
    for (uint32_t f = 0; f < t->nint; f++) {
        t->int_tok[f] = xmalloc(m->support[f] * INT_TOK);
        t->int_tok[f][0] = 0; // id 0 (OOV) is never written
        for (uint32_t v = 1; v < m->support[f]; v++) int_token(v, t->int_tok[f] + (size_t)v * INT_TOK);
    }
    t->cat_key = xcalloc(m->fields, sizeof *t->cat_key);
    uint64_t st = mix64(m->seed ^ 0x13198a2e03707344ull);
    for (uint32_t f = 0; f < m->fields; f++) t->cat_key[f] = (uint32_t)next64(&st);
    return 0;
}

static size_t format_rows(const TextOut *t, const GenModel *m, const uint8_t *labels,
                          const uint32_t *ids, uint64_t n, char *out) {
    static const char HEX[] = "0123456789abcdef";
    char *p = out;
    for (uint64_t i = 0; i < n; i++) {
        const uint32_t *row = ids + i * m->fields;
        *p++ = (char)('0' + labels[i]);
        for (uint32_t f = 0; f < t->nint; f++) {
            *p++ = '\t';
            const char *s = t->int_tok[f] + (size_t)row[f] * INT_TOK;
            while (*s) *p++ = *s++;
        }
        for (uint32_t f = t->nint; f < m->fields; f++) {
            uint32_t h = mix32(row[f] ^ t->cat_key[f]);
            *p++ = '\t';
            for (int k = 7; k >= 0; k--) *p++ = HEX[(h >> (4 * k)) & 15];
        }
        *p++ = '\n';
    }
    return (size_t)(p - out);
}

/* One .gz member per chunk (gzip readers, zlib's gzread included, read concatenated members as one
 * stream): compressed in parallel, the same bytes on any thread count. Level 1: the file is for
 * benchmarking prep, and level 6 would take several times longer than generating the rows. */
static size_t gz_member(const char *in, size_t n, unsigned char *out, size_t cap) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return 0;
    zs.next_in = (unsigned char *)in;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    int rc = deflate(&zs, Z_FINISH);
    size_t got = zs.total_out;
    deflateEnd(&zs);
    return rc == Z_STREAM_END ? got : 0;
}

/* Writes the rows of all splits, in order. */
static int text_write(TextOut *t, const GenModel *m, DsWriter *w, Err *e) {
    size_t line_max = 2 + 13 * INT_TOK + (m->fields - 13) * 9 + 1;
    int bad = 0;
    for (int s = 0; s < DS_NSPLITS && !bad; s++) {
        uint64_t rows = w[s].rows, nch = (rows + TEXT_CHUNK - 1) / TEXT_CHUNK;
#pragma omp parallel
        {
            char *buf = xmalloc(TEXT_CHUNK * line_max);
            size_t zcap = t->gz ? compressBound((uLong)(TEXT_CHUNK * line_max)) + 64 : 0;
            unsigned char *zbuf = t->gz ? xmalloc(zcap) : NULL;
#pragma omp for ordered schedule(static, 1)
            for (uint64_t c = 0; c < nch; c++) {
                uint64_t lo = c * TEXT_CHUNK, n = rows - lo < TEXT_CHUNK ? rows - lo : TEXT_CHUNK;
                size_t len = format_rows(t, m, w[s].labels + lo, w[s].ids + lo * m->fields, n, buf);
                const void *data = buf;
                if (t->gz) {
                    len = gz_member(buf, len, zbuf, zcap);
                    data = zbuf;
                }
#pragma omp ordered
                {
                    int ok = len > 0 && fwrite(data, 1, len, t->f) == len;
                    if (!ok) {
#pragma omp atomic write
                        bad = 1;
                    }
                }
            }
            free(buf);
            free(zbuf);
        }
    }
    if (!bad && fflush(t->f) != 0) bad = 1;
    if (bad) return err_set(e, "%s: cannot write: %s", t->tmp, strerror(errno));
    int rc = fclose(t->f);
    t->f = NULL;
    if (rc != 0) return err_set(e, "%s: cannot write: %s", t->tmp, strerror(errno));
    return 0;
}

/* --- the command --- */

/* Rows go in blocks of GEN_VOCAB_BLOCK: a block of the (rows, F) ids stays in cache while a thread
 * walks its fields' columns in it, so each thread reads the ids once, not once per field. The raw
 * values are Zipf ranks, so most draws are small values: values below a field's dense bound D_f
 * (dense_bound) are counted in a plain array, and only the distinct ones go through vocab.h's table
 * (which then numbers every value exactly as if all had gone through it); the array then maps them to
 * ids. The rarer values above D_f go through the table. */
#define GEN_VOCAB_BLOCK 2048
#define GEN_VOCAB_AHEAD 16 /* rows between a table slot's prefetch and its use */
#define GEN_VOCAB_BIG (1u << 20) /* distinct values past which a field's finalize sorts alone */
/* 4 bytes per value below D_f: at most 1 byte per train row and field (and under 1 GiB) */
static uint64_t dense_bound(uint64_t support, uint64_t train_rows) {
    uint64_t d = train_rows / 4 + 4096;
    d = d < (1ull << 28) ? d : (1ull << 28);
    return support < d ? support : d;
}

/* a value the table will be asked for soon (one at or above the dense bound d): its slot into cache,
 * since a large field's table is far bigger than cache */
static inline void prefetch_above(const VocabMap *m, uint64_t d, uint32_t value) {
    if (value < d) return;
    VocabVal v = vocab_val_inline(value);
    vocab_prefetch(m, &v);
}

void gen_vocab(uint32_t F, uint32_t *const *ids, const uint64_t *rows, int nsplits, const uint64_t *support,
               GenIdOrder order, uint32_t min_count, uint64_t seed, uint64_t *nf, uint64_t *peak_bytes) {
    const VocabOrder vo = order == GEN_ORDER_HASH ? VOCAB_ORDER_HASH : VOCAB_ORDER_FREQ;
    VocabMap *vm = xcalloc(F, sizeof *vm);
    uint32_t **dense = xcalloc(F, sizeof *dense); // (D_f) counts, then ids
    uint64_t *dn = xcalloc(F, sizeof *dn);         // D_f; 0: the table only
    uint8_t *whole = xcalloc(F, 1);                // D_f covers the support: the array alone maps
    uint64_t *held = xcalloc(F, sizeof *held), *sortb = xcalloc(F, sizeof *sortb); // bytes per field
    uint8_t *big = xcalloc(F, 1); // more than GEN_VOCAB_BIG values: its sort waits for the others' 
#pragma omp parallel
    {
        /* each thread owns the fields f with f % threads == its number: one writer per column */
        const uint32_t T = (uint32_t)omp_get_num_threads(), t = (uint32_t)omp_get_thread_num();
        Err e;
        for (uint32_t f = t; f < F; f += T) {
            vocab_init(&vm[f]);
            dn[f] = support ? dense_bound(support[f], rows[0]) : 0;
            if (dn[f]) dense[f] = xcalloc(dn[f], 4);
            whole[f] = dn[f] && dn[f] == support[f];
        }
        const uint32_t *tr = ids[0];
        for (uint64_t lo = 0; lo < rows[0]; lo += GEN_VOCAB_BLOCK) {
            uint64_t hi = lo + GEN_VOCAB_BLOCK < rows[0] ? lo + GEN_VOCAB_BLOCK : rows[0];
            for (uint32_t f = t; f < F; f += T) {
                uint32_t *cnt = dense[f];
                const uint64_t d = dn[f];
                if (whole[f]) {
                    for (uint64_t i = lo; i < hi; i++) cnt[tr[i * F + f]]++; /* < 2^32 rows */
                    continue;
                }
                for (uint64_t i = lo; i < hi; i++) {
                    if (i + GEN_VOCAB_AHEAD < hi) prefetch_above(&vm[f], d, tr[(i + GEN_VOCAB_AHEAD) * F + f]);
                    uint32_t x = tr[i * F + f];
                    if (x < d) {
                        cnt[x]++;
                        continue;
                    }
                    VocabVal v = vocab_val_inline(x);
                    CHECK(vocab_add(&vm[f], &v, &e) == 0); /* inline values, fewer than 2^31 */
                }
            }
        }
        for (uint32_t f = t; f < F; f += T) {
            for (uint64_t v = 0; v < dn[f]; v++)
                if (dense[f][v]) CHECK(vocab_add_count(&vm[f], v, dense[f][v], &e) == 0);
            held[f] = vocab_bytes(&vm[f]);
            sortb[f] = vocab_finalize_bytes(vocab_distinct(&vm[f]));
            big[f] = vocab_distinct(&vm[f]) > GEN_VOCAB_BIG;
            if (big[f]) {
                /* one big field's sort at a time: two of Criteo's 10M-value fields sorting at once
                 * would hold more than their tables */
#pragma omp critical(gen_vocab_big_sort)
                nf[f] = vocab_finalize(&vm[f], vo, min_count, seed);
            } else {
                nf[f] = vocab_finalize(&vm[f], vo, min_count, seed);
            }
            for (uint64_t v = 0; v < dn[f]; v++) {
                VocabVal x = vocab_val_inline(v);
                dense[f][v] = dense[f][v] ? vocab_id(&vm[f], &x) : 0;
            }
            if (whole[f]) vocab_free(&vm[f]); /* the array maps every value */
        }
        for (int sp = 0; sp < nsplits; sp++) {
            uint32_t *x = ids[sp];
            for (uint64_t lo = 0; lo < rows[sp]; lo += GEN_VOCAB_BLOCK) {
                uint64_t hi = lo + GEN_VOCAB_BLOCK < rows[sp] ? lo + GEN_VOCAB_BLOCK : rows[sp];
                for (uint32_t f = t; f < F; f += T) {
                    const uint32_t *map = dense[f];
                    const uint64_t d = dn[f];
                    if (whole[f]) {
                        for (uint64_t i = lo; i < hi; i++) x[i * F + f] = map[x[i * F + f]];
                        continue;
                    }
                    for (uint64_t i = lo; i < hi; i++) {
                        if (i + GEN_VOCAB_AHEAD < hi) prefetch_above(&vm[f], d, x[(i + GEN_VOCAB_AHEAD) * F + f]);
                        uint32_t r = x[i * F + f];
                        if (r < d) {
                            x[i * F + f] = map[r];
                            continue;
                        }
                        VocabVal v = vocab_val_inline(r);
                        x[i * F + f] = vocab_id(&vm[f], &v);
                    }
                }
            }
        }
        for (uint32_t f = t; f < F; f += T) {
            if (!whole[f]) vocab_free(&vm[f]);
            free(dense[f]);
        }
    }
    if (peak_bytes) {
        /* on top of every field's table (at its largest) and array: per thread, one transient at a
         * time: a finalize's sort, or a table's growth (the old slots beside the new: half the
         * table); of the big fields' sorts, one at a time overall */
        uint64_t b = 0, big_max = 0, c1 = 0, c2 = 0, csum = 0;
        for (uint32_t f = 0; f < F; f++) {
            b += held[f] + dn[f] * 4 + sizeof *vm + sizeof *dense + sizeof *dn;
            uint64_t tr[2] = {held[f] / 2, big[f] ? 0 : sortb[f]};
            if (big[f] && sortb[f] > big_max) big_max = sortb[f];
            for (int i = 0; i < 2; i++) {
                csum += tr[i];
                if (tr[i] > c1) c2 = c1, c1 = tr[i];
                else if (tr[i] > c2) c2 = tr[i];
            }
        }
        uint64_t two = big_max + c1 > c1 + c2 ? big_max + c1 : c1 + c2;
        *peak_bytes = b + (omp_get_max_threads() <= 2 ? two : big_max + csum);
    }
    free(held);
    free(sortb);
    free(big);
    free(dn);
    free(whole);
    free(dense);
    free(vm);
}

/* --- gen --law: the fitted laws and their growth, computed exactly (genlaw.h) --- */

static void law_cell(double e, double t) {
    if (t > 0)
        printf(" %.0f / %.0f (%+.1f%%) |", e, t, 100 * (e / t - 1));
    else
        printf(" %.0f |", e);
}

/* A markdown table of laws (support V_f, exponent s_f per field of profile p): the expected distinct
 * values at the targets' sizes against the targets, and at `rows` train rows when rows > 0. */
static void print_law(const GenProfile *p, const uint64_t *support, const double *exponent, double rows) {
    printf("| field | support V_f | exponent |");
    if (p->sample_rows) printf(" distinct at %.0f rows / target |", p->sample_rows);
    if (p->full_rows) printf(" distinct at %.0f rows / target |", p->full_rows);
    if (rows > 0) printf(" N_f - 1 at %.0f train rows |", rows);
    printf("\n| --- | ---: | ---: |%s%s%s\n", p->sample_rows ? " ---: |" : "", p->full_rows ? " ---: |" : "",
           rows > 0 ? " ---: |" : "");
    double tot[3] = {0, 0, 0}, tt[2] = {0, 0};
    for (uint32_t f = 0; f < p->fields; f++) {
        GenLawTarget t;
        gen_profile_target(p, f, &t);
        uint64_t M = support[f] - 1;
        printf("| %s | %llu | %.4f |", p->names[f], (unsigned long long)support[f], exponent[f]);
        if (p->sample_rows) {
            double e = genlaw_distinct(M, exponent[f], p->sample_rows);
            law_cell(e, t.t1);
            tot[0] += e, tt[0] += t.t1;
        }
        if (p->full_rows) {
            double e = genlaw_distinct(M, exponent[f], p->full_rows);
            law_cell(e, t.t2);
            tot[1] += e, tt[1] += t.t2;
        }
        if (rows > 0) {
            double e = genlaw_distinct(M, exponent[f], rows);
            printf(" %.0f |", e);
            tot[2] += e;
        }
        printf("\n");
    }
    printf("| total | | |");
    if (p->sample_rows) law_cell(tot[0], tt[0]);
    if (p->full_rows) law_cell(tot[1], tt[1]);
    if (rows > 0) printf(" %.0f |", tot[2]);
    printf("\n");
}

/* Fits every field's law again and prints the arrays to paste into the profile, then the table. */
static void refit_law(const GenProfile *p) {
    uint64_t *support = xcalloc(p->fields, sizeof *support);
    double *exponent = xcalloc(p->fields, sizeof *exponent);
#pragma omp parallel for schedule(dynamic, 1)
    for (uint32_t f = 0; f < p->fields; f++) {
        GenLawTarget t;
        if (!gen_profile_target(p, f, &t)) {
            support[f] = p->support[f], exponent[f] = p->exponent[f];
            continue;
        }
        uint64_t M;
        genlaw_fit(&t, &M, &exponent[f]);
        support[f] = M + 1;
    }
    printf("support:");
    for (uint32_t f = 0; f < p->fields; f++) printf("%s%llu", f ? ", " : " ", (unsigned long long)support[f]);
    printf("\nexponent:");
    for (uint32_t f = 0; f < p->fields; f++) printf("%s%.6g", f ? ", " : " ", exponent[f]);
    printf("\n\n");
    print_law(p, support, exponent, 0);
    free(support);
    free(exponent);
}

static const char USAGE[] =
    "usage: hashemb gen --profile criteo|avazu|tiny --rows N [--vocab-scale X] [--zipf S]\n"
    "                   [--id-order freq|hash] [--min-count N] [--seed N] [--threads N] [--text FILE]\n"
    "                   [--planted calibrated|independent] [--rarity R0] [--redundancy L]\n"
    "                   [--clusters K [--cluster-share C]] [--share-power P]\n"
    "                   --out DIR\n"
    "       hashemb gen --profile P --law [--rows N] [--vocab-scale X] [--zipf S] | --law --refit\n"
    "\n"
    "Makes a synthetic prepared dataset (SPEC 3.3): train/valid/test = 80/10/10 of --rows, field\n"
    "values from Zipf laws fitted per field to real Criteo's vocabulary growth, labels from a planted\n"
    "model whose true probabilities are stored, so the oracle AUC and logloss (the ceiling for any\n"
    "model) are known and written to dataset.meta. The ids follow prep's rule: the values the train\n"
    "split shows get ids (N_f of them, OOV included, is what every ratio is measured against); the\n"
    "rows, not --vocab-scale, decide N_f (gen --law --rows N predicts it).\n"
    "\n"
    "  --profile P       criteo (13 + 26 fields, Criteo Kaggle cardinalities), avazu (24 fields),\n"
    "                    tiny (8 fields of at most 1000 values, for tests)\n"
    "  --rows N          total rows, at least 10\n"
    "  --vocab-scale X   multiply every field's support (the values the law can draw) by X\n"
    "                    (minimum 2); default 1\n"
    "  --zipf S          one Zipf exponent for every field, > 0; default: each field's fitted one\n"
    "  --id-order O      how the ids are numbered, as prep does: hash, by a seeded hash of the value\n"
    "                    (default: ids unrelated to frequency, as real pipelines feed them); freq, by\n"
    "                    descending count in train\n"
    "  --min-count N     a value needs N occurrences in train to get an id (default 1); the others,\n"
    "                    and values train never shows, are the OOV id 0 in every split\n"
    "  --seed N          default 1\n"
    "  --threads N       default: all cores; the output does not depend on it\n"
    "  --text FILE       also write the rows as Criteo text (criteo profile; FILE.gz: gzip)\n"
    "  --out DIR         the dataset directory, written atomically; an existing hashemb dataset there\n"
    "                    is replaced, any other directory refused (checked before any work)\n"
    "  --planted P       the planted model's preset, which the four knobs below adjust (dataset.meta\n"
    "                    and info record the knobs): calibrated (default), about as compressible as\n"
    "                    real Criteo (--rarity 1 --redundancy 0.9 --share-power -2: hash keeps ~99% of\n"
    "                    the full table's AUC at 1000x on quick's data); independent, independent\n"
    "                    effects (--rarity 30 --redundancy 0 --share-power 1: gen_version 3's data, the\n"
    "                    same split files byte for byte), far harder to compress\n"
    "  --rarity R0       the planted model: effects shrink with rarity, value r's weight and vector\n"
    "                    having amplitude (1 + r/R0)^-1/2 (r: its rank in its field's law); a smaller\n"
    "                    R0 puts more of the signal in the popular values; calibrated: 1\n"
    "  --redundancy L    the planted model: one entity, two fields (criteo: its 8 largest fields, each\n"
    "                    with a small one; avazu: site_id and site_category, app_id and app_category,\n"
    "                    device_ip and device_model, device_id and device_type): the small field's value\n"
    "                    is a function of the large one's, and the large value's effect is sqrt(1-L) its\n"
    "                    own plus sqrt(L) the small value's; 0 to 0.999 (0: independent fields);\n"
    "                    calibrated: 0.9\n"
    "  --clusters K      the planted model: each field's values fall into K clusters (by a seeded hash,\n"
    "                    unrelated to popularity) whose shared effect is --cluster-share C of every\n"
    "                    member's (default 0.8); default 0, no clusters\n"
    "  --share-power P   the planted model: each field's share of the logit variance is proportional\n"
    "                    to (ln V_f)^P (V_f its support); 1 gives the large ID-like fields the most,\n"
    "                    0 every field alike, below 0 the small fields the most; -4 to 4; calibrated: -2\n"
    "  --law             print the laws gen draws from (support V_f and exponent per field, fitted so\n"
    "                    that the distinct values grow with the rows like real Criteo's, or as\n"
    "                    --vocab-scale and --zipf change them: datasets/README.md) and the distinct values\n"
    "                    they show, computed exactly: at the fit's targets and, with --rows, in that many\n"
    "                    rows' train split (N_f - 1); nothing is generated\n"
    "  --refit           with --law: fit the laws again and print them (for the profile's source)\n"
    "  --version         print the generator's version and exit (the same arguments give the same\n"
    "                    data while it stays; dataset.meta records it as gen_version)\n";

static void split_metrics(const DsWriter *w, double *pos, double *auc, double *ll) {
    *pos = metric_pos_rate(w->labels, w->rows);
    *auc = metric_auc(w->prob, w->labels, w->rows);
    *ll = metric_logloss(w->prob, w->labels, w->rows);
}

/* parse_f64 for a value dataset.meta and the source line record with %g: refused when %g would not
 * give it back exactly, so that the recorded flags make the same data again */
static int parse_recorded(const char *s, double lo, double hi, const char *what, double *out, Err *e) {
    if (parse_f64(s, lo, hi, what, out, e)) return -1;
    char buf[64];
    snprintf(buf, sizeof buf, "%g", *out);
    if (strtod(buf, NULL) != *out)
        return err_set(e, "%s: '%s' has more than 6 significant digits (dataset.meta records %s)", what, s, buf);
    return 0;
}

/* printf onto the end of the string in buf (cap bytes, NUL-terminated) */
static void str_appendf(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void str_appendf(char *buf, size_t cap, const char *fmt, ...) {
    size_t len = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, cap - len, fmt, ap);
    va_end(ap);
}

static void meta_num(DsMeta *meta, const char *key, double v) {
    if (isnan(v))
        ds_meta_set(meta, key, "NA");
    else
        ds_meta_set(meta, key, "%.6f", v);
}

int cmd_gen(int argc, char **argv) {
    static const struct option opts[] = {
        {"profile", required_argument, 0, 'p'}, {"rows", required_argument, 0, 'r'},
        {"vocab-scale", required_argument, 0, 'v'}, {"zipf", required_argument, 0, 'z'},
        {"id-order", required_argument, 0, 'i'}, {"seed", required_argument, 0, 's'},
        {"threads", required_argument, 0, 't'}, {"text", required_argument, 0, 'x'},
        {"out", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},       {"min-count", required_argument, 0, 'm'},
        {"law", no_argument, 0, 'L'},           {"refit", no_argument, 0, 'R'},
        {"rarity", required_argument, 0, 'a'},  {"redundancy", required_argument, 0, 'd'},
        {"clusters", required_argument, 0, 'k'}, {"cluster-share", required_argument, 0, 'c'},
        {"share-power", required_argument, 0, 'w'}, {"planted", required_argument, 0, 'P'},
        {0, 0, 0, 0}};
    const char *profile = NULL, *out = NULL, *text = NULL;
    long long rows = -1, seed = 1, threads = 0, min_count = 1;
    double scale = 1.0, zipf = 0; // 0: the fitted exponents
    /* the knobs: --planted's preset, then the knob flags given, in whatever order */
    GenKnobs knobs = GEN_KNOBS_DEFAULT, given = knobs;
    enum { K_RARITY = 1, K_REDUNDANCY = 2, K_CLUSTERS = 4, K_SHARE = 8, K_POWER = 16 };
    unsigned set = 0;
    const char *preset = "calibrated";
    int law = 0, refit = 0;
    /* hash by default: real pipelines number ids in an order unrelated to frequency (the BH and Q-R
     * papers feed hashed ids); frequency order is the ablation (id-order.sweep) */
    GenIdOrder order = GEN_ORDER_HASH;
    Err e;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'p': profile = optarg; break;
        case 'r':
            if (parse_i64(optarg, 10, 1ll << 40, "--rows", &rows, &e)) goto bad;
            break;
        case 'v':
            if (parse_recorded(optarg, 1e-9, 1e6, "--vocab-scale", &scale, &e)) goto bad;
            break;
        case 'z':
            if (parse_recorded(optarg, 1e-3, 20, "--zipf", &zipf, &e)) goto bad;
            break;
        case 'i':
            if (!strcmp(optarg, "freq"))
                order = GEN_ORDER_FREQ;
            else if (!strcmp(optarg, "hash"))
                order = GEN_ORDER_HASH;
            else
                return cmd_usage_error("gen", USAGE, "--id-order: '%s' is not freq or hash", optarg);
            break;
        case 's':
            if (parse_i64(optarg, 0, INT64_MAX, "--seed", &seed, &e)) goto bad;
            break;
        case 't':
            if (parse_i64(optarg, 1, 1024, "--threads", &threads, &e)) goto bad;
            break;
        case 'm':
            if (parse_i64(optarg, 1, UINT32_MAX, "--min-count", &min_count, &e)) goto bad;
            break;
        case 'x': text = optarg; break;
        case 'o': out = optarg; break;
        case 'h': fputs(USAGE, stdout); return 0;
        case 'V': printf("gen_version %d\n", GEN_VERSION); return 0;
        case 'L': law = 1; break;
        case 'R': refit = 1; break;
        case 'a':
            if (parse_recorded(optarg, 0.01, 1e12, "--rarity", &given.rarity, &e)) goto bad;
            set |= K_RARITY;
            break;
        case 'd':
            if (parse_recorded(optarg, 0, 0.999, "--redundancy", &given.redundancy, &e)) goto bad;
            set |= K_REDUNDANCY;
            break;
        case 'k': {
            long long k;
            if (parse_i64(optarg, 0, UINT32_MAX, "--clusters", &k, &e)) goto bad;
            given.clusters = (uint32_t)k;
            set |= K_CLUSTERS;
            break;
        }
        case 'c':
            if (parse_recorded(optarg, 0, 1, "--cluster-share", &given.cluster_share, &e)) goto bad;
            set |= K_SHARE;
            break;
        case 'w':
            if (parse_recorded(optarg, -4, 4, "--share-power", &given.share_power, &e)) goto bad;
            set |= K_POWER;
            break;
        case 'P':
            if (!gen_knobs_of_preset(optarg, &knobs))
                return cmd_usage_error("gen", USAGE, "--planted: '%s' is not calibrated or independent", optarg);
            preset = optarg;
            break;
        default: return cmd_bad_option("gen", USAGE);
        }
    }
    if (optind < argc) return cmd_usage_error("gen", USAGE, "unexpected argument '%s'", argv[optind]);
    if (!profile) return cmd_usage_error("gen", USAGE, "--profile is required");
    if (set & K_RARITY) knobs.rarity = given.rarity;
    if (set & K_REDUNDANCY) knobs.redundancy = given.redundancy;
    if (set & K_CLUSTERS) knobs.clusters = given.clusters;
    if (set & K_SHARE) knobs.cluster_share = given.cluster_share;
    if ((set & K_SHARE) && !knobs.clusters)
        return cmd_usage_error("gen", USAGE, "--cluster-share: needs --clusters K (K > 0)");
    if (set & K_POWER) knobs.share_power = given.share_power;
    if (refit && !law) return cmd_usage_error("gen", USAGE, "--refit needs --law");
    if (law) {
        const GenProfile *p = gen_profile(profile);
        if (!p) return cmd_usage_error("gen", USAGE, "--profile: unknown profile '%s' (criteo, avazu or tiny)",
                                       profile);
        if (out || text) return cmd_usage_error("gen", USAGE, "--law writes no data: drop --out and --text");
        if (min_count != 1)
            return cmd_usage_error("gen", USAGE, "--min-count: --law counts the values seen at least once");
        if (refit && (zipf > 0 || scale != 1.0))
            return cmd_usage_error("gen", USAGE, "--refit fits the profile's own laws: drop --zipf and --vocab-scale");
        omp_set_num_threads(threads ? (int)threads : omp_get_num_procs());
        if (refit) {
            refit_law(p);
            return 0;
        }
        /* the laws gen would draw from with these flags (the support scaled, --zipf's exponent) */
        GenModel lm;
        if (gen_model_init(&lm, profile, scale, zipf, GEN_ORDER_HASH, 1, &e)) goto bad;
        print_law(p, lm.support, lm.exponent, rows > 0 ? (double)(rows * 8 / 10) : 0);
        gen_model_free(&lm);
        return 0;
    }
    if (rows < 0) return cmd_usage_error("gen", USAGE, "--rows is required");
    if (!out || !*out) return cmd_usage_error("gen", USAGE, "--out is required");
    if (text && strcmp(profile, "criteo"))
        return cmd_usage_error("gen", USAGE, "--text: Criteo text needs --profile criteo, not '%s'",
                               profile);
    if (text && !*text) return cmd_usage_error("gen", USAGE, "--text: empty file name");
    /* the outputs before any work: a bad --out or --text fails now, not after the rows */
    char *out_norm;
    if (ds_out_prepare(out, &out_norm, &e)) goto bad;
    out = out_norm;
    if (text) {
        struct stat st;
        if (stat(text, &st) == 0 && S_ISDIR(st.st_mode)) {
            err_set(&e, "--text: %s is a directory", text);
            free(out_norm);
            goto bad;
        }
        const char *slash = strrchr(text, '/');
        char *tdir = slash ? xstrdup(text) : xstrdup(".");
        if (slash) tdir[slash == text ? 1 : slash - text] = 0;
        int ok = stat(tdir, &st) == 0 && S_ISDIR(st.st_mode);
        if (!ok) err_set(&e, "--text: %s: its directory %s does not exist", text, tdir);
        free(tdir);
        if (!ok) {
            free(out_norm);
            goto bad;
        }
        tmp_sweep_stale(text);
    }
    omp_set_num_threads(threads ? (int)threads : omp_get_num_procs());

    GenModel m;
    if (gen_model_init_knobs(&m, profile, scale, zipf, order, (uint64_t)seed, &knobs, &e)) {
        free(out_norm);
        goto bad;
    }

    double t0 = now_seconds();
    uint64_t n = (uint64_t)rows;
    uint64_t split_rows[DS_NSPLITS] = {n * 8 / 10, n * 9 / 10 - n * 8 / 10, n - n * 9 / 10};
    uint64_t first[DS_NSPLITS] = {0, split_rows[0], split_rows[0] + split_rows[1]};
    DsWriter w[DS_NSPLITS];
    memset(w, 0, sizeof w);
    for (int s = 0; s < DS_NSPLITS; s++) w[s].fd = -1;
    TextOut txt;
    memset(&txt, 0, sizeof txt);
    DsMeta meta;
    memset(&meta, 0, sizeof meta);
    char *tmp = NULL;
    uint64_t *nf = NULL; // (fields) N_f, from the train split
    /* the .bin files are reserved whole before a row is written (posix_fallocate): refuse up front
     * rather than fill the disk; the --text file is checked as it is written */
    if (ds_space_check(out, ds_bytes(split_rows, m.fields, DS_FLAG_PROB), &e) ||
        ds_dir_begin(out, &tmp, &e)) {
        gen_model_free(&m);
        fprintf(stderr, "hashemb gen: %s\n", e.msg);
        free(out_norm);
        return 1;
    }
    size_t plen = strlen(tmp) + 32;
    char *path = xmalloc(plen);
    for (int s = 0; s < DS_NSPLITS; s++) {
        snprintf(path, plen, "%s/%s.bin", tmp, DS_SPLIT_NAMES[s]);
        if (ds_writer_open(&w[s], path, split_rows[s], m.fields, DS_FLAG_PROB, &e)) goto fail;
    }

    for (int s = 0; s < DS_NSPLITS; s++) {
        DsWriter *ws = &w[s];
        uint64_t nb = (ws->rows + 4095) / 4096;
#pragma omp parallel for schedule(dynamic, 1)
        for (uint64_t b = 0; b < nb; b++) {
            uint64_t lo = b * 4096, hi = lo + 4096 < ws->rows ? lo + 4096 : ws->rows;
            for (uint64_t i = lo; i < hi; i++)
                gen_row(&m, first[s] + i, ws->ids + i * m.fields, &ws->prob[i], &ws->labels[i], NULL);
        }
    }
    double t_rows = now_seconds() - t0;

    double pos[DS_NSPLITS], auc[DS_NSPLITS], ll[DS_NSPLITS];
    for (int s = 0; s < DS_NSPLITS; s++) split_metrics(&w[s], &pos[s], &auc[s], &ll[s]);

    if (text) {
        if (text_open(&txt, text, &m, &e)) goto fail;
        if (text_write(&txt, &m, w, &e)) goto fail;
    }

    /* the text holds the raw values; the dataset, prep's ids of them */
    double t_vocab = now_seconds();
    uint64_t vocab_bytes_peak = 0;
    nf = xcalloc(m.fields, sizeof *nf);
    {
        uint32_t *split_ids[DS_NSPLITS];
        for (int s = 0; s < DS_NSPLITS; s++) split_ids[s] = w[s].ids;
        gen_vocab(m.fields, split_ids, split_rows, DS_NSPLITS, m.support, order, (uint32_t)min_count,
                  (uint64_t)seed, nf, &vocab_bytes_peak);
    }
    t_vocab = now_seconds() - t_vocab;

    for (int s = 0; s < DS_NSPLITS; s++)
        if (ds_writer_finish(&w[s], &e)) goto fail;

    char flags[192] = ""; /* the flags that differ from their defaults */
    if (zipf > 0) str_appendf(flags, sizeof flags, " --zipf %g", zipf);
    /* the knobs as the named preset and the flags that differ from it (a preset they make is named) */
    GenKnobs base;
    const char *named = gen_knobs_preset(&knobs);
    if (named) preset = named;
    CHECK(gen_knobs_of_preset(preset, &base));
    if (strcmp(preset, "calibrated")) str_appendf(flags, sizeof flags, " --planted %s", preset);
    if (knobs.rarity != base.rarity) str_appendf(flags, sizeof flags, " --rarity %g", knobs.rarity);
    if (knobs.redundancy != base.redundancy) str_appendf(flags, sizeof flags, " --redundancy %g", knobs.redundancy);
    if (knobs.clusters != base.clusters)
        str_appendf(flags, sizeof flags, " --clusters %u --cluster-share %g", knobs.clusters, knobs.cluster_share);
    if (knobs.share_power != base.share_power) str_appendf(flags, sizeof flags, " --share-power %g", knobs.share_power);
    ds_meta_set(&meta, "version", "1");
    ds_meta_set(&meta, "format", "gen:%s", m.profile);
    ds_meta_set(&meta, "source",
                "gen --profile %s --rows %llu --vocab-scale %g%s --id-order %s --min-count %lld --seed %llu",
                m.profile, (unsigned long long)n, scale, flags, order == GEN_ORDER_HASH ? "hash" : "freq",
                min_count, (unsigned long long)seed);
    ds_meta_set(&meta, "fields", "%u", m.fields);
    {
        size_t cap = (size_t)m.fields * 24 + 1, k = 0, j = 0, l = 0;
        char *names = xmalloc(cap), *cards = xmalloc(cap), *support = xmalloc(cap);
        for (uint32_t f = 0; f < m.fields; f++) {
            k += (size_t)snprintf(names + k, cap - k, "%s%s", f ? "," : "", m.names[f]);
            j += (size_t)snprintf(cards + j, cap - j, "%s%llu", f ? "," : "", (unsigned long long)nf[f]);
            l += (size_t)snprintf(support + l, cap - l, "%s%llu", f ? "," : "",
                                  (unsigned long long)m.support[f]);
        }
        ds_meta_set(&meta, "field_names", "%s", names);
        ds_meta_set(&meta, "cardinalities", "%s", cards);
        ds_meta_set(&meta, "support", "%s", support);
        free(names);
        free(cards);
        free(support);
    }
    char key[64];
    for (int s = 0; s < DS_NSPLITS; s++) {
        snprintf(key, sizeof key, "rows_%s", DS_SPLIT_NAMES[s]);
        ds_meta_set(&meta, key, "%llu", (unsigned long long)split_rows[s]);
    }
    for (int s = 0; s < DS_NSPLITS; s++) {
        snprintf(key, sizeof key, "pos_rate_%s", DS_SPLIT_NAMES[s]);
        meta_num(&meta, key, pos[s]);
    }
    ds_meta_set(&meta, "min_count", "%lld", min_count);
    ds_meta_set(&meta, "id_order", "%s", order == GEN_ORDER_HASH ? "hash" : "freq");
    ds_meta_set(&meta, "seed", "%llu", (unsigned long long)seed);
    for (int s = 0; s < DS_NSPLITS; s++) {
        snprintf(key, sizeof key, "oracle_auc_%s", DS_SPLIT_NAMES[s]);
        meta_num(&meta, key, auc[s]);
    }
    for (int s = 0; s < DS_NSPLITS; s++) {
        snprintf(key, sizeof key, "oracle_logloss_%s", DS_SPLIT_NAMES[s]);
        meta_num(&meta, key, ll[s]);
    }
    ds_meta_set(&meta, "profile", "%s", m.profile);
    ds_meta_set(&meta, "vocab_scale", "%g", scale);
    if (zipf > 0)
        ds_meta_set(&meta, "zipf", "%g", zipf);
    else
        ds_meta_set(&meta, "zipf", "fitted");
    {
        size_t cap = (size_t)m.fields * 24 + 1, k = 0;
        char *ex = xmalloc(cap);
        for (uint32_t f = 0; f < m.fields; f++)
            k += (size_t)snprintf(ex + k, cap - k, "%s%.6g", f ? "," : "", m.exponent[f]);
        ds_meta_set(&meta, "exponent", "%s", ex);
        free(ex);
    }
    ds_meta_set(&meta, "rarity", "%g", knobs.rarity);
    ds_meta_set(&meta, "redundancy", "%g", knobs.redundancy);
    ds_meta_set(&meta, "clusters", "%u", knobs.clusters);
    ds_meta_set(&meta, "cluster_share", "%g", knobs.clusters ? knobs.cluster_share : 0.0);
    ds_meta_set(&meta, "share_power", "%g", knobs.share_power);
    ds_meta_set(&meta, "gen_version", "%d", GEN_VERSION);
    snprintf(path, plen, "%s/dataset.meta", tmp);
    if (ds_meta_write(&meta, path, &e)) goto fail;
    /* the dataset and the text go into place together: a signal waits until both are there */
    tmp_guard_hold();
    if (ds_dir_commit(tmp, out, &e)) {
        free(tmp);
        tmp = NULL; // commit removed the directory itself
        tmp_guard_release();
        goto fail;
    }
    if (text) {
        if (rename(txt.tmp, txt.path) != 0) {
            err_set(&e, "%s: cannot rename %s into place: %s", txt.path, txt.tmp, strerror(errno));
            free(tmp);
            tmp = NULL;
            tmp_guard_release();
            goto fail;
        }
        text_close(&txt, 1);
    }
    tmp_guard_release();
    double secs = now_seconds() - t0;
    uint64_t total_nf = 0, total_support = 0;
    for (uint32_t f = 0; f < m.fields; f++) total_nf += nf[f], total_support += m.support[f];
    fprintf(stderr,
            "gen: %s, %llu rows (%llu/%llu/%llu) in %.2f s, %.2fM rows/s (rows alone %.2f s, vocabulary "
            "%.2f s), %d threads; %llu ids in the full tables (train's values, of a support of %llu); "
            "vocabulary memory at most %.1f MB (%.1f bytes per distinct train value); "
            "pos rate %.4f, oracle AUC %.4f (test %.4f)\n",
            m.profile, (unsigned long long)n, (unsigned long long)split_rows[0],
            (unsigned long long)split_rows[1], (unsigned long long)split_rows[2], secs,
            (double)n / secs / 1e6, t_rows, t_vocab, omp_get_max_threads(),
            (unsigned long long)total_nf, (unsigned long long)total_support, vocab_bytes_peak / 1e6,
            (double)vocab_bytes_peak / (double)(total_nf > m.fields ? total_nf - m.fields : 1), pos[0], auc[0],
            auc[2]);
    free(nf);
    free(tmp);
    free(path);
    ds_meta_free(&meta);
    gen_model_free(&m);
    free(out_norm);
    return 0;

fail:
    fprintf(stderr, "hashemb gen: %s\n", e.msg);
    for (int s = 0; s < DS_NSPLITS; s++)
        if (w[s].map) ds_writer_abort(&w[s]);
    text_close(&txt, 0);
    if (tmp) ds_dir_abort(tmp);
    free(nf);
    free(tmp);
    free(path);
    ds_meta_free(&meta);
    gen_model_free(&m);
    free(out_norm);
    return 1;
bad:
    return cmd_usage_error("gen", USAGE, "%s", e.msg);
}
