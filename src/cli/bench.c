/* bench: `hashemb bench` (SPEC 2, 8), kernel speed measurements that make bench (bench/bench.sh) reads.
 *   sgemm  cblas_sgemm GFLOP/s at exactly the calls model.c makes per training batch, per call and for
 *          the whole sequence, and the sgemm-bound ceiling in samples/s that it implies;
 *   model  model_forward + model_backward alone (no embeddings, no optimizer) in samples/s;
 *   auc    seconds of metric_auc on n random scores with ties.
 * Each prints a TSV (header + rows) on stdout and the BLAS set-up on stderr; timings are medians of
 * --reps repetitions after warm-up calls. It does not train, read data or write files: end-to-end
 * throughput is `hashemb train`'s samples_per_sec column. */
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "core/limits.h"
#include "cli/cmd.h"
#include "core/metrics.h"
#include "model/model.h"
#include "core/rng.h"

static const char USAGE[] =
    "usage: hashemb bench sgemm|model|auc [options]\n"
    "\n"
    "Kernel speed measurements; a TSV (header + rows) on stdout, the BLAS set-up on stderr.\n"
    "Timings are medians over --reps repetitions after two warm-up calls.\n"
    "\n"
    "  sgemm   cblas_sgemm GFLOP/s at the shapes of the calls the model makes per training batch:\n"
    "          per hidden layer l, forward y = x W^T (M=B, N=out, K=in), backward dx = dy W (M=B,\n"
    "          N=in, K=out; layer 0 too, the embedding gradient needs it) and dW += dy^T x (M=out,\n"
    "          N=in, K=B); the output layer (one unit) is two sgemv calls. Rows per call, then a\n"
    "          total row timing the whole sequence: its GFLOP/s and the ceiling in samples/s that\n"
    "          the BLAS calls alone allow (B / seconds of the sequence).\n"
    "          --beta 1 (the default) accumulates into a prefilled output, as layers.c does (OpenBLAS\n"
    "          0.3.21 scales C in a separate pass first, which costs more for beta = 0); --beta 0\n"
    "          overwrites the output of the forward and dx products.\n"
    "  model   model forward + backward (with the embedding gradient) alone, in samples/s\n"
    "  auc     seconds of metric_auc on --n random scores with ties (labels with click rate 0.25)\n"
    "\n"
    "  --model NAME             backbone (sgemm, model; default deepfm; train --help lists them)\n"
    "  --batch B                batch size (default 4096)\n"
    "  --fields F               fields (default 39, the criteo profile)\n"
    "  --dim D                  embedding dimension d (default 16)\n"
    "  --mlp H1,H2,...          hidden layer sizes, or none (default 400,400,400)\n"
    "  --beta 0|1               sgemm: beta of the forward and dx products (default 1)\n"
    "  --n N                    auc: number of scores (default 10000000)\n"
    "  --reps K                 timed repetitions (default 10; auc: 5)\n"
    "  --seed N                 seed of the random inputs (default 1)\n"
    "  --threads N              threads (default: all cores)\n"
    "  --help                   this text\n";

typedef enum { BENCH_SGEMM, BENCH_MODEL, BENCH_AUC, BENCH_NKINDS } BenchKind;
static const char *const BENCH_NAMES[BENCH_NKINDS] = {"sgemm", "model", "auc"};

typedef struct {
    BenchKind kind;
    ModelKind model;
    int batch, fields, dim, nhidden, hidden[MODEL_MAX_HIDDEN];
    long long n;
    int reps, threads;
    float beta; /* of the forward and dx sgemms; dW always accumulates (beta 1) */
    uint64_t seed;
} BenchConfig;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static void fill_uniform(float *x, size_t n, Rng *r, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = (float)((2.0 * rng_uniform(r) - 1.0) * scale);
}

static void print_setup(const BenchConfig *c) {
    fprintf(stderr, "# hashemb bench %s %s: OpenBLAS core %s (%s), %s build (parallel=%d), threads %d\n",
            BENCH_NAMES[c->kind], HASHEMB_GIT_SHA, blas_core(), blas_core_source(), blas_build(),
            blas_parallel(), c->threads);
}

