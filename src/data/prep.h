/* prep: turns a real CTR file (Criteo, Avazu, libFM, CSV with a schema) into a prepared dataset
 * (SPEC 3.1, 3.2). It streams: pass 1 counts the rows of every split and builds the vocabulary on the
 * training rows, pass 2 encodes each row straight into its split's mapped .bin; only the vocabularies
 * are held in memory. Lines are parsed in large blocks with memchr; .gz input (detected by its magic
 * bytes) goes through zlib. Parsing is one thread; with --threads 2 or more the sha256 of the inputs is
 * computed alongside pass 1. It does not train or read prepared datasets (dataset.c does). */
#ifndef HASHEMB_PREP_H
#define HASHEMB_PREP_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "core/util.h"
#include "data/vocab.h"

typedef enum { PREP_CRITEO, PREP_AVAZU, PREP_LIBFM, PREP_CSV, PREP_NFORMATS } PrepFormat;
extern const char *const PREP_FORMAT_NAMES[PREP_NFORMATS];

typedef struct {
    PrepFormat format;
    const char *file[DS_NSPLITS]; // train (required), valid and test (NULL: carved out of train)
    double split[DS_NSPLITS];     // --split weights for train, valid, test
    const char *schema;           // csv only
    uint32_t min_count;
    VocabOrder order;
    uint64_t skip_bad;
    uint64_t seed;
    int threads;
    const char *out;
} PrepOpts;

/* The whole prep: -1 with an Err (FILE:LINE: reason, or what failed) and no output directory. */
int prep_run(const PrepOpts *o, Err *e);

/* --- the parsing pieces, exposed for the unit tests --- */

/* Criteo integer columns: the competition winners' v = floor(ln(x)^2) for x > 2, else x. */
int64_t prep_criteo_transform(int64_t x);
/* A whole field as an optionally signed decimal integer, transformed; -1 when it is not one (or has
 * more than 18 digits). */
int prep_criteo_int(const char *p, size_t n, int64_t *out);
/* 1 and the value when p[0..8) is exactly 8 lowercase hex digits (Criteo's and Avazu's hashed tokens). */
int prep_hex8(const char *p, uint32_t *out);
/* A categorical value: empty; 8 lowercase hex chars or a decimal of at most 9 digits without a leading
 * zero, stored inline (the decimals tagged with bit 40, so the two never meet); any other string by its
 * bytes. Every distinct string gets a distinct value. */
VocabVal prep_cat_value(const char *p, size_t n);
/* Avazu's hour YYMMDDHH (year 20YY): hour of day 0..23, weekday 0..6 (Monday = 0), weekend 0/1.
 * -1 when it is not a valid date and hour. */
int prep_avazu_hour(const char *p, size_t n, int *hour, int *weekday, int *weekend);
/* Which split a line of the train file goes to: XXH64 of its 1-based line number (8 little-endian
 * bytes, seed) mapped to [0,1) against the cumulative fractions (zero for splits not carved). */
int prep_split_of(uint64_t line, uint64_t seed, const double frac[DS_NSPLITS]);

#endif
