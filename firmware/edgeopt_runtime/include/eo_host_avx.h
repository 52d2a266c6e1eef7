/* Internal to the runtime: what its x86 host paths (the simulator; GCC/Clang with AVX)
 * share. Cortex-M builds never see EO_AVX set. */
#ifndef EO_HOST_AVX_H
#define EO_HOST_AVX_H

#include <string.h>

#include "eo_runtime.h"

#if defined(__GNUC__) && defined(__AVX__)
#define EO_AVX 1
/* Eight floats in one AVX register (GCC vector extensions) */
typedef float eo_f32x8 __attribute__((vector_size(32)));

/* The most inputs of a zero-padded tail block (host stack: 32 KB) */
#define EO_AVX_TAIL_INS 1024

static inline eo_f32x8 eo_load8(const float *p)
{
    eo_f32x8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The count (< 8) plain rows w[j][0..ins) that follow a layer's packed blocks, as one more
 * block [ins][8] padded with zero rows */
static inline void eo_pad_tail_block(const float *w, int32_t count, int32_t ins, float *block)
{
    int32_t i, j;
    for (i = 0; i < ins; ++i) {
        for (j = 0; j < EO_DENSE_BLOCK; ++j) {
            block[i * EO_DENSE_BLOCK + j] = j < count ? w[j * ins + i] : 0.0f;
        }
    }
}
#else
#define EO_AVX 0
#endif

#endif
