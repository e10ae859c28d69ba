/* test_emb: every embedding strategy and option combination against plain references written here from
 * SPEC 4 (the effective N x w table built id by id), central finite differences for backward (with
 * repeated ids), batch vs one at a time, the sparse update against a dense one, bh's distinct block
 * tuples, qr's degenerate layouts, the budget, the init's std, and the variant strings of SPEC 6. */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "emb/emb.h"
#include "emb/emb_bh.h"
#include "emb/emb_qr.h"
#include "testing.h"

#define MAXB 64

static uint64_t ref_seed; /* the run's seed of the model under test: the reference hashes with it */

/* --- configurations --- */

typedef struct {
    EmbOptions o;
    char name[96];
} Config;

/* Options from flags as typed, on the defaults. */
static EmbOptions opts_of(const char *flags) {
    EmbOptions o;
    Err e;
    emb_options_default(&o);
    if (emb_options_parse_string(&o, flags, &e)) {
        fprintf(stderr, "test_emb: '%s': %s\n", flags, e.msg);
        exit(2);
    }
    return o;
}

/* Brace expansion of a test configuration: "a {x,y} b" gives "a x b" and "a y b"; "{,x}" gives "" and
 * "x". Appends to out[*n]. */
static void expand(const char *pat, char (*out)[256], int *n, int max) {
    const char *open = strchr(pat, '{');
    if (!open) {
        CHECK(*n < max);
        snprintf(out[(*n)++], 256, "%s", pat);
        return;
    }
    const char *close = strchr(open, '}');
    CHECK(close);
    for (const char *alt = open + 1; alt <= close;) {
        const char *end = alt;
        while (end < close && *end != ',') end++;
        char next[512];
        snprintf(next, sizeof next, "%.*s%.*s%s", (int)(open - pat), pat, (int)(end - alt), alt, close + 1);
        expand(next, out, n, max);
        alt = end + 1;
    }
}

/* Every strategy with each of its test configurations (EmbStrategy.test_configs). */
static int make_configs(Config *c, int max) {
    int n = 0;
    static char flags[256][256];
    char all[320];
    for (int k = 0; k < EMB_NKINDS; k++) {
        const char *const *tc = EMB_STRATEGIES[k]->test_configs;
        int nf = 0;
        if (!tc) snprintf(flags[nf++], 256, "%s", "");
        for (; tc && *tc; tc++) expand(*tc, flags, &nf, 256);
        for (int i = 0; i < nf; i++) {
            snprintf(all, sizeof all, "--emb %s --compress-min 0 %.255s", EMB_NAMES[k], flags[i]);
            CHECK(n < max);
            c[n].o = opts_of(all);
            emb_variant(&c[n].o, c[n].name, sizeof c[n].name);
            n++;
        }
    }
    return n;
}

/* Train counts for the fields of a test plan, as train gives them to a strategy that needs them
 * (hotcold): skewed, with many ties and unseen ids (count 0), so that the hot set has an edge to
 * break. One array per distinct N, kept for the whole run (plans borrow them). */
static const uint32_t *counts_of(uint64_t N) {
    static struct {
        uint64_t N;
        uint32_t *c;
    } cache[64];
    static int n;
    for (int i = 0; i < n; i++)
        if (cache[i].N == N) return cache[i].c;
    CHECK(n < 64);
    uint32_t *c = xmalloc(N * sizeof *c);
    for (uint64_t i = 0; i < N; i++) {
        uint64_t u = (i + 1) * 0x9E3779B97F4A7C15ull;
        u ^= u >> 31;
        c[i] = u % 7 == 0 ? 0 : (uint32_t)(2000 / (1 + (u >> 8) % (N / 3 + 1)));
    }
    cache[n].N = N;
    cache[n++].c = c;
    return c;
}

static int plan_with_counts(EmbPlan *p, const uint64_t *cards, int fields, int w, const EmbOptions *o, Err *e) {
    const uint32_t *c[8];
    CHECK(fields <= 8);
    for (int i = 0; i < fields; i++) c[i] = counts_of(cards[i]);
    return emb_plan_make_counts(p, cards, c, fields, w, o, e);
}

/* A one-field model of N ids (compress-min 0). 0 when the layout cannot be built. A plan that is
 * infeasible only by its achieved ratio is built anyway: the clamped layouts must work too. */
static int make_emb(Emb *emb, const EmbOptions *o, uint64_t N, int w, double r, OptKind opt, uint64_t seed) {
    EmbOptions oo = *o;
    oo.ratio = oo.kind == EMB_FULL ? 1 : r;
    oo.seed = seed;
    ref_seed = seed;
    EmbPlan p;
    Err e;
    CHECK(plan_with_counts(&p, &N, 1, w, &oo, &e) == 0);
    if (!p.f[0].feasible) {
        emb_plan_free(&p);
        return 0;
    }
    p.infeasible = 0;
    int rc = emb_create(emb, &p, MAXB, opt, seed, &e);
    CHECK(rc == 0);
    /* the memory check's estimate bounds what was allocated (and not by much) */
    uint64_t pb, ob, est = emb_plan_bytes(&p, opt, MAXB);
    emb_bytes(emb, &pb, &ob);
    uint64_t got = pb + ob + emb_work_bytes(emb);
    T_CHECK(est >= got && est <= 2 * got + 4096, "emb_plan_bytes %llu for %llu bytes allocated (N=%llu w=%d r=%g)",
            (unsigned long long)est, (unsigned long long)got, (unsigned long long)N, w, r);
    emb_plan_free(&p);
    return 1;
}

/* Fills every table with values uniform in [lo, hi): the init's 1e-4 would hide errors. A strategy's
 * test_range narrows a table's values (an MLP's layers, so that activations stay of order 1). */
static void fill_tables(Emb *emb, Rng *rng, double lo, double hi) {
    for (int i = 0; i < emb->fields; i++)
        for (int k = 0; k < emb->f[i].ntables; k++) {
            EmbTable *t = &emb->f[i].tables[k];
            const double s = emb->f[i].s->test_range ? emb->f[i].s->test_range(&emb->f[i], k) : 1.0;
            for (size_t x = 0; x < (size_t)t->rows * (size_t)t->width; x++)
                t->w[x] = (float)(s * (lo + (hi - lo) * rng_uniform(rng)));
        }
}

/* --- the reference: one id's vector from the tables and SPEC 4, written without the strategies' code --- */

static uint64_t ref_hash(uint32_t id, uint64_t seed) {
    unsigned char b[4] = {(unsigned char)(id & 255), (unsigned char)((id >> 8) & 255),
                          (unsigned char)((id >> 16) & 255), (unsigned char)(id >> 24)};
    return XXH64(b, 4, seed);
}

/* A number or a word of the field's layout as its strategy describes it ("m=12 op=mult"): the
 * reference reads the layout the way the PyTorch peer does, not through the strategies' structs. */
