#include "data/dataset.h"

#include <omp.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <xxhash.h>

const char *const DS_SPLIT_NAMES[DS_NSPLITS] = {"train", "valid", "test"};

static uint64_t pad64(uint64_t n) { return (n + 63) / 64 * 64; }

DsLayout ds_layout(uint64_t rows, uint32_t fields, uint32_t flags) {
    DsLayout l;
    l.labels = DS_HEADER;
    l.ids = l.labels + pad64(rows);
    l.prob = l.ids + pad64(rows * fields * 4);
    l.total = l.prob + ((flags & DS_FLAG_PROB) ? rows * 4 : 0);
    return l;
}

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wr32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void wr64(uint8_t *p, uint64_t v) {
    wr32(p, (uint32_t)v);
    wr32(p + 4, (uint32_t)(v >> 32));
}

int ds_split_open(DsSplit *s, const char *path, Err *e) {
    memset(s, 0, sizeof *s);
    /* O_NONBLOCK: a FIFO in a split's place must not wait for a writer; it is refused below */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return err_set(e, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return err_set(e, "%s: cannot stat: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(e, "%s: not a regular file (a FIFO, device or directory cannot be a split)", path);
    }
    uint64_t len = (uint64_t)st.st_size;
    if (len < DS_HEADER) {
        close(fd);
        return err_set(e, "%s: truncated: %llu bytes, shorter than the 64-byte header", path,
                       (unsigned long long)len);
    }
    void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return err_set(e, "%s: cannot map: %s", path, strerror(errno));
    const uint8_t *p = map;
    int rc = -1;
    if (memcmp(p, DS_MAGIC, 8) != 0) {
        err_set(e, "%s: bad magic: not a hashemb dataset file", path);
        goto fail;
    }
    uint32_t version = rd32(p + 8), fields = rd32(p + 12), flags = rd32(p + 24);
    uint64_t rows = rd64(p + 16);
    if (version != DS_VERSION) {
        err_set(e, "%s: unsupported version %u (this build reads version %u)", path, version,
                DS_VERSION);
        goto fail;
    }
    if (fields == 0 || fields > DS_MAX_FIELDS) {
        err_set(e, "%s: bad header: %u fields", path, fields);
        goto fail;
    }
    if (flags & ~DS_FLAG_PROB || rd32(p + 28) != 0) {
        err_set(e, "%s: bad header: unknown flags or non-zero reserved word", path);
        goto fail;
    }
    for (int i = 40; i < 64; i++)
        if (p[i]) {
            err_set(e, "%s: bad header: reserved bytes 40..63 are not zero", path);
            goto fail;
        }
    if (rows > (1ull << 40)) {
        err_set(e, "%s: bad header: %llu rows", path, (unsigned long long)rows);
        goto fail;
    }
    DsLayout l = ds_layout(rows, fields, flags);
    if (len != l.total) {
        err_set(e, "%s: size mismatch: %llu bytes, but the header (%llu rows x %u fields%s) needs %llu"
                   " (truncated or edited file)",
                path, (unsigned long long)len, (unsigned long long)rows, fields,
                flags & DS_FLAG_PROB ? ", with probabilities" : "", (unsigned long long)l.total);
        goto fail;
    }
    uint64_t want = rd64(p + 32);
    uint64_t got = XXH64(p + DS_HEADER, len - DS_HEADER, 0);
    if (want != got) {
        err_set(e, "%s: checksum mismatch: header says %016llx, contents hash to %016llx (corrupt or"
                   " edited file)",
                path, (unsigned long long)want, (unsigned long long)got);
        goto fail;
    }
    for (uint64_t i = 0; i < rows; i++)
        if (p[l.labels + i] > 1) {
            err_set(e, "%s: row %llu: label %u is not 0 or 1", path, (unsigned long long)i,
                    p[l.labels + i]);
            goto fail;
        }
    s->path = xstrdup(path);
    s->fields = fields;
    s->rows = rows;
    s->flags = flags;
    s->labels = p + l.labels;
    s->ids = (const uint32_t *)(p + l.ids);
    s->prob = flags & DS_FLAG_PROB ? (const float *)(p + l.prob) : NULL;
    s->map = map;
    s->map_len = len;
    return 0;
fail:
    munmap(map, len);
    return rc;
}

void ds_split_close(DsSplit *s) {
    if (s->map) munmap(s->map, s->map_len);
    free(s->path);
    memset(s, 0, sizeof *s);
}

int ds_writer_open(DsWriter *w, const char *path, uint64_t rows, uint32_t fields, uint32_t flags,
                   Err *e) {
    memset(w, 0, sizeof *w);
    w->fd = -1;
    CHECK(fields > 0 && fields <= DS_MAX_FIELDS);
    DsLayout l = ds_layout(rows, fields, flags);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return err_set(e, "%s: cannot create: %s", path, strerror(errno));
    int rc = posix_fallocate(fd, 0, (off_t)l.total);
    if (rc != 0) {
        close(fd);
        unlink(path);
        return err_set(e, "%s: cannot allocate %llu bytes: %s", path, (unsigned long long)l.total,
                       strerror(rc));
    }
    void *map = mmap(NULL, l.total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        int er = errno;
        close(fd);
        unlink(path);
        return err_set(e, "%s: cannot map for writing: %s", path, strerror(er));
    }
    uint8_t *p = map;
    w->path = xstrdup(path);
    w->fd = fd;
    w->fields = fields;
    w->flags = flags;
    w->rows = rows;
    w->labels = p + l.labels;
    w->ids = (uint32_t *)(p + l.ids);
    w->prob = flags & DS_FLAG_PROB ? (float *)(p + l.prob) : NULL;
    w->map = map;
    w->map_len = l.total;
    return 0;
}

int ds_writer_finish(DsWriter *w, Err *e) {
    uint8_t *p = w->map;
    memset(p, 0, DS_HEADER);
    memcpy(p, DS_MAGIC, 8);
    wr32(p + 8, DS_VERSION);
    wr32(p + 12, w->fields);
    wr64(p + 16, w->rows);
    wr32(p + 24, w->flags);
    wr64(p + 32, XXH64(p + DS_HEADER, w->map_len - DS_HEADER, 0));
    /* no msync: the page cache is what readers see, and the space was reserved by posix_fallocate,
     * so a full disk cannot fail the write-back */
    int rc = 0;
    munmap(w->map, w->map_len);
    if (close(w->fd) != 0 && rc == 0) rc = err_set(e, "%s: cannot close: %s", w->path, strerror(errno));
    free(w->path);
    memset(w, 0, sizeof *w);
    w->fd = -1;
    return rc;
}

void ds_writer_abort(DsWriter *w) {
    if (w->map) munmap(w->map, w->map_len);
    if (w->fd >= 0) close(w->fd);
    if (w->path) unlink(w->path);
    free(w->path);
    memset(w, 0, sizeof *w);
    w->fd = -1;
}

/* --- dataset.meta --- */

/* Takes val (heap). */
static void meta_put(DsMeta *m, const char *key, char *val, int line) {
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->keys[i], key)) {
            free(m->vals[i]);
            m->vals[i] = val;
            m->lines[i] = line;
            return;
        }
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 32;
        m->keys = xrealloc(m->keys, sizeof *m->keys * (size_t)m->cap);
        m->vals = xrealloc(m->vals, sizeof *m->vals * (size_t)m->cap);
        m->lines = xrealloc(m->lines, sizeof *m->lines * (size_t)m->cap);
    }
    m->keys[m->n] = xstrdup(key);
    m->vals[m->n] = val;
    m->lines[m->n] = line;
    m->n++;
}