/* --- sgemm --- */

typedef enum { CALL_FWD, CALL_DX, CALL_DW, CALL_GEMV_FWD, CALL_GEMV_DW, CALL_NKINDS } CallKind;
static const char *const CALL_NAMES[CALL_NKINDS] = {"fwd", "bwd_dx", "bwd_dW", "fwd_gemv",
                                                    "bwd_gemv_dW"};

/* One BLAS call of a training step, with the buffers it reads and writes. */
typedef struct {
    CallKind kind;
    int layer, M, N, K;
    const float *a, *b;
    float *c;
    float beta;
} Call;

static void call_run(const Call *k) {
    const int M = k->M, N = k->N, K = k->K;
    switch (k->kind) {
    case CALL_FWD: /* y (B, out) = x (B, in) W^T; W (out, in) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, k->a, K, k->b, K, k->beta,
                    k->c, N);
        break;
    case CALL_DX: /* dx (B, in) = dy (B, out) W (out, in) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, k->a, K, k->b, N, k->beta,
                    k->c, N);
        break;
    case CALL_DW: /* dW (out, in) += dy^T (out, B) x (B, in) */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, N, K, 1.0f, k->a, M, k->b, N, 1.0f,
                    k->c, N);
        break;
    case CALL_GEMV_FWD: /* logits (B) = x (B, in) w (in) */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, M, K, 1.0f, k->a, K, k->b, 1, 0.0f, k->c, 1);
        break;
    case CALL_GEMV_DW: /* dw (in) += x^T (in, B) dlogits (B) */
        cblas_sgemv(CblasRowMajor, CblasTrans, K, N, 1.0f, k->a, N, k->b, 1, 1.0f, k->c, 1);
        break;
    default: CHECK(0);
    }
}

static double call_flops(const Call *k) { return 2.0 * k->M * k->N * k->K; }

/* The BLAS calls model.c makes for one batch, in its order (model_forward, then model_backward with the
 * embedding gradient). Fills calls (room for 3 * (nhidden + 1)) over buffers it allocates into bufs. */
static int make_calls(const BenchConfig *c, Call *calls, float ***bufs_out, int *nbufs_out, Rng *rng) {
    const int B = c->batch, L = c->nhidden;
    int in_dim[MODEL_MAX_HIDDEN + 1], out_dim[MODEL_MAX_HIDDEN + 1];
    model_shapes(c->model, c->fields, c->dim, c->hidden, L, in_dim, out_dim, NULL, NULL);
    /* x[l] (B, in_l): x[0] the MLP input, x[l+1] = h[l]; W, dW (out, in); dy[l] (B, out_l); dx0 */
    int nb = 0;
    float **bufs = xcalloc(4 * (size_t)(L + 1) + 4, sizeof *bufs);
#define NEWBUF(n, scale)                                                                            \
    (bufs[nb] = xaligned((size_t)(n) * sizeof(float)), fill_uniform(bufs[nb], (size_t)(n), rng, scale), \
     bufs[nb++])
    float *x[MODEL_MAX_HIDDEN + 2], *W[MODEL_MAX_HIDDEN + 1], *dW[MODEL_MAX_HIDDEN + 1];
    float *dy[MODEL_MAX_HIDDEN + 1];
    for (int l = 0; l <= L; l++) {
        x[l] = NEWBUF((size_t)B * in_dim[l], 1.0f);
        W[l] = NEWBUF((size_t)out_dim[l] * in_dim[l], 0.05f);
        dW[l] = NEWBUF((size_t)out_dim[l] * in_dim[l], 0.0f);
        dy[l] = NEWBUF((size_t)B * out_dim[l], 1e-3f);
    }
    x[L + 1] = NEWBUF((size_t)B, 0.0f); /* logits */
    float *dx0 = NEWBUF((size_t)B * in_dim[0], 0.0f);
#undef NEWBUF
    int n = 0;
    for (int l = 0; l < L; l++)
        calls[n++] = (Call){CALL_FWD, l, B, out_dim[l], in_dim[l], x[l], W[l], x[l + 1], c->beta};
    calls[n++] = (Call){CALL_GEMV_FWD, L, B, 1, in_dim[L], x[L], W[L], x[L + 1], 0.0f};
    /* output layer backward: dW += x^T dlogits (sgemv); its dx is an element-wise outer product */
    calls[n++] = (Call){CALL_GEMV_DW, L, 1, in_dim[L], B, x[L], dy[L], dW[L], 1.0f};
    for (int l = L - 1; l >= 0; l--) {
        /* dx: into dy[l-1] for l > 0, into dx0 for layer 0 (the embedding gradient) */
        calls[n++] = (Call){CALL_DX, l, B, in_dim[l], out_dim[l], dy[l], W[l], l > 0 ? dy[l - 1] : dx0,
                            c->beta};
        calls[n++] = (Call){CALL_DW, l, out_dim[l], in_dim[l], B, dy[l], x[l], dW[l], 1.0f};
    }
    *bufs_out = bufs;
    *nbufs_out = nb;
    return n;
}