static long long dnum(const char *desc, const char *key) {
    char k[32];
    snprintf(k, sizeof k, "%s=", key);
    for (const char *p = desc; (p = strstr(p, k)); p++)
        if (p == desc || p[-1] == ' ') return strtoll(p + strlen(k), NULL, 10);
    fprintf(stderr, "test_emb: no %s in '%s'\n", key, desc);
    exit(2);
}
static int dis(const char *desc, const char *key, const char *word) {
    char k[64];
    snprintf(k, sizeof k, "%s=%s", key, word);
    size_t n = strlen(k);
    for (const char *p = desc; (p = strstr(p, k)); p++)
        if ((p == desc || p[-1] == ' ') && (p[n] == ' ' || !p[n])) return 1;
    return 0;
}

static int cmp_u64(const void *a, const void *b) {
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* An element's magnitude beside its value, where the reference sums many products (dhe's last layer:
 * |bias| + sum |x_i W_ij|, which bounds float32's rounding): 0 elsewhere. */
static double ref_mag[1024];

/* The strategy's float32 element against the reference: within 1e-6 of it relative to its size, or
 * within 1e-5 of the magnitude of the terms it sums (float32 sums of many terms round by about that). */
static int ref_close(float got, const double *ref, int k) {
    return fabs(got - ref[k]) <= 1e-6 * (1 + fabs(ref[k])) + 1e-5 * ref_mag[k];
}

static void ref_vector(const EmbField *f, EmbKind kind, uint32_t id, double *v) {
    const EmbFieldPlan *p = &f->plan;
    for (int k = 0; k < f->w; k++) ref_mag[k] = 0;
    const int w = f->w;
    if (!p->compressed) kind = EMB_FULL;
    char d[512] = "-";
    if (f->s->describe) f->s->describe(p, d, sizeof d);
    switch (kind) {
    case EMB_FULL:
        for (int k = 0; k < w; k++) v[k] = f->tables[0].w[(size_t)id * w + k];
        return;
    case EMB_HASH: {
        uint64_t row = ref_hash(id, ref_hash(f->index, ref_seed)) % (uint64_t)dnum(d, "m");
        for (int k = 0; k < w; k++) v[k] = f->tables[0].w[row * w + k];
        return;
    }
    case EMB_QR: {
        const uint64_t m = (uint64_t)dnum(d, "m");
        uint64_t q = id / m, r = id % m;
        const EmbTable *Q = &f->tables[0], *R = &f->tables[1];
        for (int k = 0; k < w; k++) {
            if (dis(d, "op", "mult")) v[k] = (double)(Q->w[q * w + k] * R->w[r * w + k]);
            else if (dis(d, "op", "add")) v[k] = (double)(Q->w[q * w + k] + R->w[r * w + k]);
            else {
                CHECK(dis(d, "op", "concat"));
                int a = (w + 1) / 2;
                v[k] = k < a ? Q->w[q * a + k] : R->w[r * (w / 2) + (k - a)];
            }
        }
        return;
    }
    case EMB_BH: {
        const int S = (int)dnum(d, "S"), n = (int)dnum(d, "n"), t = (int)dnum(d, "t");
        uint64_t code = dnum(d, "hashed") ? ref_hash(id, ref_hash(f->index, ref_seed)) : id;
        if (S < 64) code &= (1ull << S) - 1;
        /* block j's bits, least significant first */
        uint64_t idx[64], off[64];
        uint64_t o = 0;
        CHECK(n >= 1 && n <= 64);
        for (int j = 0; j < n; j++) {
            int bitpos[64], nb = 0;
            if (dis(d, "blocks", "succession"))
                for (int b = j * t; b < (j + 1) * t && b < S; b++) bitpos[nb++] = b;
            else
                for (int b = j; b < S; b += n) bitpos[nb++] = b;
            idx[j] = 0;
            for (int m = 0; m < nb; m++) idx[j] |= ((code >> bitpos[m]) & 1) << m;
            off[j] = dis(d, "table", "per-block") ? o : 0;
            o += 1ull << nb;
        }
        if (dis(d, "fuse", "concat")) {
            int c = 0;
            for (int j = 0; j < n; j++) {
                int cw = w / n + (j < w % n);
                for (int k = 0; k < cw; k++) v[c + k] = f->tables[j].w[idx[j] * cw + k];
                c += cw;
            }
            return;
        }
        for (int k = 0; k < w; k++) {
            float s = 0;
            for (int j = 0; j < n; j++) s += f->tables[0].w[(idx[j] + off[j]) * w + k];
            v[k] = dis(d, "fuse", "mean") ? (double)s / n : (double)s;
        }
        return;
    }
    case EMB_DHASH: {
        /* Svenstrup et al.: sum_i p_i E[XXH64(id, seed_f + i) mod m]; p = 1 without weights, else the
         * id's row of the weight table (the id itself when K = N) */
        const uint64_t sf = ref_hash(f->index, ref_seed), m = (uint64_t)dnum(d, "m"), K = (uint64_t)dnum(d, "K");
        const int k = (int)dnum(d, "k");
        const int learned = dis(d, "weights", "learned");
        const uint64_t wr = !learned ? 0 : K == p->N ? id : ref_hash(id, sf + (uint64_t)k) % K;
        for (int c = 0; c < w; c++) v[c] = 0;
        for (int i = 0; i < k; i++) {
            const uint64_t row = ref_hash(id, sf + (uint64_t)i) % m;
            const double pi = learned ? f->tables[1].w[wr * (uint64_t)k + (uint64_t)i] : 1.0;
            for (int c = 0; c < w; c++) v[c] += pi * f->tables[0].w[row * w + c];
        }
        return;
    }
    case EMB_ROBE: {
        /* ROBE-Z: chunk c of Z columns reads Z consecutive elements of the field's array from
         * XXH64(id, seed_f + c) mod M, wrapping, each negated where bit j of XXH64(id, seed_f + C + c)
         * is set */
        const uint64_t sf = ref_hash(f->index, ref_seed), M = (uint64_t)dnum(d, "M");
        const int Z = (int)dnum(d, "Z"), C = (w + Z - 1) / Z;
        CHECK(C == (int)dnum(d, "chunks"));
        for (int c = 0; c < C; c++) {
            const uint64_t off = ref_hash(id, sf + (uint64_t)c) % M, sg = ref_hash(id, sf + (uint64_t)(C + c));
            for (int j = 0; j < Z && c * Z + j < w; j++) {
                const double a = f->tables[0].w[(off + (uint64_t)j) % M];
                v[c * Z + j] = (sg >> j & 1) ? -a : a;
            }
        }
        return;
    }
    case EMB_HOTCOLD: {
        /* the hot ids: the `hot` largest train counts, ties to the smaller id, numbered in id order
         * in table 1; every other id: XXH64(id, seed_f) mod m in table 0 */
        static const uint32_t *for_counts;
        static uint64_t for_n, for_hot, *hot_ids;
        const uint64_t H = (uint64_t)dnum(d, "hot"), m = (uint64_t)dnum(d, "m");
        if (for_counts != p->counts || for_n != p->N || for_hot != H) {
            uint64_t *key = xmalloc(p->N * sizeof *key);
            for (uint64_t i = 0; i < p->N; i++) key[i] = ((uint64_t)(UINT32_MAX - p->counts[i]) << 32) | i;
            qsort(key, p->N, sizeof *key, cmp_u64);
            free(hot_ids);
            hot_ids = xmalloc((H + 1) * sizeof *hot_ids);
            for (uint64_t i = 0; i < H; i++) hot_ids[i] = key[i] & UINT32_MAX;
            qsort(hot_ids, H, sizeof *hot_ids, cmp_u64);
            free(key);
            for_counts = p->counts, for_n = p->N, for_hot = H;
        }
        const uint64_t *at = H ? bsearch(&(uint64_t){id}, hot_ids, H, sizeof *hot_ids, cmp_u64) : NULL;
        const EmbTable *t = at ? &f->tables[1] : &f->tables[0];
        const uint64_t row = at ? (uint64_t)(at - hot_ids) : ref_hash(id, ref_hash(f->index, ref_seed)) % m;
        for (int k = 0; k < w; k++) v[k] = t->w[row * w + k];
        return;
    }
    case EMB_MDE: {
        /* Ginart et al.'s blocked form: the ids ranked by train count (descending, ties to the smaller
         * id), cut into blocks of the given sizes; block i has a table of dimension d_i and, when d_i <
         * w, a projection d_i x w after it; the vector is E_i[rank - start_i] P_i */
        static const uint32_t *for_counts;
        static uint64_t for_n, *rank;
        if (for_counts != p->counts || for_n != p->N) {
            uint64_t *key = xmalloc(p->N * sizeof *key);
            for (uint64_t i = 0; i < p->N; i++) key[i] = ((uint64_t)(UINT32_MAX - p->counts[i]) << 32) | i;
            qsort(key, p->N, sizeof *key, cmp_u64);
            free(rank);
            rank = xmalloc(p->N * sizeof *rank);
            for (uint64_t q = 0; q < p->N; q++) rank[key[q] & UINT32_MAX] = q;
            free(key);
            for_counts = p->counts, for_n = p->N;
        }
        const int K = (int)dnum(d, "K");
        long long dims[16], sizes[16];
        const char *ds = strstr(d, "dims=") + 5, *ss = strstr(d, "sizes=") + 6;
        for (int i = 0; i < K; i++) {
            dims[i] = strtoll(ds, (char **)&ds, 10), ds++;
            sizes[i] = strtoll(ss, (char **)&ss, 10), ss++;
        }
        uint64_t q = rank[id], start = 0;
        int t = 0, i = 0;
        for (; q >= start + (uint64_t)sizes[i]; i++) start += (uint64_t)sizes[i], t += 1 + (dims[i] < w);
        const float *e = f->tables[t].w + (q - start) * (uint64_t)dims[i];
        for (int c = 0; c < w; c++) {
            if (dims[i] == w) {
                v[c] = e[c];
                continue;
            }
            v[c] = 0;
            for (int k = 0; k < dims[i]; k++) v[c] += (double)e[k] * f->tables[t + 1].w[k * w + c];
        }
        return;
    }
    case EMB_TT: {
        /* TT-Rec: id = (i1, i2, i3) in row-major order over n1 x n2 x n3; row (a w2 + b) w3 + c =
         * sum_{r,s} G1[i1][a][r] G2[i2][r][b][s] G3[i3][s][c]; the vector its first w columns */
        const long long R = dnum(d, "R"), n2 = dnum(d, "n2"), n3 = dnum(d, "n3");
        const long long w1 = dnum(d, "w1"), w2 = dnum(d, "w2"), w3 = dnum(d, "w3");
        CHECK(w1 * w2 * w3 >= w);
        const uint64_t i1 = id / (uint64_t)(n2 * n3), i2 = (id / (uint64_t)n3) % (uint64_t)n2, i3 = id % (uint64_t)n3;
        const float *g1 = f->tables[0].w + i1 * (uint64_t)(w1 * R), *g2 = f->tables[1].w + i2 * (uint64_t)(R * w2 * R),
                    *g3 = f->tables[2].w + i3 * (uint64_t)(R * w3);
        for (int col = 0; col < w; col++) {
            const long long a = col / (w2 * w3), b = (col / w3) % w2, c = col % w3;
            double x = 0;
            for (long long r = 0; r < R; r++)
                for (long long s2 = 0; s2 < R; s2++)
                    x += (double)g1[a * R + r] * g2[(r * w2 + b) * R + s2] * g3[s2 * w3 + c];
            v[col] = x;
        }
        return;
    }
    case EMB_DHE: {
        /* Kang et al.: k hashes XXH64(id, seed_f + i) mod 10^6 as uniform [-1, 1] or Box-Muller
         * Gaussians; then L hidden Linear + Mish layers and a Linear to w; layer l is table l,
         * fan_in rows of fan_out then the bias row */
        const uint64_t sf = ref_hash(f->index, ref_seed);
        const int k = (int)dnum(d, "k"), dd = (int)dnum(d, "d"), L = (int)dnum(d, "layers");
        const int wide = k > dd ? (k > w ? k : w) : (dd > w ? dd : w);
        double *x = xmalloc(sizeof(double) * (size_t)wide * 2), *y = x + wide;
        for (int i = 0; i < k; i++) {
            const double h = (double)(ref_hash(id, sf + (uint64_t)i) % 1000000);
            if (dis(d, "dist", "uniform")) {
                x[i] = 2 * h / 999999.0 - 1;
                continue;
            }
            const int j = i & ~1;
            const double u = (double)(ref_hash(id, sf + (uint64_t)j) % 1000000 + 1) / 1e6;
            const double vv = (double)(ref_hash(id, sf + (uint64_t)j + 1) % 1000000) / 1e6;
            x[i] = sqrt(-2 * log(u)) * (i == j ? cos(2 * M_PI * vv) : sin(2 * M_PI * vv));
        }
        int in = k;
        for (int l = 0; l <= L; l++) {
            const int out = l == L ? w : dd;
            const float *W = f->tables[l].w;
            for (int j = 0; j < out; j++) {
                double z = W[(size_t)in * out + j], mag = fabs(z);
                for (int i = 0; i < in; i++) z += x[i] * W[(size_t)i * out + j], mag += fabs(x[i] * W[(size_t)i * out + j]);
                if (l == L) ref_mag[j] = mag;
                y[j] = l == L ? z : z * tanh(log1p(exp(z))); /* Mish */
            }
            for (int j = 0; j < out; j++) x[j] = y[j];
            in = out;
        }
        for (int c = 0; c < w; c++) v[c] = x[c];
        free(x);
        return;
    }
    case EMB_QR3: {
        /* Shi et al.'s complementary partitions, three of them: A[id mod m] op B[(id / m) mod m] op
         * C[id / m^2] */
        const uint64_t m = (uint64_t)dnum(d, "m"), q = (uint64_t)dnum(d, "q");
        const uint64_t r0 = id % m, r1 = (id / m) % m, r2 = id / (m * m);
        CHECK(q == (p->N + m * m - 1) / (m * m) && r2 < q);
        const float *A = f->tables[0].w + r0 * w, *Bv = f->tables[1].w + r1 * w, *C = f->tables[2].w + r2 * w;
        for (int k = 0; k < w; k++) {
            if (dis(d, "op", "mult")) v[k] = (double)(A[k] * Bv[k] * C[k]);
            else {
                CHECK(dis(d, "op", "add"));
                v[k] = (double)(A[k] + Bv[k] + C[k]);
            }
        }
        return;
    }
    case EMB_NKINDS:
        CHECK(0);
    }
}

/* emb_forward without its parallel region (whose start-up would dominate the many small calls here) */
static void fwd_serial(const Emb *emb, float *out, const uint32_t *ids, int B) {
    const int F = emb->fields, w = emb->w;
    for (int i = 0; i < F; i++)
        emb->f[i].s->forward(&emb->f[i], out + (size_t)i * w, (size_t)F * w, ids + i, (size_t)F, B);
}

/* loss = sum of dout .* forward over a batch */
static double loss_of(const Emb *emb, const uint32_t *ids, const float *dout, int B, float *out) {
    fwd_serial(emb, out, ids, B);
    double L = 0;
    for (size_t i = 0; i < (size_t)B * emb->w; i++) L += (double)dout[i] * out[i];
    return L;
}

static void clear_grads(Emb *emb) {
    Optim o;
    optim_init(&o, OPT_SGD, 0.0f, 0.0f);
    emb_update(emb, &o);
}

/* The analytic gradient of one parameter from the sparse gradient rows. */
static float grad_of(const EmbTable *t, uint64_t row, int col) {
    int32_t s = t->slot[row];
    return s < 0 ? 0.0f : t->g[(size_t)s * t->width + col];
}

/* --- the tests of one configuration --- */

static void test_config(const Config *c, uint64_t N, int w, double r, Rng *rng) {
    Emb emb;
    if (!make_emb(&emb, &c->o, N, w, r, OPT_SGD, 7)) {
        T_CHECK(c->o.kind == EMB_BH, "%s N=%" PRIu64 ": unbuildable", c->name, N);
        return;
    }
    char what[192];
    snprintf(what, sizeof what, "%s N=%" PRIu64 " w=%d r=%g", c->name, N, w, r);
    EmbField *f = &emb.f[0];
    const EmbKind kind = c->o.kind;
    fill_tables(&emb, rng, -1.0, 1.0);

    /* (f) the budget */
    if (f->plan.compressed)
        T_CHECK(f->plan.clamped || (double)f->plan.params <= f->plan.budget, "%s: %" PRIu64 " params over %g",
                what, f->plan.params, f->plan.budget);
    uint64_t tp = 0;
    for (int k = 0; k < f->ntables; k++) tp += f->tables[k].rows * (uint64_t)f->tables[k].width;
    if (f->s->priv_bytes) tp += f->s->priv_bytes(f) / sizeof(float); /* an index in the layout (hotcold's map) */
    T_CHECK(tp == f->plan.params, "%s: tables hold %" PRIu64 " params, plan %" PRIu64, what, tp, f->plan.params);

    /* (a) forward = the reference table, gathered; (c) batch = one at a time */
    float *out = xmalloc(sizeof(float) * MAXB * w), *one = xmalloc(sizeof(float) * w);
    double *ref = xmalloc(sizeof(double) * w);
    int bad = 0, bad1 = 0;
    for (uint64_t id0 = 0; id0 < N; id0 += MAXB) {
        uint32_t ids[MAXB];
        int B = 0;
        for (uint64_t id = id0; id < N && B < MAXB; id++) ids[B++] = (uint32_t)(N - 1 - id); /* reversed */
        emb_forward(&emb, out, ids, B);
        for (int b = 0; b < B; b++) {
            ref_vector(f, kind, ids[b], ref);
            for (int k = 0; k < w; k++)
                if (!ref_close(out[b * w + k], ref, k)) bad++;
            fwd_serial(&emb, one, &ids[b], 1);
            if (memcmp(one, out + b * w, sizeof(float) * w)) bad1++;
        }
    }
    T_CHECK(bad == 0, "%s: %d elements differ from the reference", what, bad);
    T_CHECK(bad1 == 0, "%s: %d rows differ between the batch and one at a time", what, bad1);

    /* (b) finite differences with repeated ids; (h) the sparse update against a dense one */
    enum { B = 24 };
    uint32_t ids[B];
    for (int b = 0; b < B; b++) ids[b] = (uint32_t)rng_below(rng, N);
    ids[3] = ids[0];
    ids[7] = ids[0];
    ids[11] = ids[5];
    ids[B - 1] = (uint32_t)(N - 1);
    float *dout = xmalloc(sizeof(float) * B * w), *ob = xmalloc(sizeof(float) * B * w), *op = xmalloc(sizeof(float) * B * w);
    for (int i = 0; i < B * w; i++) dout[i] = (float)(2 * rng_uniform(rng) - 1);
    clear_grads(&emb);
    emb_backward(&emb, dout, ids, B);
    double maxg = 0, maxerr = 0;
    int nonzero_untouched = 0;
    const float eps = 1e-2f;
    float *before[EMB_MAX_TABLES], *dense[EMB_MAX_TABLES];
    for (int k = 0; k < f->ntables; k++) {
        EmbTable *t = &f->tables[k];
        size_t np = (size_t)t->rows * t->width;
        before[k] = xmalloc(np * sizeof(float));
        dense[k] = xmalloc(np * sizeof(float));
        memcpy(before[k], t->w, np * sizeof(float));
        memset(dense[k], 0, np * sizeof(float));
        for (size_t x = 0; x < np; x++) {
            /* every parameter of small tables; of larger ones the touched rows and a sample */
            const uint64_t row = x / t->width;
            if (t->rows > 256 && t->slot[row] < 0 && rng_mix(row ^ 0x1234) % (t->rows / 64) != 0) continue;
            float save = t->w[x];
            t->w[x] = save + eps;
            double lp = loss_of(&emb, ids, dout, B, ob);
            memcpy(op, ob, sizeof(float) * B * w);
            t->w[x] = save - eps;
            double lm = loss_of(&emb, ids, dout, B, ob);
            t->w[x] = save;
            double fd = (lp - lm) / (2.0 * eps);
            /* the difference's rounding: every output the parameter moved was rounded to float twice
             * (a dense layer moves every output of the batch, a table row a few) */
            double moved = 0;
            for (int i = 0; i < B * w; i++)
                if (op[i] != ob[i]) moved += (fabs(op[i]) + fabs(ob[i])) * (fabs(op[i]) + fabs(ob[i]));
            const double noise = 4.0 * FLT_EPSILON * sqrt(moved) / (2.0 * eps);
            dense[k][x] = (float)fd;
            float an = grad_of(t, x / t->width, (int)(x % t->width));
            double err = fabs(fd - an) > noise ? (fabs(fd - an) - noise) / (1e-2 + fabs(fd)) : 0;
            maxerr = err > maxerr ? err : maxerr;
            maxg = fabs(an) > maxg ? fabs(an) : maxg;
            if (fd != 0 && t->slot[x / t->width] < 0) nonzero_untouched++;
        }
    }
    T_CHECK(maxerr < 2e-3, "%s: backward differs from finite differences (max rel err %g)", what, maxerr);
    T_CHECK(maxg > 1e-3, "%s: the gradient is (near) zero: %g", what, maxg);
    T_CHECK(nonzero_untouched == 0, "%s: %d parameters with a gradient in untouched rows", what, nonzero_untouched);

    /* Adam's first step is about lr * sign(g) per element: an update applied once per repeated row
     * with the summed gradient differs visibly from one applied per occurrence */
    Optim adam;
    optim_init(&adam, OPT_ADAM, 0.01f, 0.0f);
    optim_begin_step(&adam);
    /* Adam needs state: rebuild the same model with Adam's state arrays and the same values */
    Emb ea;
    CHECK(make_emb(&ea, &c->o, N, w, r, OPT_ADAM, 7));
    for (int k = 0; k < f->ntables; k++)
        memcpy(ea.f[0].tables[k].w, before[k], (size_t)f->tables[k].rows * f->tables[k].width * sizeof(float));
    emb_backward(&ea, dout, ids, B);
    emb_update(&ea, &adam);
    int changed_untouched = 0, upd_bad = 0, zero_left = 0;
    for (int k = 0; k < f->ntables; k++) {
        EmbTable *t = &ea.f[0].tables[k];
        const int W = t->width;
        float *m = xcalloc((size_t)W, sizeof(float)), *v = xcalloc((size_t)W, sizeof(float));
        float *row = xmalloc((size_t)W * sizeof(float));
        for (uint64_t rr = 0; rr < t->rows; rr++) {
            const float *g = dense[k] + rr * W;
            int any = 0;
            for (int q = 0; q < W; q++) any |= g[q] != 0;
            if (!any) {
                if (memcmp(t->w + rr * W, before[k] + rr * W, W * sizeof(float))) changed_untouched++;
                continue;
            }
            memcpy(row, before[k] + rr * W, W * sizeof(float));
            memset(m, 0, W * sizeof(float));
            memset(v, 0, W * sizeof(float));
            optim_row(&adam, row, g, m, v, W);
            for (int q = 0; q < W; q++) {
                if (fabsf(g[q]) < 1e-3f) continue; /* sign of a near-zero finite difference */
                if (fabsf(row[q] - t->w[rr * W + q]) > 1e-3f * adam.lr) upd_bad++;
            }
        }
        T_CHECK(t->ntouched == 0, "%s: gradient not cleared", what);
        for (uint64_t rr = 0; rr < t->rows; rr++) zero_left += t->slot[rr] != -1;
        free(m);
        free(v);
        free(row);
    }
    T_CHECK(changed_untouched == 0, "%s: %d rows without gradient changed", what, changed_untouched);
    T_CHECK(upd_bad == 0, "%s: %d elements differ from the dense update", what, upd_bad);
    T_CHECK(zero_left == 0, "%s: %d slots left set after the update", what, zero_left);
    emb_free(&ea);
    for (int k = 0; k < f->ntables; k++) {
        free(before[k]);
        free(dense[k]);
    }
    free(dout);
    free(ob);
    free(op);
    free(out);
    free(one);
    free(ref);
    emb_free(&emb);
}

/* (c) with several fields: strides through emb_forward, the batch against one row at a time */
static void test_multi_field(const Config *c, Rng *rng) {
    uint64_t cards[4] = {300, 37, 5000, 1000};
    EmbOptions o = c->o;
    o.ratio = o.kind == EMB_FULL ? 1 : 10;
    o.compress_min = 200;
    o.seed = ref_seed = 3;
    EmbPlan p;
    Err e;
    CHECK(plan_with_counts(&p, cards, 4, 17, &o, &e) == 0);
    for (int i = 0; i < 4; i++)
        if (!p.f[i].feasible) {
            emb_plan_free(&p);
            return;
        }
    T_CHECK(!p.f[1].compressed && p.f[1].params == 37 * 17, "%s: the 37-id field should stay full", c->name);
    p.infeasible = 0;
    Emb emb;
    CHECK(emb_create(&emb, &p, MAXB, OPT_SGD, 3, &e) == 0);
    fill_tables(&emb, rng, -1, 1);
    enum { B = 50 };
    uint32_t ids[B * 4];
    for (int b = 0; b < B; b++)
        for (int i = 0; i < 4; i++) ids[b * 4 + i] = (uint32_t)rng_below(rng, cards[i]);
    float out[B * 4 * 17], one[4 * 17];
    double ref[17];
    emb_forward(&emb, out, ids, B);
    /* 2 threads give the same bytes as 1 (main runs everything else on one: the many small parallel
     * regions would cost more than they do) */
    static float out2[B * 4 * 17];
    omp_set_num_threads(2);
    emb_forward(&emb, out2, ids, B);
    omp_set_num_threads(1);
    T_CHECK(!memcmp(out, out2, sizeof out2), "%s: 2 threads differ from 1", c->name);
    int bad = 0, badr = 0;
    for (int b = 0; b < B; b++) {
        emb_forward(&emb, one, ids + b * 4, 1);
        bad += memcmp(one, out + b * 4 * 17, sizeof one) != 0;
        for (int i = 0; i < 4; i++) {
            ref_vector(&emb.f[i], o.kind, ids[b * 4 + i], ref);
            for (int k = 0; k < 17; k++) badr += !ref_close(out[(b * 4 + i) * 17 + k], ref, k);
        }
    }
    T_CHECK(bad == 0, "%s: %d rows differ between the batch and one at a time (4 fields)", c->name, bad);
    T_CHECK(badr == 0, "%s: %d elements differ from the reference (4 fields)", c->name, badr);
    emb_free(&emb);
    emb_plan_free(&p);
}

/* emb_backward (fields split between threads, rows in chunks) against one backward call per field
 * over the whole batch, and 1 thread against 2: the same sparse gradients bit for bit, rows touched
 * in the same order; then the same tables after an Adam update on 1 and on 2 threads. The batch spans
 * several chunks and repeats ids heavily. */
static void test_backward_paths(const Config *c, Rng *rng) {
    uint64_t cards[5] = {300, 37, 5000, 1000, 2};
    EmbOptions o = c->o;
    o.ratio = o.kind == EMB_FULL ? 1 : 10;
    o.compress_min = 200;
    o.seed = 3;
    EmbPlan p;
    Err e;
    CHECK(plan_with_counts(&p, cards, 5, 17, &o, &e) == 0);
    for (int i = 0; i < 5; i++)
        if (!p.f[i].feasible) {
            emb_plan_free(&p);
            return;
        }
    p.infeasible = 0;
    enum { B = 300, NE = 3 };
    Emb emb[NE];
    for (int k = 0; k < NE; k++) CHECK(emb_create(&emb[k], &p, B, OPT_ADAM, 3, &e) == 0);
    uint32_t *ids = xmalloc(sizeof(uint32_t) * B * 5);
    float *dout = xmalloc(sizeof(float) * B * 5 * 17);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < 5; i++) ids[b * 5 + i] = (uint32_t)rng_below(rng, i == 2 ? 60 : cards[i]);
    for (int x = 0; x < B * 5 * 17; x++) dout[x] = (float)(2 * rng_uniform(rng) - 1);
    /* emb[0]: one call per field; emb[1]: emb_backward on 1 thread; emb[2]: on 2 */
    for (int i = 0; i < 5; i++) emb[0].f[i].s->backward(&emb[0].f[i], dout + i * 17, 5 * 17, ids + i, 5, B);
    omp_set_num_threads(1);
    emb_backward(&emb[1], dout, ids, B);
    omp_set_num_threads(2);
    emb_backward(&emb[2], dout, ids, B);
    int bad = 0;
    for (int k = 1; k < NE; k++)
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < emb[0].f[i].ntables; j++) {
                const EmbTable *a = &emb[0].f[i].tables[j], *b = &emb[k].f[i].tables[j];
                bad += a->ntouched != b->ntouched ||
                       memcmp(a->touched, b->touched, a->ntouched * sizeof *a->touched) ||
                       memcmp(a->g, b->g, (size_t)a->ntouched * a->width * sizeof(float));
            }
    T_CHECK(bad == 0, "%s: %d sparse gradients differ between per-field calls, 1 and 2 threads", c->name, bad);
    Optim adam;
    optim_init(&adam, OPT_ADAM, 0.01f, 0.001f);
    optim_begin_step(&adam);
    omp_set_num_threads(1);
    emb_update(&emb[1], &adam);
    omp_set_num_threads(2);
    emb_update(&emb[2], &adam);
    omp_set_num_threads(1);
    bad = 0;
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < emb[1].f[i].ntables; j++) {
            const EmbTable *a = &emb[1].f[i].tables[j], *b = &emb[2].f[i].tables[j];
            size_t n = (size_t)a->rows * a->width * sizeof(float);
            bad += memcmp(a->w, b->w, n) || memcmp(a->m, b->m, n) || memcmp(a->v, b->v, n) || b->ntouched;
        }
    T_CHECK(bad == 0, "%s: %d tables differ after the update on 1 and 2 threads", c->name, bad);
    for (int k = 0; k < NE; k++) emb_free(&emb[k]);
    free(ids);
    free(dout);
    emb_plan_free(&p);
}

