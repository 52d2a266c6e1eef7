/* Direct and im2col convolutions over up to three spatial dims. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "eo_host_avx.h"
#include "eo_runtime.h"
#include "eo_window.h"

#define EO_CONV_BLOCK 8

/* `count` (<= EO_CONV_BLOCK) adjacent outputs of one row, any of whose taps may fall in
 * the padding: each tap's valid run of outputs is computed once, no per-MAC checks. */
static void eo_conv_run(const eo_conv_params_t *p, const float *restrict x,
                        const float *restrict w, int32_t od, int32_t oh, int32_t ow,
                        int32_t count, float bias, float *restrict out)
{
    const int32_t cin_g = p->in_c / p->groups;
    const int32_t sw = p->stride_w;
    float acc[EO_CONV_BLOCK];
    int32_t ic, kd, kh, kw, j;
    for (j = 0; j < count; ++j) {
        acc[j] = bias;
    }
    for (ic = 0; ic < cin_g; ++ic) {
        for (kd = 0; kd < p->k_d; ++kd) {
            const int32_t id = od * p->stride_d - p->pad_d + kd * p->dil_d;
            if (id < 0 || id >= p->in_d) {
                continue;
            }
            for (kh = 0; kh < p->k_h; ++kh) {
                const int32_t ih = oh * p->stride_h - p->pad_h + kh * p->dil_h;
                const float *xr = x + ((ic * p->in_d + id) * p->in_h + ih) * p->in_w;
                const float *wr = w + ((ic * p->k_d + kd) * p->k_h + kh) * p->k_w;
                if (ih < 0 || ih >= p->in_h) {
                    continue;
                }
                for (kw = 0; kw < p->k_w; ++kw) {
                    const int32_t base = ow * sw - p->pad_w + kw * p->dil_w;
                    const int32_t lo = eo_first_valid(-base, sw);
                    const int32_t hi = eo_end_valid(p->in_w, -base, sw, count);
                    for (j = lo; j < hi; ++j) {
                        acc[j] += wr[kw] * xr[base + j * sw];
                    }
                }
            }
        }
    }
    for (j = 0; j < count; ++j) {
        out[j] = acc[j];
    }
}

/* Longest input row segment one border block may read (else eo_conv_run is used). */
#define EO_CONV_SPAN_MAX 64

/* A block at the border: each input row segment is copied with its zero padding into
 * a small buffer so the same fixed-size accumulation runs; extra outputs are dropped. */
static void eo_conv_border(const eo_conv_params_t *p, const float *restrict x,
                           const float *restrict w, int32_t od, int32_t oh, int32_t ow,
                           int32_t count, float bias, float *restrict out)
{
    const int32_t cin_g = p->in_c / p->groups;
    const int32_t sw = p->stride_w;
    const int32_t span = (EO_CONV_BLOCK - 1) * sw + (p->k_w - 1) * p->dil_w + 1;
    const int32_t base = ow * sw - p->pad_w;
    float row[EO_CONV_SPAN_MAX];
    float acc[EO_CONV_BLOCK];
    int32_t ic, kd, kh, kw, j, t;
    for (j = 0; j < EO_CONV_BLOCK; ++j) {
        acc[j] = bias;
    }
    for (ic = 0; ic < cin_g; ++ic) {
        for (kd = 0; kd < p->k_d; ++kd) {
            const int32_t id = od * p->stride_d - p->pad_d + kd * p->dil_d;
            if (id < 0 || id >= p->in_d) {
                continue;
            }
            for (kh = 0; kh < p->k_h; ++kh) {
                const int32_t ih = oh * p->stride_h - p->pad_h + kh * p->dil_h;
                const float *xr = x + ((ic * p->in_d + id) * p->in_h + ih) * p->in_w;
                const float *wr = w + ((ic * p->k_d + kd) * p->k_h + kh) * p->k_w;
                if (ih < 0 || ih >= p->in_h) {
                    continue;
                }
                for (t = 0; t < span; ++t) {
                    const int32_t iw = base + t;
                    row[t] = iw >= 0 && iw < p->in_w ? xr[iw] : 0.0f;
                }
                for (kw = 0; kw < p->k_w; ++kw) {
                    const float wv = wr[kw];
                    const float *rp = row + kw * p->dil_w;
                    for (j = 0; j < EO_CONV_BLOCK; ++j) {
                        acc[j] += wv * rp[j * sw];
                    }
                }
            }
        }
    }
    for (j = 0; j < count; ++j) {
        out[j] = acc[j];
    }
}

