/* Forward-mode derivatives (tangents) for the model Jacobians solvers need. A tangent is
 * stored [rows][n]: one row per seed direction, n values of the tensor. */
#include "eo_runtime.h"

/* t[r][i] *= f'(a_i), with the derivative taken from the activation's output y. */
void eo_activation_tangent_f32(eo_tangent_kind_t kind, const float *y, float *t, int32_t rows,
                               int32_t n, float alpha, float beta)
{
    int32_t r, i;
    for (i = 0; i < n; ++i) {
        const float v = y[i];
        float d;
        switch (kind) {
        case EO_TANGENT_TANH:
            d = 1.0f - v * v;
            break;
        case EO_TANGENT_SIGMOID:
            d = v * (1.0f - v);
            break;
        case EO_TANGENT_RELU:
            d = v > 0.0f ? 1.0f : 0.0f;
            break;
        case EO_TANGENT_LEAKY_RELU: /* alpha > 0 keeps the sign of the input */
            d = v > 0.0f ? 1.0f : alpha;
            break;
        case EO_TANGENT_CLIP: /* alpha, beta: bounds */
            d = v > alpha && v < beta ? 1.0f : 0.0f;
            break;
        case EO_TANGENT_ELU: /* y = alpha (e^a - 1) below 0: dy/da = y + alpha */
            d = v > 0.0f ? 1.0f : v + alpha;
            break;
        case EO_TANGENT_SELU: /* alpha, beta = gamma */
            d = v > 0.0f ? beta : v + beta * alpha;
            break;
        default:
            d = 1.0f;
            break;
        }
        for (r = 0; r < rows; ++r) {
            t[r * n + i] *= d;
        }
    }
}

/* t[r][i] *= scale[i] */
void eo_scale_columns_f32(const float *scale, float *t, int32_t rows, int32_t n)
{
    int32_t r, i;
    for (r = 0; r < rows; ++r) {
        for (i = 0; i < n; ++i) {
            t[r * n + i] *= scale[i];
        }
    }
}
