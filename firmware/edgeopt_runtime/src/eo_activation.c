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

static inline float eo_tanh_in_range(float v)
{
    return eo_tanh_fit(v, 1.0f, 1.0f);
}

/* 1/2 + tanh(v/2)/2, with the halvings folded into the fit */
static inline float eo_sigmoid_in_range(float v)
{
    return 0.5f + eo_tanh_fit(v, 0.25f, 0.25f);
}

static inline float eo_tanh_inline(float v)
{
    if (v * v > 62.015625f) { /* |v| > 7.875 (exact in float) */
        return v > 0.0f ? 1.0f : -1.0f;
    }
    return eo_tanh_in_range(v);
}

static inline float eo_sigmoid_inline(float v)
{
    if (v * v > 248.0625f) { /* |v/2| > 7.875 */
        return v > 0.0f ? 1.0f : 0.0f;
    }
    return eo_sigmoid_in_range(v);
}

/* Out of line even here: the vector loops' rare paths call them instead of growing by
 * another copy of the fit each */
#if defined(__GNUC__)
#define EO_OUT_OF_LINE __attribute__((noinline))
#else
#define EO_OUT_OF_LINE
#endif

EO_OUT_OF_LINE float eo_tanhf(float v)
{
    return eo_tanh_inline(v);
}

EO_OUT_OF_LINE float eo_sigmoidf(float v)
{
    return eo_sigmoid_inline(v);
}

#if defined(__arm__) && defined(__ARM_FP) && defined(__GNUC__) && !defined(__clang__) /* 32-bit VFP */
/* a..d := four floats from p by one VLDM, p += 4 (GCC loads them one by one): explicit
 * registers are how GCC lets asm name a register list */
#define EO_LOAD4(p, a, b, c, d)                                                                       \
    do {                                                                                            \
        register float a_ __asm__("s24"), b_ __asm__("s25"), c_ __asm__("s26"), d_ __asm__("s27");  \
        __asm__("vldmia %4!, {s24-s27}" : "=t"(a_), "=t"(b_), "=t"(c_), "=t"(d_), "+r"(p) : : "memory"); \
        (a) = a_;                                                                                   \
        (b) = b_;                                                                                   \
        (c) = c_;                                                                                   \
        (d) = d_;                                                                                   \
    } while (0)
/* four floats to p by one VSTM, p += 4 (other registers than EO_LOAD4's: the inputs stay put) */
#define EO_STORE4(p, a, b, c, d)                                                                      \
    do {                                                                                            \
        register float a_ __asm__("s28") = (a), b_ __asm__("s29") = (b), c_ __asm__("s30") = (c);   \
        register float d_ __asm__("s31") = (d);                                                     \
        __asm__("vstmia %0!, {s28-s31}" : "+r"(p) : "t"(a_), "t"(b_), "t"(c_), "t"(d_) : "memory");  \
    } while (0)
#else
#define EO_LOAD4(p, a, b, c, d) ((a) = (p)[0], (b) = (p)[1], (c) = (p)[2], (d) = (p)[3], (p) += 4)
#define EO_STORE4(p, a, b, c, d) ((p)[0] = (a), (p)[1] = (b), (p)[2] = (c), (p)[3] = (d), (p) += 4)
#endif

void eo_tanh_f32(const float *x, float *y, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        y[i] = eo_tanh_inline(x[i]);
    }
}

void eo_sigmoid_f32(const float *x, float *y, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        y[i] = eo_sigmoid_inline(x[i]);
    }
}

/* Four elements per turn under one range test: while the sum of their squares stays within
 * the fit's range (|v| <= bound for each) so does each; NaN or a large value fails the test
 * and sends the four through `one`, the per-element function. The same values as the one
 * at a time loops above, faster, in about 300 B more code each. */
#define EO_FOUR_PER_TURN(name, bound_squared, in_range, one)                                   \
    void name(const float *x, float *y, int32_t n)                                               \
    {                                                                                            \
        const float *const end = x + (n & ~3);                                                   \
        while (x < end) {                                                                        \
            float a, b, c, d;                                                                    \
            EO_LOAD4(x, a, b, c, d);                                                             \
            if ((a * a + b * b) + (c * c + d * d) <= (bound_squared)) {                          \
                EO_STORE4(y, in_range(a), in_range(b), in_range(c), in_range(d));                \
            } else {                                                                             \
                EO_STORE4(y, one(a), one(b), one(c), one(d));                                    \
            }                                                                                    \
        }                                                                                        \
        for (n &= 3; n > 0; --n) {                                                               \
            *y++ = one(*x++);                                                                    \
        }                                                                                        \
    }

EO_FOUR_PER_TURN(eo_tanh4_f32, 62.015625f, eo_tanh_in_range, eo_tanhf)
EO_FOUR_PER_TURN(eo_sigmoid4_f32, 248.0625f, eo_sigmoid_in_range, eo_sigmoidf)

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
        y[i] = 0.5f * v * (1.0f + eo_tanh_inline(sqrt_2_over_pi * (v + 0.044715f * v * v * v)));
    }
}
