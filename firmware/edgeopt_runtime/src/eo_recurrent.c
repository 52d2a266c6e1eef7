/* Recurrent layers (ONNX RNN, GRU and LSTM semantics): one call runs the whole sequence in
 * one or both directions. Gate order in W, R and B is ONNX's: GRU z, r, h; LSTM i, o, f, c. */
#include <math.h>
#include <stddef.h>

#include "eo_runtime.h"

static float eo_rnn_activate(const eo_rnn_activation_t *a, float v)
{
    switch (a->kind) {
    case EO_RNN_SIGMOID:
        return eo_sigmoidf(v);
    case EO_RNN_TANH:
        return eo_tanhf(v);
    case EO_RNN_RELU:
        return v > 0.0f ? v : 0.0f;
    case EO_RNN_HARD_SIGMOID: {
        const float s = a->alpha * v + a->beta;
        return s < 0.0f ? 0.0f : (s > 1.0f ? 1.0f : s);
    }
    case EO_RNN_AFFINE:
        return a->alpha * v + a->beta;
    case EO_RNN_LEAKY_RELU:
        return v < 0.0f ? a->alpha * v : v;
    case EO_RNN_THRESHOLDED_RELU:
        return v > a->alpha ? v : 0.0f;
    case EO_RNN_SCALED_TANH:
        return a->alpha * eo_tanhf(a->beta * v);
    case EO_RNN_ELU:
        return v < 0.0f ? a->alpha * expm1f(v) : v;
    case EO_RNN_SOFTSIGN:
        return v / (1.0f + fabsf(v));
    case EO_RNN_SOFTPLUS:
        return v > 20.0f ? v : log1pf(expf(v));
    default:
        return v;
    }
}

/* A gate: its input clipped (ONNX's clip), then activated. */
static float eo_rnn_gate(const eo_recurrent_params_t *p, const eo_rnn_activation_t *a, float v)
{
    if (p->clip > 0.0f) {
        v = v > p->clip ? p->clip : (v < -p->clip ? -p->clip : v);
    }
    return eo_rnn_activate(a, v);
}

static int32_t eo_rnn_gates(eo_cell_t cell)
{
    return cell == EO_CELL_LSTM ? 4 : (cell == EO_CELL_GRU ? 3 : 1);
}

/* One time step of one direction and batch row: h (and c) updated in place. The affine parts
 * run on the dense kernel (weights packed for it); GRU's R is split into its z, r rows and its
 * h rows, since without linear_before_reset the h rows multiply r * h. */
static void eo_rnn_step(const eo_recurrent_params_t *p, int32_t dir, const float *x, const float *w,
                        const float *r, const float *r_h, const float *wb, const float *rb, float *h,
                        float *c, float *xg, float *hg)
{
    const int32_t n = p->hidden;
    const eo_rnn_activation_t *act = p->activations + dir * 3;
    int32_t j;
    eo_dense_f32(x, w, wb, xg, 1, eo_rnn_gates(p->cell) * n, p->input);
    if (p->cell != EO_CELL_GRU) {
        eo_dense_f32(h, r, rb, hg, 1, eo_rnn_gates(p->cell) * n, n);
    }
    if (p->cell == EO_CELL_RNN) {
        for (j = 0; j < n; ++j) {
            h[j] = eo_rnn_gate(p, &act[0], xg[j] + hg[j]);
        }
    } else if (p->cell == EO_CELL_GRU) {
        const float *rb_h = rb != NULL ? rb + 2 * n : NULL;
        eo_dense_f32(h, r, rb, hg, 1, 2 * n, n);
        for (j = 0; j < n; ++j) {
            xg[j] = eo_rnn_gate(p, &act[0], xg[j] + hg[j]);             /* z */
            xg[n + j] = eo_rnn_gate(p, &act[0], xg[n + j] + hg[n + j]); /* r */
        }
        if (!p->linear_before_reset) { /* g(x W_h + (r * h) R_h^T + Rb_h) */
            for (j = 0; j < n; ++j) {
                hg[j] = xg[n + j] * h[j];
            }
            eo_dense_f32(hg, r_h, rb_h, hg + 2 * n, 1, n, n);
            for (j = 0; j < n; ++j) {
                hg[2 * n + j] = eo_rnn_gate(p, &act[1], xg[2 * n + j] + hg[2 * n + j]);
            }
        } else { /* g(x W_h + r * (h R_h^T + Rb_h)) */
            eo_dense_f32(h, r_h, rb_h, hg + 2 * n, 1, n, n);
            for (j = 0; j < n; ++j) {
                hg[2 * n + j] = eo_rnn_gate(p, &act[1], xg[2 * n + j] + xg[n + j] * hg[2 * n + j]);
            }
        }
        for (j = 0; j < n; ++j) {
            h[j] = (1.0f - xg[j]) * hg[2 * n + j] + xg[j] * h[j];
        }
    } else { /* LSTM: i, o, f, c */
        const float *peep = p->peepholes != NULL ? p->peepholes + dir * 3 * n : NULL;
        for (j = 0; j < n; ++j) {
            const float c_in = c[j];
            const float i_gate = eo_rnn_gate(p, &act[0], xg[j] + hg[j] + (peep != NULL ? peep[j] * c_in : 0.0f));
            const float f_gate =
                p->input_forget ? 1.0f - i_gate
                                : eo_rnn_gate(p, &act[0], xg[2 * n + j] + hg[2 * n + j] +
                                                              (peep != NULL ? peep[2 * n + j] * c_in : 0.0f));
            const float candidate = eo_rnn_gate(p, &act[1], xg[3 * n + j] + hg[3 * n + j]);
            float o_gate;
            c[j] = f_gate * c_in + i_gate * candidate;
            if (p->cell_clip > 0.0f) {
                c[j] = c[j] > p->cell_clip ? p->cell_clip : (c[j] < -p->cell_clip ? -p->cell_clip : c[j]);
            }
            o_gate = eo_rnn_gate(p, &act[0], xg[n + j] + hg[n + j] + (peep != NULL ? peep[n + j] * c[j] : 0.0f));
            h[j] = o_gate * eo_rnn_activate(&act[2], c[j]);
        }
    }
}

