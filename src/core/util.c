#include "core/util.h"

#include <dirent.h>
#include <stdio.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int err_set(Err *e, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void check_failed(const char *file, int line, const char *cond) {
    fprintf(stderr, "hashemb: internal error at %s:%d: CHECK(%s) failed\n", file, line, cond);
    fflush(stderr);
    abort();
}

void fatal_at(const char *file, int line, const char *fmt, ...) {
    int saved = errno;
    va_list ap;
    fprintf(stderr, "hashemb: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (saved) fprintf(stderr, ": %s", strerror(saved));
    fprintf(stderr, " (at %s:%d)\n", file, line);
    exit(1);
}

void *xmalloc_at(size_t n, const char *file, int line) {
    void *p = malloc(n ? n : 1);
    if (!p) fatal_at(file, line, "out of memory allocating %zu bytes", n);
    return p;
}

void *xcalloc_at(size_t n, size_t size, const char *file, int line) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) fatal_at(file, line, "out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

void *xrealloc_at(void *p, size_t n, const char *file, int line) {
    void *q = realloc(p, n ? n : 1);
    if (!q) fatal_at(file, line, "out of memory reallocating to %zu bytes", n);
    return q;
}

void *xaligned_at(size_t n, const char *file, int line) {
    void *p = NULL;
    size_t rounded = (n + 63) / 64 * 64;
    if (posix_memalign(&p, 64, rounded ? rounded : 64) != 0)
        fatal_at(file, line, "out of memory allocating %zu aligned bytes", n);
    return p;
}

void *xaligned_big_at(size_t n, const char *file, int line) {
    enum { HUGE = 2u << 20 };
    if (n < 4 * HUGE) return xaligned_at(n, file, line);
    static int use = -1;
    if (use < 0) {
        const char *v = getenv("HASHEMB_HUGEPAGES");
        use = !(v && !strcmp(v, "0"));
    }
    void *p = NULL;
    const size_t rounded = (n + HUGE - 1) / HUGE * HUGE;
    if (posix_memalign(&p, HUGE, rounded) != 0) fatal_at(file, line, "out of memory allocating %zu aligned bytes", n);
    if (use) (void)madvise(p, rounded, MADV_HUGEPAGE); /* a hint: refused or unsupported, 4 KiB pages */
    return p;
}

char *xstrdup_at(const char *s, const char *file, int line) {
    size_t n = strlen(s) + 1;
    char *p = xmalloc_at(n, file, line);
    memcpy(p, s, n);
    return p;
}

double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Only plain decimal numbers are numbers (SPEC 2): strtoll and strtod alone would also take leading
 * white space, hex ("0x10", "0x1p-3"), "inf" and "nan". An integer is an optional sign and digits; a
 * real adds an optional fraction and exponent: [+-]? (D+ (. D*)? | . D+) ([eE] [+-]? D+)?. */
static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int plain_integer(const char *s) {
    if (*s == '+' || *s == '-') s++;
    if (!is_digit(*s)) return 0;
    while (is_digit(*s)) s++;
    return *s == 0;
}

static int plain_real(const char *s) {
    if (*s == '+' || *s == '-') s++;
    int digits = 0;
    while (is_digit(*s)) s++, digits++;
    if (*s == '.') {
        s++;
        while (is_digit(*s)) s++, digits++;
    }
    if (!digits) return 0;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-') s++;
        if (!is_digit(*s)) return 0;
        while (is_digit(*s)) s++;
    }
    return *s == 0;
}

int parse_i64(const char *s, long long lo, long long hi, const char *what, long long *out, Err *e) {
    char *end;
    if (!s || !*s) return err_set(e, "%s: missing value", what);
    if (!plain_integer(s)) return err_set(e, "%s: '%s' is not a whole number", what, s);
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno == ERANGE)
        return err_set(e, "%s: '%s' is out of range [%lld, %lld]", what, s, lo, hi);
    if (v < lo || v > hi)
        return err_set(e, "%s: %lld is out of range [%lld, %lld]", what, v, lo, hi);
    *out = v;
    return 0;
}

