#include "cli/train.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/blas.h"
#include "cli/ckpt.h"
#include "cli/cmd.h"
#include "data/dataset.h"
#include "model/layers.h"
#include "core/limits.h"
#include "core/metrics.h"
#include "core/results.h"

static const char USAGE_HEAD[] =
    "usage: hashemb train --data DIR [options]\n"
    "  --data DIR                         prepared dataset (hashemb prep / gen)\n"
    "  --model %-26s backbone (default deepfm)\n";
static const char USAGE_TAIL[] =
    "  --dim D                            embedding dimension d (default 16)\n"
    "  --mlp H1,H2,...                    hidden layer sizes, or none (default 400,400,400)\n"
    "  --batch B                          batch size (default 4096)\n"
    "  --lr X                             learning rate (default 1e-3)\n"
    "  --optim adam|adagrad|sgd           optimizer (default adam)\n"
    "  --emb-l2 X                         L2 on the embedding rows a batch touches (default 0)\n"
    "  --epochs N                         at most N epochs (default 3)\n"
    "  --patience N                       stop after N epochs without a better valid AUC (default 1)\n"
    "  --seed N                           seed of init, shuffling and hashing (default 1)\n"
    "  --threads N                        threads (default: all cores)\n"
    "  --out FILE                         result row (TSV), written when the run ends; the per-epoch\n"
    "                                     curve goes to FILE with .tsv replaced by .curve.tsv.\n"
    "                                     Without --out the result is printed on stdout.\n"
    "  --quiet                            no configuration table or progress on stderr\n"
    "  --profile                          print where the training time went, per phase\n"
    "  --steps N                          train N batches (from epoch 1, on into the next epochs)\n"
    "                                     and stop without evaluating: for timing (metrics NA)\n"
    "  --save DIR                         after every epoch, write a checkpoint (model, tables,\n"
    "                                     optimizer state, progress) to DIR/last, and the best\n"
    "                                     epoch's to DIR/best (atomically; DIR is created, its\n"
    "                                     parent must exist; a DIR/last already there is refused:\n"
    "                                     --resume continues it)\n"
    "  --resume DIR                       continue from DIR/last as if never stopped (the same\n"
    "                                     flags; a fresh start when DIR/last is absent) and save\n"
    "                                     there (or to --save)\n"
    "  --dump-init DIR                    write the run's initial parameters (raw float32) and each\n"
    "                                     epoch's row order (raw u32), described by DIR/init.tsv,\n"
    "                                     then stop without training: what bench/peer_torch.py --init\n"
    "                                     starts from. DIR must not exist.\n"
    "Exit status: 0 for a run that ends ok, infeasible or diverged (the row says which), 1 for bad\n"
    "data or a failure while running, 2 for a bad command line.\n";

static const char *usage(void) {
    static char buf[sizeof USAGE_HEAD + 8192 + sizeof USAGE_TAIL];
    if (!buf[0]) {
        int n = snprintf(buf, sizeof buf, USAGE_HEAD, model_names_usage());
        snprintf(buf + n, sizeof buf - (size_t)n, "%s%s", emb_options_usage(), USAGE_TAIL);
    }
    return buf;
}
#define USAGE usage()

void train_config_default(TrainConfig *c) {
    memset(c, 0, sizeof *c);
    c->model = MODEL_DEEPFM;
    emb_options_default(&c->emb);
    c->dim = 16;
    c->nhidden = 3;
    c->hidden[0] = c->hidden[1] = c->hidden[2] = 400;
    c->batch = 4096;
    c->lr = 1e-3;
    c->optim = OPT_ADAM;
    c->epochs = 3;
    c->patience = 1;
    c->seed = 1;
    c->threads = omp_get_num_procs();
}


/* A usage error (exit 2) when the directory that would hold path cannot be written: found now, not
 * after hours of training. */
static int parent_unwritable(const char *flag, const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    const char *d = slash ? (dir[0] ? dir : "/") : ".";
    if (access(d, W_OK) == 0) return 0;
    cmd_usage_error("train", USAGE, "%s: cannot write into directory '%s': %s", flag, d, strerror(errno));
    return 1;
}

