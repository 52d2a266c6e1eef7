/* int8 kernels for cores with the DSP extension (Cortex-M4/M7/M33): SMLAD on int16 pairs
 * and requantization in one SMMULR, bit-exact with TFLite. */
#include <string.h>

#include "eo_runtime.h"

/* Scratch companions (as CMSIS-NN's _get_buffer_size): the bytes of arena scratch each DSP
 * kernel needs, which the compiler's planner reserves; defined on every core. */
int32_t eo_fully_connected_s8_dsp_scratch_size(const eo_fc_s8_params_t *p)
{
    return p->outs > 4 ? 2 * p->ins : 0; /* the row as int16 pairs, when blocks share it */
}

int32_t eo_matmul_s8_dsp_scratch_size(const eo_fc_s8_params_t *p)
{
    return 4 * p->ins; /* two rows as int16 pairs */
}

/* eo_conv2d_s8_dsp's patch, which its weights are laid out for: k_h rows of k_w * in_c
 * taps, each row rounded up to a word and the whole to 8 (zero weights) */
static int32_t eo_conv_row(const eo_conv_s8_params_t *p)
{
    return (p->k_w * p->in_c + 3) & ~3;
}

static int32_t eo_conv_patch(const eo_conv_s8_params_t *p)
{
    return (p->k_h * eo_conv_row(p) + 7) & ~7;
}

int32_t eo_conv2d_s8_dsp_scratch_size(const eo_conv_s8_params_t *p)
{
    return 4 * eo_conv_patch(p); /* two patches as int16 pairs */
}

int32_t eo_depthwise_conv2d_s8_dsp_scratch_size(const eo_conv_s8_params_t *p)
{
    return (p->out_c + 3) & ~3; /* a pixel of the input zero point, for the taps outside */
}

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>

/* The DSP kernels' requantization with the channel's constants precomputed by the compiler
 * (dsp_requantization in edgeopt/ops/quantized_linear.py): the accumulator comes scaled so
 * that one SMMULR is TFLite's rounding doubling high product h, then one shift by e + 1 of
 * 2h + (2^e + output offset * 2^(e + 1)) + sign(h) divides by 2^e with ties away from zero
 * and adds the output offset. odd_offset: 2 * output offset + 1, so that constant is
 * odd_offset << (e + 1) >> 1. Shifts by a register read only its low byte: e + 1 there. */
static inline int32_t eo_requantize_channel(int32_t acc, const eo_channel_s8_t *c, int32_t odd_offset)
{
    int32_t high, rounding, out;
    __asm__("smmulr %0, %1, %2" : "=r"(high) : "r"(acc), "r"(c->multiplier));
    __asm__("lsl %0, %1, %2\n\tasr %0, %0, #1" : "=&r"(rounding) : "r"(odd_offset), "r"(c->shift));
    __asm__("asr %0, %1, %2" : "=r"(out) : "r"(high * 2 + rounding + (high >> 31)), "r"(c->shift));
    return out;
}

/* Compact kernels (int8 weights, unscaled): the accumulator scaled as the expanded weights
 * are, by 2^(1 + TFLite's left shift) from the second byte of c->shift */
static inline int32_t eo_scaled(int32_t acc, const eo_channel_s8_t *c)
{
    return (int32_t)((uint32_t)acc << ((uint32_t)c->shift >> 8));
}

/* One channel's output, requantized and saturated to int8 (SSAT as asm: GCC 12's __ssat
 * trips -Wsign-conversion inside its own macro) */
static inline uint32_t eo_output(int32_t acc, const eo_channel_s8_t *c, int32_t odd_offset)
{
    uint32_t out;
    __asm__("ssat %0, #8, %1" : "=r"(out) : "r"(eo_requantize_channel(acc, c, odd_offset)));
    return out;
}

/* Byte lane lsb / 8 of lanes := the low byte of v */
#define EO_SET_LANE(lanes, v, lsb) __asm__("bfi %0, %1, #" #lsb ", #8" : "+r"(lanes) : "r"(v))

/* The activation range, four int8 lanes each, and 2 * output offset + 1 */
typedef struct {
    uint32_t low, high;
    int32_t odd_offset;
} eo_output_range_t;

static eo_output_range_t eo_output_range(int32_t act_min, int32_t act_max, int32_t output_offset)
{
    const eo_output_range_t range = {(uint8_t)act_min * 0x01010101u, (uint8_t)act_max * 0x01010101u,
                                     2 * output_offset + 1};
    return range;
}

/* Four outputs, one per channel c0..c3: requantized, saturated, and clamped to the
 * activation range as four int8 lanes (lane 0 from a0). */
