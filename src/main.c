/* hashemb: one binary, subcommands of SPEC 2. */
#include <stdio.h>
#include <string.h>

#include "blas.h"
#include "cmd.h"

static const char USAGE[] =
    "usage: hashemb COMMAND [options]    (hashemb COMMAND --help for each)\n"
    "\n"
    "  gen    make a synthetic dataset with a planted model and known oracle AUC\n"
    "  prep   turn a Criteo, Avazu, libFM or CSV file into a prepared dataset\n"
    "  info   describe a prepared dataset: rows, click rates, cardinalities, oracle\n"
    "  plan   show how a strategy would lay out each field's tables, without training\n"
    "  train  train DeepFM or an MLP with one embedding strategy and write a result row\n"
    "  bench  kernel and end-to-end speed measurements\n";

int main(int argc, char **argv) {
    blas_fix_core(argv);
    if (argc < 2) {
        fputs(USAGE, stderr);
        return 2;
    }
    const char *c = argv[1];
    if (!strcmp(c, "--help") || !strcmp(c, "-h") || !strcmp(c, "help")) {
        fputs(USAGE, stdout);
        return 0;
    }
    if (!strcmp(c, "--version")) {
        printf("hashemb %s\n", HASHEMB_GIT_SHA);
        return 0;
    }
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"gen", cmd_gen},
        {"prep", cmd_prep},
        {"info", cmd_info},
        {"plan", cmd_plan},
        {"train", cmd_train},
        {"bench", cmd_bench},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(c, cmds[i].name)) return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "hashemb: unknown command '%s'\n%s", c, USAGE);
    return 2;
}
