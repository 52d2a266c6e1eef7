/* Reductions over any set of axes, and (log-)softmax. */
#include <math.h>

#include "eo_runtime.h"

/* Input rows (all axes but the last) */
static int32_t eo_reduce_rows(const eo_reduce_t *r)
{
    int32_t rows = 1;
    int32_t axis;
    for (axis = 0; axis < r->rank - 1; ++axis) {
        rows *= r->shape[axis];
    }
    return rows;
}

/* The output offset of the row at `index`, which then moves on to the next row */
static int32_t eo_reduce_next_row(const eo_reduce_t *r, int32_t *index)
{
    int32_t offset = 0;
    int32_t axis;
    for (axis = 0; axis < r->rank - 1; ++axis) {
        offset += index[axis] * r->out_strides[axis];
    }
    for (axis = r->rank - 2; axis >= 0; --axis) {
        if (++index[axis] < r->shape[axis]) {
            break;
        }
        index[axis] = 0;
    }
    return offset;
}

void eo_reduce_f32(eo_reduce_op_t op, const float *x, float *y, const eo_reduce_t *r)
{
    const int32_t n = r->shape[r->rank - 1];
    const int32_t inner_stride = r->out_strides[r->rank - 1];
    const int32_t rows = eo_reduce_rows(r);
    int32_t index[EO_MAX_RANK] = {0};
    int32_t row, i;
    for (i = 0; i < r->out_size; ++i) {
        y[i] = op == EO_REDUCE_MAX ? -INFINITY : 0.0f;
    }
    for (row = 0; row < rows; ++row) {
        const float *xr = x + row * n;
        float *yr = y + eo_reduce_next_row(r, index);
        if (op == EO_REDUCE_MAX) {
            for (i = 0; i < n; ++i) {
                float *t = yr + i * inner_stride;
                *t = xr[i] > *t ? xr[i] : *t;
            }
        } else if (inner_stride == 0) {
            float s = 0.0f;
            for (i = 0; i < n; ++i) {
                s += xr[i];
            }
            *yr += s;
        } else {
            for (i = 0; i < n; ++i) {
                yr[i * inner_stride] += xr[i];
            }
        }
    }
    if (op == EO_REDUCE_MEAN && r->reduced_count > 0) {
        const float scale = 1.0f / (float)r->reduced_count;
        for (i = 0; i < r->out_size; ++i) {
            y[i] *= scale;
        }
    }
}

/* TFLM's int8 MEAN: int32 sums, then one requantization whose multiplier already holds
 * 1/count (folded at compile time as TFLM folds it). */
void eo_mean_s8(const eo_reduce_t *r, const int8_t *x, int8_t *y, int32_t *sums,
                const eo_mean_s8_params_t *p)
{
    const int32_t n = r->shape[r->rank - 1];
    const int32_t inner_stride = r->out_strides[r->rank - 1];
    const int32_t rows = eo_reduce_rows(r);
    int32_t index[EO_MAX_RANK] = {0};
    int32_t row, i;
    for (i = 0; i < r->out_size; ++i) {
        sums[i] = 0;
    }
    for (row = 0; row < rows; ++row) {
        const int8_t *xr = x + row * n;
        int32_t *sr = sums + eo_reduce_next_row(r, index);
        for (i = 0; i < n; ++i) {
            sr[i * inner_stride] += xr[i];
        }
    }
    for (i = 0; i < r->out_size; ++i) {
        int32_t v = eo_requantize(sums[i] - p->in_zero_point * r->reduced_count, p->multiplier,
                                  p->shift) + p->out_zero_point;
        v = v < -128 ? -128 : (v > 127 ? 127 : v);
        y[i] = (int8_t)v;
    }
}

void eo_softmax_f32(const float *x, float *y, int32_t outer, int32_t n, int32_t inner, int32_t log)
{
    int32_t o, i, j;
    for (o = 0; o < outer; ++o) {
        for (i = 0; i < inner; ++i) {
            const float *xs = x + o * n * inner + i;
            float *ys = y + o * n * inner + i;
            float top = xs[0];
            float sum = 0.0f;
            for (j = 1; j < n; ++j) {
                top = xs[j * inner] > top ? xs[j * inner] : top;
            }
            for (j = 0; j < n; ++j) {
                const float e = expf(xs[j * inner] - top);
                ys[j * inner] = e;
                sum += e;
            }
            if (log) {
                const float log_sum = logf(sum);
                for (j = 0; j < n; ++j) {
                    ys[j * inner] = (xs[j * inner] - top) - log_sum;
                }
            } else {
                const float inv = 1.0f / sum;
                for (j = 0; j < n; ++j) {
                    ys[j * inner] *= inv;
                }
            }
        }
    }
}

int32_t eo_mean_s8_scratch_size(const eo_reduce_t *r)
{
    return 4 * r->out_size; /* one int32 sum per output */
}

void eo_l2_normalize_f32(const float *x, float *y, int32_t outer, int32_t n)
{
    int32_t o, i;
    for (o = 0; o < outer; ++o) {
        const float *row = x + o * n;
        float squares = 0.0f, norm;
        for (i = 0; i < n; ++i) {
            squares += row[i] * row[i];
        }
        norm = sqrtf(squares);
        norm = norm > 1e-6f ? norm : 1e-6f;
        for (i = 0; i < n; ++i) {
            y[o * n + i] = row[i] / norm;
        }
    }
}