static inline uint32_t eo_outputs4(int32_t a0, int32_t a1, int32_t a2, int32_t a3,
                                   const eo_channel_s8_t *c0, const eo_channel_s8_t *c1,
                                   const eo_channel_s8_t *c2, const eo_channel_s8_t *c3,
                                   const eo_output_range_t *r)
{
    uint32_t lanes = eo_output(a0, c0, r->odd_offset);
    EO_SET_LANE(lanes, eo_output(a1, c1, r->odd_offset), 8);
    EO_SET_LANE(lanes, eo_output(a2, c2, r->odd_offset), 16);
    EO_SET_LANE(lanes, eo_output(a3, c3, r->odd_offset), 24);
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
/* The same with a third weight register, for the compact fully-connected pass */
#define EO_DSP_PASS3(text)                                                                  \
    do {                                                                                    \
        uint32_t xa, xb, xc, xd, w0, w1, w2;                                                \
        __asm__(text                                                                        \
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3),               \
                  [xp] "+r"(xp), [wp] "+r"(wp), [xa] "=&r"(xa), [xb] "=&r"(xb),             \
                  [xc] "=&r"(xc), [xd] "=&r"(xd), [w0] "=&r"(w0), [w1] "=&r"(w1),           \
                  [w2] "=&r"(w2)                                                            \
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

/* w0, w1 := one output's next 4 expanded weights as the pairs {w0, w2}, {w1, w3} (one LDRD) */
#define EO_WEIGHTS4_ASM "ldrd %[w0], %[w1], [%[wp]], #8\n\t"

/* Fully-connected pass: acc += one output's next 8 weights times xa..xd */
#define EO_FC_OUTPUT_ASM(acc)                                                               \
    EO_WEIGHTS4_ASM "smlad " acc ", %[xa], %[w0], " acc "\n\tsmlad " acc ", %[xb], %[w1], " acc "\n\t" \
    EO_WEIGHTS4_ASM "smlad " acc ", %[xc], %[w0], " acc "\n\tsmlad " acc ", %[xd], %[w1], " acc "\n\t"
/* Compact weights interleave a pair of outputs (eo_runtime.h): in each word the even
 * output's two weights are bytes 0 and 2, so SXTB16 gives them as an int16 pair, and each
 * halfword read whole is 256 x the odd output's weight + the even one's. Per word, even +=
 * SMLAD(SXTB16(word), x) and mixed += SMLAD(word, x); mixed - even is 256 x the odd output's
 * sum (eo_odd_flush): one SXTB16 per four weights instead of two. */
#define EO_COMPACT_WORD_ASM(even, mixed, x, w)                                              \
    "sxtb16 %[w2], " w "\n\tsmlad " even ", " x ", %[w2], " even "\n\tsmlad " mixed ", " x ", " w ", " mixed "\n\t"
/* Fully-connected pass of one output pair: even/mixed += its next 8 interleaved weights
 * (16 bytes) times xa..xd */
#define EO_FC_PAIR_COMPACT_ASM(even, mixed)                                                 \
    "ldrd %[w0], %[w1], [%[wp]], #8\n\t" EO_COMPACT_WORD_ASM(even, mixed, "%[xa]", "%[w0]")   \
    EO_COMPACT_WORD_ASM(even, mixed, "%[xb]", "%[w1]")                                       \
    "ldrd %[w0], %[w1], [%[wp]], #8\n\t" EO_COMPACT_WORD_ASM(even, mixed, "%[xc]", "%[w0]")   \
    EO_COMPACT_WORD_ASM(even, mixed, "%[xd]", "%[w1]")
#define EO_FC_OUTPUTS_COMPACT_ASM EO_FC_PAIR_COMPACT_ASM("%[a0]", "%[a1]") EO_FC_PAIR_COMPACT_ASM("%[a2]", "%[a3]")
#define EO_FC_OUTPUTS_ASM                                                                   \
    EO_FC_OUTPUT_ASM("%[a0]") EO_FC_OUTPUT_ASM("%[a1]") EO_FC_OUTPUT_ASM("%[a2]") EO_FC_OUTPUT_ASM("%[a3]")

/* Pair pass, per 4 inputs: row 0's two words in xa, xb, row 1's in xc, xd; acc_a (row 0) and
 * acc_b (row 1) += against one output's 4 weights */
#define EO_PAIR_OUTPUT_ASM(acc_a, acc_b, weights4)                                          \
    weights4 "smlad " acc_a ", %[xa], %[w0], " acc_a "\n\tsmlad " acc_a ", %[xb], %[w1], " acc_a "\n\t" \
    "smlad " acc_b ", %[xc], %[w0], " acc_b "\n\tsmlad " acc_b ", %[xd], %[w1], " acc_b "\n\t"
/* Eight inputs of both rows against both outputs: a0, a1 row 0's outputs, a2, a3 row 1's */
#define EO_PAIR_FOUR_ASM(weights4)                                                          \
    EO_INT16_INPUTS_ASM EO_PAIR_OUTPUT_ASM("%[a0]", "%[a2]", weights4) EO_PAIR_OUTPUT_ASM("%[a1]", "%[a3]", weights4)
#define EO_PAIR_EIGHT_ASM(weights4) EO_PAIR_FOUR_ASM(weights4) EO_PAIR_FOUR_ASM(weights4)
/* Compact: four inputs of both rows against the output pair's two interleaved words; a0, a2
 * the even output's rows, a1, a3 the mixed sums */
#define EO_PAIR_COMPACT_FOUR_ASM                                                            \
    EO_INT16_INPUTS_ASM "ldrd %[w0], %[w1], [%[wp]], #8\n\t"                                \
    EO_COMPACT_WORD_ASM("%[a0]", "%[a1]", "%[xa]", "%[w0]") "smlad %[a2], %[xc], %[w2], %[a2]\n\t" \
    "smlad %[a3], %[xc], %[w0], %[a3]\n\t"                                                  \
    EO_COMPACT_WORD_ASM("%[a0]", "%[a1]", "%[xb]", "%[w1]") "smlad %[a2], %[xd], %[w2], %[a2]\n\t" \
    "smlad %[a3], %[xd], %[w1], %[a3]\n\t"
#define EO_PAIR_COMPACT_EIGHT_ASM EO_PAIR_COMPACT_FOUR_ASM EO_PAIR_COMPACT_FOUR_ASM

/* Inputs per stretch between flushes of a compact pair's mixed sum: 256 x 128 x 128 < 2^23,
 * so 256 x the odd output's partial sum stays exact in 32 bits. */
#define EO_COMPACT_STRETCH 256

/* odd += the odd output's sum since the last flush, (mixed - even) / 256; then mixed = even */
static inline void eo_odd_flush(int32_t even, int32_t *mixed, int32_t *odd)
{
    *odd += (int32_t)((uint32_t)*mixed - (uint32_t)even) >> 8;
    *mixed = even;
}

/* The kernels below are each written once for both weight layouts: `compact` is a constant
 * in every call, so each exported kernel keeps only its own passes. */
#define EO_BOTH_LAYOUTS static inline __attribute__((always_inline))

/* Four accumulators as the compact kernels need them before eo_outputs4 */
static inline void eo_scale4(int compact, int32_t *a0, int32_t *a1, int32_t *a2, int32_t *a3,
                             const eo_channel_s8_t *c0, const eo_channel_s8_t *c1,
                             const eo_channel_s8_t *c2, const eo_channel_s8_t *c3)
{
    if (compact) {
        *a0 = eo_scaled(*a0, c0);
        *a1 = eo_scaled(*a1, c1);
        *a2 = eo_scaled(*a2, c2);
        *a3 = eo_scaled(*a3, c3);
    }
}

/* One block's passes over its inputs, xp (of type T) to `last`, with `inputs` (the asm that
 * loads them): compact weights in stretches of `stretch` T (the odd sums flushed after each
 * and once more by the caller; a row of one stretch needs no stretch bookkeeping). */
#define EO_FC_BLOCK_PASSES(T, last, stretch, inputs)                                     \
    do {                                                                                 \
        if (compact && (last) - xp <= (stretch)) {                                       \
            do {                                                                         \
                EO_DSP_PASS3(inputs EO_FC_OUTPUTS_COMPACT_ASM);                          \
            } while (xp < (last));                                                       \
        }                                                                                \
        while (xp < (last)) {                                                            \
            T const stop_ = compact && (last) - xp > (stretch) ? xp + (stretch) : (last); \
            do {                                                                         \
                if (compact) {                                                           \
                    EO_DSP_PASS3(inputs EO_FC_OUTPUTS_COMPACT_ASM);                      \
                } else {                                                                 \
                    EO_DSP_PASS(inputs EO_FC_OUTPUTS_ASM);                               \
                }                                                                        \
            } while (xp < stop_);                                                        \
            if (compact) {                                                               \
                eo_odd_flush(a0, &a1, &odd1);                                            \
                eo_odd_flush(a2, &a3, &odd3);                                            \
            }                                                                            \
        }                                                                                \
    } while (0)

/* Cortex-M4/M7/M33, one row at a time (fully-connected layers): four outputs x eight inputs
 * per pass with SMLAD on int16 pairs. The inputs become int16 pairs with SXTB16: once per
 * row into `expanded` when given (several blocks of outputs share them), else on the fly
 * (no scratch: long rows stay cheap in RAM). The weights are pre-arranged by the compiler
 * (see eo_runtime.h), so one LDRD (expanded) or LDR (compact) brings four; the four
 * outputs leave as one word. */
EO_BOTH_LAYOUTS void eo_fc_dsp(const eo_fc_s8_params_t *p, const int8_t *x, const void *w,
                               const eo_channel_s8_t *channels, int8_t *y, uint32_t *expanded, int compact)
{
    const eo_output_range_t range = eo_output_range(p->act_min, p->act_max, p->output_offset);
    const int32_t outs = p->outs, full = outs & ~3;
    int32_t r, o, k;
    for (r = 0; r < p->rows; ++r) {
        const int8_t *xr = x + r * p->ins, *x_end = xr + p->ins;
        const uint32_t *const end = expanded != NULL ? expanded + p->ins / 2 : NULL; /* once: stores may alias *p */
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
            /* compact: a0, a2 the even outputs, a1, a3 the mixed sums; odd1, odd3 the odd ones */
            int32_t a0 = c[0].bias, a1 = compact ? a0 : c[1].bias, a2 = c[2].bias, a3 = compact ? a2 : c[3].bias;
            int32_t odd1 = c[1].bias, odd3 = c[3].bias;
            uint32_t lanes;
            if (expanded) {
                const uint32_t *xp = expanded;
                EO_FC_BLOCK_PASSES(const uint32_t *, end, EO_COMPACT_STRETCH / 2, EO_INT16_INPUTS_ASM);
            } else {
                const int8_t *xp = xr;
                EO_FC_BLOCK_PASSES(const int8_t *, x_end, EO_COMPACT_STRETCH, EO_INT8_INPUTS_ASM);
            }
            if (compact) {
                eo_odd_flush(a0, &a1, &odd1);
                eo_odd_flush(a2, &a3, &odd3);
                a1 = odd1;
                a3 = odd3;
            }
            eo_scale4(compact, &a0, &a1, &a2, &a3, c, c + 1, c + 2, c + 3);
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

void eo_fully_connected_s8_dsp(const eo_fc_s8_params_t *p, const int8_t *x, const int16_t *w,
                               const eo_channel_s8_t *channels, int8_t *y, uint32_t *expanded)
{
    eo_fc_dsp(p, x, w, channels, y, expanded, 0);
}

void eo_fully_connected_s8_dsp_compact(const eo_fc_s8_params_t *p, const int8_t *x, const int8_t *w,
                                       const eo_channel_s8_t *channels, int8_t *y, uint32_t *expanded)
{
    eo_fc_dsp(p, x, w, channels, y, expanded, 1);
}

/* Two rows x two outputs per pass: every weight load feeds both rows. rows: per 4 inputs,
 * row 0's two words then row 1's (eo_expand4); y1 == y0 when row 1 repeats row 0. */
EO_BOTH_LAYOUTS void eo_matmul_pair_dsp(const eo_output_range_t *output, int32_t outs, int32_t ins,
                                        const uint32_t *rows, const void *w, const eo_channel_s8_t *channels,
                                        int8_t *y0, int8_t *y1, int compact)
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
        if (compact) { /* a0, a2: the even output's rows; a1, a3: the mixed sums */
            int32_t odd0 = c[1].bias, odd1 = c[1].bias;
            a1 = a0, a3 = a2;
            if (odd_eights) {
                EO_DSP_PASS3(EO_PAIR_COMPACT_EIGHT_ASM);
            }
            if (ins <= EO_COMPACT_STRETCH) { /* one stretch: flushed below */
                while (xp < end) {
                    EO_DSP_PASS3(EO_PAIR_COMPACT_EIGHT_ASM);
                    EO_DSP_PASS3(EO_PAIR_COMPACT_EIGHT_ASM);
                }
            }
            while (xp < end) { /* a stretch of inputs (four words per four), sixteen per turn */
                const uint32_t *stop = end - xp > EO_COMPACT_STRETCH ? xp + EO_COMPACT_STRETCH : end;
                do {
                    EO_DSP_PASS3(EO_PAIR_COMPACT_EIGHT_ASM);
                    EO_DSP_PASS3(EO_PAIR_COMPACT_EIGHT_ASM);
                } while (xp < stop);
                eo_odd_flush(a0, &a1, &odd0);
                eo_odd_flush(a2, &a3, &odd1);
            }
            eo_odd_flush(a0, &a1, &odd0); /* the last stretch, or the odd first eight alone */
            eo_odd_flush(a2, &a3, &odd1);
            a1 = odd0, a3 = odd1;
        } else {
            if (odd_eights) {
                EO_DSP_PASS(EO_PAIR_EIGHT_ASM(EO_WEIGHTS4_ASM));
            }
            while (xp < end) {
                EO_DSP_PASS(EO_PAIR_EIGHT_ASM(EO_WEIGHTS4_ASM));
                EO_DSP_PASS(EO_PAIR_EIGHT_ASM(EO_WEIGHTS4_ASM));
            }
        }
        eo_scale4(compact, &a0, &a1, &a2, &a3, c, c + 1, c, c + 1);
        lanes = eo_outputs4(a0, a1, a2, a3, c, c + 1, c, c + 1, &range);
        if (c + 1 < channels_end) {
            const uint16_t second_row = (uint16_t)(lanes >> 16);
            memcpy(y0, &lanes, 2);
            memcpy(y1, &second_row, 2);
        } else { /* an odd last channel */
            y0[0] = (int8_t)lanes;
            y1[0] = (int8_t)(lanes >> 16);
        }
    }
}

EO_BOTH_LAYOUTS void eo_matmul_dsp(const eo_fc_s8_params_t *p, const int8_t *x, const void *w,
                                   const eo_channel_s8_t *channels, int8_t *y, uint32_t *pair, int compact)
{
    const eo_output_range_t range = eo_output_range(p->act_min, p->act_max, p->output_offset);
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
                           y + (r + 1 < p->rows ? r + 1 : r) * p->outs, compact);
    }
}

