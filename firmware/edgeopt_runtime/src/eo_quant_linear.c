/* int8 fully-connected layers and convolutions, portable C, with TFLite's integer
 * semantics (bit-exact with its reference kernels). */
#include <string.h>

#include "eo_fixedpoint.h"
#include "eo_runtime.h"

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

/* Output row `row` of a one-image convolution as a convolution of its own (layers that run
 * in place, a row at a time through a line buffer): the slice's parameters, and the byte
 * offset of the first input row it reads. The kernels take padding from pad_h and in_h. */
int32_t eo_conv_s8_row(const eo_conv_s8_params_t *p, int32_t row, eo_conv_s8_params_t *slice)
{
    const int32_t top = row * p->stride_h - p->pad_h;
    const int32_t skip = top < 0 ? 0 : (top < p->in_h ? top : p->in_h);
    *slice = *p;
    slice->out_h = 1;
    slice->in_h = p->in_h - skip;
    slice->pad_h = skip - top;
    return skip * p->in_w * p->in_c;
}

/* Output row `row` of a one-image convolution whose input rows a producer layer computes a
 * row at a time into a window of `rows` rows (patch-based execution: the producer's whole
 * output never exists). The window holds input rows [*held, *next); this keeps those the
 * row reads, moved to the window's start, fills slice (its input: the window), and returns
 * one past the last input row it reads: the caller computes rows [*next, that) into the
 * window, row i at window + (i - *held) * the row's bytes. */
int32_t eo_conv_s8_window(const eo_conv_s8_params_t *p, int32_t row, int32_t rows, int8_t *window, int32_t *held,
                          int32_t *next, eo_conv_s8_params_t *slice)
{
    const int32_t row_bytes = p->in_w * p->in_c;
    const int32_t first = eo_conv_s8_row(p, row, slice) / row_bytes;
    const int32_t end = first + (slice->in_h < rows ? slice->in_h : rows);
    if (*next <= first) { /* none of the rows held is read again */
        *next = first;
    } else if (first > *held) {
        memmove(window, window + (first - *held) * row_bytes, (size_t)((*next - first) * row_bytes));
    }
    *held = first;
    slice->in_h = end - first;
    return end;
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
                            const int8_t *xp, *wp;
                            if (ix < 0 || ix >= p->in_w) {
                                continue; /* before forming xp: a pointer outside x is undefined */
                            }
                            xp = x + ((b * p->in_h + iy) * p->in_w + ix) * p->in_c + group * filter_c;
                            wp = w + ((oc * p->k_h + ky) * p->k_w + kx) * filter_c;
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
                        const int8_t *xp, *wp;
                        if (ix < 0 || ix >= p->in_w) {
                            continue; /* before forming xp: a pointer outside x is undefined */
                        }
                        xp = x + ((b * p->in_h + iy) * p->in_w + ix) * p->in_c;
                        wp = w + (ky * p->k_w + kx) * channels;
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

int32_t eo_depthwise_conv2d_s8_scratch_size(const eo_conv_s8_params_t *p)
{
    return 4 * p->out_c; /* one int32 accumulator per channel */
}

void eo_batch_matmul_s8(const eo_batch_matmul_s8_params_t *p, const int8_t *a, const int8_t *b, int8_t *y)
{
    int32_t t, i, j, kk;
    for (t = 0; t < p->batch; ++t) {
        const int8_t *at = a + (p->a_offsets ? p->a_offsets[t] : 0);
        const int8_t *bt = b + (p->b_offsets ? p->b_offsets[t] : 0);
        int8_t *yt = y + t * p->m * p->n;
        for (i = 0; i < p->m; ++i) {
            for (j = 0; j < p->n; ++j) {
                int32_t acc = 0;
                for (kk = 0; kk < p->k; ++kk) {
                    acc += ((int32_t)at[i * p->a_row + kk * p->a_col] - p->a_zero_point) *
                           ((int32_t)bt[kk * p->b_row + j * p->b_col] - p->b_zero_point);
                }
                yt[i * p->n + j] = (int8_t)eo_clamp(eo_requantize(acc, p->multiplier, p->shift) + p->out_zero_point,
                                                    -128, 127);
            }
        }
    }
}
