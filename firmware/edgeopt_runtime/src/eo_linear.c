/* Dense (weights packed by the compiler, see eo_runtime.h) and general strided GEMM. */
#include <stddef.h>
#include <string.h>

#include "eo_host_avx.h"
#include "eo_runtime.h"

/* One out-of-line copy of the helpers both dense entry points share (flash matters). */
/* The assembly loops below read their input operands (loop ends) after they have advanced
 * the pointers, so those are early-clobber ("+&r"): GCC would otherwise give an end and a
 * pointer that hold the same value (e.g. the second row and the first row's end) one
 * register. */
#if defined(__GNUC__)
#define EO_NOINLINE __attribute__((noinline))
#else
#define EO_NOINLINE
#endif

#if EO_AVX
/* x86 hosts (the simulator): a block's eight accumulators as one AVX register, which
 * compilers do not find on their own (it vectorizes across outputs, not a reduction). */
static void eo_store8(float *y, int32_t stride, eo_f32x8 v)
{
    int32_t j;
    for (j = 0; j < EO_DENSE_BLOCK; ++j) {
        y[j * stride] = v[j];
    }
}
#endif

/* sum + a . b, summed in order */
#if defined(__ARM_FP) && (__ARM_FP & 4) && defined(__thumb2__) && defined(__GNUC__)
/* FPU cores: four products per VLDM pair (GCC loads one float at a time) */
EO_NOINLINE static float eo_dot(const float *a, const float *b, int32_t n, float sum)
{
    const float *end4 = a + (n & ~3), *end = a + n;
    __asm__ volatile("cmp %[a], %[end4]\n\t"
                     "beq 2f\n"
                     "1:\n\t"
                     "vldmia %[a]!, {s8-s11}\n\t"
                     "vldmia %[b]!, {s12-s15}\n\t"
                     "vfma.f32 %[sum], s8, s12\n\tvfma.f32 %[sum], s9, s13\n\t"
                     "vfma.f32 %[sum], s10, s14\n\tvfma.f32 %[sum], s11, s15\n\t"
                     "cmp %[a], %[end4]\n\t"
                     "bne 1b\n"
                     "2:\n\t"
                     "cmp %[a], %[end]\n\t"
                     "beq 4f\n"
                     "3:\n\t"
                     "vldmia %[a]!, {s8}\n\t"
                     "vldmia %[b]!, {s12}\n\t"
                     "vfma.f32 %[sum], s8, s12\n\t"
                     "cmp %[a], %[end]\n\t"
                     "bne 3b\n"
                     "4:"
                     : [a] "+&r"(a), [b] "+&r"(b), [sum] "+&t"(sum)
                     : [end4] "r"(end4), [end] "r"(end)
                     : "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15", "cc", "memory");
    return sum;
}
#elif EO_AVX
/* x86 hosts: eight products per vector, two vectors per turn, summed across the lanes at
 * the end (an in-order sum is one FMA latency per input: the 1-D CNN's 240 -> 4 layer took
 * most of its time). The same order for dot(a, b) and dot(b, a). */
EO_NOINLINE static float eo_dot(const float *a, const float *b, int32_t n, float sum)
{
    eo_f32x8 s0 = {0.0f}, s1 = s0;
    int32_t i = 0, lane;
    for (; i + 16 <= n; i += 16) {
        s0 += eo_load8(a + i) * eo_load8(b + i);
        s1 += eo_load8(a + i + 8) * eo_load8(b + i + 8);
    }
    if (i + 8 <= n) {
        s0 += eo_load8(a + i) * eo_load8(b + i);
        i += 8;
    }
    s0 += s1;
    for (lane = 0; lane < EO_DENSE_BLOCK; ++lane) {
        sum += s0[lane];
    }
    for (; i < n; ++i) {
        sum += a[i] * b[i];
    }
    return sum;
}
#else
EO_NOINLINE static float eo_dot(const float *a, const float *b, int32_t n, float sum)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        sum += a[i] * b[i];
    }
    return sum;
}
#endif