void eo_matmul_s8_dsp(const eo_fc_s8_params_t *p, const int8_t *x, const int16_t *w,
                      const eo_channel_s8_t *channels, int8_t *y, uint32_t *pair)
{
    eo_matmul_dsp(p, x, w, channels, y, pair, 0);
}

void eo_matmul_s8_dsp_compact(const eo_fc_s8_params_t *p, const int8_t *x, const int8_t *w,
                              const eo_channel_s8_t *channels, int8_t *y, uint32_t *pair)
{
    eo_matmul_dsp(p, x, w, channels, y, pair, 1);
}

/* acc0..acc3 += one tap of four channels: v their inputs (a word), wp the tap's weights */
#define EO_DEPTHWISE_TAP(v, wp, compact)                                                     \
    do {                                                                                     \
        uint32_t w02_, w13_;                                                                 \
        int16x2_t even_, odd_;                                                               \
        if (compact) {                                                                       \
            w13_ = (wp)[0];                                                                  \
            w02_ = (uint32_t)__sxtb16((int8x4_t)w13_);                                       \
            w13_ = (uint32_t)eo_sxtb16_ror8(w13_);                                           \
            (wp) += 1;                                                                       \
        } else {                                                                             \
            w02_ = (wp)[0], w13_ = (wp)[1];                                                  \
            (wp) += 2;                                                                       \
        }                                                                                    \
        even_ = __sxtb16((int8x4_t)(v));                                                     \
        odd_ = eo_sxtb16_ror8(v);                                                            \
        a0 = __smlabb(even_, (int16x2_t)w02_, a0);                                           \
        a2 = __smlatt(even_, (int16x2_t)w02_, a2);                                           \
        a1 = __smlabb(odd_, (int16x2_t)w13_, a1);                                            \
        a3 = __smlatt(odd_, (int16x2_t)w13_, a3);                                            \
    } while (0)

