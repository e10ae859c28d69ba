/* Unit tests of prep's parsing pieces and of the vocabulary's id orders. The command-line behaviour
 * (formats end to end, bad input, determinism) is tested in test_prep.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/prep.h"
#include "cli/cmd.h"
#include "testing.h"
#include "data/vocab.h"
#include "core/rng.h"
#define XXH_INLINE_ALL
#include <xxhash.h>

static void test_criteo_int(void) {
    /* x <= 2 stays as it is, negatives included; x > 2 becomes floor(ln(x)^2) */
    static const struct {
        const char *s;
        int64_t want;
    } cases[] = {{"0", 0},        {"1", 1},      {"2", 2},         {"-2", -2},     {"-1000", -1000},
                 {"3", 1},        {"+3", 1},     {"10", 5},        {"100", 21},    {"1000", 47},
                 {"65535", 122},  {"1618112", 204}, {"4095", 69},  {"4096", 69},
                 {"999999999999999999", 1717}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t v = -99;
        int rc = prep_criteo_int(cases[i].s, strlen(cases[i].s), &v);
        T_CHECK(rc == 0 && v == cases[i].want, "'%s' -> %lld (rc %d), want %lld", cases[i].s,
                (long long)v, rc, (long long)cases[i].want);
    }
    /* the table of small x and the formula agree, for every x the table holds and past it */
    for (int64_t x = -5; x < 5000; x++) {
        double l = log((double)x);
        int64_t want = x <= 2 ? x : (int64_t)floor(l * l);
        if (prep_criteo_transform(x) != want)
            T_CHECK(0, "transform(%lld) = %lld, want %lld", (long long)x,
                    (long long)prep_criteo_transform(x), (long long)want);
    }
    static const char *badv[] = {"", "-", "+", "abc", "1.5", "12a", " 1", "1 ", "0x10",
                                 "1234567890123456789"};
    for (size_t i = 0; i < sizeof badv / sizeof badv[0]; i++) {
        int64_t v;
        T_CHECK(prep_criteo_int(badv[i], strlen(badv[i]), &v) == -1, "'%s' should not parse", badv[i]);
    }
}

