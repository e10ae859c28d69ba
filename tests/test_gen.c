/* test_gen: the Zipf sampler against the pmf, gen_vocab against a reference, and one-row
 * generation: deterministic, the same by the batched row path and the one-draw path, the same on 1
 * and 2 threads, and the same probabilities under either id order. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "data/gen.h"
#include "core/rng.h"
#include "core/metrics.h"
#include "testing.h"
#include "core/util.h"

/* Empirical frequencies of `draws` ranks against k^-s / H, each within 5 standard deviations (and
 * the sum of squared z-scores near its expectation, n - 1, as a coarser chi-square check). */
static void check_zipf(uint32_t n, double s, int draws) {
    GenZipf z;
    gen_zipf_init(&z, n, s);
    uint64_t *count = xcalloc(n + 1, sizeof *count);
    uint64_t st = 0x5eed0000ull + n;
    int out_of_range = 0;
    for (int i = 0; i < draws; i++) {
        uint32_t k = gen_zipf_draw(&z, &st);
        if (k < 1 || k > n)
            out_of_range++;
        else
            count[k]++;
    }
    T_CHECK(out_of_range == 0, "n=%u s=%g: %d ranks outside 1..n", n, s, out_of_range);
    double h = 0;
    for (uint32_t k = 1; k <= n; k++) h += pow(k, -s);
    double chi2 = 0, worst = 0;
    for (uint32_t k = 1; k <= n; k++) {
        double p = pow(k, -s) / h, sd = sqrt(draws * p * (1 - p));
        double zk = ((double)count[k] - draws * p) / sd;
        chi2 += zk * zk;
        if (fabs(zk) > fabs(worst)) worst = zk;
    }
    T_CHECK(fabs(worst) < 5, "n=%u s=%g: a frequency is %.1f sd off the pmf", n, s, worst);
    // chi-square with n-1 degrees of freedom: mean n-1, sd sqrt(2(n-1)); allow 5 sd
    double dof = n - 1;
    T_CHECK(n == 1 || chi2 < dof + 5 * sqrt(2 * dof) + 5, "n=%u s=%g: chi2 %.1f for %g dof", n, s, chi2,
            dof);
    free(count);
}

static void test_zipf(void) {
    check_zipf(1, 1.1, 1000);
    check_zipf(2, 1.1, 200000);
    check_zipf(10, 1.1, 1000000);
    check_zipf(10, 1.0, 1000000); // s = 1: the exp-only inverse
    check_zipf(50, 0.5, 1000000);
    check_zipf(200, 2.5, 1000000);
    check_zipf(1000, 1.1, 2000000);
    // a huge support: ranks stay in range, rank 1 has its share
    GenZipf z;
    gen_zipf_init(&z, 4294967294u, 1.1);
    uint64_t st = 7, ones = 0, bad = 0;
    for (int i = 0; i < 200000; i++) {
        uint32_t k = gen_zipf_draw(&z, &st);
        ones += k == 1;
        bad += k < 1 || k > 4294967294u;
    }
    double h = 10.5844 - 10 * pow(4294967294.0, -0.1); // zeta(1.1) minus the tail integral
    T_CHECK(bad == 0, "n=2^32-2: %llu ranks out of range", (unsigned long long)bad);
    T_NEAR(ones / 200000.0, 1 / h, 0.005, "n=2^32-2: share of rank 1");
}

/* gen_vocab against a plain reference: per field, N_f = the distinct train values + 1; freq ids by
 * descending train count (ties by value), hash ids by XXH64 of the value's 8 little-endian bytes;
 * values train never shows (or shows fewer than min_count times) are 0 in every split; neither the
 * thread count nor counting in arrays instead of tables changes anything. */
