/* int8 depthwise convolutions for cores with the DSP extension (Cortex-M4/M7/M33), bit-exact
 * with TFLite: planar 3x3 layers an input channel at a time, the others four output channels
 * at a time in registers. */
#include "eo_dsp.h"

/* Planar 3x3 layers (no dilation, compact weights): one input channel at a time, its rows
 * first copied as int16 into a plane padded with the pad value, so that a word of a plane
 * row holds two taps of the channel: SMLAD does two MACs, and an output channel's nine
 * weights stay in five registers over the whole plane. The plane serves the channel's
 * depth_multiplier outputs; with a multiplier of 1 it pays at stride 1 only (at stride 2 it
 * reads four inputs an output) and on maps of at least 64 outputs (the setup per channel). */
typedef struct {
    int32_t block; /* output rows summed at a time, so short rows share the setup */
    int32_t rows;  /* plane rows: the input rows of a block of output rows */
    int32_t cols;  /* plane columns (even) */
    int32_t pairs; /* output pairs per row (an odd row's last output is computed, then dropped) */
} eo_plane_t;

static int eo_depthwise_planar(const eo_conv_s8_params_t *p)
{
    const int stride = p->stride_h == p->stride_w ? p->stride_w : 0;
    return p->k_h == 3 && p->k_w == 3 && p->dil_h == 1 && p->dil_w == 1 &&
           (p->depth_multiplier > 1 ? stride == 1 || stride == 2 : stride == 1 && p->out_h * p->out_w >= 64);
}

static eo_plane_t eo_plane_of(const eo_conv_s8_params_t *p)
{
    eo_plane_t plane;
    const int32_t blocks = p->out_h * p->out_w / 256; /* of about equal rows, >= 256 outputs each */
    plane.block = blocks > 1 ? (p->out_h + blocks - 1) / blocks : p->out_h;
    plane.rows = (plane.block - 1) * p->stride_h + 3;
    plane.pairs = (p->out_w + 1) / 2;
    plane.cols = ((2 * plane.pairs - 1) * p->stride_w + 5) & ~1; /* the last pair's words end there */
    return plane;
}

/* Scratch companion (see eo_quant_dsp.c), defined on every core: for a planar layer the
 * plane of a block and its sums (read 4 at a time), else a pixel of the input zero point for
 * the taps outside the input */
int32_t eo_depthwise_conv2d_s8_dsp_scratch_size(const eo_conv_s8_params_t *p)
{
    if (eo_depthwise_planar(p)) {
        const eo_plane_t plane = eo_plane_of(p);
        return 2 * plane.rows * plane.cols + 4 * ((plane.block * p->out_w + 4) & ~3);
    }
    return (p->out_c + 3) & ~3;
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

/* A channel's nine weights as the int16 pairs the taps take, scaled as the bias by 2^left
 * (the compact channel's 1 + TFLite left shift, at most 8: |w| 2^8 fits int16): {w[r][0],
 * w[r][1]} per row r, {w[0][2], w[1][2]} and {w[2][2], 0} */
typedef struct {
    uint32_t row[3], right, corner;
} eo_taps3x3_t;

/* {low, high} as an int16 pair */
static inline uint32_t eo_pack16(int32_t low, int32_t high)
{
    uint32_t pair;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(pair) : "r"(low), "r"(high));
    return pair;
}

static eo_taps3x3_t eo_taps3x3(const int8_t *w, int32_t left) /* w: tap 0, the taps 4 bytes apart */
{
    eo_taps3x3_t k;
    int32_t r;
    for (r = 0; r < 3; ++r) {
        k.row[r] = eo_pack16(w[12 * r] * (1 << left), w[12 * r + 4] * (1 << left));
    }
    k.right = eo_pack16(w[8] * (1 << left), w[20] * (1 << left));
    k.corner = eo_pack16(w[32] * (1 << left), 0);
    return k;
}