/* emb_mod, the hash strategy's division-free h mod m, against % at the edges and at random */
static void test_mod(Rng *rng) {
    const uint64_t ms[] = {1, 2, 3, 5, 7, 10, 255, 256, 257, 1000, 65535, 65536, 65537, 1000003,
                           (1ull << 31) - 1, 1ull << 31, (1ull << 31) + 1, (1ull << 32) - 1};
    const int nm = (int)(sizeof ms / sizeof ms[0]);
    long bad = 0, n = 0;
    for (int t = 0; t < nm + 200; t++) {
        uint64_t m = t < nm ? ms[t] : 1 + rng_below(rng, t % 2 ? (1ull << 32) - 1 : 100000);
        EmbMod d = emb_mod_init(m);
        uint64_t hs[8] = {0, 1, m - 1, m, m + 1, UINT64_MAX, UINT64_MAX - 1, UINT64_MAX / m * m};
        for (int i = 0; i < 8; i++, n++) bad += emb_mod(d, hs[i]) != hs[i] % m;
        for (int i = 0; i < 2000; i++, n++) {
            uint64_t h = rng_next(rng);
            if (i % 3 == 0) h = h / m * m + (i % 5 == 0 ? m - 1 : 0); /* next to a multiple */
            bad += emb_mod(d, h) != h % m;
        }
    }
    T_CHECK(bad == 0, "emb_mod: %ld of %ld remainders differ from %%", bad, n);
}