static int bench_sgemm(const BenchConfig *c) {
    Rng rng;
    rng_seed(&rng, c->seed);
    Call calls[3 * (MODEL_MAX_HIDDEN + 1)];
    float **bufs;
    int nbufs;
    int n = make_calls(c, calls, &bufs, &nbufs, &rng);
    double *t = xmalloc((size_t)c->reps * sizeof *t);
    printf("op\tlayer\tB\tM\tN\tK\tbeta\tflops\tseconds\tgflops\tceiling_samples_per_sec\tthreads\tblas_core\n");
    for (int i = 0; i < n; i++) {
        const Call *k = &calls[i];
        for (int w = 0; w < 2; w++) call_run(k);
        for (int r = 0; r < c->reps; r++) {
            double t0 = now_seconds();
            call_run(k);
            t[r] = now_seconds() - t0;
        }
        double s = median(t, c->reps);
        printf("%s\t%d\t%d\t%d\t%d\t%d\t%g\t%.0f\t%.6g\t%.2f\tNA\t%d\t%s\n", CALL_NAMES[k->kind],
               k->layer, c->batch, k->M, k->N, k->K, k->beta, call_flops(k), s, call_flops(k) / s * 1e-9, c->threads,
               blas_core());
    }
    /* the whole sequence, back to back as in a training step */
    double flops = 0;
    for (int i = 0; i < n; i++) flops += call_flops(&calls[i]);
    for (int w = 0; w < 2; w++)
        for (int i = 0; i < n; i++) call_run(&calls[i]);
    for (int r = 0; r < c->reps; r++) {
        double t0 = now_seconds();
        for (int i = 0; i < n; i++) call_run(&calls[i]);
        t[r] = now_seconds() - t0;
    }
    double s = median(t, c->reps);
    printf("total\tall\t%d\tNA\tNA\tNA\tNA\t%.0f\t%.6g\t%.2f\t%.1f\t%d\t%s\n", c->batch, flops, s,
           flops / s * 1e-9, c->batch / s, c->threads, blas_core());
    fprintf(stderr, "# %.4g GFLOP per batch (%.0f FLOP per sample) in %d BLAS calls (beta %g); sequence "
                    "%.2f GFLOP/s; ceiling %.0f samples/s\n",
            flops * 1e-9, flops / c->batch, n, c->beta, flops / s * 1e-9, c->batch / s);
    for (int i = 0; i < nbufs; i++) free(bufs[i]);
    free(bufs);
    free(t);
    return 0;
}

/* --- model --- */