/* acc[r * out_w + o]: the sums of `rows` output rows of one channel, from plane row `top` on
 * (cols int16 a row, `stride` rows from one output row to the next), a pair of outputs per
 * turn of an asm loop (GCC spilled its counter and a weight). Stride 1: outputs o, o + 1 take
 * the words at columns o, o + 1, o + 2 of each row: {x0, x1} and {x1, x2} against the row's
 * first two weights, then x2 and x3 (the third word's halves) against its third. Stride 2:
 * the words at columns 2o, 2o + 2, 2o + 4: {x0, x1} and {x2, x3}, then x2 and x4 (the
 * bottom halves of the second and third). Row 2's first weights and the end come from memory:
 * the loop has 13 registers. */
#define EO_PLANAR_ROW_ASM(row, next, w, from_even, from_odd, third, third_even, third_odd)  \
    "ldr %[t1], [%[" row "], #" next "]\n\tldr %[t2], [%[" row "]], #" next " * 2\n\t"         \
    "smlad %[odd], %[t1], " w ", " from_odd "\n\tsmlad %[even], %[t2], " w ", " from_even "\n\t" \
    "ldr " third ", [%[" row "]]\n\t" third_even "\n\t" third_odd "\n\t"
/* the pair's sums out, and on to the next pair until the row's end */
#define EO_PLANAR_NEXT_PAIR_ASM "strd %[even], %[odd], [%[out]], #8\n\tldr %[t1], %[end]\n\tcmp %[out], %[t1]\n\tbne 1b\n\t"
#define EO_PLANAR_OPERANDS                                                                   \
    : [r0] "+r"(r0), [r1] "+r"(r1), [r2] "+r"(r2), [out] "+r"(out), [even] "=&r"(even), [odd] "=&r"(odd), \
      [t1] "=&r"(t1), [t2] "=&r"(t2)                                                         \
    : [w0] "r"(w0), [w1] "r"(w1), [right] "r"(right), [corner] "r"(corner), [bias] "r"(bias), \
      [w2] "m"(w2), [end] "m"(end)                                                           \
    : "cc", "memory"
static __attribute__((noinline)) void eo_planar_sums(const int16_t *top, int32_t cols, int32_t stride, int32_t rows,
                                                     int32_t pairs, int32_t out_w, const eo_taps3x3_t *k,
                                                     int32_t bias, int32_t *acc)
{
    const uint32_t w0 = k->row[0], w1 = k->row[1], w2 = k->row[2], right = k->right, corner = k->corner;
    /* an odd row's extra sum lands on the next row's first, which overwrites it */
    for (; rows > 0; --rows, top += stride * cols, acc += out_w) {
        const int16_t *r0 = top, *r1 = top + cols, *r2 = top + 2 * cols;
        int32_t *out = acc;
        const int32_t *const end = acc + 2 * pairs;
        int32_t even, odd, t1, t2;
        if (stride == 1) { /* the third word in t1: x2 its bottom half, x3 its top */
            __asm__ volatile(
                "1:\n\t"
                EO_PLANAR_ROW_ASM("r0", "2", "%[w0]", "%[bias]", "%[bias]", "%[t1]",
                                  "smlabb %[even], %[t1], %[right], %[even]", "smlatb %[odd], %[t1], %[right], %[odd]")
                EO_PLANAR_ROW_ASM("r1", "2", "%[w1]", "%[even]", "%[odd]", "%[t1]",
                                  "smlabt %[even], %[t1], %[right], %[even]", "smlatt %[odd], %[t1], %[right], %[odd]")
                "ldr %[t2], %[w2]\n\tldr %[t1], [%[r2], #2]\n\tsmlad %[odd], %[t1], %[t2], %[odd]\n\t"
                "ldr %[t1], [%[r2]], #4\n\tsmlad %[even], %[t1], %[t2], %[even]\n\tldr %[t1], [%[r2]]\n\t"
                "smlabb %[even], %[t1], %[corner], %[even]\n\tsmlatb %[odd], %[t1], %[corner], %[odd]\n\t"
                EO_PLANAR_NEXT_PAIR_ASM EO_PLANAR_OPERANDS);
        } else { /* x2: the second word's bottom half (t1), x4: the third's (t2) */
            __asm__ volatile(
                "1:\n\t"
                EO_PLANAR_ROW_ASM("r0", "4", "%[w0]", "%[bias]", "%[bias]", "%[t2]",
                                  "smlabb %[even], %[t1], %[right], %[even]", "smlabb %[odd], %[t2], %[right], %[odd]")
                EO_PLANAR_ROW_ASM("r1", "4", "%[w1]", "%[even]", "%[odd]", "%[t2]",
                                  "smlabt %[even], %[t1], %[right], %[even]", "smlabt %[odd], %[t2], %[right], %[odd]")
                "ldr %[t2], %[w2]\n\tldr %[t1], [%[r2], #4]\n\tsmlad %[odd], %[t1], %[t2], %[odd]\n\t"
                "smlabb %[even], %[t1], %[corner], %[even]\n\tldr %[t1], [%[r2]], #8\n\t"
                "smlad %[even], %[t1], %[t2], %[even]\n\tldr %[t1], [%[r2]]\n\tsmlabb %[odd], %[t1], %[corner], %[odd]\n\t"
                EO_PLANAR_NEXT_PAIR_ASM EO_PLANAR_OPERANDS);
        }
    }
}
#undef EO_PLANAR_OPERANDS
#undef EO_PLANAR_NEXT_PAIR_ASM
#undef EO_PLANAR_ROW_ASM