void ds_meta_set(DsMeta *m, const char *key, const char *fmt, ...) {
    va_list ap;
    char *buf;
    va_start(ap, fmt);
    int n = vasprintf(&buf, fmt, ap); /* any length: 1024 long field names do not fit a fixed buffer */
    va_end(ap);
    if (n < 0) FATAL("out of memory formatting dataset.meta's %s", key);
    meta_put(m, key, buf, 0);
}

const char *ds_meta_get(const DsMeta *m, const char *key) {
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->keys[i], key)) return m->vals[i];
    return NULL;
}

int ds_meta_line(const DsMeta *m, const char *key) {
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->keys[i], key)) return m->lines[i];
    return 0;
}

char *ds_meta_escape(const char *v) {
    size_t n = 1;
    for (const char *p = v; *p; p++) n += (*p == '\\' || *p == '\n' || *p == '\r') ? 2 : 1;
    char *out = xmalloc(n), *q = out;
    for (const char *p = v; *p; p++) {
        if (*p == '\\' || *p == '\n' || *p == '\r') {
            *q++ = '\\';
            *q++ = *p == '\n' ? 'n' : *p == '\r' ? 'r' : '\\';
        } else {
            *q++ = *p;
        }
    }
    *q = 0;
    return out;
}

/* In place; -1 and *bad at the offending backslash for any sequence but \\, \n and \r. */
static int meta_unescape(char *v, const char **bad) {
    char *q = v;
    for (const char *p = v; *p; p++) {
        if (*p != '\\') {
            *q++ = *p;
            continue;
        }
        if (p[1] == '\\' || p[1] == 'n' || p[1] == 'r') {
            *q++ = p[1] == 'n' ? '\n' : p[1] == 'r' ? '\r' : '\\';
            p++;
        } else {
            *bad = p;
            return -1;
        }
    }
    *q = 0;
    return 0;
}

