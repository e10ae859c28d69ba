/* train: `hashemb train` (SPEC 2, 5, 6): reads a prepared dataset, lays out the embedding strategy,
 * trains DeepFM or an MLP with block-shuffled epochs, evaluates valid and test AUC/logloss each epoch,
 * keeps the best epoch and stops early, and writes the per-epoch curve and then the result row. The
 * kernels live elsewhere (emb*, layers, model, optim, metrics); this file is the loop and its I/O. */
#ifndef HASHEMB_TRAIN_H
#define HASHEMB_TRAIN_H

#include <stdint.h>

#include "data/dataset.h"
#include "emb/emb.h"
#include "model/model.h"
#include "model/optim.h"

#define TRAIN_SHUFFLE_BLOCK 8192 /* rows per contiguous block of the shuffled order */

typedef struct {
    const char *data, *out;
    char *dump_init; /* --dump-init DIR: write the initial parameters and the epochs' orders, then stop */
    ModelKind model;
    EmbOptions emb;
    int dim;
    int hidden[MODEL_MAX_HIDDEN], nhidden;
    int batch;
    double lr;
    OptKind optim;
    double emb_l2;
    int epochs, patience;
    uint64_t seed;
    int threads;
    int threads_given; /* --threads was given: a count that cannot fit is an error, not lowered */
    int quiet; /* no progress output (tests) */
    int profile; /* --profile: time each phase of a step */
    /* --save DIR: a checkpoint after every epoch to DIR/last, the best epoch's to DIR/best;
     * --resume DIR: continue from DIR/last when it exists (and save there, without --save) */
    const char *save, *resume;
    long steps; /* --steps N: train N batches, then stop without evaluating (timing); 0: epochs */
    char emb_flags[512]; /* the strategy flags as given ("--emb hash --ratio 100"): a checkpoint keeps
                          * them, and eval parses them again, every check included */
} TrainConfig;

void train_config_default(TrainConfig *c);
/* Parses argv into c; 0 ok, 1 --help printed, 2 bad command line (message printed). */
int train_parse_args(TrainConfig *c, int argc, char **argv);
/* The canonical configuration string (no --out, no --threads): run_id is its hash. */
void train_config_string(const TrainConfig *c, char *buf, size_t n);

/* Logits of a split's rows, in order, in batches of max_batch (the batch a run scores with, so that
 * eval's sums are train's): E is a (max_batch, F, w) work buffer. */
void train_predict(const Emb *emb, Model *model, const DsSplit *s, int max_batch, float *E, float *logits);

/* The block-shuffled order of SPEC 5 for one epoch: fills order (rows) with a permutation of
 * 0..rows-1 made of shuffled contiguous blocks, rows shuffled within each block. */
void train_epoch_order(uint32_t *order, uint64_t rows, uint64_t seed, int epoch);

/* Early stopping and the best epoch (SPEC 5): feed each epoch's valid AUC in order; returns 1 when the
 * epoch is the new best (the first, or strictly higher than the best so far: ties go to the earlier
 * epoch; NaN never beats a number), and sets *stop when patience epochs in a row were not. */
typedef struct {
    int best;          /* the best epoch so far, 0 before the first */
    double best_valid; /* its valid AUC */
    int since_best;    /* epochs since it */
} EarlyStop;
int train_early_stop(EarlyStop *s, int epoch, double valid_auc, int patience, int *stop);

#endif
