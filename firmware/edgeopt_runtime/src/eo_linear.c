/* Dense (weights pre-arranged [out][in]) and general strided GEMM. */
#include "eo_runtime.h"

void eo_dense_f32(const float *x, const float *w, const float *bias, float *y,
                  int32_t rows, int32_t outs, int32_t ins, eo_act_t act)
{
    int32_t r, o, i;
    for (r = 0; r < rows; ++r) {
        const float *xr = x + r * ins;
        float *yr = y + r * outs;
        /* Four outputs per pass: each loaded input feeds four accumulators. */
        for (o = 0; o + 4 <= outs; o += 4) {
            const float *w0 = w + o * ins;
            const float *w1 = w0 + ins;
            const float *w2 = w1 + ins;
            const float *w3 = w2 + ins;
            float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
            if (bias) {
                s0 = bias[o];
                s1 = bias[o + 1];
                s2 = bias[o + 2];
                s3 = bias[o + 3];
            }
            for (i = 0; i < ins; ++i) {
                const float xi = xr[i];
                s0 += xi * w0[i];
                s1 += xi * w1[i];
                s2 += xi * w2[i];
                s3 += xi * w3[i];
            }
            yr[o] = s0;
            yr[o + 1] = s1;
            yr[o + 2] = s2;
            yr[o + 3] = s3;
        }
        for (; o < outs; ++o) {
            const float *wo = w + o * ins;
            float s = bias ? bias[o] : 0.0f;
            for (i = 0; i < ins; ++i) {
                s += xr[i] * wo[i];
            }
            yr[o] = s;
        }
        if (act.kind != EO_ACT_NONE) {
            eo_activation_f32(yr, yr, outs, act);
        }
    }
}

void eo_gemm_f32(const eo_gemm_params_t *p, const float *a, const float *b, const float *c,
                 float *y, eo_act_t act)
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
    if (act.kind != EO_ACT_NONE) {
        eo_activation_f32(y, y, p->batch * p->m * p->n, act);
    }
}