int train_parse_args(TrainConfig *c, int argc, char **argv) {
    enum { O_DATA = 256, O_MODEL, O_DIM, O_MLP, O_BATCH, O_LR, O_OPTIM, O_L2, O_EPOCHS, O_PATIENCE,
           O_SEED, O_THREADS, O_OUT, O_QUIET, O_HELP, O_STRATEGY, O_PROFILE, O_DUMP, O_SAVE, O_RESUME, O_STEPS };
    static const struct option base[] = {
        {"data", required_argument, 0, O_DATA},       {"model", required_argument, 0, O_MODEL},
        {"dim", required_argument, 0, O_DIM},         {"mlp", required_argument, 0, O_MLP},
        {"batch", required_argument, 0, O_BATCH},     {"lr", required_argument, 0, O_LR},
        {"optim", required_argument, 0, O_OPTIM},     {"emb-l2", required_argument, 0, O_L2},
        {"epochs", required_argument, 0, O_EPOCHS},   {"patience", required_argument, 0, O_PATIENCE},
        {"seed", required_argument, 0, O_SEED},       {"threads", required_argument, 0, O_THREADS},
        {"out", required_argument, 0, O_OUT},         {"quiet", no_argument, 0, O_QUIET},
        {"help", no_argument, 0, O_HELP},             {"profile", no_argument, 0, O_PROFILE},
        {"dump-init", required_argument, 0, O_DUMP},  {"save", required_argument, 0, O_SAVE},
        {"resume", required_argument, 0, O_RESUME},   {"steps", required_argument, 0, O_STEPS}};
    struct option opts[sizeof base / sizeof base[0] + EMB_MAX_LONGOPTS + 1];
    emb_longopts(opts, base, (int)(sizeof base / sizeof base[0]), O_STRATEGY);
    Err e;
    long long v;
    double x;
    int k, idx;
    optind = 1;
    opterr = 1;
    int ratio_given = 0;
    while ((k = getopt_long(argc, argv, "", opts, &idx)) != -1) {
        const char *flag = k == O_STRATEGY ? opts[idx].name : NULL;
        char fl[64];
        if (k >= 256) snprintf(fl, sizeof fl, "--%s", opts[idx].name);
        switch (k) {
        case O_DATA: c->data = optarg; break;
        case O_OUT: c->out = optarg; break;
        case O_DUMP: c->dump_init = optarg; break; /* argv's string: trailing slashes are cut in it */
        case O_SAVE: c->save = optarg; break;
        case O_RESUME: c->resume = optarg; break;
        case O_STEPS:
            if (parse_i64(optarg, 1, (long long)1 << 40, fl, &v, &e)) goto bad;
            c->steps = (long)v;
            break;
        case O_MODEL:
            if (parse_name(optarg, MODEL_NAMES, MODEL_NKINDS, fl, &k, &e)) goto bad;
            c->model = (ModelKind)k;
            break;
        case O_DIM:
            if (parse_i64(optarg, 1, 4096, fl, &v, &e)) goto bad;
            c->dim = (int)v;
            break;
        case O_MLP:
            if (model_parse_hidden(optarg, fl, c->hidden, &c->nhidden, &e)) goto bad;
            break;
        case O_BATCH:
            if (parse_i64(optarg, 1, 1 << 20, fl, &v, &e)) goto bad;
            c->batch = (int)v;
            break;
        case O_LR:
            if (parse_f64(optarg, 1e-12, 1e3, fl, &c->lr, &e)) goto bad;
            break;
        case O_OPTIM:
            if (parse_name(optarg, OPT_NAMES, OPT_NKINDS, fl, &k, &e)) goto bad;
            c->optim = (OptKind)k;
            break;
        case O_L2:
            if (parse_f64(optarg, 0, 1e3, fl, &c->emb_l2, &e)) goto bad;
            break;
        case O_EPOCHS:
            if (parse_i64(optarg, 1, 100000, fl, &v, &e)) goto bad;
            c->epochs = (int)v;
            break;
        case O_PATIENCE:
            if (parse_i64(optarg, 1, 100000, fl, &v, &e)) goto bad;
            c->patience = (int)v;
            break;
        case O_SEED:
            if (parse_i64(optarg, 0, (long long)1 << 62, fl, &v, &e)) goto bad;
            c->seed = (uint64_t)v;
            break;
        case O_THREADS:
            if (parse_i64(optarg, 1, 1024, fl, &v, &e)) goto bad;
            c->threads = (int)v;
            c->threads_given = 1;
            break;
        case O_QUIET: c->quiet = 1; break;
        case O_PROFILE: c->profile = 1; break;
        case O_HELP: fputs(USAGE, stdout); return 1;
        case O_STRATEGY: {
            if (emb_options_parse_flag(&c->emb, flag, optarg, &e)) goto bad;
            ratio_given |= !strcmp(flag, "ratio");
            const size_t at = strlen(c->emb_flags);
            if (strchr(optarg, ' ') || (size_t)snprintf(c->emb_flags + at, sizeof c->emb_flags - at, "%s--%s %s",
                                                        at ? " " : "", flag, optarg) >= sizeof c->emb_flags - at)
                return cmd_usage_error("train", USAGE, "--%s: '%s': the strategy flags are too long", flag, optarg);
            break;
        }
        default: return cmd_bad_option("train", USAGE);
        }
        (void)x;
    }
    if (optind < argc) return cmd_usage_error("train", USAGE, "unexpected argument '%s'", argv[optind]);
    if (!c->data) return cmd_usage_error("train", USAGE, "--data: missing (the prepared dataset)");
    {   /* the path resolved, so that one dataset spelled two ways ("d/", "../x/d", a link) is one run:
         * the config column, run_id and a checkpoint's identity read it */
        static char resolved[PATH_MAX];
        if (realpath(c->data, resolved)) c->data = resolved;
    }
    if (c->out) {
        /* fail now, not after hours of training: an empty name, a directory, or a name whose curve
         * file (.curve.tsv beside it) is a directory, would only fail at the end */
        struct stat st;
        char cpath[4096];
        result_curve_path(c->out, cpath, sizeof cpath);
        if (!*c->out || c->out[strlen(c->out) - 1] == '/')
            return cmd_usage_error("train", USAGE, "--out: '%s' is not a file name", c->out);
        if (!stat(c->out, &st) && S_ISDIR(st.st_mode))
            return cmd_usage_error("train", USAGE, "--out: '%s' is a directory (give the result "
                                   "file's name, e.g. %s/result.tsv)", c->out, c->out);
        if (!stat(cpath, &st) && S_ISDIR(st.st_mode))
            return cmd_usage_error("train", USAGE, "--out: the curve file '%s' is a directory", cpath);
        if (parent_unwritable("--out", c->out)) return 2;
    }
    if (c->dump_init) {
        struct stat st;
        /* the name without trailing slashes (tmp_sibling appends to it), cut in argv's own string */
        char *dir = c->dump_init;
        size_t n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/') dir[--n] = 0;
        if (!n) return cmd_usage_error("train", USAGE, "--dump-init: an empty directory name");
        if (c->out)
            return cmd_usage_error("train", USAGE, "--dump-init and --out: a dump trains nothing and "
                                   "writes no row; give one of them");
        if (!lstat(dir, &st))
            return cmd_usage_error("train", USAGE, "--dump-init: '%s' exists; give a new directory", dir);
        if (parent_unwritable("--dump-init", dir)) return 2;
    }
    if (c->steps && (c->save || c->resume || c->dump_init))
        return cmd_usage_error("train", USAGE, "--steps: a timing run has no epochs to save or resume");
    if (c->resume && !c->save) c->save = c->resume;
    if (c->save) {
        /* the directory now (created when absent), not after the first epoch */
        struct stat st;
        if (c->dump_init)
            return cmd_usage_error("train", USAGE, "--dump-init and --save/--resume: a dump trains nothing");
        if (!*c->save) return cmd_usage_error("train", USAGE, "--save: an empty directory name");
        if (stat(c->save, &st) && (errno != ENOENT || mkdir(c->save, 0777)))
            return cmd_usage_error("train", USAGE, "--save: cannot create directory '%s': %s", c->save,
                                   strerror(errno));
        if (!stat(c->save, &st) && !S_ISDIR(st.st_mode))
            return cmd_usage_error("train", USAGE, "--save: '%s' is not a directory", c->save);
        if (access(c->save, W_OK))
            return cmd_usage_error("train", USAGE, "--save: cannot write into directory '%s': %s", c->save,
                                   strerror(errno));
        char last[4096];
        snprintf(last, sizeof last, "%s/last", c->save);
        if ((!c->resume || strcmp(c->resume, c->save)) && !access(last, F_OK))
            return cmd_usage_error("train", USAGE, "--save: %s exists: --resume %s continues that run, or "
                                   "give another directory", last, c->save);
    }
    if (c->emb.kind != EMB_FULL && !ratio_given)
        return cmd_usage_error("train", USAGE, "--ratio: needed with --emb %s", EMB_NAMES[c->emb.kind]);
    if (emb_options_check(&c->emb, &e)) goto bad;
    c->emb.seed = c->seed;
    return 0;
bad:
    return cmd_usage_error("train", USAGE, "%s", e.msg);
}

void train_config_string(const TrainConfig *c, char *buf, size_t n) {
    char variant[128], mlp[128] = "";
    emb_variant(&c->emb, variant, sizeof variant);
    for (int i = 0; i < c->nhidden; i++) {
        char h[16];
        snprintf(h, sizeof h, "%s%d", i ? "," : "", c->hidden[i]);
        strncat(mlp, h, sizeof mlp - strlen(mlp) - 1);
    }
    snprintf(buf, n,
             "data=%s model=%s emb=%s variant=%s ratio=%g dim=%d mlp=%s batch=%d lr=%g optim=%s "
             "emb_l2=%g epochs=%d patience=%d seed=%llu",
             c->data, MODEL_NAMES[c->model], EMB_NAMES[c->emb.kind], variant, c->emb.ratio, c->dim,
             c->nhidden ? mlp : "none", c->batch, c->lr, OPT_NAMES[c->optim], c->emb_l2, c->epochs,
             c->patience, (unsigned long long)c->seed);
    if (c->steps) { /* only when given: the run_ids of epoch runs stay what they were */
        const size_t at = strlen(buf);
        if (at < n) snprintf(buf + at, n - at, " steps=%ld", c->steps);
    }
}

