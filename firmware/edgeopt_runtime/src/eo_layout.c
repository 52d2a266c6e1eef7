/* Data movement: strided gathers (transpose, slices), block copies (concat), padding. */
#include "eo_runtime.h"

/* Rows (all axes but the last) of a strided read, and the input offset of row `row`. */
static int32_t eo_strided_rows(const eo_strided_t *s)
{
    int32_t rows = 1, axis;
    for (axis = 0; axis < s->rank - 1; ++axis) {
        rows *= s->shape[axis];
    }
    return rows;
}

static int32_t eo_strided_row_offset(const eo_strided_t *s, int32_t row)
{
    int32_t offset = 0, axis;
    for (axis = s->rank - 2; axis >= 0; --axis) {
        offset += (row % s->shape[axis]) * s->in_strides[axis];
        row /= s->shape[axis];
    }
    return offset;
}

void eo_gather_strided_f32(const float *x, float *y, const eo_strided_t *s)
{
    const int32_t n = s->shape[s->rank - 1];
    const int32_t step = s->in_strides[s->rank - 1];
    const int32_t rows = eo_strided_rows(s);
    int32_t row, i;
    for (row = 0; row < rows; ++row) {
        const float *xr = x + eo_strided_row_offset(s, row);
        for (i = 0; i < n; ++i) {
            *y++ = xr[i * step];
        }
    }
}

void eo_gather_strided_s8(const int8_t *x, int8_t *y, const eo_strided_t *s)
{
    const int32_t n = s->shape[s->rank - 1];
    const int32_t step = s->in_strides[s->rank - 1];
    const int32_t rows = eo_strided_rows(s);
    int32_t row, i;
    for (row = 0; row < rows; ++row) {
        const int8_t *xr = x + eo_strided_row_offset(s, row);
        for (i = 0; i < n; ++i) {
            *y++ = xr[i * step];
        }
    }
}

void eo_copy_blocks_f32(const float *x, float *y, int32_t outer, int32_t block, int32_t y_stride)
{
    int32_t o;
    for (o = 0; o < outer; ++o) {
        eo_copy_f32(x + o * block, y + o * y_stride, block);
    }
}

/* Maps an output coordinate to an input coordinate, or -1 for the constant value. */
static int32_t eo_pad_source(int32_t i, int32_t n, eo_pad_mode_t mode)
{
    if (i >= 0 && i < n) {
        return i;
    }
    switch (mode) {
    case EO_PAD_EDGE:
        return i < 0 ? 0 : n - 1;
    case EO_PAD_REFLECT:
        if (n == 1) {
            return 0;
        }
        {
            const int32_t period = 2 * (n - 1);
            int32_t m = i % period;
            m = m < 0 ? m + period : m;
            return m < n ? m : period - m;
        }
    case EO_PAD_WRAP: {
        int32_t m = i % n;
        return m < 0 ? m + n : m;
    }
    default:
        return -1;
    }
}

void eo_pad_f32(const float *x, float *y, const eo_pad_t *p)
{
    int32_t index[EO_MAX_RANK] = {0};
    int32_t in_strides[EO_MAX_RANK];
    int32_t total = 1;
    int32_t axis, k;
    for (axis = p->rank - 1, k = 1; axis >= 0; --axis) {
        in_strides[axis] = k;
        k *= p->in_shape[axis];
        total *= p->out_shape[axis];
    }
    for (k = 0; k < total; ++k) {
        int32_t offset = 0;
        int32_t inside = 1;
        for (axis = 0; axis < p->rank; ++axis) {
            const int32_t src = eo_pad_source(index[axis] - p->begin[axis], p->in_shape[axis], p->mode);
            if (src < 0) {
                inside = 0;
                break;
            }
            offset += src * in_strides[axis];
        }
        y[k] = inside ? x[offset] : p->value;
        for (axis = p->rank - 1; axis >= 0; --axis) {
            if (++index[axis] < p->out_shape[axis]) {
                break;
            }
            index[axis] = 0;
        }
    }
}
