/* emb_qr.h: the qr strategy's own types (emb_qr.c), for its file and the tests that look inside it
 * (test_emb); the rest of hashemb sees qr through EmbStrategy. */
#ifndef HASHEMB_EMB_QR_H
#define HASHEMB_EMB_QR_H

#include "emb/emb.h"

typedef enum { QR_MULT, QR_ADD, QR_CONCAT, QR_NOPS } QrOp;
extern const char *const QR_OP_NAMES[QR_NOPS]; /* "mult", "add", "concat" */

typedef struct {
    int op; /* QrOp; zero (mult) is the default */
} QrOptions;
typedef struct {
    uint64_t m; /* the remainder table's rows */
    int op;     /* QrOp */
} QrLayout;
_Static_assert(sizeof(QrOptions) <= EMB_SOPT_BYTES, "qr's options fit EmbOptions.sopt");
_Static_assert(sizeof(QrLayout) <= EMB_LAYOUT_BYTES, "qr's layout fits EmbFieldPlan.layout");
#define QRL(fp) ((QrLayout *)(fp)->layout)

#endif
