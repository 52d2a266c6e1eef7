/* Internal to the runtime: TFLite's (gemmlowp's) fixed-point helpers shared by the int8
 * kernel files. Not part of the public API. */
#ifndef EO_FIXEDPOINT_H
#define EO_FIXEDPOINT_H

#include <stdint.h>

/* round(a * b / 2^31) with ties away from zero, saturating the one overflow case */
static inline int32_t eo_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t nudge = ab >= 0 ? (1LL << 30) : (1 - (1LL << 30));
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    return (int32_t)((ab + nudge) / (1LL << 31));
}

/* x / 2^exponent rounded to nearest, ties away from zero */
static inline int32_t eo_rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)((1LL << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

static inline int32_t eo_clamp(int32_t v, int32_t low, int32_t high)
{
    return v < low ? low : (v > high ? high : v);
}

#endif /* EO_FIXEDPOINT_H */
