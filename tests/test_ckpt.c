/* test_ckpt: the checkpoint file against files a hashemb run would not write but a damaged or crafted
 * one could hold with a valid checksum: strategy flags outside their ranges, options that do not
 * match their flags, and a round trip of a sound one (tests/test_ckpt.sh covers the command line:
 * kills, resumes, eval, damage the checksum catches). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/ckpt.h"
#include "testing.h"

typedef struct {
    Model model;
    EmbPlan plan;
    Emb emb;
} Built;

/* A tiny DeepFM and its tables for the options o over cards (hash at ratio 4, or what o says). */
static int build(Built *b, const EmbOptions *o, const uint64_t *cards, int F) {
    Err e;
    const int hidden[1] = {4};
    memset(b, 0, sizeof *b);
    if (emb_plan_make(&b->plan, cards, F, model_width(MODEL_DEEPFM, 3), o, &e) ||
        model_init(&b->model, MODEL_DEEPFM, F, 3, hidden, 1, 8, 1, &e) || emb_create(&b->emb, &b->plan, 8, OPT_SGD, 1, &e)) {
        fprintf(stderr, "  build: %s\n", e.msg);
        return -1;
    }
    return 0;
}

static void unbuild(Built *b) {
    emb_free(&b->emb);
    model_free(&b->model);
    emb_plan_free(&b->plan);
}

/* Writes a checkpoint of a hash run whose stored flags are `flags` and whose stored options are `o`. */
static int write_ckpt(const char *path, const char *flags, const EmbOptions *o, Built *b, uint64_t *cards, int F) {
    CkptRun run;
    memset(&run, 0, sizeof run);
    snprintf(run.config, sizeof run.config, "test");
    run.model = MODEL_DEEPFM;
    run.dim = 3;
    run.nhidden = 1;
    run.hidden[0] = 4;
    run.batch = 8;
    run.optim = OPT_SGD;
    run.lr = 1e-3;
    run.seed = 1;
    run.emb = *o;
    snprintf(run.emb_flags, sizeof run.emb_flags, "%s", flags);
    run.threads = 1;
    snprintf(run.blas_core, sizeof run.blas_core, "%s", blas_core());
    snprintf(run.git_sha, sizeof run.git_sha, "test");
    run.fields = F;
    run.cards = cards;
    CurveRow curve[1] = {{1, 1, 0.5, 0.6, 0.5, 0.6, 1}};
    CkptProgress p = {1, 1, 1, 1, 1.0, 8, {1, 0.6, 0}, 0.6, 0.5, 0.6, 0.5, curve};
    CkptState st = {&b->model, NULL, NULL, &b->emb, 0};
    Err e;
    if (ckpt_save(path, NULL, &run, &p, &st, &e)) {
        fprintf(stderr, "  save: %s\n", e.msg);
        return -1;
    }
    return 0;
}

int main(void) {
    char path[] = "/tmp/test_ckpt.XXXXXX";
    int fd = mkstemp(path);
    T_CHECK(fd >= 0, "mkstemp");
    close(fd);
    uint64_t cards[2] = {50, 300};
    Err e;
    EmbOptions o;
    emb_options_default(&o);
    T_CHECK(!emb_options_parse_string(&o, "--emb hash --ratio 4 --compress-min 10", &e), "%s", e.msg);
    o.seed = 1;
    Built b;
    if (build(&b, &o, cards, 2)) return t_report("test_ckpt");

    /* sound: opens, and the options come back equal */
    Ckpt k;
    T_CHECK(!write_ckpt(path, "--emb hash --ratio 4 --compress-min 10", &o, &b, cards, 2), "write");
    T_CHECK(!ckpt_open(&k, path, &e), "a sound checkpoint: %s", e.msg);
    T_CHECK(!memcmp(&k.run.emb, &o, sizeof o), "the options read back");
    CkptState st = {&b.model, NULL, NULL, &b.emb, 0};
    T_CHECK(!ckpt_restore(&k, &st, &e), "restore: %s", e.msg);
    ckpt_close(&k);

    /* flags outside their ranges, with a valid checksum: refused naming them, before any table */
    static const char *const bad_flags[] = {"--emb dhash --dhash-k 9 --ratio 4", "--emb dhe --dhe-layers 64 --ratio 4",
                                            "--emb hash --ratio nan", "--emb hash --ratio 0.5", "--emb nosuch",
                                            "--frobnicate 3"};
    for (size_t i = 0; i < sizeof bad_flags / sizeof *bad_flags; i++) {
        T_CHECK(!write_ckpt(path, bad_flags[i], &o, &b, cards, 2), "write");
        memset(&e, 0, sizeof e);
        T_CHECK(ckpt_open(&k, path, &e) && strstr(e.msg, "strategy flags are refused"), "'%s' should be refused: %s",
                bad_flags[i], e.msg);
    }
    /* options that do not match their flags (a struct changed behind the flags' back) */
    EmbOptions o2 = o;
    o2.ratio = 4.0000001;
    T_CHECK(!write_ckpt(path, "--emb hash --ratio 4 --compress-min 10", &o2, &b, cards, 2), "write");
    memset(&e, 0, sizeof e);
    T_CHECK(ckpt_open(&k, path, &e) && strstr(e.msg, "do not match its flags"), "mismatched options: %s", e.msg);
    unbuild(&b);
    unlink(path);
    return t_report("test_ckpt");
}
