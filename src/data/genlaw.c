#include "data/genlaw.h"

#include <math.h>

#include "core/util.h"

/* expm1(x)/x, continuous at 0 */
static double expm1_over(double x) { return fabs(x) > 1e-12 ? expm1(x) / x : 1.0 + 0.5 * x; }

/* integral of x^-s over [a, b], continuous in s at 1: a^(1-s) (e^((1-s) ln(b/a)) - 1) / (1-s) */
static double power_integral(double a, double b, double s) {
    double l = log(b / a);
    return exp((1.0 - s) * log(a)) * expm1_over((1.0 - s) * l) * l;
}

double genlaw_norm(uint64_t M, double s) {
    CHECK(M >= 1 && s > 0);
    uint64_t k = M < GENLAW_HEAD ? M : GENLAW_HEAD;
    double h = 0;
    for (uint64_t r = k; r >= 1; r--) h += pow((double)r, -s); // smallest terms first
    if (M > k) {
        double a = (double)k + 0.5, b = (double)M + 0.5;
        // midpoint rule's correction: - (f'(b) - f'(a)) / 24, f'(x) = -s x^(-s-1)
        h += power_integral(a, b, s) + s * (pow(b, -s - 1) - pow(a, -s - 1)) / 24.0;
    }
    return h;
}

/* P(a value of probability p shows up in n draws) */
static inline double seen(double p, double n) { return -expm1(n * log1p(-p)); }

/* 16-point Gauss-Legendre nodes and weights on [-1, 1], by Newton's method on P_16 */
#define GL_N 16

/* P_16(z) and P_15(z) by the three-term recurrence */
static void legendre(double z, double *pn, double *pn1) {
    double p0 = 1, p1 = z;
    for (int j = 2; j <= GL_N; j++) {
        double p2 = ((2 * j - 1) * z * p1 - (j - 1) * p0) / j;
        p0 = p1;
        p1 = p2;
    }
    *pn = p1;
    *pn1 = p0;
}

static void gauss_legendre(double *x, double *w) {
    for (int i = 0; i < GL_N / 2; i++) {
        double z = cos(M_PI * (i + 0.75) / (GL_N + 0.5)), p, q, dp;
        for (int it = 0; it < 100; it++) {
            legendre(z, &p, &q);
            dp = GL_N * (z * p - q) / (z * z - 1);
            double dz = p / dp;
            z -= dz;
            if (fabs(dz) < 1e-15) break;
        }
        legendre(z, &p, &q); // the derivative at the converged node
        dp = GL_N * (z * p - q) / (z * z - 1);
        x[i] = -z;
        x[GL_N - 1 - i] = z;
        w[i] = w[GL_N - 1 - i] = 2.0 / ((1 - z * z) * dp * dp);
    }
}

double genlaw_distinct(uint64_t M, double s, double n) {
    CHECK(M >= 1 && s > 0 && n >= 0);
    if (n == 0) return 0; // (and 0 * log1p(-1) would be NaN for M = 1)
    double H = genlaw_norm(M, s), lh = log(H);
    uint64_t k = M < GENLAW_HEAD ? M : GENLAW_HEAD;
    double d = 0;
    for (uint64_t r = k; r >= 1; r--) d += seen(exp(-s * log((double)r) - lh), n);
    if (M > k) {
        /* the rest as the integral of g(x) over [k + 1/2, M + 1/2], with x = e^t: g(e^t) e^t dt on
         * panels of width 1/2 in t (a factor 1.65 in x), where the integrand is smooth. Unlike
         * genlaw_norm, no end correction: it is below 1e-7 of the tail (genlaw.h). */
        double gx[GL_N], gw[GL_N];
        gauss_legendre(gx, gw);
        double ta = log((double)k + 0.5), tb = log((double)M + 0.5);
        int panels = (int)ceil((tb - ta) / 0.5);
        double h = (tb - ta) / panels, tail = 0;
        for (int p = 0; p < panels; p++) {
            double mid = ta + (p + 0.5) * h, sum = 0;
            for (int i = 0; i < GL_N; i++) {
                double t = mid + 0.5 * h * gx[i];
                sum += gw[i] * seen(exp(-s * t - lh), n) * exp(t);
            }
            tail += 0.5 * h * sum;
        }
        d += tail;
    }
    return d;
}

