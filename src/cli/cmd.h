/* cmd: the subcommands of SPEC 2, one entry point each; main.c dispatches. Each returns the process exit
 * status: 0 done, 1 bad data or a failure while running, 2 a bad command line. */
#ifndef HASHEMB_CMD_H
#define HASHEMB_CMD_H

#include <stdio.h>

#include "core/util.h"

int cmd_gen(int argc, char **argv);
int cmd_prep(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* Shared by the commands: print "hashemb CMD: message", the usage, and return 2. */
int cmd_usage_error(const char *cmd, const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* getopt_long's own message already went to stderr: add the usage and return 2. */
int cmd_bad_option(const char *cmd, const char *usage);

/* The build's commit, "unknown" outside a git checkout; "-dirty" appended for uncommitted changes. */
extern const char *const HASHEMB_GIT_SHA;

#endif
