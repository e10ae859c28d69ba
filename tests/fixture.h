/* fixture: reading the frozen reference answers in tests/fixtures/ (written by the Python generators
 * beside them), for test_torch_parity and test_strategy_parity. The format: '#' comments and blank
 * lines, then one item a line, either an array `name n v1 ... vn` (n doubles) or a text line
 * `key words...` whose second word is not a count (test_strategy_parity's `config NAME FLAGS...`). */
#ifndef HASHEMB_FIXTURE_H
#define HASHEMB_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

typedef struct {
    char name[128];
    int n;
    double *v;
} FixArray;

typedef struct {
    char key[32];
    char *rest; /* the words after the key */
} FixText;

typedef struct {
    FixArray *arrays;
    int narrays;
    FixText *texts;
    int ntexts;
} Fixture;

static inline void fixture_free(Fixture *fx) {
    for (int i = 0; i < fx->narrays; i++) free(fx->arrays[i].v);
    for (int i = 0; i < fx->ntexts; i++) free(fx->texts[i].rest);
    free(fx->arrays);
    free(fx->texts);
    memset(fx, 0, sizeof *fx);
}

/* 0, or -1 with the file and line of the first malformed item on stderr */
static inline int fixture_load(Fixture *fx, const char *path) {
    memset(fx, 0, sizeof *fx);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "  cannot open %s (run from the repository root)\n", path);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, rc = 0;
    while (rc == 0 && getline(&line, &cap, f) > 0) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        if (line[0] == '#' || line[0] == 0) continue;
        size_t len = strcspn(line, " ");
        char *p = line + len, *end;
        long n = *p ? strtol(p, &end, 10) : 0;
        if (!*p || end == p || (*end && *end != ' ')) { /* a text line */
            if (len == 0 || len >= sizeof fx->texts->key || !*p) {
                fprintf(stderr, "  %s:%d: expected `key words...` or `name n values`\n", path, lineno);
                rc = -1;
                break;
            }
            fx->texts = xrealloc(fx->texts, (size_t)(fx->ntexts + 1) * sizeof *fx->texts);
            FixText *t = &fx->texts[fx->ntexts++];
            memcpy(t->key, line, len);
            t->key[len] = 0;
            t->rest = xstrdup(p + 1);
            continue;
        }
        if (len == 0 || len >= sizeof fx->arrays->name || n < 0 || n > 1000000) {
            fprintf(stderr, "  %s:%d: expected `name n values` with 0 <= n <= 1000000\n", path, lineno);
            rc = -1;
            break;
        }
        fx->arrays = xrealloc(fx->arrays, (size_t)(fx->narrays + 1) * sizeof *fx->arrays);
        FixArray *a = &fx->arrays[fx->narrays++];
        memcpy(a->name, line, len);
        a->name[len] = 0;
        a->n = (int)n;
        a->v = xmalloc((size_t)(n ? n : 1) * sizeof(double));
        p = end;
        for (long i = 0; i < n; i++) {
            a->v[i] = strtod(p, &end);
            if (end == p) {
                fprintf(stderr, "  %s:%d: %s has %ld values, expected %ld\n", path, lineno, a->name, i, n);
                rc = -1;
                break;
            }
            p = end;
        }
        if (rc == 0 && strspn(p, " ") != strlen(p)) {
            fprintf(stderr, "  %s:%d: %s has more than %ld values\n", path, lineno, a->name, n);
            rc = -1;
        }
    }
    free(line);
    fclose(f);
    if (rc) fixture_free(fx);
    return rc;
}

/* The array `prefix.name` (`name` when prefix is NULL), which must have n values (n < 0: any); NULL,
 * saying why on stderr, when there is none. */
static inline const FixArray *fixture_get(const Fixture *fx, const char *prefix, const char *name, int n) {
    char full[160];
    snprintf(full, sizeof full, "%s%s%s", prefix ? prefix : "", prefix ? "." : "", name);
    for (int i = 0; i < fx->narrays; i++)
        if (!strcmp(fx->arrays[i].name, full)) {
            if (n >= 0 && fx->arrays[i].n != n) {
                fprintf(stderr, "  fixture: %s has %d values, expected %d\n", full, fx->arrays[i].n, n);
                return NULL;
            }
            return &fx->arrays[i];
        }
    fprintf(stderr, "  fixture: no array %s\n", full);
    return NULL;
}

#endif