void train_epoch_order(uint32_t *order, uint64_t rows, uint64_t seed, int epoch) {
    Rng r;
    rng_seed(&r, rng_mix(seed * 0x9e3779b97f4a7c15ull + 0x0de1ull) ^ rng_mix((uint64_t)epoch + 17));
    uint64_t nblocks = (rows + TRAIN_SHUFFLE_BLOCK - 1) / TRAIN_SHUFFLE_BLOCK;
    uint32_t *blocks = xmalloc((nblocks ? nblocks : 1) * sizeof *blocks);
    for (uint64_t i = 0; i < nblocks; i++) blocks[i] = (uint32_t)i;
    for (uint64_t i = nblocks; i > 1; i--) {
        uint64_t j = rng_below(&r, i);
        uint32_t t = blocks[i - 1];
        blocks[i - 1] = blocks[j];
        blocks[j] = t;
    }
    uint64_t pos = 0;
    for (uint64_t bi = 0; bi < nblocks; bi++) {
        uint64_t start = (uint64_t)blocks[bi] * TRAIN_SHUFFLE_BLOCK;
        uint64_t len = rows - start < TRAIN_SHUFFLE_BLOCK ? rows - start : TRAIN_SHUFFLE_BLOCK;
        uint32_t *o = order + pos;
        for (uint64_t i = 0; i < len; i++) o[i] = (uint32_t)(start + i);
        for (uint64_t i = len; i > 1; i--) {
            uint64_t j = rng_below(&r, i);
            uint32_t t = o[i - 1];
            o[i - 1] = o[j];
            o[j] = t;
        }
        pos += len;
    }
    free(blocks);
}

/* --- the run --- */

/* Where a step's time goes (--profile): wall seconds per phase, summed over the run. */
enum { PH_GATHER, PH_EMB_FWD, PH_MODEL_FWD, PH_LOSS, PH_MODEL_BWD, PH_EMB_BWD, PH_DENSE_OPT,
       PH_EMB_UPDATE, PH_N };
static const char *const PHASE_NAMES[PH_N] = {"gather batch", "embedding forward", "model forward",
                                              "loss", "model backward", "embedding backward",
                                              "dense optimizer", "embedding update"};

typedef struct {
    const TrainConfig *c;
    Dataset ds;
    uint32_t **counts; /* the train split's id counts, for a strategy that plans from them; or NULL */
    EmbPlan plan;
    Emb emb;
    Model model;
    Optim opt;
    float *dense_m, *dense_v; // (nparams) dense optimizer state, NULL where none
    /* batch buffers, allocated once */
    uint32_t *ids;   // (B, F)
    uint8_t *labels; // (B)
    float *E, *dE;   // (B, F, w)
    float *logits, *dlogits; // (B)
    float *eval_logits;      // (max(valid, test) rows)
    uint32_t *order;         // (train rows)
    uint64_t batch_bytes;
    double phase_seconds[PH_N]; // --profile
    /* what the run reports */
    ResultRow row;
    char variant[128], config[1024], name[512];
    size_t dense_np;            // the backbone's parameters (also an infeasible row's)
    CkptProgress prog;          /* the epochs done (prog.curve, prog.epoch rows) and the best */
} Run;

static inline double phase_mark(Run *r, int ph, double t0) {
    if (!r->c->profile) return 0;
    double t = now_seconds();
    r->phase_seconds[ph] += t - t0;
    return t;
}

static void gather_batch(Run *r, const DsSplit *s, const uint32_t *rows, int B) {
    const int F = (int)s->fields;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        uint32_t i = rows ? rows[b] : (uint32_t)b;
        memcpy(r->ids + (size_t)b * F, s->ids + (size_t)i * F, (size_t)F * sizeof(uint32_t));
        r->labels[b] = s->labels[i];
    }
}

/* Logits of every row of a split, in order. */
void train_predict(const Emb *emb, Model *model, const DsSplit *s, int max_batch, float *E, float *logits) {
    const int F = (int)s->fields;
    for (uint64_t b0 = 0; b0 < s->rows; b0 += (uint64_t)max_batch) {
        int B = (int)(s->rows - b0 < (uint64_t)max_batch ? s->rows - b0 : (uint64_t)max_batch);
        emb_forward(emb, E, s->ids + b0 * (uint64_t)F, B);
        model_forward(model, logits + b0, E, B);
    }
}

static void evaluate(Run *r, int split, double *auc, double *logloss) {
    const DsSplit *s = &r->ds.split[split];
    if (s->rows == 0) {
        *auc = *logloss = NAN;
        return;
    }
    train_predict(&r->emb, &r->model, s, r->c->batch, r->E, r->eval_logits);
    *auc = metric_auc(r->eval_logits, s->labels, s->rows);
    *logloss = metric_logloss_logit(r->eval_logits, s->labels, s->rows);
}

/* One training step on the batch in r->ids / r->labels; returns the mean loss. */
static double train_step(Run *r, int B) {
    double t = r->c->profile ? now_seconds() : 0;
    emb_forward(&r->emb, r->E, r->ids, B);
    t = phase_mark(r, PH_EMB_FWD, t);
    model_forward(&r->model, r->logits, r->E, B);
    t = phase_mark(r, PH_MODEL_FWD, t);
    double loss = bce_forward(r->logits, r->labels, B);
    if (!isfinite(loss)) return loss;
    bce_backward(r->dlogits, r->logits, r->labels, B);
    model_zero_grad(&r->model);
    t = phase_mark(r, PH_LOSS, t);
    model_backward(&r->model, r->dE, r->dlogits, r->E, B);
    t = phase_mark(r, PH_MODEL_BWD, t);
    emb_backward(&r->emb, r->dE, r->ids, B);
    t = phase_mark(r, PH_EMB_BWD, t);
    optim_begin_step(&r->opt);
    optim_dense(&r->opt, r->model.params, r->model.grads, r->dense_m, r->dense_v, r->model.nparams);
    t = phase_mark(r, PH_DENSE_OPT, t);
    emb_update(&r->emb, &r->opt);
    phase_mark(r, PH_EMB_UPDATE, t);
    return loss;
}

