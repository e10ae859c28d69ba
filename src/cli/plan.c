/* plan: `hashemb plan` (SPEC 2, 4): how a strategy would lay out each field's tables under the budget,
 * without training: per field the strategy's parameters, rows, parameters, bytes, ratio and whether it
 * is clamped, then the totals, the two achieved ratios and whether a run would be infeasible; `--tsv`
 * for scripts. The strategy flags are parsed by embopt.c's emb_options_parse_flag, as in `train`. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd.h"
#include "data/dataset.h"
#include "emb/emb.h"
#include "core/limits.h"
#include "model/model.h"

/* --- the command --- */

static const char USAGE[] =
    "usage: hashemb plan (--data DIR | --cards N1,N2,...) [--model %s] [--dim 16]\n"
    "                    --emb STRATEGY --ratio R [strategy options] [--seed 1] [--tsv | --cost]\n"
    "\n"
    "Shows how a strategy lays out each field's tables under the budget of N_f * w / R parameters\n"
    "(w: the backbone's row width, dim + 1 for deepfm), without training.\n"
    "\n"
    "  --data DIR                         a prepared dataset: its dataset.meta's fields and cardinalities\n"
    "  --cards N1,N2,...                  or the fields' cardinalities (OOV id included)\n"
    "  --model %-26s backbone (default deepfm)\n"
    "  --dim D                            factor dimension d (default 16)\n"
    "%s"
    "  --seed N                           the run's seed (seeds the hashing; default 1)\n"
    "  --tsv                              one tab-separated row per field, then a total row (SPEC 4's\n"
    "                                     columns, then hyper: what the strategy chose for the budget)\n"
    "  --mlp H1,H2,...                    the hidden layers, or none, for --cost (default 400,400,400)\n"
    "  --cost                             the run's size and cost, key<TAB>value lines: the backbone's\n"
    "                                     row width, layer shapes, dense parameters and multiply-adds\n"
    "                                     per sample (forward), and the embedding parameters\n"
    "  --help                             this text\n";

static char *usage_text(void) {
    static char buf[8192];
    if (!buf[0]) snprintf(buf, sizeof buf, USAGE, model_names_usage(), model_names_usage(), emb_options_usage());
    return buf;
}

static int usage_error(const char *fmt, const char *msg) {
    return cmd_usage_error("plan", usage_text(), fmt, msg);
}

/* A field's columns: the strategy's (m S t n lengths, "NA" where one does not apply) and the sizes. */
typedef struct {
    EmbPlanCols s;
    char rows[24], params[24], bytes[24], ratio[24];
} FieldCols;

static void field_cols(const EmbPlan *p, const EmbFieldPlan *fp, FieldCols *c) {
    emb_plan_cols(p, fp, &c->s);
    if (fp->params) {
        snprintf(c->rows, sizeof c->rows, "%llu", (unsigned long long)fp->rows);
        snprintf(c->params, sizeof c->params, "%llu", (unsigned long long)fp->params);
        snprintf(c->bytes, sizeof c->bytes, "%llu", (unsigned long long)fp->params * sizeof(float));
        snprintf(c->ratio, sizeof c->ratio, "%.6g", (double)fp->N * p->w / (double)fp->params);
    } else {
        strcpy(c->rows, "NA");
        strcpy(c->params, "NA");
        strcpy(c->bytes, "NA");
        strcpy(c->ratio, "NA");
    }
}

static void human_bytes(uint64_t b, char *buf, size_t n) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double x = (double)b;
    int i = 0;
    while (x >= 1024 && i < 5) {
        x /= 1024;
        i++;
    }
    snprintf(buf, n, i ? "%.1f %s" : "%.0f %s", x, u[i]);
}

static void print_tsv(const EmbPlan *p, char **names) {
    printf("field\tN\tm\tS\tt\tn\tlengths\trows\tparams\tbytes\tratio\tclamped\thyper\n");
    uint64_t N = 0, rows = 0;
    for (int i = 0; i < p->fields; i++) {
        const EmbFieldPlan *fp = &p->f[i];
        FieldCols c;
        field_cols(p, fp, &c);
        printf("%s\t%llu\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", names[i], (unsigned long long)fp->N,
               c.s.m, c.s.S, c.s.t, c.s.n, c.s.lengths, c.rows, c.params, c.bytes, c.ratio, fp->clamped,
               fp->compressed ? c.s.hyper : "NA");
        N += fp->N;
        rows += fp->rows;
    }
    char ra[24] = "NA";
    if (isfinite(p->ratio_actual)) snprintf(ra, sizeof ra, "%.6g", p->ratio_actual);
    /* the total's clamped is the count of clamped fields */
    printf("total\t%llu\tNA\tNA\tNA\tNA\tNA\t%llu\t%llu\t%llu\t%s\t%d\tNA\n", (unsigned long long)N,
           (unsigned long long)rows, (unsigned long long)p->params,
           (unsigned long long)p->params * sizeof(float), ra, p->n_clamped);
}

