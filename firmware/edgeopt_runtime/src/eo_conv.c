/* Direct convolution and pooling over up to three spatial dims. */
#include <math.h>

#include "eo_runtime.h"

/* First output index whose input tap (o*stride - pad + offset) is >= 0. */
static int32_t eo_first_valid(int32_t pad_minus_offset, int32_t stride)
{
    return pad_minus_offset > 0 ? (pad_minus_offset + stride - 1) / stride : 0;
}

/* One past the last output index whose input tap is < extent, capped at out. */
static int32_t eo_end_valid(int32_t extent, int32_t pad_minus_offset, int32_t stride, int32_t out)
{
    const int32_t last = extent - 1 + pad_minus_offset;
    int32_t end;
    if (last < 0) {
        return 0;
    }
    end = last / stride + 1;
    return end < out ? end : out;
}

#define EO_CONV_BLOCK 8

/* One output value with full bounds checks: used at the borders. */
static float eo_conv_point(const eo_conv_params_t *p, const float *x, const float *w,
                           int32_t od, int32_t oh, int32_t ow, float acc)
{
    const int32_t cin_g = p->in_c / p->groups;
    int32_t ic, kd, kh, kw;
    for (ic = 0; ic < cin_g; ++ic) {
        for (kd = 0; kd < p->k_d; ++kd) {
            const int32_t id = od * p->stride_d - p->pad_d + kd * p->dil_d;
            if (id < 0 || id >= p->in_d) {
                continue;
            }
            for (kh = 0; kh < p->k_h; ++kh) {
                const int32_t ih = oh * p->stride_h - p->pad_h + kh * p->dil_h;
                if (ih < 0 || ih >= p->in_h) {
                    continue;
                }
                for (kw = 0; kw < p->k_w; ++kw) {
                    const int32_t iw = ow * p->stride_w - p->pad_w + kw * p->dil_w;
                    if (iw >= 0 && iw < p->in_w) {
                        acc += w[((ic * p->k_d + kd) * p->k_h + kh) * p->k_w + kw] *
                               x[((ic * p->in_d + id) * p->in_h + ih) * p->in_w + iw];
                    }
                }
            }
        }
    }
    return acc;
}

/* EO_CONV_BLOCK adjacent outputs of one row whose taps are all in bounds along w:
 * the accumulators stay in registers and each weight is loaded once per block. */
static void eo_conv_block(const eo_conv_params_t *p, const float *restrict x,
                          const float *restrict w, int32_t od, int32_t oh, int32_t ow,
                          float bias, float *restrict out)
{
    const int32_t cin_g = p->in_c / p->groups;
    const int32_t sw = p->stride_w;
    float acc[EO_CONV_BLOCK];
    int32_t ic, kd, kh, kw, j;
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
                const float *restrict xr;
                const float *restrict wr;
                if (ih < 0 || ih >= p->in_h) {
                    continue;
                }
                xr = x + ((ic * p->in_d + id) * p->in_h + ih) * p->in_w + ow * sw - p->pad_w;
                wr = w + ((ic * p->k_d + kd) * p->k_h + kh) * p->k_w;
                for (kw = 0; kw < p->k_w; ++kw) {
                    const float wv = wr[kw];
                    const float *restrict xp = xr + kw * p->dil_w;
                    if (sw == 1) {
                        for (j = 0; j < EO_CONV_BLOCK; ++j) {
                            acc[j] += wv * xp[j];
                        }
                    } else {
                        for (j = 0; j < EO_CONV_BLOCK; ++j) {
                            acc[j] += wv * xp[j * sw];
                        }
                    }
                }
            }
        }
    }
    for (j = 0; j < EO_CONV_BLOCK; ++j) {
        out[j] = acc[j];
    }
}

