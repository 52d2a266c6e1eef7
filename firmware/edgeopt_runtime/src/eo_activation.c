/* Activations, one function each so a program links only those it uses. x and y may be
 * the same buffer: fused activations run in place on a kernel's output. All propagate NaN,
 * as the reference runtimes do. */
#include <math.h>

#include "eo_runtime.h"

/* The fit's coefficients: P(z) = 1 + P1 z + ... + P4 z^4, Q(z) = 1 + Q1 z + ... + Q4 z^4 */
#define EO_TANH_P1 0.133810535f
#define EO_TANH_P2 0.00349562336f
#define EO_TANH_P3 2.0609652e-05f
#define EO_TANH_P4 1.33554412e-08f
#define EO_TANH_Q1 0.467143685f
#define EO_TANH_Q2 0.0258771144f
#define EO_TANH_Q3 0.000328569178f
#define EO_TANH_Q4 7.77688058e-07f
/* The coefficients of v k P(s v^2) / Q(s v^2) with s and k folded in, for the C fit and the
 * asm loops' table alike (the same products, so the same floats) */
#define EO_FIT_P1(s, k) ((k) * (s) * EO_TANH_P1)
#define EO_FIT_P2(s, k) ((k) * (s) * (s) * EO_TANH_P2)
#define EO_FIT_P3(s, k) ((k) * (s) * (s) * (s) * EO_TANH_P3)
#define EO_FIT_P4(s, k) ((k) * (s) * (s) * (s) * (s) * EO_TANH_P4)
#define EO_FIT_Q1(s) ((s) * EO_TANH_Q1)
#define EO_FIT_Q2(s) ((s) * (s) * EO_TANH_Q2)
#define EO_FIT_Q3(s) ((s) * (s) * (s) * EO_TANH_Q3)
#define EO_FIT_Q4(s) ((s) * (s) * (s) * (s) * EO_TANH_Q4)
#define EO_TANH_BOUND_SQUARED 62.015625f    /* |v| > 7.875 beyond (exact in float) */
#define EO_SIGMOID_BOUND_SQUARED 248.0625f /* |v/2| > 7.875 */

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
    const float p = (k + EO_FIT_P1(s, k) * z) +
                    z2 * ((EO_FIT_P2(s, k) + EO_FIT_P3(s, k) * z) + EO_FIT_P4(s, k) * z2);
    const float q = (1.0f + EO_FIT_Q1(s) * z) + z2 * ((EO_FIT_Q2(s) + EO_FIT_Q3(s) * z) + EO_FIT_Q4(s) * z2);
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
    if (v * v > EO_TANH_BOUND_SQUARED) {
        return v > 0.0f ? 1.0f : -1.0f;
    }
    return eo_tanh_in_range(v);
}