static void print_human(const EmbPlan *p, char **names, const char *model, int dim) {
    const EmbOptions *o = &p->opt;
    char variant[128];
    emb_variant(o, variant, sizeof variant);
    printf("plan: %s, ratio %g, %s with d = %d (w = %d), compress-min %ld, seed %llu\n", variant,
           o->ratio, model, dim, p->w, o->compress_min, (unsigned long long)o->seed);
    const EmbStrategy *st = EMB_STRATEGIES[o->kind];
    const int shown = st->plan_shown;
    int nw = 5;
    for (int i = 0; i < p->fields; i++) nw = (int)strlen(names[i]) > nw ? (int)strlen(names[i]) : nw;
    printf("%-*s %11s", nw, "field", "N");
    if (shown & EMB_COL_M) printf(" %11s", "m");
    if (shown & EMB_COL_BH) printf(" %3s %3s %3s %-16s", "S", "t", "n", "lengths");
    if (shown & EMB_COL_HYPER) printf(" %-20s", "hyper");
    printf(" %11s %12s %10s %9s  %s\n", "rows", "params", "bytes", "ratio",
           st->plan_notes_head ? st->plan_notes_head : "notes");
    uint64_t N = 0;
    for (int i = 0; i < p->fields; i++) {
        const EmbFieldPlan *fp = &p->f[i];
        FieldCols c;
        field_cols(p, fp, &c);
        char hb[32] = "NA";
        if (fp->params) human_bytes(fp->params * sizeof(float), hb, sizeof hb);
        printf("%-*s %11llu", nw, names[i], (unsigned long long)fp->N);
        if (shown & EMB_COL_M) printf(" %11s", fp->compressed ? c.s.m : "-");
        if (shown & EMB_COL_BH) {
            if (fp->compressed) printf(" %3s %3s %3s %-16s", c.s.S, c.s.t, c.s.n, c.s.lengths);
            else printf(" %3s %3s %3s %-16s", "-", "-", "-", "-");
        }
        if (shown & EMB_COL_HYPER) printf(" %-20s", fp->compressed ? c.s.hyper : "-");
        printf(" %11s %12s %10s %9s ", c.rows, c.params, hb, c.ratio);
        if (!fp->compressed && o->kind != EMB_FULL) printf(" full (N <= compress-min)");
        if (fp->clamped) printf(" CLAMPED (over its budget of %.0f)", fp->budget);
        if (!fp->feasible) printf(" INFEASIBLE: %s", fp->reason);
        if (st->plan_note && fp->compressed && fp->feasible) {
            char note[256];
            st->plan_note(fp, note, sizeof note);
            printf("%s", note);
        }
        printf("\n");
        N += fp->N;
    }
    char hb[32], hf[32];
    human_bytes(p->params * sizeof(float), hb, sizeof hb);
    human_bytes(p->full_params * sizeof(float), hf, sizeof hf);
    printf("\ntotal: %d fields, %llu ids\n", p->fields, (unsigned long long)N);
    printf("  full params        %llu (%s)\n", (unsigned long long)p->full_params, hf);
    printf("  params             %llu (%s)\n", (unsigned long long)p->params, hb);
    if (isfinite(p->ratio_actual)) printf("  ratio_actual       %.6g   (target %g)\n", p->ratio_actual, o->ratio);
    else printf("  ratio_actual       NA   (no field can be built)\n");
    if (p->n_compressed && isfinite(p->ratio_compressed))
        printf("  ratio_compressed   %.6g   over %d compressed fields\n", p->ratio_compressed,
               p->n_compressed);
    else printf("  ratio_compressed   NA   (no compressed field that can be built)\n");
    printf("  clamped            %d of %d compressed fields\n", p->n_clamped, p->n_compressed);
    if (p->infeasible) printf("  INFEASIBLE: %s (a run writes status infeasible and trains nothing)\n", p->reason);
    else printf("  feasible\n");
}