static int bench_model(const BenchConfig *c) {
    Model m;
    Err e;
    if (model_init(&m, c->model, c->fields, c->dim, c->hidden, c->nhidden, c->batch, c->seed, &e)) {
        fprintf(stderr, "hashemb bench: %s\n", e.msg);
        return 2;
    }
    Rng rng;
    rng_seed(&rng, c->seed);
    const int B = c->batch;
    size_t nemb = (size_t)B * c->fields * m.width;
    float *emb = xaligned(nemb * sizeof(float)), *demb = xaligned(nemb * sizeof(float));
    float *logits = xaligned((size_t)B * sizeof(float)), *dlogits = xaligned((size_t)B * sizeof(float));
    fill_uniform(emb, nemb, &rng, 0.1f);
    fill_uniform(dlogits, (size_t)B, &rng, 1.0f / B);
    double *t = xmalloc((size_t)c->reps * sizeof *t), *tf = xmalloc((size_t)c->reps * sizeof *tf);
    for (int r = -2; r < c->reps; r++) {
        double t0 = now_seconds();
        model_forward(&m, logits, emb, B);
        double t1 = now_seconds();
        model_zero_grad(&m);
        model_backward(&m, demb, dlogits, emb, B);
        double t2 = now_seconds();
        if (r >= 0) {
            t[r] = t2 - t0;
            tf[r] = t1 - t0;
        }
    }
    double s = median(t, c->reps), sf = median(tf, c->reps);
    char mlp[128] = "";
    for (int i = 0; i < c->nhidden; i++) {
        char h[16];
        snprintf(h, sizeof h, "%s%d", i ? "," : "", c->hidden[i]);
        strncat(mlp, h, sizeof mlp - strlen(mlp) - 1);
    }
    printf("model\tB\tfields\tdim\tmlp\tforward_seconds\tseconds\tsamples_per_sec\tthreads\tblas_core\n");
    printf("%s\t%d\t%d\t%d\t%s\t%.6g\t%.6g\t%.1f\t%d\t%s\n", MODEL_NAMES[c->model], B, c->fields, c->dim,
           c->nhidden ? mlp : "none", sf, s, B / s, c->threads, blas_core());
    free(t);
    free(tf);
    free(emb);
    free(demb);
    free(logits);
    free(dlogits);
    model_free(&m);
    return 0;
}

/* --- auc --- */

static int bench_auc(const BenchConfig *c) {
    size_t n = (size_t)c->n;
    float *score = xaligned(n * sizeof(float));
    uint8_t *label = xaligned(n);
    /* scores on a grid of 2^16 levels, so ties are frequent; a weak signal in the labels */
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        uint64_t h = rng_mix(c->seed * 0x9e3779b97f4a7c15ull + i);
        float s = (float)(h >> 48) * (1.0f / 65536.0f);
        score[i] = s;
        label[i] = (double)((h >> 8) & 0xffffff) * 0x1.0p-24 < 0.15 + 0.2 * s;
    }
    double *t = xmalloc((size_t)c->reps * sizeof *t), auc = NAN;
    for (int r = -1; r < c->reps; r++) {
        double t0 = now_seconds();
        auc = metric_auc(score, label, n);
        if (r >= 0) t[r] = now_seconds() - t0;
    }
    double s = median(t, c->reps);
    printf("n\treps\tseconds\tmin_seconds\tauc\tthreads\n");
    printf("%zu\t%d\t%.6g\t%.6g\t%.6f\t%d\n", n, c->reps, s, t[0], auc, c->threads);
    free(t);
    free(score);
    free(label);
    return 0;
}

/* --- the command --- */

