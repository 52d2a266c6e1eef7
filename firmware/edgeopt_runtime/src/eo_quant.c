/* int8 kernels with TFLite's integer semantics (bit-exact with its reference kernels). */
#include <math.h>
#include <string.h>

#include "eo_runtime.h"

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#endif

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

#if defined(__ARM_FEATURE_DSP)
/* The DSP kernels' requantization with the channel's constants precomputed by the compiler
 * (dsp_requantization in edgeopt/ops/quantized_linear.py): the accumulator comes scaled so
 * that one SMMULR is TFLite's rounding doubling high product h, then one shift of
 * 2h + constant + sign(h) divides by 2^e with ties away from zero and adds the output offset. */
static inline int32_t eo_requantize_channel(int32_t acc, const eo_channel_s8_t *c)
{
    int32_t high;
    __asm__("smmulr %0, %1, %2" : "=r"(high) : "r"(acc), "r"(c->multiplier));
    return (high * 2 + c->round + (high >> 31)) >> c->shift;
}

/* One channel's output, requantized and saturated to int8 (SSAT as asm: GCC 12's __ssat
 * trips -Wsign-conversion inside its own macro) */
static inline uint32_t eo_output(int32_t acc, const eo_channel_s8_t *c)
{
    uint32_t out;
    __asm__("ssat %0, #8, %1" : "=r"(out) : "r"(eo_requantize_channel(acc, c)));
    return out;
}

/* Byte lane lsb / 8 of lanes := the low byte of v */
#define EO_SET_LANE(lanes, v, lsb) __asm__("bfi %0, %1, #" #lsb ", #8" : "+r"(lanes) : "r"(v))

/* The activation range, four int8 lanes each */
typedef struct {
    uint32_t low, high;
} eo_output_range_t;

static eo_output_range_t eo_output_range(int32_t act_min, int32_t act_max)
{
    const eo_output_range_t range = {(uint8_t)act_min * 0x01010101u, (uint8_t)act_max * 0x01010101u};
    return range;
}

/* Four outputs, one per channel c0..c3: requantized, saturated, and clamped to the
 * activation range as four int8 lanes (lane 0 from a0). */
static inline uint32_t eo_outputs4(int32_t a0, int32_t a1, int32_t a2, int32_t a3,
                                   const eo_channel_s8_t *c0, const eo_channel_s8_t *c1,
                                   const eo_channel_s8_t *c2, const eo_channel_s8_t *c3,
                                   const eo_output_range_t *r)
{
    uint32_t lanes = eo_output(a0, c0);
    EO_SET_LANE(lanes, eo_output(a1, c1), 8);
    EO_SET_LANE(lanes, eo_output(a2, c2), 16);
    EO_SET_LANE(lanes, eo_output(a3, c3), 24);
    (void)__ssub8((int8x4_t)lanes, (int8x4_t)r->low); /* lanes >= low sets GE */
    lanes = __sel((uint8x4_t)lanes, (uint8x4_t)r->low);
    (void)__ssub8((int8x4_t)r->high, (int8x4_t)lanes); /* high >= lanes sets GE */
    return __sel((uint8x4_t)lanes, (uint8x4_t)r->high);
}

/* SXTB16 of the bytes 1 and 3: {x1, x3} */
static inline int16x2_t eo_sxtb16_ror8(uint32_t v)
{
    int16x2_t odd;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(odd) : "r"(v));
    return odd;
}

/* Two words from an 8-byte aligned address */
#define EO_LDRD_AT(lo, hi, ptr) __asm__("ldrd %0, %1, [%2]" : "=&r"(lo), "=&r"(hi) : "r"(ptr) : "memory")

/* Four int8 inputs as the pair kernel's two int16 words: {x0, x2}, {x1, x3} */
static inline void eo_expand4(uint32_t *dst, uint32_t v)
{
    dst[0] = (uint32_t)__sxtb16((int32_t)v);
    dst[1] = (uint32_t)eo_sxtb16_ror8(v);
}

/* The inner passes of the matrix-product kernels are assembly so that GCC keeps all twelve
 * values in registers (it spills when it schedules SMLADs itself): four accumulators a0..a3,
 * four words of int16 input pairs xa..xd, two words of weights, and the two pointers. */