int parse_f64(const char *s, double lo, double hi, const char *what, double *out, Err *e) {
    char *end;
    if (!s || !*s) return err_set(e, "%s: missing value", what);
    if (!plain_real(s)) return err_set(e, "%s: '%s' is not a number", what, s);
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno == ERANGE || !isfinite(v))
        return err_set(e, "%s: '%s' is out of range [%g, %g]", what, s, lo, hi);
    if (v < lo || v > hi) return err_set(e, "%s: %g is out of range [%g, %g]", what, v, lo, hi);
    *out = v;
    return 0;
}

static int split_list(const char *s, const char *what, char ***parts, int *n, Err *e) {
    if (!s || !*s) return err_set(e, "%s: missing value", what);
    int cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    char **v = xmalloc(sizeof *v * (size_t)cap);
    char *copy = xstrdup(s);
    int k = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) v[k++] = tok;
    if (k != cap) {
        free(copy);
        free(v);
        return err_set(e, "%s: '%s' has an empty item", what, s);
    }
    *parts = v;
    *n = k;
    return 0;
}

int parse_i64_list(const char *s, long long lo, long long hi, const char *what, long long **out,
                   int *n, Err *e) {
    char **parts;
    int k;
    if (split_list(s, what, &parts, &k, e)) return -1;
    long long *v = xmalloc(sizeof *v * (size_t)k);
    for (int i = 0; i < k; i++) {
        if (parse_i64(parts[i], lo, hi, what, &v[i], e)) {
            free(parts[0]);
            free(parts);
            free(v);
            return -1;
        }
    }
    free(parts[0]);
    free(parts);
    *out = v;
    *n = k;
    return 0;
}

int parse_f64_list(const char *s, double lo, double hi, const char *what, double **out, int *n,
                   Err *e) {
    char **parts;
    int k;
    if (split_list(s, what, &parts, &k, e)) return -1;
    double *v = xmalloc(sizeof *v * (size_t)k);
    for (int i = 0; i < k; i++) {
        if (parse_f64(parts[i], lo, hi, what, &v[i], e)) {
            free(parts[0]);
            free(parts);
            free(v);
            return -1;
        }
    }
    free(parts[0]);
    free(parts);
    *out = v;
    *n = k;
    return 0;
}

int parse_name(const char *value, const char *const *names, int n, const char *what, int *out, Err *e) {
    for (int i = 0; i < n; i++)
        if (!strcmp(value, names[i])) {
            *out = i;
            return 0;
        }
    char list[256];
    names_join(list, sizeof list, names, n, -1);
    return err_set(e, "%s: '%s' is not one of %s", what, value, list);
}

void names_join(char *buf, size_t size, const char *const *names, int n, int skip) {
    buf[0] = 0;
    for (int i = 0; i < n; i++) {
        if (i == skip) continue;
        if (buf[0]) strncat(buf, "|", size - strlen(buf) - 1);
        strncat(buf, names[i], size - strlen(buf) - 1);
    }
}

int rm_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode)) return unlink(path);
    DIR *d = opendir(path);
    if (!d) return -1;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        size_t n = strlen(path) + strlen(de->d_name) + 2;
        char *sub = xmalloc(n);
        snprintf(sub, n, "%s/%s", path, de->d_name);
        rc |= rm_tree(sub);
        free(sub);
    }
    closedir(d);
    return rc | rmdir(path);
}

int path_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* --- temporary outputs: named per host and process, removed when a signal ends the process ---
 *
 * How the handler stays async-signal-safe: the paths to remove are copied to the heap *before* they are
 * published (an atomic count), and the handler only reads them and calls unlink, rmdir, sigaction,
 * sigprocmask and raise, all async-signal-safe. It does not set a flag for the work loops to poll:
 * prep and gen spend their time in many places (parsing, sorting, posix_fallocate, OpenMP loops,
 * compression) and each would need a check; removing the files from the handler works wherever the
 * signal lands, in whichever thread. A small state machine (lock-free C11 atomics) keeps the handler
 * off the list while the main thread changes it or renames outputs into place: then a signal is only
 * recorded, and acted on when the main thread lets go (tmp_guard_release). After removing the files the
 * handler restores the default action and raises the signal again, so the process ends as killed by it
 * (exit status 128 + N in a shell). A signal that was ignored when the guard was installed stays
 * ignored (nohup, background jobs of a shell without job control). */

