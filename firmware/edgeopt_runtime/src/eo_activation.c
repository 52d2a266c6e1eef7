/* Activations, one function each so a program links only those it uses. x and y may be
 * the same buffer: fused activations run in place on a kernel's output. All propagate NaN,
 * as the reference runtimes do. */
#include <math.h>

#include "eo_runtime.h"

/* tanh v = v P(v^2) / Q(v^2): a rational fit of our own (relative error 2e-8 before float
 * rounding, 3.3e-7 absolute after, about onnxruntime's own): small where an exp-based form
 * needs a range reduction (flash matters on microcontrollers). Beyond |v| = 7.875 tanh is
 * within 2.9e-7 of +-1, and up to there the fit stays at or below 1 (checked on every
 * float, with and without FMA contraction), so neither the input nor the value needs a
 * clamp; the fit is odd, so no sign needs restoring either: 24 instructions on FPv4. NaN
 * fails the comparison and propagates: tanh(NaN) is NaN, as in onnxruntime (a sensor fault
 * must not look like a reading). Inline, so that the vector loops keep the coefficients in
 * registers. */
static inline float eo_tanh_fit(float v, float s, float k)
{
    /* v k P(s v^2) / Q(s v^2); s and k are powers of two, so they fold into the
     * coefficients exactly. P and Q by powers: fewer register moves than Horner. */
    const float z = v * v, z2 = z * z;
    const float p = (k + k * s * 0.133810535f * z) +
                    z2 * ((k * s * s * 0.00349562336f + k * s * s * s * 2.0609652e-05f * z) +
                          k * s * s * s * s * 1.33554412e-08f * z2);
    const float q = (1.0f + s * 0.467143685f * z) +
                    z2 * ((s * s * 0.0258771144f + s * s * s * 0.000328569178f * z) +
                          s * s * s * s * 7.77688058e-07f * z2);
    return v * (p / q); /* this order rounds least */
}

static inline float eo_tanh_inline(float v)
{
    if (v * v > 62.015625f) { /* |v| > 7.875 (exact in float) */
        return v > 0.0f ? 1.0f : -1.0f;
    }
    return eo_tanh_fit(v, 1.0f, 1.0f);
}

/* 1/2 + tanh(v/2)/2, with the halvings folded into the fit: 26 instructions on FPv4 */
static inline float eo_sigmoid_inline(float v)
{
    if (v * v > 248.0625f) { /* |v/2| > 7.875 */
        return v > 0.0f ? 1.0f : 0.0f;
    }
    return 0.5f + eo_tanh_fit(v, 0.25f, 0.25f);
}

float eo_tanhf(float v)
{
    return eo_tanh_inline(v);
}

float eo_sigmoidf(float v)
{
    return eo_sigmoid_inline(v);
}

void eo_relu_f32(const float *x, float *y, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        y[i] = x[i] < 0.0f ? 0.0f : x[i]; /* NaN stays NaN */
    }
}

void eo_leaky_relu_f32(const float *x, float *y, int32_t n, float alpha)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        y[i] = x[i] >= 0.0f ? x[i] : alpha * x[i];
    }
}

/* Lower bound first, then upper: with min > max every value becomes max (ONNX). */
void eo_clip_f32(const float *x, float *y, int32_t n, float low, float high)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const float v = x[i] < low ? low : x[i];
        y[i] = v > high ? high : v;
    }
}

void eo_sigmoid_f32(const float *x, float *y, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        y[i] = eo_sigmoid_inline(x[i]);
    }
}

void eo_hard_sigmoid_f32(const float *x, float *y, int32_t n, float alpha, float beta)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const float v = alpha * x[i] + beta;
        y[i] = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
    }
}

void eo_hard_swish_f32(const float *x, float *y, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        float v = x[i] * (1.0f / 6.0f) + 0.5f;
        v = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
        y[i] = x[i] * v;
    }
}

void eo_tanh_f32(const float *x, float *y, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        y[i] = eo_tanh_inline(x[i]);
    }
}

void eo_elu_f32(const float *x, float *y, int32_t n, float alpha)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        y[i] = x[i] > 0.0f ? x[i] : alpha * expm1f(x[i]);
    }
}

void eo_selu_f32(const float *x, float *y, int32_t n, float alpha, float gamma)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        y[i] = gamma * (x[i] > 0.0f ? x[i] : alpha * expm1f(x[i]));
    }
}

void eo_rsqrt_f32(const float *x, float *y, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        y[i] = 1.0f / sqrtf(x[i]);
    }
}

void eo_gelu_f32(const float *x, float *y, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
    }
}

void eo_gelu_tanh_f32(const float *x, float *y, int32_t n)
{
    const float sqrt_2_over_pi = 0.79788456080286536f;
    int32_t i;
    for (i = 0; i < n; ++i) {
        const float v = x[i];
        y[i] = 0.5f * v * (1.0f + eo_tanhf(sqrt_2_over_pi * (v + 0.044715f * v * v * v)));
    }
}
