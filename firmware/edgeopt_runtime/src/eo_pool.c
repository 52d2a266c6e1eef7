/* Pooling over up to three spatial dims (float), and int8 NHWC pooling. */
#include <math.h>
#include <stddef.h>

#include "eo_fixedpoint.h"
#include "eo_runtime.h"
#include "eo_window.h"

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

#define EO_POOL_CHUNK 64 /* floats of combined window rows on the stack */

/* The columns [lo, hi) whose windows lie inside the input along w (none if the window is
 * wider than EO_POOL_CHUNK) */
static void eo_pool_columns(const eo_pool_params_t *p, int32_t *lo, int32_t *hi)
{
    *lo = *hi = 0;
    if ((p->k_w - 1) * p->dil_w < EO_POOL_CHUNK) {
        *lo = eo_first_valid(p->pad_w, p->stride_w);
        *hi = eo_end_valid(p->in_w, p->pad_w - (p->k_w - 1) * p->dil_w, p->stride_w, p->out_w);
        *hi = *hi > *lo ? *hi : *lo;
    }
}

/* Whether the windows of output row (od, oh) lie inside the input along d and h */
static int eo_pool_row_inside(const eo_pool_params_t *p, int32_t od, int32_t oh)
{
    const int32_t id = od * p->stride_d - p->pad_d, ih = oh * p->stride_h - p->pad_h;
    return id >= 0 && id + (p->k_d - 1) * p->dil_d < p->in_d && ih >= 0 && ih + (p->k_h - 1) * p->dil_h < p->in_h;
}

/* The max (or sum) of two values, as the pooling kernels combine taps */
static inline float eo_pool_combine(int is_max, float acc, float v)
{
    return is_max ? (v > acc ? v : acc) : acc + v;
}

/* yr[lo..hi) of row (od, oh), whose windows lie inside the input (max, or average): the
 * window's rows are first combined column by column (long contiguous loops), then each
 * output combines its k_w columns; in chunks of outputs whose columns fit EO_POOL_CHUNK. */
static void eo_pool_inside(const eo_pool_params_t *p, const float *x, float *yr, int32_t od, int32_t oh,
                           int32_t lo, int32_t hi, int is_max)
{
    float cols[EO_POOL_CHUNK];
    const int32_t span = (p->k_w - 1) * p->dil_w + 1;
    const int32_t step = (EO_POOL_CHUNK - span) / p->stride_w + 1;
    const float *first = x + ((od * p->stride_d - p->pad_d) * p->in_h + oh * p->stride_h - p->pad_h) * p->in_w -
                         p->pad_w;
    const float window = (float)(p->k_d * p->k_h * p->k_w);
    int32_t o0, o1, ow, c, n, kd, kh, kw;
    if (p->k_d == 1 && p->k_h <= 2 && p->k_w == 2 && p->stride_w == 2 && p->dil_w == 1) {
        /* windows of two columns side by side (LeNet's 2x2, a 1-D pool of 2): the same taps
         * combined in the same order as below, in one loop the compiler vectorizes */
        const float *r0 = first, *r1 = first + (p->k_h == 2 ? p->dil_h * p->in_w : 0);
        const float start = is_max ? -INFINITY : 0.0f;
        for (ow = lo; ow < hi; ++ow) {
            float left = eo_pool_combine(is_max, start, r0[2 * ow]), right = eo_pool_combine(is_max, start, r0[2 * ow + 1]);
            if (p->k_h == 2) {
                left = eo_pool_combine(is_max, left, r1[2 * ow]);
                right = eo_pool_combine(is_max, right, r1[2 * ow + 1]);
            }
            left = eo_pool_combine(is_max, left, right);
            yr[ow] = is_max ? left : left / window;
        }
        return;
    }
    for (o0 = lo; o0 < hi; o0 = o1) {
        o1 = hi - o0 < step ? hi : o0 + step;
        n = (o1 - 1 - o0) * p->stride_w + span;
        for (c = 0; c < n; ++c) {
            cols[c] = is_max ? -INFINITY : 0.0f;
        }
        for (kd = 0; kd < p->k_d; ++kd) {
            for (kh = 0; kh < p->k_h; ++kh) {
                const float *row = first + (kd * p->dil_d * p->in_h + kh * p->dil_h) * p->in_w + o0 * p->stride_w;
                for (c = 0; c < n; ++c) {
                    cols[c] = eo_pool_combine(is_max, cols[c], row[c]);
                }
            }
        }
        for (ow = o0; ow < o1; ++ow) {
            const float *col = cols + (ow - o0) * p->stride_w;
            float acc = col[0];
            for (kw = 1; kw < p->k_w; ++kw) {
                acc = eo_pool_combine(is_max, acc, col[kw * p->dil_w]);
            }
            yr[ow] = is_max ? acc : acc / window;
        }
    }
}