/* The embedding tables alone, with train's default optimizer (Adam) and batch, against what this
 * machine leaves a run (limits.h): -1 with the sizes when train would refuse them here. */
static int plan_check_memory(const EmbPlan *p, char **names, Err *e) {
    SysLimits lim;
    limits_read(&lim);
    uint64_t need = emb_plan_bytes(p, OPT_ADAM, 4096);
    if (limits_check_bytes(&lim, need, "this plan (its embedding tables with Adam's state)", e) == 0) return 0;
    int big = emb_plan_largest(p);
    char msg[ERR_LEN], fb[32];
    limits_human(p->f[big].params * sizeof(float), fb, sizeof fb);
    snprintf(msg, sizeof msg, "%.700s; the largest field, %.200s, has %llu rows and %llu parameters (%s)", e->msg,
             names[big], (unsigned long long)p->f[big].rows, (unsigned long long)p->f[big].params, fb);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    return -1;
}

/* --data: the loader's own reading and checks of dataset.meta */
static int read_meta(const char *dir, uint64_t **cards, char ***names, int *fields, Err *e) {
    Dataset d;
    if (ds_open_meta(&d, dir, e)) return -1;
    *fields = (int)d.fields;
    *cards = xmalloc((size_t)d.fields * sizeof **cards);
    *names = xmalloc((size_t)d.fields * sizeof **names);
    for (uint32_t i = 0; i < d.fields; i++) {
        (*cards)[i] = d.cards[i];
        (*names)[i] = xstrdup(d.field_names[i]);
    }
    ds_close(&d);
    return 0;
}

enum { P_DATA = 256, P_CARDS, P_MODEL, P_DIM, P_SEED, P_TSV, P_HELP, P_STRATEGY, P_MLP, P_COST };

/* --cost: what the backbone table says a run of this plan costs */
static int print_cost(const EmbPlan *p, ModelKind model, int fields, int dim, const int *hidden, int nhidden) {
    int in[MODEL_MAX_HIDDEN + 1], out[MODEL_MAX_HIDDEN + 1];
    size_t np;
    double macs;
    int nl = model_shapes(model, fields, dim, hidden, nhidden, in, out, &np, &macs);
    printf("model\t%s\nwidth\t%d\nlayers\t", MODEL_NAMES[model], model_width(model, dim));
    for (int l = 0; l < nl; l++) printf("%s%dx%d", l ? "," : "", in[l], out[l]);
    printf("\ndense_params\t%zu\nmacs_per_sample\t%.0f\n", np, macs);
    if (p->infeasible) printf("emb_params\tNA\nemb_macs_per_sample\tNA\nemb_cost_macs_per_sample\tNA\n");
    else
        printf("emb_params\t%llu\nemb_macs_per_sample\t%.0f\nemb_cost_macs_per_sample\t%.0f\n",
               (unsigned long long)p->params, emb_plan_macs(p), emb_plan_cost_macs(p));
    return 0;
}