#include <signal.h>
#include <stdatomic.h>

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the signal handler needs lock-free atomic ints");

enum { TG_FREE, TG_HELD, TG_DYING };
#define TG_MAX 16
static char *tg_path[TG_MAX];   /* removed in reverse order: files, then the directory holding them */
static atomic_int tg_n;
static atomic_int tg_state;
static atomic_int tg_pending; /* another thread may take the signal: an atomic, not a sig_atomic_t */
static int tg_depth, tg_installed;
static const int TG_SIGNALS[] = {SIGINT, SIGTERM, SIGHUP};

static void tg_die(int sig) {
    int n = atomic_load(&tg_n);
    for (int i = n - 1; i >= 0; i--)
        if (unlink(tg_path[i]) != 0) rmdir(tg_path[i]);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
    _exit(128 + sig); /* not reached */
}

/* Waits for another thread that is ending the process. */
static void tg_wait_forever(void) {
    for (;;) pause();
}

static void tg_handler(int sig) {
    int saved = errno;
    for (;;) {
        int st = TG_FREE;
        if (atomic_compare_exchange_strong(&tg_state, &st, TG_DYING)) tg_die(sig);
        if (st == TG_DYING) tg_wait_forever();
        atomic_store(&tg_pending, sig); /* held: tmp_guard_release acts on it */
        if (atomic_load(&tg_state) == TG_HELD) break;
        /* released meanwhile, perhaps before it saw tg_pending: try again to act on it here */
    }
    errno = saved;
}

static void tg_install(void) {
    if (tg_installed) return;
    tg_installed = 1;
    for (size_t i = 0; i < sizeof TG_SIGNALS / sizeof TG_SIGNALS[0]; i++) {
        struct sigaction old, sa;
        if (sigaction(TG_SIGNALS[i], NULL, &old) != 0 || old.sa_handler == SIG_IGN) continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = tg_handler;
        sigemptyset(&sa.sa_mask);
        for (size_t j = 0; j < sizeof TG_SIGNALS / sizeof TG_SIGNALS[0]; j++)
            sigaddset(&sa.sa_mask, TG_SIGNALS[j]);
        sa.sa_flags = SA_RESTART;
        sigaction(TG_SIGNALS[i], &sa, NULL);
    }
}

void tmp_guard_hold(void) {
    tg_install();
    if (tg_depth++) return;
    int st = TG_FREE;
    if (!atomic_compare_exchange_strong(&tg_state, &st, TG_HELD)) {
        CHECK(st == TG_DYING); /* hold and release pair up, on the main thread only */
        tg_wait_forever();
    }
}

void tmp_guard_release(void) {
    CHECK(tg_depth > 0);
    if (--tg_depth) return;
    atomic_store(&tg_state, TG_FREE);
    int sig = atomic_load(&tg_pending);
    if (sig) {
        int st = TG_FREE;
        if (atomic_compare_exchange_strong(&tg_state, &st, TG_DYING)) tg_die(sig);
        tg_wait_forever();
    }
}

void tmp_guard_add(const char *path) {
    tmp_guard_hold();
    int n = atomic_load(&tg_n);
    CHECK(n < TG_MAX);
    tg_path[n] = xstrdup(path);
    atomic_store(&tg_n, n + 1);
    tmp_guard_release();
}

void tmp_guard_remove(const char *path) {
    tmp_guard_hold();
    int n = atomic_load(&tg_n);
    for (int i = n - 1; i >= 0; i--)
        if (!strcmp(tg_path[i], path)) {
            free(tg_path[i]);
            memmove(&tg_path[i], &tg_path[i + 1], sizeof *tg_path * (size_t)(n - 1 - i));
            atomic_store(&tg_n, --n);
            break;
        }
    tmp_guard_release();
}

