/* test_vectors: the known answers of ../shared/vectors (SPEC 4, made by an independent Python reading of
 * the definitions): every row of plan.tsv through emb_plan_make, hash_rows.tsv through the hashing
 * and the hash strategy's forward, bh_index.tsv through the bh strategy's index function, and
 * bh_shared_collisions.tsv through the count `plan` prints. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emb/emb.h"
#include "emb/emb_bh.h"
#include "testing.h"

#define MAXCOLS 16

/* Splits a line at tabs in place; returns the column count. */
static int split_tabs(char *line, char **col) {
    int n = 0;
    line[strcspn(line, "\r\n")] = 0;
    for (char *s = line; n < MAXCOLS;) {
        col[n++] = s;
        char *t = strchr(s, '\t');
        if (!t) break;
        *t = 0;
        s = t + 1;
    }
    return n;
}

static FILE *open_vec(const char *shared, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/vectors/%s", shared, name);
    FILE *f = fopen(path, "r");
    T_CHECK(f != NULL, "cannot open %s", path);
    return f;
}

/* A vector file read row by row: its header (the first line that is not a comment) kept in hc. */
typedef struct {
    FILE *f;
    const char *name;
    int ncols, hcols;
    char hline[1024], line[1024];
    char *hc[MAXCOLS];
} VecFile;

/* Opens shared/vectors/NAME and reads its header; 0 (a failed check) when it cannot be opened. */
static int vec_open(VecFile *v, const char *shared, const char *name, int ncols) {
    v->f = open_vec(shared, name);
    if (!v->f) return 0;
    v->name = name;
    v->ncols = ncols;
    v->hcols = 0;
    while (fgets(v->hline, sizeof v->hline, v->f))
        if (v->hline[0] != '#') {
            v->hcols = split_tabs(v->hline, v->hc);
            break;
        }
    return 1;
}

/* The next data row split into c; 0 at the end. Comment lines are skipped; a row with another column
 * count fails a check and is skipped. */
static int vec_next(VecFile *v, char **c) {
    while (fgets(v->line, sizeof v->line, v->f)) {
        if (v->line[0] == '#') continue;
        int nc = split_tabs(v->line, c);
        if (nc == v->ncols) return 1;
        T_CHECK(0, "%s: %d columns", v->name, nc);
    }
    return 0;
}

/* One field's plan under o with compress-min 0. */
static void plan1(EmbPlan *p, uint64_t N, int w, EmbOptions *o) {
    o->compress_min = 0;
    Err e;
    int rc = emb_plan_make(p, &N, 1, w, o, &e);
    CHECK(rc == 0);
}

static int test_plan_tsv(const char *shared) {
    VecFile v;
    if (!vec_open(&v, shared, "plan.tsv", 9)) return 0;
    T_CHECK(v.hcols == 9 && !strcmp(v.hc[0], "strategy") && !strcmp(v.hc[8], "clamped"), "plan.tsv header");
    char *c[MAXCOLS];
    int rows = 0;
    while (vec_next(&v, c)) {
        const int w = atoi(c[2]);
        const uint64_t N = strtoull(c[3], NULL, 10);
        const double r = strtod(c[4], NULL);
        EmbOptions o;
        emb_options_default(&o);
        o.ratio = r;
        char what[256];
        snprintf(what, sizeof what, "%.16s %.48s w=%d N=%" PRIu64 " r=%g", c[0], c[1], w, N, r);
        /* the configuration as flags: "bh" "succession:shared:sum" gives --emb bh --bh-blocks
         * succession --bh-table shared --bh-fuse sum ("sum stands for sum and mean") */
        char flags[2][256];
        int nvariants = 1;
        if (!strcmp(c[0], "bh")) {
            char opts[64];
            snprintf(opts, sizeof opts, "%s", c[1]);
            char *fuse = strrchr(opts, ':');
            *fuse++ = 0;
            char *table = strchr(opts, ':');
            *table++ = 0;
            snprintf(flags[0], sizeof flags[0], "--emb bh --bh-blocks %s --bh-table %s --bh-fuse %s", opts,
                     table, fuse);
            if (!strcmp(fuse, "sum")) {
                nvariants = 2;
                snprintf(flags[1], sizeof flags[1], "--emb bh --bh-blocks %s --bh-table %s --bh-fuse mean",
                         opts, table);
            }
        } else if (!strcmp(c[0], "qr")) {
            snprintf(flags[0], sizeof flags[0], "--emb qr --qr-op %s", c[1]);
        } else {
            snprintf(flags[0], sizeof flags[0], "--emb %s", c[0]);
        }
        for (int var = 0; var < nvariants; var++) {
            Err e;
            CHECK(emb_options_parse_string(&o, flags[var], &e) == 0);
            EmbPlan p;
            plan1(&p, N, w, &o);
            const EmbFieldPlan *fp = &p.f[0];
            T_CHECK(fp->compressed, "%s: not compressed", what);
            if (!strcmp(c[5], "infeasible")) {
                T_CHECK(!fp->feasible && p.infeasible, "%s: should be infeasible", what);
                emb_plan_free(&p);
                continue;
            }
            T_CHECK(fp->feasible, "%s: infeasible: %s", what, fp->reason);
            /* the layout as `plan` shows it */
            char desc[512];
            EmbPlanCols pc;
            emb_plan_cols(&p, fp, &pc);
            if (strcmp(pc.m, "NA")) snprintf(desc, sizeof desc, "m=%s", pc.m);
            else snprintf(desc, sizeof desc, "S=%s,t=%s,n=%s,lengths=%s", pc.S, pc.t, pc.n, pc.lengths);
            T_CHECK(!strcmp(desc, c[5]), "%s: %s, expected %s", what, desc, c[5]);
            T_CHECK(fp->rows == strtoull(c[6], NULL, 10), "%s: rows %" PRIu64 ", expected %s", what,
                    fp->rows, c[6]);
            T_CHECK(fp->params == strtoull(c[7], NULL, 10), "%s: params %" PRIu64 ", expected %s", what,
                    fp->params, c[7]);
            T_CHECK(fp->clamped == atoi(c[8]), "%s: clamped %d, expected %s", what, fp->clamped, c[8]);
            emb_plan_free(&p);
        }
        rows++;
    }
    fclose(v.f);
    fprintf(stderr, "  plan.tsv: %d rows\n", rows);
    T_CHECK(rows == 3840, "plan.tsv: %d rows (3840 expected)", rows);
    return rows;
}