/* Four output channels [c, c + 4) of one depthwise output pixel over its taps (at[t]: where
 * each tap's input channels start; w: the group's weights, tap after tap): `inputs` of them
 * are real (4, or the channels left in a last group: the missing ones read as zero or
 * repeat, and their weights are zero). With a depth multiplier m (gather: m > 1) output
 * channel o reads input channel o / m, byte by byte; with m = 1 the four are one word. */
EO_BOTH_LAYOUTS void eo_depthwise4(const int8_t *const *at, const uint32_t *wp, int32_t taps, int32_t c,
                                   int32_t inputs, int32_t multiplier, int gather, int compact, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], t;
    int32_t k0 = 0, k1 = 0, k2 = 0, k3 = 0;
    if (gather) {
        const int32_t last = c + inputs - 1;
        k0 = c / multiplier, k1 = (c + 1 < last ? c + 1 : last) / multiplier;
        k2 = (c + 2 < last ? c + 2 : last) / multiplier, k3 = last / multiplier;
    }
    for (t = 0; t < taps; ++t) {
        uint32_t v = 0;
        if (gather) {
            const uint8_t *in = (const uint8_t *)at[t];
            v = in[k0] | (uint32_t)in[k1] << 8 | (uint32_t)in[k2] << 16 | (uint32_t)in[k3] << 24;
        } else {
            memcpy(&v, at[t] + c, (size_t)inputs);
        }
        EO_DEPTHWISE_TAP(v, wp, compact);
    }
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
}