static void test_vocab(void) {
    enum { F = 3, NT = 5000, NV = 800 };
    const uint64_t rows[2] = {NT, NV};
    uint32_t *tr = xmalloc(NT * F * 4), *va = xmalloc(NV * F * 4);
    uint64_t st = 42;
    /* field 0: 3 values; 1: ~400; 2: ~8000 (many once): with a support of 8002, field 2's values
     * above the dense bound (NT / 4 + 4096 = 5346) go through the table, the others through the array */
    for (int i = 0; i < NT * F; i++) {
        int f = i % F;
        uint64_t r = rng_fmix64(++st);
        tr[i] = 1 + (uint32_t)(f == 0 ? r % 3 : f == 1 ? r % 400 * (r >> 40 & 1) + r % 7 : r % 8000);
    }
    for (int i = 0; i < NV * F; i++)
        va[i] = 1 + (uint32_t)(rng_fmix64(++st) % (i % F == 0 ? 3 : i % F == 1 ? 5000 : 8000));
    for (int order = 0; order < 2; order++)
        for (uint32_t minc = 1; minc <= 2; minc++) {
            uint32_t *t1 = xmalloc(NT * F * 4), *v1 = xmalloc(NV * F * 4), *t2 = xmalloc(NT * F * 4),
                     *v2 = xmalloc(NV * F * 4);
            memcpy(t1, tr, NT * F * 4), memcpy(t2, tr, NT * F * 4);
            memcpy(v1, va, NV * F * 4), memcpy(v2, va, NV * F * 4);
            uint32_t *s1[2] = {t1, v1}, *s2[2] = {t2, v2};
            uint64_t nf1[F], nf2[F];
            omp_set_num_threads(1);
            gen_vocab(F, s1, rows, 2, NULL, order ? GEN_ORDER_HASH : GEN_ORDER_FREQ, minc, 9, nf1, NULL);
            omp_set_num_threads(2);
            /* fields 0 and 1 counted in arrays alone, field 2 in an array below its dense bound and a
             * table above: the same ids */
            const uint64_t support[F] = {4, 5002, 8002};
            gen_vocab(F, s2, rows, 2, support, order ? GEN_ORDER_HASH : GEN_ORDER_FREQ, minc, 9, nf2, NULL);
            T_CHECK(!memcmp(t1, t2, NT * F * 4) && !memcmp(v1, v2, NV * F * 4) && !memcmp(nf1, nf2, sizeof nf1),
                    "gen_vocab: 1 thread with tables and 2 with dense counts differ");
            int bad = 0;
            for (uint32_t f = 0; f < F; f++) {
                /* the reference: counts of raw values, kept ones ranked */
                uint32_t *count = xcalloc(8002, 4), *id = xcalloc(8002, 4), kept = 0;
                for (int i = 0; i < NT; i++) count[tr[i * F + f]]++;
                for (uint32_t v = 1; v < 8002; v++) kept += count[v] >= minc;
                for (uint32_t v = 1; v < 8002; v++) {
                    if (count[v] < minc) continue;
                    uint32_t rank = 1;
                    for (uint32_t u = 1; u < 8002; u++) {
                        if (count[u] < minc || u == v) continue;
                        int before;
                        if (order == 0) {
                            before = count[u] > count[v] || (count[u] == count[v] && u < v);
                        } else {
                            uint8_t bu[8] = {0}, bv[8] = {0};
                            for (int j = 0; j < 4; j++) bu[j] = (uint8_t)(u >> 8 * j), bv[j] = (uint8_t)(v >> 8 * j);
                            uint64_t hu = XXH64(bu, 8, 9), hv = XXH64(bv, 8, 9);
                            before = hu < hv || (hu == hv && u < v);
                        }
                        rank += before;
                    }
                    id[v] = rank;
                }
                bad += nf1[f] != kept + 1;
                for (int i = 0; i < NT; i++) bad += t1[i * F + f] != id[tr[i * F + f]];
                for (int i = 0; i < NV; i++) bad += v1[i * F + f] != id[va[i * F + f]];
                free(count), free(id);
            }
            T_CHECK(bad == 0, "gen_vocab order %s min-count %u: %d ids or N_f differ from the reference",
                    order ? "hash" : "freq", minc, bad);
            free(t1), free(v1), free(t2), free(v2);
        }
    free(tr), free(va);
}

typedef struct {
    uint32_t *ids;
    float *prob;
    uint8_t *label;
} Rows;

