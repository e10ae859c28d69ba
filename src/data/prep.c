#include "data/prep.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zlib.h>

#include "cli/cmd.h"

const char *const PREP_FORMAT_NAMES[PREP_NFORMATS] = {"criteo", "avazu", "libfm", "csv"};

#define READ_BLOCK (8u << 20) /* bytes per read(): large, so the parse runs over whole blocks */
#define MAX_SKIP_WARN 10      /* skipped lines reported one by one; the rest only counted */

/* ------------------------------------------------------------------------------------------------ */
/* The parsing pieces                                                                                 */

/* floor(ln(x)^2) for the small x that make up most of Criteo's integer cells */
#define LOG2_TABLE 4096
static int16_t LOGSQ[LOG2_TABLE];
static int logsq_ready;

static void tables_init(void) {
    if (logsq_ready) return;
    for (int x = 0; x < LOG2_TABLE; x++) {
        double l = log((double)x);
        LOGSQ[x] = x <= 2 ? (int16_t)x : (int16_t)floor(l * l);
    }
    logsq_ready = 1;
}

int64_t prep_criteo_transform(int64_t x) {
    if (x <= 2) return x;
    if (x < LOG2_TABLE && logsq_ready) return LOGSQ[x];
    double l = log((double)x);
    return (int64_t)floor(l * l);
}

int prep_criteo_int(const char *p, size_t n, int64_t *out) {
    size_t i = 0;
    int neg = 0;
    if (n && (p[0] == '-' || p[0] == '+')) {
        neg = p[0] == '-';
        i = 1;
    }
    if (i == n || n - i > 18) return -1; /* 18 digits cannot overflow an int64 */
    int64_t x = 0;
    for (; i < n; i++) {
        unsigned d = (unsigned)(unsigned char)p[i] - '0';
        if (d > 9) return -1;
        x = x * 10 + d;
    }
    *out = prep_criteo_transform(neg ? -x : x);
    return 0;
}

/* Eight chars at once (SWAR): every byte must be '0'-'9' or 'a'-'f'; the nibbles are then packed with
 * the first char most significant, as strtoul would read them. */
int prep_hex8(const char *p, uint32_t *out) {
    uint64_t x;
    memcpy(&x, p, 8);
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    if (x & high) return 0;
    /* adding 0x80 - c sets a byte's high bit exactly when the byte is >= c (no carries: bytes < 0x80) */
    uint64_t ge0 = x + ones * (0x80 - '0'), gt9 = x + ones * (0x80 - '9' - 1);
    uint64_t gea = x + ones * (0x80 - 'a'), gtf = x + ones * (0x80 - 'f' - 1);
    uint64_t ok = ((ge0 & ~gt9) | (gea & ~gtf)) & high;
    if (ok != high) return 0;
    uint64_t v = (x & ones * 0x0f) + ((x & ones * 0x40) >> 6) * 9; /* letters have bit 6 set */
    v = __builtin_bswap64(v); /* the first char's nibble in the top byte (little-endian load) */
    v = (v | v >> 4) & 0x00ff00ff00ff00ffull;
    v = (v | v >> 8) & 0x0000ffff0000ffffull;
    v = (v | v >> 16) & 0x00000000ffffffffull;
    *out = (uint32_t)v;
    return 1;
}

#define DEC_TAG (1ull << 40)

VocabVal prep_cat_value(const char *p, size_t n) {
    if (n == 0) return vocab_val_empty();
    uint32_t x;
    if (n == 8 && prep_hex8(p, &x)) return vocab_val_inline(x);
    if (n <= 9 && (p[0] != '0' || n == 1)) {
        uint64_t v = 0;
        size_t i = 0;
        for (; i < n; i++) {
            unsigned d = (unsigned)(unsigned char)p[i] - '0';
            if (d > 9) break;
            v = v * 10 + d;
        }
        if (i == n) return vocab_val_inline(DEC_TAG | v);
    }
    return vocab_val_str(p, (uint32_t)(n > VOCAB_MAX_STR ? VOCAB_MAX_STR + 1 : n));
}

static int is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int prep_avazu_hour(const char *p, size_t n, int *hour, int *weekday, int *weekend) {
    if (n != 8) return -1;
    int d[8];
    for (int i = 0; i < 8; i++) {
        d[i] = p[i] - '0';
        if (d[i] < 0 || d[i] > 9) return -1;
    }
    int y = 2000 + d[0] * 10 + d[1], m = d[2] * 10 + d[3], day = d[4] * 10 + d[5], h = d[6] * 10 + d[7];
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || h > 23 || day < 1) return -1;
    if (day > dim[m - 1] + (m == 2 && is_leap(y))) return -1;
    /* days since 1970-01-01 (a Thursday), by the civil-from-days algorithm's inverse */
    int yy = y - (m <= 2), era = yy / 400, yoe = yy - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    long doe = (long)yoe * 365 + yoe / 4 - yoe / 100 + doy;
    long days = (long)era * 146097 + doe - 719468;
    int wd = (int)(((days + 3) % 7 + 7) % 7); /* Monday = 0 */
    *hour = h;
    *weekday = wd;
    *weekend = wd >= 5;
    return 0;
}

int prep_split_of(uint64_t line, uint64_t seed, const double frac[DS_NSPLITS]) {
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(line >> (8 * i));
    double u = (double)(XXH64(b, 8, seed) >> 11) * 0x1.0p-53;
    double c = 0;
    int last = DS_TRAIN;
    for (int s = 0; s < DS_NSPLITS; s++) {
        if (frac[s] <= 0) continue;
        last = s;
        c += frac[s];
        if (u < c) return s;
    }
    return last; /* rounding left u just above the sum */
}

/* ------------------------------------------------------------------------------------------------ */
/* Reading lines from a plain or gzip file in large blocks                                            */

typedef struct {
    const char *path;
    int fd;
    gzFile gz;
    char *buf;
    size_t cap, pos, end;
    int eof;
    uint64_t line;  // 1-based number of the line last returned
    uint64_t bytes; // text bytes read (after decompression)
    Sha256 *sha;    // plain files: when set, every byte read is hashed into it
} Reader;

static int reader_open(Reader *r, const char *path, Err *e) {
    memset(r, 0, sizeof *r);
    r->path = path;
    r->fd = open(path, O_RDONLY);
    if (r->fd < 0) return err_set(e, "%s: cannot open: %s", path, strerror(errno));
    unsigned char magic[2];
    ssize_t k = pread(r->fd, magic, 2, 0);
    if (k < 0) {
        err_set(e, "%s: cannot read: %s", path, strerror(errno));
        close(r->fd);
        return -1;
    }
    if (k == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        r->gz = gzdopen(r->fd, "rb");
        if (!r->gz) {
            close(r->fd);
            return err_set(e, "%s: cannot open as gzip", path);
        }
        gzbuffer(r->gz, 1u << 20);
    }
    r->cap = READ_BLOCK;
    r->buf = xmalloc(r->cap);
    return 0;
}

static void reader_close(Reader *r) {
    if (r->gz)
        gzclose(r->gz); /* closes the descriptor too */
    else if (r->fd >= 0)
        close(r->fd);
    free(r->buf);
    memset(r, 0, sizeof *r);
    r->fd = -1;
}