/* (g) the composed vectors' element-wise std at init */
static void test_init_std(const Config *c) {
    const uint64_t N = 20000;
    Emb emb;
    if (!make_emb(&emb, &c->o, N, 17, 10, OPT_SGD, 11)) return;
    double s = 0, s2 = 0;
    float out[MAXB * 17];
    for (uint64_t id0 = 0; id0 < N; id0 += MAXB) {
        uint32_t ids[MAXB];
        int B = 0;
        for (uint64_t id = id0; id < N && B < MAXB; id++) ids[B++] = (uint32_t)id;
        emb_forward(&emb, out, ids, B);
        for (int i = 0; i < B * 17; i++) {
            s += out[i];
            s2 += (double)out[i] * out[i];
        }
    }
    double n = (double)N * 17, mean = s / n, sd = sqrt(s2 / n - mean * mean);
    T_CHECK(fabs(sd / EMB_INIT_STD - 1) < 0.2, "%s: init std %g, expected %g", c->name, sd, EMB_INIT_STD);
    T_CHECK(fabs(mean) < 0.2 * EMB_INIT_STD, "%s: init mean %g", c->name, mean);
    emb_free(&emb);
}

/* (d) distinct ids, distinct block tuples (codes = the ids: auto S), every t, both layouts */
static int cmp_tuple_n;
static int cmp_tuple(const void *a, const void *b) { return memcmp(a, b, (size_t)cmp_tuple_n * sizeof(uint64_t)); }

