/* Internal to the runtime: what its int8 DSP kernels (eo_quant_dsp.c and
 * eo_quant_depthwise_dsp.c) share: the requantization in one SMMULR, the output range
 * in four lanes, and SXTB16 helpers. Cores with the DSP extension only. */
#ifndef EO_DSP_H
#define EO_DSP_H

#include <string.h>

#include "eo_runtime.h"

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>

/* The DSP kernels' requantization with the channel's constants precomputed by the compiler
 * (dsp_requantization in edgeopt/ops/quantized_linear.py): the accumulator comes scaled so
 * that one SMMULR is TFLite's rounding doubling high product h, then one shift by e + 1 of
 * 2h + (2^e + output offset * 2^(e + 1)) + sign(h) divides by 2^e with ties away from zero
 * and adds the output offset. odd_offset: 2 * output offset + 1, so that constant is
 * odd_offset << (e + 1) >> 1. Shifts by a register read only its low byte: e + 1 there. */
static inline int32_t eo_channel_rounding(int32_t odd_offset, int32_t shift)
{
    int32_t rounding;
    __asm__("lsl %0, %1, %2\n\tasr %0, %0, #1" : "=&r"(rounding) : "r"(odd_offset), "r"(shift));
    return rounding;
}

static inline int32_t eo_requantize_channel(int32_t acc, const eo_channel_s8_t *c, int32_t odd_offset)
{
    int32_t high, out;
    __asm__("smmulr %0, %1, %2" : "=r"(high) : "r"(acc), "r"(c->multiplier));
    __asm__("asr %0, %1, %2" : "=r"(out)
            : "r"(high * 2 + eo_channel_rounding(odd_offset, c->shift) + (high >> 31)), "r"(c->shift));
    return out;
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

static inline eo_output_range_t eo_output_range(int32_t act_min, int32_t act_max, int32_t output_offset)
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

/* eo_outputs4 for four consecutive channels ch[0..3] in one asm: the same operations, with
 * each channel's multiplier and shift by one LDRD and the range read where it is used (GCC
 * spread these over spills and register moves: ~15 more per four). compact: the
 * accumulators come unscaled (int8 weights) and are first scaled as the expanded weights
 * are, by 2^(1 + TFLite's left shift), from the second byte of the shift (EO_SCALED). */
#define EO_CHANNEL_OUTPUT_ASM(acc, offset, scale)                                            \
    "ldrd %[m], %[sh], [%[ch], #" #offset "]\n\t" scale("%[" #acc "]")                         \
    "smmulr %[" #acc "], %[" #acc "], %[m]\n\t"                                                \
    "lsl %[r], %[odd], %[sh]\n\t"                                                              \
    "asr %[r], %[r], #1\n\t"                                                                   \
    "add %[r], %[r], %[" #acc "], lsl #1\n\t"                                                  \
    "add %[r], %[r], %[" #acc "], asr #31\n\t"                                                 \
    "asr %[" #acc "], %[r], %[sh]\n\t"                                                         \
    "ssat %[" #acc "], #8, %[" #acc "]\n\t"
#define EO_UNSCALED(acc) ""
#define EO_SCALED(acc) "lsr %[r], %[sh], #8\n\tlsl " acc ", " acc ", %[r]\n\t"
#define EO_SCALED2(acc0, acc1) "lsr %[r], %[sh], #8\n\tlsl " acc0 ", " acc0 ", %[r]\n\tlsl " acc1 ", " acc1 ", %[r]\n\t"
/* a0 := lanes a0..a3, clamped to the range */
#define EO_LANES_ASM                                                                         \
    "bfi %[a0], %[a1], #8, #8\n\tbfi %[a0], %[a2], #16, #8\n\tbfi %[a0], %[a3], #24, #8\n\t"  \
    "ldr %[m], [%[range]]\n\tssub8 %[r], %[a0], %[m]\n\tsel %[a0], %[a0], %[m]\n\t"            \
    "ldr %[m], [%[range], #4]\n\tssub8 %[r], %[m], %[a0]\n\tsel %[a0], %[a0], %[m]\n\t"
#define EO_OUTPUTS4_ASM(scale)                                                               \
    "ldr %[odd], [%[range], #8]\n\t" EO_CHANNEL_OUTPUT_ASM(a0, 4, scale)                       \
    EO_CHANNEL_OUTPUT_ASM(a1, 16, scale) EO_CHANNEL_OUTPUT_ASM(a2, 28, scale)                  \
    EO_CHANNEL_OUTPUT_ASM(a3, 40, scale) EO_LANES_ASM
/* the operands of both asm helpers (more temporaries as the argument) */
#define EO_OUTPUTS_OPERANDS(...)                                                             \
    : [a0] "+&r"(a0), [a1] "+&r"(a1), [a2] "+&r"(a2), [a3] "+&r"(a3), [m] "=&r"(m), [sh] "=&r"(sh), \
      [r] "=&r"(r), [odd] "=&r"(odd) __VA_ARGS__                                                   \
    : [ch] "r"(ch), [range] "r"(range)                                                         \
    : "cc", "memory"
static inline uint32_t eo_outputs4_of(int32_t a0, int32_t a1, int32_t a2, int32_t a3, const eo_channel_s8_t *ch,
                                      const eo_output_range_t *range, int compact)
{
    uint32_t m, sh, r, odd;
    if (compact) {
        __asm__(EO_OUTPUTS4_ASM(EO_SCALED) EO_OUTPUTS_OPERANDS());
    } else {
        __asm__(EO_OUTPUTS4_ASM(EO_UNSCALED) EO_OUTPUTS_OPERANDS());
    }
    return (uint32_t)a0;
}

/* The same for two rows of two channels (the matrix-product pair kernel, compact weights;
 * with expanded ones GCC's code for eo_outputs4 is as short): lanes {ch[0], ch[1]} of row 0
 * from a0, a1, then of row 1 from a2, a3; each channel's constants and rounding serve both
 * rows */
#define EO_ROW_OUTPUT_ASM(acc)                                                               \
    "add %[t], %[r], %[" #acc "], lsl #1\n\tadd %[t], %[t], %[" #acc "], asr #31\n\t"          \
    "asr %[" #acc "], %[t], %[sh]\n\tssat %[" #acc "], #8, %[" #acc "]\n\t"
#define EO_CHANNEL_ROWS_ASM(acc0, acc1, offset, scale)                                       \
    "ldrd %[m], %[sh], [%[ch], #" #offset "]\n\t" scale("%[" #acc0 "]", "%[" #acc1 "]")          \
    "smmulr %[" #acc0 "], %[" #acc0 "], %[m]\n\tsmmulr %[" #acc1 "], %[" #acc1 "], %[m]\n\t"   \
    "lsl %[r], %[odd], %[sh]\n\tasr %[r], %[r], #1\n\t" EO_ROW_OUTPUT_ASM(acc0) EO_ROW_OUTPUT_ASM(acc1)
#define EO_OUTPUTS_PAIR_ASM(scale)                                                           \
    "ldr %[odd], [%[range], #8]\n\t" EO_CHANNEL_ROWS_ASM(a0, a2, 4, scale)                     \
    EO_CHANNEL_ROWS_ASM(a1, a3, 16, scale) EO_LANES_ASM
static inline uint32_t eo_outputs_pair_compact(int32_t a0, int32_t a1, int32_t a2, int32_t a3,
                                               const eo_channel_s8_t *ch, const eo_output_range_t *range)
{
    uint32_t m, sh, r, t, odd;
    __asm__(EO_OUTPUTS_PAIR_ASM(EO_SCALED2) EO_OUTPUTS_OPERANDS(, [t] "=&r"(t)));
    return (uint32_t)a0;
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
    uint32_t even, odd; /* one STRD: GCC stores the two words apart */
    __asm__("sxtb16 %[even], %[v]\n\tsxtb16 %[odd], %[v], ror #8\n\tstrd %[even], %[odd], [%[dst]]"
            : [even] "=&r"(even), [odd] "=&r"(odd), "=m"(*(uint32_t(*)[2])dst)
            : [v] "r"(v), [dst] "r"(dst));
}

/* The kernels below are each written once for both weight layouts: `compact` is a constant
 * in every call, so each exported kernel keeps only its own passes. */
#define EO_BOTH_LAYOUTS static inline __attribute__((always_inline))
#endif

#endif