/* Outputs of one channel from their scaled sums, requantized as eo_outputs4_of does, four
 * per turn of an asm loop (GCC spilled half of its values): each y[i * step] := out(acc[i])
 * for i < 4 * quads. rounding: the channel's (odd_offset << shift) >> 1. The clamp to the
 * activation range goes through int8 lanes, and only where the range is not all of int8. */
#define EO_PLANAR_OUTPUT_ASM(a) "smmulr %[" #a "], %[" #a "], %[m]\n\t" EO_ROW_OUTPUT_ASM(a)
#define EO_PLANAR_QUAD_ASM                                                                   \
    "ldrd %[a0], %[a1], [%[acc]], #8\n\tldrd %[a2], %[a3], [%[acc]], #8\n\t"                 \
    EO_PLANAR_OUTPUT_ASM(a0) EO_PLANAR_OUTPUT_ASM(a1) EO_PLANAR_OUTPUT_ASM(a2) EO_PLANAR_OUTPUT_ASM(a3)
#define EO_PLANAR_OPERANDS                                                                   \
    : [acc] "+r"(acc), [y] "+r"(y), [n] "+r"(quads), [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), \
      [a3] "=&r"(a3), [t] "=&r"(t)                                                           \
    : [m] "r"(multiplier), [sh] "r"(shift), [r] "r"(rounding), [step] "r"(step), [lo] "m"(low), \
      [hi] "m"(high)                                                                         \
    : "cc", "memory"