static void test_bh_distinct(void) {
    const uint64_t Ns[] = {2, 37, 300, 1000, 4097};
    for (size_t ni = 0; ni < sizeof Ns / sizeof Ns[0]; ni++) {
        uint64_t N = Ns[ni];
        for (int t = 1; t <= 13; t++)
            for (int bl = 0; bl < 2; bl++)
                for (int tb = 0; tb < 2; tb++) {
                    char fl[128];
                    snprintf(fl, sizeof fl, "--emb bh --ratio 1 --compress-min 0 --bh-t %d --bh-blocks %s --bh-table %s",
                             t, BH_BLOCKS_NAMES[bl], BH_TABLE_NAMES[tb]);
                    EmbOptions o = opts_of(fl);
                    EmbPlan p;
                    Err e;
                    CHECK(emb_plan_make(&p, &N, 1, 17, &o, &e) == 0);
                    const EmbFieldPlan *fp = &p.f[0];
                    if (t > BHP(fp)->S) {
                        emb_plan_free(&p);
                        continue;
                    }
                    EmbBhLayout L;
                    emb_bh_layout(&L, fp);
                    const int n = L.n;
                    uint64_t *tup = xmalloc(N * n * sizeof *tup);
                    int out_of_range = 0;
                    for (uint64_t id = 0; id < N; id++) {
                        emb_bh_rows(&L, (uint32_t)id, tup + id * n);
                        for (int j = 0; j < n; j++) out_of_range += tup[id * n + j] >= fp->rows;
                    }
                    cmp_tuple_n = n;
                    qsort(tup, N, n * sizeof *tup, cmp_tuple);
                    int dup = 0;
                    for (uint64_t id = 1; id < N; id++) dup += !memcmp(tup + (id - 1) * n, tup + id * n, n * sizeof *tup);
                    T_CHECK(dup == 0, "bh N=%" PRIu64 " t=%d %s %s: %d repeated block tuples", N, t,
                            BH_BLOCKS_NAMES[bl], BH_TABLE_NAMES[tb], dup);
                    T_CHECK(out_of_range == 0, "bh N=%" PRIu64 " t=%d: %d rows beyond the table", N, t, out_of_range);
                    free(tup);
                    emb_plan_free(&p);
                }
    }
}