static void test_hex(void) {
    uint32_t x = 0;
    T_CHECK(prep_hex8("68fd1e64", &x) && x == 0x68fd1e64u, "68fd1e64 -> %08x", x);
    T_CHECK(prep_hex8("00000000", &x) && x == 0, "zeros -> %08x", x);
    T_CHECK(prep_hex8("ffffffff", &x) && x == 0xffffffffu, "ffffffff -> %08x", x);
    T_CHECK(prep_hex8("0123abcd", &x) && x == 0x0123abcdu, "0123abcd -> %08x", x);
    T_CHECK(prep_hex8("9a0f5e1b", &x) && x == 0x9a0f5e1bu, "9a0f5e1b -> %08x", x);
    /* upper case, non-hex letters, separators and bytes >= 0x80 are not the fast path */
    static const char *no[] = {"68FD1E64", "68fd1e6g", "68fd1e6/", "68fd1e6:", "68fd1e6`",
                               "\t8fd1e64", "68fd\xc3\xa9" "64", "68fd 1e6"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        T_CHECK(!prep_hex8(no[i], &x), "'%s' taken as hex", no[i]);
    /* every byte value in every position: accepted exactly when it is a lowercase hex digit */
    char buf[9] = "00000000";
    for (int pos = 0; pos < 8; pos++)
        for (int c = 1; c < 256; c++) {
            buf[pos] = (char)c;
            int want = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
            int got = prep_hex8(buf, &x);
            if (got != want) T_CHECK(0, "byte %d at %d: got %d want %d", c, pos, got, want);
            if (got && x != (uint32_t)(want ? (c <= '9' ? c - '0' : c - 'a' + 10) : 0) << (4 * (7 - pos)))
                T_CHECK(0, "byte %d at %d: value %08x", c, pos, x);
            buf[pos] = '0';
        }

    /* categorical values: distinct strings stay distinct across the inline encodings */
    const char *vals[] = {"", "0", "00", "10", "0000000a", "a", "1005", "12345678", "123456789",
                          "1234567890", "68fd1e64", "68FD1E64", "-1"};
    size_t nv = sizeof vals / sizeof vals[0];
    for (size_t i = 0; i < nv; i++)
        for (size_t j = i + 1; j < nv; j++) {
            VocabVal a = prep_cat_value(vals[i], strlen(vals[i]));
            VocabVal b = prep_cat_value(vals[j], strlen(vals[j]));
            int same = a.kind == b.kind && a.key == b.key &&
                       (a.kind != VOCAB_STR || (a.len == b.len && !memcmp(a.p, b.p, a.len)));
            T_CHECK(!same, "'%s' and '%s' got the same value", vals[i], vals[j]);
        }
    T_CHECK(prep_cat_value("", 0).kind == VOCAB_EMPTY, "empty");
    T_CHECK(prep_cat_value("68fd1e64", 8).kind == VOCAB_INLINE, "hex inline");
    T_CHECK(prep_cat_value("1005", 4).kind == VOCAB_INLINE, "decimal inline");
    T_CHECK(prep_cat_value("007", 3).kind == VOCAB_STR, "leading zero is a string");
}

static void test_hour(void) {
    static const struct {
        const char *s;
        int hour, wd, we;
    } ok[] = {{"14102100", 0, 1, 0},  /* 2014-10-21, Avazu's first day, a Tuesday */
              {"14102523", 23, 5, 1}, /* Saturday */
              {"14102601", 1, 6, 1},  /* Sunday */
              {"14102712", 12, 0, 0}, /* Monday */
              {"14103023", 23, 3, 0}, /* Thursday, Avazu's last day */
              {"00010100", 0, 5, 1},  /* 2000-01-01, a Saturday */
              {"16022912", 12, 0, 0}, /* 2016-02-29 (leap day), a Monday */
              {"99123123", 23, 3, 0}}; /* 2099-12-31, a Thursday */
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int h = -1, wd = -1, we = -1;
        int rc = prep_avazu_hour(ok[i].s, 8, &h, &wd, &we);
        T_CHECK(rc == 0 && h == ok[i].hour && wd == ok[i].wd && we == ok[i].we,
                "%s -> rc %d hour %d weekday %d weekend %d", ok[i].s, rc, h, wd, we);
    }
    static const char *no[] = {"14102124", "14132100", "14002100", "14103200", "14100000", "15022900",
                               "1410210", "141021000", "1410210a", "-4102100"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        int h, wd, we;
        T_CHECK(prep_avazu_hour(no[i], strlen(no[i]), &h, &wd, &we) == -1, "'%s' accepted", no[i]);
    }
}

static void test_split(void) {
    /* deterministic, and close to the fractions */
    double frac[3] = {0.8, 0.1, 0.1};
    uint64_t n[3] = {0, 0, 0};
    const uint64_t N = 200000;
    for (uint64_t line = 1; line <= N; line++) {
        int s = prep_split_of(line, 7, frac);
        T_CHECK(s == prep_split_of(line, 7, frac), "line %llu not deterministic", (unsigned long long)line);
        n[s]++;
    }
    T_NEAR((double)n[0] / N, 0.8, 0.005, "train fraction");
    T_NEAR((double)n[1] / N, 0.1, 0.005, "valid fraction");
    /* a split with weight 0 gets nothing, and another seed gives another assignment */
    double frac2[3] = {8.0 / 9, 1.0 / 9, 0};
    uint64_t differ = 0;
    for (uint64_t line = 1; line <= 10000; line++) {
        T_CHECK(prep_split_of(line, 7, frac2) != DS_TEST, "line %llu went to an uncarved split",
                (unsigned long long)line);
        differ += prep_split_of(line, 7, frac) != prep_split_of(line, 8, frac);
    }
    T_CHECK(differ > 1000, "seeds 7 and 8 agree on %llu of 10000 lines", (unsigned long long)(10000 - differ));
}

/* A field with known counts: "b" x3, "a" x3, "" x2, 7 x2, "c" x1, 5 x1 in this order of first appearance. */
static void fill(VocabMap *m) {
    vocab_init(m);
    Err e;
    const char *seq[] = {"c", "b", "7", "", "a", "b", "a", "", "7", "b", "a", "5"};
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        VocabVal v;
        if (seq[i][0] == '7' || seq[i][0] == '5')
            v = vocab_val_inline((uint64_t)(seq[i][0] - '0'));
        else if (!seq[i][0])
            v = vocab_val_empty();
        else
            v = vocab_val_str(seq[i], 1);
        T_CHECK(vocab_add(m, &v, &e) == 0, "add");
    }
}

