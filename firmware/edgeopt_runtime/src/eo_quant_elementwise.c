/* int8 elementwise ops (TFLite ADD/SUB/MUL), requantization, quantization and data
 * movement. */
#include <math.h>
#include <string.h>

#include "eo_fixedpoint.h"
#include "eo_runtime.h"

void eo_quantize_f32_s8(const float *x, int8_t *y, int32_t n, float scale, int32_t zero_point)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        /* saturate in float, before any conversion: +-Inf and huge values clamp as TFLite's do,
         * and NaN (which int8 cannot hold) becomes -128 on every core, with no undefined
         * float-to-int conversion */
        const float r = roundf(x[i] / scale) + (float)zero_point;
        y[i] = (int8_t)(r >= -128.0f ? (r <= 127.0f ? (int32_t)r : 127) : -128);
    }
}

void eo_dequantize_s8_f32(const int8_t *x, float *y, int32_t n, float scale, int32_t zero_point)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        y[i] = (float)((int32_t)x[i] - zero_point) * scale;
    }
}

void eo_pad_s8(const int8_t *x, int8_t *y, const eo_pad_t *p)
{
    int32_t index[EO_MAX_RANK] = {0};
    int32_t in_strides[EO_MAX_RANK];
    int32_t total = 1, axis, k;
    const int8_t value = (int8_t)p->value;
    for (axis = p->rank - 1, k = 1; axis >= 0; --axis) {
        in_strides[axis] = k;
        k *= p->in_shape[axis];
        total *= p->out_shape[axis];
    }
    for (k = 0; k < total; ++k) {
        int32_t offset = 0, inside = 1;
        for (axis = 0; axis < p->rank; ++axis) {
            const int32_t i = index[axis] - p->begin[axis];
            if (i < 0 || i >= p->in_shape[axis]) {
                inside = 0;
                break;
            }
            offset += i * in_strides[axis];
        }
        y[k] = inside ? x[offset] : value;
        for (axis = p->rank - 1; axis >= 0; --axis) {
            if (++index[axis] < p->out_shape[axis]) {
                break;
            }
            index[axis] = 0;
        }
    }
}

static int32_t eo_binary_s8_one(const eo_binary_s8_params_t *p, int32_t a, int32_t b)
{
    int32_t v;
    a += p->in1_offset;
    b += p->in2_offset;
    if (p->op == EO_BIN_MUL) {
        v = eo_requantize(a * b, p->out_multiplier, p->out_shift);
    } else if (p->op == EO_BIN_MAX || p->op == EO_BIN_MIN) { /* one quantization in and out (TFLite) */
        v = p->op == EO_BIN_MAX ? (a > b ? a : b) : (a < b ? a : b);
    } else if (p->op == EO_BIN_SQUARED_DIFF) { /* TFLite: a common scale 2^7 finer, then the square */
        const int32_t d = eo_requantize(a * (1 << p->left_shift), p->in1_multiplier, p->in1_shift) -
                          eo_requantize(b * (1 << p->left_shift), p->in2_multiplier, p->in2_shift);
        v = eo_requantize(d * d, p->out_multiplier, p->out_shift);
    } else { /* ADD, SUB: both inputs rescaled to a common scale, 2^20 finer */
        const int32_t sa = eo_requantize(a * (1 << p->left_shift), p->in1_multiplier, p->in1_shift);
        const int32_t sb = eo_requantize(b * (1 << p->left_shift), p->in2_multiplier, p->in2_shift);
        v = eo_requantize(p->op == EO_BIN_SUB ? sa - sb : sa + sb, p->out_multiplier, p->out_shift);
    }
    return eo_clamp(v + p->out_offset, p->act_min, p->act_max);
}

void eo_binary_s8(const eo_binary_s8_params_t *p, const int8_t *a, const int8_t *b, int8_t *y)
{
    const eo_broadcast_t *bc = &p->shape;
    const int32_t last = bc->rank - 1;
    const int32_t n = bc->shape[last];
    const int32_t rows = eo_broadcast_rows(bc);
    int32_t index[EO_MAX_RANK] = {0};
    int32_t row, i, a_off, b_off;
    for (row = 0; row < rows; ++row) {
        eo_broadcast_next_row(bc, index, &a_off, &b_off);
        for (i = 0; i < n; ++i) {
            y[row * n + i] = (int8_t)eo_binary_s8_one(p, a[a_off + i * bc->a_strides[last]],
                                                      b[b_off + i * bc->b_strides[last]]);
        }
    }
}

void eo_requantize_s8(const int8_t *x, int8_t *y, int32_t n, int32_t in_offset, int32_t multiplier,
                      int32_t shift, int32_t out_offset, int32_t act_min, int32_t act_max)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t v = eo_requantize((int32_t)x[i] + in_offset, multiplier, shift) + out_offset;
        y[i] = (int8_t)eo_clamp(v, act_min, act_max);
    }
}

void eo_copy_blocks_bytes(const void *x, void *y, int32_t outer, int32_t block, int32_t y_stride)
{
    int32_t o;
    for (o = 0; o < outer; ++o) {
        memcpy((uint8_t *)y + (int64_t)o * y_stride, (const uint8_t *)x + (int64_t)o * block, (size_t)block);
    }
}

void eo_lookup_s8(const int8_t *table, const int8_t *x, int8_t *y, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        y[i] = table[(int32_t)x[i] + 128];
    }
}
