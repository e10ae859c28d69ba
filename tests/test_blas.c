/* The OpenBLAS set-up of SPEC 8: the OpenMP build is linked (openblas_get_parallel() == 2), the core
 * in use is not a generic one on a CPU with AVX2 or AVX-512, and the rule that picks the core to force. */
#include <string.h>
#include <strings.h>

#include "core/blas.h"
#include "testing.h"

int main(int argc, char **argv) {
    (void)argc;
    blas_fix_core(argv); /* as main() does: may re-execute this test with the core fixed */
    T_CHECK(blas_parallel() == 2, "openblas_get_parallel() is %d (%s build): link the OpenMP build "
                                  "(libopenblas-openmp-dev, SPEC 8)", blas_parallel(), blas_build());
    __builtin_cpu_init();
    int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const char *core = blas_core();
    fprintf(stderr, "  OpenBLAS core %s (%s), %s build; CPU: avx2 %d, avx512 %d\n", core,
            blas_core_source(), blas_build(), avx2, avx512);
    if (!strcmp(blas_core_source(), "set by the user")) {
        /* make test-cores forces each core: OpenBLAS must really run the one asked for (it falls back
         * to the detected core on a name it does not know) */
        const char *want = getenv("OPENBLAS_CORETYPE");
        T_CHECK(!strcasecmp(core, want), "OPENBLAS_CORETYPE=%s, but OpenBLAS runs core %s", want, core);
    }
    else
        T_CHECK(blas_wanted_core(core, avx512, avx2) == NULL,
                "core %s in use on a CPU with avx2=%d avx512=%d", core, avx2, avx512);
    /* the rule */
    T_CHECK(!strcmp(blas_wanted_core("Prescott", 1, 1), "SkylakeX"), "Prescott on AVX-512");
    T_CHECK(!strcmp(blas_wanted_core("Prescott", 0, 1), "Haswell"), "Prescott on AVX2");
    T_CHECK(!strcmp(blas_wanted_core("Sandybridge", 0, 1), "Haswell"), "Sandybridge on AVX2");
    T_CHECK(!strcmp(blas_wanted_core("Haswell", 1, 1), "SkylakeX"), "Haswell on AVX-512");
    T_CHECK(blas_wanted_core("Zen", 0, 1) == NULL, "Zen on AVX2 is right");
    T_CHECK(blas_wanted_core("Haswell", 0, 1) == NULL, "Haswell on AVX2 is right");
    T_CHECK(blas_wanted_core("SkylakeX", 1, 1) == NULL, "SkylakeX on AVX-512 is right");
    T_CHECK(blas_wanted_core("Prescott", 0, 0) == NULL, "nothing to fix without AVX2");
    return t_report("test_blas");
}
