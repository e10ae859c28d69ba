/* emb_bh.h: the bh strategy's own types (emb_bh.c), for its file and the tests that look inside it
 * (test_emb, test_vectors); nothing else needs them: the rest of hashemb sees bh through EmbStrategy. */
#ifndef HASHEMB_EMB_BH_H
#define HASHEMB_EMB_BH_H

#include "emb/emb.h"

#define EMB_MAX_BLOCKS 64

typedef enum { BH_SUCCESSION, BH_SKIP } BhBlocks;
typedef enum { BH_SHARED, BH_PER_BLOCK } BhTable;
typedef enum { BH_SUM, BH_MEAN, BH_CONCAT } BhFuse;
extern const char *const BH_BLOCKS_NAMES[2]; /* "succession", "skip" */
extern const char *const BH_TABLE_NAMES[2];  /* "shared", "per-block" */
extern const char *const BH_FUSE_NAMES[3];   /* "sum", "mean", "concat" */

/* the flags (EmbOptions.sopt[EMB_BH]); zero is the default of each */
typedef struct {
    int blocks, table, fuse; /* BhBlocks, BhTable, BhFuse */
    int bits;                /* 0 = auto: ceil(log2 N_f) */
    int t;                   /* 0 = derive t from the budget; else t = min(t, S) */
} BhOptions;

/* a field's layout (EmbFieldPlan.layout) */
typedef struct {
    int S, t, n;                 /* code bits, block length (skip: its longest block), blocks */
    int lengths[EMB_MAX_BLOCKS]; /* bits per block */
    int blocks, table, fuse;     /* the options that shape the tables */
    int hashed;                  /* 1 = the code is the low S bits of XXH64(id, seed_f) (--bh-bits S) */
} BhPlan;
_Static_assert(sizeof(BhOptions) <= EMB_SOPT_BYTES, "bh's options fit EmbOptions.sopt");
_Static_assert(sizeof(BhPlan) <= EMB_LAYOUT_BYTES, "bh's layout fits EmbFieldPlan.layout");
#define BHP(fp) ((const BhPlan *)(fp)->layout)

/* What the hot loop needs per field, from the plan alone: the code of an id and the table row each
 * block reads (per-block rows offset by the rows of the blocks before, as SPEC 4 stores them). The
 * strategy's forward and backward use the same functions. */
typedef struct {
    int S, n, skip, hashed;
    uint64_t seed_f;
    uint64_t code_mask;                /* the low S bits */
    uint64_t mask[EMB_MAX_BLOCKS];     /* succession: (1 << len) - 1, after the shift; skip: the
                                        * block's bits j, j+n, ... in the code, for pext */
    int shift[EMB_MAX_BLOCKS];         /* succession: j * t */
    uint64_t offset[EMB_MAX_BLOCKS];   /* per-block: rows of the blocks before; shared: 0 */
} EmbBhLayout;

void emb_bh_layout(EmbBhLayout *L, const EmbFieldPlan *fp);
uint64_t emb_bh_code(const EmbBhLayout *L, uint32_t id);
void emb_bh_rows(const EmbBhLayout *L, uint32_t id, uint64_t *rows); /* rows (L->n) */
/* Gathers the bits of x under mask into the low bits (BMI2's pext): the fast one uses the instruction
 * where the build has it (__BMI2__), the _ref one a loop; both are tested against each other. */
uint64_t emb_bh_pext(uint64_t x, uint64_t mask);
uint64_t emb_bh_pext_ref(uint64_t x, uint64_t mask);
/* How many of the field's ids share their vector with another id: with a shared table and sum or
 * mean fusion, ids whose block rows are a permutation of each other's; in any layout, ids with the
 * same code (only possible with hashed codes). Exact; UINT64_MAX when N > max_ids (not counted: it
 * needs 16 bytes per id). */
uint64_t emb_bh_sharing(const EmbFieldPlan *fp, uint64_t max_ids);

#endif
