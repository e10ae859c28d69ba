/* util: the three kinds of error of STYLE.md, checked allocation and I/O, timing, number parsing.
 * Bad user input travels as an Err (a message naming the flag or FILE:LINE) returned to main; I/O and
 * allocation failures and broken invariants stop the program where they happen. */
#ifndef HASHEMB_UTIL_H
#define HASHEMB_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ERR_LEN 1024

/* An error for bad user input: functions that can meet one return -1 and fill it. */
typedef struct {
    char msg[ERR_LEN];
} Err;

int err_set(Err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Broken invariant: never compiled out. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) check_failed(__FILE__, __LINE__, #cond);                                      \
    } while (0)
void check_failed(const char *file, int line, const char *cond) __attribute__((noreturn));

/* I/O or allocation failure: prints where, what failed, and errno's text, then exits 1. */
void fatal_at(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
#define FATAL(...) fatal_at(__FILE__, __LINE__, __VA_ARGS__)

void *xmalloc_at(size_t n, const char *file, int line);
void *xcalloc_at(size_t n, size_t size, const char *file, int line);
void *xrealloc_at(void *p, size_t n, const char *file, int line);
/* 64-byte aligned, for arrays the hot loops stream through */
void *xaligned_at(size_t n, const char *file, int line);
/* For the large tables a batch gathers rows from at random: 2 MiB aligned and, from 8 MiB up, marked
 * for transparent huge pages (madvise MADV_HUGEPAGE, which Debian's default THP mode "madvise" waits
 * for), so that a random row costs a TLB miss less often; HASHEMB_HUGEPAGES=0 in the environment
 * leaves them on 4 KiB pages (the bench's comparison). Freed with free(). */
void *xaligned_big_at(size_t n, const char *file, int line);
char *xstrdup_at(const char *s, const char *file, int line);
#define xaligned_big(n) xaligned_big_at((n), __FILE__, __LINE__)
#define xmalloc(n) xmalloc_at((n), __FILE__, __LINE__)
#define xcalloc(n, s) xcalloc_at((n), (s), __FILE__, __LINE__)
#define xrealloc(p, n) xrealloc_at((p), (n), __FILE__, __LINE__)
#define xaligned(n) xaligned_at((n), __FILE__, __LINE__)
#define xstrdup(s) xstrdup_at((s), __FILE__, __LINE__)

double now_seconds(void);

/* Whole-string number parsing: -1 and an Err naming `what` when s is not entirely a number in range. */
int parse_i64(const char *s, long long lo, long long hi, const char *what, long long *out, Err *e);
int parse_f64(const char *s, double lo, double hi, const char *what, double *out, Err *e);
/* Comma-separated lists; *n receives the count. Caller frees *out. */
int parse_i64_list(const char *s, long long lo, long long hi, const char *what, long long **out,
                   int *n, Err *e);
int parse_f64_list(const char *s, double lo, double hi, const char *what, double **out, int *n,
                   Err *e);

/* value is one of names[0..n): *out gets its index; otherwise an Err naming `what` and the choices. */
int parse_name(const char *value, const char *const *names, int n, const char *what, int *out, Err *e);
/* names[0..n) joined by '|' into buf ("deepfm|mlp"), leaving out names[skip] (skip -1: none). */
void names_join(char *buf, size_t size, const char *const *names, int n, int skip);

/* The one reader of key=value text files (dataset.meta, prep's --schema): '#' comments and blank
 * lines skipped, CR LF accepted, each line split at its first '='. fn gets the key and the value (both
 * writable, NUL-terminated) and returns nonzero, with e set, to stop. Refused, each naming PATH or
 * PATH:LINE: a file that cannot be opened ("cannot open NOUN" where noun is given), one that is not a
 * regular file (a FIFO is not waited on), a line without '=' ("expected EXPECT"), an empty key. */
typedef int (*KvLineFn)(void *ctx, char *key, char *value, const char *path, int lineno, Err *e);
int kv_read(const char *path, const char *noun, const char *expect, KvLineFn fn, void *ctx, Err *e);

/* Directory helpers: remove a directory tree we created (temporary output), make one. */
int rm_tree(const char *path);
int path_exists(const char *path);

/* Temporary outputs are named TARGET.KIND.HOST.PID (tmp_sibling: KIND "tmp" for what is being
 * written, "old" for what is being replaced), so that processes, and machines sharing a filesystem,
 * never take each other's. tmp_sweep_stale removes TARGET.tmp.HOST.PID entries beside TARGET whose
 * HOST is this one and whose PID is no live process here (left by a crash or SIGKILL); it returns how
 * many it removed. */
char *tmp_sibling(const char *target, const char *kind);
int tmp_sweep_stale(const char *target);
/* SIGINT, SIGTERM and SIGHUP remove the paths added here (files, or empty directories: added after
 * the directory, its files are removed first), then end the process as the signal would have. Remove
 * a path once it was renamed into place or deleted. Between hold and release (main thread only; they
 * nest) a signal waits: renames that put outputs in place are never cut in half. The handlers are
 * installed by the first call, except for signals that were ignored at that point. */
void tmp_guard_add(const char *path);
void tmp_guard_remove(const char *path);
void tmp_guard_hold(void);
void tmp_guard_release(void);

/* Peak resident set size of this process, from the OS (getrusage), in bytes. */
uint64_t peak_rss_bytes(void);

/* sha256 of a file's bytes as 64 hex chars (+NUL). -1 with an Err when it cannot be read. */
int sha256_file(const char *path, char hex[65], Err *e);
/* The same in steps, for bytes that arrive in pieces (prep hashes its input as pass 1 reads it). */
typedef struct {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t fill;
} Sha256;
void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const void *data, size_t n);
void sha256_final(Sha256 *s, char hex[65]);
void sha256_buf(const void *data, size_t n, char hex[65]);

#endif