/* Four outputs of y = W x + bias from their plain rows (rows of the layer's outs % 8 tail,
 * stored row after row): each loaded input feeds four rows, each row summed in input order
 * as eo_dot does. bias: four floats (eo_no_bias if the layer has none). */
#if defined(__ARM_FP) && (__ARM_FP & 4) && defined(__thumb2__) && defined(__GNUC__)
#define EO_ROW_VFMA4(acc, w0, w1, w2, w3)                                                          \
    "vfma.f32 " acc ", s4, " w0 "\n\tvfma.f32 " acc ", s5, " w1 "\n\tvfma.f32 " acc ", s6, " w2 \
    "\n\tvfma.f32 " acc ", s7, " w3 "\n\t"
EO_NOINLINE static void eo_rows4(const float *x, const float *w, const float *bias, float *y, int32_t ins)
{
    const float *w1 = w + ins, *w2 = w1 + ins, *w3 = w2 + ins, *end4 = x + (ins & ~3), *end = x + ins;
    /* two rows' weights at a time in s8-s15: no callee-saved registers to spill */
    __asm__ volatile("vldmia %[bias], {s0-s3}\n\t"
                     "cmp %[x], %[end4]\n\t"
                     "beq 2f\n"
                     "1:\n\t"
                     "vldmia %[x]!, {s4-s7}\n\t"
                     "vldmia %[w0]!, {s8-s11}\n\t"
                     "vldmia %[w1]!, {s12-s15}\n\t"
                     EO_ROW_VFMA4("s0", "s8", "s9", "s10", "s11") EO_ROW_VFMA4("s1", "s12", "s13", "s14", "s15")
                     "vldmia %[w2]!, {s8-s11}\n\t"
                     "vldmia %[w3]!, {s12-s15}\n\t"
                     EO_ROW_VFMA4("s2", "s8", "s9", "s10", "s11") EO_ROW_VFMA4("s3", "s12", "s13", "s14", "s15")
                     "cmp %[x], %[end4]\n\t"
                     "bne 1b\n"
                     "2:\n\t"
                     "cmp %[x], %[end]\n\t"
                     "beq 4f\n"
                     "3:\n\t" /* the ins % 4 odd inputs */
                     "vldmia %[x]!, {s4}\n\t"
                     "vldmia %[w0]!, {s8}\n\t"
                     "vldmia %[w1]!, {s9}\n\t"
                     "vldmia %[w2]!, {s10}\n\t"
                     "vldmia %[w3]!, {s11}\n\t"
                     "vfma.f32 s0, s4, s8\n\tvfma.f32 s1, s4, s9\n\tvfma.f32 s2, s4, s10\n\tvfma.f32 s3, s4, s11\n\t"
                     "cmp %[x], %[end]\n\t"
                     "bne 3b\n"
                     "4:\n\t"
                     "vstmia %[y], {s0-s3}"
                     : [x] "+&r"(x), [w0] "+&r"(w), [w1] "+&r"(w1), [w2] "+&r"(w2), [w3] "+&r"(w3)
                     : [end4] "r"(end4), [end] "r"(end), [bias] "r"(bias), [y] "r"(y)
                     : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13",
                       "s14", "s15", "cc", "memory");
}
#else
EO_NOINLINE static void eo_rows4(const float *x, const float *w, const float *bias, float *y, int32_t ins)
{
    int32_t k;
    for (k = 0; k < 4; ++k) {
        y[k] = eo_dot(x, w + k * ins, ins, bias[k]);
    }
}
#endif

/* s0..s7 += a * wp[0..7] */
#define EO_DENSE_STEP(a, wp)         \
    do {                             \
        s0 += (a) * (wp)[0];         \
        s1 += (a) * (wp)[1];         \
        s2 += (a) * (wp)[2];         \
        s3 += (a) * (wp)[3];         \
        s4 += (a) * (wp)[4];         \
        s5 += (a) * (wp)[5];         \
        s6 += (a) * (wp)[6];         \
        s7 += (a) * (wp)[7];         \
    } while (0)

