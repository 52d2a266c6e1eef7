/* Activations, one function each so a program links only those it uses. x and y may be
 * the same buffer: fused activations run in place on a kernel's output. */
#include <math.h>

#include "eo_runtime.h"

/* exp(v) - 1 for |v| <= 87, accurate relative to the result also near 0:
 * v = k ln2 + r with |r| <= ln2/2, a degree-6 polynomial for exp(r) - 1 (relative error
 * 2.6e-9 before float rounding), and 2^k put into the exponent bits. */
static float eo_expm1f(float v)
{
    const float t = v * 1.44269502f;
    const int32_t k = (int32_t)(t < 0.0f ? t - 0.5f : t + 0.5f); /* round to nearest */
    const float r = (v - (float)k * 0.693145752f) - (float)k * 1.42860677e-06f; /* ln2 hi + lo */
    float p = 0.00139485812f;
    union {
        float f;
        uint32_t u;
    } scale;
    p = p * r + 0.00837512873f;
    p = p * r + 0.0416662171f;
    p = p * r + 0.166664153f;
    p = p * r + 0.5f;
    p = (p * r + 1.0f) * r;
    if (k == 0) {
        return p;
    }
    scale.u = (uint32_t)(k + 127) << 23;
    return scale.f * (p + 1.0f) - 1.0f;
}

float eo_tanhf(float v)
{
    /* tanh|v| = e / (e + 2) with e = exp(2|v|) - 1; beyond 9, tanh is 1 in float */
    const float a = v < 0.0f ? -v : v;
    const float e = eo_expm1f(2.0f * (a < 9.0f ? a : 9.0f));
    const float t = e / (e + 2.0f);
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