static __attribute__((noinline)) void eo_planar_quads(const int32_t *acc, int32_t quads, int32_t multiplier,
                                                      int32_t shift, int32_t rounding, uint32_t low, uint32_t high,
                                                      int8_t *y, int32_t step)
{
    int32_t a0, a1, a2, a3, t;
    if (low == 0x80808080u && high == 0x7F7F7F7Fu) {
        __asm__ volatile("1:\n\t" EO_PLANAR_QUAD_ASM
                         "strb %[a0], [%[y]]\n\tstrb %[a1], [%[y], %[step]]\n\tadd %[y], %[y], %[step], lsl #1\n\t"
                         "strb %[a2], [%[y]]\n\tstrb %[a3], [%[y], %[step]]\n\tadd %[y], %[y], %[step], lsl #1\n\t"
                         "subs %[n], %[n], #1\n\tbne 1b\n\t" EO_PLANAR_OPERANDS);
    } else {
        __asm__ volatile("1:\n\t" EO_PLANAR_QUAD_ASM
                         "bfi %[a0], %[a1], #8, #8\n\tbfi %[a0], %[a2], #16, #8\n\tbfi %[a0], %[a3], #24, #8\n\t"
                         "ldr %[a1], %[lo]\n\tssub8 %[t], %[a0], %[a1]\n\tsel %[a0], %[a0], %[a1]\n\t"
                         "ldr %[a1], %[hi]\n\tssub8 %[t], %[a1], %[a0]\n\tsel %[a0], %[a0], %[a1]\n\t"
                         "strb %[a0], [%[y]]\n\tlsr %[a1], %[a0], #8\n\tstrb %[a1], [%[y], %[step]]\n\t"
                         "add %[y], %[y], %[step], lsl #1\n\t"
                         "lsr %[a1], %[a0], #16\n\tstrb %[a1], [%[y]]\n\tlsr %[a1], %[a0], #24\n\t"
                         "strb %[a1], [%[y], %[step]]\n\tadd %[y], %[y], %[step], lsl #1\n\t"
                         "subs %[n], %[n], #1\n\tbne 1b\n\t" EO_PLANAR_OPERANDS);
    }
}
#undef EO_PLANAR_OPERANDS
#undef EO_PLANAR_QUAD_ASM
#undef EO_PLANAR_OUTPUT_ASM

/* count outputs of one channel, `step` bytes apart, from their sums; the last quad's sums
 * past count (scratch) go to `spare` */
static void eo_planar_outputs(const int32_t *acc, int32_t count, const eo_channel_s8_t *ch,
                              const eo_output_range_t *range, int8_t *y, int32_t step)
{
    const int32_t quads = count / 4, rest = count - 4 * quads;
    const int32_t rounding = eo_channel_rounding(range->odd_offset, ch->shift);
    int32_t i;
    if (quads > 0) {
        eo_planar_quads(acc, quads, ch->multiplier, ch->shift, rounding, range->low, range->high, y, step);
    }
    if (rest > 0) {
        int8_t spare[4];
        eo_planar_quads(acc + 4 * quads, 1, ch->multiplier, ch->shift, rounding, range->low, range->high, spare, 1);
        for (i = 0; i < rest; ++i) {
            y[(4 * quads + i) * step] = spare[i];
        }
    }
}

/* Plane rows [from, to) of one channel: input row first + r; the rows outside the input
 * get the pad value when `pad_rows` (they may hold another block's inputs), and the columns
 * left and right of the input hold it throughout */
static __attribute__((noinline)) void eo_plane_rows(const eo_conv_s8_params_t *p, const int8_t *channel,
                                                    int32_t first, int32_t from, int32_t to, int pad_rows,
                                                    int32_t cols, int32_t in_cols, int16_t *plane_data)
{
    const int32_t step = p->in_c, row_bytes = p->in_w * step;
    const int8_t *src = channel + (first + from) * row_bytes;
    int16_t *dst = plane_data + from * cols + p->pad_w;
    int32_t iy, n;
    for (iy = first + from; iy < first + to; ++iy, src += row_bytes, dst += cols) {
        const int8_t *in = src;
        int16_t *out = dst;
        if (iy < 0 || iy >= p->in_h) {
            for (n = 0; n < in_cols && pad_rows; ++n) {
                out[n] = (int16_t)-p->input_offset;
            }
            continue;
        }
        for (n = in_cols; n >= 4; n -= 4, in += 4 * step, out += 4) {
            const uint32_t low = eo_pack16(in[0], in[step]), high = eo_pack16(in[2 * step], in[3 * step]);
            memcpy(out, &low, 4), memcpy(out + 2, &high, 4);
        }
        for (; n > 0; --n, in += step) {
            *out++ = *in;
        }
    }
}