/* The bias of layers without one */
static const float eo_no_bias[EO_DENSE_BLOCK];

#if EO_AVX
/* The blocks with the eight accumulators in one vector (same contracts as below); four
 * partial sums, one per input of a turn, so that the FMAs do not wait on each other */
static void eo_dense_block8(const float *restrict xr, const float *restrict wp, const float *bias,
                            float *restrict y, int32_t ins)
{
    eo_f32x8 s0 = eo_load8(bias), s1 = {0.0f}, s2 = s1, s3 = s1;
    int32_t i;
    for (i = 0; i + 4 <= ins; i += 4, wp += 4 * EO_DENSE_BLOCK) {
        s0 += xr[i] * eo_load8(wp);
        s1 += xr[i + 1] * eo_load8(wp + EO_DENSE_BLOCK);
        s2 += xr[i + 2] * eo_load8(wp + 2 * EO_DENSE_BLOCK);
        s3 += xr[i + 3] * eo_load8(wp + 3 * EO_DENSE_BLOCK);
    }
    s0 = (s0 + s1) + (s2 + s3);
    for (; i < ins; ++i, wp += EO_DENSE_BLOCK) {
        s0 += xr[i] * eo_load8(wp);
    }
    eo_store8(y, 1, s0);
}

/* Two rows summed in the same order as eo_dense_block8 (four partial sums each), so a
 * row's outputs do not depend on the row it is paired with or on the kernel. */
static void eo_dense_block8x2(const float *restrict x0, const float *restrict x1,
                              const float *restrict wp, const float *bias0, const float *bias1,
                              float *restrict y0, float *restrict y1, int32_t y_col_stride, int32_t ins)
{
    eo_f32x8 s0 = eo_load8(bias0), s1 = {0.0f}, s2 = s1, s3 = s1;
    eo_f32x8 t0 = eo_load8(bias1), t1 = s1, t2 = s1, t3 = s1;
    int32_t i;
    for (i = 0; i + 4 <= ins; i += 4, wp += 4 * EO_DENSE_BLOCK) {
        const eo_f32x8 w0 = eo_load8(wp), w1 = eo_load8(wp + EO_DENSE_BLOCK);
        const eo_f32x8 w2 = eo_load8(wp + 2 * EO_DENSE_BLOCK), w3 = eo_load8(wp + 3 * EO_DENSE_BLOCK);
        s0 += x0[i] * w0;
        s1 += x0[i + 1] * w1;
        s2 += x0[i + 2] * w2;
        s3 += x0[i + 3] * w3;
        t0 += x1[i] * w0;
        t1 += x1[i + 1] * w1;
        t2 += x1[i + 2] * w2;
        t3 += x1[i + 3] * w3;
    }
    s0 = (s0 + s1) + (s2 + s3);
    t0 = (t0 + t1) + (t2 + t3);
    for (; i < ins; ++i, wp += EO_DENSE_BLOCK) {
        const eo_f32x8 w8 = eo_load8(wp);
        s0 += x0[i] * w8;
        t0 += x1[i] * w8;
    }
    eo_store8(y0, y_col_stride, s0);
    eo_store8(y1, y_col_stride, t0);
}

/* The outs % 8 plain rows of a layer for a few input rows: one eo_dot per output, no
 * padded copy of the weights (about 8 x ins stores, more than a row's products) */
#define EO_AVX_TAIL_DOT_ROWS 8

static void eo_dense_tail_dots(const float *x, const float *w, const float *bias, float *y, int32_t rows,
                               int32_t count, int32_t ins, int32_t y_row_stride, int32_t y_col_stride)
{
    int32_t r, j;
    for (r = 0; r < rows; ++r) {
        for (j = 0; j < count; ++j) {
            y[r * y_row_stride + j * y_col_stride] = eo_dot(x + r * ins, w + j * ins, ins, bias ? bias[j] : 0.0f);
        }
    }
}

