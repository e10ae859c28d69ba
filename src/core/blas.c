#include "core/blas.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char *openblas_get_corename(void);
extern int openblas_get_parallel(void);
extern void openblas_set_num_threads(int n);

static const char *const AVX512_CORES[] = {"SkylakeX", "Cooperlake", "SapphireRapids", NULL};
static const char *const AVX2_CORES[] = {"Haswell", "Zen", "SkylakeX", "Cooperlake",
                                         "SapphireRapids", NULL};

static int in_list(const char *name, const char *const *list) {
    for (; *list; list++)
        if (!strcasecmp(name, *list)) return 1;
    return 0;
}

const char *blas_wanted_core(const char *detected, int avx512, int avx2) {
    if (avx512) return in_list(detected, AVX512_CORES) ? NULL : "SkylakeX";
    if (avx2) return in_list(detected, AVX2_CORES) ? NULL : "Haswell";
    return NULL;
}

void blas_fix_core(char **argv) {
    const char *set = getenv("OPENBLAS_CORETYPE");
    if (set && !*set) { /* `OPENBLAS_CORETYPE= cmd`: OpenBLAS took the empty name for a core; detect */
        unsetenv("OPENBLAS_CORETYPE");
        execv("/proc/self/exe", argv);
        set = NULL;
    }
    if (set) {
        if (!getenv("HASHEMB_CORE_FIXED")) setenv("HASHEMB_CORE_SOURCE", "set by the user", 1);
        return;
    }
    __builtin_cpu_init();
    const char *core = openblas_get_corename();
    int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const char *want = blas_wanted_core(core, avx512, avx2);
    if (!want) {
        setenv("HASHEMB_CORE_SOURCE", "detected", 1);
        return;
    }
    setenv("OPENBLAS_CORETYPE", want, 1);
    setenv("HASHEMB_CORE_FIXED", core, 1);
    setenv("HASHEMB_CORE_SOURCE", "fixed by hashemb", 1);
    execv("/proc/self/exe", argv);
    /* exec failed: go on with the slow kernels, but say so */
    fprintf(stderr, "hashemb: warning: OpenBLAS detected core %s on a CPU that supports %s; "
                    "re-executing with OPENBLAS_CORETYPE=%s failed, sgemm will be slow\n",
            core, want, want);
    unsetenv("OPENBLAS_CORETYPE");
    setenv("HASHEMB_CORE_SOURCE", "detected (fix failed)", 1);
}

const char *blas_core(void) { return openblas_get_corename(); }

int blas_parallel(void) { return openblas_get_parallel(); }

const char *blas_build(void) {
    switch (openblas_get_parallel()) {
    case 0: return "serial";
    case 1: return "pthread";
    case 2: return "openmp";
    default: return "unknown";
    }
}

const char *blas_core_source(void) {
    const char *s = getenv("HASHEMB_CORE_SOURCE");
    return s ? s : "detected";
}

void blas_set_threads(int n) {
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}