#define EO_DSP_PASS(text)                                                                   \
    do {                                                                                    \
        uint32_t xa, xb, xc, xd, w0, w1;                                                    \
        __asm__(text                                                                        \
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3),               \
                  [xp] "+r"(xp), [wp] "+r"(wp), [xa] "=&r"(xa), [xb] "=&r"(xb),             \
                  [xc] "=&r"(xc), [xd] "=&r"(xd), [w0] "=&r"(w0), [w1] "=&r"(w1)            \
                :                                                                           \
                : "memory");                                                                \
    } while (0)
/* xa..xd := the next four words of int16 input pairs (eo_expand4) */
#define EO_INT16_INPUTS_ASM "ldrd %[xa], %[xb], [%[xp]], #8\n\tldrd %[xc], %[xd], [%[xp]], #8\n\t"
/* xa..xd := eight int8 inputs from any address (LDR allows unaligned ones, LDRD does not)
 * as the pairs {x0, x2}, {x1, x3}, {x4, x6}, {x5, x7} */
#define EO_INT8_INPUTS_ASM                                                                  \
    "ldr %[xd], [%[xp], #4]\n\tldr %[xb], [%[xp]], #8\n\t"                                \
    "sxtb16 %[xa], %[xb]\n\tsxtb16 %[xb], %[xb], ror #8\n\t"                              \
    "sxtb16 %[xc], %[xd]\n\tsxtb16 %[xd], %[xd], ror #8\n\t"

/* Fully-connected pass: acc += one output's next 8 weights (two LDRDs) times xa..xd */
#define EO_FC_OUTPUT_ASM(acc)                                                               \
    "ldrd %[w0], %[w1], [%[wp]], #8\n\t"                                                   \
    "smlad " acc ", %[xa], %[w0], " acc "\n\t"                                            \
    "smlad " acc ", %[xb], %[w1], " acc "\n\t"                                            \
    "ldrd %[w0], %[w1], [%[wp]], #8\n\t"                                                   \
    "smlad " acc ", %[xc], %[w0], " acc "\n\t"                                            \
    "smlad " acc ", %[xd], %[w1], " acc "\n\t"
#define EO_FC_OUTPUTS_ASM                                                                   \
    EO_FC_OUTPUT_ASM("%[a0]") EO_FC_OUTPUT_ASM("%[a1]") EO_FC_OUTPUT_ASM("%[a2]") EO_FC_OUTPUT_ASM("%[a3]")

/* Pair pass, per 4 inputs: row 0's two words in xa, xb, row 1's in xc, xd; acc_a (row 0) and
 * acc_b (row 1) += against one output's 4 weights (one LDRD) */
#define EO_PAIR_OUTPUT_ASM(acc_a, acc_b)                                                    \
    "ldrd %[w0], %[w1], [%[wp]], #8\n\t"                                                   \
    "smlad " acc_a ", %[xa], %[w0], " acc_a "\n\t"                                        \
    "smlad " acc_a ", %[xb], %[w1], " acc_a "\n\t"                                        \
    "smlad " acc_b ", %[xc], %[w0], " acc_b "\n\t"                                        \
    "smlad " acc_b ", %[xd], %[w1], " acc_b "\n\t"
/* Eight inputs of both rows against both outputs: a0, a1 row 0's outputs, a2, a3 row 1's */
#define EO_PAIR_EIGHT_ASM                                                                   \
    EO_INT16_INPUTS_ASM EO_PAIR_OUTPUT_ASM("%[a0]", "%[a2]") EO_PAIR_OUTPUT_ASM("%[a1]", "%[a3]") \
    EO_INT16_INPUTS_ASM EO_PAIR_OUTPUT_ASM("%[a0]", "%[a2]") EO_PAIR_OUTPUT_ASM("%[a1]", "%[a3]")

/* Cortex-M4/M7/M33, one row at a time (fully-connected layers): four outputs x eight inputs
 * per pass with SMLAD on int16 pairs. The inputs become int16 pairs with SXTB16: once per
 * row into `expanded` when given (several blocks of outputs share them), else on the fly
 * (no scratch: long rows stay cheap in RAM). The weights are pre-arranged by the compiler
 * (see eo_runtime.h), so one LDRD brings four; the four outputs leave as one word. */