int cmd_plan(int argc, char **argv) {
    static const struct option base[] = {
        {"data", required_argument, 0, P_DATA},   {"cards", required_argument, 0, P_CARDS},
        {"model", required_argument, 0, P_MODEL}, {"dim", required_argument, 0, P_DIM},
        {"seed", required_argument, 0, P_SEED},   {"tsv", no_argument, 0, P_TSV},
        {"help", no_argument, 0, P_HELP},         {"mlp", required_argument, 0, P_MLP},
        {"cost", no_argument, 0, P_COST}};
    struct option opts[sizeof base / sizeof base[0] + EMB_MAX_LONGOPTS + 1];
    emb_longopts(opts, base, (int)(sizeof base / sizeof base[0]), P_STRATEGY);
    EmbOptions o;
    emb_options_default(&o);
    const char *data = NULL, *cards_s = NULL;
    ModelKind model = MODEL_DEEPFM;
    int dim = 16, tsv = 0, cost = 0, emb_given = 0, ratio_given = 0;
    int hidden[MODEL_MAX_HIDDEN] = {400, 400, 400}, nhidden = 3;
    Err e;
    long long v;
    int k, idx;
    optind = 1;
    opterr = 1;
    while ((k = getopt_long(argc, argv, "", opts, &idx)) != -1) {
        switch (k) {
        case P_DATA: data = optarg; break;
        case P_CARDS: cards_s = optarg; break;
        case P_MODEL:
            if (parse_name(optarg, MODEL_NAMES, MODEL_NKINDS, "--model", &k, &e)) return usage_error("%s", e.msg);
            model = (ModelKind)k;
            break;
        case P_DIM:
            if (parse_i64(optarg, 1, 4096, "--dim", &v, &e)) return usage_error("%s", e.msg);
            dim = (int)v;
            break;
        case P_SEED:
            if (parse_i64(optarg, 0, (long long)1 << 62, "--seed", &v, &e)) return usage_error("%s", e.msg);
            o.seed = (uint64_t)v;
            break;
        case P_TSV: tsv = 1; break;
        case P_COST: cost = 1; break;
        case P_MLP:
            if (model_parse_hidden(optarg, "--mlp", hidden, &nhidden, &e)) return usage_error("%s", e.msg);
            break;
        case P_HELP: printf("%s", usage_text()); return 0;
        case P_STRATEGY:
            if (emb_options_parse_flag(&o, opts[idx].name, optarg, &e)) return usage_error("%s", e.msg);
            emb_given |= !strcmp(opts[idx].name, "emb");
            ratio_given |= !strcmp(opts[idx].name, "ratio");
            break;
        default: return cmd_bad_option("plan", usage_text());
        }
    }
    if (optind < argc) return usage_error("unexpected argument '%s'", argv[optind]);
    if (!data == !cards_s)
        return usage_error("%s", data ? "--data and --cards: give one, not both"
                                      : "--data or --cards: missing (the fields to lay out)");
    if (!emb_given) return usage_error("%s", "--emb: missing (full, hash, qr or bh)");
    if (o.kind != EMB_FULL && !ratio_given) return usage_error("--ratio: needed with --emb %s", EMB_NAMES[o.kind]);
    if (emb_options_check(&o, &e)) return usage_error("%s", e.msg);
    if (o.kind == EMB_FULL) o.ratio = 1.0;

    uint64_t *cards = NULL;
    char **names = NULL;
    int fields = 0;
    if (cards_s) {
        long long *c;
        if (parse_i64_list(cards_s, 1, 1ll << 32, "--cards", &c, &fields, &e)) return usage_error("%s", e.msg);
        cards = xmalloc((size_t)fields * sizeof *cards);
        names = xmalloc((size_t)fields * sizeof *names);
        for (int i = 0; i < fields; i++) {
            char nm[16];
            snprintf(nm, sizeof nm, "%d", i);
            cards[i] = (uint64_t)c[i];
            names[i] = xstrdup(nm);
        }
        free(c);
    } else if (read_meta(data, &cards, &names, &fields, &e)) {
        fprintf(stderr, "hashemb plan: %s\n", e.msg);
        return 1;
    }
    /* a strategy that plans from the train split's id counts (hotcold) gets them with --data */
    Dataset ds = {0};
    uint32_t **counts = NULL;
    if (!cards_s && emb_plan_needs_counts(&o)) {
        if (ds_open(&ds, data, 1, &e)) {
            fprintf(stderr, "hashemb plan: %s\n", e.msg);
            return 1;
        }
        counts = ds_train_counts(&ds);
    }
    const int w = model_width(model, dim);
    EmbPlan p;
    int rc = 0;
    if (emb_plan_make_counts(&p, cards, (const uint32_t *const *)counts, fields, w, &o, &e)) {
        rc = usage_error("%s", e.msg);
    } else {
        if (cost) print_cost(&p, model, fields, dim, hidden, nhidden);
        else if (tsv) print_tsv(&p, names);
        else print_human(&p, names, MODEL_NAMES[model], dim);
        /* a layout is the same on every machine (sweeps plan on a login node for a cluster): what
         * this machine's memory allows is a note beside it, and train is the one that refuses */
        if (!tsv && !cost && !p.infeasible && plan_check_memory(&p, names, &e))
            printf("  on this machine: %s: train would refuse it here\n", e.msg);
        emb_plan_free(&p);
    }
    if (counts) {
        ds_counts_free(counts, ds.fields);
        ds_close(&ds);
    }
    for (int i = 0; i < fields; i++) free(names[i]);
    free(names);
    free(cards);
    return rc;
}