static uint32_t id_of(const VocabMap *m, const char *s) {
    VocabVal v;
    if (s[0] == '7' || s[0] == '5' || s[0] == '9')
        v = vocab_val_inline((uint64_t)(s[0] - '0'));
    else if (!s[0])
        v = vocab_val_empty();
    else
        v = vocab_val_str(s, (uint32_t)strlen(s));
    return vocab_id(m, &v);
}

static void test_orders(void) {
    VocabMap m;
    /* freq: count descending, ties by value (empty, then inline as integers, then strings) */
    fill(&m);
    T_CHECK(vocab_distinct(&m) == 6, "distinct %llu", (unsigned long long)vocab_distinct(&m));
    T_CHECK(vocab_finalize(&m, VOCAB_ORDER_FREQ, 1, 0) == 7, "N_f");
    const char *freq[] = {"a", "b", "", "7", "5", "c"};
    for (int i = 0; i < 6; i++)
        T_CHECK(id_of(&m, freq[i]) == (uint32_t)i + 1, "freq: '%s' has id %u, want %d", freq[i],
                id_of(&m, freq[i]), i + 1);
    T_CHECK(id_of(&m, "zz") == 0 && id_of(&m, "9") == 0, "unseen values are OOV");
    vocab_free(&m);

    fill(&m);
    vocab_finalize(&m, VOCAB_ORDER_FIRST, 1, 0);
    const char *first[] = {"c", "b", "7", "", "a", "5"};
    for (int i = 0; i < 6; i++)
        T_CHECK(id_of(&m, first[i]) == (uint32_t)i + 1, "first: '%s' has id %u, want %d", first[i],
                id_of(&m, first[i]), i + 1);
    vocab_free(&m);

    /* min-count 2 drops "c" and 5; the rest keep the freq order */
    fill(&m);
    T_CHECK(vocab_finalize(&m, VOCAB_ORDER_FREQ, 2, 0) == 5, "N_f with min-count 2");
    T_CHECK(id_of(&m, "c") == 0 && id_of(&m, "5") == 0, "rare values are OOV");
    T_CHECK(id_of(&m, "a") == 1 && id_of(&m, "b") == 2 && id_of(&m, "") == 3 && id_of(&m, "7") == 4,
            "kept values keep their order");
    vocab_free(&m);
    fill(&m);
    T_CHECK(vocab_finalize(&m, VOCAB_ORDER_FREQ, 4, 0) == 1, "min-count above every count leaves OOV only");
    T_CHECK(id_of(&m, "a") == 0, "all OOV");
    vocab_free(&m);

    /* hash: a permutation of 1..6 ordered by the seeded hash; another seed, another order */
    uint32_t ids[2][6];
    for (int k = 0; k < 2; k++) {
        fill(&m);
        vocab_finalize(&m, VOCAB_ORDER_HASH, 1, (uint64_t)k + 1);
        uint32_t seen = 0;
        for (int i = 0; i < 6; i++) {
            ids[k][i] = id_of(&m, freq[i]);
            T_CHECK(ids[k][i] >= 1 && ids[k][i] <= 6, "hash id %u", ids[k][i]);
            seen |= 1u << ids[k][i];
        }
        T_CHECK(seen == 0x7e, "hash ids are not a permutation of 1..6 (%x)", seen);
        vocab_free(&m);
    }
    T_CHECK(memcmp(ids[0], ids[1], sizeof ids[0]) != 0, "seeds 1 and 2 gave the same hash order");
}