/* This host's name as it goes into a file name: [A-Za-z0-9.-] kept, anything else '_'. */
static const char *host_tag(void) {
    static char host[256];
    if (!host[0]) {
        char h[256] = "";
        if (gethostname(h, sizeof h - 1) != 0 || !h[0]) snprintf(h, sizeof h, "localhost");
        h[sizeof h - 1] = 0;
        for (char *p = h; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || is_digit(*p) || *p == '.' ||
                  *p == '-'))
                *p = '_';
        memcpy(host, h, sizeof host);
    }
    return host;
}

char *tmp_sibling(const char *target, const char *kind) {
    size_t n = strlen(target) + strlen(kind) + strlen(host_tag()) + 32;
    char *t = xmalloc(n);
    snprintf(t, n, "%s.%s.%s.%d", target, kind, host_tag(), (int)getpid());
    return t;
}

int tmp_sweep_stale(const char *target) {
    const char *slash = strrchr(target, '/');
    char *dir = slash ? xstrdup(target) : xstrdup(".");
    if (slash) dir[slash == target ? 1 : slash - target] = 0;
    const char *base = slash ? slash + 1 : target;
    size_t plen = strlen(base) + strlen(host_tag()) + 8;
    char *prefix = xmalloc(plen);
    snprintf(prefix, plen, "%s.tmp.%s.", base, host_tag());
    size_t pl = strlen(prefix);
    int removed = 0;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            const char *p = de->d_name;
            if (strncmp(p, prefix, pl)) continue;
            p += pl;
            size_t k = strlen(p);
            if (k == 0 || k > 9 || strspn(p, "0123456789") != k) continue;
            long pid = strtol(p, NULL, 10);
            /* alive (or another user's: EPERM) or this process: kept */
            if (pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
                continue;
            size_t n = strlen(dir) + strlen(de->d_name) + 2;
            char *path = xmalloc(n);
            snprintf(path, n, "%s/%s", dir, de->d_name);
            if (rm_tree(path) == 0) removed++;
            free(path);
        }
        closedir(d);
    }
    free(prefix);
    free(dir);
    return removed;
}

uint64_t peak_rss_bytes(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)ru.ru_maxrss * 1024u;
}

/* --- sha256 (FIPS 180-4), for recording the source files of a dataset --- */

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

/* The same compression with the SHA extensions (8-10x faster: prep hashes multi-GB inputs). State
 * kept as ABEF/CDGH as the sha256rnds2 instruction wants it; the schedule runs four words at a time. */
__attribute__((target("sha,sse4.1,ssse3"))) static void sha256_block_ni(uint32_t h[8], const uint8_t *p) {
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bll, 0x0405060700010203ll);
    __m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[0]), 0xb1); /* CDAB */
    __m128i st1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[4]), 0x1b); /* EFGH */
    __m128i st0 = _mm_alignr_epi8(tmp, st1, 8);                                     /* ABEF */
    st1 = _mm_blend_epi16(st1, tmp, 0xf0);                                          /* CDGH */
    __m128i abef = st0, cdgh = st1, m[4];
    for (int g = 0; g < 16; g++) {
        __m128i w;
        if (g < 4) {
            w = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * g)), bswap);
        } else {
            /* W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16], for t = 4g .. 4g+3 */
            w = _mm_sha256msg1_epu32(m[g & 3], m[(g + 1) & 3]);
            w = _mm_add_epi32(w, _mm_alignr_epi8(m[(g + 3) & 3], m[(g + 2) & 3], 4));
            w = _mm_sha256msg2_epu32(w, m[(g + 3) & 3]);
        }
        m[g & 3] = w;
        __m128i k = _mm_add_epi32(w, _mm_loadu_si128((const __m128i *)&K256[4 * g]));
        st1 = _mm_sha256rnds2_epu32(st1, st0, k);
        st0 = _mm_sha256rnds2_epu32(st0, st1, _mm_shuffle_epi32(k, 0x0e));
    }
    st0 = _mm_add_epi32(st0, abef);
    st1 = _mm_add_epi32(st1, cdgh);
    tmp = _mm_shuffle_epi32(st0, 0x1b);  /* FEBA */
    st1 = _mm_shuffle_epi32(st1, 0xb1);  /* DCHG */
    st0 = _mm_blend_epi16(tmp, st1, 0xf0); /* DCBA */
    st1 = _mm_alignr_epi8(st1, tmp, 8);  /* HGFE */
    _mm_storeu_si128((__m128i *)&h[0], st0);
    _mm_storeu_si128((__m128i *)&h[4], st1);
}

