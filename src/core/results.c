#include "core/results.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void result_fmt(char *buf, size_t n, double v) {
    if (isnan(v)) snprintf(buf, n, "NA");
    else if (isinf(v)) snprintf(buf, n, v > 0 ? "inf" : "-inf");
    else snprintf(buf, n, "%.8g", v);
}

/* A string column: a backslash, tab, newline or carriage return in it (a --data path may hold any
 * of them) is written as \\, \t, \n or \r, so that a row is always one line of the header's columns. */
static void put_field(FILE *f, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '\\': fputs("\\\\", f); break;
        case '\t': fputs("\\t", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        default: fputc(*s, f);
        }
    }
}

void result_print(FILE *f, const ResultRow *r) {
    char d[16][32];
    double vals[] = {r->ratio_target, r->ratio_actual, r->ratio_compressed, r->valid_auc,
                     r->valid_logloss, r->test_auc, r->test_logloss, r->oracle_auc,
                     r->oracle_logloss, r->train_seconds, r->samples_per_sec};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) result_fmt(d[i], sizeof d[i], vals[i]);
    char sizes[4][24], best[16];
    uint64_t s[4] = {r->emb_params, r->emb_bytes, r->opt_bytes, r->dense_params};
    for (int i = 0; i < 4; i++) {
        if (r->have_sizes) snprintf(sizes[i], sizeof sizes[i], "%llu", (unsigned long long)s[i]);
        else snprintf(sizes[i], sizeof sizes[i], "NA");
    }
    char acc[24];
    if (r->accounted_bytes) snprintf(acc, sizeof acc, "%llu", (unsigned long long)r->accounted_bytes);
    else snprintf(acc, sizeof acc, "NA");
    if (r->best_epoch > 0) snprintf(best, sizeof best, "%d", r->best_epoch);
    else snprintf(best, sizeof best, "NA");
    fprintf(f, "%s\n", RESULT_COLUMNS);
    fprintf(f, "%s\t", r->run_id);
    const char *strs[] = {r->dataset, r->model, r->emb, r->variant};
    for (int i = 0; i < 4; i++) put_field(f, strs[i]), fputc('\t', f);
    fprintf(f, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%llu\t%llu\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t",
            d[0], d[1], d[2], sizes[0], sizes[1], sizes[2], sizes[3],
            (unsigned long long)r->peak_rss_bytes, (unsigned long long)r->seed, r->epochs, best, d[3],
            d[4], d[5], d[6], d[7], d[8], d[9], d[10], r->threads);
    const char *tail[] = {r->blas_core, r->git_sha, r->status, r->config};
    for (int i = 0; i < 4; i++) put_field(f, tail[i]), fputc('\t', f);
    fprintf(f, "%s\n", acc);
}

/* PATH.tmp.HOST.PID (util.h: no two processes or machines share one), removed by SIGINT/SIGTERM */
static int atomic_begin(const char *path, char *tmp, size_t n, FILE **f, Err *e) {
    char *t = tmp_sibling(path, "tmp");
    snprintf(tmp, n, "%s", t);
    free(t);
    tmp_guard_add(tmp);
    *f = fopen(tmp, "w");
    if (!*f) {
        tmp_guard_remove(tmp);
        return err_set(e, "%s: cannot create: %s", tmp, strerror(errno));
    }
    return 0;
}

static int atomic_end(const char *path, const char *tmp, FILE *f, Err *e) {
    int bad = ferror(f);
    if (fflush(f) != 0) bad = 1;
    if (!bad && fsync(fileno(f)) != 0) bad = 1;
    if (fclose(f) != 0) bad = 1;
    if (bad) {
        int er = errno;
        unlink(tmp);
        tmp_guard_remove(tmp);
        return err_set(e, "%s: cannot write: %s", tmp, strerror(er));
    }
    tmp_guard_hold(); /* a signal waits until the file is in place (or gone) */
    int rc = rename(tmp, path), er = errno;
    if (rc != 0) unlink(tmp);
    tmp_guard_remove(tmp);
    tmp_guard_release();
    if (rc != 0) return err_set(e, "%s: cannot rename into place: %s", path, strerror(er));
    return 0;
}

int result_write(const char *path, const ResultRow *r, Err *e) {
    char tmp[4096];
    FILE *f;
    if (atomic_begin(path, tmp, sizeof tmp, &f, e)) return -1;
    result_print(f, r);
    return atomic_end(path, tmp, f, e);
}

void result_curve_path(const char *out, char *buf, size_t n) {
    size_t len = strlen(out);
    if (len >= 4 && !strcmp(out + len - 4, ".tsv"))
        snprintf(buf, n, "%.*s.curve.tsv", (int)(len - 4), out);
    else snprintf(buf, n, "%s.curve.tsv", out);
}

int curve_write(const char *path, const CurveRow *rows, int n, Err *e) {
    char tmp[4096];
    FILE *f;
    if (atomic_begin(path, tmp, sizeof tmp, &f, e)) return -1;
    fprintf(f, "%s\n", CURVE_COLUMNS);
    for (int i = 0; i < n; i++) {
        char a[32], b[32], c[32], d[32];
        result_fmt(a, sizeof a, rows[i].train_loss);
        result_fmt(b, sizeof b, rows[i].valid_auc);
        result_fmt(c, sizeof c, rows[i].valid_logloss);
        result_fmt(d, sizeof d, rows[i].test_auc);
        fprintf(f, "%d\t%ld\t%s\t%s\t%s\t%s\t%.3f\n", rows[i].epoch, rows[i].step, a, b, c, d,
                rows[i].seconds);
    }
    return atomic_end(path, tmp, f, e);
}
