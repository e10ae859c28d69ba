/* Unit tests of util's number parsers: only plain decimal numbers are numbers (SPEC 2: "numbers that do
 * not parse completely ... give a one-line reason"), so a flag never takes a hex float, a padded value,
 * inf or nan for a number. And of the temporary outputs: removed by a signal (also one that arrives
 * while the guard is held), named per host and process, and swept only when their process is dead.
 * And the one radix sort (core/radix.h) against qsort, stable, on keys whose high digits are constant. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdlib.h>

#include "core/radix.h"
#include "testing.h"
#include "core/util.h"

static void test_parse_i64(void) {
    static const struct {
        const char *s;
        long long want;
    } ok[] = {{"0", 0},   {"7", 7},     {"-7", -7},   {"+7", 7},    {"0012", 12},
              {"1099511627776", 1ll << 40}, {"-9223372036854775808", INT64_MIN},
              {"9223372036854775807", INT64_MAX}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        long long v = -99;
        Err e = {{0}};
        int rc = parse_i64(ok[i].s, INT64_MIN, INT64_MAX, "--n", &v, &e);
        T_CHECK(rc == 0 && v == ok[i].want, "'%s' -> rc %d, %lld (%s)", ok[i].s, rc, v, e.msg);
    }
    static const char *no[] = {"",     " 3",   "3 ",   "\t3",  "3\n", "0x10", "0X10", "1e3",  "3.0",
                               "3.",   "+",    "-",    "--3",  "+-3", "3a",   "a3",   "0b1",  "inf",
                               "nan",  "1,2",  " ",    "9223372036854775808", "-9223372036854775809",
                               "\xef\xbc\x93" /* fullwidth 3 */};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        long long v = -99;
        Err e = {{0}};
        int rc = parse_i64(no[i], INT64_MIN, INT64_MAX, "--n", &v, &e);
        T_CHECK(rc == -1 && v == -99, "'%s' accepted as %lld", no[i], v);
        T_CHECK(rc == 0 || strstr(e.msg, "--n") != NULL, "'%s': the message names the flag: %s", no[i],
                e.msg);
    }
    long long v;
    Err e;
    T_CHECK(parse_i64("11", 1, 10, "--n", &v, &e) == -1 && strstr(e.msg, "out of range"),
            "range: %s", e.msg);
    T_CHECK(parse_i64(NULL, 1, 10, "--n", &v, &e) == -1, "NULL");
}

static void test_parse_f64(void) {
    static const struct {
        const char *s;
        double want;
    } ok[] = {{"0", 0},         {"3", 3},       {"-3", -3},     {"+3", 3},     {"3.25", 3.25},
              {"3.", 3},        {".5", 0.5},    {"-.5", -0.5},  {"1e-3", 1e-3}, {"1E3", 1e3},
              {"2.5e+2", 250},  {"1e308", 1e308}, {"007.5", 7.5}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        double v = -99;
        Err e = {{0}};
        int rc = parse_f64(ok[i].s, -INFINITY, INFINITY, "--x", &v, &e);
        T_CHECK(rc == 0 && v == ok[i].want, "'%s' -> rc %d, %g (%s)", ok[i].s, rc, v, e.msg);
    }
    static const char *no[] = {"",      " 3",    "3 ",     "\t3",   "3\n",   "0x10",   "0x1p-3",
                               "0X1P3", "inf",   "-inf",   "INF",   "infinity", "nan", "NaN",
                               "nan(1)", ".",    "-.",     "e3",    ".e3",   "1e",     "1e+",
                               "1.2.3", "1e3.5", "3a",     "1,5",   "1e400", "--1",    "+-1",
                               "1_000"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        double v = -99;
        Err e = {{0}};
        int rc = parse_f64(no[i], -INFINITY, INFINITY, "--x", &v, &e);
        T_CHECK(rc == -1 && v == -99, "'%s' accepted as %g", no[i], v);
        T_CHECK(rc == 0 || strstr(e.msg, "--x") != NULL, "'%s': the message names the flag: %s", no[i],
                e.msg);
    }
    double v;
    Err e;
    T_CHECK(parse_f64("2", 0, 1, "--x", &v, &e) == -1 && strstr(e.msg, "out of range"), "range: %s",
            e.msg);
}

