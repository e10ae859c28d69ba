/* Unit tests of the training loop's pieces: early stopping and the best epoch, the block-shuffled
 * order, the config string and run_id inputs, the result row's columns and NA spelling. */
#include <string.h>

#include "core/results.h"
#include "testing.h"
#include "cli/train.h"

static void test_order(void) {
    uint64_t sizes[] = {1, 5, 8191, 8192, 8193, 50000};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        uint64_t n = sizes[k];
        uint32_t *o = xmalloc(n * 4), *o2 = xmalloc(n * 4), *o3 = xmalloc(n * 4);
        uint8_t *seen = xcalloc(n, 1);
        train_epoch_order(o, n, 7, 1);
        train_epoch_order(o2, n, 7, 1);
        train_epoch_order(o3, n, 7, 2);
        int perm = 1;
        for (uint64_t i = 0; i < n; i++) {
            if (o[i] >= n || seen[o[i]]) perm = 0;
            else seen[o[i]] = 1;
        }
        T_CHECK(perm, "order of %llu rows is a permutation", (unsigned long long)n);
        T_CHECK(!memcmp(o, o2, n * 4), "same seed and epoch, same order (n=%llu)", (unsigned long long)n);
        if (n > 100) {
            T_CHECK(memcmp(o, o3, n * 4) != 0, "another epoch, another order");
            /* rows stay within their block: each run of TRAIN_SHUFFLE_BLOCK positions holds one block */
            uint64_t pos = 0;
            int blocky = 1;
            while (pos < n) {
                uint32_t blk = o[pos] / TRAIN_SHUFFLE_BLOCK;
                uint64_t len = (uint64_t)blk * TRAIN_SHUFFLE_BLOCK + TRAIN_SHUFFLE_BLOCK > n
                                   ? n - (uint64_t)blk * TRAIN_SHUFFLE_BLOCK
                                   : TRAIN_SHUFFLE_BLOCK;
                for (uint64_t i = pos; i < pos + len; i++)
                    if (o[i] / TRAIN_SHUFFLE_BLOCK != blk) blocky = 0;
                pos += len;
            }
            T_CHECK(blocky, "contiguous blocks, shuffled within (n=%llu)", (unsigned long long)n);
            int moved = 0;
            for (uint64_t i = 0; i < n; i++) moved += o[i] != i;
            T_CHECK(moved > (int)(n / 2), "the order is shuffled (%d of %llu moved)", moved,
                    (unsigned long long)n);
        }
        free(o);
        free(o2);
        free(o3);
        free(seen);
    }
}

static void test_result_row(void) {
    ResultRow r;
    memset(&r, 0, sizeof r);
    strcpy(r.run_id, "0123456789abcdef");
    r.dataset = "d";
    r.model = "deepfm";
    r.emb = "hash";
    r.variant = "hash:cm200";
    r.ratio_target = 10;
    r.ratio_actual = 9.5;
    r.ratio_compressed = NAN;
    r.valid_auc = r.valid_logloss = r.test_auc = r.test_logloss = NAN;
    r.oracle_auc = r.oracle_logloss = NAN;
    r.train_seconds = r.samples_per_sec = NAN;
    r.blas_core = "Haswell";
    r.git_sha = "abc";
    r.status = "infeasible";
    r.config = "x=1";
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    result_print(f, &r);
    fclose(f);
    char *nl = strchr(buf, '\n');
    T_CHECK(nl != NULL, "header line");
    int hcols = 1, rcols = 1;
    for (char *p = buf; p < nl; p++) hcols += *p == '\t';
    for (char *p = nl + 1; *p && *p != '\n'; p++) rcols += *p == '\t';
    T_CHECK(hcols == 30, "SPEC 6's 29 columns and accounted_bytes in the header (got %d)", hcols);
    T_CHECK(rcols == 30, "30 columns in the row (got %d)", rcols);
    T_CHECK(strstr(nl, "\tNA\tNA\tNA\tNA\t") != NULL, "sizes written NA when absent");
    T_CHECK(!strncmp(buf, "run_id\tdataset\tmodel\temb\tvariant\tratio_target", 44), "column order");
    free(buf);
    char p[256];
    result_curve_path("r/x.tsv", p, sizeof p);
    T_CHECK(!strcmp(p, "r/x.curve.tsv"), "curve path %s", p);
    result_curve_path("r/x", p, sizeof p);
    T_CHECK(!strcmp(p, "r/x.curve.tsv"), "curve path without .tsv %s", p);
}

static void test_config_string(void) {
    TrainConfig a, b;
    train_config_default(&a);
    train_config_default(&b);
    a.data = b.data = "dir";
    b.threads = 1;
    b.out = "elsewhere.tsv";
    char sa[1024], sb[1024];
    train_config_string(&a, sa, sizeof sa);
    train_config_string(&b, sb, sizeof sb);
    T_CHECK(!strcmp(sa, sb), "--out and --threads are not part of the configuration");
    b.seed = 2;
    train_config_string(&b, sb, sizeof sb);
    T_CHECK(strcmp(sa, sb) != 0, "the seed is");
    T_CHECK(strchr(sa, '\t') == NULL, "no tab in the config column");
}

/* SPEC 5's best epoch and early stopping: the highest valid AUC, ties to the earlier epoch; stop after
 * --patience epochs without a gain; NaN never a gain. */
static int run_es(const double *auc, int n, int patience, int *stopped_at) {
    EarlyStop es = {0, -INFINITY, 0};
    *stopped_at = 0;
    for (int e = 1; e <= n; e++) {
        int stop;
        train_early_stop(&es, e, auc[e - 1], patience, &stop);
        if (stop) {
            *stopped_at = e;
            break;
        }
    }
    return es.best;
}

static void test_early_stop(void) {
    int at;
    const double rise[] = {0.70, 0.72, 0.74};
    T_CHECK(run_es(rise, 3, 1, &at) == 3 && at == 0, "rising: best 3, no stop");
    const double tie[] = {0.70, 0.75, 0.75, 0.74};
    T_CHECK(run_es(tie, 4, 5, &at) == 2, "a tie goes to the earlier epoch (> not >=)");
    T_CHECK(run_es(tie, 4, 1, &at) == 2 && at == 3, "patience 1: stops at the tie");
    T_CHECK(run_es(tie, 4, 2, &at) == 2 && at == 4, "patience 2: stops after two epochs without a gain");
    const double dip[] = {0.70, 0.69, 0.71, 0.70};
    T_CHECK(run_es(dip, 4, 2, &at) == 3 && at == 0, "a gain resets the count");
    const double nan_first[] = {NAN, 0.70, 0.71};
    T_CHECK(run_es(nan_first, 3, 5, &at) == 1, "NaN first: no number beats it (valid AUC NA throughout)");
    const double nan_later[] = {0.70, NAN, 0.71};
    T_CHECK(run_es(nan_later, 3, 5, &at) == 3, "a NaN epoch is no gain, a later number can be");
}

int main(void) {
    test_early_stop();
    test_order();
    test_result_row();
    test_config_string();
    return t_report("test_train");
}
