/* limits: what this machine lets a run have, read before anything large is allocated, so that a run
 * that cannot fit is refused with its sizes instead of being killed, swapping, or hanging.
 *   memory:        MemAvailable (/proc/meminfo), lowered to the cgroup's memory.max - memory.current
 *                  where a cgroup (v2) sets one
 *   address space: the soft RLIMIT_AS (ulimit -v) less what the process has mapped already
 *   cores:         the processors this process may run on (omp_get_num_procs)
 * It does not reserve anything: another process can still take the memory after the check. */
#ifndef HASHEMB_LIMITS_H
#define HASHEMB_LIMITS_H

#include <stdint.h>

#include "core/util.h"

/* Address space OpenBLAS 0.3.21 and glibc take per thread: a 128 MiB sgemm buffer, a 64 MiB malloc
 * arena and a stack (RLIMIT_STACK, 8 MiB by default), about 8 MiB more besides; measured here as 205
 * MiB of VmSize per thread with 8 MiB stacks (1, 2, 4, 8 threads). Under `ulimit -v`, a thread whose
 * buffer cannot be mapped makes OpenBLAS's blas_memory_alloc retry forever: hashemb counts this much
 * per thread first. Plain system calls only (main.c calls it before the C library is set up). */
uint64_t limits_thread_vm(void);

typedef struct {
    uint64_t mem_avail;      /* bytes a run may allocate */
    char mem_source[96];     /* which limit gave mem_avail */
    uint64_t as_headroom;    /* RLIMIT_AS - VmSize; UINT64_MAX without a limit */
    uint64_t as_limit;       /* RLIMIT_AS; UINT64_MAX without a limit */
    int cores;
} SysLimits;

void limits_read(SysLimits *l);

/* The thread count for a run: `requested` above the cores gets a warning on stderr. Under RLIMIT_AS each thread needs limits_thread_vm() next to the run's `bytes`: a count that
 * does not fit is an Err when `explicit_` (--threads given), else lowered to what fits (a note on
 * stderr). */
int limits_threads(const SysLimits *l, int requested, int explicit_, uint64_t bytes, const char *cmd,
                   int *out, Err *e);

/* 0 when `bytes` fit in the memory and the address space left; else an Err: "<what> needs X but
 * <source> leaves Y". */
int limits_check_bytes(const SysLimits *l, uint64_t bytes, const char *what, Err *e);

/* "1.5 GiB" */
void limits_human(uint64_t bytes, char *buf, int n);

#endif
