/* cmd: what the subcommands share: usage errors and the build's commit. */
#include "cli/cmd.h"

#include <stdarg.h>
#include <stdio.h>

#ifndef GIT_SHA
#define GIT_SHA "unknown"
#endif
const char *const HASHEMB_GIT_SHA = GIT_SHA;

int cmd_usage_error(const char *cmd, const char *usage, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "hashemb %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", usage);
    return 2;
}

int cmd_bad_option(const char *cmd, const char *usage) {
    (void)cmd;
    fputs(usage, stderr);
    return 2;
}

