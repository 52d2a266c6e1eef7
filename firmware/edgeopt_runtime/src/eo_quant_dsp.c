/* int8 kernels for cores with the DSP extension (Cortex-M4/M7/M33): SMLAD on int16 pairs
 * and requantization in one SMMULR, bit-exact with TFLite. */
#include "eo_dsp.h"

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

#if defined(__ARM_FEATURE_DSP)
/* The inner passes of the matrix-product kernels are assembly so that GCC keeps all twelve
 * values in registers (it spills when it schedules SMLADs itself): four accumulators a0..a3,
 * four words of int16 input pairs xa..xd, two words of weights, and the two pointers. The
 * input words live in fixed registers in ascending order, so one LDM loads all four (LDM
 * fills its list lowest register first); r7 (Thumb's frame pointer) and r9 (a platform
 * register on some ABIs) are left to GCC. */
#define EO_INPUT_REGISTERS                                                                  \
    register uint32_t xa __asm__("r4"), xb __asm__("r5"), xc __asm__("r6"), xd __asm__("r8")
#define EO_DSP_PASS(text)                                                                   \
    do {                                                                                    \
        EO_INPUT_REGISTERS;                                                                 \
        uint32_t w0, w1;                                                                    \
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
        EO_INPUT_REGISTERS;                                                                 \
        uint32_t w0, w1, w2;                                                                \
        __asm__(text                                                                        \
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3),               \
                  [xp] "+r"(xp), [wp] "+r"(wp), [xa] "=&r"(xa), [xb] "=&r"(xb),             \
                  [xc] "=&r"(xc), [xd] "=&r"(xd), [w0] "=&r"(w0), [w1] "=&r"(w1),           \
                  [w2] "=&r"(w2)                                                            \
                :                                                                           \
                : "memory");                                                                \
    } while (0)
/* xa..xd := the next four words of int16 input pairs (eo_expand4) */
#define EO_INT16_INPUTS_ASM "ldmia %[xp]!, {%[xa], %[xb], %[xc], %[xd]}\n\t"
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
            lanes = eo_outputs4_of(a0, a1, a2, a3, c, &range, compact);
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
        if (compact) {
            lanes = eo_outputs_pair_compact(a0, a1, a2, a3, c, &range);
        } else {
            lanes = eo_outputs4(a0, a1, a2, a3, c, c + 1, c, c + 1, &range);
        }
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

/* Bytes [at, at + 4) of a patch row without dilation at the input's edge, the row's first
 * tap at src[start]: those in [inside, end) from the input, the others padding */
static uint32_t eo_edge_word(const int8_t *src, int32_t start, int32_t at, int32_t inside, int32_t end,
                             uint32_t padding)
{
    uint32_t word = padding;
    int32_t k;
    for (k = at < inside ? inside - at : 0; k < 4 && at + k < end; ++k) {
        word = (word & ~(0xffu << 8 * k)) | (uint32_t)(uint8_t)src[start + at + k] << 8 * k;
    }
    return word;
}

/* A patch wholly inside the input, without dilation: k_h rows of `row` bytes (whole words),
 * `step` apart from src, as int16 pairs into every other pair of words (eo_expand4). In asm:
 * six instructions a word and three a row, where GCC's loops took nine and fourteen (LDR
 * reads unaligned words on these cores, as memcpy's does). */
static void eo_patch_inside(const int8_t *src, int32_t step, int32_t k_h, int32_t row, uint32_t *dst)
{
    const int8_t *at, *end;
    uint32_t word, even, odd;
    /* volatile: its only output is memory */
    __asm__ volatile("1:\n\t"
                     "mov %[at], %[src]\n\tadd %[end], %[src], %[row]\n"
                     "2:\n\t"
                     "ldr %[word], [%[at]], #4\n\t"
                     "sxtb16 %[even], %[word]\n\tsxtb16 %[odd], %[word], ror #8\n\t"
                     "strd %[even], %[odd], [%[dst]], #16\n\t"
                     "cmp %[at], %[end]\n\tblo 2b\n\t"
                     "add %[src], %[src], %[step]\n\tsubs %[rows], %[rows], #1\n\tbne 1b"
                     : [src] "+r"(src), [rows] "+r"(k_h), [dst] "+r"(dst), [at] "=&r"(at), [end] "=&r"(end),
                       [word] "=&r"(word), [even] "=&r"(even), [odd] "=&r"(odd)
                     : [step] "r"(step), [row] "r"(row)
                     : "cc", "memory");
}

/* A patch that crosses the input's edges, as eo_patch_inside lays it out. A row of taps
 * without dilation is contiguous in the input: its words inside the input load straight
 * from it, those at its edges byte by byte. Taps of whole words (in_c a multiple of 4) load
 * per tap; rows outside the input are the zero point; any other word is built byte by byte.
 * Out of line: the inside patches' path stays short. */
static __attribute__((noinline)) void eo_patch_edges(const eo_conv_s8_params_t *p, const int8_t *x, int32_t b,
                                                     int32_t iy0, int32_t ix0, uint32_t *dst)
{
    const int32_t n = p->in_c, row = eo_conv_row(p), taps = p->k_w * n;
    const int contiguous = p->dil_w == 1;
    const uint32_t padding = (uint8_t)(-p->input_offset) * 0x01010101u;
    int32_t ky, kx, c, at;
    for (ky = 0; ky < p->k_h; ++ky) {
        const int32_t iy = iy0 + ky * p->dil_h;
        const int8_t *src = iy >= 0 && iy < p->in_h ? x + (b * p->in_h + iy) * p->in_w * n : NULL;
        at = 0;
        if (!src) {
            for (; at + 4 <= taps; at += 4, dst += 4) {
                eo_expand4(dst, padding);
            }
        } else if (contiguous) { /* patch row bytes [inside, end) lie in the input */
            const int32_t start = ix0 * n, inside = start < 0 ? -start : 0, input_end = p->in_w * n - start;
            const int32_t end = input_end < row ? input_end : row; /* bytes past the taps meet zero weights */
            const int32_t first = (inside + 3) & ~3, last = end & ~3; /* the whole words inside */
            for (; at < first && at < row; at += 4, dst += 4) {
                eo_expand4(dst, eo_edge_word(src, start, at, inside, end, padding));
            }
            for (; at < last; at += 4, dst += 4) {
                uint32_t word;
                memcpy(&word, src + start + at, 4);
                eo_expand4(dst, word);
            }
            for (; at < row; at += 4, dst += 4) {
                eo_expand4(dst, eo_edge_word(src, start, at, inside, end, padding));
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

/* One pixel's patch (every channel of every tap) as int16 pairs (eo_patch_inside) */
static void eo_patch_pairs(const eo_conv_s8_params_t *p, const int8_t *x, int32_t b, int32_t oy, int32_t ox,
                           uint32_t *dst)
{
    const int32_t ix0 = ox * p->stride_w - p->pad_w, iy0 = oy * p->stride_h - p->pad_h;
    const int32_t n = p->in_c, row = eo_conv_row(p);
    if (p->dil_w == 1 && ix0 >= 0 && ix0 * n + row <= p->in_w * n && iy0 >= 0 &&
        iy0 + (p->k_h - 1) * p->dil_h < p->in_h) {
        eo_patch_inside(x + ((b * p->in_h + iy0) * p->in_w + ix0) * n, p->dil_h * p->in_w * n, p->k_h, row, dst);
    } else {
        eo_patch_edges(p, x, b, iy0, ix0, dst);
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