int ds_meta_write(const DsMeta *m, const char *path, Err *e) {
    FILE *f = fopen(path, "w");
    if (!f) return err_set(e, "%s: cannot create: %s", path, strerror(errno));
    for (int i = 0; i < m->n; i++) {
        const char *k = m->keys[i];
        CHECK(k[0] && !strpbrk(k, "=\n\r\\") && k[0] != '#'); /* keys are this program's own */
        char *v = ds_meta_escape(m->vals[i]);
        fprintf(f, "%s=%s\n", k, v);
        free(v);
    }
    if (ferror(f) | (fclose(f) != 0)) return err_set(e, "%s: cannot write: %s", path, strerror(errno));
    return 0;
}

static int meta_line(void *ctx, char *key, char *value, const char *path, int lineno, Err *e) {
    DsMeta *m = ctx;
    int first = ds_meta_line(m, key);
    if (first) return err_set(e, "%s:%d: duplicate key '%.64s' (first at line %d)", path, lineno, key, first);
    const char *bad;
    if (meta_unescape(value, &bad))
        return err_set(e, "%s:%d: %.64s: unknown escape '%.2s' (dataset.meta escapes only \\\\, \\n and \\r)",
                       path, lineno, key, bad);
    meta_put(m, key, xstrdup(value), lineno);
    return 0;
}

int ds_meta_read(DsMeta *m, const char *path, Err *e) {
    memset(m, 0, sizeof *m);
    int rc = kv_read(path, NULL, "key=value", meta_line, m, e);
    if (rc) ds_meta_free(m);
    return rc;
}

void ds_meta_free(DsMeta *m) {
    for (int i = 0; i < m->n; i++) {
        free(m->keys[i]);
        free(m->vals[i]);
    }
    free(m->keys);
    free(m->vals);
    free(m->lines);
    memset(m, 0, sizeof *m);
}

/* --- the whole dataset --- */