double genlaw_distinct_sum(uint64_t M, double s, double n) {
    double lh = log(genlaw_norm(M, s)), d = 0;
    for (uint64_t r = M; r >= 1; r--) d += seen(exp(-s * log((double)r) - lh), n);
    return d;
}

/* --- the fit --- */

static double objective(const GenLawTarget *t, uint64_t M, double s) {
    double j = 0;
    if (t->t1 > 0) {
        double e = log(genlaw_distinct(M, s, t->n1) / t->t1) / log(GENLAW_TOL1);
        j += e * e;
    }
    if (t->t2 > 0) {
        double e = log(genlaw_distinct(M, s, t->n2) / t->t2) / log(GENLAW_TOL2);
        j += e * e;
    }
    double ls = log(s / 1.1);
    return j + 1e-3 * ls * ls + 1e-5 * log((double)M / (double)t->m_lo);
}

/* min over u in [lo, hi] of f(u): the best of `grid` evenly spaced points, then golden section
 * between its neighbours. f need not be unimodal over the whole range, only near its minimum. */
typedef double (*Fn1)(double u, const void *ctx);
static double minimise(Fn1 f, const void *ctx, double lo, double hi, int grid, double *fbest) {
    double best = lo, fb = f(lo, ctx);
    for (int i = 1; i < grid; i++) {
        double u = lo + (hi - lo) * i / (grid - 1), fu = f(u, ctx);
        if (fu < fb) best = u, fb = fu;
    }
    double step = (hi - lo) / (grid - 1);
    double a = best - step < lo ? lo : best - step, b = best + step > hi ? hi : best + step;
    const double g = 0.6180339887498949;
    double c = b - g * (b - a), d = a + g * (b - a), fc = f(c, ctx), fd = f(d, ctx);
    for (int it = 0; it < 60 && b - a > 1e-12; it++) {
        if (fc < fd) {
            b = d, d = c, fd = fc;
            c = b - g * (b - a), fc = f(c, ctx);
        } else {
            a = c, c = d, fc = fd;
            d = a + g * (b - a), fd = f(d, ctx);
        }
    }
    double u = fc < fd ? c : d, fu = fc < fd ? fc : fd;
    if (fu < fb) best = u, fb = fu;
    *fbest = fb;
    return best;
}

typedef struct {
    const GenLawTarget *t;
    uint64_t M;
} InnerCtx;

static double inner_f(double ls, const void *ctx) {
    const InnerCtx *c = ctx;
    return objective(c->t, c->M, exp(ls));
}

/* the best exponent for a fixed M */
static double fit_s(const GenLawTarget *t, uint64_t M, double *j) {
    InnerCtx c = {t, M};
    return exp(minimise(inner_f, &c, log(GENLAW_S_MIN), log(GENLAW_S_MAX), 48, j));
}

static uint64_t m_of(double lm, const GenLawTarget *t) {
    double m = round(exp(lm));
    if (m < (double)t->m_lo) return t->m_lo;
    if (m > (double)t->m_hi) return t->m_hi;
    return (uint64_t)m;
}

static double outer_f(double lm, const void *ctx) {
    const GenLawTarget *t = ctx;
    double j;
    fit_s(t, m_of(lm, t), &j);
    return j;
}

void genlaw_fit(const GenLawTarget *t, uint64_t *M, double *s) {
    CHECK(t->m_lo >= 1 && t->m_lo <= t->m_hi && t->m_hi <= GENLAW_MAX_VALUES);
    double j;
    uint64_t m = t->m_lo;
    if (t->m_hi > t->m_lo) m = m_of(minimise(outer_f, t, log((double)t->m_lo), log((double)t->m_hi), 64, &j), t);
    *M = m;
    *s = fit_s(t, m, &j);
}