static int reader_fill(Reader *r, Err *e) {
    size_t room = r->cap - r->end;
    if (r->gz) {
        int n = gzread(r->gz, r->buf + r->end, (unsigned)(room > (1u << 30) ? 1u << 30 : room));
        int zerr = Z_OK;
        const char *msg = gzerror(r->gz, &zerr);
        if (n < 0 || (zerr != Z_OK && zerr != Z_BUF_ERROR)) {
            const char *colon = msg && msg[0] == '<' ? strstr(msg, ">: ") : NULL;
            return err_set(e, "%s: unreadable gzip data: %s", r->path, colon ? colon + 3 : msg);
        }
        if (n == 0) {
            /* zlib reports a stream cut short only as Z_BUF_ERROR at the end, and still returns what it
             * could decompress: without this check a truncated download would pass as a short file */
            if (zerr == Z_BUF_ERROR)
                return err_set(e, "%s: truncated gzip file (the compressed stream ends early, after %llu"
                                  " bytes of text)",
                               r->path, (unsigned long long)r->bytes);
            r->eof = 1;
        }
        r->end += (size_t)n;
        r->bytes += (uint64_t)n;
    } else {
        ssize_t n;
        do n = read(r->fd, r->buf + r->end, room);
        while (n < 0 && errno == EINTR);
        if (n < 0) return err_set(e, "%s: cannot read: %s", r->path, strerror(errno));
        if (n == 0) r->eof = 1;
        if (r->sha) sha256_update(r->sha, r->buf + r->end, (size_t)n);
        r->end += (size_t)n;
        r->bytes += (uint64_t)n;
    }
    return 0;
}

/* 1 and the next line (without its \n or \r\n; valid until the buffer moves), 0 at the end, -1 on
 * error. With fill == 0 it returns 2 instead of moving the buffer to read more, so that the caller can
 * first finish with the values that point into it. */
static int reader_next(Reader *r, const char **line, size_t *len, int fill, Err *e) {
    for (;;) {
        char *s = r->buf + r->pos;
        char *nl = memchr(s, '\n', r->end - r->pos);
        if (nl || (r->eof && r->pos < r->end)) {
            size_t n = nl ? (size_t)(nl - s) : r->end - r->pos;
            r->pos += n + (nl != NULL);
            if (n && s[n - 1] == '\r') n--;
            *line = s;
            *len = n;
            r->line++;
            return 1;
        }
        if (r->eof) return 0;
        if (!fill) return 2;
        /* keep the partial line, move it to the front, and read more behind it */
        memmove(r->buf, r->buf + r->pos, r->end - r->pos);
        r->end -= r->pos;
        r->pos = 0;
        if (r->end == r->cap) {
            r->cap *= 2;
            r->buf = xrealloc(r->buf, r->cap);
        }
        if (reader_fill(r, e)) return -1;
    }
}

/* ------------------------------------------------------------------------------------------------ */
/* Formats                                                                                            */

#define CRITEO_INTS 13
#define CRITEO_CATS 26
#define CRITEO_COLS 40

static const char *const AVAZU_COLS[] = {
    "id",          "click",          "hour",         "C1",         "banner_pos",   "site_id",
    "site_domain", "site_category",  "app_id",       "app_domain", "app_category", "device_id",
    "device_ip",   "device_model",   "device_type",  "device_conn_type", "C14",    "C15",
    "C16",         "C17",            "C18",          "C19",        "C20",          "C21"};
#define AVAZU_NCOLS ((int)(sizeof AVAZU_COLS / sizeof AVAZU_COLS[0]))
#define AVAZU_FIELDS (AVAZU_NCOLS - 3 + 3) /* id, click and hour go; hour gives three */
_Static_assert(AVAZU_NCOLS == 24, "Avazu has 24 columns");

/* A column of a split line. */
typedef struct {
    const char *p;
    size_t n;
} Col;

/* The csv schema file: label=, cat=, sep= lines. */
typedef struct {
    char sep;
    char *label;
    int label_line;
    int ncat;
    char **cat;
    int *cat_line;
} Schema;

/* What one input file contributes: its reader, which split it feeds, and its own header mapping. */
typedef struct {
    const char *path;
    int role; // DS_TRAIN for the train file (lines carved by prep_split_of), else DS_VALID / DS_TEST
    Reader r;
    int ncols;      // csv: columns in this file's header
    int label_col;  // csv
    int *cat_col;   // csv (fields)
    Col *cols;      // csv (ncols + 1) scratch for split lines
    char *unq;      // csv: unquoted values
    size_t unq_cap;
} InFile;

typedef struct {
    const PrepOpts *o;
    uint32_t fields;
    char **names; // (fields)
    Schema schema;
    uint32_t libfm_k;
    VocabMap *maps; // (fields)
    double frac[DS_NSPLITS];
    InFile in[DS_NSPLITS];
    int nin;
    /* pass 1 */
    uint64_t rows[DS_NSPLITS], pos[DS_NSPLITS], skipped;
    /* pass 2 */
    DsWriter w[DS_NSPLITS];
    int wopen[DS_NSPLITS];
    uint64_t cursor[DS_NSPLITS], oov[DS_NSPLITS], skipped2;
    uint64_t text_bytes[2];
    double seconds[2];
    /* the inputs' sha256 (dataset.meta's sources), per split; with sha_in_pass1 pass 1 makes them */
    char sha[DS_NSPLITS][65];
    int sha_in_pass1;
} Prep;

static int label01(const char *p, size_t n, uint8_t *label) {
    if (n == 1 && (p[0] == '0' || p[0] == '1')) {
        *label = (uint8_t)(p[0] - '0');
        return 0;
    }
    return -1;
}

/* A parse failure: -1 and the reason in why (ERR_LEN). */
static int bad(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(char *why, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, ERR_LEN, fmt, ap);
    va_end(ap);
    return -1;
}

/* Shows a value in a message: at most 40 bytes of it. */
#define SHOW(p, n) (int)((n) > 40 ? 40 : (n)), (p)

static size_t count_char(const char *s, size_t n, char c) {
    size_t k = 0;
    for (const char *q = s, *end = s + n; (q = memchr(q, c, (size_t)(end - q))); q++) k++;
    return k;
}