static int have_sha_ni(void) {
    static int known = -1;
    if (known < 0) {
        unsigned a, b, c, d;
        int sse41 = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_1) && (c & bit_SSSE3);
        int sha = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29));
        known = sse41 && sha;
    }
    return known;
}
#endif

static void sha256_block_ref(Sha256 *s, const uint8_t *p);

static void sha256_block(Sha256 *s, const uint8_t *p) {
#if defined(__x86_64__)
    if (have_sha_ni()) {
        sha256_block_ni(s->h, p);
        return;
    }
#endif
    sha256_block_ref(s, p);
}

static void sha256_block_ref(Sha256 *s, const uint8_t *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
               p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4], f = s->h[5],
             g = s->h[6], h = s->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    s->h[0] += a;
    s->h[1] += b;
    s->h[2] += c;
    s->h[3] += d;
    s->h[4] += e;
    s->h[5] += f;
    s->h[6] += g;
    s->h[7] += h;
}

void sha256_init(Sha256 *s) {
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, h0, sizeof h0);
    s->len = 0;
    s->fill = 0;
}

void sha256_update(Sha256 *s, const void *data, size_t n) {
    const uint8_t *p = data;
    s->len += n;
    while (n) {
        if (s->fill == 0 && n >= 64) {
            sha256_block(s, p);
            p += 64;
            n -= 64;
            continue;
        }
        size_t k = 64 - s->fill < n ? 64 - s->fill : n;
        memcpy(s->buf + s->fill, p, k);
        s->fill += k;
        p += k;
        n -= k;
        if (s->fill == 64) {
            sha256_block(s, s->buf);
            s->fill = 0;
        }
    }
}

void sha256_final(Sha256 *s, char hex[65]) {
    uint64_t bits = s->len * 8;
    uint8_t pad = 0x80, zero = 0, lenb[8];
    sha256_update(s, &pad, 1);
    while (s->fill != 56) sha256_update(s, &zero, 1);
    for (int i = 0; i < 8; i++) lenb[i] = (uint8_t)(bits >> (56 - 8 * i));
    sha256_update(s, lenb, 8);
    for (int i = 0; i < 8; i++) snprintf(hex + 8 * i, 9, "%08x", s->h[i]);
}

void sha256_buf(const void *data, size_t n, char hex[65]) {
    Sha256 s;
    sha256_init(&s);
    sha256_update(&s, data, n);
    sha256_final(&s, hex);
}

int sha256_file(const char *path, char hex[65], Err *e) {
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(e, "%s: cannot open: %s", path, strerror(errno));
    Sha256 s;
    sha256_init(&s);
    static __thread uint8_t buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) sha256_update(&s, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) return err_set(e, "%s: read error", path);
    sha256_final(&s, hex);
    return 0;
}

int kv_read(const char *path, const char *noun, const char *expect, KvLineFn fn, void *ctx, Err *e) {
    const char *sp = noun ? " " : "", *nn = noun ? noun : "";
    /* O_NONBLOCK: a FIFO must not wait for a writer */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return err_set(e, "%s: cannot open%s%s: %s", path, sp, nn, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int er = errno;
        close(fd);
        return err_set(e, "%s: cannot stat: %s", path, strerror(er));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(e, "%s: not a regular file", path);
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        int er = errno;
        close(fd);
        return err_set(e, "%s: cannot open%s%s: %s", path, sp, nn, strerror(er));
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0, rc = 0;
    while (!rc && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (n == 0 || line[0] == '#') continue;
        char *eq = strchr(line, '=');
        if (!eq)
            rc = err_set(e, "%s:%d: expected %s", path, lineno, expect);
        else if (eq == line)
            rc = err_set(e, "%s:%d: empty key", path, lineno);
        else {
            *eq = 0;
            rc = fn(ctx, line, eq + 1, path, lineno, e);
        }
    }
    if (!rc && ferror(f)) rc = err_set(e, "%s: cannot read: %s", path, strerror(errno));
    free(line);
    fclose(f);
    return rc;
}