void eo_fully_connected_s8_dsp(const eo_fc_s8_params_t *p, const int8_t *x, const int16_t *w,
                               const eo_channel_s8_t *channels, int8_t *y, uint32_t *expanded)
{
    const eo_output_range_t range = eo_output_range(p->act_min, p->act_max);
    const int32_t outs = p->outs, full = outs & ~3;
    int32_t r, o, k;
    for (r = 0; r < p->rows; ++r) {
        const int8_t *xr = x + r * p->ins, *x_end = xr + p->ins;
        const uint32_t *wp = (const uint32_t *)(const void *)w; /* the blocks follow each other */
        const eo_channel_s8_t *c = channels;
        int8_t *yo = y + r * outs;
        if (expanded) {
            for (k = 0; k < p->ins; k += 4) {
                uint32_t v;
                memcpy(&v, xr + k, 4);
                eo_expand4(expanded + k / 2, v);
            }
        }
        for (o = 0; o < outs; o += 4, c += 4, yo += 4) {
            int32_t a0 = c[0].bias, a1 = c[1].bias, a2 = c[2].bias, a3 = c[3].bias;
            uint32_t lanes;
            if (expanded) {
                const uint32_t *xp = expanded, *end = expanded + p->ins / 2;
                do {
                    EO_DSP_PASS(EO_INT16_INPUTS_ASM EO_FC_OUTPUTS_ASM);
                } while (xp < end);
            } else {
                const int8_t *xp = xr;
                do {
                    EO_DSP_PASS(EO_INT8_INPUTS_ASM EO_FC_OUTPUTS_ASM);
                } while (xp < x_end);
            }
            lanes = eo_outputs4(a0, a1, a2, a3, c, c + 1, c + 2, c + 3, &range);
            if (o < full) {
                memcpy(yo, &lanes, 4);
            } else { /* the last block, padded with zero rows */
                for (k = 0; k < outs - o; ++k) {
                    yo[k] = (int8_t)(lanes >> (8 * k));
                }
            }
        }
    }
}

/* Two rows x two outputs per pass: every weight LDRD feeds both rows. rows: per 4 inputs,
 * row 0's two words then row 1's (eo_expand4); y1 == y0 when row 1 repeats row 0. */
static void eo_matmul_pair_dsp(const eo_output_range_t *output, int32_t outs, int32_t ins,
                               const uint32_t *rows, const int16_t *w, const eo_channel_s8_t *channels,
                               int8_t *y0, int8_t *y1)
{
    const eo_output_range_t range = *output; /* a local copy: the int8 stores may alias *output */
    const eo_channel_s8_t *c, *channels_end = channels + outs;
    const uint32_t *wp = (const uint32_t *)(const void *)w;
    const uint32_t *end = rows + ins;
    const int32_t odd_eights = (ins / 8) & 1;
    for (c = channels; c < channels_end; c += 2, y0 += 2, y1 += 2) {
        const uint32_t *xp = rows;
        int32_t a0 = c[0].bias, a1 = c[1].bias, a2 = a0, a3 = a1;
        uint32_t lanes;
        if (odd_eights) {
            EO_DSP_PASS(EO_PAIR_EIGHT_ASM);
        }
        while (xp < end) { /* sixteen inputs per turn */
            EO_DSP_PASS(EO_PAIR_EIGHT_ASM);
            EO_DSP_PASS(EO_PAIR_EIGHT_ASM);
        }
        lanes = eo_outputs4(a0, a1, a2, a3, c, c + 1, c, c + 1, &range);
        if (c + 1 < channels_end) {
            memcpy(y0, &lanes, 2);
            y1[0] = (int8_t)(lanes >> 16);
            y1[1] = (int8_t)(lanes >> 24);
        } else { /* an odd last channel */
            y0[0] = (int8_t)lanes;
            y1[0] = (int8_t)(lanes >> 16);
        }
    }
}

