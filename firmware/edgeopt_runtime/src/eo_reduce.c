/* Reductions over any set of axes, and (log-)softmax. */
#include <math.h>

#include "eo_runtime.h"

void eo_reduce_f32(eo_reduce_op_t op, const float *x, float *y, const eo_reduce_t *r)
{
    const int32_t last = r->rank - 1;
    const int32_t n = r->shape[last];
    const int32_t inner_stride = r->out_strides[last];
    int32_t index[EO_MAX_RANK] = {0};
    int32_t rows = 1;
    int32_t row, axis, i;
    for (axis = 0; axis < last; ++axis) {
        rows *= r->shape[axis];
    }
    for (i = 0; i < r->out_size; ++i) {
        y[i] = op == EO_REDUCE_MAX ? -INFINITY : 0.0f;
    }
    for (row = 0; row < rows; ++row) {
        const float *xr = x + row * n;
        float *yr = y;
        for (axis = 0; axis < last; ++axis) {
            yr += index[axis] * r->out_strides[axis];
        }
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
        for (axis = last - 1; axis >= 0; --axis) {
            if (++index[axis] < r->shape[axis]) {
                break;
            }
            index[axis] = 0;
        }
    }
    if (op == EO_REDUCE_MEAN && r->reduced_count > 0) {
        const float scale = 1.0f / (float)r->reduced_count;
        for (i = 0; i < r->out_size; ++i) {
            y[i] *= scale;
        }
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
