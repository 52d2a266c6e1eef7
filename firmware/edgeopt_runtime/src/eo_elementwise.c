/* Activations, broadcasting binary ops, per-channel affine, copies. */
#include <math.h>

#include "eo_runtime.h"

void eo_copy_f32(const float *x, float *y, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        y[i] = x[i];
    }
}

static float eo_sigmoid(float v)
{
    /* Split by sign so expf never overflows. */
    if (v >= 0.0f) {
        return 1.0f / (1.0f + expf(-v));
    }
    {
        const float e = expf(v);
        return e / (1.0f + e);
    }
}

/* x and y may be the same buffer: fused activations run in place. */
void eo_activation_f32(const float *x, float *y, int32_t n, eo_act_t act)
{
    int32_t i;
    const float a = act.alpha;
    const float b = act.beta;
    switch (act.kind) {
    case EO_ACT_NONE:
        if (x != y) {
            eo_copy_f32(x, y, n);
        }
        break;
    case EO_ACT_RELU:
        for (i = 0; i < n; ++i) {
            y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        }
        break;
    case EO_ACT_LEAKY_RELU:
        for (i = 0; i < n; ++i) {
            y[i] = x[i] >= 0.0f ? x[i] : a * x[i];
        }
        break;
    case EO_ACT_CLIP:
        /* Lower bound first, then upper: with min > max every value becomes max (ONNX). */
        for (i = 0; i < n; ++i) {
            float v = x[i] < a ? a : x[i];
            y[i] = v > b ? b : v;
        }
        break;
    case EO_ACT_SIGMOID:
        for (i = 0; i < n; ++i) {
            y[i] = eo_sigmoid(x[i]);
        }
        break;
    case EO_ACT_HARD_SIGMOID:
        for (i = 0; i < n; ++i) {
            float v = a * x[i] + b;
            y[i] = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
        }
        break;
    case EO_ACT_HARD_SWISH:
        for (i = 0; i < n; ++i) {
            float v = x[i] * (1.0f / 6.0f) + 0.5f;
            v = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
            y[i] = x[i] * v;
        }
        break;
    case EO_ACT_TANH:
        for (i = 0; i < n; ++i) {
            y[i] = tanhf(x[i]);
        }
        break;
    case EO_ACT_ELU:
        for (i = 0; i < n; ++i) {
            y[i] = x[i] > 0.0f ? x[i] : a * expm1f(x[i]);
        }
        break;
    case EO_ACT_SELU:
        for (i = 0; i < n; ++i) {
            y[i] = b * (x[i] > 0.0f ? x[i] : a * expm1f(x[i]));
        }
        break;
    default:
        break;
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
    default:
        break;
    }
}

void eo_binary_f32(eo_binary_op_t op, const float *a, const float *b, float *y,
                   const eo_broadcast_t *bc, eo_act_t act)
{
    const int32_t last = bc->rank - 1;
    const int32_t n = bc->shape[last];
    int32_t index[EO_MAX_RANK] = {0};
    int32_t outer = 1;
    int32_t row, axis;
    for (axis = 0; axis < last; ++axis) {
        outer *= bc->shape[axis];
    }
    for (row = 0; row < outer; ++row) {
        int32_t a_off = 0, b_off = 0;
        for (axis = 0; axis < last; ++axis) {
            a_off += index[axis] * bc->a_strides[axis];
            b_off += index[axis] * bc->b_strides[axis];
        }
        eo_binary_row(op, a + a_off, bc->a_strides[last], b + b_off, bc->b_strides[last],
                      y + row * n, n);
        for (axis = last - 1; axis >= 0; --axis) {
            if (++index[axis] < bc->shape[axis]) {
                break;
            }
            index[axis] = 0;
        }
    }
    if (act.kind != EO_ACT_NONE) {
        eo_activation_f32(y, y, outer * n, act);
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