static void print_profile(const Run *r, double train_seconds, uint64_t samples) {
    const double *phase_seconds = r->phase_seconds;
    fprintf(stderr, "  profile (wall time per phase over %llu samples):\n", (unsigned long long)samples);
    double sum = 0;
    for (int i = 0; i < PH_N; i++) sum += phase_seconds[i];
    for (int i = 0; i < PH_N; i++)
        fprintf(stderr, "    %-20s %8.3f s  %5.1f%%  %7.2f us/sample\n", PHASE_NAMES[i],
                phase_seconds[i], 100.0 * phase_seconds[i] / train_seconds,
                1e6 * phase_seconds[i] / (double)samples);
    fprintf(stderr, "    %-20s %8.3f s  %5.1f%%\n", "other", train_seconds - sum,
            100.0 * (train_seconds - sum) / train_seconds);
}

static void fmt_duration(char *buf, size_t n, double s) {
    if (!isfinite(s) || s < 0) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

static void progress_bar(int epoch, int epochs, uint64_t done, uint64_t total, double sps,
                         double loss) {
    char eta[32];
    fmt_duration(eta, sizeof eta, sps > 0 ? (double)(total - done) / sps : 0);
    int width = 30, fill = total ? (int)((double)done / (double)total * width) : width;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\r  epoch %d/%d [%s] %5.1f%%  %8.0f samples/s  ETA %s  loss %.5f ", epoch,
            epochs, bar, total ? 100.0 * (double)done / (double)total : 100.0, sps, eta, loss);
}

static void print_config(const Run *r, const char *variant) {
    const TrainConfig *c = r->c;
    const EmbPlan *p = &r->plan;
    char mlp[128] = "";
    for (int i = 0; i < c->nhidden; i++) {
        char h[16];
        snprintf(h, sizeof h, "%s%d", i ? "-" : "", c->hidden[i]);
        strncat(mlp, h, sizeof mlp - strlen(mlp) - 1);
    }
    const char *fmt = ds_meta_get(&r->ds.meta, "format");
    fprintf(stderr, "hashemb train %s\n", HASHEMB_GIT_SHA);
    fprintf(stderr, "  %-18s %s (%s)\n", "data", c->data, fmt ? fmt : "?");
    fprintf(stderr, "  %-18s train %llu, valid %llu, test %llu rows; %u fields\n", "rows",
            (unsigned long long)r->ds.split[DS_TRAIN].rows,
            (unsigned long long)r->ds.split[DS_VALID].rows,
            (unsigned long long)r->ds.split[DS_TEST].rows, r->ds.fields);
    fprintf(stderr, "  %-18s %s, d=%d (rows %d wide), MLP %s\n", "model", MODEL_NAMES[c->model],
            c->dim, p->w, c->nhidden ? mlp : "none");
    fprintf(stderr, "  %-18s %s, target ratio %g\n", "embedding", variant, p->opt.ratio);
    char rc[32];
    result_fmt(rc, sizeof rc, p->ratio_compressed);
    fprintf(stderr, "  %-18s %llu of %llu full-table parameters: ratio_actual %.4g, ratio_compressed "
                    "%s (%d fields compressed, %d clamped)\n",
            "emb params", (unsigned long long)p->params, (unsigned long long)p->full_params,
            p->ratio_actual, rc, p->n_compressed, p->n_clamped);
    fprintf(stderr, "  %-18s %zu\n", "dense params", r->model.nparams);
    fprintf(stderr, "  %-18s %s lr %g, emb-l2 %g, batch %d, epochs %d, patience %d, seed %llu\n",
            "optimizer", OPT_NAMES[c->optim], c->lr, c->emb_l2, c->batch, c->epochs, c->patience,
            (unsigned long long)c->seed);
    fprintf(stderr, "  %-18s %d; OpenBLAS core %s (%s), %s build (parallel=%d)\n", "threads",
            c->threads, blas_core(), blas_core_source(), blas_build(), blas_parallel());
}

static double meta_double(const Dataset *d, const char *key) {
    const char *v = ds_meta_get(&d->meta, key);
    if (!v) return NAN;
    char *end;
    double x = strtod(v, &end);
    return (*v && !*end) ? x : NAN;
}

/* An infeasible plan has sizes when every field has a layout (only the ratio fell short). */
static int plan_has_sizes(const EmbPlan *p) {
    for (int i = 0; i < p->fields; i++)
        if (!p->f[i].feasible) return 0;
    return 1;
}

static const char *dataset_name(const char *dir, char *buf, size_t size) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    snprintf(buf, size, "%.*s", (int)n, dir);
    char *slash = strrchr(buf, '/');
    return slash && slash[1] ? slash + 1 : buf;
}

/* --- --dump-init: the initial state, for a peer that must start where hashemb starts --- */

static int dump_raw(const char *dir, const char *name, const void *p, size_t bytes, Err *e) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return err_set(e, "--dump-init: %s: cannot create: %s", path, strerror(errno));
    size_t n = bytes ? fwrite(p, 1, bytes, f) : 0;
    int bad = n != bytes, er = errno;
    if (fclose(f) != 0 && !bad) bad = 1, er = errno;
    if (bad) return err_set(e, "--dump-init: %s: cannot write: %s", path, strerror(er));
    return 0;
}

/* DIR/init.tsv describes the files: `key value` lines, then one `field` line per field (its layout as
 * the plan chose it) and one `table` line per table (rows, width, file), in emb_create's table order;
 * dense.f32 holds the backbone's parameters in model.h's order (DeepFM's bias, then per layer W (out,
 * in) row-major and b); order.E.u32 the rows of epoch E in training order. Little-endian, no headers.
 * Written into a temporary sibling and renamed into place: DIR is whole or absent. */
