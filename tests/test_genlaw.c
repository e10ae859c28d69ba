/* genlaw: the expected distinct count against the plain sum and against draws, the fit, and the
 * profiles' growth targets (SPEC 3.3), all computed from the laws without generating a dataset. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/gen.h"
#include "data/genlaw.h"
#include "testing.h"

/* T_NEAR with a formatted description */
#define NEAR(a, b, tol, ...) T_CHECK(fabs((double)(a) - (double)(b)) <= (tol), __VA_ARGS__)

static void test_norm_and_distinct(void) {
    /* the head-plus-integral path against the sum over every rank */
    static const struct {
        uint64_t M;
        double s, n;
    } cases[] = {{1, 1.1, 10},        {3, 0.5, 2},          {4096, 1.1, 7200},
                 {5000, 2.5, 1e6},    {300000, 1.0, 7200},  {300000, 1.0624, 45840617},
                 {2000000, 0.2118, 40428967}, {2000000, 0.6, 1e5}, {2000000, 1.5, 1e9},
                 {2000000, 3.9, 45840617}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t M = cases[i].M;
        double s = cases[i].s, n = cases[i].n, h = 0;
        for (uint64_t r = M; r >= 1; r--) h += pow((double)r, -s);
        NEAR(genlaw_norm(M, s), h, 1e-10 * h, "H(%llu, %g): %.12g vs %.12g", (unsigned long long)M, s,
             genlaw_norm(M, s), h);
        double want = genlaw_distinct_sum(M, s, n), got = genlaw_distinct(M, s, n);
        NEAR(got, want, 1e-8 * want + 1e-9, "E distinct, M %llu s %g n %g: %.12g vs %.12g", (unsigned long long)M,
             s, n, got, want);
    }
    /* Known answers at the largest support (2^32-2 values, 19 tail panels), where the plain sum is
     * too slow: sum k^-2 = pi^2/6 - (the tail past M, 1/(M + 1/2) to O(M^-3)); and, since
     * 1 - (1-p)^3 = 3p - 3p^2 + p^3 and the p sum to 1, E(3 draws) = 3 - 3 H(2s)/H(s)^2 + H(3s)/H(s)^3
     * exactly, for any law; E(2 draws) = 2 - H(2s)/H(s)^2. */
    {
        const uint64_t M = GENLAW_MAX_VALUES;
        NEAR(genlaw_norm(M, 2), M_PI * M_PI / 6 - 1 / ((double)M + 0.5), 1e-14, "H(2^32-2, 2) = %.17g",
             genlaw_norm(M, 2));
        const double ss[] = {0.2118, 1.06245, 2.5};
        for (int i = 0; i < 3; i++) {
            double s = ss[i], h1 = genlaw_norm(M, s), h2 = genlaw_norm(M, 2 * s), h3 = genlaw_norm(M, 3 * s);
            double e3 = 3 - 3 * h2 / (h1 * h1) + h3 / (h1 * h1 * h1), e2 = 2 - h2 / (h1 * h1);
            NEAR(genlaw_distinct(M, s, 3), e3, 1e-9, "E(3 draws) over 2^32-2 values at s = %g: %.12g vs %.12g", s,
                 genlaw_distinct(M, s, 3), e3);
            NEAR(genlaw_distinct(M, s, 2), e2, 1e-9, "E(2 draws) over 2^32-2 values at s = %g", s);
        }
        /* a big n over a support whose plain sum is still quick (2^25 values, 9 tail panels) */
        const uint64_t M2 = 1u << 25;
        double want = genlaw_distinct_sum(M2, 1.06245, 45840617), got = genlaw_distinct(M2, 1.06245, 45840617);
        NEAR(got, want, 1e-8 * want, "E over 2^25 values, 45.8M draws: %.12g vs %.12g", got, want);
        /* the comparison can fail: an exponent off by 1e-5 moves E by more than the tolerance */
        double off = genlaw_distinct(M2, 1.06245 * (1 + 1e-5), 45840617);
        T_CHECK(fabs(off - want) > 10 * 1e-8 * want, "a 1e-5 change of s moved E by only %g", fabs(off - want));
    }
    // limits: one value is always seen; no draws see nothing; n much larger than M sees everything
    T_NEAR(genlaw_distinct(1, 1.1, 5), 1, 1e-12, "one value");
    T_NEAR(genlaw_distinct(1000000, 1.1, 0), 0, 1e-12, "no draws");
    T_NEAR(genlaw_distinct(1, 1.1, 0), 0, 1e-12, "no draws of one value");
    T_NEAR(genlaw_distinct(100, 1.1, 1e12), 100, 1e-9, "every value seen");
    // more draws see more, a steeper law fewer
    T_CHECK(genlaw_distinct(1u << 30, 1.1, 1e6) < genlaw_distinct(1u << 30, 1.1, 2e6), "grows with n");
    T_CHECK(genlaw_distinct(1u << 30, 1.2, 1e6) < genlaw_distinct(1u << 30, 1.1, 1e6), "falls with s");
}