static void test_big_map(void) {
    /* growth past many doublings, with string and inline keys that share key bits */
    VocabMap m;
    vocab_init(&m);
    Err e;
    char buf[32];
    const uint32_t N = 100000;
    for (int rep = 0; rep < 2; rep++)
        for (uint32_t i = 0; i < N; i++) {
            VocabVal v = vocab_val_inline(i);
            T_CHECK(vocab_add(&m, &v, &e) == 0, "add");
            int n = snprintf(buf, sizeof buf, "s%u", i);
            v = vocab_val_str(buf, (uint32_t)n);
            v.key = i; /* force a key clash with the inline value: the kind must tell them apart */
            T_CHECK(vocab_add(&m, &v, &e) == 0, "add");
        }
    T_CHECK(vocab_distinct(&m) == 2 * N, "distinct %llu, want %u", (unsigned long long)vocab_distinct(&m),
            2 * N);
    T_CHECK(vocab_finalize(&m, VOCAB_ORDER_FIRST, 2, 0) == 2 * N + 1, "N_f");
    uint64_t bad = 0;
    for (uint32_t i = 0; i < N; i++) {
        VocabVal v = vocab_val_inline(i);
        bad += vocab_id(&m, &v) != 2 * i + 1;
        int n = snprintf(buf, sizeof buf, "s%u", i);
        v = vocab_val_str(buf, (uint32_t)n);
        v.key = i;
        bad += vocab_id(&m, &v) != 2 * i + 2;
    }
    T_CHECK(bad == 0, "%llu wrong ids after growth", (unsigned long long)bad);
    vocab_free(&m);
}

/* Many inline values (negative ones, the extremes of int64, keys that share high bytes) with and
 * without the empty value, in every order: the ids must follow the documented order, checked against a
 * plain comparison sort here (vocab_finalize sorts fields without strings by radix). */
typedef struct {
    int empty;
    int64_t v;
    uint32_t count, first;
    uint64_t a;
} Want;

static int cmp_want(const void *pa, const void *pb) {
    const Want *x = pa, *y = pb;
    if (x->a != y->a) return x->a < y->a ? -1 : 1;
    if (x->empty != y->empty) return x->empty ? -1 : 1;
    return (x->v > y->v) - (x->v < y->v);
}

static void test_orders_inline(void) {
    Rng r;
    rng_seed(&r, 7);
    Err e;
    for (int round = 0; round < 12; round++) {
        VocabOrder order = (VocabOrder)(round % VOCAB_NORDERS);
        int with_empty = round % 2, n = round < 6 ? 40 : 20000;
        uint64_t seed = (uint64_t)round + 3;
        Want *w = xcalloc((size_t)n + 1, sizeof *w);
        int nw = 0;
        VocabMap m;
        vocab_init(&m);
        uint32_t seq = 0;
        int empty_added = 0;
        for (int i = 0; i < n; i++) {
            Want x = {0};
            uint64_t u = rng_next(&r);
            int shape = (int)(u % 5);
            x.v = shape == 0 ? (int64_t)(u >> 8) - (INT64_C(1) << 54)      /* either sign, large */
                  : shape == 1 ? (int64_t)(u >> 40) % 1000 - 500             /* small, either sign */
                  : shape == 2 ? (int64_t)((u >> 32) & 0xffffffffu)          /* 8 hex chars */
                  : shape == 3 ? (i & 1 ? INT64_MIN + i : INT64_MAX - i)     /* the extremes */
                               : (int64_t)(u >> 33) << 24;                   /* low bytes shared */
            int dup = 0;
            for (int j = 0; j < nw && !dup; j++) dup = !w[j].empty && w[j].v == x.v;
            if (dup) continue;
            x.count = 1 + (uint32_t)(rng_next(&r) % (round & 2 ? 3 : 50));
            if (with_empty && !empty_added && i >= n / 3) {
                empty_added = 1;
                w[nw] = (Want){1, 0, 2, seq++, 0};
                for (uint32_t c = 0; c < w[nw].count; c++) {
                    VocabVal v = vocab_val_empty();
                    T_CHECK(vocab_add(&m, &v, &e) == 0, "add");
                }
                nw++;
            }
            x.first = seq++;
            for (uint32_t c = 0; c < x.count; c++) {
                VocabVal v = vocab_val_inline((uint64_t)x.v);
                T_CHECK(vocab_add(&m, &v, &e) == 0, "add");
            }
            w[nw++] = x;
        }
        for (int j = 0; j < nw; j++) {
            uint8_t b[8];
            for (int q = 0; q < 8; q++) b[q] = (uint8_t)((uint64_t)w[j].v >> (8 * q));
            w[j].a = order == VOCAB_ORDER_FREQ    ? UINT64_MAX - w[j].count
                     : order == VOCAB_ORDER_FIRST ? w[j].first
                     : w[j].empty                 ? XXH64("", 0, seed)
                                                  : XXH64(b, 8, seed);
        }
        T_CHECK(empty_added == with_empty, "round %d: the empty value was not added", round);
        qsort(w, (size_t)nw, sizeof *w, cmp_want);
        T_CHECK(vocab_finalize(&m, order, 1, seed) == (uint32_t)nw + 1, "N_f");
        int bad = 0;
        for (int j = 0; j < nw; j++) {
            VocabVal v = w[j].empty ? vocab_val_empty() : vocab_val_inline((uint64_t)w[j].v);
            bad += vocab_id(&m, &v) != (uint32_t)j + 1;
        }
        T_CHECK(bad == 0, "order %s, %d values%s: %d ids out of order", VOCAB_ORDER_NAMES[order], nw,
                with_empty ? " and the empty value" : "", bad);
        vocab_free(&m);
        free(w);
    }
}