/* One tap of four channels in asm (GCC spills the unrolled C): v := the word at `at`, then
 * the tap's weights as {w0, w2}, {w1, w3} (expanded: one LDRD; compact: LDR + two SXTB16);
 * v itself becomes the even pair, so the asm takes few registers (the rest stay live) */
#define EO_DW_TAP_ASM(at, weights) \
    "ldr %[v], " at "\n\t" weights "sxtb16 %[od], %[v], ror #8\n\tsxtb16 %[v], %[v]\n\t"       \
    "smlabb %[a0], %[v], %[w0], %[a0]\n\tsmlatt %[a2], %[v], %[w0], %[a2]\n\t"                    \
    "smlabb %[a1], %[od], %[w1], %[a1]\n\tsmlatt %[a3], %[od], %[w1], %[a3]\n\t"
#define EO_DW_WEIGHTS_ASM "ldrd %[w0], %[w1], [%[wp]], #8\n\t"
#define EO_DW_WEIGHTS_COMPACT_ASM "ldr %[w1], [%[wp]], #4\n\tsxtb16 %[w0], %[w1]\n\tsxtb16 %[w1], %[w1], ror #8\n\t"
#define EO_DW_ROW3_ASM(weights) \
    EO_DW_TAP_ASM("[%[xp]]", weights) EO_DW_TAP_ASM("[%[xp], %[col]]", weights) \
    EO_DW_TAP_ASM("[%[xp], %[col], lsl #1]", weights)
#define EO_DW_ROW3(text)                                                                     \
    do {                                                                                     \
        uint32_t v_, od_, w0_, w1_;                                                          \
        __asm__(text                                                                         \
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [wp] "+r"(wp), \
                  [v] "=&r"(v_), [od] "=&r"(od_), [w0] "=&r"(w0_), [w1] "=&r"(w1_)           \
                : [xp] "r"(x), [col] "r"(col_step)                                           \
                : "memory");                                                                 \
    } while (0)
/* All nine taps of a 3x3 in one asm (row after row, row_step bytes apart) */
#define EO_DW_3X3(weights)                                                                   \
    do {                                                                                     \
        uint32_t v_, od_, w0_, w1_;                                                          \
        const int8_t *xp_ = x;                                                               \
        __asm__(EO_DW_ROW3_ASM(weights) "add %[xp], %[xp], %[row]\n\t" EO_DW_ROW3_ASM(weights)  \
                "add %[xp], %[xp], %[row]\n\t" EO_DW_ROW3_ASM(weights)                       \
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [wp] "+r"(wp), \
                  [xp] "+r"(xp_), [v] "=&r"(v_), [od] "=&r"(od_), [w0] "=&r"(w0_), [w1] "=&r"(w1_) \
                : [col] "r"(col_step), [row] "r"(row_step)                                   \
                : "memory");                                                                 \
    } while (0)
#define EO_DW_ROW3_OF(compact)                                                               \
    do {                                                                                     \
        if (compact) {                                                                       \
            EO_DW_ROW3(EO_DW_ROW3_ASM(EO_DW_WEIGHTS_COMPACT_ASM));                           \
        } else {                                                                             \
            EO_DW_ROW3(EO_DW_ROW3_ASM(EO_DW_WEIGHTS_ASM));                                   \
        }                                                                                    \
    } while (0)

/* The same for a pixel whose taps all lie inside the input, depth multiplier 1, four real
 * channels: each tap's word straight from x (its first tap's channels), rows of k_w taps
 * col_step bytes apart, row_step apart; no pointer table, and rows of 3 in asm. */
EO_BOTH_LAYOUTS void eo_depthwise4_inside(const int8_t *x, int32_t col_step, int32_t row_step, int32_t k_h,
                                          int32_t k_w, const uint32_t *wp, int compact, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], ky, kx;
    if (k_h == 3 && k_w == 3) { /* the common 3x3: no loop at all */
        if (compact) {
            EO_DW_3X3(EO_DW_WEIGHTS_COMPACT_ASM);
        } else {
            EO_DW_3X3(EO_DW_WEIGHTS_ASM);
        }
    } else {
        for (ky = 0; ky < k_h; ++ky, x += row_step) {
            if (k_w == 3) {
                EO_DW_ROW3_OF(compact);
            } else {
                for (kx = 0; kx < k_w; ++kx) {
                    uint32_t v;
                    memcpy(&v, x + kx * col_step, 4);
                    EO_DEPTHWISE_TAP(v, wp, compact);
                }
            }
        }
    }
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
}

typedef struct { /* a depthwise layer's constants, read once (the int8 stores may alias *p) */
    int32_t k_h, k_w, taps, col_step, row_step, multiplier;
} eo_depthwise_shape_t;