/* The same for many rows (im2col convolutions): the plain rows as one zero-padded block
 * (transposed on the stack: a host-only path), so few-channel convolutions get the vector
 * kernel too; only the valid outputs are stored. */
static void eo_dense_tail_avx(const float *x, const float *w, const float *bias, float *y, int32_t rows,
                              int32_t count, int32_t ins, int32_t y_row_stride, int32_t y_col_stride)
{
    float block[EO_AVX_TAIL_INS * EO_DENSE_BLOCK];
    float block_bias[EO_DENSE_BLOCK] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    float out0[EO_DENSE_BLOCK], out1[EO_DENSE_BLOCK];
    int32_t j, r;
    eo_pad_tail_block(w, count, ins, block);
    for (j = 0; bias && j < count; ++j) {
        block_bias[j] = bias[j];
    }
    for (r = 0; r < rows; r += 2) {
        const int32_t second = r + 1 < rows ? r + 1 : r;
        eo_dense_block8x2(x + r * ins, x + second * ins, block, block_bias, block_bias, out0, out1, 1, ins);
        for (j = 0; j < count; ++j) {
            y[r * y_row_stride + j * y_col_stride] = out0[j];
            y[second * y_row_stride + j * y_col_stride] = out1[j];
        }
    }
}
#else
/* Eight outputs per pass over packed weights: every loaded input feeds eight
 * accumulators and the weights stream from one pointer (vldr with immediate offsets).
 * Four inputs per turn amortize the loop overhead (then the ins % 4 odd ones one by one:
 * the packing stores them input-major too), the outputs are contiguous and there is a
 * bias (eo_no_bias if the layer has none): all of this keeps it small (flash matters on
 * microcontrollers). */
#if defined(__ARM_FP) && (__ARM_FP & 4) && defined(__thumb2__) && defined(__GNUC__)
/* Cortex-M cores with a single-precision FPU: the same loop in assembly, since GCC neither
 * loads a block's eight weights with one VLDM nor keeps the accumulators in s0-s7; four
 * inputs (one VLDM) feed 32 VFMAs, about 1.2 instructions per MAC. */
#define EO_DENSE_VFMA8(x)                                                                   \
    "vldmia %[wp]!, {s8-s15}\n\t"                                                          \
    "vfma.f32 s0, " x ", s8\n\tvfma.f32 s1, " x ", s9\n\tvfma.f32 s2, " x ", s10\n\t"       \
    "vfma.f32 s3, " x ", s11\n\tvfma.f32 s4, " x ", s12\n\tvfma.f32 s5, " x ", s13\n\t"     \
    "vfma.f32 s6, " x ", s14\n\tvfma.f32 s7, " x ", s15\n\t"