void eo_matmul_s8_dsp(const eo_fc_s8_params_t *p, const int8_t *x, const int16_t *w,
                      const eo_channel_s8_t *channels, int8_t *y, uint32_t *pair)
{
    const eo_output_range_t range = eo_output_range(p->act_min, p->act_max);
    int32_t r, i;
    for (r = 0; r < p->rows; r += 2) {
        const int8_t *x0 = x + r * p->ins;
        const int8_t *x1 = r + 1 < p->rows ? x0 + p->ins : x0;
        for (i = 0; i < p->ins; i += 4) {
            uint32_t v0, v1;
            memcpy(&v0, x0 + i, 4);
            memcpy(&v1, x1 + i, 4);
            eo_expand4(pair + i, v0);
            eo_expand4(pair + i + 2, v1);
        }
        eo_matmul_pair_dsp(&range, p->outs, p->ins, pair, w, channels, y + r * p->outs,
                           y + (r + 1 < p->rows ? r + 1 : r) * p->outs);
    }
}

/* Depthwise convolutions on DSP cores (depth multiplier 1, channels a multiple of 4): per
 * output pixel the taps inside the input are listed once, then four channels at a time
 * accumulate in registers over those taps: one word of inputs (SXTB16 into the channel
 * pairs {0, 2} and {1, 3}, plus the input offset with SADD16) against the compiler's int16
 * weights {w0, w2, w1, w3} of that tap, SMLABB/SMLATT per channel. */
void eo_depthwise_conv2d_s8_dsp(const eo_conv_s8_params_t *p, const int8_t *x, const int16_t *w,
                                const eo_channel_s8_t *channels, int8_t *y)
{
    int32_t x_at[EO_DEPTHWISE_DSP_MAX_TAPS], w_at[EO_DEPTHWISE_DSP_MAX_TAPS];
    const int32_t count = p->out_c;
    const int16x2_t offset = (int16x2_t)(((uint32_t)p->input_offset & 0xFFFFu) * 0x10001u);
    const eo_output_range_t range = eo_output_range(p->act_min, p->act_max);
    int32_t b, oy, ox, ky, kx, c, t;
    for (b = 0; b < p->batch; ++b) {
        for (oy = 0; oy < p->out_h; ++oy) {
            for (ox = 0; ox < p->out_w; ++ox) {
                int8_t *yp = y + ((b * p->out_h + oy) * p->out_w + ox) * count;
                int32_t taps = 0;
                for (ky = 0; ky < p->k_h; ++ky) {
                    const int32_t iy = oy * p->stride_h - p->pad_h + ky * p->dil_h;
                    for (kx = 0; iy >= 0 && iy < p->in_h && kx < p->k_w; ++kx) {
                        const int32_t ix = ox * p->stride_w - p->pad_w + kx * p->dil_w;
                        if (ix >= 0 && ix < p->in_w) {
                            x_at[taps] = ((b * p->in_h + iy) * p->in_w + ix) * count;
                            w_at[taps++] = (ky * p->k_w + kx) * count;
                        }
                    }
                }
                for (c = 0; c < count; c += 4) {
                    const eo_channel_s8_t *ch = channels + c;
                    int32_t a0 = ch[0].bias, a1 = ch[1].bias, a2 = ch[2].bias, a3 = ch[3].bias;
                    uint32_t lanes;
                    for (t = 0; t < taps; ++t) {
                        uint32_t v, w02, w13;
                        int16x2_t even, odd;
                        memcpy(&v, x + x_at[t] + c, 4);
                        EO_LDRD_AT(w02, w13, w + w_at[t] + c);
                        even = __sadd16(__sxtb16((int8x4_t)v), offset);
                        odd = __sadd16(eo_sxtb16_ror8(v), offset);
                        a0 = __smlabb(even, (int16x2_t)w02, a0);
                        a2 = __smlatt(even, (int16x2_t)w02, a2);
                        a1 = __smlabb(odd, (int16x2_t)w13, a1);
                        a3 = __smlatt(odd, (int16x2_t)w13, a3);
                    }
                    lanes = eo_outputs4(a0, a1, a2, a3, ch, ch + 1, ch + 2, ch + 3, &range);
                    memcpy(yp + c, &lanes, 4);
                }
            }
        }
    }
}