/* "PATH:LINE" of key in the meta read from path, or "PATH" when it has no line. */
static const char *meta_at(char *buf, size_t n, const char *path, const DsMeta *m, const char *key) {
    int line = ds_meta_line(m, key);
    if (line)
        snprintf(buf, n, "%s:%d", path, line);
    else
        snprintf(buf, n, "%s", path);
    return buf;
}

/* A plain decimal count (digits only, nothing else) of at most max. */
static int parse_count(const char *s, size_t n, uint64_t max, uint64_t *out) {
    if (n == 0) return -1;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (d > 9 || x > (max - d) / 10) return -1;
        x = x * 10 + d;
    }
    *out = x;
    return 0;
}

static int meta_u64(const DsMeta *m, const char *path, const char *key, uint64_t *out, Err *e) {
    const char *v = ds_meta_get(m, key);
    if (!v) return err_set(e, "%s: missing key '%s'", path, key);
    char at[4200];
    if (parse_count(v, strlen(v), UINT64_MAX, out))
        return err_set(e, "%s: %s: '%.40s' is not a count", meta_at(at, sizeof at, path, m, key), key, v);
    return 0;
}

/* The comma-separated items of key, one per field: item[k], len[k] point into the meta's value. Each
 * item must be non-empty and there must be exactly `fields` of them. */
static int meta_items(const DsMeta *m, const char *path, const char *key, uint32_t fields,
                      const char **item, size_t *len, Err *e) {
    const char *v = ds_meta_get(m, key);
    if (!v) return err_set(e, "%s: missing key '%s'", path, key);
    char at[4200];
    meta_at(at, sizeof at, path, m, key);
    uint32_t k = 0;
    for (const char *p = v;; k++) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (n == 0) return err_set(e, "%s: %s: item %u is empty", at, key, k + 1);
        if (k >= fields)
            return err_set(e, "%s: %s: item %u '%.*s' is one more than the %u fields", at, key, k + 1,
                           (int)(n > 40 ? 40 : n), p, fields);
        item[k] = p;
        len[k] = n;
        if (!c) break;
        p = c + 1;
    }
    if (k + 1 != fields) return err_set(e, "%s: %s: %u items for %u fields", at, key, k + 1, fields);
    return 0;
}

int ds_open_meta(Dataset *d, const char *dir, Err *e) {
    memset(d, 0, sizeof *d);
    struct stat st;
    if (stat(dir, &st) != 0) return err_set(e, "%s: no such dataset directory", dir);
    if (!S_ISDIR(st.st_mode)) return err_set(e, "%s: not a directory", dir);
    size_t plen = strlen(dir) + 32;
    char *path = xmalloc(plen);
    snprintf(path, plen, "%s/dataset.meta", dir);
    if (ds_meta_read(&d->meta, path, e)) {
        free(path);
        return -1;
    }
    d->dir = xstrdup(dir);
    const char **item = NULL;
    size_t *len = NULL;
    char at[4200];
    /* only the version this code writes: another one may mean other things by the same keys */
    const char *version = ds_meta_get(&d->meta, "version");
    char want[16];
    snprintf(want, sizeof want, "%u", DS_VERSION);
    if (!version) {
        err_set(e, "%s: missing key 'version'", path);
        goto fail;
    }
    if (strcmp(version, want)) {
        err_set(e, "%s: version '%.40s' is not supported (this build reads version %s)",
                meta_at(at, sizeof at, path, &d->meta, "version"), version, want);
        goto fail;
    }
    uint64_t fields;
    if (meta_u64(&d->meta, path, "fields", &fields, e)) goto fail;
    if (fields == 0 || fields > DS_MAX_FIELDS) {
        err_set(e, "%s: fields: %llu is not in 1..%d", meta_at(at, sizeof at, path, &d->meta, "fields"),
                (unsigned long long)fields, DS_MAX_FIELDS);
        goto fail;
    }
    item = xcalloc(fields, sizeof *item);
    len = xcalloc(fields, sizeof *len);
    if (meta_items(&d->meta, path, "cardinalities", (uint32_t)fields, item, len, e)) goto fail;
    d->cards = xcalloc(fields, sizeof *d->cards);
    for (uint32_t k = 0; k < fields; k++) {
        uint64_t c;
        if (parse_count(item[k], len[k], 0xffffffffull, &c) || c < 1) {
            err_set(e, "%s: cardinalities: item %u '%.*s' is not a count in 1..4294967295",
                    meta_at(at, sizeof at, path, &d->meta, "cardinalities"), k + 1,
                    (int)(len[k] > 40 ? 40 : len[k]), item[k]);
            goto fail;
        }
        d->cards[k] = c;
    }
    if (meta_items(&d->meta, path, "field_names", (uint32_t)fields, item, len, e)) goto fail;
    /* the names are set only now: ds_close frees d->fields of them */
    d->fields = (uint32_t)fields;
    d->field_names = xcalloc(fields, sizeof *d->field_names);
    for (uint32_t k = 0; k < fields; k++) {
        d->field_names[k] = xmalloc(len[k] + 1);
        memcpy(d->field_names[k], item[k], len[k]);
        d->field_names[k][len[k]] = 0;
    }
    free(item);
    free(len);
    free(path);
    return 0;
fail:
    free(item);
    free(len);
    free(path);
    ds_close(d);
    return -1;
}