static int dump_init(const Run *r, const char *variant, const char *config, Err *e) {
    const TrainConfig *c = r->c;
    tmp_sweep_stale(c->dump_init); /* what an interrupted dump of a dead process left beside it */
    char *tmp = tmp_sibling(c->dump_init, "tmp");
    rm_tree(tmp);
    if (mkdir(tmp, 0755) != 0) {
        err_set(e, "--dump-init: %s: cannot create directory: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    char path[4096], name[64];
    snprintf(path, sizeof path, "%s/init.tsv", tmp);
    FILE *m = fopen(path, "w");
    if (!m) {
        err_set(e, "--dump-init: %s: cannot create: %s", path, strerror(errno));
        goto fail;
    }
    const Emb *emb = &r->emb;
    uint64_t ntrain = r->ds.split[DS_TRAIN].rows;
    fprintf(m, "# hashemb train --dump-init: the initial parameters of this run (raw little-endian "
               "float32) and each epoch's row order (raw u32)\n");
    const char *source = ds_meta_get(&r->ds.meta, "source");
    fprintf(m, "version\t1\nhashemb\t%s\nconfig\t%s\nvariant\t%s\n", HASHEMB_GIT_SHA, config, variant);
    /* what the data was made by (a peer refuses other data of the same shape) */
    fprintf(m, "dataset_source\t%s\n", source ? source : "");
    fprintf(m, "model\t%s\nfields\t%d\ndim\t%d\nwidth\t%d\nhidden\t", MODEL_NAMES[c->model], emb->fields,
            c->dim, emb->w);
    for (int i = 0; i < c->nhidden; i++) fprintf(m, "%s%d", i ? "," : "", c->hidden[i]);
    fprintf(m, "%s\nseed\t%llu\nbatch\t%d\nlr\t%.17g\noptim\t%s\nemb_l2\t%.17g\n", c->nhidden ? "" : "none",
            (unsigned long long)c->seed, c->batch, c->lr, OPT_NAMES[c->optim], c->emb_l2);
    fprintf(m, "dense\tdense.f32\t%zu\n", r->model.nparams);
    for (int ep = 1; ep <= c->epochs; ep++)
        fprintf(m, "order\t%d\torder.%d.u32\t%llu\n", ep, ep, (unsigned long long)ntrain);
    fprintf(m, "# field f N strategy seed_f layout (key=value, as the strategy's plan chose it)\n");
    for (int f = 0; f < emb->fields; f++) {
        const EmbFieldPlan *p = &emb->f[f].plan;
        char desc[512];
        emb_describe(&emb->plan, p, desc, sizeof desc);
        fprintf(m, "field\t%d\t%llu\t%s\t%llu\t%s\n", f, (unsigned long long)p->N,
                EMB_NAMES[emb_field_kind(&emb->plan, p)], (unsigned long long)p->seed_f, desc);
    }
    fprintf(m, "# table f k rows width file\n");
    for (int f = 0; f < emb->fields; f++)
        for (int k = 0; k < emb->f[f].ntables; k++) {
            const EmbTable *t = &emb->f[f].tables[k];
            snprintf(name, sizeof name, "emb.%d.%d.f32", f, k);
            fprintf(m, "table\t%d\t%d\t%llu\t%d\t%s\n", f, k, (unsigned long long)t->rows, t->width, name);
            if (dump_raw(tmp, name, t->w, (size_t)t->rows * (size_t)t->width * sizeof(float), e)) {
                fclose(m);
                goto fail;
            }
        }
    int bad = ferror(m);
    if (fclose(m) != 0) bad = 1;
    if (bad) { /* a stream error's errno is long gone by now: no reason to give but the failure */
        err_set(e, "--dump-init: %s: a write failed (disk full?)", path);
        goto fail;
    }
    if (dump_raw(tmp, "dense.f32", r->model.params, r->model.nparams * sizeof(float), e)) goto fail;
    for (int ep = 1; ep <= c->epochs; ep++) {
        train_epoch_order(r->order, ntrain, c->seed, ep);
        snprintf(name, sizeof name, "order.%d.u32", ep);
        if (dump_raw(tmp, name, r->order, ntrain * sizeof(uint32_t), e)) goto fail;
    }
    if (rename(tmp, c->dump_init) != 0) {
        err_set(e, "--dump-init: cannot rename %s to %s: %s", tmp, c->dump_init, strerror(errno));
        goto fail;
    }
    free(tmp);
    return 0;
fail:
    rm_tree(tmp);
    free(tmp);
    return -1;
}

/* --- early stopping (SPEC 5) --- */

int train_early_stop(EarlyStop *s, int epoch, double valid_auc, int patience, int *stop) {
    *stop = 0;
    /* the first epoch, or strictly better: ties go to the earlier epoch; NaN never beats a number,
     * and a NaN first epoch stays the best */
    if (s->best == 0 || valid_auc > s->best_valid) {
        s->best = epoch;
        s->best_valid = valid_auc;
        s->since_best = 0;
        return 1;
    }
    *stop = ++s->since_best >= patience;
    return 0;
}

/* --- the command, in parts: setup (the plan, the memory check, the row's fixed columns), the tables
 * and buffers, the epochs, the writing --- */

/* The rows the evaluation buffer holds: the larger of valid and test. */
static uint64_t eval_rows(const Dataset *d) {
    uint64_t v = d->split[DS_VALID].rows, t = d->split[DS_TEST].rows;
    return v > t ? v : t;
}

/* 0: ready to train; 1: infeasible (the row says so, nothing to build); -1: an error (rc set). */
static int train_setup(Run *r, int *rc) {
    TrainConfig *c = (TrainConfig *)r->c;
    Err e;
    if (ds_open(&r->ds, c->data, 1, &e)) {
        fprintf(stderr, "hashemb train: %s\n", e.msg);
        return *rc = 1, -1;
    }
    if (r->ds.split[DS_TRAIN].rows == 0 || r->ds.split[DS_TRAIN].rows >= UINT32_MAX) {
        fprintf(stderr, "hashemb train: %s: %llu training rows (need 1 to 2^32-1)\n", c->data,
                (unsigned long long)r->ds.split[DS_TRAIN].rows);
        return *rc = 1, -1;
    }
    const int F = (int)r->ds.fields;
    const int w = model_width(c->model, c->dim);
    if (emb_plan_needs_counts(&c->emb)) r->counts = ds_train_counts(&r->ds);
    if (emb_plan_make_counts(&r->plan, r->ds.cards, (const uint32_t *const *)r->counts, F, w, &c->emb, &e))
        return *rc = cmd_usage_error("train", USAGE, "%s", e.msg), -1;
    /* What the run will allocate, against what this machine leaves it, before any of it is: the
     * embedding tables (an upper bound), the dense model and its optimizer state, the batch buffers.
     * The mapped dataset is file-backed (the kernel can page it out), so only the address space
     * counts it, and it is mapped already. */
    uint64_t ntrain = r->ds.split[DS_TRAIN].rows;
    uint64_t neval = eval_rows(&r->ds);
    size_t BFw = (size_t)c->batch * F * w;
    r->batch_bytes = (uint64_t)c->batch * F * 4 + c->batch + 2 * BFw * 4 + 2ull * c->batch * 4 +
                     neval * 4 + ntrain * 4;
    /* the train counts a strategy planned from, kept for its create: 4 bytes an id, for the whole run */
    if (r->counts)
        for (int f = 0; f < F; f++) r->batch_bytes += 4 * r->ds.cards[f];
    {
        SysLimits lim;
        limits_read(&lim);
        uint64_t model_b, need = r->batch_bytes;
        if (model_size(c->model, F, c->dim, c->hidden, c->nhidden, c->batch, &r->dense_np, &model_b, &e))
            return *rc = cmd_usage_error("train", USAGE, "%s", e.msg), -1;
        /* the tables, and what create holds for a moment (a sort's buffers): the largest field's, on
         * every core, as fields are created in parallel */
        uint64_t embb = r->plan.infeasible ? 0
                                           : emb_plan_bytes(&r->plan, c->optim, c->batch) +
                                                 emb_plan_create_temp_bytes(&r->plan) * (uint64_t)omp_get_num_procs();
        uint64_t dense = model_b + (uint64_t)optim_state_per_param(c->optim) * r->dense_np * sizeof(float);
        need += embb + dense;
        int threads;
        if (limits_threads(&lim, c->threads, c->threads_given, need, "train", &threads, &e) ||
            (!r->plan.infeasible && limits_check_bytes(&lim, need, "this run", &e))) {
            char eb[32], db[32], bb[32];
            limits_human(embb, eb, sizeof eb);
            limits_human(dense, db, sizeof db);
            limits_human(r->batch_bytes, bb, sizeof bb);
            int big = emb_plan_largest(&r->plan);
            fprintf(stderr, "hashemb train: %s (embedding tables %s, the largest field %s with %llu rows "
                            "and %llu parameters; dense model %s; batch buffers %s)\n",
                    e.msg, eb, r->ds.field_names[big], (unsigned long long)r->plan.f[big].rows,
                    (unsigned long long)r->plan.f[big].params, db, bb);
            return *rc = 1, -1;
        }
        c->threads = threads;
    }
    blas_set_threads(c->threads);
    emb_variant(&c->emb, r->variant, sizeof r->variant);
    train_config_string(c, r->config, sizeof r->config);

    ResultRow *row = &r->row;
    snprintf(row->run_id, sizeof row->run_id, "%016llx",
             (unsigned long long)XXH64(r->config, strlen(r->config), 0));
    row->dataset = dataset_name(c->data, r->name, sizeof r->name);
    row->model = MODEL_NAMES[c->model];
    row->emb = EMB_NAMES[c->emb.kind];
    row->variant = r->variant;
    row->ratio_target = r->plan.opt.ratio;
    row->ratio_actual = r->plan.ratio_actual;
    row->ratio_compressed = r->plan.ratio_compressed;
    row->seed = c->seed;
    row->oracle_auc = meta_double(&r->ds, "oracle_auc_test");
    row->oracle_logloss = meta_double(&r->ds, "oracle_logloss_test");
    row->valid_auc = row->valid_logloss = row->test_auc = row->test_logloss = NAN;
    row->train_seconds = row->samples_per_sec = NAN;
    row->threads = c->threads;
    row->blas_core = blas_core();
    row->git_sha = HASHEMB_GIT_SHA;
    row->config = r->config;
    if (!r->plan.infeasible) return 0;

    /* SPEC 4: the row is written with the sizes the layout would have had, nothing is trained */
    fprintf(stderr, "hashemb train: infeasible: %s\n", r->plan.reason);
    if (c->dump_init) {
        fprintf(stderr, "hashemb train: --dump-init: nothing to write (no tables are built)\n");
        return *rc = 1, -1;
    }
    row->status = "infeasible";
    row->have_sizes = plan_has_sizes(&r->plan);
    if (row->have_sizes) {
        int per_param = optim_state_per_param(c->optim);
        row->emb_params = r->plan.params;
        row->emb_bytes = r->plan.params * sizeof(float);
        row->opt_bytes = (uint64_t)per_param * (r->plan.params + r->dense_np) * sizeof(float);
        row->dense_params = r->dense_np;
    }
    row->peak_rss_bytes = peak_rss_bytes();
    return 1;
}

/* The model, the tables, their optimizer state and the batch buffers; the row's sizes. */
static int train_build(Run *r) {
    const TrainConfig *c = r->c;
    const int F = (int)r->ds.fields, w = r->plan.w;
    Err e;
    if (model_init(&r->model, c->model, F, c->dim, c->hidden, c->nhidden, c->batch, c->seed, &e) ||
        emb_create(&r->emb, &r->plan, c->batch, c->optim, c->seed, &e)) {
        fprintf(stderr, "hashemb train: %s\n", e.msg);
        return -1;
    }
    optim_init(&r->opt, c->optim, (float)c->lr, (float)c->emb_l2);
    int per = optim_state_per_param(c->optim);
    if (per >= 1) r->dense_v = xcalloc(r->model.nparams, sizeof(float));
    if (per >= 2) r->dense_m = xcalloc(r->model.nparams, sizeof(float));
    const size_t BFw = (size_t)c->batch * F * w;
    uint64_t ntrain = r->ds.split[DS_TRAIN].rows;
    uint64_t neval = eval_rows(&r->ds);
    r->ids = xaligned((size_t)c->batch * F * sizeof(uint32_t));
    r->labels = xaligned((size_t)c->batch);
    r->E = xaligned(BFw * sizeof(float));
    r->dE = xaligned(BFw * sizeof(float));
    r->logits = xaligned((size_t)c->batch * sizeof(float));
    r->dlogits = xaligned((size_t)c->batch * sizeof(float));
    r->eval_logits = xaligned((neval ? neval : 1) * sizeof(float));
    r->order = xmalloc(ntrain * sizeof(uint32_t));
    r->prog.curve = xcalloc((size_t)c->epochs, sizeof *r->prog.curve);
    r->prog.es = (EarlyStop){0, -INFINITY, 0};
    r->prog.valid_auc = r->prog.valid_logloss = r->prog.test_auc = r->prog.test_logloss = NAN;

    ResultRow *row = &r->row;
    uint64_t pbytes, obytes;
    emb_bytes(&r->emb, &pbytes, &obytes);
    row->have_sizes = 1;
    row->emb_params = r->plan.params;
    row->emb_bytes = pbytes;
    row->opt_bytes = obytes + (uint64_t)per * r->model.nparams * sizeof(float);
    row->dense_params = r->model.nparams;
    row->accounted_bytes = pbytes + row->opt_bytes + model_bytes(&r->model) + r->batch_bytes +
                           emb_work_bytes(&r->emb);
    for (int s = 0; s < DS_NSPLITS; s++) row->accounted_bytes += r->ds.split[s].map_len;
    return 0;
}

/* What a checkpoint says the run is (its model, tables and data), for ckpt_save. */
static void ckpt_run_of(const Run *r, CkptRun *k) {
    const TrainConfig *c = r->c;
    memset(k, 0, sizeof *k);
    snprintf(k->config, sizeof k->config, "%s", r->config);
    k->model = c->model;
    k->dim = c->dim;
    k->nhidden = c->nhidden;
    memcpy(k->hidden, c->hidden, sizeof k->hidden);
    k->batch = c->batch;
    k->optim = c->optim;
    k->lr = c->lr;
    k->emb_l2 = c->emb_l2;
    k->seed = c->seed;
    k->emb = c->emb;
    snprintf(k->emb_flags, sizeof k->emb_flags, "%s", c->emb_flags);
    k->threads = c->threads;
    snprintf(k->blas_core, sizeof k->blas_core, "%s", blas_core());
    snprintf(k->git_sha, sizeof k->git_sha, "%s", HASHEMB_GIT_SHA);
    const char *ord = ds_meta_get(&r->ds.meta, "id_order");
    snprintf(k->id_order, sizeof k->id_order, "%s", ord ? ord : "");
    k->fields = (int)r->ds.fields;
    k->cards = r->ds.cards;
    k->counts = (const uint32_t *const *)r->counts;
}

/* --save: DIR/last after every epoch, DIR/best too when the epoch is the new best. */
static int save_checkpoint(Run *r, int best) {
    char last[4096], bestp[4096];
    snprintf(last, sizeof last, "%s/last", r->c->save);
    snprintf(bestp, sizeof bestp, "%s/best", r->c->save);
    CkptRun k;
    ckpt_run_of(r, &k);
    CkptState st = {&r->model, r->dense_m, r->dense_v, &r->emb, 0};
    r->prog.optim_step = r->opt.step;
    Err e;
    if (ckpt_save(last, best ? bestp : NULL, &k, &r->prog, &st, &e)) {
        fprintf(stderr, "hashemb train: --save: %s\n", e.msg);
        return -1;
    }
    return 0;
}

/* --resume: the state and progress of DIR/last, when it exists, into the built run; 1 when nothing
 * was there (a fresh start), -1 on a refusal (printed). */
static int resume_checkpoint(Run *r) {
    const TrainConfig *c = r->c;
    char last[4096];
    snprintf(last, sizeof last, "%s/last", c->resume);
    if (access(last, F_OK)) {
        fprintf(stderr, "hashemb train: --resume: no %s yet: starting from the beginning\n", last);
        return 1;
    }
    Ckpt k;
    Err e;
    if (ckpt_open(&k, last, &e)) {
        fprintf(stderr, "hashemb train: --resume: %s\n", e.msg);
        return -1;
    }
    int rc = -1;
    if (strcmp(k.run.config, r->config)) {
        /* the first key=value that differs, then both strings whole */
        const char *a = k.run.config, *b = r->config;
        while (*a && *a == *b) a++, b++;
        while (a > k.run.config && a[-1] != ' ') a--, b--;
        fprintf(stderr, "hashemb train: --resume: %s is another run's: it has %.*s where this run has %.*s (a "
                        "run continues only with its own flags; to train it further, start a new one)\n  it:   %s\n"
                        "  this: %s\n", last, (int)strcspn(a, " "), a, (int)strcspn(b, " "), b, k.run.config, r->config);
        goto done;
    }
    if (k.run.fields != (int)r->ds.fields || memcmp(k.run.cards, r->ds.cards, (size_t)k.run.fields * 8)) {
        fprintf(stderr, "hashemb train: --resume: %s: the dataset %s has other fields or cardinalities "
                        "than the run that saved it (made again?)\n", last, c->data);
        goto done;
    }
    /* the config string prints numbers with %g: the exact values too */
    if (k.run.lr != c->lr || k.run.emb_l2 != c->emb_l2 || memcmp(&k.run.emb, &c->emb, sizeof c->emb)) {
        fprintf(stderr, "hashemb train: --resume: %s is another run's: its --lr, --emb-l2 or strategy "
                        "options differ from this run's beyond the digits the configuration shows (it had %s)\n",
                last, k.run.emb_flags);
        goto done;
    }
    /* what the results depend on beyond the configuration: the thread count and the OpenBLAS kernels */
    if (k.run.threads != c->threads) {
        fprintf(stderr, "hashemb train: --resume: %s trained with %d thread(s) and this run has %d: the sums "
                        "split differently, so the run would match neither; pass --threads %d (or remove %s to "
                        "start over)\n", last, k.run.threads, c->threads, k.run.threads, c->resume);
        goto done;
    }
    if (strcmp(k.run.blas_core, blas_core())) {
        fprintf(stderr, "hashemb train: --resume: %s trained on OpenBLAS core %s and this one runs %s: the "
                        "products round differently; set OPENBLAS_CORETYPE=%s if this CPU runs it (or remove "
                        "%s to start over)\n", last, k.run.blas_core, blas_core(), k.run.blas_core, c->resume);
        goto done;
    }
    if (strcmp(k.run.git_sha, HASHEMB_GIT_SHA))
        fprintf(stderr, "hashemb train: --resume: warning: %s was written by hashemb %s, this is %s: the row "
                        "names this build\n", last, k.run.git_sha, HASHEMB_GIT_SHA);
    CkptState st = {&r->model, r->dense_m, r->dense_v, &r->emb, 0};
    if (ckpt_restore(&k, &st, &e)) {
        fprintf(stderr, "hashemb train: --resume: %s\n", e.msg);
        goto done;
    }
    CurveRow *curve = r->prog.curve;
    memcpy(curve, k.progress.curve, (size_t)k.progress.epoch * sizeof *curve);
    r->prog = k.progress;
    r->prog.curve = curve;
    r->opt.step = k.progress.optim_step;
    fprintf(stderr, "hashemb train: --resume: %s: %d epoch(s) done, %s\n", last, r->prog.epoch,
            r->prog.finished ? "the run had ended" : "continuing");
    rc = 0;
done:
    ckpt_close(&k);
    return rc;
}

/* The epochs: block-shuffled order, steps, evaluation, the best epoch and early stopping; the curve
 * in r->prog and the row's metrics. Starts after r->prog.epoch (a resumed run's). -1: a checkpoint
 * could not be written. */
static int train_epochs(Run *r) {
    const TrainConfig *c = r->c;
    /* tests: HASHEMB_TEST_KILL=step:N or save:N sends this process SIGKILL after its N-th step or
     * checkpoint, a crash at a point the test chooses */
    long kill_step = 0, kill_save = 0, steps_here = 0, saves_here = 0;
    const char *kill = getenv("HASHEMB_TEST_KILL");
    if (kill && !strncmp(kill, "step:", 5)) kill_step = atol(kill + 5);
    if (kill && !strncmp(kill, "save:", 5)) kill_save = atol(kill + 5);
    ResultRow *row = &r->row;
    CkptProgress *p = &r->prog;
    const uint64_t ntrain = r->ds.split[DS_TRAIN].rows;
    int diverged = 0, failed = 0, tty = !c->quiet && isatty(2);
    double t_start = now_seconds() - (p->epoch ? p->curve[p->epoch - 1].seconds : 0);
    uint64_t samples0 = p->samples;
    double seconds0 = p->train_seconds;
    for (int epoch = p->epoch + 1; (epoch <= c->epochs || c->steps) && !p->finished && !diverged; epoch++) {
        train_epoch_order(r->order, ntrain, c->seed, epoch);
        double loss_sum = 0, t_epoch = now_seconds(), t_last = 0, epoch_seconds = 0;
        uint64_t loss_n = 0;
        for (uint64_t b0 = 0; b0 < ntrain; b0 += (uint64_t)c->batch) {
            int B = (int)(ntrain - b0 < (uint64_t)c->batch ? ntrain - b0 : (uint64_t)c->batch);
            double t0 = now_seconds();
            gather_batch(r, &r->ds.split[DS_TRAIN], r->order + b0, B);
            phase_mark(r, PH_GATHER, t0);
            double loss = train_step(r, B);
            double dt = now_seconds() - t0;
            epoch_seconds += dt;
            p->step++;
            if (++steps_here == kill_step) raise(SIGKILL);
            if (!isfinite(loss)) {
                diverged = 1;
                fprintf(stderr, "%shashemb train: loss is %g at epoch %d step %ld: diverged\n",
                        tty ? "\n" : "", loss, epoch, p->step);
                break;
            }
            p->samples += (uint64_t)B;
            loss_sum += loss * B;
            loss_n += (uint64_t)B;
            if (tty && (now_seconds() - t_last > 0.25 || b0 + (uint64_t)B >= ntrain)) {
                t_last = now_seconds();
                progress_bar(epoch, c->epochs, b0 + (uint64_t)B, ntrain,
                             (double)(b0 + (uint64_t)B) / epoch_seconds, loss_sum / (double)loss_n);
            }
            if (p->step == c->steps) break;
        }
        p->train_seconds += epoch_seconds;
        if (diverged) break;
        if (c->steps && p->step < c->steps) continue; /* a timing run: no evaluation, no curve */
        if (p->step == c->steps) {
            if (!c->quiet)
                fprintf(stderr, "%s  --steps %ld: %llu samples in %.2f s, %.0f samples/s\n", tty ? "\r\033[K" : "",
                        c->steps, (unsigned long long)p->samples, p->train_seconds,
                        (double)p->samples / p->train_seconds);
            row->epochs = epoch;
            break;
        }
        CurveRow *cr = &p->curve[p->epoch++];
        cr->epoch = epoch;
        cr->step = p->step;
        cr->train_loss = loss_sum / (double)loss_n;
        double vl, ta, tl;
        evaluate(r, DS_VALID, &cr->valid_auc, &cr->valid_logloss);
        evaluate(r, DS_TEST, &ta, &tl);
        vl = cr->valid_logloss;
        cr->test_auc = ta;
        cr->seconds = now_seconds() - t_start;
        if (!c->quiet)
            fprintf(stderr, "%s  epoch %d/%d: train loss %.5f, valid AUC %.5f logloss %.5f, test AUC "
                            "%.5f, %.0f samples/s, %.1f s\n",
                    tty ? "\r\033[K" : "", epoch, c->epochs, cr->train_loss, cr->valid_auc, vl, ta,
                    (double)ntrain / epoch_seconds, now_seconds() - t_epoch);
        int stop, best = train_early_stop(&p->es, epoch, cr->valid_auc, c->patience, &stop);
        if (best) {
            p->valid_auc = cr->valid_auc;
            p->valid_logloss = vl;
            p->test_auc = ta;
            p->test_logloss = tl;
        } else if (stop && !c->quiet) {
            fprintf(stderr, "  early stop: %d epoch(s) without a better valid AUC\n", p->es.since_best);
        }
        p->finished = stop || epoch == c->epochs;
        if (c->save && save_checkpoint(r, best)) {
            failed = 1;
            break;
        }
        if (c->save && ++saves_here == kill_save) raise(SIGKILL);
    }
    if (c->profile && p->samples > samples0) print_profile(r, p->train_seconds - seconds0, p->samples - samples0);
    row->valid_auc = p->valid_auc;
    row->valid_logloss = p->valid_logloss;
    row->test_auc = p->test_auc;
    row->test_logloss = p->test_logloss;
    if (!c->steps) row->epochs = p->epoch + diverged;
    row->best_epoch = p->es.best;
    row->train_seconds = p->train_seconds;
    row->samples_per_sec = p->train_seconds > 0 ? (double)p->samples / p->train_seconds : NAN;
    row->status = diverged ? "diverged" : "ok";
    row->peak_rss_bytes = peak_rss_bytes();
    return failed ? -1 : 0;
}

/* The curve (of a trained run), then the row: to --out, or on stdout. */
static int train_write(Run *r) {
    const TrainConfig *c = r->c;
    Err e;
    if (!c->out) {
        result_print(stdout, &r->row);
        fflush(stdout);
        return 0;
    }
    char cpath[4096];
    result_curve_path(c->out, cpath, sizeof cpath);
    if (r->prog.curve && curve_write(cpath, r->prog.curve, r->prog.epoch, &e)) {
        fprintf(stderr, "hashemb train: %s\n", e.msg);
        return 1;
    }
    if (result_write(c->out, &r->row, &e)) {
        fprintf(stderr, "hashemb train: %s\n", e.msg);
        unlink(cpath); /* no curve without its result */
        return 1;
    }
    if (!c->quiet) {
        char a[32], sp[32];
        result_fmt(a, sizeof a, r->row.test_auc);
        result_fmt(sp, sizeof sp, r->row.samples_per_sec);
        fprintf(stderr, "  result: %s (status %s, test AUC %s, samples/s %s)\n", c->out, r->row.status, a, sp);
    }
    return 0;
}

static void train_free(Run *r) {
    free(r->prog.curve);
    free(r->dense_m);
    free(r->dense_v);
    free(r->ids);
    free(r->labels);
    free(r->E);
    free(r->dE);
    free(r->logits);
    free(r->dlogits);
    free(r->eval_logits);
    free(r->order);
    if (r->model.params) model_free(&r->model);
    emb_free(&r->emb);
    emb_plan_free(&r->plan);
    ds_counts_free(r->counts, r->ds.fields);
    ds_close(&r->ds);
}

static void warn_valid_split(const Run *r) {
    const DsSplit *v = &r->ds.split[DS_VALID];
    double vpos = metric_pos_rate(v->labels, v->rows);
    if (v->rows == 0 || vpos == 0.0 || vpos == 1.0)
        fprintf(stderr, "hashemb train: warning: %s: the valid split has %s: valid AUC is NA, so "
                        "no epoch counts as a gain and early stopping ends the run after "
                        "--patience epochs\n",
                r->c->data, v->rows == 0 ? "no rows" : "one class only");
}

int cmd_train(int argc, char **argv) {
    TrainConfig c;
    train_config_default(&c);
    int pr = train_parse_args(&c, argc, argv);
    if (pr == 1) return 0;
    if (pr) return pr;
    if (blas_parallel() != 2)
        fprintf(stderr, "hashemb train: warning: OpenBLAS is the %s build, not the OpenMP one; its "
                        "threads will fight OpenMP's (SPEC 8)\n", blas_build());
    Run *r = xcalloc(1, sizeof *r);
    r->c = &c;
    int rc = 0;
    int st = train_setup(r, &rc);
    if (st == 0 && train_build(r)) rc = 1, st = -1;
    if (st == 0 && c.dump_init) {
        Err e;
        if (dump_init(r, r->variant, r->config, &e)) {
            fprintf(stderr, "hashemb train: %s\n", e.msg);
            rc = 1;
        } else if (!c.quiet) {
            fprintf(stderr, "hashemb train: wrote the initial state to %s (nothing trained)\n", c.dump_init);
        }
        st = -1;
    }
    if (st == 0 && c.save) ckpt_clean_dir(c.save); /* what a process killed while saving left */
    if (st == 0 && c.resume && resume_checkpoint(r) < 0) rc = 1, st = -1;
    if (st == 0) {
        if (!c.quiet) print_config(r, r->variant);
        warn_valid_split(r);
        if (train_epochs(r)) rc = 1, st = -1; /* a checkpoint could not be written: no row */
    }
    if (st >= 0) rc = train_write(r);
    train_free(r);
    free(r);
    return rc;
}
