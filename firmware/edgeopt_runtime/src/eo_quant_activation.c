/* int8 activations and softmax with TFLM's gemmlowp fixed point. */
#include "eo_fixedpoint.h"
#include "eo_runtime.h"

static int32_t eo_shl_saturating(int32_t x, int32_t exponent)
{
    const int32_t threshold = (int32_t)((1LL << (31 - exponent)) - 1);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

/* exp(x) for x in [-1/4, 0), Q0.31 in and out */
static int32_t eo_exp_quarter(int32_t a)
{
    const int32_t constant_term = 1895147668;  /* exp(-1/8) */
    const int32_t one_third = 715827883;
    const int32_t x = a + (1 << 28);           /* a + 1/8 */
    const int32_t x2 = eo_rounding_doubling_high_mul(x, x);
    const int32_t x3 = eo_rounding_doubling_high_mul(x2, x);
    const int32_t x4 = eo_rounding_doubling_high_mul(x2, x2);
    const int32_t x4_over_4 = eo_rounding_divide_by_pot(x4, 2);
    const int32_t poly = eo_rounding_divide_by_pot(
        eo_rounding_doubling_high_mul(x4_over_4 + x3, one_third) + x2, 1);
    return constant_term + eo_rounding_doubling_high_mul(constant_term, x + poly);
}

/* exp(a) for a <= 0 given with `integer_bits` integer bits (Q5.26 for softmax, Q4.27 for
 * logistic); result in Q0.31 (gemmlowp's exp_on_negative_values) */
static int32_t eo_exp_negative(int32_t a, int32_t integer_bits)
{
    static const int32_t multipliers[7] = {1672461947, 1302514674, 790015084, 290630308,
                                           39332535, 720401, 242};
    const int32_t fractional = 31 - integer_bits;
    const int32_t quarter = 1 << (fractional - 2);
    const int32_t a_mod_quarter_minus_quarter = (a & (quarter - 1)) - quarter;
    const int32_t remainder = a_mod_quarter_minus_quarter - a;
    int32_t result = eo_exp_quarter(eo_shl_saturating(a_mod_quarter_minus_quarter, integer_bits));
    int32_t k;
    for (k = 0; k < 7 && k - 2 < integer_bits; ++k) { /* exp(-2^(k-2)) per set remainder bit */
        if (remainder & (1 << (fractional - 2 + k))) {
            result = eo_rounding_doubling_high_mul(result, multipliers[k]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

/* 2 / (1 + x) for x in [0, 1), Q0.31 in, Q2.29 out (gemmlowp's Newton-Raphson) */
static int32_t eo_two_over_one_plus(int32_t a)
{
    const int64_t sum = (int64_t)a + INT32_MAX;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    int32_t x = 1515870810 + eo_rounding_doubling_high_mul(half_denominator, -1010580540);
    int32_t i;
    for (i = 0; i < 3; ++i) {
        const int32_t product = eo_rounding_doubling_high_mul(half_denominator, x);
        const int32_t one_minus = (1 << 29) - product;
        x = x + eo_shl_saturating(eo_rounding_doubling_high_mul(x, one_minus), 2);
    }
    return x;
}

/* 1 / (1 + x), Q0.31 in and out */
static int32_t eo_reciprocal_one_plus(int32_t a)
{
    return eo_shl_saturating(eo_two_over_one_plus(a), 1);
}

static int32_t eo_count_leading_zeros(uint32_t v)
{
    int32_t n = 0;
    if (v == 0u) {
        return 32;
    }
    while (!(v & 0x80000000u)) {
        v <<= 1;
        ++n;
    }
    return n;
}

void eo_softmax_s8(const eo_softmax_s8_params_t *p, const int8_t *x, int8_t *y)
{
    int32_t i, c;
    for (i = 0; i < p->outer; ++i) {
        const int8_t *row = x + i * p->depth;
        int8_t *out = y + i * p->depth;
        int32_t max_in_row = -128, sum = 0, headroom, bits_over_unit, scale;
        for (c = 0; c < p->depth; ++c) {
            max_in_row = row[c] > max_in_row ? row[c] : max_in_row;
        }
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)row[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t scaled = eo_rounding_doubling_high_mul(
                    (int32_t)((uint32_t)diff << p->input_left_shift), p->input_multiplier);
                sum += eo_rounding_divide_by_pot(eo_exp_negative(scaled, 5), 12); /* Q12.19 */
            }
        }
        headroom = eo_count_leading_zeros((uint32_t)sum);
        bits_over_unit = 12 - headroom;
        scale = eo_reciprocal_one_plus(
            (int32_t)(((uint32_t)sum << headroom) - (1u << 31)));
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)row[c] - max_in_row;
            int32_t v = -128;
            if (diff >= p->diff_min) {
                const int32_t scaled = eo_rounding_doubling_high_mul(
                    (int32_t)((uint32_t)diff << p->input_left_shift), p->input_multiplier);
                const int32_t e = eo_exp_negative(scaled, 5);
                v = eo_rounding_divide_by_pot(eo_rounding_doubling_high_mul(scale, e),
                                              bits_over_unit + 31 - 8) - 128;
            }
            out[c] = (int8_t)eo_clamp(v, -128, 127);
        }
    }
}

void eo_leaky_relu_s8(const int8_t *x, int8_t *y, int32_t n, int32_t in_offset, int32_t identity_m,
                      int32_t identity_s, int32_t alpha_m, int32_t alpha_s, int32_t out_offset)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t v = (int32_t)x[i] + in_offset;
        const int32_t r = v >= 0 ? eo_requantize(v, identity_m, identity_s) : eo_requantize(v, alpha_m, alpha_s);
        y[i] = (int8_t)eo_clamp(r + out_offset, -128, 127);
    }
}