/* The row the hash strategy's forward reads for id, found by filling row r with the value r. The
 * layout of m rows is the planner's: N = m K ids at ratio K give m = floor(N / K) exactly. */
static uint32_t hash_forward_row(uint32_t field, uint64_t seed, uint32_t id, uint64_t m) {
    const uint64_t K = ((uint64_t)id + 1 + m - 1) / m;
    EmbOptions o;
    Err e;
    emb_options_default(&o);
    CHECK(emb_options_parse_string(&o, "--emb hash", &e) == 0);
    o.ratio = (double)K;
    EmbPlan p;
    plan1(&p, m * K, 1, &o);
    char d[64];
    emb_describe(&p, &p.f[0], d, sizeof d);
    CHECK(strtoull(d + 2, NULL, 10) == m); /* "m=..." */
    EmbField f;
    memset(&f, 0, sizeof f);
    f.s = &EMB_HASH_STRATEGY;
    f.w = 1;
    f.index = field;
    f.plan = p.f[0];
    f.plan.seed_f = emb_field_seed(field, seed);
    emb_plan_free(&p);
    Rng rng;
    rng_seed(&rng, 1);
    f.s->create(&f, 4, OPT_SGD, &rng);
    for (uint64_t r = 0; r < m; r++) f.tables[0].w[r] = (float)r;
    float out;
    f.s->forward(&f, &out, 1, &id, 1, 1);
    for (int k = 0; k < f.ntables; k++) emb_table_free(&f.tables[k]);
    return (uint32_t)out;
}

static int test_hash_rows(const char *shared) {
    VecFile v;
    if (!vec_open(&v, shared, "hash_rows.tsv", 7)) return 0;
    char *c[MAXCOLS];
    int rows = 0;
    while (vec_next(&v, c)) {
        uint64_t seed = strtoull(c[0], NULL, 10), seed_f = strtoull(c[2], NULL, 10),
                 h = strtoull(c[4], NULL, 10), m = strtoull(c[5], NULL, 10), row = strtoull(c[6], NULL, 10);
        uint32_t field = (uint32_t)strtoul(c[1], NULL, 10), id = (uint32_t)strtoul(c[3], NULL, 10);
        T_CHECK(emb_field_seed(field, seed) == seed_f, "seed_f of field %u seed %" PRIu64, field, seed);
        T_CHECK(emb_hash_id(id, seed_f) == h, "hash of id %u", id);
        T_CHECK(hash_forward_row(field, seed, id, m) == row, "hash row of id %u field %u seed %" PRIu64
                " m %" PRIu64, id, field, seed, m);
        /* the same seed_f through the plan */
        if (field == 0) {
            EmbOptions o;
            Err e;
            emb_options_default(&o);
            CHECK(emb_options_parse_string(&o, "--emb hash", &e) == 0);
            o.seed = seed;
            o.ratio = 2;
            EmbPlan p;
            plan1(&p, 1000, 17, &o);
            T_CHECK(p.f[0].seed_f == seed_f, "plan's seed_f");
            emb_plan_free(&p);
        }
        rows++;
    }
    fclose(v.f);
    fprintf(stderr, "  hash_rows.tsv: %d rows\n", rows);
    T_CHECK(rows > 0, "hash_rows.tsv is empty");
    return rows;
}

