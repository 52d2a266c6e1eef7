/* Activations, one function each so a program links only those it uses. x and y may be
 * the same buffer: fused activations run in place on a kernel's output. */
#include <math.h>

#include "eo_runtime.h"

/* exp(v) for |v| <= 88: v = k ln2 + r, |r| <= ln2/2, degree-6 polynomial for exp(r)
 * (relative error 2.6e-9 before float rounding), 2^k put into the exponent bits. */
static float eo_expf(float v)
{
    const float k = floorf(v * 1.44269502f + 0.5f);
    const float r = (v - k * 0.693145752f) - k * 1.42860677e-06f; /* ln2 split hi + lo */
    float p = 0.00139485812f;
    union {
        float f;
        uint32_t u;
    } scale;
    p = p * r + 0.00837512873f;
    p = p * r + 0.0416662171f;
    p = p * r + 0.166664153f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    scale.u = (uint32_t)((int32_t)k + 127) << 23;
    return p * scale.f;
}

float eo_tanhf(float v)
{
    const float a = v < 0.0f ? -v : v;
    float t;
    if (a < 0.625f) {
        /* odd polynomial: tanh(x) / x in x^2, relative error 1.5e-10 before rounding */
        const float u = v * v;
        float p = 0.00213030865f;
        p = p * u - 0.00816123094f;
        p = p * u + 0.0216927547f;
        p = p * u - 0.0539448895f;
        p = p * u + 0.13333185f;
        p = p * u - 0.333333284f;
        p = p * u + 1.0f;
        return v * p;
    }
    if (a >= 9.0f) {
        t = 1.0f; /* 1 - tanh(9) is below float resolution at 1 */
    } else {
        t = 1.0f - 2.0f / (eo_expf(2.0f * a) + 1.0f);
    }
    return v < 0.0f ? -t : t;
}

float eo_sigmoidf(float v)
{
    return 0.5f + 0.5f * eo_tanhf(0.5f * v);
}

void eo_relu_f32(const float *x, float *y, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
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
        y[i] = eo_sigmoidf(x[i]);
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
        y[i] = eo_tanhf(x[i]);
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
