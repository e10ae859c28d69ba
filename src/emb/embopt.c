/* embopt: the strategy flags of SPEC 2 (--emb, --ratio, --compress-min, and each strategy's own from its
 * flag table), parsed in one place for `plan` and `train`: emb_options_parse_flag stores one flag's
 * value in an EmbOptions, emb_options_check refuses options of another strategy; emb_options_usage is
 * their --help text and emb_longopts their getopt entries. Declared in emb.h; no dependency on the
 * command plumbing, so tests can link it alone. Nothing here names a strategy: it asks the table. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emb/emb.h"

#define USAGE_COL 37 /* where the flags' descriptions start */

static void usage_line(char *buf, size_t n, const char *flag, const char *text) {
    size_t at = strlen(buf);
    int w = snprintf(buf + at, n - at, "  %s", flag);
    at = strlen(buf);
    snprintf(buf + at, n - at, "%*s%s\n", w < USAGE_COL ? USAGE_COL - w : 1, "", text);
}

const char *emb_options_usage(void) {
    static char buf[8192];
    if (buf[0]) return buf;
    /* the strategies' names after the flag, wrapped under the descriptions' column */
    char line[256] = "embedding strategy:";
    const char *flag = "--emb STRATEGY";
    for (int k = 0; k < EMB_NKINDS; k++) {
        const int last = k == EMB_NKINDS - 1;
        if (strlen(line) + strlen(EMB_NAMES[k]) + 2 > 100 - USAGE_COL) {
            usage_line(buf, sizeof buf, flag, line);
            flag = "";
            line[0] = 0;
        }
        if (line[0]) strncat(line, " ", sizeof line - strlen(line) - 1);
        strncat(line, EMB_NAMES[k], sizeof line - strlen(line) - 1);
        if (!last) strncat(line, ",", sizeof line - strlen(line) - 1);
    }
    usage_line(buf, sizeof buf, flag, line);
    usage_line(buf, sizeof buf, "--ratio R",
               "target compression ratio (>= 1) of fields with N_f > --compress-min");
    usage_line(buf, sizeof buf, "--compress-min N", "fields with at most N ids stay full (default 200)");
    for (int k = 0; k < EMB_NKINDS; k++)
        for (int i = 0; i < EMB_STRATEGIES[k]->nflags; i++)
            strncat(buf, EMB_STRATEGIES[k]->flags[i].usage, sizeof buf - strlen(buf) - 1);
    return buf;
}

void emb_longopts(struct option *opts, const struct option *base, int nbase, int code) {
    static const char *const common[] = {"emb", "ratio", "compress-min"};
    int n = nbase;
    memcpy(opts, base, (size_t)nbase * sizeof *opts);
    for (int i = 0; i < 3; i++) opts[n++] = (struct option){common[i], required_argument, 0, code};
    for (int k = 0; k < EMB_NKINDS; k++)
        for (int i = 0; i < EMB_STRATEGIES[k]->nflags; i++) {
            CHECK(n - nbase < EMB_MAX_LONGOPTS);
            opts[n++] = (struct option){EMB_STRATEGIES[k]->flags[i].name, required_argument, 0, code};
        }
    /* a strategy flag named like another, or like a command's own option, would never be parsed */
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (!strcmp(opts[i].name, opts[j].name)) {
                fprintf(stderr, "hashemb: internal error: the option --%s is defined twice\n", opts[i].name);
                abort();
            }
    opts[n] = (struct option){0, 0, 0, 0};
}

int emb_options_parse_flag(EmbOptions *o, const char *flag, const char *value, Err *e) {
    while (*flag == '-') flag++;
    char fl[64];
    snprintf(fl, sizeof fl, "--%s", flag);
    long long v = 0;
    int k = 0;
    if (!value) return err_set(e, "%s: missing value", fl);
    if (!strcmp(flag, "emb")) {
        if (parse_name(value, EMB_NAMES, EMB_NKINDS, fl, &k, e)) return -1;
        o->kind = (EmbKind)k;
        return 0;
    }
    if (!strcmp(flag, "ratio")) return parse_f64(value, 1.0, 1e15, fl, &o->ratio, e);
    if (!strcmp(flag, "compress-min")) {
        if (parse_i64(value, 0, (long long)1 << 40, fl, &v, e)) return -1;
        o->compress_min = (long)v;
        return 0;
    }
    for (k = 0; k < EMB_NKINDS; k++)
        for (int i = 0; i < EMB_STRATEGIES[k]->nflags; i++)
            if (!strcmp(flag, EMB_STRATEGIES[k]->flags[i].name))
                return EMB_STRATEGIES[k]->flags[i].parse(o->sopt[k], value, fl, e);
    return err_set(e, "%s: not a strategy option", fl);
}

int emb_options_parse_string(EmbOptions *o, const char *flags, Err *e) {
    char buf[1024], *save = NULL;
    snprintf(buf, sizeof buf, "%s", flags);
    for (char *f = strtok_r(buf, " ", &save); f; f = strtok_r(NULL, " ", &save))
        if (emb_options_parse_flag(o, f, strtok_r(NULL, " ", &save), e)) return -1;
    return 0;
}

int emb_options_check(const EmbOptions *o, Err *e) {
    if (o->kind == EMB_FULL && o->ratio != 1.0) {
        char kinds[256];
        names_join(kinds, sizeof kinds, EMB_NAMES, EMB_NKINDS, EMB_FULL);
        return err_set(e, "--ratio: %g applies to a compressed strategy (--emb %s), not to the full table",
                       o->ratio, kinds);
    }
    EmbOptions d;
    emb_options_default(&d);
    for (int k = 0; k < EMB_NKINDS; k++) {
        if (k == (int)o->kind) continue;
        const EmbStrategy *s = EMB_STRATEGIES[k];
        for (int i = 0; i < s->nflags; i++) {
            const EmbFlag *f = &s->flags[i];
            if (memcmp(o->sopt[k] + f->offset, d.sopt[k] + f->offset, f->size))
                return err_set(e, "--%s: applies to --emb %s only (not %s)", f->name, EMB_NAMES[k],
                               EMB_NAMES[o->kind]);
        }
    }
    return 0;
}