/* LOGISTIC and TANH share TFLM's frame: inputs beyond the radius saturate, the rest go to
 * Q4.27 and through gemmlowp's fixed-point function, then to int8. */
static void eo_q4_activation_s8(const int8_t *x, int8_t *y, int32_t n, int32_t in_zero_point,
                                int32_t radius, int32_t multiplier, int32_t left_shift, int32_t tanh)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t input = (int32_t)x[i] - in_zero_point;
        int32_t out;
        if (input <= -radius) {
            out = -128;
        } else if (input >= radius) {
            out = 127;
        } else {
            const int32_t q4 = eo_requantize(input, multiplier, left_shift); /* Q4.27 */
            int32_t q0;
            if (tanh) {
                /* tanh|a| = (1 - e) / (1 + e), e = exp(-2|a|): the raw Q4.27 read as Q5.26 is 2a */
                const int32_t e = eo_exp_negative(q4 > 0 ? -q4 : q4, 5);
                const int32_t t = eo_shl_saturating(eo_two_over_one_plus(e) - (1 << 29), 2);
                q0 = q4 == 0 ? 0 : (q4 > 0 ? t : -t);
                out = eo_rounding_divide_by_pot(q0, 24); /* output scale 1/128, zero point 0 */
            } else {
                const int32_t positive = eo_reciprocal_one_plus(eo_exp_negative(q4 > 0 ? -q4 : q4, 4));
                q0 = q4 == 0 ? 1 << 30 : (q4 > 0 ? positive : INT32_MAX - positive);
                out = eo_rounding_divide_by_pot(q0, 23) - 128; /* scale 1/256, zero point -128 */
            }
            out = eo_clamp(out, -128, 127);
        }
        y[i] = (int8_t)out;
    }
}

void eo_logistic_s8(const int8_t *x, int8_t *y, int32_t n, int32_t in_zero_point, int32_t radius,
                    int32_t multiplier, int32_t left_shift)
{
    eo_q4_activation_s8(x, y, n, in_zero_point, radius, multiplier, left_shift, 0);
}

void eo_tanh_s8(const int8_t *x, int8_t *y, int32_t n, int32_t in_zero_point, int32_t radius,
                int32_t multiplier, int32_t left_shift)
{
    eo_q4_activation_s8(x, y, n, in_zero_point, radius, multiplier, left_shift, 1);
}

/* int16 fixed point (Q15) products as gemmlowp's: rounded (SQRDMULH) and truncated (SQDMULH) */
static int32_t eo_q15_rounding_high_mul(int32_t a, int32_t b)
{
    const int32_t ab = a * b;
    if (a == INT16_MIN && b == INT16_MIN) {
        return INT16_MAX;
    }
    return (ab + (ab >= 0 ? (1 << 14) : 1 - (1 << 14))) / (1 << 15);
}

static int32_t eo_q15_high_mul(int32_t a, int32_t b)
{
    if (a == INT16_MIN && b == INT16_MIN) {
        return INT16_MAX;
    }
    return (a * b) / (1 << 15);
}

static int32_t eo_q15_shl_saturating(int32_t x, int32_t amount)
{
    const int64_t v = (int64_t)x * ((int64_t)1 << amount);
    return v > INT16_MAX ? INT16_MAX : (v < INT16_MIN ? INT16_MIN : (int32_t)v);
}