EO_NOINLINE static void eo_dense_block8(const float *restrict xr, const float *restrict wp, const float *bias,
                                        float *restrict y, int32_t ins)
{
    const float *end4 = xr + (ins & ~3), *end = xr + ins;
    __asm__ volatile("vldmia %[bias], {s0-s7}\n\t"
                     "cmp %[xr], %[end4]\n\t"
                     "beq 2f\n"
                     "1:\n\t"
                     "vldmia %[xr]!, {s16-s19}\n\t"
                     EO_DENSE_VFMA8("s16") EO_DENSE_VFMA8("s17") EO_DENSE_VFMA8("s18") EO_DENSE_VFMA8("s19")
                     "cmp %[xr], %[end4]\n\t"
                     "bne 1b\n"
                     "2:\n\t"
                     "cmp %[xr], %[end]\n\t"
                     "beq 4f\n"
                     "3:\n\t" /* the ins % 4 odd inputs */
                     "vldmia %[xr]!, {s16}\n\t"
                     EO_DENSE_VFMA8("s16")
                     "cmp %[xr], %[end]\n\t"
                     "bne 3b\n"
                     "4:\n\t"
                     "vstmia %[y], {s0-s7}"
                     : [xr] "+&r"(xr), [wp] "+&r"(wp)
                     : [bias] "r"(bias), [end4] "r"(end4), [end] "r"(end), [y] "r"(y)
                     : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12",
                       "s13", "s14", "s15", "s16", "s17", "s18", "s19", "cc", "memory");
}
#else
EO_NOINLINE static void eo_dense_block8(const float *restrict xr, const float *restrict wp, const float *bias,
                                        float *restrict y, int32_t ins)
{
    float s0 = bias[0], s1 = bias[1], s2 = bias[2], s3 = bias[3];
    float s4 = bias[4], s5 = bias[5], s6 = bias[6], s7 = bias[7];
    int32_t i;
    for (i = 0; i + 4 <= ins; i += 4, wp += 32) {
        const float a = xr[i], b = xr[i + 1], c = xr[i + 2], d = xr[i + 3];
        EO_DENSE_STEP(a, wp);
        EO_DENSE_STEP(b, wp + 8);
        EO_DENSE_STEP(c, wp + 16);
        EO_DENSE_STEP(d, wp + 24);
    }
    for (; i < ins; ++i, wp += 8) {
        EO_DENSE_STEP(xr[i], wp);
    }
    y[0] = s0, y[1] = s1, y[2] = s2, y[3] = s3, y[4] = s4, y[5] = s5, y[6] = s6, y[7] = s7;
}
#endif

/* s_j += a * w_j and t_j += b * w_j for one weight w_j */
#define EO_DENSE_PAIR(j)                  \
    do {                                  \
        const float wj = wp[j];           \
        s##j += a * wj;                   \
        t##j += b * wj;                   \
    } while (0)

#if defined(__ARM_FP) && (__ARM_FP & 4) && defined(__thumb2__) && defined(__GNUC__)
/* Two rows x eight outputs per pass: each loaded weight feeds two accumulators, which is
 * what convolutions (many output pixels per weight) and tangent rows gain from. In assembly
 * on FPU cores: the 16 accumulators in s0-s15, a block's eight weights in s16-s23 by one
 * VLDM and four inputs of each row in s24-s31: 64 VFMAs per 6 loads. */
#define EO_DENSE_VFMA16(x0, x1)                                                                  \
    "vldmia %[wp]!, {s16-s23}\n\t"                                                               \
    "vfma.f32 s0, " x0 ", s16\n\tvfma.f32 s1, " x0 ", s17\n\tvfma.f32 s2, " x0 ", s18\n\t"        \
    "vfma.f32 s3, " x0 ", s19\n\tvfma.f32 s4, " x0 ", s20\n\tvfma.f32 s5, " x0 ", s21\n\t"        \
    "vfma.f32 s6, " x0 ", s22\n\tvfma.f32 s7, " x0 ", s23\n\t"                                  \
    "vfma.f32 s8, " x1 ", s16\n\tvfma.f32 s9, " x1 ", s17\n\tvfma.f32 s10, " x1 ", s18\n\t"       \
    "vfma.f32 s11, " x1 ", s19\n\tvfma.f32 s12, " x1 ", s20\n\tvfma.f32 s13, " x1 ", s21\n\t"     \
    "vfma.f32 s14, " x1 ", s22\n\tvfma.f32 s15, " x1 ", s23\n\t"