int ds_open(Dataset *d, const char *dir, int check_ids, Err *e) {
    if (ds_open_meta(d, dir, e)) return -1;
    const uint64_t fields = d->fields;
    size_t plen = strlen(dir) + 32;
    char *path = xmalloc(plen);
    snprintf(path, plen, "%s/dataset.meta", dir);
    uint64_t rows[DS_NSPLITS];
    for (int s = 0; s < DS_NSPLITS; s++) {
        char key[32];
        snprintf(key, sizeof key, "rows_%s", DS_SPLIT_NAMES[s]);
        if (meta_u64(&d->meta, path, key, &rows[s], e)) goto fail;
    }
    for (int s = 0; s < DS_NSPLITS; s++) {
        snprintf(path, plen, "%s/%s.bin", dir, DS_SPLIT_NAMES[s]);
        if (ds_split_open(&d->split[s], path, e)) goto fail;
        DsSplit *sp = &d->split[s];
        if (sp->fields != fields) {
            err_set(e, "%s: %u fields, but dataset.meta says %llu", path, sp->fields,
                    (unsigned long long)fields);
            goto fail;
        }
        if (rows[s] != sp->rows) {
            err_set(e, "%s: %llu rows, but dataset.meta says %llu", path, (unsigned long long)sp->rows,
                    (unsigned long long)rows[s]);
            goto fail;
        }
        if (check_ids) {
            for (uint64_t i = 0; i < sp->rows; i++)
                for (uint32_t f = 0; f < d->fields; f++)
                    if (sp->ids[i * d->fields + f] >= d->cards[f]) {
                        err_set(e, "%s/%s.bin: row %llu field %u: id %u is not below its "
                                   "cardinality %llu",
                                dir, DS_SPLIT_NAMES[s], (unsigned long long)i, f,
                                sp->ids[i * d->fields + f], (unsigned long long)d->cards[f]);
                        goto fail;
                    }
        }
    }
    free(path);
    return 0;
fail:
    free(path);
    ds_close(d);
    return -1;
}

void ds_close(Dataset *d) {
    for (int s = 0; s < DS_NSPLITS; s++) ds_split_close(&d->split[s]);
    if (d->field_names)
        for (uint32_t f = 0; f < d->fields; f++) free(d->field_names[f]);
    free(d->field_names);
    free(d->cards);
    free(d->dir);
    ds_meta_free(&d->meta);
    memset(d, 0, sizeof *d);
}

/* An existing `out` may be replaced only when it is a hashemb dataset: dataset.meta and the split
 * files, nothing else (so `--out` can never delete a user's directory or the input beside it). */
