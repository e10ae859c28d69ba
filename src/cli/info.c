/* info: describe a prepared dataset (SPEC 2): where it came from, rows and click rate per split, the
 * oracle where the data is synthetic, and per field its cardinality, how much of it train uses, how
 * skewed it is and how often valid/test fall out of the vocabulary. Opening checks every id, so a
 * corrupt dataset fails here with the file and the check named. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "core/blas.h"
#include "cli/cmd.h"
#include "data/dataset.h"
#include "data/gen.h"
#include "core/metrics.h"

static const char USAGE[] =
    "usage: hashemb info DIR\n"
    "\n"
    "Checks a prepared dataset (header, sizes, checksum, every id below its cardinality) and prints\n"
    "its source, rows, click rate and oracle (synthetic data) per split, and per field: N_f (OOV id\n"
    "included), distinct ids seen in train, the train share of the most frequent id, and the share of\n"
    "rows whose id is 0 (out of vocabulary) per split.\n";

typedef struct {
    uint64_t seen, top, oov[DS_NSPLITS];
} FieldStats;

static void field_stats(const Dataset *d, FieldStats *fs) {
    uint32_t F = d->fields;
#pragma omp parallel for schedule(dynamic, 1)
    for (uint32_t f = 0; f < F; f++) {
        /* counts for one field at a time: memory is the largest N_f per thread, not the sum */
        uint32_t *count = xcalloc(d->cards[f], sizeof *count);
        const DsSplit *tr = &d->split[DS_TRAIN];
        for (uint64_t i = 0; i < tr->rows; i++) {
            uint32_t *c = &count[tr->ids[i * F + f]];
            if (*c != UINT32_MAX) (*c)++;
        }
        FieldStats s = {0};
        for (uint64_t v = 0; v < d->cards[f]; v++) {
            s.seen += count[v] != 0;
            if (count[v] > s.top) s.top = count[v];
        }
        s.oov[DS_TRAIN] = count[0];
        free(count);
        for (int sp = DS_VALID; sp < DS_NSPLITS; sp++) {
            const DsSplit *x = &d->split[sp];
            uint64_t z = 0;
            for (uint64_t i = 0; i < x->rows; i++) z += x->ids[i * F + f] == 0;
            s.oov[sp] = z;
        }
        fs[f] = s;
    }
}

static double share(uint64_t k, uint64_t n) { return n ? (double)k / (double)n : NAN; }

static void print_num(double v, int width, int prec) {
    if (isnan(v))
        printf(" %*s", width, "NA");
    else
        printf(" %*.*f", width, prec, v);
}

/* The meta's value when it has the key (gen writes them), else computed from the stored
 * probabilities, else NaN (real data: no oracle). */
static double oracle(const Dataset *d, int sp, int is_auc) {
    char key[64];
    snprintf(key, sizeof key, "oracle_%s_%s", is_auc ? "auc" : "logloss", DS_SPLIT_NAMES[sp]);
    const char *v = ds_meta_get(&d->meta, key);
    if (v) {
        char *end;
        double x = strtod(v, &end);
        return *v && !*end ? x : NAN;
    }
    const DsSplit *s = &d->split[sp];
    if (!s->prob) return NAN;
    return is_auc ? metric_auc(s->prob, s->labels, s->rows) : metric_logloss(s->prob, s->labels, s->rows);
}

static char *shown(const Dataset *d, const char *key) {
    const char *v = ds_meta_get(&d->meta, key);
    return ds_meta_escape(v ? v : "NA");
}