int cmd_bench(int argc, char **argv) {
    enum { O_MODEL = 256, O_BATCH, O_FIELDS, O_DIM, O_MLP, O_N, O_REPS, O_SEED, O_THREADS, O_BETA,
           O_HELP };
    static const struct option opts[] = {
        {"model", required_argument, 0, O_MODEL},   {"batch", required_argument, 0, O_BATCH},
        {"fields", required_argument, 0, O_FIELDS}, {"dim", required_argument, 0, O_DIM},
        {"mlp", required_argument, 0, O_MLP},       {"n", required_argument, 0, O_N},
        {"reps", required_argument, 0, O_REPS},     {"seed", required_argument, 0, O_SEED},
        {"threads", required_argument, 0, O_THREADS}, {"beta", required_argument, 0, O_BETA},
        {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0}};
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(USAGE, stdout);
        return 0;
    }
    if (argc < 2) return cmd_usage_error("bench", USAGE, "missing what to measure (sgemm, model or auc)");
    BenchConfig c = {.model = MODEL_DEEPFM, .batch = 4096, .fields = 39, .dim = 16, .nhidden = 3,
                     .hidden = {400, 400, 400}, .n = 10000000, .reps = 0, .beta = 1.0f, .seed = 1,
                     .threads = omp_get_num_procs()};
    c.kind = BENCH_NKINDS;
    for (int i = 0; i < BENCH_NKINDS; i++)
        if (!strcmp(argv[1], BENCH_NAMES[i])) c.kind = (BenchKind)i;
    if (c.kind == BENCH_NKINDS)
        return cmd_usage_error("bench", USAGE, "'%s' is not one of sgemm|model|auc", argv[1]);

    Err e;
    long long v;
    int k, idx, threads_given = 0;
    optind = 1;
    opterr = 1;
    argc--;
    argv++;
    while ((k = getopt_long(argc, argv, "", opts, &idx)) != -1) {
        char fl[32];
        if (k >= 256) snprintf(fl, sizeof fl, "--%s", opts[idx].name);
        switch (k) {
        case O_MODEL: {
            int m;
            if (parse_name(optarg, MODEL_NAMES, MODEL_NKINDS, fl, &m, &e)) goto bad;
            c.model = (ModelKind)m;
            break;
        }
        case O_BATCH:
            if (parse_i64(optarg, 1, 1 << 20, fl, &v, &e)) goto bad;
            c.batch = (int)v;
            break;
        case O_FIELDS:
            if (parse_i64(optarg, 1, 4096, fl, &v, &e)) goto bad;
            c.fields = (int)v;
            break;
        case O_DIM:
            if (parse_i64(optarg, 1, 4096, fl, &v, &e)) goto bad;
            c.dim = (int)v;
            break;
        case O_MLP:
            if (model_parse_hidden(optarg, fl, c.hidden, &c.nhidden, &e)) goto bad;
            break;
        case O_N:
            if (parse_i64(optarg, 2, 1ll << 31, fl, &c.n, &e)) goto bad;
            break;
        case O_REPS:
            if (parse_i64(optarg, 1, 100000, fl, &v, &e)) goto bad;
            c.reps = (int)v;
            break;
        case O_SEED:
            if (parse_i64(optarg, 0, (long long)1 << 62, fl, &v, &e)) goto bad;
            c.seed = (uint64_t)v;
            break;
        case O_THREADS:
            if (parse_i64(optarg, 1, 1024, fl, &v, &e)) goto bad;
            c.threads = (int)v;
            threads_given = 1;
            break;
        case O_BETA:
            if (parse_i64(optarg, 0, 1, fl, &v, &e)) goto bad;
            c.beta = (float)v;
            break;
        case O_HELP: fputs(USAGE, stdout); return 0;
        default: return cmd_bad_option("bench", USAGE);
        }
    }
    if (optind < argc) return cmd_usage_error("bench", USAGE, "unexpected argument '%s'", argv[optind]);
    if (c.nhidden < 1 && c.kind == BENCH_SGEMM)
        return cmd_usage_error("bench", USAGE, "--mlp: sgemm needs at least one hidden layer");
    if ((long long)c.batch * c.fields * (c.dim + 1) > (1ll << 31))
        return cmd_usage_error("bench", USAGE, "--batch x --fields x --dim: too large");
    if (!c.reps) c.reps = c.kind == BENCH_AUC ? 5 : 10;
    SysLimits lim;
    limits_read(&lim);
    if (limits_threads(&lim, c.threads, threads_given, 0, "bench", &c.threads, &e)) {
        fprintf(stderr, "hashemb bench: %s\n", e.msg);
        return 1;
    }
    blas_set_threads(c.threads);
    print_setup(&c);
    switch (c.kind) {
    case BENCH_SGEMM: return bench_sgemm(&c);
    case BENCH_MODEL: return bench_model(&c);
    case BENCH_AUC: return bench_auc(&c);
    default: CHECK(0);
    }
    return 1;
bad:
    return cmd_usage_error("bench", USAGE, "%s", e.msg);
}