/* One group of four output channels (`inputs` of them real) of a depthwise output pixel:
 * from `inside` (its first tap's channel c) when given, else through at[] */

EO_BOTH_LAYOUTS void eo_depthwise_group(const eo_depthwise_shape_t *p, const int8_t *inside, const int8_t *const *at,
                                        const void *w, int32_t c, int32_t inputs, int gather, int compact,
                                        const eo_channel_s8_t *ch, const eo_output_range_t *range, int8_t *yp)
{
    const int32_t taps = p->taps;
    const uint32_t *wp = compact ? (const uint32_t *)(const void *)((const int8_t *)w + c * taps)
                                 : (const uint32_t *)(const void *)((const int16_t *)w + c * taps);
    int32_t acc[4], k;
    uint32_t lanes;
    acc[0] = ch[0].bias, acc[1] = ch[1].bias, acc[2] = ch[2].bias, acc[3] = ch[3].bias;
    if (inside != NULL) {
        eo_depthwise4_inside(inside, p->col_step, p->row_step, p->k_h, p->k_w, wp, compact, acc);
    } else {
        eo_depthwise4(at, wp, taps, c, inputs, p->multiplier, gather, compact, acc);
    }
    eo_scale4(compact, acc, acc + 1, acc + 2, acc + 3, ch, ch + 1, ch + 2, ch + 3);
    lanes = eo_outputs4(acc[0], acc[1], acc[2], acc[3], ch, ch + 1, ch + 2, ch + 3, range);
    if (inputs == 4) {
        memcpy(yp + c, &lanes, 4);
    } else {
        for (k = 0; k < inputs; ++k) {
            yp[c + k] = (int8_t)(lanes >> (8 * k));
        }
    }
}

/* A run of output pixels of one row whose 3x3 taps all lie inside the input (depth
 * multiplier 1), their first `channels` (a multiple of 4): x at the first pixel's first tap,
 * `step` bytes from one pixel's taps to the next one's, out_step between their outputs.
 * Its own loop nest with few values live, so GCC keeps them in registers. */
EO_BOTH_LAYOUTS void eo_depthwise3x3_run(const int8_t *x, int32_t pixels, int32_t step, int32_t channels,
                                         int32_t out_step, int32_t col_step, int32_t row_step, const void *w,
                                         const eo_channel_s8_t *channels_of, const eo_output_range_t *range,
                                         int8_t *y, int compact)
{
    const int32_t group_words = compact ? 9 : 18; /* a group's weights: 9 taps of 4 */
    for (; pixels > 0; --pixels, x += step, y += out_step) {
        const uint32_t *wp = (const uint32_t *)w;
        const eo_channel_s8_t *ch = channels_of;
        const int8_t *xp = x;
        int8_t *yp = y;
        int8_t *const end = y + channels;
        for (; yp < end; yp += 4, xp += 4, ch += 4, wp += group_words) {
            int32_t acc[4];
            uint32_t lanes;
            acc[0] = ch[0].bias, acc[1] = ch[1].bias, acc[2] = ch[2].bias, acc[3] = ch[3].bias;
            eo_depthwise4_inside(xp, col_step, row_step, 3, 3, wp, compact, acc);
            eo_scale4(compact, acc, acc + 1, acc + 2, acc + 3, ch, ch + 1, ch + 2, ch + 3);
            lanes = eo_outputs4(acc[0], acc[1], acc[2], acc[3], ch, ch + 1, ch + 2, ch + 3, range);
            memcpy(yp, &lanes, 4);
        }
    }
}

/* Out of line, each layout its own: inlined into the general loop it would share its spills */
#define EO_DEPTHWISE3X3_RUN_ARGS                                                              \
    const int8_t *x, int32_t pixels, int32_t step, int32_t channels, int32_t out_step, int32_t col_step, \
        int32_t row_step, const void *w, const eo_channel_s8_t *channels_of, const eo_output_range_t *range, int8_t *y
static __attribute__((noinline)) void eo_depthwise3x3_run_expanded(EO_DEPTHWISE3X3_RUN_ARGS)
{
    eo_depthwise3x3_run(x, pixels, step, channels, out_step, col_step, row_step, w, channels_of, range, y, 0);
}

static __attribute__((noinline)) void eo_depthwise3x3_run_compact(EO_DEPTHWISE3X3_RUN_ARGS)
{
    eo_depthwise3x3_run(x, pixels, step, channels, out_step, col_step, row_step, w, channels_of, range, y, 1);
}

/* Depthwise convolutions on DSP cores: four output channels at a time accumulate in
 * registers over the taps: one word of their inputs (SXTB16 into the channel pairs {0, 2}
 * and {1, 3}) against the weights of that tap as the same pairs (the compiler's int16
 * {w0, w2, w1, w3}, or SXTB16 of the int8 word of a compact layout), SMLABB/SMLATT per
 * channel. The weights come per group of 4 output channels (the last padded with zero
 * weights), tap after tap. An output pixel whose taps all lie inside the input (depth
 * multiplier 1) reads them straight from the input; the others list where each tap's
 * channels start once: in the input, or in `padding`, out_c bytes of the input zero point,
 * for a tap outside it (the input offset is folded into the bias). */
/* One output pixel's channels from `from` on: its taps read straight from the input when
 * all lie inside it (depth multiplier 1), else listed once in at[] */
