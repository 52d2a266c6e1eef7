/* Dynamic-range ("hybrid") layers as TFLite runs them: float activations quantized to int8
 * per row on the fly (symmetric, or asymmetric with a zero point), int8 weights, the integer
 * dot product rescaled by the row's and the weights' scales onto the float bias. Float and
 * double steps in TFLite's order, so the outputs match its kernels to float rounding. */
#include <math.h>
#include <stddef.h>

#include "eo_runtime.h"

/* TFLite's SymmetricQuantizeFloats / AsymmetricQuantizeFloats of one row; returns the zero
 * point (0 when symmetric) and the scale in *scale. */
static int32_t eo_quantize_row(const float *x, int32_t n, int32_t asymmetric, int8_t *q, float *scale)
{
    float low = x[0], high = x[0], inverse;
    int32_t i, zero_point = 0;
    for (i = 1; i < n; ++i) {
        low = x[i] < low ? x[i] : low;
        high = x[i] > high ? x[i] : high;
    }
    if (!asymmetric) {
        const float range = fabsf(low) > fabsf(high) ? fabsf(low) : fabsf(high);
        if (range == 0.0f) {
            for (i = 0; i < n; ++i) {
                q[i] = 0;
            }
            *scale = 1.0f;
            return 0;
        }
        *scale = range / 127.0f;
        inverse = 127.0f / range;
        for (i = 0; i < n; ++i) {
            const float v = roundf(x[i] * inverse);
            q[i] = (int8_t)(v > 127.0f ? 127 : (v < -127.0f ? -127 : (int32_t)v));
        }
        return 0;
    } else {
        const double rmin = (double)(low < 0.0f ? low : 0.0f), rmax = (double)(high > 0.0f ? high : 0.0f);
        double step, from_min, from_max, zero;
        if (rmin == rmax) {
            for (i = 0; i < n; ++i) {
                q[i] = 0;
            }
            *scale = 1.0f;
            return 0;
        }
        step = (rmax - rmin) / 255.0;
        from_min = -128.0 - rmin / step;
        from_max = 127.0 - rmax / step;
        zero = 128.0 + fabs(rmin / step) < 127.0 + fabs(rmax / step) ? from_min : from_max;
        zero_point = zero <= -128.0 ? -128 : (zero >= 127.0 ? 127 : (int32_t)round(zero));
        *scale = (float)step;
        inverse = 1.0f / *scale;
        for (i = 0; i < n; ++i) {
            const float v = roundf((float)zero_point + x[i] * inverse);
            q[i] = (int8_t)(v > 127.0f ? 127 : (v < -128.0f ? -128 : (int32_t)v));
        }
        return zero_point;
    }
}

void eo_hybrid_fully_connected_f32(const eo_hybrid_fc_params_t *p, const float *x, const int8_t *w,
                                   const float *scales, const int32_t *row_sums, const float *bias, float *y,
                                   int8_t *scratch)
{
    int32_t r, o, i;
    for (r = 0; r < p->rows; ++r) {
        float row_scale;
        const int32_t zero_point = eo_quantize_row(x + r * p->ins, p->ins, p->asymmetric, scratch, &row_scale);
        for (o = 0; o < p->outs; ++o) {
            const int8_t *wo = w + o * p->ins;
            int32_t dot = 0;
            for (i = 0; i < p->ins; ++i) {
                dot += (int32_t)wo[i] * scratch[i];
            }
            dot -= row_sums[o] * zero_point;
            y[r * p->outs + o] = (bias != NULL ? bias[o] : 0.0f) +
                                 (float)dot * (row_scale * scales[p->per_channel ? o : 0]);
        }
    }
}

/* TFLite's dynamic-range CONV_2D and DEPTHWISE_CONV_2D (per-channel weights): each batch item
 * quantized to int8 asymmetrically (scratch: in_h * in_w * in_c bytes), taps outside the
 * input skipped, acc scaled as TFLite's reference does: conv (acc * channel scale) * input
 * scale, depthwise acc * (channel scale * input scale); then the float bias. */
void eo_hybrid_conv2d_f32(const eo_hybrid_conv_params_t *p, const float *x, const int8_t *w, const float *scales,
                          const float *bias, float *y, int8_t *scratch)
{
    const int32_t pixels = p->in_h * p->in_w * p->in_c;
    int32_t b, oy, ox, oc, ky, kx, ic;
    for (b = 0; b < p->batch; ++b) {
        float input_scale;
        const int32_t zero_point = eo_quantize_row(x + b * pixels, pixels, 1, scratch, &input_scale);
        for (oy = 0; oy < p->out_h; ++oy) {
            for (ox = 0; ox < p->out_w; ++ox) {
                float *yp = y + ((b * p->out_h + oy) * p->out_w + ox) * p->out_c;
                for (oc = 0; oc < p->out_c; ++oc) {
                    const int32_t first_c = p->depth_multiplier ? oc / p->depth_multiplier : 0;
                    const int32_t channels = p->depth_multiplier ? 1 : p->in_c;
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
                                continue;
                            }
                            xp = scratch + (iy * p->in_w + ix) * p->in_c + first_c;
                            /* conv: OHWI [out_c][k_h][k_w][in_c]; depthwise: [k_h][k_w][out_c] */
                            wp = p->depth_multiplier ? w + (ky * p->k_w + kx) * p->out_c + oc
                                                     : w + ((oc * p->k_h + ky) * p->k_w + kx) * p->in_c;
                            for (ic = 0; ic < channels; ++ic) {
                                acc += (int32_t)wp[ic] * ((int32_t)xp[ic] - zero_point);
                            }
                        }
                    }
                    yp[oc] = (p->depth_multiplier ? (float)acc * (scales[oc] * input_scale)
                                                  : (float)acc * scales[oc] * input_scale) +
                             (bias != NULL ? bias[oc] : 0.0f);
                }
            }
        }
    }
}