static Rows make_rows(const GenModel *m, uint64_t first, uint64_t n, int threads) {
    Rows r = {xmalloc(n * m->fields * sizeof *r.ids), xmalloc(n * sizeof *r.prob), xmalloc(n)};
#pragma omp parallel for schedule(dynamic, 64) num_threads(threads)
    for (uint64_t i = 0; i < n; i++)
        gen_row(m, first + i, r.ids + i * m->fields, &r.prob[i], &r.label[i], NULL);
    return r;
}

static void free_rows(Rows *r) {
    free(r->ids);
    free(r->prob);
    free(r->label);
}

static void test_rows(void) {
    Err e;
    GenModel m, mh, m2;
    /* the fitted laws: every field its own exponent (row_terms draws them in one vectorized pass) */
    T_CHECK(gen_model_init(&m, "criteo", 0.01, 0, GEN_ORDER_FREQ, 5, &e) == 0, "init: %s", e.msg);
    T_CHECK(m.fields == 39 && m.support[15] == 42949673 && m.support[0] == 2 && m.support[21] == 2,
            "criteo x0.01 supports: %llu %llu", (unsigned long long)m.support[15],
            (unsigned long long)m.support[0]);
    T_CHECK(m.exponent[15] == 1.06245 && m.exponent[0] == 2.97206 && m.zipf == 0, "fitted exponents: %g %g",
            m.exponent[15], m.exponent[0]);
    uint64_t n = 20000;
    Rows a = make_rows(&m, 1000, n, 1), b = make_rows(&m, 1000, n, 2), c = make_rows(&m, 1000, n, 1);
    T_CHECK(!memcmp(a.ids, b.ids, n * m.fields * 4) && !memcmp(a.prob, b.prob, n * 4) &&
                !memcmp(a.label, b.label, n),
            "1 and 2 threads differ");
    T_CHECK(!memcmp(a.ids, c.ids, n * m.fields * 4) && !memcmp(a.prob, c.prob, n * 4),
            "two runs differ");
    // the batched row path and the one-draw path give the same ranks
    int mismatch = 0, bad_range = 0;
    for (uint64_t i = 0; i < 2000; i++)
        for (uint32_t f = 0; f < m.fields; f++) {
            uint64_t st = gen_stream(&m, 1000 + i, f);
            uint32_t k = gen_zipf_draw(&m.dist[f], &st), id = a.ids[i * m.fields + f];
            mismatch += k != id;
            bad_range += id < 1 || id >= m.support[f];
        }
    T_CHECK(mismatch == 0, "%d ranks differ between gen_row and gen_zipf_draw", mismatch);
    T_CHECK(bad_range == 0, "%d ids outside 1..N_f-1", bad_range);
    // --zipf 1 for every field: the exp-only inverse, in the batch as in the one-draw path
    {
        GenModel m1;
        T_CHECK(gen_model_init(&m1, "criteo", 0.01, 1.0, GEN_ORDER_FREQ, 5, &e) == 0, "init: %s", e.msg);
        uint32_t ids[GEN_MAX_FIELDS];
        float p;
        uint8_t y;
        int mm = 0;
        for (uint64_t i = 0; i < 2000; i++) {
            gen_row(&m1, i, ids, &p, &y, NULL);
            for (uint32_t f = 0; f < m1.fields; f++) {
                uint64_t st = gen_stream(&m1, i, f);
                mm += gen_zipf_draw(&m1.dist[f], &st) != ids[f] || m1.exponent[f] != 1.0;
            }
        }
        T_CHECK(mm == 0, "--zipf 1: %d ranks differ", mm);
        gen_model_free(&m1);
    }
    // a row does not depend on which rows were made before it
    Rows d = make_rows(&m, 1500, 10, 1);
    T_CHECK(!memcmp(d.ids, a.ids + 500 * m.fields, 10 * m.fields * 4), "row 1500 depends on context");
    free_rows(&d);
    // the id order plays no part in the rows: gen_vocab numbers their raw values afterwards
    T_CHECK(gen_model_init(&mh, "criteo", 0.01, 0, GEN_ORDER_HASH, 5, &e) == 0, "init: %s", e.msg);
    Rows h = make_rows(&mh, 1000, n, 2);
    T_CHECK(!memcmp(a.prob, h.prob, n * 4) && !memcmp(a.label, h.label, n) && !memcmp(a.ids, h.ids, n * m.fields * 4),
            "the id order changed the raw rows");
    free_rows(&h);
    // another seed is another dataset
    T_CHECK(gen_model_init(&m2, "criteo", 0.01, 0, GEN_ORDER_FREQ, 6, &e) == 0, "init: %s", e.msg);
    Rows o = make_rows(&m2, 1000, n, 2);
    T_CHECK(memcmp(a.prob, o.prob, n * 4) != 0, "seeds 5 and 6 give the same rows");
    free_rows(&o);
    // probabilities in (0, 1), labels Bernoulli(p): the mean label is near the mean p
    double sp = 0, sy = 0;
    int bad_p = 0;
    for (uint64_t i = 0; i < n; i++) {
        bad_p += !(a.prob[i] > 0 && a.prob[i] < 1) || a.label[i] > 1;
        sp += a.prob[i];
        sy += a.label[i];
    }
    T_CHECK(bad_p == 0, "%d bad probabilities or labels", bad_p);
    T_NEAR(sy / n, sp / n, 5 * sqrt(0.25 * 0.75 / n) + 1e-9, "label mean vs probability mean");
    T_CHECK(sp / n > 0.2 && sp / n < 0.3, "mean probability %g far from 0.25", sp / n);
    double auc = metric_auc(a.prob, a.label, n);
    T_CHECK(auc > 0.75 && auc < 0.85, "oracle AUC %g far from 0.80", auc);
    free_rows(&a);
    free_rows(&b);
    free_rows(&c);
    gen_model_free(&m);
    gen_model_free(&mh);
    gen_model_free(&m2);
}