/* A bh plan of one field with a fixed block length. */
static void bh_plan_t(EmbPlan *p, uint64_t N, int t, const char *blocks, const char *table) {
    EmbOptions o;
    Err e;
    char fl[128];
    emb_options_default(&o);
    snprintf(fl, sizeof fl, "--emb bh --ratio 1 --bh-t %d --bh-blocks %s --bh-table %s", t, blocks, table);
    CHECK(emb_options_parse_string(&o, fl, &e) == 0);
    plan1(p, N, 17, &o);
}

static int test_bh_index(const char *shared) {
    VecFile v;
    if (!vec_open(&v, shared, "bh_index.tsv", 7)) return 0;
    char *c[MAXCOLS];
    int rows = 0;
    while (vec_next(&v, c)) {
        uint64_t N = strtoull(c[0], NULL, 10);
        int S = atoi(c[1]), t = atoi(c[2]);
        uint32_t id = (uint32_t)strtoul(c[5], NULL, 10);
        EmbPlan p;
        bh_plan_t(&p, N, t, c[3], c[4]);
        const EmbFieldPlan *fp = &p.f[0];
        T_CHECK(BHP(fp)->S == S, "bh S %d, expected %d", BHP(fp)->S, S);
        EmbBhLayout L;
        emb_bh_layout(&L, fp);
        uint64_t r[EMB_MAX_BLOCKS];
        emb_bh_rows(&L, id, r);
        char got[512] = "";
        for (int j = 0; j < L.n; j++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%" PRIu64, j ? "," : "", r[j]);
        T_CHECK(!strcmp(got, c[6]), "bh rows of id %u (N %" PRIu64 " t %d %s %s): %s, expected %s", id, N,
                t, c[3], c[4], got, c[6]);
        emb_plan_free(&p);
        rows++;
    }
    fclose(v.f);
    fprintf(stderr, "  bh_index.tsv: %d rows\n", rows);
    T_CHECK(rows > 0, "bh_index.tsv is empty");
    return rows;
}

static int test_bh_sharing(const char *shared) {
    VecFile v;
    if (!vec_open(&v, shared, "bh_shared_collisions.tsv", 5)) return 0;
    char *c[MAXCOLS];
    int rows = 0;
    while (vec_next(&v, c)) {
        uint64_t N = strtoull(c[0], NULL, 10), want = strtoull(c[4], NULL, 10);
        int t = atoi(c[2]);
        const char *blocks = c[3];
        EmbPlan p;
        bh_plan_t(&p, N, t, blocks, "shared");
        T_CHECK(BHP(&p.f[0])->S == atoi(c[1]), "S");
        uint64_t got = emb_bh_sharing(&p.f[0], UINT64_MAX);
        T_CHECK(got == want, "sharing N %" PRIu64 " t %d %s: %" PRIu64 ", expected %" PRIu64, N, t, c[3],
                got, want);
        ((BhPlan *)p.f[0].layout)->fuse = BH_MEAN;
        T_CHECK(emb_bh_sharing(&p.f[0], UINT64_MAX) == want, "sharing with mean");
        emb_plan_free(&p);
        /* per-block tables: no id shares */
        bh_plan_t(&p, N, t, blocks, "per-block");
        T_CHECK(emb_bh_sharing(&p.f[0], UINT64_MAX) == 0, "per-block sharing");
        emb_plan_free(&p);
        rows++;
    }
    fclose(v.f);
    fprintf(stderr, "  bh_shared_collisions.tsv: %d rows\n", rows);
    T_CHECK(rows > 0, "bh_shared_collisions.tsv is empty");
    return rows;
}

int main(void) {
    const char *shared = t_shared("vectors/plan.tsv");
    if (!shared) return t_report("test_vectors");
    test_plan_tsv(shared);
    test_hash_rows(shared);
    test_bh_index(shared);
    test_bh_sharing(shared);
    return t_report("test_vectors");
}
