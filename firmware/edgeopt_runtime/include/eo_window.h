/* Internal to the runtime: the valid output range of a sliding window, shared by the
 * convolution and pooling kernels. Not part of the public API. */
#ifndef EO_WINDOW_H
#define EO_WINDOW_H

#include <stdint.h>

/* First output index whose input tap (o*stride - pad + offset) is >= 0. */
static inline int32_t eo_first_valid(int32_t pad_minus_offset, int32_t stride)
{
    return pad_minus_offset > 0 ? (pad_minus_offset + stride - 1) / stride : 0;
}

/* One past the last output index whose input tap is < extent, capped at out. */
static inline int32_t eo_end_valid(int32_t extent, int32_t pad_minus_offset, int32_t stride, int32_t out)
{
    const int32_t last = extent - 1 + pad_minus_offset;
    int32_t end;
    if (last < 0) {
        return 0;
    }
    end = last / stride + 1;
    return end < out ? end : out;
}

#endif /* EO_WINDOW_H */