EO_BOTH_LAYOUTS void eo_depthwise_pixel(const eo_conv_s8_params_t *p, const eo_depthwise_shape_t *shape,
                                        const int8_t *x, const void *w, const eo_channel_s8_t *channels,
                                        const eo_output_range_t *range, int8_t *padding, int32_t iy0, int32_t ix0,
                                        int rows_inside, int8_t *yp, int32_t from, int gather, int compact)
{
    const int8_t *at[EO_DEPTHWISE_DSP_MAX_TAPS];
    const int32_t count = p->out_c, full = count & ~3;
    const int8_t *const inside = !gather && rows_inside && ix0 >= 0 && ix0 + (p->k_w - 1) * p->dil_w < p->in_w
                                     ? x + (iy0 * p->in_w + ix0) * p->in_c
                                     : NULL;
    int32_t ky, kx, c;
    if (inside == NULL || full < count) {
        for (ky = 0; ky < p->k_h; ++ky) {
            const int32_t iy = iy0 + ky * p->dil_h;
            for (kx = 0; kx < p->k_w; ++kx) {
                const int32_t ix = ix0 + kx * p->dil_w;
                const int in = iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w;
                at[ky * p->k_w + kx] = in ? x + (iy * p->in_w + ix) * p->in_c : padding;
            }
        }
    }
    for (c = from; c < full; c += 4) {
        eo_depthwise_group(shape, inside != NULL ? inside + c : NULL, at, w, c, 4, gather, compact, channels + c,
                           range, yp);
    }
    if (c < count) {
        eo_depthwise_group(shape, NULL, at, w, c, count - c, gather, compact, channels + c, range, yp);
    }
}

EO_BOTH_LAYOUTS void eo_depthwise_dsp(const eo_conv_s8_params_t *p, const int8_t *x, const void *w,
                                      const eo_channel_s8_t *channels, int8_t *y, int8_t *padding, int gather,
                                      int compact)
{
    const int32_t count = p->out_c, full = count & ~3;
    const eo_output_range_t range = eo_output_range(p->act_min, p->act_max, p->output_offset);
    const eo_depthwise_shape_t shape = {p->k_h, p->k_w, p->k_h * p->k_w, p->dil_w * p->in_c,
                                        p->dil_h * p->in_w * p->in_c, p->depth_multiplier};
    /* the output columns whose taps all lie inside the input: [first_inside, last_inside) */
    const int32_t first_inside = (p->pad_w + p->stride_w - 1) / p->stride_w;
    const int32_t right_inside = (p->in_w - 1 - (p->k_w - 1) * p->dil_w + p->pad_w) / p->stride_w + 1;
    const int32_t last_inside = right_inside < p->out_w ? right_inside : p->out_w;
    const int run_3x3 = !gather && p->k_h == 3 && p->k_w == 3 && full > 0;
    int32_t b, oy, ox;
    memset(padding, -p->input_offset, (size_t)count);
    for (b = 0; b < p->batch; ++b) {
        const int8_t *const image = x + b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            const int rows_inside = iy0 >= 0 && iy0 + (p->k_h - 1) * p->dil_h < p->in_h;
            int8_t *const row = y + (b * p->out_h + oy) * p->out_w * count;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int32_t from = 0; /* the first channel left to this pixel */
                if (run_3x3 && rows_inside && ox >= first_inside && ox < last_inside) {
                    if (ox == first_inside) { /* the row's inner pixels: their whole groups in one run */
                        (compact ? eo_depthwise3x3_run_compact : eo_depthwise3x3_run_expanded)(
                            image + (iy0 * p->in_w + ix0) * p->in_c, last_inside - ox, p->stride_w * p->in_c, full,
                            count, shape.col_step, shape.row_step, w, channels, &range, row + ox * count);
                    }
                    if (full == count) {
                        ox = last_inside - 1;
                        continue;
                    }
                    from = full;
                }
                eo_depthwise_pixel(p, &shape, image, w, channels, &range, padding, iy0, ix0, rows_inside,
                                   row + ox * count, from, gather, compact);
            }
        }
    }
}

void eo_depthwise_conv2d_s8_dsp(const eo_conv_s8_params_t *p, const int8_t *x, const int16_t *w,
                                const eo_channel_s8_t *channels, int8_t *y, int8_t *padding)
{
    if (p->depth_multiplier == 1) { /* each loop nest with its own constant flags */
        eo_depthwise_dsp(p, x, w, channels, y, padding, 0, 0);
    } else {
        eo_depthwise_dsp(p, x, w, channels, y, padding, 1, 0);
    }
}

void eo_depthwise_conv2d_s8_dsp_compact(const eo_conv_s8_params_t *p, const int8_t *x, const int8_t *w,
                                        const eo_channel_s8_t *channels, int8_t *y, int8_t *padding)
{
    if (p->depth_multiplier == 1) {
        eo_depthwise_dsp(p, x, w, channels, y, padding, 0, 1);
    } else {
        eo_depthwise_dsp(p, x, w, channels, y, padding, 1, 1);
    }
}

/* Four bytes of a patch row, one at a time: those of taps outside the input hold the zero
 * point (which the folded input offset cancels), those past the row's taps zero. src: the
 * input row, NULL when the row is outside the input. */
static uint32_t eo_patch_word(const eo_conv_s8_params_t *p, const int8_t *src, int32_t ix0, int32_t at)
{
    const int32_t taps = p->k_w * p->in_c;
    uint32_t word = 0;
    int32_t k;
    for (k = 3; k >= 0; --k) {
        const int32_t kx = (at + k) / p->in_c, ix = ix0 + kx * p->dil_w;
        uint32_t byte = 0;
        if (at + k < taps) {
            byte = src && ix >= 0 && ix < p->in_w ? (uint8_t)src[ix * p->in_c + at + k - kx * p->in_c]
                                                   : (uint8_t)(-p->input_offset);
        }
        word = word << 8 | byte;
    }
    return word;
}

