/* results: the result row and the per-epoch curve of SPEC 6, written atomically (a temporary name, then
 * rename), so that a result file exists only for a finished run. Values that do not apply are NA. */
#ifndef HASHEMB_RESULTS_H
#define HASHEMB_RESULTS_H

#include <stdint.h>
#include <stdio.h>

#include "core/util.h"

/* The columns of SPEC 6, in order. */
#define RESULT_COLUMNS                                                                             \
    "run_id\tdataset\tmodel\temb\tvariant\tratio_target\tratio_actual\tratio_compressed\t"        \
    "emb_params\temb_bytes\topt_bytes\tdense_params\tpeak_rss_bytes\tseed\tepochs\tbest_epoch\t"  \
    "valid_auc\tvalid_logloss\ttest_auc\ttest_logloss\toracle_auc\toracle_logloss\t"              \
    "train_seconds\tsamples_per_sec\tthreads\tblas_core\tgit_sha\tstatus\tconfig\taccounted_bytes"

typedef struct {
    char run_id[17];
    const char *dataset, *model, *emb, *variant;
    double ratio_target, ratio_actual, ratio_compressed; /* NAN -> NA */
    uint64_t emb_params, emb_bytes, opt_bytes, dense_params, peak_rss_bytes;
    int have_sizes; /* 0: emb_params .. dense_params are NA (an infeasible layout that has none) */
    uint64_t seed;
    int epochs, best_epoch; /* best_epoch 0 -> NA */
    double valid_auc, valid_logloss, test_auc, test_logloss, oracle_auc, oracle_logloss;
    double train_seconds, samples_per_sec;
    int threads;
    const char *blas_core, *git_sha, *status, *config;
    /* appended after SPEC 6's columns: what the run accounts for (parameters, optimizer state,
     * dense parameters and gradients, activations, batch buffers, sparse-gradient work buffers and the
     * mapped dataset), the figure peak_rss_bytes is compared with; 0 -> NA */
    uint64_t accounted_bytes;
} ResultRow;

/* One row per epoch of the curve. */
typedef struct {
    int epoch;
    long step;
    double train_loss, valid_auc, valid_logloss, test_auc, seconds;
} CurveRow;

#define CURVE_COLUMNS "epoch\tstep\ttrain_loss\tvalid_auc\tvalid_logloss\ttest_auc\tseconds"

/* Writes header and row to f. */
void result_print(FILE *f, const ResultRow *r);
/* Writes header and row to path atomically. */
int result_write(const char *path, const ResultRow *r, Err *e);
/* The curve path for a result path: ".tsv" replaced by ".curve.tsv" (appended when absent). */
void result_curve_path(const char *out, char *buf, size_t n);
int curve_write(const char *path, const CurveRow *rows, int n, Err *e);

/* A double as written in results: %.6g-like with enough digits, NA for NAN. */
void result_fmt(char *buf, size_t n, double v);

#endif