/* A convolution as im2col + the pair kernel, two output pixels at a time, written straight
 * into the kernel's int16 layout; padding taps hold the input zero point, so the folded
 * input offset makes them contribute zero. pair: 4 * k_h * k_w * in_c bytes. */
void eo_conv2d_s8_dsp(const eo_conv_s8_params_t *p, const int8_t *x, const int16_t *w,
                      const eo_channel_s8_t *channels, int8_t *y, uint32_t *pair)
{
    const int32_t pixels = p->batch * p->out_h * p->out_w;
    const uint8_t zero_point = (uint8_t)(-p->input_offset);
    const uint32_t padding = zero_point * 0x01010101u;
    const eo_output_range_t range = eo_output_range(p->act_min, p->act_max);
    int32_t pixel, half, ky, kx, c;
    for (pixel = 0; pixel < pixels; pixel += 2) {
        for (half = 0; half < 2; ++half) {
            const int32_t at = pixel + half < pixels ? pixel + half : pixel;
            const int32_t b = at / (p->out_h * p->out_w);
            const int32_t oy = at / p->out_w % p->out_h, ox = at % p->out_w;
            uint32_t *dst = pair + 2 * half;
            for (ky = 0; ky < p->k_h; ++ky) {
                const int32_t iy = oy * p->stride_h - p->pad_h + ky * p->dil_h;
                for (kx = 0; kx < p->k_w; ++kx) {
                    const int32_t ix = ox * p->stride_w - p->pad_w + kx * p->dil_w;
                    const int8_t *src = x + ((b * p->in_h + iy) * p->in_w + ix) * p->in_c;
                    const int inside = iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w;
                    for (c = 0; c < p->in_c; c += 4, dst += 4) {
                        uint32_t v = padding;
                        if (inside) {
                            memcpy(&v, src + c, 4);
                        }
                        eo_expand4(dst, v);
                    }
                }
            }
        }
        eo_matmul_pair_dsp(&range, p->out_c, p->k_h * p->k_w * p->in_c, pair, w, channels,
                           y + pixel * p->out_c, y + (pixel + 1 < pixels ? pixel + 1 : pixel) * p->out_c);
    }
}
#endif

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

static int32_t eo_clamp(int32_t v, int32_t low, int32_t high)
{
    return v < low ? low : (v > high ? high : v);
}