static inline float eo_sigmoid_inline(float v)
{
    if (v * v > EO_SIGMOID_BOUND_SQUARED) {
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
 * and sends the four through `one`, the per-element function. `quads` runs the quads that
 * pass, up to the first that does not. The same values as the one at a time loops above
 * (the same operations in the same order), faster, in about 400 B more code each. */
#define EO_FOUR_PER_TURN(name, quads, one)                                                       \
    void name(const float *x, float *y, int32_t n)                                               \
    {                                                                                            \
        const float *const end = x + (n & ~3);                                                   \
        while (x < end) {                                                                        \
            quads(&x, &y, end);                                                                  \
            if (x < end) {                                                                       \
                y[0] = one(x[0]);                                                                \
                y[1] = one(x[1]);                                                                \
                y[2] = one(x[2]);                                                                \
                y[3] = one(x[3]);                                                                \
                x += 4;                                                                          \
                y += 4;                                                                          \
            }                                                                                    \
        }                                                                                        \
        for (n &= 3; n > 0; --n) {                                                               \
            *y++ = one(*x++);                                                                    \
        }                                                                                        \
    }

#if defined(__arm__) && defined(__ARM_FP) && defined(__GNUC__) && !defined(__clang__) /* 32-bit VFP */
/* FPv4/FPv5 in asm: GCC keeps only some of the fit's ten coefficients in registers and copies
 * the rest about, 6 moves per element. Here the coefficients stay in s16-s27 (table
 * order), a quad comes by one VLDM into s0-s3, their squares in s4-s7, the values leave
 * from s28-s31 by one VSTM. Per element: the fit as eo_tanh_fit computes it (GCC's
 * contractions: a + b * c is one VFMA), then `last` with the quotient in s13. */
#define EO_FIT_ELEMENT(v, z, out, last)                                                          \
    "vmul.f32 s8, " z ", " z "\n\t"          /* z2 */                                            \
    "vmov.f32 s9, s18\n\t"                                                                       \
    "vfma.f32 s9, " z ", s19\n\t"            /* P2 + P3 z */                                     \
    "vfma.f32 s9, s8, s20\n\t"               /* + P4 z2 */                                       \
    "vmov.f32 s10, s16\n\t"                                                                      \
    "vfma.f32 s10, " z ", s17\n\t"           /* k + P1 z */                                      \
    "vfma.f32 s10, s8, s9\n\t"               /* p */                                             \
    "vmov.f32 s11, s23\n\t"                                                                      \
    "vfma.f32 s11, " z ", s24\n\t"                                                               \
    "vfma.f32 s11, s8, s25\n\t"                                                                  \
    "vmov.f32 s12, s21\n\t"                                                                      \
    "vfma.f32 s12, " z ", s22\n\t"                                                               \
    "vfma.f32 s12, s8, s11\n\t"              /* q */                                             \
    "vdiv.f32 s13, s10, s12\n\t" last(v, out)
#define EO_TANH_LAST(v, out) "vmul.f32 " out ", " v ", s13\n\t"            /* v (p / q) */
#define EO_SIGMOID_LAST(v, out) "vmov.f32 " out ", s27\n\tvfma.f32 " out ", " v ", s13\n\t" /* 1/2 + ... */
/* fit: {k, k s P1, .., k s^4 P4, 1, s Q1, .., s^4 Q4, the bound of v^2, 1/2} */
#define EO_FIT_TABLE(s, k, bound_squared)                                                        \
    {(k), EO_FIT_P1(s, k), EO_FIT_P2(s, k), EO_FIT_P3(s, k), EO_FIT_P4(s, k), 1.0f, EO_FIT_Q1(s),        \
     EO_FIT_Q2(s), EO_FIT_Q3(s), EO_FIT_Q4(s), (bound_squared), 0.5f}
#define EO_QUADS(name, s, k, bound_squared, last)                                                \
    static void name(const float **x, float **y, const float *end)                               \
    {                                                                                            \
        static const float fit[12] = EO_FIT_TABLE(s, k, bound_squared);                          \
        const float *from = *x;                                                                  \
        float *to = *y;                                                                          \
        __asm__ volatile(                                                                        \
            "vldmia %[fit], {s16-s27}\n"                                                         \
            "1:\n\t"                                                                             \
            "vldmia %[from]!, {s0-s3}\n\t"                                                       \
            "vmul.f32 s4, s0, s0\n\t"                                                            \
            "vmul.f32 s5, s1, s1\n\t"                                                            \
            "vmul.f32 s6, s2, s2\n\t"                                                            \
            "vmul.f32 s7, s3, s3\n\t"                                                            \
            "vadd.f32 s8, s4, s5\n\t"                                                            \
            "vadd.f32 s9, s6, s7\n\t"                                                            \
            "vadd.f32 s8, s8, s9\n\t"                                                            \
            "vcmpe.f32 s8, s26\n\t"                                                              \
            "vmrs APSR_nzcv, fpscr\n\t"                                                          \
            "bhi 2f\n\t" /* beyond the bound, or NaN */                                          \
            EO_FIT_ELEMENT("s0", "s4", "s28", last) EO_FIT_ELEMENT("s1", "s5", "s29", last)      \
            EO_FIT_ELEMENT("s2", "s6", "s30", last) EO_FIT_ELEMENT("s3", "s7", "s31", last)      \
            "vstmia %[to]!, {s28-s31}\n\t"                                                       \
            "cmp %[from], %[end]\n\t"                                                            \
            "blo 1b\n\t"                                                                         \
            "b 3f\n"                                                                             \
            "2:\n\t"                                                                             \
            "sub %[from], %[from], #16\n" /* back to the quad that failed */                     \
            "3:\n"                                                                               \
            : [from] "+r"(from), [to] "+r"(to)                                                   \
            : [end] "r"(end), [fit] "r"(fit)                                                     \
            : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12",   \
              "s13", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24", "s25", "s26", \
              "s27", "s28", "s29", "s30", "s31", "cc", "memory");                                \
        *x = from;                                                                               \
        *y = to;                                                                                 \
    }
EO_QUADS(eo_tanh_quads, 1.0f, 1.0f, EO_TANH_BOUND_SQUARED, EO_TANH_LAST)
EO_QUADS(eo_sigmoid_quads, 0.25f, 0.25f, EO_SIGMOID_BOUND_SQUARED, EO_SIGMOID_LAST)
#else
#define EO_QUADS(name, bound_squared, in_range)                                                  \
    static void name(const float **x, float **y, const float *end)                               \
    {                                                                                            \
        const float *from = *x;                                                                  \
        float *to = *y;                                                                          \
        for (; from < end; from += 4, to += 4) {                                                 \
            const float a = from[0], b = from[1], c = from[2], d = from[3];                      \
            if (!((a * a + b * b) + (c * c + d * d) <= (bound_squared))) {                       \
                break;                                                                           \
            }                                                                                    \
            to[0] = in_range(a);                                                                 \
            to[1] = in_range(b);                                                                 \
            to[2] = in_range(c);                                                                 \
            to[3] = in_range(d);                                                                 \
        }                                                                                        \
        *x = from;                                                                               \
        *y = to;                                                                                 \
    }
EO_QUADS(eo_tanh_quads, EO_TANH_BOUND_SQUARED, eo_tanh_in_range)
EO_QUADS(eo_sigmoid_quads, EO_SIGMOID_BOUND_SQUARED, eo_sigmoid_in_range)
#endif

EO_FOUR_PER_TURN(eo_tanh4_f32, eo_tanh_quads, eo_tanhf)
EO_FOUR_PER_TURN(eo_sigmoid4_f32, eo_sigmoid_quads, eo_sigmoidf)

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