static void test_lists(void) {
    long long *v = NULL;
    int n = 0;
    Err e;
    T_CHECK(parse_i64_list("1,2,3", 0, 10, "--l", &v, &n, &e) == 0 && n == 3 && v[2] == 3, "1,2,3");
    free(v);
    static const char *no[] = {"1, 2", "1,0x2", ",1", "1,", "1,,2", " 1,2"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        v = NULL;
        T_CHECK(parse_i64_list(no[i], 0, 10, "--l", &v, &n, &e) == -1 && v == NULL, "'%s' accepted",
                no[i]);
    }
    double *w = NULL;
    T_CHECK(parse_f64_list("0.8,0.1,0.1", 0, 1, "--split", &w, &n, &e) == 0 && n == 3 && w[0] == 0.8,
            "0.8,0.1,0.1");
    free(w);
    w = NULL;
    T_CHECK(parse_f64_list("0.8,0x1p-3,0.1", 0, 1, "--split", &w, &n, &e) == -1 && w == NULL,
            "a hex float in a list");
}

/* --- temporary outputs and signals --- */

static int exists(const char *p) {
    struct stat st;
    return lstat(p, &st) == 0;
}

/* A child guards dir and dir/f, then does `what`; returns its wait status. */
static int child(const char *dir, const char *f, int what) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        /* at their defaults, whatever this test inherited (started in the background or under nohup,
         * SIGINT and SIGHUP come ignored, and the guard leaves ignored signals alone) */
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        tmp_guard_add(dir);
        tmp_guard_add(f);
        mkdir(dir, 0755);
        FILE *fp = fopen(f, "w");
        if (fp) fclose(fp);
        if (what == 0) raise(SIGTERM); /* plain: cleaned and killed */
        if (what == 1) {               /* held: the signal waits for the release */
            tmp_guard_hold();
            raise(SIGINT);
            if (!exists(f)) _exit(3); /* nothing removed while held */
            tmp_guard_release();
            _exit(4); /* not reached: the release acts on the signal */
        }
        if (what == 2) { /* removed from the guard (renamed into place): kept */
            tmp_guard_remove(f);
            tmp_guard_remove(dir);
            raise(SIGTERM);
        }
        _exit(5);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

static void test_guard(void) {
    char dir[] = "/tmp/test_util_guard.XXXXXX";
    T_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    rmdir(dir);
    char f[64];
    snprintf(f, sizeof f, "%s/train.bin", dir);
    int st = child(dir, f, 0);
    T_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "SIGTERM: status %#x", st);
    T_CHECK(!exists(f) && !exists(dir), "SIGTERM left %s", exists(f) ? f : dir);
    st = child(dir, f, 1);
    T_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGINT, "SIGINT while held: status %#x (exit 3: removed while "
            "held; 4: the release ignored it)", st);
    T_CHECK(!exists(f) && !exists(dir), "SIGINT after the release left %s", exists(f) ? f : dir);
    st = child(dir, f, 2);
    T_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "unguarded: status %#x", st);
    T_CHECK(exists(f) && exists(dir), "a path no longer guarded was removed");
    unlink(f);
    rmdir(dir);
}