static const char *const DS_FILES[] = {"dataset.meta", "train.bin", "valid.bin", "test.bin"};
#define DS_NFILES ((int)(sizeof DS_FILES / sizeof DS_FILES[0]))

static int replaceable(const char *out, Err *e) {
    struct stat st;
    if (lstat(out, &st) != 0) return 0; /* absent: fine */
    if (!S_ISDIR(st.st_mode))
        return err_set(e, "--out: %s: exists and is not a directory; refusing to replace it", out);
    DIR *d = opendir(out);
    if (!d) return err_set(e, "--out: %s: cannot read: %s", out, strerror(errno));
    int meta = 0, foreign = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        int known = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
        for (int i = 0; i < DS_NFILES; i++) known |= !strcmp(de->d_name, DS_FILES[i]);
        foreign |= !known;
        meta |= !strcmp(de->d_name, "dataset.meta");
    }
    closedir(d);
    if (foreign || (!meta && st.st_nlink > 2))
        return err_set(e, "--out: %s: exists and is not a hashemb dataset (it holds other files); "
                          "refusing to replace it: choose another --out or remove it", out);
    return 0;
}

/* The directory that holds `out` (a normalised path: no trailing slash). Caller frees. */
static char *parent_of(const char *out) {
    const char *slash = strrchr(out, '/');
    if (!slash) return xstrdup(".");
    if (slash == out) return xstrdup("/");
    char *p = xstrdup(out);
    p[slash - out] = 0;
    return p;
}

int ds_out_prepare(const char *out, char **norm, Err *e) {
    *norm = NULL;
    if (!out || !*out) return err_set(e, "--out: empty path");
    char *o = xstrdup(out);
    size_t n = strlen(o);
    while (n > 1 && o[n - 1] == '/') o[--n] = 0; /* ds/ is ds: otherwise the temporary and the old
                                                    copy would go inside it */
    const char *base = strrchr(o, '/');
    base = base ? base + 1 : o;
    if (!strcmp(o, "/") || !strcmp(base, ".") || !strcmp(base, "..")) {
        err_set(e, "--out: '%s' names no directory of its own: give the dataset directory's name", out);
        free(o);
        return -1;
    }
    char *parent = parent_of(o);
    struct stat st;
    int rc = 0;
    if (stat(parent, &st) != 0)
        rc = errno == ENOENT || errno == ENOTDIR
                 ? err_set(e, "--out: %s: its parent directory %s does not exist", o, parent)
                 : err_set(e, "--out: %s: cannot check its parent directory %s: %s", o, parent,
                           strerror(errno));
    else if (!S_ISDIR(st.st_mode))
        rc = err_set(e, "--out: %s: %s is not a directory", o, parent);
    else if (access(parent, W_OK | X_OK) != 0)
        rc = err_set(e, "--out: %s: cannot create it in %s: %s", o, parent, strerror(errno));
    else if (replaceable(o, e))
        rc = -1;
    free(parent);
    if (rc) {
        free(o);
        return -1;
    }
    int swept = tmp_sweep_stale(o);
    if (swept)
        fprintf(stderr, "hashemb: removed %d temporary director%s of a dead process beside %s\n", swept,
                swept == 1 ? "y" : "ies", o);
    *norm = o;
    return 0;
}

uint64_t ds_bytes(const uint64_t rows[DS_NSPLITS], uint32_t fields, uint32_t flags) {
    uint64_t total = 1u << 16; /* dataset.meta, with room to spare */
    for (int s = 0; s < DS_NSPLITS; s++) total += ds_layout(rows[s], fields, flags).total;
    return total;
}

