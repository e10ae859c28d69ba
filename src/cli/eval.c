/* hashemb eval: score a split of a prepared dataset with a saved model (train --save's DIR/best or
 * DIR/last): AUC, logloss and each field's share of OOV ids. The model's tables are rebuilt from the
 * checkpoint's configuration (its field cardinalities, and the train counts of a strategy that plans
 * from them), so the dataset must have the model's fields and cardinalities: the vocabulary the model
 * was trained on, as prep writes it for any split of data. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ckpt.h"
#include "cli/cmd.h"
#include "core/blas.h"
#include "core/metrics.h"
#include "core/results.h"
#include "data/dataset.h"

static const char USAGE[] =
    "usage: hashemb eval --model FILE --data DIR [--split test|valid|train] [--threads N]\n"
    "  --model FILE      a checkpoint: train --save DIR writes DIR/best and DIR/last\n"
    "  --data DIR        a prepared dataset with the model's fields and cardinalities (its vocabulary)\n"
    "  --split S         the split to score (default test)\n"
    "  --threads N       threads (default: the run's, so that the sums are the run's)\n"
    "Prints key<TAB>value lines on stdout: the split's rows, auc, logloss (the model's batch size, as\n"
    "train scores), the share of OOV ids (id 0) over all fields and per field (oov_share.NAME).\n"
    "Exit status: 0 scored, 1 a damaged checkpoint or a dataset that does not match it, 2 a bad\n"
    "command line.\n";

int cmd_eval(int argc, char **argv) {
    enum { O_MODEL = 256, O_DATA, O_SPLIT, O_THREADS, O_HELP };
    static const struct option opts[] = {{"model", required_argument, 0, O_MODEL},
                                         {"data", required_argument, 0, O_DATA},
                                         {"split", required_argument, 0, O_SPLIT},
                                         {"threads", required_argument, 0, O_THREADS},
                                         {"help", no_argument, 0, O_HELP},
                                         {0, 0, 0, 0}};
    const char *mpath = NULL, *data = NULL;
    int split = DS_TEST, threads = 0, k, idx;
    long long v;
    Err e;
    optind = 1;
    opterr = 1;
    while ((k = getopt_long(argc, argv, "", opts, &idx)) != -1) {
        switch (k) {
        case O_MODEL: mpath = optarg; break;
        case O_DATA: data = optarg; break;
        case O_SPLIT:
            if (parse_name(optarg, DS_SPLIT_NAMES, DS_NSPLITS, "--split", &split, &e))
                return cmd_usage_error("eval", USAGE, "%s", e.msg);
            break;
        case O_THREADS:
            if (parse_i64(optarg, 1, 1024, "--threads", &v, &e)) return cmd_usage_error("eval", USAGE, "%s", e.msg);
            threads = (int)v;
            break;
        case O_HELP: fputs(USAGE, stdout); return 0;
        default: return cmd_bad_option("eval", USAGE);
        }
    }
    if (optind < argc) return cmd_usage_error("eval", USAGE, "unexpected argument '%s'", argv[optind]);
    if (!mpath) return cmd_usage_error("eval", USAGE, "--model: missing (a checkpoint, e.g. DIR/best)");
    if (!data) return cmd_usage_error("eval", USAGE, "--data: missing (the prepared dataset to score)");

    Ckpt ck;
    Dataset ds;
    EmbPlan plan;
    Emb emb;
    Model model;
    int rc = 1, have_ds = 0, have_plan = 0, have_emb = 0, have_model = 0;
    memset(&plan, 0, sizeof plan);
    memset(&emb, 0, sizeof emb);
    memset(&model, 0, sizeof model);
    float *E = NULL, *logits = NULL;
    if (ckpt_open(&ck, mpath, &e)) {
        fprintf(stderr, "hashemb eval: %s\n", e.msg);
        return 1;
    }
    const CkptRun *run = &ck.run;
    if (ds_open(&ds, data, 1, &e)) {
        fprintf(stderr, "hashemb eval: %s\n", e.msg);
        goto done;
    }
    have_ds = 1;
    if ((int)ds.fields != run->fields) {
        fprintf(stderr, "hashemb eval: %s has %u fields, the model %s has %d: not its dataset\n", data,
                ds.fields, mpath, run->fields);
        goto done;
    }
    for (int f = 0; f < run->fields; f++)
        if (ds.cards[f] != run->cards[f]) {
            fprintf(stderr, "hashemb eval: %s: field %d (%s) has %llu ids, the model %s was trained with "
                            "%llu: another vocabulary (score a split of the dataset the model was trained on, or "
                            "data prepared together with it: prep --train TRAIN --test NEW)\n",
                    data, f + 1, ds.field_names[f], (unsigned long long)ds.cards[f], mpath,
                    (unsigned long long)run->cards[f]);
            goto done;
        }
    const char *ord = ds_meta_get(&ds.meta, "id_order");
    if (run->id_order[0] && ord && strcmp(ord, run->id_order)) {
        fprintf(stderr, "hashemb eval: %s numbers its ids in %s order, the model %s was trained on ids in %s "
                        "order: another vocabulary, though of the same sizes\n", data, ord, mpath, run->id_order);
        goto done;
    }
    const DsSplit *s = &ds.split[split];
    if (s->rows == 0) {
        fprintf(stderr, "hashemb eval: %s: the %s split has no rows\n", data, DS_SPLIT_NAMES[split]);
        goto done;
    }
    /* the run's own thread count by default: the dense products' sums split by threads */
    blas_set_threads(threads ? threads : run->threads);
    /* the tables as the run built them, without optimizer state (eval does not step) */
    const int F = run->fields, w = model_width(run->model, run->dim), B = run->batch;
    if (emb_plan_make_counts(&plan, run->cards, run->counts, F, w, &run->emb, &e)) {
        fprintf(stderr, "hashemb eval: %s: %s\n", mpath, e.msg);
        goto done;
    }
    have_plan = 1;
    if (plan.infeasible) {
        fprintf(stderr, "hashemb eval: %s: the saved configuration cannot be laid out: %s\n", mpath, plan.reason);
        goto done;
    }
    if (model_init(&model, run->model, F, run->dim, run->hidden, run->nhidden, B, run->seed, &e)) {
        fprintf(stderr, "hashemb eval: %s: %s\n", mpath, e.msg);
        goto done;
    }
    have_model = 1;
    if (emb_create(&emb, &plan, B, OPT_SGD, run->seed, &e)) {
        fprintf(stderr, "hashemb eval: %s: %s\n", mpath, e.msg);
        goto done;
    }
    have_emb = 1;
    CkptState st = {&model, NULL, NULL, &emb, 1};
    if (ckpt_restore(&ck, &st, &e)) {
        fprintf(stderr, "hashemb eval: %s\n", e.msg);
        goto done;
    }
    E = xaligned((size_t)B * F * w * sizeof(float));
    logits = xaligned((size_t)s->rows * sizeof(float));
    train_predict(&emb, &model, s, B, E, logits);
    char a[32], l[32], o[32];
    result_fmt(a, sizeof a, metric_auc(logits, s->labels, s->rows));
    result_fmt(l, sizeof l, metric_logloss_logit(logits, s->labels, s->rows));
    uint64_t *oov = xcalloc((size_t)F, sizeof *oov), all = 0;
    for (uint64_t i = 0; i < s->rows; i++)
        for (int f = 0; f < F; f++) oov[f] += s->ids[i * (uint64_t)F + (uint64_t)f] == 0;
    for (int f = 0; f < F; f++) all += oov[f];
    printf("model\t%s\ndata\t%s\nsplit\t%s\nrows\t%llu\nepoch\t%d\nauc\t%s\nlogloss\t%s\n", mpath, data,
           DS_SPLIT_NAMES[split], (unsigned long long)s->rows, ck.progress.epoch, a, l);
    result_fmt(o, sizeof o, (double)all / ((double)s->rows * F));
    printf("oov_share\t%s\n", o);
    for (int f = 0; f < F; f++) {
        result_fmt(o, sizeof o, (double)oov[f] / (double)s->rows);
        printf("oov_share.%s\t%s\n", ds.field_names[f], o);
    }
    free(oov);
    rc = fflush(stdout) ? 1 : 0;
done:
    free(E);
    free(logits);
    if (have_emb) emb_free(&emb);
    if (have_model) model_free(&model);
    if (have_plan) emb_plan_free(&plan);
    if (have_ds) ds_close(&ds);
    ckpt_close(&ck);
    return rc;
}
