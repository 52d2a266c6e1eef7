/* int8 kernels with TFLite's integer semantics (bit-exact with its reference kernels). */
#include <math.h>

#include "eo_runtime.h"

/* round(a * b / 2^31) with ties away from zero, saturating the one overflow case */
static int32_t eo_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t nudge = ab >= 0 ? (1LL << 30) : (1 - (1LL << 30));
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    return (int32_t)((ab + nudge) / (1LL << 31));
}

/* x / 2^exponent rounded to nearest, ties away from zero */
static int32_t eo_rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)((1LL << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

int32_t eo_requantize(int32_t acc, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    return eo_rounding_divide_by_pot(
        eo_rounding_doubling_high_mul((int32_t)((uint32_t)acc << left), multiplier), right);
}

void eo_fully_connected_s8(const eo_fc_s8_params_t *p, const int8_t *x, const int8_t *w,
                           const int32_t *bias, int8_t *y)
{
    int32_t r, o, i;
    for (r = 0; r < p->rows; ++r) {
        const int8_t *xr = x + r * p->ins;
        for (o = 0; o < p->outs; ++o) {
            const int8_t *wo = w + o * p->ins;
            const int32_t c = p->per_channel ? o : 0;
            /* bias already holds bias + input_offset * sum(w) (folded at compile time) */
            int32_t acc = bias[o];
            for (i = 0; i < p->ins; ++i) {
                acc += (int32_t)xr[i] * (int32_t)wo[i];
            }
            acc = eo_requantize(acc, p->multipliers[c], p->shifts[c]) + p->output_offset;
            acc = acc < p->act_min ? p->act_min : (acc > p->act_max ? p->act_max : acc);
            y[r * p->outs + o] = (int8_t)acc;
        }
    }
}

void eo_quantize_f32_s8(const float *x, int8_t *y, int32_t n, float scale, int32_t zero_point)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        int32_t v = (int32_t)roundf(x[i] / scale) + zero_point;
        v = v < -128 ? -128 : (v > 127 ? 127 : v);
        y[i] = (int8_t)v;
    }
}

void eo_dequantize_s8_f32(const int8_t *x, float *y, int32_t n, float scale, int32_t zero_point)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        y[i] = (float)((int32_t)x[i] - zero_point) * scale;
    }
}
