/* radix: the one radix sort. RADIX_SORT_DEFINE(name, T, PASSES, BITS, DIGIT) defines
 *     static T *name(T *a, T *tmp, size_t n)
 * a stable LSD radix sort of a[0..n) by a key of PASSES digits of BITS bits, least significant first;
 * DIGIT(x, d) is digit d (0 the least significant) of record x's key. It returns whichever of a and
 * tmp (room for n) holds the sorted records. Every pass's histogram comes from one read of a; a pass
 * whose digit is the same in every record is skipped (counts, small ids and packed codes leave most
 * high digits constant). A macro, so that each key type gets its own inlined loop: metrics (AUC's
 * scores as u32, 3 passes of 11 bits), vocab (count, then value: 16 passes of a byte) and emb_bh
 * (u64 codes for the sharing count, 8 passes of a byte). */
#ifndef HASHEMB_RADIX_H
#define HASHEMB_RADIX_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define RADIX_SORT_DEFINE(name, T, PASSES, BITS, DIGIT)                                                    \
    static T *name(T *a, T *tmp, size_t n) {                                                                 \
        if (n < 2) return a;                                                                                 \
        size_t hist[PASSES][1u << (BITS)];                                                                   \
        memset(hist, 0, sizeof hist);                                                                        \
        for (size_t i = 0; i < n; i++)                                                                       \
            for (int d = 0; d < (PASSES); d++) hist[d][DIGIT(a[i], d)]++;                                    \
        T *src = a, *dst = tmp;                                                                              \
        for (int d = 0; d < (PASSES); d++) {                                                                 \
            size_t *h = hist[d];                                                                             \
            if (h[DIGIT(src[0], d)] == n) continue; /* every record has this byte: moves nothing */          \
            size_t sum = 0;                                                                                  \
            for (size_t v = 0; v < (1u << (BITS)); v++) {                                                    \
                size_t c = h[v];                                                                             \
                h[v] = sum;                                                                                  \
                sum += c;                                                                                    \
            }                                                                                                \
            for (size_t i = 0; i < n; i++) dst[h[DIGIT(src[i], d)]++] = src[i];                              \
            T *t_ = src;                                                                                     \
            src = dst;                                                                                       \
            dst = t_;                                                                                        \
        }                                                                                                    \
        return src;                                                                                          \
    }

/* byte d of an unsigned integer key; 11-bit digit d of a u32 (3 passes) */
#define RADIX_BYTE(x, d) ((unsigned)((x) >> (8 * (d))) & 0xffu)
#define RADIX_D11(x, d) ((unsigned)((x) >> (11 * (d))) & 0x7ffu)

#endif
