/* genlaw: how many distinct values a Zipf law shows in n draws, computed exactly from the law (no
 * sampling), and the fit of a field's law (its number of values and exponent) to growth targets: the
 * distinct counts real data shows at two sizes (SPEC 3.3; datasets/README.md has the fitted table).
 *
 * The law is the one gen draws from: ranks 1..M with P(k) = k^-s / H(M, s). The expected number of
 * distinct values in n independent draws is sum_k 1 - (1 - P(k))^n. The first GENLAW_HEAD ranks are
 * summed term by term; the rest, where the summand is smooth in k, by the midpoint rule's integral
 * (sum_{k=a}^{b} g(k) ~ integral of g over [a - 1/2, b + 1/2], error ~ g''(k)/24 per term: at most
 * s(s+1)/(24 k^2) of the term, 6e-9 at k = 4096 and s = 1.1, 2e-7 at s = 8), integrated by
 * Gauss-Legendre on panels of equal width in log k. So a law over 2^32 values costs a few hundred
 * evaluations, and test_genlaw checks it against the plain sum and known answers. */
#ifndef HASHEMB_GENLAW_H
#define HASHEMB_GENLAW_H

#include <stdint.h>

#define GENLAW_HEAD 4096u
#define GENLAW_MAX_VALUES 4294967294ull /* M: gen's raw values 1..M fit a u32 with 0 kept for OOV */

/* H(M, s) = sum_{k=1}^{M} k^-s */
double genlaw_norm(uint64_t M, double s);
/* The expected number of distinct values in n draws from Zipf(M, s). */
double genlaw_distinct(uint64_t M, double s, double n);
/* The same by the plain sum over all M ranks: for tests (M up to some millions). */
double genlaw_distinct_sum(uint64_t M, double s, double n);

/* Growth targets of one field: the distinct values real data shows in n1 rows (t1) and n2 rows (t2);
 * a target <= 0 is absent. M is searched in [m_lo, m_hi] (m_lo == m_hi: fixed), s in
 * [GENLAW_S_MIN, GENLAW_S_MAX]. */
typedef struct {
    double n1, t1, n2, t2;
    uint64_t m_lo, m_hi;
} GenLawTarget;

#define GENLAW_S_MIN 0.05
#define GENLAW_S_MAX 8.0
#define GENLAW_TOL1 1.25 /* the tolerances the fit's errors are measured in: t1 within 25% */
#define GENLAW_TOL2 1.10 /* t2 within 10% */

/* The fit minimises (ln(E1/t1) / ln GENLAW_TOL1)^2 + (ln(E2/t2) / ln GENLAW_TOL2)^2 (each term where
 * its target is present), plus a pull of 1e-3 ln^2(s / 1.1) towards gen's old exponent and 1e-5
 * ln(M / m_lo) towards the smallest support, which decide only where the targets leave the law free
 * (a field whose every value is seen at both sizes). Deterministic. */
void genlaw_fit(const GenLawTarget *t, uint64_t *M, double *s);

#endif
