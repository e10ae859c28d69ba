/* dataset: the prepared-dataset format of SPEC 3.1 (a directory with dataset.meta and train/valid/test
 * .bin files), its mmap loader with every check named, and a writer that fills a preallocated, mapped
 * file so that rows can be written in any order and in parallel. Parsing real formats is prep.c's job,
 * making synthetic data gen.c's. */
#ifndef HASHEMB_DATASET_H
#define HASHEMB_DATASET_H

#include <stdint.h>

#include "core/util.h"

#define DS_MAGIC "HEMBDS\0\1"
#define DS_VERSION 1u
#define DS_HEADER 64u
#define DS_FLAG_PROB 1u
#define DS_MAX_FIELDS 1024

enum { DS_TRAIN, DS_VALID, DS_TEST, DS_NSPLITS };
extern const char *const DS_SPLIT_NAMES[DS_NSPLITS]; /* "train", "valid", "test" */

/* Byte offsets of the sections of a .bin file with this many rows and fields. */
typedef struct {
    uint64_t labels, ids, prob, total;
} DsLayout;
DsLayout ds_layout(uint64_t rows, uint32_t fields, uint32_t flags);

/* One mapped split, read-only. */
typedef struct {
    char *path;
    uint32_t fields;
    uint64_t rows;
    uint32_t flags;
    const uint8_t *labels; // (rows)
    const uint32_t *ids;   // (rows, fields)
    const float *prob;     // (rows), NULL unless flags & DS_FLAG_PROB
    void *map;
    uint64_t map_len;
} DsSplit;

/* Checks magic, version, sizes against the file length and the checksum; -1 with an Err naming the
 * file and the check that failed. */
int ds_split_open(DsSplit *s, const char *path, Err *e);
void ds_split_close(DsSplit *s);

/* A split being written: the file is allocated at its final size (a full disk fails here, not later
 * with SIGBUS) and mapped; fill labels/ids/prob, then ds_writer_finish() computes the checksum and
 * writes the header. */
typedef struct {
    char *path;
    int fd;
    uint32_t fields, flags;
    uint64_t rows;
    uint8_t *labels; // (rows)
    uint32_t *ids;   // (rows, fields)
    float *prob;     // (rows) or NULL
    void *map;
    uint64_t map_len;
} DsWriter;

int ds_writer_open(DsWriter *w, const char *path, uint64_t rows, uint32_t fields, uint32_t flags,
                   Err *e);
int ds_writer_finish(DsWriter *w, Err *e);
void ds_writer_abort(DsWriter *w); /* unmaps, closes and removes the file */

/* dataset.meta: ordered key=value lines, one per key. In the file a value's backslash is written \\,
 * a newline \n and a carriage return \r, so that no value (an input's path, say) can end its line and
 * start another key; the reader undoes it, refuses any other backslash sequence, a duplicate key, an
 * empty key and a file that is not a regular file, each with FILE:LINE. */
typedef struct {
    int n, cap;
    char **keys, **vals;
    int *lines; // (n) line in the file read, 0 for a value set here
} DsMeta;

void ds_meta_set(DsMeta *m, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const char *ds_meta_get(const DsMeta *m, const char *key); /* NULL when absent */
int ds_meta_line(const DsMeta *m, const char *key);         /* 0 when absent or not read from a file */
int ds_meta_write(const DsMeta *m, const char *path, Err *e);
int ds_meta_read(DsMeta *m, const char *path, Err *e);
void ds_meta_free(DsMeta *m);
/* A value as the file holds it (escaped, one line), for display. Caller frees. */
char *ds_meta_escape(const char *value);

/* A whole prepared dataset, opened for training or inspection. */
typedef struct {
    char *dir;
    DsMeta meta;
    uint32_t fields;
    char **field_names;   // (fields)
    uint64_t *cards;      // (fields) N_f, OOV id 0 included
    DsSplit split[DS_NSPLITS];
} Dataset;

/* Reads dataset.meta and maps the three splits; checks that they agree with each other and with the
 * meta (fields, rows) and that every id is below its field's cardinality (the latter only when
 * check_ids is set: it reads every byte). */
int ds_open(Dataset *d, const char *dir, int check_ids, Err *e);
/* dataset.meta alone, with every check ds_open makes of it (version, fields, cardinalities, names):
 * what `plan --data` needs. The splits are not mapped; ds_close frees it. */
int ds_open_meta(Dataset *d, const char *dir, Err *e);
void ds_close(Dataset *d);
/* How often each id of each field occurs in the train split (an opened dataset, ids checked):
 * counts[f] holds cards[f] values, saturating at UINT32_MAX. Each thread counts the fields it owns
 * in one pass over the rows. Free with ds_counts_free. */
uint32_t **ds_train_counts(const Dataset *d);
void ds_counts_free(uint32_t **counts, uint32_t fields);

/* --out of gen and prep, checked before any work: not empty, not . or .. or /, its parent an existing
 * directory, and either absent or a hashemb dataset (which it replaces). *norm gets it without
 * trailing slashes (caller frees). It also removes the leftovers of dead processes beside it
 * (tmp_sweep_stale). -1 with an Err that starts with "--out: ". */
int ds_out_prepare(const char *out, char **norm, Err *e);
/* -1 with an Err naming both when the filesystem that holds `out` has fewer than `need` bytes
 * available (statvfs); checked before anything is reserved. */
int ds_space_check(const char *out, uint64_t need, Err *e);
/* Bytes a dataset of these splits takes (the .bin files and room for dataset.meta). */
uint64_t ds_bytes(const uint64_t rows[DS_NSPLITS], uint32_t fields, uint32_t flags);

/* Creating a dataset directory atomically: work in DIR.tmp.HOST.PID, rename to DIR at the end; on
 * failure the temporary directory is removed and nothing named DIR appears. SIGINT, SIGTERM and SIGHUP
 * remove the temporary directory too (tmp_guard_add), and wait while the commit renames. `out` as
 * ds_out_prepare made it. */
int ds_dir_begin(const char *out, char **tmpdir, Err *e);
int ds_dir_commit(const char *tmpdir, const char *out, Err *e);
void ds_dir_abort(const char *tmpdir);

#endif