void eo_hard_swish_s8(const eo_hard_swish_s8_params_t *p, const int8_t *x, int8_t *y, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t hires = ((int32_t)x[i] - p->in_zero_point) * (1 << 7);
        const int32_t preshift = eo_q15_rounding_high_mul(hires, p->out_multiplier);
        /* relu6(x + 3) / 6 as Q15 in [0, 1]: rescale to [-1, 1] saturating, then shift up */
        int32_t reluish = hires;
        int32_t v;
        if (p->reluish_exponent > 0) {
            reluish = eo_q15_shl_saturating(reluish, p->reluish_exponent - 1);
        }
        reluish = eo_q15_rounding_high_mul(reluish, p->reluish_multiplier);
        if (p->reluish_exponent > 0) {
            reluish = eo_q15_shl_saturating(reluish, 1);
        } else if (p->reluish_exponent < 0) {
            reluish = eo_rounding_divide_by_pot(reluish, -p->reluish_exponent);
        }
        reluish = (reluish + (1 << 15)) >> 1;
        v = eo_rounding_divide_by_pot(eo_q15_high_mul(reluish, preshift), -p->out_exponent) +
            p->out_zero_point;
        y[i] = (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
    }
}

/* TFLite's GetInvSqrtQuantizedMultiplierExp: 1 / sqrt(input) as a Q31 multiplier and a left
 * shift (<= 0), by five Newton-Raphson steps in gemmlowp's Q3.28; inputs <= 1 give the
 * largest multiplier, as in TFLite. */
static void eo_inv_sqrt_multiplier(int32_t input, int32_t *multiplier, int32_t *shift)
{
    const int32_t half_three = (1 << 28) + (1 << 27);
    int32_t exponent = 11, pairs, half_input, x, i;
    if (input <= 1) {
        *multiplier = INT32_MAX;
        *shift = 0;
        return;
    }
    while (input >= (1 << 29)) {
        input /= 4;
        ++exponent;
    }
    for (pairs = 0; input < (1 << 27); ++pairs) { /* to [2^27, 2^29) by pairs of bits */
        input <<= 2;
    }
    exponent -= pairs;
    half_input = eo_rounding_divide_by_pot(input >> 1, 1);
    x = 1 << 28; /* 1 in Q3.28 */
    for (i = 0; i < 5; ++i) {
        const int32_t x3 = eo_shl_saturating(
            eo_rounding_doubling_high_mul(eo_rounding_doubling_high_mul(x, x), x), 6);
        x = eo_shl_saturating(eo_rounding_doubling_high_mul(half_three, x) -
                                  eo_rounding_doubling_high_mul(half_input, x3), 3);
    }
    x = eo_rounding_doubling_high_mul(x, 1518500250); /* sqrt(2) / 2 in Q0.31 */
    if (exponent < 0) {
        x = (int32_t)((uint32_t)x << -exponent);
        exponent = 0;
    }
    *multiplier = x;
    *shift = -exponent;
}

void eo_rsqrt_s8(const int8_t *x, int8_t *y, int32_t n, int32_t in_zero_point, int32_t multiplier,
                 int32_t shift, int32_t out_zero_point)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t value = (int32_t)x[i] - in_zero_point;
        int32_t inv_multiplier, inv_shift, v = 127; /* 0 (and below): the largest output, as TFLM */
        if (value > 0) {
            eo_inv_sqrt_multiplier(value, &inv_multiplier, &inv_shift);
            /* 2^20 keeps 1 / sqrt(value) an integer in between (TFLM's kShift) */
            v = eo_requantize(eo_requantize(1, inv_multiplier, inv_shift + 20), multiplier, shift - 20) +
                out_zero_point;
        }
        y[i] = (int8_t)eo_clamp(v, -128, 127);
    }
}

void eo_l2_normalize_s8(const int8_t *x, int8_t *y, int32_t outer, int32_t depth, int32_t zero_point)
{
    int32_t o, i;
    for (o = 0; o < outer; ++o) {
        const int8_t *row = x + o * depth;
        int32_t sum = 0, multiplier, shift;
        for (i = 0; i < depth; ++i) {
            const int32_t v = (int32_t)row[i] - zero_point;
            sum += v * v;
        }
        eo_inv_sqrt_multiplier(sum, &multiplier, &shift);
        for (i = 0; i < depth; ++i) { /* output scale 1/128: 2^7 folded into the shift */
            y[o * depth + i] = (int8_t)eo_clamp(eo_requantize((int32_t)row[i] - zero_point, multiplier, shift + 7),
                                                -128, 127);
        }
    }
}