static int parse_criteo(const char *s, size_t n, uint8_t *label, VocabVal *vals, char *why) {
    const char *p = s, *end = s + n;
    const char *t = memchr(p, '\t', n);
    if (!t) goto columns;
    if (label01(p, (size_t)(t - p), label))
        return bad(why, "label '%.*s' is not 0 or 1", SHOW(p, (size_t)(t - p)));
    p = t + 1;
    for (int f = 0; f < CRITEO_INTS; f++) {
        /* prep_criteo_int fused with the scan for the tab: one look at each byte */
        const char *q = p;
        if (q < end && *q == '\t') {
            vals[f] = vocab_val_empty();
            p = q + 1;
            continue;
        }
        int neg = 0;
        if (q < end && (*q == '-' || *q == '+')) neg = *q++ == '-';
        const char *d0 = q;
        /* unsigned: past 19 digits it wraps (defined) instead of overflowing, and the value is refused
         * below anyway; 18 digits always fit an int64 */
        uint64_t x = 0;
        unsigned d;
        while (q < end && (d = (unsigned)(unsigned char)*q - '0') < 10) {
            x = x * 10 + d;
            q++;
        }
        if (q == end) goto columns;
        if (*q != '\t' || q == d0 || q - d0 > 18) {
            t = memchr(p, '\t', (size_t)(end - p));
            if (!t) goto columns;
            return bad(why, "column I%d: '%.*s' is not an integer", f + 1, SHOW(p, (size_t)(t - p)));
        }
        vals[f] = vocab_val_inline((uint64_t)prep_criteo_transform(neg ? -(int64_t)x : (int64_t)x));
        p = q + 1;
    }
    for (int f = 0; f < CRITEO_CATS; f++) {
        VocabVal *v = &vals[CRITEO_INTS + f];
        uint32_t x;
        int last = f == CRITEO_CATS - 1;
        /* the common case: 8 hex chars then a tab (or the end of the line) */
        if (end - p >= 8 && (last ? end - p == 8 : (end - p > 8 && p[8] == '\t')) && prep_hex8(p, &x)) {
            *v = vocab_val_inline(x);
            p += 9;
            continue;
        }
        if (last) {
            if (memchr(p, '\t', (size_t)(end - p))) goto columns;
            *v = prep_cat_value(p, (size_t)(end - p));
            p = end + 1;
        } else {
            t = memchr(p, '\t', (size_t)(end - p));
            if (!t) goto columns;
            *v = prep_cat_value(p, (size_t)(t - p));
            p = t + 1;
        }
    }
    return 0;
columns: {
    size_t cols = count_char(s, n, '\t') + 1;
    return bad(why, "%zu columns, expected %d (tab-separated: label, I1..I13, C1..C26)%s", cols,
               CRITEO_COLS,
               cols == CRITEO_COLS - 1 ? "; Kaggle's test.txt has no label column, and prep needs labels"
                                       : "");
}
}

/* Splits on sep with no quoting (Avazu, and csv lines without a quote). Returns the column count; at
 * most max are stored. */
static int split_plain(const char *s, size_t n, char sep, Col *cols, int max) {
    int k = 0;
    const char *p = s, *end = s + n;
    for (;;) {
        const char *t = memchr(p, sep, (size_t)(end - p));
        const char *stop = t ? t : end;
        if (k < max) {
            cols[k].p = p;
            cols[k].n = (size_t)(stop - p);
        }
        k++;
        if (!t) return k;
        p = t + 1;
    }
}

static int parse_avazu(const char *s, size_t n, uint8_t *label, VocabVal *vals, char *why) {
    Col c[AVAZU_NCOLS];
    int k = split_plain(s, n, ',', c, AVAZU_NCOLS);
    if (k != AVAZU_NCOLS)
        return bad(why, "%d columns, expected %d (id,click,hour,C1,...,C21)%s", k, AVAZU_NCOLS,
                   k == AVAZU_NCOLS - 1 ? "; a file without the click column (Kaggle's test.csv) cannot "
                                          "be used: prep needs labels"
                                        : "");
    if (label01(c[1].p, c[1].n, label))
        return bad(why, "click '%.*s' is not 0 or 1", SHOW(c[1].p, c[1].n));
    int h, wd, we;
    if (prep_avazu_hour(c[2].p, c[2].n, &h, &wd, &we))
        return bad(why, "hour '%.*s' is not a valid YYMMDDHH", SHOW(c[2].p, c[2].n));
    vals[0] = vocab_val_inline((uint64_t)h);
    vals[1] = vocab_val_inline((uint64_t)wd);
    vals[2] = vocab_val_inline((uint64_t)we);
    for (int j = 3; j < AVAZU_NCOLS; j++) vals[j] = prep_cat_value(c[j].p, c[j].n);
    return 0;
}

static int is_space(char c) { return c == ' ' || c == '\t'; }

static int parse_libfm(uint32_t k, const char *s, size_t n, uint8_t *label, VocabVal *vals, char *why) {
    const char *p = s, *end = s + n;
    while (p < end && is_space(*p)) p++;
    const char *q = p;
    while (q < end && !is_space(*q)) q++;
    size_t ln = (size_t)(q - p);
    if (ln == 1 && (*p == '0' || *p == '1'))
        *label = (uint8_t)(*p - '0');
    else if (ln == 2 && p[1] == '1' && (*p == '-' || *p == '+'))
        *label = *p == '+';
    else if (ln == 0)
        return bad(why, "empty line");
    else
        return bad(why, "label '%.*s' is not -1, 0, 1 or +1", SHOW(p, ln));
    uint32_t f = 0;
    for (p = q;;) {
        while (p < end && is_space(*p)) p++;
        if (p == end) break;
        q = p;
        while (q < end && !is_space(*q)) q++;
        size_t tn = (size_t)(q - p);
        const char *colon = memchr(p, ':', tn);
        if (!colon || colon == p || colon == q - 1)
            return bad(why, "feature %u: '%.*s' is not idx:val", f + 1, SHOW(p, tn));
        if (f < k) vals[f] = prep_cat_value(p, tn);
        f++;
        p = q;
    }
    if (f != k)
        return bad(why, "%u features, expected %u (the train file's first line fixes the count)", f, k);
    return 0;
}

/* Splits a csv line with RFC 4180 quoting (a quoted value may hold sep and "" for a quote; not a newline).
 * Unquoted values point into s, quoted ones into in->unq. -1 on bad quoting. */
static int split_csv(InFile *in, const char *s, size_t n, char sep, Col *cols, int max, int *ncols) {
    if (!memchr(s, '"', n)) {
        *ncols = split_plain(s, n, sep, cols, max);
        return 0;
    }
    if (in->unq_cap < n) {
        in->unq_cap = n * 2;
        in->unq = xrealloc(in->unq, in->unq_cap);
    }
    char *u = in->unq;
    const char *p = s, *end = s + n;
    int k = 0;
    for (;;) {
        Col c;
        if (p < end && *p == '"') {
            c.p = u;
            p++;
            for (;;) {
                if (p == end) return -1; /* no closing quote */
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        *u++ = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                *u++ = *p++;
            }
            c.n = (size_t)(u - c.p);
            if (p < end && *p != sep) return -1; /* text after the closing quote */
        } else {
            const char *t = memchr(p, sep, (size_t)(end - p));
            c.p = p;
            c.n = (size_t)((t ? t : end) - p);
            p += c.n;
        }
        if (k < max) cols[k] = c;
        k++;
        if (p == end) break;
        p++; /* the separator */
        if (p == end) {
            if (k < max) cols[k] = (Col){end, 0};
            k++;
            break;
        }
    }
    *ncols = k;
    return 0;
}

static int parse_csv(Prep *pp, InFile *in, const char *s, size_t n, uint8_t *label, VocabVal *vals,
                     char *why) {
    int k;
    if (split_csv(in, s, n, pp->schema.sep, in->cols, in->ncols + 1, &k))
        return bad(why, "bad quoting (a quoted value must end with a quote before the separator)");
    if (k != in->ncols) return bad(why, "%d columns, expected %d (as the header)", k, in->ncols);
    Col *l = &in->cols[in->label_col];
    if (label01(l->p, l->n, label))
        return bad(why, "label column '%s': '%.*s' is not 0 or 1", pp->schema.label, SHOW(l->p, l->n));
    for (uint32_t f = 0; f < pp->fields; f++) {
        Col *c = &in->cols[in->cat_col[f]];
        vals[f] = prep_cat_value(c->p, c->n);
    }
    return 0;
}