void eo_conv2d_s8(const eo_conv_s8_params_t *p, const int8_t *x, const int8_t *w,
                  const int32_t *bias, int8_t *y)
{
    const int32_t filter_c = p->filter_c;
    const int32_t out_per_group = p->out_c / (p->in_c / filter_c);
    int32_t b, oy, ox, oc, ky, kx, ic;
    for (b = 0; b < p->batch; ++b) {
        for (oy = 0; oy < p->out_h; ++oy) {
            for (ox = 0; ox < p->out_w; ++ox) {
                for (oc = 0; oc < p->out_c; ++oc) {
                    const int32_t group = oc / out_per_group;
                    int32_t acc = 0;
                    for (ky = 0; ky < p->k_h; ++ky) {
                        const int32_t iy = oy * p->stride_h - p->pad_h + ky * p->dil_h;
                        if (iy < 0 || iy >= p->in_h) {
                            continue;
                        }
                        for (kx = 0; kx < p->k_w; ++kx) {
                            const int32_t ix = ox * p->stride_w - p->pad_w + kx * p->dil_w;
                            const int8_t *xp = x + ((b * p->in_h + iy) * p->in_w + ix) * p->in_c + group * filter_c;
                            const int8_t *wp = w + ((oc * p->k_h + ky) * p->k_w + kx) * filter_c;
                            if (ix < 0 || ix >= p->in_w) {
                                continue;
                            }
                            /* padding contributes zero: the offset is added to real taps only */
                            for (ic = 0; ic < filter_c; ++ic) {
                                acc += ((int32_t)xp[ic] + p->input_offset) * (int32_t)wp[ic];
                            }
                        }
                    }
                    if (bias) {
                        acc += bias[oc];
                    }
                    acc = eo_requantize(acc, p->multipliers[oc], p->shifts[oc]) + p->output_offset;
                    y[((b * p->out_h + oy) * p->out_w + ox) * p->out_c + oc] =
                        (int8_t)eo_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

void eo_depthwise_conv2d_s8(const eo_conv_s8_params_t *p, const int8_t *x, const int8_t *w,
                            const int32_t *bias, int8_t *y, int32_t *acc)
{
    const int32_t channels = p->out_c;
    const int32_t multiplier = p->depth_multiplier;
    int32_t b, oy, ox, ky, kx, c, ic, m;
    for (b = 0; b < p->batch; ++b) {
        for (oy = 0; oy < p->out_h; ++oy) {
            for (ox = 0; ox < p->out_w; ++ox) {
                int8_t *yp = y + ((b * p->out_h + oy) * p->out_w + ox) * channels;
                for (c = 0; c < channels; ++c) {
                    acc[c] = bias ? bias[c] : 0;
                }
                for (ky = 0; ky < p->k_h; ++ky) {
                    const int32_t iy = oy * p->stride_h - p->pad_h + ky * p->dil_h;
                    if (iy < 0 || iy >= p->in_h) {
                        continue;
                    }
                    for (kx = 0; kx < p->k_w; ++kx) {
                        const int32_t ix = ox * p->stride_w - p->pad_w + kx * p->dil_w;
                        const int8_t *xp = x + ((b * p->in_h + iy) * p->in_w + ix) * p->in_c;
                        const int8_t *wp = w + (ky * p->k_w + kx) * channels;
                        if (ix < 0 || ix >= p->in_w) {
                            continue;
                        }
                        /* channels innermost: contiguous in NHWC input, filter and accumulators */
                        if (multiplier == 1) {
                            for (c = 0; c < channels; ++c) {
                                acc[c] += ((int32_t)xp[c] + p->input_offset) * (int32_t)wp[c];
                            }
                        } else {
                            for (ic = 0, c = 0; ic < p->in_c; ++ic) {
                                const int32_t v = (int32_t)xp[ic] + p->input_offset;
                                for (m = 0; m < multiplier; ++m, ++c) {
                                    acc[c] += v * (int32_t)wp[c];
                                }
                            }
                        }
                    }
                }
                for (c = 0; c < channels; ++c) {
                    const int32_t v = eo_requantize(acc[c], p->multipliers[c], p->shifts[c]) + p->output_offset;
                    yp[c] = (int8_t)eo_clamp(v, p->act_min, p->act_max);
                }
            }
        }
    }
}

void eo_avgpool_s8(const eo_pool_s8_params_t *p, const int8_t *x, int8_t *y)
{
    int32_t b, oy, ox, c, ky, kx;
    for (b = 0; b < p->batch; ++b) {
        for (oy = 0; oy < p->out_h; ++oy) {
            for (ox = 0; ox < p->out_w; ++ox) {
                for (c = 0; c < p->channels; ++c) {
                    int32_t acc = 0, count = 0;
                    for (ky = 0; ky < p->k_h; ++ky) {
                        const int32_t iy = oy * p->stride_h - p->pad_h + ky;
                        for (kx = 0; kx < p->k_w; ++kx) {
                            const int32_t ix = ox * p->stride_w - p->pad_w + kx;
                            if (iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w) {
                                acc += x[((b * p->in_h + iy) * p->in_w + ix) * p->channels + c];
                                ++count;
                            }
                        }
                    }
                    /* rounded division, ties away from zero (TFLite) */
                    acc = count ? (acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count) : 0;
                    y[((b * p->out_h + oy) * p->out_w + ox) * p->channels + c] =
                        (int8_t)eo_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

void eo_maxpool_s8(const eo_pool_s8_params_t *p, const int8_t *x, int8_t *y)
{
    int32_t b, oy, ox, c, ky, kx;
    for (b = 0; b < p->batch; ++b) {
        for (oy = 0; oy < p->out_h; ++oy) {
            for (ox = 0; ox < p->out_w; ++ox) {
                for (c = 0; c < p->channels; ++c) {
                    int32_t best = -128;
                    for (ky = 0; ky < p->k_h; ++ky) {
                        const int32_t iy = oy * p->stride_h - p->pad_h + ky;
                        for (kx = 0; kx < p->k_w; ++kx) {
                            const int32_t ix = ox * p->stride_w - p->pad_w + kx;
                            if (iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w) {
                                const int32_t v = x[((b * p->in_h + iy) * p->in_w + ix) * p->channels + c];
                                best = v > best ? v : best;
                            }
                        }
                    }
                    y[((b * p->out_h + oy) * p->out_w + ox) * p->channels + c] =
                        (int8_t)eo_clamp(best, p->act_min, p->act_max);
                }
            }
        }
    }
}

void eo_pad_s8(const int8_t *x, int8_t *y, const eo_pad_t *p)
{
    int32_t index[EO_MAX_RANK] = {0};
    int32_t in_strides[EO_MAX_RANK];
    int32_t total = 1, axis, k;
    const int8_t value = (int8_t)p->value;
    for (axis = p->rank - 1, k = 1; axis >= 0; --axis) {
        in_strides[axis] = k;
        k *= p->in_shape[axis];
        total *= p->out_shape[axis];
    }
    for (k = 0; k < total; ++k) {
        int32_t offset = 0, inside = 1;
        for (axis = 0; axis < p->rank; ++axis) {
            const int32_t i = index[axis] - p->begin[axis];
            if (i < 0 || i >= p->in_shape[axis]) {
                inside = 0;
                break;
            }
            offset += i * in_strides[axis];
        }
        y[k] = inside ? x[offset] : value;
        for (axis = p->rank - 1; axis >= 0; --axis) {
            if (++index[axis] < p->out_shape[axis]) {
                break;
            }
            index[axis] = 0;
        }
    }
}

/* ---- softmax: gemmlowp fixed point, as TFLite's reference int8 softmax ---- */

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

/* ---- elementwise int8 (TFLite ADD/SUB/MUL semantics), activations, data movement ---- */

static int32_t eo_binary_s8_one(const eo_binary_s8_params_t *p, int32_t a, int32_t b)
{
    int32_t v;
    a += p->in1_offset;
    b += p->in2_offset;
    if (p->op == EO_BIN_MUL) {
        v = eo_requantize(a * b, p->out_multiplier, p->out_shift);
    } else { /* ADD, SUB: both inputs rescaled to a common scale, 2^20 finer */
        const int32_t sa = eo_requantize(a * (1 << p->left_shift), p->in1_multiplier, p->in1_shift);
        const int32_t sb = eo_requantize(b * (1 << p->left_shift), p->in2_multiplier, p->in2_shift);
        v = eo_requantize(p->op == EO_BIN_SUB ? sa - sb : sa + sb, p->out_multiplier, p->out_shift);
    }
    return eo_clamp(v + p->out_offset, p->act_min, p->act_max);
}

void eo_binary_s8(const eo_binary_s8_params_t *p, const int8_t *a, const int8_t *b, int8_t *y)
{
    const eo_broadcast_t *bc = &p->shape;
    const int32_t last = bc->rank - 1;
    const int32_t n = bc->shape[last];
    const int32_t rows = eo_broadcast_rows(bc);
    int32_t index[EO_MAX_RANK] = {0};
    int32_t row, i, a_off, b_off;
    for (row = 0; row < rows; ++row) {
        eo_broadcast_next_row(bc, index, &a_off, &b_off);
        for (i = 0; i < n; ++i) {
            y[row * n + i] = (int8_t)eo_binary_s8_one(p, a[a_off + i * bc->a_strides[last]],
                                                      b[b_off + i * bc->b_strides[last]]);
        }
    }
}

void eo_requantize_s8(const int8_t *x, int8_t *y, int32_t n, int32_t in_offset, int32_t multiplier,
                      int32_t shift, int32_t out_offset, int32_t act_min, int32_t act_max)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t v = eo_requantize((int32_t)x[i] + in_offset, multiplier, shift) + out_offset;
        y[i] = (int8_t)eo_clamp(v, act_min, act_max);
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

void eo_copy_blocks_bytes(const void *x, void *y, int32_t outer, int32_t block, int32_t y_stride)
{
    int32_t o;
    for (o = 0; o < outer; ++o) {
        memcpy((uint8_t *)y + (int64_t)o * y_stride, (const uint8_t *)x + (int64_t)o * block, (size_t)block);
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