/* --redundancy: in every row each coarse field shows gen_parent of its fine field's value, a
 * non-decreasing map (the same quantile of the two laws); the fine values are drawn as without it;
 * 0 couples nothing. */
static void test_redundancy(void) {
    Err e;
    GenModel m0, m;
    GenKnobs k0 = GEN_KNOBS_INDEPENDENT, k = k0;
    k.redundancy = 0.9;
    T_CHECK(gen_model_init_knobs(&m0, "criteo", 0.01, 0, GEN_ORDER_FREQ, 5, &k0, &e) == 0, "init: %s", e.msg);
    T_CHECK(m0.coarse == NULL, "redundancy 0 couples fields");
    T_CHECK(gen_model_init_knobs(&m, "criteo", 0.01, 0, GEN_ORDER_FREQ, 5, &k, &e) == 0, "init: %s", e.msg);
    T_CHECK(m.coarse && m.coarse[15] == 37 && m.coarse[37] == -1, "C3's coarse field is C25");
    uint32_t a[GEN_MAX_FIELDS], b[GEN_MAX_FIELDS];
    float p;
    uint8_t y;
    int bad = 0, drawn = 0, pairs = 0;
    for (uint64_t i = 0; i < 3000; i++) {
        gen_row(&m, i, a, &p, &y, NULL);
        gen_row(&m0, i, b, &p, &y, NULL);
        for (uint32_t f = 0; f < m.fields; f++) {
            if (m.coarse[f] < 0) continue;
            pairs++;
            bad += a[m.coarse[f]] != gen_parent(&m, f, a[f]);
            drawn += a[f] != b[f];
        }
    }
    T_CHECK(pairs == 8 * 3000 && bad == 0, "%d of %d coarse values are not their fine value's parent", bad, pairs);
    T_CHECK(drawn == 0, "%d fine values differ from the uncoupled draws", drawn);
    int down = 0;
    for (uint32_t f = 0; f < m.fields; f++) {
        if (m.coarse[f] < 0) continue;
        uint32_t prev = 1, n = m.dist[f].n < 100000 ? m.dist[f].n : 100000;
        for (uint32_t r = 1; r <= n; r++) {
            uint32_t g = gen_parent(&m, f, r);
            down += g < prev || g < 1 || g > m.dist[m.coarse[f]].n;
            prev = g;
        }
        T_CHECK(gen_parent(&m, f, 1) == 1, "field %u: the most popular value's parent is %u", f, gen_parent(&m, f, 1));
    }
    T_CHECK(down == 0, "gen_parent is not a non-decreasing map into the coarse ranks (%d)", down);
    gen_model_free(&m0);
    gen_model_free(&m);
}

