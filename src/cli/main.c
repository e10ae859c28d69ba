/* hashemb: one binary, subcommands of SPEC 2. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/blas.h"
#include "cli/cmd.h"
#include "core/limits.h"

static const char USAGE[] =
    "usage: hashemb COMMAND [options]    (hashemb COMMAND --help for each)\n"
    "\n"
    "  gen    make a synthetic dataset with a planted model and known oracle AUC\n"
    "  prep   turn a Criteo, Avazu, libFM or CSV file into a prepared dataset\n"
    "  info   describe a prepared dataset: rows, click rates, cardinalities, oracle\n"
    "  plan   show how a strategy would lay out each field's tables, without training\n"
    "  train  train DeepFM or an MLP with one embedding strategy and write a result row\n"
    "  eval   score a split of a dataset with a model train --save wrote\n"
    "  bench  kernel and end-to-end speed measurements\n";

/* Under `ulimit -v`, OpenBLAS 0.3.21 maps a 128 MiB buffer per thread while it loads (one thread per
 * core) and retries forever when a map fails: the program hangs before main. The executable's
 * .preinit_array runs before any shared library's initialisers, so here, first of all, a limit that
 * holds fewer threads than there are cores re-executes the program with OPENBLAS_NUM_THREADS lowered
 * to what fits (unless the user set it), and a limit that holds not even one thread is said plainly.
 * Only system calls and the envp given: the C library is not initialised yet (no getenv, no stdio). */
static int env_has(char **envp, const char *name) {
    size_t n = strlen(name);
    for (; envp && *envp; envp++)
        if (!strncmp(*envp, name, n) && (*envp)[n] == '=') return 1;
    return 0;
}

static void preinit_openblas_threads(int argc, char **argv, char **envp) {
    (void)argc;
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) || rl.rlim_cur == RLIM_INFINITY || env_has(envp, "OPENBLAS_NUM_THREADS"))
        return;
    char buf[64];
    int fd = open("/proc/self/statm", O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0) close(fd);
    if (n <= 0) return;
    buf[n] = 0;
    unsigned long long vm = strtoull(buf, NULL, 10) * (unsigned long long)sysconf(_SC_PAGESIZE);
    /* the first thread also needs OpenMP's and OpenBLAS's own start-up: measured here, a limit of
     * VmSize + 270 MiB hangs and + 305 MiB starts; every further thread limits_thread_vm() */
    const unsigned long long first = (112ull << 20) + limits_thread_vm(); /* 320 MiB with 8 MiB stacks */
    long fit = rl.rlim_cur > vm + first ? 1 + (long)((rl.rlim_cur - vm - first) / limits_thread_vm()) : 0;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (fit < 1) {
        static const char msg[] = "hashemb: ulimit -v (RLIMIT_AS) is too low for OpenBLAS to start "
                                  "(it needs about 320 MiB of address space beyond the program's "
                                  "own): raise the limit\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        _exit(1);
    }
    if (fit >= cores) return;
    static char var[48] = "OPENBLAS_NUM_THREADS=";
    char digits[24];
    int k = 0;
    for (long v = fit; v > 0 && k < 20; v /= 10) digits[k++] = (char)('0' + v % 10);
    char *p = var + strlen(var);
    while (k > 0) *p++ = digits[--k];
    *p = 0;
    static char *env[4096];
    size_t m = 0;
    for (char **e = envp; e && *e && m < 4094; e++) env[m++] = *e;
    env[m++] = var;
    env[m] = NULL;
    execve("/proc/self/exe", argv, env); /* on failure: go on, OpenBLAS may hang */
}
__attribute__((section(".preinit_array"), used)) static void (*const preinit_entry)(int, char **, char **) =
    preinit_openblas_threads;

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
        {"eval", cmd_eval},
        {"bench", cmd_bench},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(c, cmds[i].name)) return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "hashemb: unknown command '%s'\n%s", c, USAGE);
    return 2;
}