int cmd_info(int argc, char **argv) {
    static const struct option opts[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(USAGE, stdout);
            return 0;
        }
        return cmd_bad_option("info", USAGE);
    }
    if (optind != argc - 1)
        return cmd_usage_error("info", USAGE, optind >= argc ? "DIR is required" : "one DIR only");
    const char *dir = argv[optind];
    Dataset d;
    Err e;
    if (ds_open(&d, dir, 1, &e)) {
        fprintf(stderr, "hashemb info: %s\n", e.msg);
        return 1;
    }
    /* as dataset.meta holds them (a newline in an input's path shown as \n): one line each */
    char *fmt = shown(&d, "format"), *src = shown(&d, "source"), *order = shown(&d, "id_order"),
         *minc = shown(&d, "min_count");
    printf("dataset   %s\n", dir);
    printf("format    %s\n", fmt);
    printf("source    %s\n", src);
    printf("id_order  %s    min_count %s    fields %u\n", order, minc, d.fields);
    if (ds_meta_get(&d.meta, "rarity")) { /* synthetic data: the planted model's knobs (gen --help) */
        char *r = shown(&d, "rarity"), *red = shown(&d, "redundancy"), *cl = shown(&d, "clusters"),
             *cs = shown(&d, "cluster_share"), *sp = shown(&d, "share_power");
        GenKnobs k = {atof(r), atof(red), (uint32_t)strtoul(cl, NULL, 10), atof(cs), atof(sp)};
        const char *preset = gen_knobs_preset(&k);
        printf("planted   rarity %s    redundancy %s    clusters %s (share %s)    share_power %s%s%s\n", r, red, cl,
               cs, sp, preset ? "    = --planted " : "", preset ? preset : "");
        free(sp);
        free(r);
        free(red);
        free(cl);
        free(cs);
    }
    printf("\n");
    free(fmt);
    free(src);
    free(order);
    free(minc);

    printf("%-6s %12s %9s %10s %14s\n", "split", "rows", "pos_rate", "oracle_auc", "oracle_logloss");
    for (int sp = 0; sp < DS_NSPLITS; sp++) {
        const DsSplit *s = &d.split[sp];
        printf("%-6s %12llu", DS_SPLIT_NAMES[sp], (unsigned long long)s->rows);
        print_num(metric_pos_rate(s->labels, s->rows), 9, 4);
        print_num(oracle(&d, sp, 1), 10, 4);
        print_num(oracle(&d, sp, 0), 14, 4);
        printf("\n");
    }

    FieldStats *fs = xcalloc(d.fields, sizeof *fs);
    field_stats(&d, fs);
    int w = 5;
    for (uint32_t f = 0; f < d.fields; f++) {
        int n = (int)strlen(d.field_names[f]);
        if (n > w) w = n;
    }
    /* synthetic data: the law's support per field beside N_f, the values train showed */
    uint64_t *support = NULL, total_support = 0;
    const char *sup = ds_meta_get(&d.meta, "support");
    if (sup) {
        long long *v = NULL;
        int n = 0;
        if (!parse_i64_list(sup, 1, 1ll << 32, "support", &v, &n, &e) && n == (int)d.fields) {
            support = xmalloc(d.fields * sizeof *support);
            for (uint32_t f = 0; f < d.fields; f++) support[f] = (uint64_t)v[f], total_support += support[f];
        }
        free(v);
    }
    printf("\n%-*s %10s %10s %9s %9s %9s %9s", w, "field", "N_f", "seen_train", "top_share",
           "oov_train", "oov_valid", "oov_test");
    if (support) printf(" %11s", "support");
    printf("\n");
    uint64_t total = 0;
    for (uint32_t f = 0; f < d.fields; f++) {
        total += d.cards[f];
        printf("%-*s %10llu %10llu", w, d.field_names[f], (unsigned long long)d.cards[f],
               (unsigned long long)fs[f].seen);
        print_num(share(fs[f].top, d.split[DS_TRAIN].rows), 9, 4);
        for (int sp = 0; sp < DS_NSPLITS; sp++) print_num(share(fs[f].oov[sp], d.split[sp].rows), 9, 4);
        if (support) printf(" %11llu", (unsigned long long)support[f]);
        printf("\n");
    }
    /* the full-table size that every compression ratio is measured against */
    printf("%-*s %10llu", w, "total", (unsigned long long)total);
    if (support) printf(" %10s %9s %9s %9s %9s %11llu", "", "", "", "", "", (unsigned long long)total_support);
    printf("\n\n");
    free(support);
    printf("full tables: %llu ids; d=16: %.4g M parameters (%.4g MB as f32); DeepFM w=17: %.4g M (%.4g MB)\n",
           (unsigned long long)total, total * 16 / 1e6, total * 16 * 4 / 1e6, total * 17 / 1e6,
           total * 17 * 4 / 1e6);
    /* what training on this machine would run with (SPEC 8) */
    printf("BLAS: OpenBLAS core %s (%s), %s build (openblas_get_parallel %d), %d threads\n",
           blas_core(), blas_core_source(), blas_build(), blas_parallel(), omp_get_num_procs());
    free(fs);
    ds_close(&d);
    return 0;
}