void eo_conv_f32(const eo_conv_params_t *p, const float *restrict x, const float *restrict w,
                 const float *restrict bias, float *restrict y, eo_act_t act)
{
    const int32_t cin_g = p->in_c / p->groups;
    const int32_t cout_g = p->out_c / p->groups;
    const int32_t in_plane = p->in_d * p->in_h * p->in_w;
    const int32_t out_plane = p->out_d * p->out_h * p->out_w;
    const int32_t taps = p->k_d * p->k_h * p->k_w;
    /* Output columns whose every tap along w is inside the input. */
    const int32_t ow_lo = eo_first_valid(p->pad_w, p->stride_w);
    const int32_t ow_hi = eo_end_valid(p->in_w, p->pad_w - (p->k_w - 1) * p->dil_w, p->stride_w, p->out_w);
    int32_t n, oc, od, oh, ow;

    for (n = 0; n < p->batch; ++n) {
        for (oc = 0; oc < p->out_c; ++oc) {
            const float *xg = x + (n * p->in_c + (oc / cout_g) * cin_g) * in_plane;
            const float *wo = w + oc * cin_g * taps;
            const float b = bias ? bias[oc] : 0.0f;
            float *yp = y + (n * p->out_c + oc) * out_plane;
            for (od = 0; od < p->out_d; ++od) {
                for (oh = 0; oh < p->out_h; ++oh) {
                    float *yr = yp + (od * p->out_h + oh) * p->out_w;
                    for (ow = 0; ow < ow_lo && ow < p->out_w; ++ow) {
                        yr[ow] = eo_conv_point(p, xg, wo, od, oh, ow, b);
                    }
                    for (; ow + EO_CONV_BLOCK <= ow_hi; ow += EO_CONV_BLOCK) {
                        eo_conv_block(p, xg, wo, od, oh, ow, b, yr + ow);
                    }
                    for (; ow < p->out_w; ++ow) {
                        yr[ow] = eo_conv_point(p, xg, wo, od, oh, ow, b);
                    }
                }
            }
            if (act.kind != EO_ACT_NONE) {
                eo_activation_f32(yp, yp, out_plane, act);
            }
        }
    }
}

/* Calls body(x_index) for each in-bounds tap of the window at (od, oh, ow); counts taps
 * inside the padded extent into `padded` and in-bounds taps into `valid`. */
#define EO_POOL_WINDOW(p, od, oh, ow, body)                                                  \
    do {                                                                                     \
        int32_t kd_, kh_, kw_;                                                               \
        for (kd_ = 0; kd_ < (p)->k_d; ++kd_) {                                               \
            const int32_t id_ = (od) * (p)->stride_d - (p)->pad_d + kd_ * (p)->dil_d;        \
            if (id_ >= (p)->end_d) {                                                        \
                break;                                                                       \
            }                                                                                \
            for (kh_ = 0; kh_ < (p)->k_h; ++kh_) {                                           \
                const int32_t ih_ = (oh) * (p)->stride_h - (p)->pad_h + kh_ * (p)->dil_h;    \
                if (ih_ >= (p)->end_h) {                                                    \
                    break;                                                                   \
                }                                                                            \
                for (kw_ = 0; kw_ < (p)->k_w; ++kw_) {                                       \
                    const int32_t iw_ = (ow) * (p)->stride_w - (p)->pad_w + kw_ * (p)->dil_w; \
                    if (iw_ >= (p)->end_w) {                                                \
                        break;                                                               \
                    }                                                                        \
                    ++padded;                                                                \
                    if (id_ >= 0 && id_ < (p)->in_d && ih_ >= 0 && ih_ < (p)->in_h &&       \
                        iw_ >= 0 && iw_ < (p)->in_w) {                                       \
                        ++valid;                                                             \
                        body(((id_ * (p)->in_h + ih_) * (p)->in_w + iw_));                   \
                    }                                                                        \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
    } while (0)

#define EO_POOL_MAX(at) (best = xp[at] > best ? xp[at] : best)
#define EO_POOL_SUM(at) (sum += xp[at])

void eo_maxpool_f32(const eo_pool_params_t *p, const float *x, float *y)
{
    const int32_t in_plane = p->in_d * p->in_h * p->in_w;
    int32_t c, od, oh, ow;
    for (c = 0; c < p->outer; ++c) {
        const float *xp = x + c * in_plane;
        for (od = 0; od < p->out_d; ++od) {
            for (oh = 0; oh < p->out_h; ++oh) {
                for (ow = 0; ow < p->out_w; ++ow) {
                    float best = -INFINITY;
                    int32_t padded = 0, valid = 0;
                    EO_POOL_WINDOW(p, od, oh, ow, EO_POOL_MAX);
                    (void)padded;
                    (void)valid;
                    *y++ = best;
                }
            }
        }
    }
}

void eo_avgpool_f32(const eo_pool_params_t *p, const float *x, float *y)
{
    const int32_t in_plane = p->in_d * p->in_h * p->in_w;
    int32_t c, od, oh, ow;
    for (c = 0; c < p->outer; ++c) {
        const float *xp = x + c * in_plane;
        for (od = 0; od < p->out_d; ++od) {
            for (oh = 0; oh < p->out_h; ++oh) {
                for (ow = 0; ow < p->out_w; ++ow) {
                    float sum = 0.0f;
                    int32_t padded = 0, valid = 0;
                    int32_t count;
                    EO_POOL_WINDOW(p, od, oh, ow, EO_POOL_SUM);
                    count = p->count_include_pad ? padded : valid;
                    *y++ = count > 0 ? sum / (float)count : 0.0f;
                }
            }
        }
    }
}