static void eo_dense_block8x2(const float *restrict x0, const float *restrict x1,
                              const float *restrict wp, const float *bias0, const float *bias1,
                              float *restrict y0, float *restrict y1, int32_t y_col_stride, int32_t ins)
{
    float out[2 * EO_DENSE_BLOCK];
    const float *end4 = x0 + (ins & ~3), *end = x0 + ins;
    float *o0 = y_col_stride == 1 ? y0 : out, *o1 = y_col_stride == 1 ? y1 : out + EO_DENSE_BLOCK;
    int32_t j;
    __asm__ volatile("vldmia %[bias0], {s0-s7}\n\t"
                     "vldmia %[bias1], {s8-s15}\n\t"
                     "cmp %[x0], %[end4]\n\t"
                     "beq 2f\n"
                     "1:\n\t"
                     "vldmia %[x0]!, {s24-s27}\n\t"
                     "vldmia %[x1]!, {s28-s31}\n\t"
                     EO_DENSE_VFMA16("s24", "s28") EO_DENSE_VFMA16("s25", "s29")
                     EO_DENSE_VFMA16("s26", "s30") EO_DENSE_VFMA16("s27", "s31")
                     "cmp %[x0], %[end4]\n\t"
                     "bne 1b\n"
                     "2:\n\t"
                     "cmp %[x0], %[end]\n\t"
                     "beq 4f\n"
                     "3:\n\t" /* the ins % 4 odd inputs */
                     "vldmia %[x0]!, {s24}\n\t"
                     "vldmia %[x1]!, {s28}\n\t"
                     EO_DENSE_VFMA16("s24", "s28")
                     "cmp %[x0], %[end]\n\t"
                     "bne 3b\n"
                     "4:\n\t"
                     "vstmia %[o0], {s0-s7}\n\t"
                     "vstmia %[o1], {s8-s15}"
                     : [x0] "+&r"(x0), [x1] "+&r"(x1), [wp] "+&r"(wp)
                     : [bias0] "r"(bias0), [bias1] "r"(bias1), [end4] "r"(end4), [end] "r"(end),
                       [o0] "r"(o0), [o1] "r"(o1)
                     : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12",
                       "s13", "s14", "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24",
                       "s25", "s26", "s27", "s28", "s29", "s30", "s31", "cc", "memory");
    for (j = 0; y_col_stride != 1 && j < EO_DENSE_BLOCK; ++j) {
        y0[j * y_col_stride] = out[j];
        y1[j * y_col_stride] = out[EO_DENSE_BLOCK + j];
    }
}
#else
/* Two rows x eight outputs per pass: each loaded weight feeds two accumulators, which
 * is what convolutions (many output pixels per weight) gain from. 16 accumulators,
 * the weights and 2 inputs fit the 32 single-precision registers of an FPv4/FPv5 FPU. */
static void eo_dense_block8x2(const float *restrict x0, const float *restrict x1,
                              const float *restrict wp, const float *bias0, const float *bias1,
                              float *restrict y0, float *restrict y1, int32_t y_col_stride, int32_t ins)
{
    float s0 = bias0[0], s1 = bias0[1], s2 = bias0[2], s3 = bias0[3];
    float s4 = bias0[4], s5 = bias0[5], s6 = bias0[6], s7 = bias0[7];
    float t0 = bias1[0], t1 = bias1[1], t2 = bias1[2], t3 = bias1[3];
    float t4 = bias1[4], t5 = bias1[5], t6 = bias1[6], t7 = bias1[7];
    int32_t i;
    for (i = 0; i < ins; ++i, wp += EO_DENSE_BLOCK) {
        const float a = x0[i], b = x1[i];
        EO_DENSE_PAIR(0);
        EO_DENSE_PAIR(1);
        EO_DENSE_PAIR(2);
        EO_DENSE_PAIR(3);
        EO_DENSE_PAIR(4);
        EO_DENSE_PAIR(5);
        EO_DENSE_PAIR(6);
        EO_DENSE_PAIR(7);
    }
    y0[0] = s0, y0[y_col_stride] = s1, y0[2 * y_col_stride] = s2, y0[3 * y_col_stride] = s3;
    y0[4 * y_col_stride] = s4, y0[5 * y_col_stride] = s5, y0[6 * y_col_stride] = s6;
    y0[7 * y_col_stride] = s7;
    y1[0] = t0, y1[y_col_stride] = t1, y1[2 * y_col_stride] = t2, y1[3 * y_col_stride] = t3;
    y1[4 * y_col_stride] = t4, y1[5 * y_col_stride] = t5, y1[6 * y_col_stride] = t6;
    y1[7 * y_col_stride] = t7;
}
#endif

#endif /* AVX */