static void test_stale(void) {
    char base[] = "/tmp/test_util_stale.XXXXXX";
    T_CHECK(mkdtemp(base) != NULL, "mkdtemp");
    char out[128], host[256] = "", p[1024];
    snprintf(out, sizeof out, "%s/ds", base);
    char *mine = tmp_sibling(out, "tmp");
    char want[1024];
    gethostname(host, sizeof host - 1);
    snprintf(want, sizeof want, "%s.tmp.%s.%d", out, host, (int)getpid());
    T_CHECK(!strcmp(mine, want), "tmp_sibling: %s, want %s", mine, want);
    mkdir(mine, 0755); /* this process's: kept */
    const char *dead = "99999999"; /* above any pid_max */
    snprintf(p, sizeof p, "%s.tmp.%s.%s", out, host, dead);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s.tmp.%s.%s/train.bin", out, host, dead);
    FILE *fp = fopen(p, "w");
    if (fp) fclose(fp);
    snprintf(p, sizeof p, "%s.tmp.other%s.%s", out, host, dead); /* another host's */
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s.tmp.%s.1", out, host); /* init: alive */
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s.tmp.%s.12x", out, host); /* not a pid */
    mkdir(p, 0755);
    T_CHECK(tmp_sweep_stale(out) == 1, "one stale directory removed");
    snprintf(p, sizeof p, "%s.tmp.%s.%s", out, host, dead);
    T_CHECK(!exists(p), "the dead process's temporary is left");
    T_CHECK(exists(mine), "this process's temporary was removed");
    snprintf(p, sizeof p, "%s.tmp.other%s.%s", out, host, dead);
    T_CHECK(exists(p), "another host's temporary was removed");
    snprintf(p, sizeof p, "%s.tmp.%s.1", out, host);
    T_CHECK(exists(p), "a live process's temporary was removed");
    free(mine);
    rm_tree(base);
}

typedef struct {
    uint64_t key; /* sorted by its low 40 bits only */
    uint32_t seq; /* position before sorting: equal keys must keep this order */
} KeyRec;
#define KEY40(r, d) RADIX_BYTE((r).key & 0xffffffffffull, (d))
RADIX_SORT_DEFINE(sort_rec40, KeyRec, 5, 8, KEY40)
RADIX_SORT_DEFINE(sort_u32_d11, uint32_t, 3, 11, RADIX_D11)

static int cmp_rec40(const void *pa, const void *pb) {
    const KeyRec *a = pa, *b = pb;
    uint64_t ka = a->key & 0xffffffffffull, kb = b->key & 0xffffffffffull;
    if (ka != kb) return ka < kb ? -1 : 1;
    return (a->seq > b->seq) - (a->seq < b->seq); /* the stable order */
}

static int cmp_u32(const void *pa, const void *pb) {
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
    return (a > b) - (a < b);
}

static void test_radix(void) {
    uint64_t s = 12345;
    for (size_t n = 0; n <= 5000; n = n ? n * 7 : 1) {
        for (int shape = 0; shape < 3; shape++) {
            /* 0: all 40 bits random; 1: few distinct keys (ties, constant high bytes skipped); 2: one key */
            KeyRec *a = xmalloc((n + 1) * sizeof *a), *tmp = xmalloc((n + 1) * sizeof *tmp),
                   *want = xmalloc((n + 1) * sizeof *want);
            uint32_t *u = xmalloc((n + 1) * sizeof *u), *ut = xmalloc((n + 1) * sizeof *ut),
                     *uw = xmalloc((n + 1) * sizeof *uw);
            for (size_t i = 0; i < n; i++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                uint64_t k = shape == 0 ? s : shape == 1 ? (s >> 60) << 9 : 77;
                a[i] = (KeyRec){k | (s & 0xffffff0000000000ull), (uint32_t)i}; /* bits above 40 ignored */
                u[i] = (uint32_t)(shape == 1 ? (s >> 61) << 20 : s >> 32);
            }
            memcpy(want, a, n * sizeof *a);
            qsort(want, n, sizeof *want, cmp_rec40);
            const KeyRec *got = sort_rec40(a, tmp, n);
            int ok = 1;
            for (size_t i = 0; i < n; i++) ok &= got[i].seq == want[i].seq;
            T_CHECK(ok, "radix: %zu records, shape %d: sorted and stable", n, shape);
            memcpy(uw, u, n * sizeof *u);
            qsort(uw, n, sizeof *uw, cmp_u32);
            const uint32_t *ug = sort_u32_d11(u, ut, n);
            T_CHECK(n == 0 || !memcmp(ug, uw, n * sizeof *u), "radix: %zu u32 keys, 11-bit digits, shape %d", n,
                    shape);
            free(a), free(tmp), free(want), free(u), free(ut), free(uw);
        }
    }
}

int main(void) {
    test_radix();
    test_guard();
    test_stale();
    test_parse_i64();
    test_parse_f64();
    test_lists();
    return t_report("test_util");
}