/* Whether every channel's scale 2^left fits the int16 weights (eo_taps3x3) */
static int eo_planar_scales_fit(const eo_channel_s8_t *channels, int32_t count)
{
    int32_t c;
    for (c = 0; c < count; ++c) {
        if ((channels[c].shift >> 8) > 8) {
            return 0;
        }
    }
    return 1;
}

/* The whole layer, input channel after input channel (compact weights: per group of 4
 * output channels, tap after tap), a block of output rows at a time; plane_data:
 * eo_depthwise_conv2d_s8_dsp_scratch_size bytes. The plane slides down the channel: the rows
 * two blocks share move up, the next block's rows are read in, so each input row is read
 * once. With a depth multiplier of 1, y may be x: a block's outputs overwrite only inputs of
 * their own channel, of rows already in the plane. */
static void eo_depthwise_planar_run(const eo_conv_s8_params_t *p, const int8_t *x, const int8_t *w,
                                    const eo_channel_s8_t *channels, int8_t *y, int16_t *plane_data)
{
    const eo_plane_t plane = eo_plane_of(p);
    const int32_t stride = p->stride_h, kept = plane.rows - plane.block * stride, multiplier = p->depth_multiplier;
    const eo_output_range_t range = eo_output_range(p->act_min, p->act_max, p->output_offset);
    int32_t *const acc = (int32_t *)(void *)(plane_data + plane.rows * plane.cols);
    const int32_t in_cols = p->in_w < plane.cols - p->pad_w ? p->in_w : plane.cols - p->pad_w;
    int32_t b, c, r, m, i;
    for (i = 0; i < plane.rows * plane.cols; ++i) {
        plane_data[i] = (int16_t)-p->input_offset;
    }
    for (b = 0; b < p->batch; ++b) {
        const int8_t *const image = x + b * p->in_h * p->in_w * p->in_c;
        int8_t *const out = y + b * p->out_h * p->out_w * p->out_c;
        for (c = 0; c < p->in_c; ++c) {
            for (r = 0; r < p->out_h; r += plane.block) {
                const int32_t rows = p->out_h - r < plane.block ? p->out_h - r : plane.block;
                const int32_t first = r * stride - p->pad_h; /* the input row of plane row 0 */
                const int32_t needed = (rows - 1) * stride + 3;
                if (r == 0) { /* with one block the rows outside the input only ever hold the pad value */
                    eo_plane_rows(p, image + c, first, 0, needed, plane.block < p->out_h, plane.cols, in_cols,
                                  plane_data);
                } else {
                    memmove(plane_data, plane_data + plane.block * stride * plane.cols,
                            (size_t)(kept * plane.cols) * sizeof(int16_t));
                    eo_plane_rows(p, image + c, first, kept, needed, 1, plane.cols, in_cols, plane_data);
                }
                for (m = 0; m < multiplier; ++m) {
                    const int32_t o = c * multiplier + m;
                    const eo_channel_s8_t *const ch = channels + o;
                    const int32_t left = ch->shift >> 8;
                    const eo_taps3x3_t k = eo_taps3x3(w + (o >> 2) * 36 + (o & 3), left);
                    eo_planar_sums(plane_data, plane.cols, stride, rows, plane.pairs, p->out_w, &k,
                                   ch->bias * (1 << left), acc);
                    eo_planar_outputs(acc, rows * p->out_w, ch, &range, out + r * p->out_w * p->out_c + o, p->out_c);
                }
            }
        }
    }
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
    if (eo_depthwise_planar(p) && eo_planar_scales_fit(channels, p->out_c)) {
        eo_depthwise_planar_run(p, x, w, channels, y, (int16_t *)(void *)padding);
    } else if (p->depth_multiplier == 1) {
        eo_depthwise_dsp(p, x, w, channels, y, padding, 0, 1);
    } else {
        eo_depthwise_dsp(p, x, w, channels, y, padding, 1, 1);
    }
}
#endif
