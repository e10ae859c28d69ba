/* ckpt: a trained model and where its training stands, in one file (train --save, --resume; eval).
 *
 * The file: a 64-byte header (magic "HEMBCKPT", version, payload length, XXH64 of the payload), then
 * the payload: the run's configuration (the config string, the options that rebuild the model and
 * its tables, the dataset's field cardinalities and, for a strategy that plans from them, the train
 * split's id counts), the progress (epochs done, steps, the optimizer's step, the early-stopping
 * state, the curve, the best epoch's metrics) and the state (the dense parameters and their optimizer
 * state, then every table of every field with its optimizer state: what EmbStrategy says lives in
 * f->tables). Numbers are little-endian x86-64 as written. A damaged file is refused naming the check
 * that failed (magic, version, length, checksum, a section's size), as the dataset loader does. */
#ifndef HASHEMB_CKPT_H
#define HASHEMB_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "cli/train.h"
#include "core/results.h"
#include "core/util.h"
#include "emb/emb.h"
#include "model/model.h"

#define CKPT_VERSION 1

/* Where training stands after an epoch. */
typedef struct {
    int epoch;            /* epochs done */
    int finished;         /* nothing left to train: the last epoch, or early stopping */
    long step;            /* batches done */
    long optim_step;      /* Optim.step */
    double train_seconds; /* summed over the processes that trained */
    uint64_t samples;
    EarlyStop es;
    double valid_auc, valid_logloss, test_auc, test_logloss; /* the best epoch's */
    CurveRow *curve;      /* (epoch) */
} CkptProgress;

/* What a run is: enough to rebuild its model and tables without its command line. */
typedef struct {
    char config[1024];    /* train_config_string */
    ModelKind model;
    int dim, nhidden, hidden[MODEL_MAX_HIDDEN], batch;
    OptKind optim;
    double lr, emb_l2;
    uint64_t seed;
    EmbOptions emb;               /* ckpt_open: parsed again from emb_flags (every flag's check) */
    char emb_flags[512];          /* TrainConfig.emb_flags */
    int threads;                  /* what the run trained with: results depend on them */
    char blas_core[32], git_sha[64];
    char id_order[16];            /* the dataset's id order (dataset.meta), "" when it has none */
    int fields;
    uint64_t *cards;             /* (fields) */
    const uint32_t *const *counts; /* (fields) x cards[f], or NULL: the strategy plans without them */
} CkptRun;

/* The run's state, borrowed: written by ckpt_save, filled by ckpt_restore. */
typedef struct {
    Model *model;
    float *dense_m, *dense_v; /* NULL where the optimizer has none */
    Emb *emb;
    int weights_only; /* ckpt_restore: the parameters alone, the optimizer state skipped (eval) */
} CkptState;

/* Writes the checkpoint to path atomically (a temporary file beside it, synced, renamed), and, when
 * best_path is not NULL, makes best_path the same file (a hard link, renamed into place). */
int ckpt_save(const char *path, const char *best_path, const CkptRun *run, const CkptProgress *p,
              const CkptState *s, Err *e);

/* Removes DIR/last.tmp.* and DIR/best.tmp.*: what processes killed in the middle of a save left
 * (train --save and --resume own their directory). */
void ckpt_clean_dir(const char *dir);

/* An open checkpoint: mapped and checked (magic, version, length, checksum, sections). run.cards and
 * run.counts point into the mapping; progress.curve is allocated. */
typedef struct {
    CkptRun run;
    CkptProgress progress;
    const char *path;
    void *map;
    size_t map_len;
    const unsigned char *state; /* the state section, read by ckpt_restore */
    size_t state_len;
    const uint32_t **counts_v;  /* run.counts' storage */
} Ckpt;

int ckpt_open(Ckpt *k, const char *path, Err *e);
/* Copies the state into s, whose model and tables were built from k->run (same shapes, checked). */
int ckpt_restore(const Ckpt *k, const CkptState *s, Err *e);
void ckpt_close(Ckpt *k);

#endif