/* the fast bit gather against the loop */
static void test_pext(void) {
    Rng r;
    rng_seed(&r, 5);
    int bad = 0;
    for (int i = 0; i < 100000; i++) {
        uint64_t x = rng_next(&r), m = rng_next(&r) & rng_next(&r);
        if (i % 7 == 0) m = UINT64_MAX;
        if (i % 11 == 0) m = 0;
        bad += emb_bh_pext(x, m) != emb_bh_pext_ref(x, m);
    }
    T_CHECK(bad == 0, "pext: %d of 100000 differ from the loop", bad);
    T_CHECK(emb_bh_pext_ref(0xb4, 0xf0) == 0xb, "pext_ref");
    T_CHECK(emb_bh_pext_ref(0x5, 0x5) == 0x3, "pext_ref");
#ifdef __BMI2__
    fprintf(stderr, "  pext: BMI2 instruction against the loop\n");
#else
    fprintf(stderr, "  pext: loop build (no BMI2)\n");
#endif
}

/* (e) qr with m >= N reproduces a full table: mult with Q = 1, add with Q = 0 */
static void test_qr_degenerate(Rng *rng) {
    const uint64_t N = 300;
    for (int op = QR_MULT; op <= QR_ADD; op++)
        for (uint64_t extra = 0; extra <= 5; extra += 5) {
            char fl[96];
            snprintf(fl, sizeof fl, "--emb qr --qr-op %s --ratio 2 --compress-min 0", QR_OP_NAMES[op]);
            EmbOptions o = opts_of(fl);
            EmbPlan p;
            Err e;
            uint64_t n = N;
            CHECK(emb_plan_make(&p, &n, 1, 16, &o, &e) == 0);
            QRL(&p.f[0])->m = N + extra;
            p.f[0].rows = 1 + N + extra;
            p.f[0].params = (1 + N + extra) * 16;
            p.infeasible = 0;
            Emb emb;
            CHECK(emb_create(&emb, &p, MAXB, OPT_SGD, 1, &e) == 0);
            EmbField *f = &emb.f[0];
            T_CHECK(f->tables[0].rows == 1 && f->tables[1].rows == N + extra, "qr m >= N: table rows");
            fill_tables(&emb, rng, -1, 1);
            for (int k = 0; k < 16; k++) f->tables[0].w[k] = op == QR_MULT ? 1.0f : 0.0f;
            int bad = 0;
            for (uint32_t id = 0; id < N; id++) {
                float v[16];
                emb_forward(&emb, v, &id, 1);
                bad += memcmp(v, f->tables[1].w + (size_t)id * 16, sizeof v) != 0;
            }
            T_CHECK(bad == 0, "qr %s m=%" PRIu64 ": %d ids differ from the full table", QR_OP_NAMES[op], N + extra, bad);
            emb_free(&emb);
            emb_plan_free(&p);
        }
}