/* --clusters K with share 1: every value's parts are its cluster's at the value's amplitude
 * (1 + r/30)^-1/2, so over many values the weight over the amplitude takes K values; with clusters off
 * it takes one per value. */
static void test_clusters(void) {
    Err e;
    GenModel m;
    GenKnobs k = GEN_KNOBS_INDEPENDENT; /* rarity 30 */
    k.clusters = 3;
    k.cluster_share = 1.0;
    T_CHECK(gen_model_init_knobs(&m, "criteo", 0.01, 0, GEN_ORDER_FREQ, 5, &k, &e) == 0, "init: %s", e.msg);
    double seen[8];
    int n = 0, over = 0;
    for (uint32_t r = 1; r <= 2000; r++) {
        double w, v[GEN_K];
        gen_planted(&m, 15, r, &w, v);
        double x = w / (m.sw[15] * pow(1 + r / 30.0, -0.5)), tol = 1e-9 * (fabs(x) + 1);
        int j = 0;
        while (j < n && fabs(seen[j] - x) > tol) j++;
        if (j == n) {
            if (n < 8) seen[n++] = x;
            else over++;
        }
    }
    T_CHECK(n == 3 && over == 0, "--clusters 3 --cluster-share 1: %d distinct cluster effects (and %d more)", n, over);
    gen_model_free(&m);
}

static void test_profiles(void) {
    Err e;
    GenModel m;
    T_CHECK(gen_model_init(&m, "criteo", 1, 0, GEN_ORDER_FREQ, 1, &e) == 0, "%s", e.msg);
    /* the fitted supports: C3's law over 2^32-2 values, C9's over its 3 */
    T_CHECK(m.support[15] == 4294967295ull && m.support[38] == 142736 && m.support[21] == 4, "criteo x1 supports");
    for (uint32_t f = 0; f < 13; f++)
        T_CHECK((m.support[f] >= 50 && m.support[f] <= 120) || (f == 4 && m.support[f] >= 1.3 * 190), "I%u: %llu",
                f + 1, (unsigned long long)m.support[f]);
    gen_model_free(&m);
    T_CHECK(gen_model_init(&m, "avazu", 1, 1.1, GEN_ORDER_FREQ, 1, &e) == 0, "%s", e.msg);
    T_CHECK(m.fields == 24, "avazu has %u fields", m.fields);
    gen_model_free(&m);
    T_CHECK(gen_model_init(&m, "tiny", 1, 1.1, GEN_ORDER_FREQ, 1, &e) == 0, "%s", e.msg);
    T_CHECK(m.fields == 8, "tiny has %u fields", m.fields);
    for (uint32_t f = 0; f < m.fields; f++) T_CHECK(m.support[f] <= 1000, "tiny field %u too big", f);
    gen_model_free(&m);
    T_CHECK(gen_model_init(&m, "tiny", 1e-6, 1.1, GEN_ORDER_FREQ, 1, &e) == 0, "%s", e.msg);
    for (uint32_t f = 0; f < m.fields; f++) T_CHECK(m.support[f] == 2, "N_f floor of 2");
    uint32_t ids[8];
    float p;
    uint8_t y;
    gen_row(&m, 0, ids, &p, &y, NULL);
    T_CHECK(ids[0] == 1 && ids[7] == 1, "single-value fields draw id 1");
    gen_model_free(&m);
    T_CHECK(gen_model_init(&m, "nope", 1, 1.1, GEN_ORDER_FREQ, 1, &e) == -1 && strstr(e.msg, "--profile"),
            "unknown profile: '%s'", e.msg);
    T_CHECK(gen_model_init(&m, "criteo", 1.01, 1.1, GEN_ORDER_FREQ, 1, &e) == -1 &&
                strstr(e.msg, "--vocab-scale"),
            "overflowing scale: '%s'", e.msg);
}

int main(void) {
    test_zipf();
    test_redundancy();
    test_clusters();
    test_vocab();
    test_rows();
    test_profiles();
    return t_report("test_gen");
}