/* EO_CONV_BLOCK outputs whose taps are all inside the input along w: a fixed-size
 * accumulator block the compiler keeps in (vector) registers. STEP is the w stride. */
#define EO_CONV_BLOCK_FN(name, STEP)                                                          \
    static void name(const eo_conv_params_t *p, const float *restrict x,                     \
                     const float *restrict w, int32_t od, int32_t oh, int32_t ow, float bias, \
                     float *restrict out)                                                     \
    {                                                                                         \
        const int32_t cin_g = p->in_c / p->groups;                                            \
        const int32_t sw = p->stride_w;                                                       \
        float acc[EO_CONV_BLOCK];                                                             \
        int32_t ic, kd, kh, kw, j;                                                            \
        (void)sw;                                                                             \
        for (j = 0; j < EO_CONV_BLOCK; ++j) {                                                 \
            acc[j] = bias;                                                                    \
        }                                                                                     \
        for (ic = 0; ic < cin_g; ++ic) {                                                      \
            for (kd = 0; kd < p->k_d; ++kd) {                                                 \
                const int32_t id = od * p->stride_d - p->pad_d + kd * p->dil_d;               \
                if (id < 0 || id >= p->in_d) {                                                \
                    continue;                                                                 \
                }                                                                             \
                for (kh = 0; kh < p->k_h; ++kh) {                                             \
                    const int32_t ih = oh * p->stride_h - p->pad_h + kh * p->dil_h;           \
                    const float *xr = x + ((ic * p->in_d + id) * p->in_h + ih) * p->in_w +     \
                                      ow * sw - p->pad_w;                                     \
                    const float *wr = w + ((ic * p->k_d + kd) * p->k_h + kh) * p->k_w;        \
                    if (ih < 0 || ih >= p->in_h) {                                            \
                        continue;                                                             \
                    }                                                                         \
                    for (kw = 0; kw < p->k_w; ++kw) {                                         \
                        const float wv = wr[kw];                                              \
                        const float *xp = xr + kw * p->dil_w;                                 \
                        for (j = 0; j < EO_CONV_BLOCK; ++j) {                                 \
                            acc[j] += wv * xp[j * (STEP)];                                    \
                        }                                                                     \
                    }                                                                         \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
        for (j = 0; j < EO_CONV_BLOCK; ++j) {                                                 \
            out[j] = acc[j];                                                                  \
        }                                                                                     \
    }

EO_CONV_BLOCK_FN(eo_conv_block_unit_stride, 1)
EO_CONV_BLOCK_FN(eo_conv_block_strided, sw)

int32_t eo_conv_scratch_floats(const eo_conv_params_t *p)
{
    return (p->in_c / p->groups) * p->k_d * p->k_h * p->k_w * p->out_w * p->im2col_rows;
}

/* The patches of output row oh: col[ow][k] for k over (in channel, kernel tap), with
 * zeros where a tap falls in the padding. Consecutive rows follow at col + out_w * K. */
static void eo_conv_im2row(const eo_conv_params_t *p, const float *x, int32_t od, int32_t oh,
                           float *restrict col)
{
    const int32_t cin_g = p->in_c / p->groups;
    const int32_t k_count = cin_g * p->k_d * p->k_h * p->k_w;
    const int32_t ow_n = p->out_w;
    int32_t ic, kd, kh, kw, ow;
    float *column = col;
    for (ic = 0; ic < cin_g; ++ic) {
        for (kd = 0; kd < p->k_d; ++kd) {
            const int32_t id = od * p->stride_d - p->pad_d + kd * p->dil_d;
            for (kh = 0; kh < p->k_h; ++kh) {
                const int32_t ih = oh * p->stride_h - p->pad_h + kh * p->dil_h;
                const int32_t inside = id >= 0 && id < p->in_d && ih >= 0 && ih < p->in_h;
                const float *xr = x + ((ic * p->in_d + id) * p->in_h + ih) * p->in_w;
                for (kw = 0; kw < p->k_w; ++kw, ++column) {
                    const int32_t offset = p->pad_w - kw * p->dil_w;
                    const int32_t lo = inside ? eo_first_valid(offset, p->stride_w) : ow_n;
                    const int32_t hi = inside ? eo_end_valid(p->in_w, offset, p->stride_w, ow_n) : ow_n;
                    for (ow = 0; ow < lo && ow < ow_n; ++ow) {
                        column[ow * k_count] = 0.0f;
                    }
                    for (; ow < hi; ++ow) {
                        column[ow * k_count] = xr[ow * p->stride_w - offset];
                    }
                    for (; ow < ow_n; ++ow) {
                        column[ow * k_count] = 0.0f;
                    }
                }
            }
        }
    }
}

#if EO_AVX
/* x86 hosts (the simulator): the im2col convolutions computed from a zero-padded copy of
 * the input rows each output row reads, 8 output channels (one packed weight block) per
 * vector and a tile of adjacent output pixels sharing each weight load, so that 8
 * accumulators hide the FMA latency. Host only: the copies live on the stack. */
#define EO_AVX_INLINE static inline __attribute__((always_inline))
#define EO_AVX_MAX_ROW_FLOATS 16384 /* the padded input rows of one output row */

/* One output row's inputs and up to two blocks of 8 output channels: weights [K][8], bias,
 * the output row of each block's first channel, and how many of its 8 channels are real. */
typedef struct {
    const float *rows; /* per (in channel, kd, kh) tap row, `width` floats from iw = -pad_w */
    int32_t row_count, width, stride, dilation, k_w, out_w, out_plane;
    const float *w[2];
    eo_f32x8 bias[2];
    float *y[2];
    int32_t count[2];
} eo_conv_row_t;

/* `pixels` adjacent outputs from column ow against `blocks` blocks; the padded rows are wide
 * enough for a whole tile, only the outputs inside the row are stored. */
EO_AVX_INLINE void eo_conv_tile_avx(const eo_conv_row_t *t, int32_t blocks, int32_t pixels, int32_t ow)
{
    eo_f32x8 acc[8];
    const float *w0 = t->w[0], *w1 = t->w[1];
    int32_t r, kw, j, b, l;
    for (j = 0; j < pixels; ++j) {
        for (b = 0; b < blocks; ++b) {
            acc[j * blocks + b] = t->bias[b];
        }
    }
    for (r = 0; r < t->row_count; ++r) {
        const float *xr = t->rows + r * t->width + ow * t->stride;
        for (kw = 0; kw < t->k_w; ++kw, xr += t->dilation) {
            const eo_f32x8 wv0 = eo_load8(w0);
            const eo_f32x8 wv1 = blocks > 1 ? eo_load8(w1) : wv0;
            w0 += 8;
            w1 += 8;
            for (j = 0; j < pixels; ++j) {
                const float v = xr[j * t->stride];
                acc[j * blocks] += v * wv0;
                if (blocks > 1) {
                    acc[j * blocks + 1] += v * wv1;
                }
            }
        }
    }
    pixels = pixels < t->out_w - ow ? pixels : t->out_w - ow;
    for (b = 0; b < blocks; ++b) {
        for (l = 0; l < t->count[b]; ++l) {
            for (j = 0; j < pixels; ++j) {
                t->y[b][l * t->out_plane + ow + j] = acc[j * blocks + b][l];
            }
        }
    }
}

/* The im2col convolutions on the host; 0 where the stack copies would not fit. */
static int eo_conv_avx(const eo_conv_params_t *p, const float *x, const float *w, const float *bias, float *y)
{
    const int32_t cin_g = p->in_c / p->groups, cout_g = p->out_c / p->groups;
    const int32_t k_count = cin_g * p->k_d * p->k_h * p->k_w;
    const int32_t in_plane = p->in_d * p->in_h * p->in_w, out_plane = p->out_d * p->out_h * p->out_w;
    const int32_t full = cout_g / 8, tail = cout_g % 8, blocks = full + (tail > 0);
    /* tiles of 4 pixels x 2 blocks or 8 pixels x 1 block: rows wide enough for 8-pixel tiles */
    const int32_t width = ((p->out_w + 7) / 8 * 8 - 1) * p->stride_w + (p->k_w - 1) * p->dil_w + 1;
    const int32_t row_count = cin_g * p->k_d * p->k_h;
    /* the input columns each padded row holds: [copy_from, +copy_count) at copy_at */
    const int32_t copy_at = p->pad_w > 0 ? p->pad_w : 0, copy_from = copy_at - p->pad_w;
    const int32_t copy_end = p->in_w < width - p->pad_w ? p->in_w : width - p->pad_w;
    const int32_t copy_count = copy_end > copy_from ? copy_end - copy_from : 0;
    float tail_w[EO_AVX_TAIL_INS * EO_DENSE_BLOCK];
    float rows[EO_AVX_MAX_ROW_FLOATS];
    int32_t n, g, blk, b, j, od, oh, ic, kd, kh, ow;
    eo_conv_row_t t;
    if ((tail && k_count > EO_AVX_TAIL_INS) || row_count * width > EO_AVX_MAX_ROW_FLOATS) {
        return 0;
    }
    t.rows = rows;
    t.row_count = row_count, t.width = width, t.stride = p->stride_w, t.dilation = p->dil_w;
    t.k_w = p->k_w, t.out_w = p->out_w, t.out_plane = out_plane;
    for (n = 0; n < p->batch; ++n) {
        for (g = 0; g < p->groups; ++g) {
            const float *xg = x + (n * p->in_c + g * cin_g) * in_plane;
            const float *wg = w + g * cout_g * k_count;
            if (tail) {
                eo_pad_tail_block(wg + full * 8 * k_count, tail, k_count, tail_w);
            }
            for (od = 0; od < p->out_d; ++od) {
                for (oh = 0; oh < p->out_h; ++oh) {
                    float *row = rows;
                    for (ic = 0; ic < cin_g; ++ic) {
                        for (kd = 0; kd < p->k_d; ++kd) {
                            const int32_t id = od * p->stride_d - p->pad_d + kd * p->dil_d;
                            for (kh = 0; kh < p->k_h; ++kh, row += width) {
                                const int32_t ih = oh * p->stride_h - p->pad_h + kh * p->dil_h;
                                memset(row, 0, (size_t)width * sizeof *row);
                                if (id >= 0 && id < p->in_d && ih >= 0 && ih < p->in_h) {
                                    memcpy(row + copy_at, xg + ((ic * p->in_d + id) * p->in_h + ih) * p->in_w + copy_from,
                                           (size_t)copy_count * sizeof *row);
                                }
                            }
                        }
                    }
                    for (blk = 0; blk < blocks; blk += 2) {
                        const int32_t pair = blocks - blk >= 2 ? 2 : 1;
                        for (b = 0; b < pair; ++b) {
                            const int32_t oc = g * cout_g + (blk + b) * 8;
                            t.w[b] = blk + b < full ? wg + (blk + b) * 8 * k_count : tail_w;
                            t.count[b] = blk + b < full ? 8 : tail;
                            t.y[b] = y + (n * p->out_c + oc) * out_plane + (od * p->out_h + oh) * p->out_w;
                            for (j = 0; j < 8; ++j) {
                                t.bias[b][j] = bias && j < t.count[b] ? bias[oc + j] : 0.0f;
                            }
                        }
                        t.w[1] = pair > 1 ? t.w[1] : t.w[0]; /* one-block tiles never read it */
                        for (ow = 0; ow < p->out_w; ow += 8) {
                            if (pair > 1) {
                                eo_conv_tile_avx(&t, 2, 4, ow);
                                if (ow + 4 < p->out_w) {
                                    eo_conv_tile_avx(&t, 2, 4, ow + 4);
                                }
                            } else {
                                eo_conv_tile_avx(&t, 1, 8, ow);
                            }
                        }
                    }
                }
            }
        }
    }
    return 1;
}
#endif

/* Convolution as im2col over a few output rows + the dense kernel: each output pixel's
 * patch times the group's packed weights (see EO_DENSE_BLOCK), written channel-major. */
static void eo_conv_im2col(const eo_conv_params_t *p, const float *x, const float *w,
                           const float *bias, float *y, float *scratch)
{
    const int32_t cin_g = p->in_c / p->groups;
    const int32_t cout_g = p->out_c / p->groups;
    const int32_t in_plane = p->in_d * p->in_h * p->in_w;
    const int32_t out_plane = p->out_d * p->out_h * p->out_w;
    const int32_t k_count = cin_g * p->k_d * p->k_h * p->k_w;
    const int32_t rows = p->im2col_rows > 0 ? p->im2col_rows : 1;
    int32_t n, g, od, oh, r;
    for (n = 0; n < p->batch; ++n) {
        for (g = 0; g < p->groups; ++g) {
            const float *xg = x + (n * p->in_c + g * cin_g) * in_plane;
            float *yg = y + (n * p->out_c + g * cout_g) * out_plane;
            for (od = 0; od < p->out_d; ++od) {
                for (oh = 0; oh < p->out_h; oh += rows) {
                    const int32_t count = rows < p->out_h - oh ? rows : p->out_h - oh;
                    for (r = 0; r < count; ++r) {
                        eo_conv_im2row(p, xg, od, oh + r, scratch + r * p->out_w * k_count);
                    }
                    eo_dense_strided_f32(scratch, w + g * cout_g * k_count,
                                         bias ? bias + g * cout_g : NULL,
                                         yg + (od * p->out_h + oh) * p->out_w, count * p->out_w,
                                         cout_g, k_count, 1, out_plane);
                }
            }
        }
    }
}

void eo_conv_f32(const eo_conv_params_t *p, const float *restrict x, const float *restrict w,
                 const float *restrict bias, float *restrict y, float *restrict scratch)
{
    const int32_t cin_g = p->in_c / p->groups;
    const int32_t cout_g = p->out_c / p->groups;
    const int32_t in_plane = p->in_d * p->in_h * p->in_w;
    const int32_t out_plane = p->out_d * p->out_h * p->out_w;
    const int32_t taps = p->k_d * p->k_h * p->k_w;
    /* Output columns [ow_lo, ow_hi) have every tap along w inside the input. */
    const int32_t ow_lo = eo_first_valid(p->pad_w, p->stride_w);
    const int32_t ow_hi = eo_end_valid(p->in_w, p->pad_w - (p->k_w - 1) * p->dil_w, p->stride_w, p->out_w);
    const int32_t span = (EO_CONV_BLOCK - 1) * p->stride_w + (p->k_w - 1) * p->dil_w + 1;
    void (*border)(const eo_conv_params_t *, const float *, const float *, int32_t, int32_t,
                   int32_t, int32_t, float, float *) =
        span <= EO_CONV_SPAN_MAX ? eo_conv_border : eo_conv_run;
    int32_t n, oc, od, oh, ow, count;

    if (p->im2col_rows > 0 && scratch) {
#if EO_AVX
        if (eo_conv_avx(p, x, w, bias, y)) {
            return;
        }
#endif
        eo_conv_im2col(p, x, w, bias, y, scratch);
        return;
    }
    for (n = 0; n < p->batch; ++n) {
        for (oc = 0; oc < p->out_c; ++oc) {
            const float *xg = x + (n * p->in_c + (oc / cout_g) * cin_g) * in_plane;
            const float *wo = w + oc * cin_g * taps;
            const float b = bias ? bias[oc] : 0.0f;
            float *yp = y + (n * p->out_c + oc) * out_plane;
            for (od = 0; od < p->out_d; ++od) {
                for (oh = 0; oh < p->out_h; ++oh) {
                    float *yr = yp + (od * p->out_h + oh) * p->out_w;
                    ow = 0;
                    if (ow_lo > 0) {
                        for (; ow < ow_lo && ow < p->out_w; ow += count) {
                            count = ow_lo - ow < EO_CONV_BLOCK ? ow_lo - ow : EO_CONV_BLOCK;
                            count = count < p->out_w - ow ? count : p->out_w - ow;
                            border(p, xg, wo, od, oh, ow, count, b, yr + ow);
                        }
                    }
                    for (; ow + EO_CONV_BLOCK <= ow_hi; ow += EO_CONV_BLOCK) {
                        if (p->stride_w == 1) {
                            eo_conv_block_unit_stride(p, xg, wo, od, oh, ow, b, yr + ow);
                        } else {
                            eo_conv_block_strided(p, xg, wo, od, oh, ow, b, yr + ow);
                        }
                    }
                    for (; ow < p->out_w; ow += count) {
                        count = p->out_w - ow < EO_CONV_BLOCK ? p->out_w - ow : EO_CONV_BLOCK;
                        border(p, xg, wo, od, oh, ow, count, b, yr + ow);
                    }
                }
            }
        }
    }
}
