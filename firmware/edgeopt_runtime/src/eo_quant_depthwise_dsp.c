/* int8 depthwise convolutions for cores with the DSP extension (Cortex-M4/M7/M33): four
 * output channels at a time in registers, bit-exact with TFLite. */
#include "eo_dsp.h"

/* Scratch companion (see eo_quant_dsp.c), defined on every core */
int32_t eo_depthwise_conv2d_s8_dsp_scratch_size(const eo_conv_s8_params_t *p)
{
    return (p->out_c + 3) & ~3; /* a pixel of the input zero point, for the taps outside */
}

#if defined(__ARM_FEATURE_DSP)
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
    lanes = eo_outputs4_of(acc[0], acc[1], acc[2], acc[3], ch, range, compact);
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
            lanes = eo_outputs4_of(acc[0], acc[1], acc[2], acc[3], ch, range, compact);
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
#endif