int ds_space_check(const char *out, uint64_t need, Err *e) {
    char *parent = parent_of(out);
    struct statvfs v;
    int rc = 0;
    if (statvfs(parent, &v) == 0) { /* when it cannot tell, posix_fallocate still will */
        uint64_t avail = (uint64_t)v.f_bavail * (uint64_t)v.f_frsize;
        if (need > avail)
            rc = err_set(e, "%s: the dataset needs %llu bytes (%.1f GB), but the filesystem of %s has "
                            "%llu bytes (%.1f GB) available",
                         out, (unsigned long long)need, (double)need / 1e9, parent,
                         (unsigned long long)avail, (double)avail / 1e9);
    }
    free(parent);
    return rc;
}

/* The temporary directory and the files it may hold, for the signal handler; the files first. */
static void guard_dir(const char *t, int add) {
    size_t n = strlen(t) + 32;
    char *p = xmalloc(n);
    if (add) tmp_guard_add(t);
    for (int i = 0; i < DS_NFILES; i++) {
        snprintf(p, n, "%s/%s", t, DS_FILES[i]);
        if (add)
            tmp_guard_add(p);
        else
            tmp_guard_remove(p);
    }
    if (!add) tmp_guard_remove(t);
    free(p);
}

int ds_dir_begin(const char *out, char **tmpdir, Err *e) {
    if (replaceable(out, e)) return -1;
    char *t = tmp_sibling(out, "tmp");
    rm_tree(t);
    guard_dir(t, 1); /* before mkdir: a signal in between finds nothing to remove, which is fine */
    if (mkdir(t, 0755) != 0) {
        err_set(e, "%s: cannot create directory: %s", t, strerror(errno));
        guard_dir(t, 0);
        free(t);
        return -1;
    }
    *tmpdir = t;
    return 0;
}

int ds_dir_commit(const char *tmpdir, const char *out, Err *e) {
    /* an existing dataset at `out` is replaced: moved aside, the new one renamed in, the old removed;
     * a signal meanwhile waits until that is done (tmp_guard_hold), so it never leaves `out` missing */
    char *old = tmp_sibling(out, "old");
    struct stat st;
    tmp_guard_hold();
    int had = lstat(out, &st) == 0;
    if (had && rename(out, old) != 0) {
        err_set(e, "%s: cannot replace: %s", out, strerror(errno));
        tmp_guard_release();
        free(old);
        ds_dir_abort(tmpdir);
        return -1;
    }
    if (rename(tmpdir, out) != 0) {
        err_set(e, "%s: cannot rename %s into place: %s", out, tmpdir, strerror(errno));
        if (had) rename(old, out);
        tmp_guard_release();
        free(old);
        ds_dir_abort(tmpdir);
        return -1;
    }
    guard_dir(tmpdir, 0);
    if (had) rm_tree(old);
    tmp_guard_release();
    free(old);
    return 0;
}

void ds_dir_abort(const char *tmpdir) {
    rm_tree(tmpdir);
    guard_dir(tmpdir, 0);
}

uint32_t **ds_train_counts(const Dataset *d) {
    const uint32_t F = d->fields;
    const DsSplit *t = &d->split[DS_TRAIN];
    CHECK(t->ids || t->rows == 0);
    uint32_t **c = xmalloc((size_t)F * sizeof *c);
    for (uint32_t f = 0; f < F; f++) c[f] = xcalloc((size_t)d->cards[f], sizeof **c);
#pragma omp parallel
    {
        const uint32_t nt = (uint32_t)omp_get_num_threads(), me = (uint32_t)omp_get_thread_num();
        for (uint64_t r = 0; r < t->rows; r++) {
            const uint32_t *row = t->ids + r * F;
            for (uint32_t f = me; f < F; f += nt) {
                uint32_t *x = &c[f][row[f]];
                *x += *x != UINT32_MAX;
            }
        }
    }
    return c;
}

void ds_counts_free(uint32_t **counts, uint32_t fields) {
    if (!counts) return;
    for (uint32_t f = 0; f < fields; f++) free(counts[f]);
    free(counts);
}