int32_t eo_recurrent_scratch_floats(const eo_recurrent_params_t *p)
{
    return 2 * eo_rnn_gates(p->cell) * p->hidden + 2 * p->hidden;
}

void eo_recurrent_f32(const eo_recurrent_params_t *p, const float *x, const float *w, const float *r,
                      const float *r_h, const float *b, const float *h0, const float *c0, float *y, float *y_h,
                      float *y_c, float *scratch)
{
    const int32_t n = p->hidden, gates = eo_rnn_gates(p->cell) * p->hidden;
    float *xg = scratch, *hg = scratch + gates, *h = scratch + 2 * gates, *c = h + n;
    int32_t dir, batch, step, j;
    for (dir = 0; dir < p->directions; ++dir) {
        const int32_t reverse = p->reverse || dir == 1;
        /* GRU: r holds the z and r rows (2n), r_h the h rows (n), per direction */
        const int32_t r_rows = p->cell == EO_CELL_GRU ? 2 * n : gates;
        const float *wd = w + dir * gates * p->input, *rd = r + dir * r_rows * n;
        const float *rhd = r_h != NULL ? r_h + dir * n * n : NULL;
        const float *wb = b != NULL ? b + dir * 2 * gates : NULL, *rb = b != NULL ? wb + gates : NULL;
        for (batch = 0; batch < p->batch; ++batch) {
            const int32_t state = dir * p->state_dir + batch * p->state_batch;
            for (j = 0; j < n; ++j) {
                h[j] = h0 != NULL ? h0[state + j] : 0.0f;
                c[j] = c0 != NULL ? c0[state + j] : 0.0f;
            }
            const int32_t steps = p->sequence_lens != NULL ? p->sequence_lens[batch] : p->seq;
            for (step = 0; step < p->seq; ++step) {
                /* a shorter sequence: its last steps' outputs are zero, its state the last real step's */
                const int32_t t = step >= steps ? step : (reverse ? steps - 1 - step : step);
                if (step < steps) {
                    eo_rnn_step(p, dir, x + t * p->x_step + batch * p->x_batch, wd, rd, rhd, wb, rb, h, c, xg,
                                hg);
                }
                if (y != NULL) {
                    float *yt = y + t * p->y_step + dir * p->y_dir + batch * p->y_batch;
                    for (j = 0; j < n; ++j) {
                        yt[j] = step < steps ? h[j] : 0.0f;
                    }
                }
            }
            for (j = 0; j < n; ++j) {
                if (y_h != NULL) {
                    y_h[state + j] = h[j];
                }
                if (y_c != NULL) {
                    y_c[state + j] = c[j];
                }
            }
        }
    }
}