/* The count of distinct values in real draws from gen's sampler is near the law's expectation: its
 * variance is below its mean (a sum of dependent-but-negatively-correlated indicators), so 5 sd
 * of sqrt(E) is a safe bound that a wrong normaliser or sampler would break. */
static void test_against_draws(void) {
    static const struct {
        uint32_t M;
        double s;
        int n;
    } cases[] = {{1000000, 1.0624, 300000}, {5683, 1.0302, 7200}, {246, 1.5763, 7200}, {59, 6.36659, 200000}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        GenZipf z;
        gen_zipf_init(&z, cases[c].M, cases[c].s);
        uint8_t *seen = calloc((size_t)cases[c].M + 1, 1);
        uint64_t st = 0x1234 + c;
        double d = 0;
        for (int i = 0; i < cases[c].n; i++) {
            uint32_t k = gen_zipf_draw(&z, &st);
            d += !seen[k];
            seen[k] = 1;
        }
        free(seen);
        double e = genlaw_distinct(cases[c].M, cases[c].s, cases[c].n);
        NEAR(d, e, 5 * sqrt(e) + 1, "draws from Zipf(%u, %g): %g distinct, %g expected", cases[c].M,
               cases[c].s, d, e);
    }
}

/* SPEC 3.3's targets hold for the committed laws: criteo within 25% of the real sample's distinct
 * values at 7,200 rows where its N_f is at least 50, within 10% of the listed count at 45,840,617 rows
 * for fields above 10,000; avazu within 10% of the listed count at its 40,428,967 rows. */
static void test_profile_targets(void) {
    const char *names[] = {"criteo", "avazu", "tiny"};
    for (int p = 0; p < 3; p++) {
        const GenProfile *pr = gen_profile(names[p]);
        T_CHECK(pr != NULL, "profile %s", names[p]);
        if (!pr) continue;
        int checked = 0;
        for (uint32_t f = 0; f < pr->fields; f++) {
            GenLawTarget t;
            if (!gen_profile_target(pr, f, &t)) continue;
            uint64_t M = pr->support[f] - 1;
            double s = pr->exponent[f];
            T_CHECK(M >= t.m_lo && M <= t.m_hi, "%s %s: support %llu outside the fit's range", names[p],
                    pr->names[f], (unsigned long long)pr->support[f]);
            if (t.t1 >= 49) {
                double e = genlaw_distinct(M, s, t.n1);
                T_CHECK(fabs(e / t.t1 - 1) <= 0.25, "%s %s: %.0f distinct at %.0f rows, target %.0f", names[p],
                        pr->names[f], e, t.n1, t.t1);
                checked++;
            }
            if (t.t2 > 10000) {
                double e = genlaw_distinct(M, s, t.n2);
                T_CHECK(fabs(e / t.t2 - 1) <= 0.10, "%s %s: %.0f distinct at %.0f rows, target %.0f", names[p],
                        pr->names[f], e, t.n2, t.t2);
                checked++;
            }
        }
        // criteo: 23 fields with N_f >= 50 at 7,200 rows (5 I, 18 C) and 10 above 10,000; avazu:
        // device_id and device_ip
        int want = p == 0 ? 23 + 10 : p == 1 ? 2 : 0;
        T_CHECK(checked == want, "%s: %d targets checked, not %d", names[p], checked, want);
    }
    // the integer field the sample shows more of than its listed support: 1.3 times the sample's N_f
    const GenProfile *c = gen_profile("criteo");
    T_CHECK(c->support[4] >= ceil(1.3 * 190), "I5's support %llu", (unsigned long long)c->support[4]);
    T_CHECK(gen_profile("nope") == NULL, "unknown profile");
}

/* The fit finds the committed law again (one big field, so the test stays short), and a field whose
 * every value is seen at both sizes keeps the old exponent. */
static void test_fit(void) {
    const GenProfile *c = gen_profile("criteo");
    GenLawTarget t;
    uint32_t f = 36; // C24: 287,936 values at 1.1665
    T_CHECK(gen_profile_target(c, f, &t) && !strcmp(c->names[f], "C24"), "C24's target");
    uint64_t M;
    double s;
    genlaw_fit(&t, &M, &s);
    T_CHECK(llabs((long long)M + 1 - (long long)c->support[f]) <= 2 && fabs(s - c->exponent[f]) < 1e-4,
            "C24 refit: support %llu exponent %g, committed %llu %g", (unsigned long long)M + 1, s,
            (unsigned long long)c->support[f], c->exponent[f]);
    f = 21; // C9: 3 values, all seen at 7,200 rows
    T_CHECK(gen_profile_target(c, f, &t), "C9's target");
    genlaw_fit(&t, &M, &s);
    T_CHECK(M == 3 && fabs(s - 1.1) < 1e-3, "C9: %llu values at %g", (unsigned long long)M, s);
}

int main(void) {
    test_norm_and_distinct();
    test_against_draws();
    test_profile_targets();
    test_fit();
    return t_report("test_genlaw");
}