void eo_dense_strided_f32(const float *x, const float *w, const float *bias, float *y,
                          int32_t rows, int32_t outs, int32_t ins, int32_t y_row_stride,
                          int32_t y_col_stride)
{
    const int32_t blocked = outs - outs % EO_DENSE_BLOCK;
    int32_t r, o, i;
    for (o = 0; o < blocked; o += EO_DENSE_BLOCK) {
        const float *wo = w + o * ins;
        const float *bo = bias ? bias + o : eo_no_bias;
        float *yo = y + o * y_col_stride;
        for (r = 0; r + 1 < rows; r += 2) {
            eo_dense_block8x2(x + r * ins, x + (r + 1) * ins, wo, bo, bo, yo + r * y_row_stride,
                              yo + (r + 1) * y_row_stride, y_col_stride, ins);
        }
        if (r < rows && y_col_stride == 1) { /* an odd last row alone */
            eo_dense_block8(x + r * ins, wo, bo, yo + r * y_row_stride, ins);
        } else if (r < rows) { /* the same through a contiguous copy */
            float contiguous[EO_DENSE_BLOCK];
            eo_dense_block8(x + r * ins, wo, bo, contiguous, ins);
            for (i = 0; i < EO_DENSE_BLOCK; ++i) {
                yo[r * y_row_stride + i * y_col_stride] = contiguous[i];
            }
        }
    }
#if EO_AVX
    if (blocked < outs && rows <= EO_AVX_TAIL_DOT_ROWS) {
        eo_dense_tail_dots(x, w + blocked * ins, bias ? bias + blocked : NULL, y + blocked * y_col_stride,
                           rows, outs - blocked, ins, y_row_stride, y_col_stride);
        return;
    }
    if (blocked < outs && ins <= EO_AVX_TAIL_INS) {
        eo_dense_tail_avx(x, w + blocked * ins, bias ? bias + blocked : NULL, y + blocked * y_col_stride,
                          rows, outs - blocked, ins, y_row_stride, y_col_stride);
        return;
    }
#endif
    /* The remaining outs % 8 rows: four per pass, then one by one. */
    for (r = 0; r < rows; ++r) {
        const float *xr = x + r * ins;
        float *yr = y + r * y_row_stride;
        for (o = blocked; o + 4 <= outs; o += 4) {
            const float *w0 = w + o * ins; /* plain rows follow the blocks */
            const float *w1 = w0 + ins;
            const float *w2 = w1 + ins;
            const float *w3 = w2 + ins;
            float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
            if (bias) {
                s0 = bias[o], s1 = bias[o + 1], s2 = bias[o + 2], s3 = bias[o + 3];
            }
            for (i = 0; i < ins; ++i) {
                const float a = xr[i];
                s0 += a * w0[i];
                s1 += a * w1[i];
                s2 += a * w2[i];
                s3 += a * w3[i];
            }
            yr[o * y_col_stride] = s0;
            yr[(o + 1) * y_col_stride] = s1;
            yr[(o + 2) * y_col_stride] = s2;
            yr[(o + 3) * y_col_stride] = s3;
        }
        for (; o < outs; ++o) {
            yr[o * y_col_stride] = eo_dot(xr, w + o * ins, ins, bias ? bias[o] : 0.0f);
        }
    }
}

/* A layer's value rows and their tangent rows in one pass over the weights: each loaded
 * weight block serves two rows, each plain tail row four (eo_rows4 with x and w swapped).
 * Every row is summed in input order, as eo_dense_f32 and eo_dense4_f32 sum it, so the
 * value rows equal the forward pass's bit for bit. */