/* qr mult's two tables learn alike from the start: one Adam step on one id, and the difference of its
 * vector from an id that shares its remainder row (what its quotient row adds) moves as much as the
 * difference from an id that shares its quotient row (what its remainder row adds), within 4x. With
 * one factor started around 1 and the other around 0 (SPEC 4's wording), the two differ by ~1e3: the
 * factor around 1 moves its ids' vectors by lr times the other's |x| ~ 1e-4, so what it adds moves by
 * about lr^2 (the product of the two steps), against lr for the other: the cause of qr's poor r = 10
 * in gen_version 3's sweeps (README, "The qr question"). */
static void test_qr_mult_learns_both(void) {
    EmbOptions o = opts_of("--emb qr --qr-op mult --compress-min 0");
    Emb emb;
    const int w = 17;
    CHECK(make_emb(&emb, &o, 1000, w, 10, OPT_ADAM, 3));
    const uint32_t m = (uint32_t)QRL(&emb.f[0].plan)->m;
    CHECK(m >= 3 && m < 500);
    /* a = (q 1, r 1); b shares its remainder row (q 0), c its quotient row (r 2) */
    uint32_t abc[3] = {m + 1, 1, m + 2};
    float before[3 * 17], after[3 * 17], dout[17];
    emb_forward(&emb, before, abc, 3);
    for (int k = 0; k < w; k++) dout[k] = 1.0f;
    Optim adam;
    optim_init(&adam, OPT_ADAM, 1e-3f, 0.0f);
    optim_begin_step(&adam);
    emb_backward(&emb, dout, abc, 1);
    emb_update(&emb, &adam);
    emb_forward(&emb, after, abc, 3);
    double by_q = 0, by_r = 0;
    for (int k = 0; k < w; k++) {
        by_q += fabs((double)(after[k] - after[w + k]) - (before[k] - before[w + k]));
        by_r += fabs((double)(after[k] - after[2 * w + k]) - (before[k] - before[2 * w + k]));
    }
    T_CHECK(by_q > 0 && by_r > 0 && by_q < 4 * by_r && by_r < 4 * by_q,
            "qr mult: one step moves what the quotient row adds by %g and what the remainder row adds by %g", by_q / w,
            by_r / w);
    emb_free(&emb);
}

/* qr's division by multiplication, with ids up to 2^32 - 1 */
static void test_qr_large_ids(Rng *rng) {
    EmbOptions o = opts_of("--emb qr --ratio 1e6 --compress-min 0");
    const uint64_t Ns[] = {4294967296ull, 3000000019ull};
    for (int i = 0; i < 2; i++) {
        EmbPlan p;
        Err e;
        CHECK(emb_plan_make(&p, &Ns[i], 1, 4, &o, &e) == 0);
        p.infeasible = 0;
        Emb emb;
        CHECK(emb_create(&emb, &p, MAXB, OPT_SGD, 1, &e) == 0);
        fill_tables(&emb, rng, -1, 1);
        int bad = 0;
        for (int k = 0; k < 20000; k++) {
            uint32_t id = k < 10 ? (uint32_t)(Ns[i] - 1 - (uint64_t)k) : (uint32_t)rng_below(rng, Ns[i]);
            float v[4];
            double ref[4];
            emb_forward(&emb, v, &id, 1);
            ref_vector(&emb.f[0], EMB_QR, id, ref);
            for (int c = 0; c < 4; c++) bad += v[c] != (float)ref[c];
        }
        T_CHECK(bad == 0, "qr N=%" PRIu64 " m=%" PRIu64 ": %d large-id elements wrong", Ns[i], QRL(&p.f[0])->m, bad);
        emb_free(&emb);
        emb_plan_free(&p);
    }
}

/* (f) across a grid: never over the budget unless clamped, and clamped = the smallest layout */
static void test_budget_grid(const Config *cs, int nc) {
    const uint64_t Ns[] = {201, 999, 4096, 4097, 12517, 286181, 10131227};
    const double Rs[] = {1, 1.5, 2, 3, 10, 64, 100, 1000, 1e4, 1e5};
    const int ws[] = {2, 9, 16, 17, 65};
    int bad = 0, badq = 0, n = 0;
    for (int c = 0; c < nc; c++)
        for (size_t a = 0; a < sizeof Ns / sizeof *Ns; a++)
            for (size_t b = 0; b < sizeof Rs / sizeof *Rs; b++)
                for (size_t d = 0; d < sizeof ws / sizeof *ws; d++) {
                    EmbOptions o = cs[c].o;
                    o.ratio = Rs[b];
                    EmbPlan p;
                    Err e;
                    /* train counts up to 286,181 ids (hotcold sorts them for every plan; the
                     * 10M-id field is planned without, which hotcold reports infeasible) */
                    CHECK((Ns[a] < 1000000 ? plan_with_counts(&p, &Ns[a], 1, ws[d], &o, &e)
                                           : emb_plan_make(&p, &Ns[a], 1, ws[d], &o, &e)) == 0);
                    const EmbFieldPlan *fp = &p.f[0];
                    n++;
                    if (fp->feasible && !fp->clamped && (double)fp->params > fp->budget) bad++;
                    if (fp->feasible && fp->clamped && (double)fp->params <= fp->budget) bad++;
                    if (o.kind == EMB_QR && fp->feasible && fp->clamped) {
                        uint64_t m = (uint64_t)ceil(sqrt((double)fp->N));
                        badq += QRL(fp)->m != m;
                    }
                    emb_plan_free(&p);
                }
    T_CHECK(bad == 0, "budget: %d of %d plans over budget without being clamped (or the reverse)", bad, n);
    T_CHECK(badq == 0, "budget: %d clamped qr plans not at ceil(sqrt(N))", badq);
}

