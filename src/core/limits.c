#include "core/limits.h"

#include <inttypes.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static int read_u64_file(const char *path, uint64_t *v) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char buf[64] = "";
    int ok = fgets(buf, sizeof buf, f) != NULL;
    fclose(f);
    unsigned long long x;
    if (!ok || sscanf(buf, "%llu", &x) != 1) return -1; /* "max" reads as no limit */
    *v = x;
    return 0;
}

/* The cgroup's memory left, min over this process's cgroup and its ancestors (a limit may sit on a
 * parent slice): cgroup v2 (memory.max - memory.current) under /sys/fs/cgroup or, on hybrid hosts,
 * /sys/fs/cgroup/unified; else v1 (memory.limit_in_bytes - memory.usage_in_bytes) under
 * /sys/fs/cgroup/memory. UINT64_MAX when none is set or none can be read. Page cache counts as used
 * here, though the kernel can reclaim it: a conservative reading. */
static uint64_t cgroup_left(void) {
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f) return UINT64_MAX;
    char line[1024], v2[1024] = "", v1[1024] = "";
    int have2 = 0, have1 = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (!strncmp(line, "0::", 3)) snprintf(v2, sizeof v2, "%s", line + 3), have2 = 1;
        char *c = strchr(line, ':');
        if (c && !strncmp(c + 1, "memory:", 7)) snprintf(v1, sizeof v1, "%s", c + 8), have1 = 1;
    }
    fclose(f);
    static const char *const roots2[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"};
    uint64_t best = UINT64_MAX;
    for (int v = 0; v < 2 && best == UINT64_MAX; v++) {
        if (v == 0 && !have2) continue;
        if (v == 1 && !have1) continue;
        for (int r = 0; r < (v == 0 ? 2 : 1); r++) {
            char dir[1100], path[1200];
            snprintf(dir, sizeof dir, "%s", v == 0 ? v2 : v1);
            for (;;) { /* the cgroup, then each parent up to the root */
                uint64_t max, cur = 0;
                snprintf(path, sizeof path, "%s%s/%s", v == 0 ? roots2[r] : "/sys/fs/cgroup/memory",
                         strcmp(dir, "/") ? dir : "", v == 0 ? "memory.max" : "memory.limit_in_bytes");
                if (!read_u64_file(path, &max) && max < (1ull << 60)) { /* v1 says "no limit" as ~2^63 */
                    snprintf(path, sizeof path, "%s%s/%s", v == 0 ? roots2[r] : "/sys/fs/cgroup/memory",
                             strcmp(dir, "/") ? dir : "", v == 0 ? "memory.current" : "memory.usage_in_bytes");
                    if (read_u64_file(path, &cur)) cur = 0;
                    uint64_t left = max > cur ? max - cur : 0;
                    if (left < best) best = left;
                }
                char *slash = strrchr(dir, '/');
                if (!slash || slash == dir) break;
                *slash = 0;
            }
        }
    }
    return best;
}

void limits_read(SysLimits *l) {
    memset(l, 0, sizeof *l);
    l->cores = omp_get_num_procs();
    l->mem_avail = UINT64_MAX;
    snprintf(l->mem_source, sizeof l->mem_source, "no memory limit found");
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        unsigned long long kb;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
                l->mem_avail = (uint64_t)kb * 1024;
                snprintf(l->mem_source, sizeof l->mem_source, "MemAvailable in /proc/meminfo");
            }
        fclose(f);
    }
    uint64_t left = cgroup_left();
    if (left < l->mem_avail) {
        l->mem_avail = left;
        snprintf(l->mem_source, sizeof l->mem_source, "the cgroup's memory limit");
    }
    l->as_limit = l->as_headroom = UINT64_MAX;
    struct rlimit rl;
    if (!getrlimit(RLIMIT_AS, &rl) && rl.rlim_cur != RLIM_INFINITY) {
        l->as_limit = rl.rlim_cur;
        uint64_t vm = 0;
        FILE *s = fopen("/proc/self/statm", "r");
        unsigned long long pages;
        if (s) {
            if (fscanf(s, "%llu", &pages) == 1) vm = (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE);
            fclose(s);
        }
        l->as_headroom = rl.rlim_cur > vm ? rl.rlim_cur - vm : 0;
    }
}

uint64_t limits_thread_vm(void) {
    struct rlimit rl;
    uint64_t stack = 8ull << 20;
    if (!getrlimit(RLIMIT_STACK, &rl) && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > stack)
        stack = rl.rlim_cur;
    return (200ull << 20) + stack;
}

void limits_human(uint64_t b, char *buf, int n) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double x = (double)b;
    int i = 0;
    while (x >= 1024 && i < 6) x /= 1024, i++;
    snprintf(buf, n, i ? "%.1f %s" : "%.0f %s", x, u[i]);
}

int limits_threads(const SysLimits *l, int requested, int explicit_, uint64_t bytes, const char *cmd,
                   int *out, Err *e) {
    int n = requested;
    if (n > l->cores) /* kept: the same thread count gives the same bits (SPEC 5) */
        fprintf(stderr, "hashemb %s: warning: --threads %d on %d core%s: the threads share the cores "
                        "(slower, not faster)\n", cmd, n, l->cores, l->cores == 1 ? "" : "s");
    if (l->as_headroom != UINT64_MAX) {
        /* every thread counts, those OpenBLAS started with too: it maps a thread's buffer at the
         * thread's first sgemm (seen in gdb: the main thread's, from cblas_sgemm) */
        uint64_t room = l->as_headroom > bytes ? l->as_headroom - bytes : 0;
        int fit = (int)(room / limits_thread_vm());
        if (n > fit) {
            char lim[32], left[32], per[32];
            limits_human(l->as_limit, lim, sizeof lim);
            limits_human(l->as_headroom, left, sizeof left);
            limits_human(limits_thread_vm(), per, sizeof per);
            if (fit < 1)
                return err_set(e, "ulimit -v (RLIMIT_AS) is %s, of which %s is left: too little for this "
                                  "run and one thread: raise the limit", lim, left);
            if (explicit_)
                return err_set(e, "--threads %d: each thread needs %s of address space (OpenBLAS's "
                                  "buffer, a malloc arena, a stack), and ulimit -v (RLIMIT_AS) %s leaves "
                                  "room for %d next to this run: use --threads %d or raise the limit",
                               n, per, lim, fit, fit);
            fprintf(stderr, "hashemb %s: note: ulimit -v %s leaves room for %d thread%s (%s each): "
                            "running %d\n", cmd, lim, fit, fit == 1 ? "" : "s", per, fit);
            n = fit;
        }
    }
    *out = n;
    return 0;
}

int limits_check_bytes(const SysLimits *l, uint64_t bytes, const char *what, Err *e) {
    char need[32], have[32];
    limits_human(bytes, need, sizeof need);
    if (bytes > l->mem_avail) {
        limits_human(l->mem_avail, have, sizeof have);
        return err_set(e, "%s needs about %s, more than the %s available (%s)", what, need, have,
                       l->mem_source);
    }
    if (bytes > l->as_headroom) {
        limits_human(l->as_headroom, have, sizeof have);
        return err_set(e, "%s needs about %s, more than the %s of address space that ulimit -v "
                          "(RLIMIT_AS) leaves", what, need, have);
    }
    return 0;
}
