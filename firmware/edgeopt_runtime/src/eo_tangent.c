/* Forward-mode derivatives (tangents) for the model Jacobians solvers need. A tangent is
 * stored [rows][n]: one row per seed direction, n values of the tensor. */
#include "eo_runtime.h"

/* f'(a) from the activation's output v */
static inline float eo_derivative(eo_tangent_kind_t kind, float v, float alpha, float beta)
{
    switch (kind) {
    case EO_TANGENT_TANH:
        return 1.0f - v * v;
    case EO_TANGENT_SIGMOID:
        return v * (1.0f - v);
    case EO_TANGENT_RELU:
        return v > 0.0f ? 1.0f : 0.0f;
    case EO_TANGENT_LEAKY_RELU: /* alpha > 0 keeps the sign of the input */
        return v > 0.0f ? 1.0f : alpha;
    case EO_TANGENT_CLIP: /* alpha, beta: bounds */
        return v > alpha && v < beta ? 1.0f : 0.0f;
    case EO_TANGENT_ELU: /* y = alpha (e^a - 1) below 0: dy/da = y + alpha */
        return v > 0.0f ? 1.0f : v + alpha;
    case EO_TANGENT_SELU: /* alpha, beta = gamma */
        return v > 0.0f ? beta : v + beta * alpha;
    default:
        return 1.0f;
    }
}

/* four derivatives under one switch: each case inlines eo_derivative for a known kind */
#define EO_DERIVATIVES4(k)                        \
    case k:                                       \
        d0 = eo_derivative(k, v0, alpha, beta);   \
        d1 = eo_derivative(k, v1, alpha, beta);   \
        d2 = eo_derivative(k, v2, alpha, beta);   \
        d3 = eo_derivative(k, v3, alpha, beta);   \
        break;

/* t[r][i] = s[r][i] * f'(a_i), with the derivative taken from the activation's output y;
 * s is t (in place) or the seed rows of a first layer. Four columns per pass keep their
 * derivatives in registers while every row is scaled. */
void eo_activation_tangent_f32(eo_tangent_kind_t kind, const float *y, const float *s, float *t,
                               int32_t rows, int32_t n, float alpha, float beta)
{
    int32_t r, i;
    for (i = 0; i + 4 <= n; i += 4) {
        const float v0 = y[i], v1 = y[i + 1], v2 = y[i + 2], v3 = y[i + 3];
        float d0 = 1.0f, d1 = 1.0f, d2 = 1.0f, d3 = 1.0f;
        const float *sr = s + i;
        float *tr = t + i;
        switch (kind) {
            EO_DERIVATIVES4(EO_TANGENT_TANH)
            EO_DERIVATIVES4(EO_TANGENT_SIGMOID)
            EO_DERIVATIVES4(EO_TANGENT_RELU)
            EO_DERIVATIVES4(EO_TANGENT_LEAKY_RELU)
            EO_DERIVATIVES4(EO_TANGENT_CLIP)
            EO_DERIVATIVES4(EO_TANGENT_ELU)
            EO_DERIVATIVES4(EO_TANGENT_SELU)
        default:
            break;
        }
        for (r = 0; r < rows; ++r, sr += n, tr += n) {
            const float a = sr[0] * d0, b = sr[1] * d1, c = sr[2] * d2, e = sr[3] * d3;
            tr[0] = a, tr[1] = b, tr[2] = c, tr[3] = e;
        }
    }
    for (; i < n; ++i) {
        const float d = eo_derivative(kind, y[i], alpha, beta);
        for (r = 0; r < rows; ++r) {
            t[r * n + i] = s[r * n + i] * d;
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