static int parse_line(Prep *pp, InFile *in, const char *s, size_t n, uint8_t *label, VocabVal *vals,
                      char *why) {
    switch (pp->o->format) {
    case PREP_CRITEO: return parse_criteo(s, n, label, vals, why);
    case PREP_AVAZU: return parse_avazu(s, n, label, vals, why);
    case PREP_LIBFM: return parse_libfm(pp->libfm_k, s, n, label, vals, why);
    case PREP_CSV: return parse_csv(pp, in, s, n, label, vals, why);
    default: CHECK(0);
    }
    return -1;
}

/* ------------------------------------------------------------------------------------------------ */
/* Headers and the schema                                                                             */

/* Line 1 of an Avazu file: 1 when it is the header (checked against Avazu's), 0 when it is data.
 * Kaggle's Avazu test.csv has no click column (23 columns). It is refused rather than read with some
 * made-up label: a prepared split without true labels would give AUC and logloss that mean nothing,
 * and the usual protocol carves test out of train.csv anyway; the message says so. */
static int avazu_header(InFile *in, const char *s, size_t n, Err *e) {
    Col c[AVAZU_NCOLS + 1];
    int k = split_plain(s, n, ',', c, AVAZU_NCOLS + 1);
    if (!(c[0].n == 2 && !memcmp(c[0].p, "id", 2))) return 0;
    if (k >= 2 && !(c[1].n == 5 && !memcmp(c[1].p, "click", 5)))
        return err_set(e, "%s:1: the header has no click column (Kaggle's Avazu test.csv has none): prep "
                          "needs labels; carve a test split out of train.csv with --split instead",
                       in->path);
    for (int j = 0; j < AVAZU_NCOLS; j++) {
        if (j >= k)
            return err_set(e, "%s:1: the header is not Avazu's: it ends before column %d '%s'", in->path,
                           j + 1, AVAZU_COLS[j]);
        if (c[j].n != strlen(AVAZU_COLS[j]) || memcmp(c[j].p, AVAZU_COLS[j], c[j].n))
            return err_set(e, "%s:1: the header is not Avazu's: column %d is '%.*s', expected '%s'",
                           in->path, j + 1, SHOW(c[j].p, c[j].n), AVAZU_COLS[j]);
    }
    if (k != AVAZU_NCOLS)
        return err_set(e, "%s:1: the header has %d columns, Avazu's has %d", in->path, k, AVAZU_NCOLS);
    return 1;
}

/* Line 1 of a csv file: finds the schema's columns in it. */
static int csv_header(Prep *pp, InFile *in, const char *s, size_t n, Err *e) {
    int k = 0;
    Col probe[1];
    if (split_csv(in, s, n, pp->schema.sep, probe, 0, &k))
        return err_set(e, "%s:1: header: bad quoting", in->path);
    in->ncols = k;
    in->cols = xrealloc(in->cols, sizeof *in->cols * (size_t)(k + 1));
    split_csv(in, s, n, pp->schema.sep, in->cols, k, &k);
    /* the names point into the reader's buffer or in->unq: resolve them now */
    in->label_col = -1;
    in->cat_col = xrealloc(in->cat_col, sizeof *in->cat_col * pp->fields);
    for (uint32_t f = 0; f < pp->fields; f++) in->cat_col[f] = -1;
    for (int j = k - 1; j >= 0; j--) { /* backwards: the first of duplicate names wins */
        Col *c = &in->cols[j];
        if (strlen(pp->schema.label) == c->n && !memcmp(pp->schema.label, c->p, c->n)) in->label_col = j;
        for (uint32_t f = 0; f < pp->fields; f++)
            if (strlen(pp->names[f]) == c->n && !memcmp(pp->names[f], c->p, c->n)) in->cat_col[f] = j;
    }
    if (in->label_col < 0)
        return err_set(e, "%s:1: the header has no column '%s' (the label named at %s:%d)", in->path,
                       pp->schema.label, pp->o->schema, pp->schema.label_line);
    for (uint32_t f = 0; f < pp->fields; f++)
        if (in->cat_col[f] < 0)
            return err_set(e, "%s:1: the header has no column '%s' (named at %s:%d)", in->path,
                           pp->names[f], pp->o->schema, pp->schema.cat_line[f]);
    return 0;
}

static void schema_free(Schema *s) {
    free(s->label);
    for (int i = 0; i < s->ncat; i++) free(s->cat[i]);
    free(s->cat);
    free(s->cat_line);
    memset(s, 0, sizeof *s);
}

typedef struct {
    Schema *s;
    int have_sep;
} SchemaRead;