/* The column after ow that is not in [lo, hi) (the border windows) */
static int32_t eo_pool_next_border(int32_t ow, int32_t lo, int32_t hi)
{
    return ow + 1 >= lo && ow + 1 < hi ? hi : ow + 1;
}

void eo_maxpool_f32(const eo_pool_params_t *p, const float *x, float *y)
{
    const int32_t in_plane = p->in_d * p->in_h * p->in_w;
    int32_t c, od, oh, ow, columns_lo, columns_hi;
    eo_pool_columns(p, &columns_lo, &columns_hi);
    for (c = 0; c < p->outer; ++c) {
        const float *xp = x + c * in_plane;
        for (od = 0; od < p->out_d; ++od) {
            for (oh = 0; oh < p->out_h; ++oh, y += p->out_w) {
                const int inside = eo_pool_row_inside(p, od, oh);
                const int32_t lo = inside ? columns_lo : 0, hi = inside ? columns_hi : 0;
                eo_pool_inside(p, xp, y, od, oh, lo, hi, 1);
                for (ow = eo_pool_next_border(-1, lo, hi); ow < p->out_w; ow = eo_pool_next_border(ow, lo, hi)) {
                    float best = -INFINITY;
                    int32_t padded = 0, valid = 0;
                    EO_POOL_WINDOW(p, od, oh, ow, EO_POOL_MAX);
                    (void)padded;
                    (void)valid;
                    y[ow] = best;
                }
            }
        }
    }
}

void eo_avgpool_f32(const eo_pool_params_t *p, const float *x, float *y)
{
    const int32_t in_plane = p->in_d * p->in_h * p->in_w;
    int32_t c, od, oh, ow, columns_lo, columns_hi;
    eo_pool_columns(p, &columns_lo, &columns_hi);
    for (c = 0; c < p->outer; ++c) {
        const float *xp = x + c * in_plane;
        for (od = 0; od < p->out_d; ++od) {
            for (oh = 0; oh < p->out_h; ++oh, y += p->out_w) {
                const int inside = eo_pool_row_inside(p, od, oh);
                const int32_t lo = inside ? columns_lo : 0, hi = inside ? columns_hi : 0;
                eo_pool_inside(p, xp, y, od, oh, lo, hi, 0);
                for (ow = eo_pool_next_border(-1, lo, hi); ow < p->out_w; ow = eo_pool_next_border(ow, lo, hi)) {
                    float sum = 0.0f;
                    int32_t padded = 0, valid = 0;
                    int32_t count;
                    EO_POOL_WINDOW(p, od, oh, ow, EO_POOL_SUM);
                    count = p->count_include_pad ? padded : valid;
                    y[ow] = count > 0 ? sum / (float)count : 0.0f;
                }
            }
        }
    }
}

void eo_avgpool_s8(const eo_pool_s8_params_t *p, const int8_t *x, int8_t *y)
{
    int32_t b, oy, ox, c, ky, kx;
    for (b = 0; b < p->batch; ++b) {
        for (oy = 0; oy < p->out_h; ++oy) {
            for (ox = 0; ox < p->out_w; ++ox) {
                for (c = 0; c < p->channels; ++c) {
                    int32_t acc = 0, count = 0;
                    for (ky = 0; ky < p->k_h; ++ky) {
                        const int32_t iy = oy * p->stride_h - p->pad_h + ky;
                        for (kx = 0; kx < p->k_w; ++kx) {
                            const int32_t ix = ox * p->stride_w - p->pad_w + kx;
                            if (iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w) {
                                acc += x[((b * p->in_h + iy) * p->in_w + ix) * p->channels + c];
                                ++count;
                            }
                        }
                    }
                    /* rounded division, ties away from zero (TFLite) */
                    acc = count ? (acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count) : 0;
                    y[((b * p->out_h + oy) * p->out_w + ox) * p->channels + c] =
                        (int8_t)eo_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

void eo_maxpool_s8(const eo_pool_s8_params_t *p, const int8_t *x, int8_t *y)
{
    int32_t b, oy, ox, c, ky, kx;
    for (b = 0; b < p->batch; ++b) {
        for (oy = 0; oy < p->out_h; ++oy) {
            for (ox = 0; ox < p->out_w; ++ox) {
                for (c = 0; c < p->channels; ++c) {
                    int32_t best = -128;
                    for (ky = 0; ky < p->k_h; ++ky) {
                        const int32_t iy = oy * p->stride_h - p->pad_h + ky;
                        for (kx = 0; kx < p->k_w; ++kx) {
                            const int32_t ix = ox * p->stride_w - p->pad_w + kx;
                            if (iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w) {
                                const int32_t v = x[((b * p->in_h + iy) * p->in_w + ix) * p->channels + c];
                                best = v > best ? v : best;
                            }
                        }
                    }
                    y[((b * p->out_h + oy) * p->out_w + ox) * p->channels + c] =
                        (int8_t)eo_clamp(best, p->act_min, p->act_max);
                }
            }
        }
    }
}