/* One pixel's patch (every channel of every tap) as int16 pairs, into every other pair of
 * words (eo_expand4). A row of taps without dilation is contiguous in the input: its words
 * inside the input load straight from it (all of them, in a tight loop, for a patch wholly
 * inside). Taps of whole words (in_c a multiple of 4) load per tap; rows outside the input
 * are the zero point; any other word is built byte by byte. */
static void eo_patch_pairs(const eo_conv_s8_params_t *p, const int8_t *x, int32_t b, int32_t oy, int32_t ox,
                           uint32_t *dst)
{
    const int32_t n = p->in_c, row = eo_conv_row(p), taps = p->k_w * n;
    const int32_t ix0 = ox * p->stride_w - p->pad_w;
    const int contiguous = p->dil_w == 1;
    const uint32_t padding = (uint8_t)(-p->input_offset) * 0x01010101u;
    const int32_t iy0 = oy * p->stride_h - p->pad_h;
    int32_t ky, kx, c, at;
    if (contiguous && ix0 >= 0 && ix0 * n + row <= p->in_w * n && iy0 >= 0 &&
        iy0 + (p->k_h - 1) * p->dil_h < p->in_h) { /* inside the input: rows of whole words */
        const int8_t *src = x + ((b * p->in_h + iy0) * p->in_w + ix0) * n;
        const int32_t step = p->dil_h * p->in_w * n;
        for (ky = 0; ky < p->k_h; ++ky, src += step) {
            for (at = 0; at < row; at += 4, dst += 4) {
                uint32_t word;
                memcpy(&word, src + at, 4);
                eo_expand4(dst, word);
            }
        }
        return;
    }
    for (ky = 0; ky < p->k_h; ++ky) {
        const int32_t iy = iy0 + ky * p->dil_h;
        const int8_t *src = iy >= 0 && iy < p->in_h ? x + (b * p->in_h + iy) * p->in_w * n : NULL;
        at = 0;
        if (!src) {
            for (; at + 4 <= taps; at += 4, dst += 4) {
                eo_expand4(dst, padding);
            }
        } else if (contiguous) { /* the words wholly inside: [first, last) */
            const int32_t start = ix0 * n, end = p->in_w * n - start;
            const int32_t first = start < 0 ? (3 - start) & ~3 : 0;
            const int32_t last = (end < row ? end : row) & ~3; /* past the taps: zero weights */
            for (; at < first && at < row; at += 4, dst += 4) {
                eo_expand4(dst, eo_patch_word(p, src, ix0, at));
            }
            for (; at < last; at += 4, dst += 4) {
                uint32_t word;
                memcpy(&word, src + start + at, 4);
                eo_expand4(dst, word);
            }
        } else if (n % 4 == 0) {
            for (kx = 0; kx < p->k_w; ++kx) {
                const int32_t ix = ix0 + kx * p->dil_w;
                const int inside = ix >= 0 && ix < p->in_w;
                for (c = 0; c < n; c += 4, at += 4, dst += 4) {
                    uint32_t word = padding;
                    if (inside) {
                        memcpy(&word, src + ix * n + c, 4);
                    }
                    eo_expand4(dst, word);
                }
            }
        }
        for (; at < row; at += 4, dst += 4) {
            eo_expand4(dst, eo_patch_word(p, src, ix0, at));
        }
    }
}

/* A convolution (one group; also a depthwise one of one input channel, whose
 * depth_multiplier outputs are a convolution's) as im2col + the pair kernel, two output
 * pixels at a time. pair: eo_conv2d_s8_dsp_scratch_size bytes, the two patches as int16
 * pairs; the words past the last row are zero. */
EO_BOTH_LAYOUTS void eo_conv2d_dsp(const eo_conv_s8_params_t *p, const int8_t *x, const void *w,
                                   const eo_channel_s8_t *channels, int8_t *y, uint32_t *pair, int compact)
{
    const int32_t pixels = p->batch * p->out_h * p->out_w;
    const int32_t patch = eo_conv_patch(p), rows = p->k_h * eo_conv_row(p);
    const eo_output_range_t range = eo_output_range(p->act_min, p->act_max, p->output_offset);
    int32_t pixel, half;
    memset(pair + rows, 0, (size_t)(4 * (patch - rows)));
    for (pixel = 0; pixel < pixels; pixel += 2) {
        const int32_t second = pixel + 1 < pixels ? pixel + 1 : pixel;
        for (half = 0; half < 2; ++half) {
            const int32_t at = half ? second : pixel;
            const int32_t b = at / (p->out_h * p->out_w);
            eo_patch_pairs(p, x, b, at / p->out_w % p->out_h, at % p->out_w, pair + 2 * half);
        }
        eo_matmul_pair_dsp(&range, p->out_c, patch, pair, w, channels, y + pixel * p->out_c,
                           y + second * p->out_c, compact);
    }
}

void eo_conv2d_s8_dsp(const eo_conv_s8_params_t *p, const int8_t *x, const int16_t *w,
                      const eo_channel_s8_t *channels, int8_t *y, uint32_t *pair)
{
    eo_conv2d_dsp(p, x, w, channels, y, pair, 0);
}

void eo_conv2d_s8_dsp_compact(const eo_conv_s8_params_t *p, const int8_t *x, const int8_t *w,
                              const eo_channel_s8_t *channels, int8_t *y, uint32_t *pair)
{
    eo_conv2d_dsp(p, x, w, channels, y, pair, 1);
}
#endif
