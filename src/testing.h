/* testing: the few macros the test binaries share. A test binary runs every check, prints each failure
 * with its file and line, and returns non-zero when any failed (genann's test.c, xxHash's sanity test). */
#ifndef HASHEMB_TESTING_H
#define HASHEMB_TESTING_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int t_failures = 0, t_checks = 0;

#define T_CHECK(cond, ...)                                                                         \
    do {                                                                                           \
        t_checks++;                                                                                \
        if (!(cond)) {                                                                             \
            t_failures++;                                                                          \
            fprintf(stderr, "  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                      \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

#define T_NEAR(a, b, tol, what)                                                                    \
    T_CHECK(fabs((double)(a) - (double)(b)) <= (tol), "%s: %.9g vs %.9g (tol %g)", (what),          \
            (double)(a), (double)(b), (double)(tol))

/* ../shared, or $SHARED; NULL (and a skip message naming what) when it is absent. */
static inline const char *t_shared(const char *what) {
    const char *s = getenv("SHARED");
    if (!s) s = "../shared";
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/%s", s, what);
    FILE *f = fopen(probe, "r");
    if (!f) {
        fprintf(stderr, "  skip: %s not found (tests that need ../shared skip where it is absent)\n",
                probe);
        return NULL;
    }
    fclose(f);
    return s;
}

static inline int t_report(const char *name) {
    if (t_failures)
        fprintf(stderr, "%s: %d of %d checks failed\n", name, t_failures, t_checks);
    else
        fprintf(stderr, "%s: %d checks passed\n", name, t_checks);
    return t_failures ? 1 : 0;
}

#endif