static int schema_line(void *ctx, char *key, char *v, const char *path, int lineno, Err *e) {
    SchemaRead *sr = ctx;
    Schema *s = sr->s;
    if (!strcmp(key, "label")) {
        if (s->label) return err_set(e, "%s:%d: a second label= line", path, lineno);
        if (!*v) return err_set(e, "%s:%d: label= names no column", path, lineno);
        s->label = xstrdup(v);
        s->label_line = lineno;
    } else if (!strcmp(key, "cat")) {
        char *save = NULL;
        if (!*v || v[strlen(v) - 1] == ',' || v[0] == ',' || strstr(v, ",,"))
            return err_set(e, "%s:%d: cat= has an empty column name", path, lineno);
        for (char *t = strtok_r(v, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            for (int i = 0; i < s->ncat; i++)
                if (!strcmp(s->cat[i], t)) return err_set(e, "%s:%d: column '%s' is listed twice", path, lineno, t);
            s->cat = xrealloc(s->cat, sizeof *s->cat * (size_t)(s->ncat + 1));
            s->cat_line = xrealloc(s->cat_line, sizeof *s->cat_line * (size_t)(s->ncat + 1));
            s->cat[s->ncat] = xstrdup(t);
            s->cat_line[s->ncat] = lineno;
            s->ncat++;
        }
    } else if (!strcmp(key, "sep")) {
        if (sr->have_sep++) return err_set(e, "%s:%d: a second sep= line", path, lineno);
        if (!strcmp(v, "\\t") || !strcmp(v, "tab"))
            s->sep = '\t';
        else if (strlen(v) == 1 && v[0] != '"')
            s->sep = v[0];
        else
            return err_set(e, "%s:%d: sep= wants one character (or \\t), not '%s'", path, lineno, v);
    } else
        return err_set(e, "%s:%d: unknown key '%s' (label, cat or sep)", path, lineno, key);
    return 0;
}

static int schema_read(Schema *s, const char *path, Err *e) {
    memset(s, 0, sizeof *s);
    s->sep = ',';
    SchemaRead sr = {s, 0};
    int rc = kv_read(path, "the schema", "label=COLUMN, cat=COLUMN,... or sep=CHAR", schema_line, &sr, e);
    if (!rc && !s->label) rc = err_set(e, "%s: no label=COLUMN line", path);
    if (!rc && s->ncat == 0) rc = err_set(e, "%s: no cat=COLUMN,... line", path);
    if (!rc && s->ncat > DS_MAX_FIELDS)
        rc = err_set(e, "%s: %d categorical columns, at most %d", path, s->ncat, DS_MAX_FIELDS);
    for (int i = 0; !rc && i < s->ncat; i++)
        if (!strcmp(s->cat[i], s->label))
            rc = err_set(e, "%s:%d: column '%s' is the label and cannot be a feature too", path,
                         s->cat_line[i], s->label);
    if (rc) schema_free(s);
    return rc;
}

/* libFM: the number of features on the train file's first line. */
static int libfm_count(const char *path, uint32_t *k, Err *e) {
    Reader r;
    if (reader_open(&r, path, e)) return -1;
    const char *s;
    size_t n;
    int got = reader_next(&r, &s, &n, 1, e);
    if (got < 0) {
        reader_close(&r);
        return -1;
    }
    uint32_t c = 0;
    if (got) {
        for (size_t i = 0; i < n;) {
            while (i < n && is_space(s[i])) i++;
            if (i == n) break;
            c++;
            while (i < n && !is_space(s[i])) i++;
        }
    }
    reader_close(&r);
    if (!got) return err_set(e, "%s: empty input (no lines)", path);
    if (c < 2) return err_set(e, "%s:1: no features after the label (libFM: label idx:val ...)", path);
    if (c - 1 > DS_MAX_FIELDS)
        return err_set(e, "%s:1: %u features, at most %d", path, c - 1, DS_MAX_FIELDS);
    *k = c - 1;
    return 0;
}

/* ------------------------------------------------------------------------------------------------ */
/* The two passes                                                                                     */

static int has_header(const Prep *pp) { return pp->o->format == PREP_CSV || pp->o->format == PREP_AVAZU; }

/* Rows parsed but not yet counted or encoded: a short queue, so that the table slots of the rows ahead
 * are prefetched while the oldest row is looked up (the tables of big fields do not fit the caches). */
#define RING 16

typedef struct {
    uint64_t line;
    int split;
    uint8_t label;
} RowInfo;

/* Pass 1 counts the row and, for a training row, its values; pass 2 writes it. */
static int take_row(Prep *pp, int pass, const InFile *in, const RowInfo *ri, const VocabVal *vals,
                    Err *e) {
    uint32_t F = pp->fields;
    int split = ri->split;
    if (pass == 1) {
        pp->rows[split]++;
        pp->pos[split] += ri->label;
        if (split != DS_TRAIN) return 0;
        for (uint32_t f = 0; f < F; f++)
            if (vocab_add(&pp->maps[f], &vals[f], e)) {
                char msg[ERR_LEN];
                snprintf(msg, sizeof msg, "%s", e->msg);
                return err_set(e, "%s:%llu: field %s: %s", in->path, (unsigned long long)ri->line,
                               pp->names[f], msg);
            }
        return 0;
    }
    uint64_t row = pp->cursor[split]++;
    if (row >= pp->rows[split])
        return err_set(e, "%s: more %s rows than in pass 1: did the file change?", in->path,
                       DS_SPLIT_NAMES[split]);
    DsWriter *w = &pp->w[split];
    w->labels[row] = ri->label;
    uint32_t *ids = w->ids + row * F;
    uint64_t oov = 0;
    for (uint32_t f = 0; f < F; f++) {
        ids[f] = vocab_id(&pp->maps[f], &vals[f]);
        oov += ids[f] == 0;
    }
    pp->oov[split] += oov;
    return 0;
}

/* One pass over every input file. Pass 1 validates, counts and builds the vocabulary; pass 2 encodes.
 * Both see the same lines as bad, so the rows they count agree. */
static int run_pass(Prep *pp, int pass, Err *e) {
    const PrepOpts *o = pp->o;
    uint32_t F = pp->fields;
    /* csv values with quotes live in a per-line buffer: no queue there */
    int depth = o->format == PREP_CSV ? 1 : RING;
    VocabVal *vals = xmalloc(sizeof *vals * F * RING); // (RING, F)
    RowInfo ring[RING];
    int head = 0, queued = 0;
    char *why = xmalloc(ERR_LEN);
    double t0 = now_seconds(), next_note = t0 + 30;
    int rc = 0;
    for (int fi = 0; fi < pp->nin && !rc; fi++) {
        InFile *in = &pp->in[fi];
        Reader *r = &in->r;
        if (reader_open(r, in->path, e)) {
            rc = -1;
            break;
        }
        /* the file's sha256 from the bytes this pass reads anyway; a gzip file's own (compressed)
         * bytes are not what the reader sees, so it is hashed on its own */
        Sha256 sha_ctx;
        if (pass == 1 && pp->sha_in_pass1) {
            if (r->gz) {
                if (sha256_file(in->path, pp->sha[in->role], e)) {
                    reader_close(r);
                    rc = -1;
                    break;
                }
            } else {
                sha256_init(&sha_ctx);
                r->sha = &sha_ctx;
            }
        }
        uint64_t data_lines = 0;
        const char *s;
        size_t n;
        int got;
        for (;;) {
            got = reader_next(r, &s, &n, 0, e);
            if (got == 2 || got == 0) {
                /* the buffer is about to move, or the file ends: finish the queued rows */
                for (; queued && !rc; queued--, head = (head + 1) % RING)
                    rc = take_row(pp, pass, in, &ring[head], vals + (size_t)head * F, e);
                if (rc || got == 0) break;
                got = reader_next(r, &s, &n, 1, e);
            }
            if (got <= 0) break;
            if (r->line == 1 && n >= 3 && !memcmp(s, "\xef\xbb\xbf", 3)) { /* a UTF-8 byte-order mark */
                s += 3;
                n -= 3;
            }
            if (r->line == 1 && has_header(pp)) {
                int h = o->format == PREP_CSV ? (csv_header(pp, in, s, n, e) ? -1 : 1)
                                              : avazu_header(in, s, n, e);
                if (h < 0) {
                    rc = -1;
                    break;
                }
                if (h) continue;
            }
            data_lines++;
            int slot = (head + queued) % RING;
            RowInfo *ri = &ring[slot];
            VocabVal *v = vals + (size_t)slot * F;
            if (parse_line(pp, in, s, n, &ri->label, v, why)) {
                uint64_t *sk = pass == 1 ? &pp->skipped : &pp->skipped2;
                if (*sk >= (pass == 1 ? o->skip_bad : pp->skipped)) {
                    if (pass == 2)
                        err_set(e, "%s:%llu: %s (this line was read differently in pass 1: did the file "
                                   "change?)",
                                in->path, (unsigned long long)r->line, why);
                    else if (o->skip_bad)
                        err_set(e, "%s:%llu: %s (more than --skip-bad %llu bad lines)", in->path,
                                (unsigned long long)r->line, why, (unsigned long long)o->skip_bad);
                    else
                        err_set(e, "%s:%llu: %s", in->path, (unsigned long long)r->line, why);
                    rc = -1;
                    break;
                }
                if (pass == 1 && *sk < MAX_SKIP_WARN)
                    fprintf(stderr, "hashemb prep: skipping %s:%llu: %s\n", in->path,
                            (unsigned long long)r->line, why);
                (*sk)++;
                continue;
            }
            ri->line = r->line;
            ri->split = in->role == DS_TRAIN ? prep_split_of(r->line, o->seed, pp->frac) : in->role;
            if (pass == 2 || ri->split == DS_TRAIN)
                for (uint32_t f = 0; f < F; f++) vocab_prefetch(&pp->maps[f], &v[f]);
            if (++queued == depth) {
                rc = take_row(pp, pass, in, &ring[head], vals + (size_t)head * F, e);
                head = (head + 1) % RING;
                queued--;
                if (rc) break;
            }
            if ((r->line & 0xffff) == 0 && now_seconds() > next_note) {
                fprintf(stderr, "hashemb prep: pass %d: %s: %llu lines, %.0f MB of text\n", pass,
                        in->path, (unsigned long long)r->line, (double)r->bytes / 1e6);
                next_note = now_seconds() + 30;
            }
        }
        if (got < 0) rc = -1;
        head = queued = 0;
        if (!rc && pass == 1) {
            if (r->line == 0)
                rc = err_set(e, "%s: empty input (no lines)", in->path);
            else if (data_lines == 0)
                rc = err_set(e, "%s: no data lines after the header", in->path);
        }
        pp->text_bytes[pass - 1] += r->bytes;
        if (r->sha && !rc) sha256_final(r->sha, pp->sha[in->role]); /* read to its end */
        reader_close(r);
    }
    pp->seconds[pass - 1] = now_seconds() - t0;
    free(vals);
    free(why);
    return rc;
}

/* ------------------------------------------------------------------------------------------------ */
/* The whole prep                                                                                     */

static void prep_free(Prep *pp) {
    if (pp->names)
        for (uint32_t f = 0; f < pp->fields; f++) free(pp->names[f]);
    free(pp->names);
    if (pp->maps)
        for (uint32_t f = 0; f < pp->fields; f++) vocab_free(&pp->maps[f]);
    free(pp->maps);
    for (int i = 0; i < DS_NSPLITS; i++) {
        free(pp->in[i].cat_col);
        free(pp->in[i].cols);
        free(pp->in[i].unq);
        if (pp->wopen[i]) ds_writer_abort(&pp->w[i]);
    }
    schema_free(&pp->schema);
}

static char *fmt_name(const char *fmt, int i) {
    char b[32];
    snprintf(b, sizeof b, fmt, i);
    return xstrdup(b);
}

static int setup_fields(Prep *pp, Err *e) {
    const PrepOpts *o = pp->o;
    switch (o->format) {
    case PREP_CRITEO:
        pp->fields = CRITEO_INTS + CRITEO_CATS;
        pp->names = xcalloc(pp->fields, sizeof *pp->names);
        for (int i = 0; i < CRITEO_INTS; i++) pp->names[i] = fmt_name("I%d", i + 1);
        for (int i = 0; i < CRITEO_CATS; i++) pp->names[CRITEO_INTS + i] = fmt_name("C%d", i + 1);
        break;
    case PREP_AVAZU:
        pp->fields = AVAZU_FIELDS;
        pp->names = xcalloc(pp->fields, sizeof *pp->names);
        pp->names[0] = xstrdup("hour_of_day");
        pp->names[1] = xstrdup("weekday");
        pp->names[2] = xstrdup("is_weekend");
        for (int j = 3; j < AVAZU_NCOLS; j++) pp->names[j] = xstrdup(AVAZU_COLS[j]);
        break;
    case PREP_LIBFM:
        if (libfm_count(o->file[DS_TRAIN], &pp->libfm_k, e)) return -1;
        pp->fields = pp->libfm_k;
        pp->names = xcalloc(pp->fields, sizeof *pp->names);
        for (uint32_t i = 0; i < pp->fields; i++) pp->names[i] = fmt_name("f%d", (int)i + 1);
        break;
    case PREP_CSV:
        if (schema_read(&pp->schema, o->schema, e)) return -1;
        pp->fields = (uint32_t)pp->schema.ncat;
        pp->names = xcalloc(pp->fields, sizeof *pp->names);
        for (uint32_t i = 0; i < pp->fields; i++) pp->names[i] = xstrdup(pp->schema.cat[i]);
        break;
    default: CHECK(0);
    }
    return 0;
}

static void pos_rate(char *b, size_t n, uint64_t pos, uint64_t rows) {
    if (rows)
        snprintf(b, n, "%.6f", (double)pos / (double)rows);
    else
        snprintf(b, n, "NA");
}

/* Appends to a growing string. */
static void cat_str(char **s, size_t *len, size_t *cap, const char *t) {
    size_t k = strlen(t);
    if (*len + k + 1 > *cap) {
        *cap = (*len + k + 1) * 2;
        *s = xrealloc(*s, *cap);
    }
    memcpy(*s + *len, t, k + 1);
    *len += k;
}

static int write_outputs(Prep *pp, const char *tmp, char sha[DS_NSPLITS][65], Err *e) {
    const PrepOpts *o = pp->o;
    DsMeta m = {0};
    ds_meta_set(&m, "version", "1");
    ds_meta_set(&m, "format", "%s", PREP_FORMAT_NAMES[o->format]);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    cat_str(&buf, &len, &cap, "");
    for (int s = 0; s < DS_NSPLITS; s++) {
        if (!o->file[s]) continue;
        if (len) cat_str(&buf, &len, &cap, ",");
        cat_str(&buf, &len, &cap, DS_SPLIT_NAMES[s]);
        cat_str(&buf, &len, &cap, "=");
        cat_str(&buf, &len, &cap, o->file[s]);
        cat_str(&buf, &len, &cap, ":");
        cat_str(&buf, &len, &cap, sha[s]);
    }
    ds_meta_set(&m, "source", "%s", buf);
    ds_meta_set(&m, "fields", "%u", pp->fields);
    len = 0;
    buf[0] = 0;
    for (uint32_t f = 0; f < pp->fields; f++) {
        if (f) cat_str(&buf, &len, &cap, ",");
        cat_str(&buf, &len, &cap, pp->names[f]);
    }
    ds_meta_set(&m, "field_names", "%s", buf);
    len = 0;
    buf[0] = 0;
    for (uint32_t f = 0; f < pp->fields; f++) {
        char b[32];
        snprintf(b, sizeof b, "%s%u", f ? "," : "", pp->maps[f].nf);
        cat_str(&buf, &len, &cap, b);
    }
    ds_meta_set(&m, "cardinalities", "%s", buf);
    free(buf);
    for (int s = 0; s < DS_NSPLITS; s++) {
        char key[32];
        snprintf(key, sizeof key, "rows_%s", DS_SPLIT_NAMES[s]);
        ds_meta_set(&m, key, "%llu", (unsigned long long)pp->rows[s]);
    }
    for (int s = 0; s < DS_NSPLITS; s++) {
        char key[32], b[32];
        snprintf(key, sizeof key, "pos_rate_%s", DS_SPLIT_NAMES[s]);
        pos_rate(b, sizeof b, pp->pos[s], pp->rows[s]);
        ds_meta_set(&m, key, "%s", b);
    }
    ds_meta_set(&m, "min_count", "%u", o->min_count);
    ds_meta_set(&m, "id_order", "%s", VOCAB_ORDER_NAMES[o->order]);
    ds_meta_set(&m, "seed", "%llu", (unsigned long long)o->seed);
    /* what was carved out of the train file, with the renormalised fractions */
    {
        char part[DS_NSPLITS][32];
        for (int s = 0; s < DS_NSPLITS; s++)
            if (o->file[s] && s != DS_TRAIN)
                snprintf(part[s], sizeof part[s], "%s:file", DS_SPLIT_NAMES[s]);
            else
                snprintf(part[s], sizeof part[s], "%s:%.6f", DS_SPLIT_NAMES[s], pp->frac[s]);
        ds_meta_set(&m, "split", "%s,%s,%s", part[0], part[1], part[2]);
    }
    ds_meta_set(&m, "skipped_lines", "%llu", (unsigned long long)pp->skipped);
    for (int s = DS_VALID; s < DS_NSPLITS; s++) {
        char key[32], b[32];
        snprintf(key, sizeof key, "oov_rate_%s", DS_SPLIT_NAMES[s]);
        pos_rate(b, sizeof b, pp->oov[s], pp->rows[s] * pp->fields);
        ds_meta_set(&m, key, "%s", b);
    }
    size_t plen = strlen(tmp) + 32;
    char *path = xmalloc(plen);
    snprintf(path, plen, "%s/dataset.meta", tmp);
    int rc = ds_meta_write(&m, path, e);
    free(path);
    ds_meta_free(&m);
    return rc;
}

/* Each input is read twice (two passes): a pipe or FIFO would give its lines to pass 1 only, and opening
 * a FIFO would wait for a writer. Refused before any work; a missing file is reader_open's to report. */
static int inputs_check(const PrepOpts *o, Err *e) {
    for (int s = 0; s < DS_NSPLITS; s++) {
        struct stat st;
        if (o->file[s] && stat(o->file[s], &st) == 0 && !S_ISREG(st.st_mode))
            return err_set(e, "%s: not a regular file: prep reads each input twice, and a pipe, FIFO or "
                              "device can be read once; write it to a file (a .gz is read as it is)",
                           o->file[s]);
    }
    return 0;
}

int prep_run(const PrepOpts *o, Err *e) {
    double t0 = now_seconds();
    Prep pp;
    memset(&pp, 0, sizeof pp);
    pp.o = o;
    tables_init();
    char *out = NULL;
    if (ds_out_prepare(o->out, &out, e)) return -1;
    if (inputs_check(o, e)) {
        free(out);
        return -1;
    }
    /* the carved fractions, renormalised over the parts that come out of the train file */
    double sum = 0;
    for (int s = 0; s < DS_NSPLITS; s++) {
        pp.frac[s] = (s == DS_TRAIN || !o->file[s]) ? o->split[s] : 0;
        sum += pp.frac[s];
    }
    CHECK(sum > 0);
    for (int s = 0; s < DS_NSPLITS; s++) pp.frac[s] /= sum;
    for (int s = 0; s < DS_NSPLITS; s++)
        if (o->file[s]) pp.in[pp.nin++] = (InFile){.path = o->file[s], .role = s, .r = {.fd = -1}};

    char *tmp = NULL;
    int rc = setup_fields(&pp, e);
    if (rc) goto out;
    /* the temporary directory from the start: a bad --out or directory fails now, not after pass 1,
     * and a signal from here on removes it */
    if ((rc = ds_dir_begin(out, &tmp, e))) goto out;
    pp.maps = xcalloc(pp.fields, sizeof *pp.maps);
    for (uint32_t f = 0; f < pp.fields; f++) vocab_init(&pp.maps[f]);

    /* pass 1, with the inputs' sha256 beside it when a second thread is allowed; on one thread pass 1
     * hashes what it reads (one read of each file instead of two) */
    Err sha_err;
    int sha_rc = 0, beside = o->threads >= 2;
    pp.sha_in_pass1 = !beside;
#pragma omp parallel sections num_threads(beside ? 2 : 1)
    {
#pragma omp section
        {
            for (int s = 0; s < DS_NSPLITS && !sha_rc && beside; s++)
                if (o->file[s]) sha_rc = sha256_file(o->file[s], pp.sha[s], &sha_err);
        }
#pragma omp section
        { rc = run_pass(&pp, 1, e); }
    }
    if (rc) goto out;
    if (sha_rc) {
        *e = sha_err;
        rc = -1;
        goto out;
    }
    if (pp.rows[DS_TRAIN] == 0) {
        rc = err_set(e, "%s: no rows went to the train split", o->file[DS_TRAIN]);
        goto out;
    }
    double t1 = now_seconds();
    for (uint32_t f = 0; f < pp.fields; f++) vocab_finalize(&pp.maps[f], o->order, o->min_count, o->seed);
    double t2 = now_seconds();

    if ((rc = ds_space_check(out, ds_bytes(pp.rows, pp.fields, 0), e))) goto out;
    for (int s = 0; s < DS_NSPLITS; s++) {
        size_t plen = strlen(tmp) + 32;
        char *path = xmalloc(plen);
        snprintf(path, plen, "%s/%s.bin", tmp, DS_SPLIT_NAMES[s]);
        rc = ds_writer_open(&pp.w[s], path, pp.rows[s], pp.fields, 0, e);
        free(path);
        if (rc) goto out;
        pp.wopen[s] = 1;
    }
    double t3 = now_seconds();
    if ((rc = run_pass(&pp, 2, e))) goto out;
    double t4 = now_seconds();
    for (int s = 0; s < DS_NSPLITS; s++)
        if (pp.cursor[s] != pp.rows[s]) {
            rc = err_set(e, "%s: %llu %s rows in pass 2, %llu in pass 1: did an input change?", out,
                         (unsigned long long)pp.cursor[s], DS_SPLIT_NAMES[s],
                         (unsigned long long)pp.rows[s]);
            goto out;
        }
    for (int s = 0; s < DS_NSPLITS; s++) {
        pp.wopen[s] = 0;
        if ((rc = ds_writer_finish(&pp.w[s], e))) goto out;
    }
    if ((rc = write_outputs(&pp, tmp, pp.sha, e))) goto out;
    if ((rc = ds_dir_commit(tmp, out, e))) {
        free(tmp);
        tmp = NULL; /* commit removed it */
        goto out;
    }
    free(tmp);
    tmp = NULL;
    {
        double secs = now_seconds() - t0, mb = (double)pp.text_bytes[0] / 1e6;
        if (pp.skipped)
            fprintf(stderr, "hashemb prep: skipped %llu bad lines (--skip-bad %llu)\n",
                    (unsigned long long)pp.skipped, (unsigned long long)o->skip_bad);
        fprintf(stderr,
                "hashemb prep: %s: train %llu, valid %llu, test %llu rows; %u fields; %.1f MB of text in "
                "%.2f s, %.0f MB/s (pass 1 %.2f s%s, ids %.2f s, pass 2 %.2f s, writing %.2f s)\n",
                out, (unsigned long long)pp.rows[0], (unsigned long long)pp.rows[1],
                (unsigned long long)pp.rows[2], pp.fields, mb, secs, mb / secs, t1 - t0,
                beside ? " with sha256 beside it" : " with sha256", t2 - t1, t4 - t3,
                now_seconds() - t4);
    }
out:
    if (tmp) {
        for (int s = 0; s < DS_NSPLITS; s++)
            if (pp.wopen[s]) {
                ds_writer_abort(&pp.w[s]);
                pp.wopen[s] = 0;
            }
        ds_dir_abort(tmp);
        free(tmp);
    }
    prep_free(&pp);
    free(out);
    return rc;
}

/* ------------------------------------------------------------------------------------------------ */
/* The command line                                                                                   */

static const char USAGE[] =
    "usage: hashemb prep --format criteo|avazu|libfm|csv --train FILE [--valid FILE] [--test FILE]\n"
    "                    [--split 0.8,0.1,0.1] [--schema FILE] [--min-count C]\n"
    "                    [--id-order freq|first|hash] [--skip-bad N] [--seed N] [--threads N] --out DIR\n"
    "\n"
    "Turns a real CTR file into a prepared dataset (DIR/dataset.meta, train.bin, valid.bin, test.bin).\n"
    "Files may be gzip-compressed. Two streaming passes: only the vocabulary is held in memory.\n"
    "\n"
    "  --format F      criteo (label, I1..I13, C1..C26, tab-separated), avazu (Kaggle CSV; hour becomes\n"
    "                  hour_of_day, weekday, is_weekend), libfm (label idx:val ...; one field per\n"
    "                  position), csv (a header and --schema)\n"
    "  --train FILE    the training file; the vocabulary is built on its train rows only\n"
    "  --valid FILE    --test FILE   splits given as files; those not given are carved out of --train\n"
    "  --split A,B,C   weights of train, valid, test for carving (default 0.8,0.1,0.1), renormalised over\n"
    "                  the parts carved; each line goes by a seeded hash of its line number\n"
    "  --schema FILE   csv only: lines label=COLUMN, cat=COLUMN,COLUMN,... and optionally sep=CHAR\n"
    "  --min-count C   values seen fewer than C times in train map to the OOV id 0 (default 1)\n"
    "  --id-order O    freq (descending count, ties by value; default), first (first appearance),\n"
    "                  hash (seeded 64-bit hash of the value)\n"
    "  --skip-bad N    skip up to N malformed lines (default 0: the first one stops prep)\n"
    "  --seed N        seed of the split hash and of --id-order hash (default 1)\n"
    "  --threads N     threads (default: all cores); parsing is one thread, a second hashes the inputs\n"
    "  --out DIR       the dataset directory, written atomically; an existing hashemb dataset there is\n"
    "                  replaced, any other directory refused (checked before any work)\n";

int cmd_prep(int argc, char **argv) {
    static const struct option opts[] = {
        {"format", required_argument, 0, 'f'}, {"train", required_argument, 0, 't'},
        {"valid", required_argument, 0, 'v'},  {"test", required_argument, 0, 'T'},
        {"split", required_argument, 0, 'p'},  {"schema", required_argument, 0, 'S'},
        {"min-count", required_argument, 0, 'm'}, {"id-order", required_argument, 0, 'i'},
        {"skip-bad", required_argument, 0, 'k'},  {"seed", required_argument, 0, 's'},
        {"threads", required_argument, 0, 'j'},   {"out", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'},            {0, 0, 0, 0}};
    PrepOpts o;
    memset(&o, 0, sizeof o);
    o.format = PREP_NFORMATS;
    o.split[0] = 0.8;
    o.split[1] = 0.1;
    o.split[2] = 0.1;
    o.min_count = 1;
    o.order = VOCAB_ORDER_FREQ;
    o.seed = 1;
    long nproc = sysconf(_SC_NPROCESSORS_ONLN);
    o.threads = nproc > 0 ? (int)nproc : 1;
    Err e;
    long long v;
    optind = 1;
    opterr = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': fputs(USAGE, stdout); return 0;
        case 'f': {
            int k = 0;
            while (k < PREP_NFORMATS && strcmp(optarg, PREP_FORMAT_NAMES[k])) k++;
            if (k == PREP_NFORMATS)
                return cmd_usage_error("prep", USAGE, "--format: '%s' is not criteo, avazu, libfm or csv",
                                       optarg);
            o.format = (PrepFormat)k;
            break;
        }
        case 't': o.file[DS_TRAIN] = optarg; break;
        case 'v': o.file[DS_VALID] = optarg; break;
        case 'T': o.file[DS_TEST] = optarg; break;
        case 'S': o.schema = optarg; break;
        case 'o': o.out = optarg; break;
        case 'p': {
            double *w;
            int n;
            if (parse_f64_list(optarg, 0, 1e9, "--split", &w, &n, &e))
                return cmd_usage_error("prep", USAGE, "%s", e.msg);
            int ok = n == 3 && w[0] > 0;
            for (int i = 0; i < n && i < 3; i++) o.split[i] = w[i];
            free(w);
            if (!ok)
                return cmd_usage_error("prep", USAGE,
                                       "--split: '%s' must be three weights train,valid,test with train > 0",
                                       optarg);
            break;
        }
        case 'm':
            if (parse_i64(optarg, 1, UINT32_MAX, "--min-count", &v, &e))
                return cmd_usage_error("prep", USAGE, "%s", e.msg);
            o.min_count = (uint32_t)v;
            break;
        case 'i': {
            int k = 0;
            while (k < VOCAB_NORDERS && strcmp(optarg, VOCAB_ORDER_NAMES[k])) k++;
            if (k == VOCAB_NORDERS)
                return cmd_usage_error("prep", USAGE, "--id-order: '%s' is not freq, first or hash",
                                       optarg);
            o.order = (VocabOrder)k;
            break;
        }
        case 'k':
            if (parse_i64(optarg, 0, INT64_MAX, "--skip-bad", &v, &e))
                return cmd_usage_error("prep", USAGE, "%s", e.msg);
            o.skip_bad = (uint64_t)v;
            break;
        case 's':
            if (parse_i64(optarg, 0, INT64_MAX, "--seed", &v, &e))
                return cmd_usage_error("prep", USAGE, "%s", e.msg);
            o.seed = (uint64_t)v;
            break;
        case 'j':
            if (parse_i64(optarg, 1, 1024, "--threads", &v, &e))
                return cmd_usage_error("prep", USAGE, "%s", e.msg);
            o.threads = (int)v;
            break;
        default: return cmd_bad_option("prep", USAGE);
        }
    }
    if (optind < argc)
        return cmd_usage_error("prep", USAGE, "unexpected argument '%s'", argv[optind]);
    if (o.format == PREP_NFORMATS) return cmd_usage_error("prep", USAGE, "--format is required");
    if (!o.file[DS_TRAIN]) return cmd_usage_error("prep", USAGE, "--train is required");
    if (!o.out) return cmd_usage_error("prep", USAGE, "--out is required");
    if (o.format == PREP_CSV && !o.schema)
        return cmd_usage_error("prep", USAGE, "--format csv needs --schema FILE");
    if (o.format != PREP_CSV && o.schema)
        return cmd_usage_error("prep", USAGE, "--schema is only for --format csv");
    char *out;
    if (ds_out_prepare(o.out, &out, &e)) return cmd_usage_error("prep", USAGE, "%s", e.msg);
    o.out = out;
    int rc = prep_run(&o, &e);
    free(out);
    if (rc) {
        fprintf(stderr, "hashemb prep: %s\n", e.msg);
        return 1;
    }
    return 0;
}