/* (i) SPEC 6's variant strings */
static void test_variants(void) {
    static const char *const want[][2] = {
        {"", "full"},
        {"--emb hash", "hash:cm200"},
        {"--emb qr", "qr:mult:cm200"},
        {"--emb bh", "bh:succession:shared:sum:Sauto:cm200"},
        {"--emb bh --bh-blocks skip --bh-table per-block --bh-fuse concat --bh-bits 24 --bh-t 8",
         "bh:skip:per-block:concat:S24:t8:cm200"},
        {"--emb bh --bh-blocks skip --bh-table per-block --bh-fuse concat --bh-bits 24 --compress-min 0",
         "bh:skip:per-block:concat:S24:cm0"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        EmbOptions o = opts_of(want[i][0]);
        char b[128];
        emb_variant(&o, b, sizeof b);
        T_CHECK(!strcmp(b, want[i][1]), "'%s': variant %s, want %s", want[i][0], b, want[i][1]);
    }
}

/* the strategy flags shared by plan and train */
static void test_flags(void) {
    EmbOptions o, d;
    Err e;
    emb_options_default(&o);
    emb_options_default(&d);
    const BhOptions *bo = (const BhOptions *)o.sopt[EMB_BH];
    T_CHECK(emb_options_parse_flag(&o, "emb", "bh", &e) == 0 && o.kind == EMB_BH, "--emb bh");
    T_CHECK(emb_options_parse_flag(&o, "--ratio", "250", &e) == 0 && o.ratio == 250, "--ratio");
    T_CHECK(emb_options_parse_flag(&o, "bh-blocks", "skip", &e) == 0 && bo->blocks == BH_SKIP, "--bh-blocks");
    T_CHECK(emb_options_parse_flag(&o, "bh-table", "per-block", &e) == 0 && bo->table == BH_PER_BLOCK, "--bh-table");
    T_CHECK(emb_options_parse_flag(&o, "bh-fuse", "mean", &e) == 0 && bo->fuse == BH_MEAN, "--bh-fuse");
    T_CHECK(emb_options_parse_flag(&o, "bh-bits", "24", &e) == 0 && bo->bits == 24, "--bh-bits 24");
    T_CHECK(emb_options_parse_flag(&o, "bh-t", "8", &e) == 0 && bo->t == 8, "--bh-t");
    T_CHECK(emb_options_parse_flag(&o, "compress-min", "0", &e) == 0 && o.compress_min == 0, "--compress-min");
    T_CHECK(emb_options_check(&o, &e) == 0, "check: %s", e.msg);
    char b[128];
    emb_variant(&o, b, sizeof b);
    T_CHECK(!strcmp(b, "bh:skip:per-block:mean:S24:t8:cm0"), "%s", b);
    T_CHECK(emb_options_parse_flag(&o, "bh-bits", "auto", &e) == 0 && bo->bits == 0, "--bh-bits auto");
    const char *bad[][2] = {{"emb", "lsh"},      {"ratio", "0.5"},      {"ratio", "2x"},
                            {"qr-op", "sub"},    {"bh-blocks", "rand"}, {"bh-table", "own"},
                            {"bh-fuse", "max"},  {"bh-bits", "0"},      {"bh-bits", "64"},
                            {"bh-bits", "x"},    {"bh-t", "0"},         {"compress-min", "-1"},
                            {"dim", "16"},       {"bh-t", ""}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        EmbOptions x = d;
        e.msg[0] = 0;
        int rc = emb_options_parse_flag(&x, bad[i][0], bad[i][1], &e);
        T_CHECK(rc == -1 && strstr(e.msg, bad[i][0]), "--%s %s: rc %d, '%s'", bad[i][0], bad[i][1], rc, e.msg);
    }
    /* a flag of another strategy than the chosen one, in either order */
    EmbOptions x = opts_of("--qr-op add --emb hash");
    T_CHECK(emb_options_check(&x, &e) == -1 && strstr(e.msg, "--qr-op"), "--qr-op with hash: %s", e.msg);
    x = opts_of("--emb qr --bh-t 4");
    T_CHECK(emb_options_check(&x, &e) == -1 && strstr(e.msg, "--bh-t"), "--bh-t with qr: %s", e.msg);
    x = opts_of("--emb hash --qr-op mult"); /* the default value: nothing to refuse */
    T_CHECK(emb_options_check(&x, &e) == 0, "--qr-op mult with hash: %s", e.msg);
    x = opts_of("--emb bh --bh-bits 8 --bh-t 9"); /* SPEC 4: t = min(T, S) */
    T_CHECK(emb_options_check(&x, &e) == 0, "--bh-t over --bh-bits: %s", e.msg);
    EmbPlan p;
    uint64_t N = 5000;
    x.ratio = 2;
    x.compress_min = 0;
    CHECK(emb_plan_make(&p, &N, 1, 17, &x, &e) == 0);
    const BhPlan *P = BHP(&p.f[0]);
    T_CHECK(P->S == 8 && P->t == 8 && P->n == 1, "--bh-t 9 --bh-bits 8: S %d t %d n %d", P->S, P->t, P->n);
    emb_plan_free(&p);
}

int main(void) {
    static Config cs[128];
    const int nc = make_configs(cs, 128);
    Rng rng;
    rng_seed(&rng, 2021);
    const uint64_t Ns[] = {37, 300, 1000, 5000};
    const int ws[] = {17, 16};
    const double Rs[] = {2, 10, 100};
    const int quick = getenv("HASHEMB_QUICK") != NULL;
    omp_set_num_threads(1);
    for (int c = 0; c < nc; c++) {
        int before = t_failures;
        for (size_t a = 0; a < 4; a++)
            for (size_t d = 0; d < 2; d++)
                for (size_t b = 0; b < 3; b++) {
                    if (quick && (Ns[a] == 5000 || d == 1)) continue;
                    if (Ns[a] == 5000 && Rs[b] == 2) continue; /* the dense check's cost */
                    test_config(&cs[c], Ns[a], ws[d], Rs[b], &rng);
                }
        test_multi_field(&cs[c], &rng);
        test_backward_paths(&cs[c], &rng);
        test_init_std(&cs[c]);
        fprintf(stderr, "  %-40s %s\n", cs[c].name, t_failures == before ? "ok" : "FAILED");
    }
    test_bh_distinct();
    test_pext();
    test_mod(&rng);
    test_qr_degenerate(&rng);
    test_qr_mult_learns_both();
    test_qr_large_ids(&rng);
    test_budget_grid(cs, nc);
    test_variants();
    test_flags();
    return t_report("test_emb");
}
