/* test_gen: the Zipf sampler against the pmf, the id permutation as a bijection, and one-row
 * generation: deterministic, the same by the batched row path and the one-draw path, the same on 1
 * and 2 threads, and the same probabilities under either id order. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "metrics.h"
#include "testing.h"
#include "util.h"

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

static void test_perm(void) {
    static const uint32_t ns[] = {1, 2, 3, 4, 5, 16, 17, 1000, 65536, 65537, 300001};
    for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
        uint32_t n = ns[t];
        for (uint64_t seed = 1; seed <= 3; seed++) {
            GenPerm p;
            gen_perm_init(&p, n, seed);
            uint8_t *hit = xcalloc(n, 1);
            uint32_t dup = 0, fixed = 0;
            for (uint32_t x = 0; x < n; x++) {
                uint32_t y = gen_perm_apply(&p, x);
                if (y >= n || hit[y]) {
                    dup++;
                    continue;
                }
                hit[y] = 1;
                fixed += y == x;
            }
            T_CHECK(dup == 0, "n=%u seed=%llu: %u collisions or out-of-range values", n,
                    (unsigned long long)seed, dup);
            if (n >= 1000) T_CHECK(fixed < n / 100 + 10, "n=%u: %u fixed points, not shuffled", n, fixed);
            free(hit);
        }
    }
    GenPerm a, b;
    gen_perm_init(&a, 1000, 1);
    gen_perm_init(&b, 1000, 2);
    int same = 0;
    for (uint32_t x = 0; x < 1000; x++) same += gen_perm_apply(&a, x) == gen_perm_apply(&b, x);
    T_CHECK(same < 20, "seeds 1 and 2 give nearly the same permutation (%d equal)", same);
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
    T_CHECK(gen_model_init(&m, "criteo", 0.01, 1.1, GEN_ORDER_FREQ, 5, &e) == 0, "init: %s", e.msg);
    T_CHECK(m.fields == 39 && m.cards[15] == 101312 && m.cards[0] == 2 && m.cards[21] == 2,
            "criteo x0.01 cardinalities: %llu %llu", (unsigned long long)m.cards[15],
            (unsigned long long)m.cards[0]);
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
            bad_range += id < 1 || id >= m.cards[f];
        }
    T_CHECK(mismatch == 0, "%d ranks differ between gen_row and gen_zipf_draw", mismatch);
    T_CHECK(bad_range == 0, "%d ids outside 1..N_f-1", bad_range);
    // a row does not depend on which rows were made before it
    Rows d = make_rows(&m, 1500, 10, 1);
    T_CHECK(!memcmp(d.ids, a.ids + 500 * m.fields, 10 * m.fields * 4), "row 1500 depends on context");
    free_rows(&d);
    // the hash id order relabels the ids and nothing else
    T_CHECK(gen_model_init(&mh, "criteo", 0.01, 1.1, GEN_ORDER_HASH, 5, &e) == 0, "init: %s", e.msg);
    Rows h = make_rows(&mh, 1000, n, 2);
    T_CHECK(!memcmp(a.prob, h.prob, n * 4) && !memcmp(a.label, h.label, n),
            "hash order changed probabilities or labels");
    int relabel_bad = 0, moved = 0;
    for (uint64_t i = 0; i < n; i++)
        for (uint32_t f = 0; f < m.fields; f++) {
            uint32_t r = a.ids[i * m.fields + f], id = h.ids[i * m.fields + f];
            relabel_bad += id != 1 + gen_perm_apply(&mh.perm[f], r - 1);
            moved += id != r;
        }
    T_CHECK(relabel_bad == 0, "%d hash-order ids are not the permuted ranks", relabel_bad);
    T_CHECK(moved > 0, "hash order moved no id");
    free_rows(&h);
    // another seed is another dataset
    T_CHECK(gen_model_init(&m2, "criteo", 0.01, 1.1, GEN_ORDER_FREQ, 6, &e) == 0, "init: %s", e.msg);
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

static void test_profiles(void) {
    Err e;
    GenModel m;
    T_CHECK(gen_model_init(&m, "criteo", 1, 1.1, GEN_ORDER_FREQ, 1, &e) == 0, "%s", e.msg);
    T_CHECK(m.cards[15] == 10131227 && m.cards[38] == 142572 && m.cards[21] == 3, "criteo x1 cards");
    for (uint32_t f = 0; f < 13; f++)
        T_CHECK(m.cards[f] >= 50 && m.cards[f] <= 120, "I%u: %llu not in 50..120", f + 1,
                (unsigned long long)m.cards[f]);
    gen_model_free(&m);
    T_CHECK(gen_model_init(&m, "avazu", 1, 1.1, GEN_ORDER_FREQ, 1, &e) == 0, "%s", e.msg);
    T_CHECK(m.fields == 24, "avazu has %u fields", m.fields);
    gen_model_free(&m);
    T_CHECK(gen_model_init(&m, "tiny", 1, 1.1, GEN_ORDER_FREQ, 1, &e) == 0, "%s", e.msg);
    T_CHECK(m.fields == 8, "tiny has %u fields", m.fields);
    for (uint32_t f = 0; f < m.fields; f++) T_CHECK(m.cards[f] <= 1000, "tiny field %u too big", f);
    gen_model_free(&m);
    T_CHECK(gen_model_init(&m, "tiny", 1e-6, 1.1, GEN_ORDER_FREQ, 1, &e) == 0, "%s", e.msg);
    for (uint32_t f = 0; f < m.fields; f++) T_CHECK(m.cards[f] == 2, "N_f floor of 2");
    uint32_t ids[8];
    float p;
    uint8_t y;
    gen_row(&m, 0, ids, &p, &y, NULL);
    T_CHECK(ids[0] == 1 && ids[7] == 1, "single-value fields draw id 1");
    gen_model_free(&m);
    T_CHECK(gen_model_init(&m, "nope", 1, 1.1, GEN_ORDER_FREQ, 1, &e) == -1 && strstr(e.msg, "--profile"),
            "unknown profile: '%s'", e.msg);
    T_CHECK(gen_model_init(&m, "criteo", 1000, 1.1, GEN_ORDER_FREQ, 1, &e) == -1 &&
                strstr(e.msg, "--vocab-scale"),
            "overflowing scale: '%s'", e.msg);
}

int main(void) {
    test_zipf();
    test_perm();
    test_rows();
    test_profiles();
    return t_report("test_gen");
}