/* dataset.meta: a value with a newline, carriage return or backslash is written on one line (escaped)
 * and read back as it was; a duplicate key is refused with its FILE:LINE. */
static void test_meta_escape(void) {
    char path[] = "/tmp/test_prep_meta.XXXXXX";
    int fd = mkstemp(path);
    T_CHECK(fd >= 0, "mkstemp");
    if (fd < 0) return;
    close(fd);
    static const char *const vals[] = {"plain", "a\noracle_auc_test=0.99\nz=", "back\\slash\\n",
                                       "cr\rlf\r\n", "ends with \\", "\\\n\\", ""};
    int nv = (int)(sizeof vals / sizeof vals[0]);
    DsMeta m = {0};
    for (int i = 0; i < nv; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        ds_meta_set(&m, key, "%s", vals[i]);
    }
    /* a value longer than any fixed buffer: 1024 fields of 100-byte names */
    size_t big = 1024 * 101;
    char *long_val = malloc(big);
    memset(long_val, 'n', big - 1);
    long_val[big - 1] = 0;
    ds_meta_set(&m, "long", "%s", long_val);
    Err e = {{0}};
    T_CHECK(ds_meta_write(&m, path, &e) == 0, "write: %s", e.msg);
    ds_meta_free(&m);
    FILE *f = fopen(path, "r");
    int lines = 0, c;
    while (f && (c = fgetc(f)) != EOF) lines += c == '\n';
    if (f) fclose(f);
    T_CHECK(lines == nv + 1, "%d values written on %d lines", nv + 1, lines);
    DsMeta r;
    T_CHECK(ds_meta_read(&r, path, &e) == 0, "read: %s", e.msg);
    T_CHECK(r.n == nv + 1, "%d keys read back, want %d", r.n, nv + 1);
    for (int i = 0; i < nv; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        const char *v = ds_meta_get(&r, key);
        T_CHECK(v && !strcmp(v, vals[i]), "%s: read back '%s', wrote '%s'", key, v ? v : "(none)", vals[i]);
    }
    const char *lv = ds_meta_get(&r, "long");
    T_CHECK(lv && !strcmp(lv, long_val), "a %zu-byte value does not round-trip (%zu bytes)", big - 1,
            lv ? strlen(lv) : 0);
    ds_meta_free(&r);
    free(long_val);
    /* a duplicate key is refused, naming the file and both lines */
    f = fopen(path, "w");
    fputs("version=1\nfields=39\n# a comment\nfields=38\n", f);
    fclose(f);
    memset(&e, 0, sizeof e);
    T_CHECK(ds_meta_read(&r, path, &e) == -1, "a duplicate key accepted");
    char want[128];
    snprintf(want, sizeof want, "%s:4: duplicate key 'fields' (first at line 2)", path);
    T_CHECK(strstr(e.msg, want) != NULL, "message '%s', want '%s'", e.msg, want);
    unlink(path);
}

int main(void) {
    test_meta_escape();
    test_criteo_int();
    test_hex();
    test_hour();
    test_split();
    test_orders();
    test_orders_inline();
    test_big_map();
    return t_report("test_prep");
}