void eo_dense_tangent_f32(const float *x, const float *w, const float *bias, float *y,
                          int32_t value_rows, int32_t rows, int32_t outs, int32_t ins)
{
    const int32_t blocked = outs & ~(EO_DENSE_BLOCK - 1);
    int32_t r, o, j;
    if (!bias) {
        value_rows = 0;
    }
    for (o = 0; o < blocked; o += EO_DENSE_BLOCK) {
        const float *wo = w + o * ins;
        for (r = 0; r + 1 < rows; r += 2) {
            eo_dense_block8x2(x + r * ins, x + (r + 1) * ins, wo, r < value_rows ? bias + o : eo_no_bias,
                              r + 1 < value_rows ? bias + o : eo_no_bias, y + r * outs + o,
                              y + (r + 1) * outs + o, 1, ins);
        }
        if (r < rows) {
            eo_dense_block8(x + r * ins, wo, r < value_rows ? bias + o : eo_no_bias, y + r * outs + o, ins);
        }
    }
    for (o = blocked; o < outs; ++o) { /* plain rows follow the blocks */
        const float *wo = w + o * ins;
        for (r = 0; r + 4 <= rows; r += 4) {
            float init[4], sums[4];
            for (j = 0; j < 4; ++j) {
                init[j] = r + j < value_rows ? bias[o] : 0.0f;
            }
            eo_rows4(wo, x + r * ins, init, sums, ins);
            for (j = 0; j < 4; ++j) {
                y[(r + j) * outs + o] = sums[j];
            }
        }
        for (; r < rows; ++r) {
            y[r * outs + o] = eo_dot(x + r * ins, wo, ins, r < value_rows ? bias[o] : 0.0f);
        }
    }
}

/* The small-code path for layers applied to one or a few rows (Gemm, MatMul) whose inputs
 * are a multiple of 4: the tail rows one by one (eo_dot), without eo_rows4's 170 bytes. */
void eo_dense4_f32(const float *x, const float *w, const float *bias, float *y,
                   int32_t rows, int32_t outs, int32_t ins)
{
    const int32_t blocked = outs & ~(EO_DENSE_BLOCK - 1);
    int32_t r, o;
    for (r = 0; r < rows; ++r, x += ins, y += outs) {
        for (o = 0; o < blocked; o += EO_DENSE_BLOCK) {
            eo_dense_block8(x, w + o * ins, bias ? bias + o : eo_no_bias, y + o, ins);
        }
        for (; o < outs; ++o) { /* plain rows */
            y[o] = eo_dot(x, w + o * ins, ins, bias ? bias[o] : 0.0f);
        }
    }
}

void eo_dense_f32(const float *x, const float *w, const float *bias, float *y,
                  int32_t rows, int32_t outs, int32_t ins)
{
    const int32_t blocked = outs & ~(EO_DENSE_BLOCK - 1);
    int32_t r, o;
    for (r = 0; r < rows; ++r, x += ins, y += outs) {
        for (o = 0; o < blocked; o += EO_DENSE_BLOCK) {
            eo_dense_block8(x, w + o * ins, bias ? bias + o : eo_no_bias, y + o, ins);
        }
        for (o = blocked; o + 4 <= outs; o += 4) { /* plain rows */
            eo_rows4(x, w + o * ins, bias ? bias + o : eo_no_bias, y + o, ins);
        }
        for (; o < outs; ++o) {
            y[o] = eo_dot(x, w + o * ins, ins, bias ? bias[o] : 0.0f);
        }
    }
}

void eo_gemm_f32(const eo_gemm_params_t *p, const float *a, const float *b, const float *c,
                 float *y)
{
    int32_t t, m, n, k;
    for (t = 0; t < p->batch; ++t) {
        const float *at = a + (p->a_offsets ? p->a_offsets[t] : 0);
        const float *bt = b + (p->b_offsets ? p->b_offsets[t] : 0);
        float *yt = y + t * p->m * p->n;
        for (m = 0; m < p->m; ++m) {
            for (n = 0; n < p->n; ++n) {
                float s = 0.0f;
                for (k = 0; k < p->k; ++k) {
                    s += at[m * p->a_row + k * p->a_col] * bt[k * p->b_row + n * p->b_col];
                }
                s *= p->alpha;
                if (c) {
                    s += p->beta * c[m * p->c_row + n * p->c_col];
                }
                yt[m * p->n + n] = s;
            }
        }
    }
}
