/* blas: the OpenBLAS set-up of SPEC 8. OpenBLAS 0.3.21 picks its kernels once, when it loads, and
 * misreads some CPUs as a generic core ("Prescott"); blas_fix_core() re-executes the program with
 * OPENBLAS_CORETYPE set to the core the CPU really supports, unless the user set it. The build links
 * the OpenMP build of OpenBLAS, whose threads are the program's own OpenMP threads. */
#ifndef HASHEMB_BLAS_H
#define HASHEMB_BLAS_H

#include <cblas.h>

/* The core to force for a CPU with these features when OpenBLAS detected `detected`; NULL when the
 * detected one already uses the CPU's widest kernels (Haswell/Zen for AVX2, SkylakeX and later for
 * AVX-512). */
const char *blas_wanted_core(const char *detected, int avx512, int avx2);

/* Call first thing in main: may execv() the program again with the core fixed. */
void blas_fix_core(char **argv);

const char *blas_core(void);     /* the kernel set in use, e.g. "Haswell" */
int blas_parallel(void);         /* openblas_get_parallel(): 2 for the OpenMP build */
const char *blas_build(void);    /* "openmp", "pthread" or "serial" */
const char *blas_core_source(void); /* "detected", "fixed by hashemb" or "set by the user" */
void blas_set_threads(int n);    /* OpenMP threads for both hashemb and OpenBLAS */

#endif
