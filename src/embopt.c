/* embopt: the strategy flags of SPEC 2 (--emb, --ratio, --compress-min, --qr-op, --bh-*), parsed in one
 * place for `plan` and `train`: emb_options_parse_flag stores one flag's value in an EmbOptions,
 * emb_options_check refuses options of another strategy; EMB_OPTIONS_USAGE is their --help text.
 * Declared in emb.h; no dependency on the command plumbing, so tests can link it alone. */
#include <stdio.h>
#include <string.h>

#include "emb.h"

const char EMB_OPTIONS_USAGE[] =
    "  --emb full|hash|qr|bh              embedding strategy\n"
    "  --ratio R                          target compression ratio (>= 1) of fields with N_f > --compress-min\n"
    "  --compress-min N                   fields with at most N ids stay full (default 200)\n"
    "  --qr-op mult|add|concat            qr: how quotient and remainder vectors combine (default mult)\n"
    "  --bh-blocks succession|skip        bh: how the code is cut into blocks (default succession)\n"
    "  --bh-table shared|per-block        bh: one table for all blocks, or one per block (default shared)\n"
    "  --bh-fuse sum|mean|concat          bh: how block vectors are fused (default sum)\n"
    "  --bh-bits auto|S                   bh: code length; auto = ceil(log2 N_f), the id as it is;\n"
    "                                     S = the low S bits of the id's XXH64 (default auto)\n"
    "  --bh-t T                           bh: fix the block length to min(T, S) instead of the budget's\n";


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
    } else if (!strcmp(flag, "ratio")) {
        if (parse_f64(value, 1.0, 1e15, fl, &o->ratio, e)) return -1;
    } else if (!strcmp(flag, "compress-min")) {
        if (parse_i64(value, 0, (long long)1 << 40, fl, &v, e)) return -1;
        o->compress_min = (long)v;
    } else if (!strcmp(flag, "qr-op")) {
        if (parse_name(value, QR_OP_NAMES, QR_NOPS, fl, &k, e)) return -1;
        o->qr_op = (QrOp)k;
    } else if (!strcmp(flag, "bh-blocks")) {
        if (parse_name(value, BH_BLOCKS_NAMES, 2, fl, &k, e)) return -1;
        o->bh_blocks = (BhBlocks)k;
    } else if (!strcmp(flag, "bh-table")) {
        if (parse_name(value, BH_TABLE_NAMES, 2, fl, &k, e)) return -1;
        o->bh_table = (BhTable)k;
    } else if (!strcmp(flag, "bh-fuse")) {
        if (parse_name(value, BH_FUSE_NAMES, 3, fl, &k, e)) return -1;
        o->bh_fuse = (BhFuse)k;
    } else if (!strcmp(flag, "bh-bits")) {
        if (!strcmp(value, "auto")) {
            o->bh_bits = 0;
        } else {
            if (parse_i64(value, 1, 63, fl, &v, e)) {
                if (strstr(e->msg, "whole number"))
                    err_set(e, "%s: '%s' is neither auto nor a bit count in [1, 63]", fl, value);
                return -1;
            }
            o->bh_bits = (int)v;
        }
    } else if (!strcmp(flag, "bh-t")) {
        if (parse_i64(value, 1, 63, fl, &v, e)) return -1;
        o->bh_t = (int)v;
    } else {
        return err_set(e, "%s: not a strategy option", fl);
    }
    return 0;
}

int emb_options_check(const EmbOptions *o, Err *e) {
    if (o->kind == EMB_FULL && o->ratio != 1.0)
        return err_set(e, "--ratio: %g applies to a compressed strategy (--emb hash|qr|bh), not to "
                          "the full table", o->ratio);
    EmbOptions d;
    emb_options_default(&d);
    const char *kind = EMB_NAMES[o->kind];
    if (o->kind != EMB_QR && o->qr_op != d.qr_op)
        return err_set(e, "--qr-op: applies to --emb qr only (not %s)", kind);
    if (o->kind != EMB_BH) {
        const char *f = o->bh_blocks != d.bh_blocks ? "--bh-blocks"
                        : o->bh_table != d.bh_table ? "--bh-table"
                        : o->bh_fuse != d.bh_fuse   ? "--bh-fuse"
                        : o->bh_bits != d.bh_bits   ? "--bh-bits"
                        : o->bh_t != d.bh_t         ? "--bh-t"
                                                    : NULL;
        if (f) return err_set(e, "%s: applies to --emb bh only (not %s)", f, kind);
    }
    return 0;
}
