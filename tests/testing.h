/* testing: the few macros the test binaries share. A test binary runs every check, prints each failure
 * with its file and line, and returns non-zero when any failed (genann's test.c, xxHash's sanity test). */
#ifndef HASHEMB_TESTING_H
#define HASHEMB_TESTING_H

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"

static int t_failures = 0, t_checks = 0, t_skips = 0;

/* Every test binary runs on the OpenBLAS core hashemb itself would use: glibc passes main's argc and
 * argv to constructors, so this re-executes the test with the core fixed before main runs, as
 * main.c's blas_fix_core() does for hashemb (a test under a forced OPENBLAS_CORETYPE keeps it). */
__attribute__((constructor)) static void t_fix_core(int argc, char **argv) {
    (void)argc;
    blas_fix_core(argv);
}

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

/* ../shared, or $SHARED; NULL (and a skip message naming what, counted) when it is absent. */
static inline const char *t_shared(const char *what) {
    const char *s = getenv("SHARED");
    if (!s) s = "../shared";
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/%s", s, what);
    FILE *f = fopen(probe, "r");
    if (!f) {
        fprintf(stderr, "  skip: %s not found (tests that need ../shared skip where it is absent)\n",
                probe);
        t_skips++;
        return NULL;
    }
    fclose(f);
    return s;
}

/* ---------------------------------------------------------------------------------------------- */
/* Error bounds for a fast float kernel against its `_ref`, per element.
 *
 * An element that a kernel forms as a float sum of n terms t_1..t_n (products included), in whatever
 * order and blocking the kernel or OpenBLAS's kernels for this core choose, is off the exact sum by
 * at most gamma_n sum|t_k|, gamma_n = n u / (1 - n u), u = 2^-24 (Higham, Accuracy and Stability of
 * Numerical Algorithms, 2nd ed., 3.1). That worst case needs every rounding error to push the same
 * way. Modelled as independent and of mean zero, they grow like sqrt(n) u instead: Higham and Mary
 * (SIAM J. Sci. Comput. 41(5), 2019, thm. 2.4) bound the error by about lambda sqrt(n) u sum|t_k| with
 * probability at least 1 - 2n exp(-lambda^2 (1-u)^2 / 2). So an element is held to
 *     T_BOUND_C * sqrt(n) * FLT_EPSILON * sum|t_k|  +  FLT_EPSILON * |ref|
 * (FLT_EPSILON = 2u, so lambda = 2 T_BOUND_C = 6: the model's probability is above 1 - 1e-4 for the
 * longest reductions here, n = 3,001; the second term is the reference's own final rounding, the
 * `_ref` kernels summing in double and rounding once). The model fits these tests' data, terms of
 * varied sign; a long sum of same-sign terms can exceed it (4,096 additions of 0.1f: 2.5x) and would
 * need the n u bound. Each binary prints the largest error/bound ratio it met per kernel: at most 0.14
 * on every core tried (Prescott, Sandybridge, Haswell, Zen). A flat tolerance was too tight for long
 * reductions of large terms (a 3,000-term dW on the Prescott core failed 1e-5) and too loose for
 * short ones; test_layers shows that this bound catches an error of 10x an element's bound and a
 * reduction that drops one of its terms. */
#define T_BOUND_C 3.0

static inline double t_bound(double n, double sum_abs_terms, double ref) {
    return T_BOUND_C * sqrt(n) * FLT_EPSILON * sum_abs_terms + FLT_EPSILON * fabs(ref);
}

/* The largest error/bound ratio met per kernel name, printed by t_report (the headroom on this core). */
#define T_MAX_KERNELS 32
static struct {
    const char *name;
    double worst;
} t_kernels[T_MAX_KERNELS];

static inline void t_note_ratio(const char *kernel, double ratio) {
    int k = 0;
    while (k < T_MAX_KERNELS && t_kernels[k].name && strcmp(t_kernels[k].name, kernel)) k++;
    if (k == T_MAX_KERNELS) return;
    t_kernels[k].name = kernel;
    if (!(ratio <= t_kernels[k].worst)) t_kernels[k].worst = ratio; /* NaN sticks */
}

/* Elements of got outside ref +- bound (a NaN counts as outside); *worst the largest ratio, *at its
 * index. */
static inline size_t t_outside(const float *got, const float *ref, const double *bound, size_t n,
                               double *worst, size_t *at) {
    size_t bad = 0;
    *worst = 0.0, *at = 0;
    for (size_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - (double)ref[i]);
        double r = err == 0.0 ? 0.0 : err / bound[i];
        if (!(err <= bound[i])) bad++;
        if (!(r <= *worst)) *worst = r, *at = i;
    }
    return bad;
}

/* The check: every element within its bound; the worst ratio is kept under `kernel`. */
#define T_BOUNDED(kernel, got, ref, bound, n, ...)                                                 \
    do {                                                                                           \
        double t_w_;                                                                               \
        size_t t_at_, t_bad_ = t_outside((got), (ref), (bound), (n), &t_w_, &t_at_);               \
        t_note_ratio((kernel), t_w_);                                                              \
        char t_what_[256];                                                                         \
        snprintf(t_what_, sizeof t_what_, __VA_ARGS__);                                            \
        T_CHECK(t_bad_ == 0, "%s: %zu of %zu elements outside their error bound, worst err/bound " \
                "%.3g at [%zu] (%.9g vs %.9g, bound %.3g)", t_what_, t_bad_, (size_t)(n), t_w_,     \
                t_at_, (double)(got)[t_at_], (double)(ref)[t_at_], (bound)[t_at_]);                 \
    } while (0)

/* Prints the result and returns the exit code: 0 passed, 1 failed, 77 skipped (every check needed
 * ../shared). A binary that made no check and skipped nothing proves nothing, and fails. */
static inline int t_report(const char *name) {
    for (int k = 0; k < T_MAX_KERNELS && t_kernels[k].name; k++)
        fprintf(stderr, "  error/bound: %-28s largest %.3g (OpenBLAS core %s)\n", t_kernels[k].name,
                t_kernels[k].worst, blas_core());
    if (t_failures) {
        fprintf(stderr, "%s: %d of %d checks failed\n", name, t_failures, t_checks);
        return 1;
    }
    if (t_checks == 0 && t_skips) {
        fprintf(stderr, "%s: SKIP (%d part(s) need ../shared)\n", name, t_skips);
        return 77;
    }
    if (t_checks == 0) {
        fprintf(stderr, "%s: no check ran\n", name);
        return 1;
    }
    fprintf(stderr, "%s: %d checks passed%s (OpenBLAS core %s, %s)\n", name, t_checks,
            t_skips ? ", some skipped" : "", blas_core(), blas_core_source());
    return 0;
}

#endif
