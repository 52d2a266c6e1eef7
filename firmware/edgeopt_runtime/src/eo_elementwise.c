/* Broadcasting binary ops, per-channel affine, copies. */
#include "eo_runtime.h"

void eo_copy_f32(const float *x, float *y, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        y[i] = x[i];
    }
}

void eo_fill_f32(float *y, float value, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        y[i] = value;
    }
}

#define EO_ROW_LOOP(expr)                                                  \
    do {                                                                   \
        if (as == 1 && bs == 1) {                                          \
            for (i = 0; i < n; ++i) {                                      \
                const float va = a[i], vb = b[i];                          \
                y[i] = (expr);                                             \
            }                                                              \
        } else {                                                           \
            for (i = 0; i < n; ++i) {                                      \
                const float va = a[i * as], vb = b[i * bs];                \
                y[i] = (expr);                                             \
            }                                                              \
        }                                                                  \
    } while (0)

static void eo_binary_row(eo_binary_op_t op, const float *a, int32_t as, const float *b,
                          int32_t bs, float *y, int32_t n)
{
    int32_t i;
    switch (op) {
    case EO_BIN_ADD:
        EO_ROW_LOOP(va + vb);
        break;
    case EO_BIN_SUB:
        EO_ROW_LOOP(va - vb);
        break;
    case EO_BIN_MUL:
        EO_ROW_LOOP(va * vb);
        break;
    case EO_BIN_DIV:
        EO_ROW_LOOP(va / vb);
        break;
    case EO_BIN_PRELU:
        EO_ROW_LOOP(va < 0.0f ? va * vb : va);
        break;
    case EO_BIN_MAX: /* TFLite's comparisons, so NaN handling matches too */
        EO_ROW_LOOP(va > vb ? va : vb);
        break;
    case EO_BIN_MIN:
        EO_ROW_LOOP(va < vb ? va : vb);
        break;
    case EO_BIN_SQUARED_DIFF:
        EO_ROW_LOOP((va - vb) * (va - vb));
        break;
    default:
        break;
    }
}

int32_t eo_broadcast_rows(const eo_broadcast_t *bc)
{
    int32_t rows = 1;
    int32_t axis;
    for (axis = 0; axis < bc->rank - 1; ++axis) {
        rows *= bc->shape[axis];
    }
    return rows;
}

void eo_broadcast_next_row(const eo_broadcast_t *bc, int32_t *index, int32_t *a_offset,
                           int32_t *b_offset)
{
    int32_t axis;
    *a_offset = 0;
    *b_offset = 0;
    for (axis = 0; axis < bc->rank - 1; ++axis) {
        *a_offset += index[axis] * bc->a_strides[axis];
        *b_offset += index[axis] * bc->b_strides[axis];
    }
    for (axis = bc->rank - 2; axis >= 0; --axis) {
        if (++index[axis] < bc->shape[axis]) {
            break;
        }
        index[axis] = 0;
    }
}

void eo_binary_f32(eo_binary_op_t op, const float *a, const float *b, float *y,
                   const eo_broadcast_t *bc)
{
    const int32_t last = bc->rank - 1;
    const int32_t n = bc->shape[last];
    const int32_t rows = eo_broadcast_rows(bc);
    int32_t index[EO_MAX_RANK] = {0};
    int32_t row, a_off, b_off;
    for (row = 0; row < rows; ++row) {
        eo_broadcast_next_row(bc, index, &a_off, &b_off);
        eo_binary_row(op, a + a_off, bc->a_strides[last], b + b_off, bc->b_strides[last],
                      y + row * n, n);
    }
}

void eo_channel_affine_f32(const float *x, const float *scale, const float *shift, float *y,
                           int32_t outer, int32_t channels, int32_t inner)
{
    int32_t o, c, i;
    for (o = 0; o < outer; ++o) {
        for (c = 0; c < channels; ++c) {
            const float s = scale[c], t = shift[c];
            const float *xp = x + (o * channels + c) * inner;
            float *yp = y + (o * channels + c) * inner;
            for (i = 0; i < inner; ++i) {
                yp[i] = xp[i] * s + t;
            }
        }
    }
}
