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

/* v[0..n) = gate(v[0..n)) in place: clip once, then one vector call for sigmoid and tanh
 * (their coefficients stay in registers over the loop). */
static void eo_rnn_gate_vec(const eo_recurrent_params_t *p, const eo_rnn_activation_t *a, float *v, int32_t n)
{
    int32_t j;
    if (p != NULL && p->clip > 0.0f) {
        eo_clip_f32(v, v, n, -p->clip, p->clip);
    }
    if (a->kind == EO_RNN_SIGMOID) {
        eo_sigmoid_f32(v, v, n);
    } else if (a->kind == EO_RNN_TANH) {
        eo_tanh_f32(v, v, n);
    } else {
        for (j = 0; j < n; ++j) {
            v[j] = eo_rnn_activate(a, v[j]);
        }
    }
}

/* One time step of one direction and batch row: h (and c) updated in place. The affine parts
 * run on the dense kernel (weights packed for it); GRU's R is split into its z, r rows and its
 * h rows, since without linear_before_reset the h rows multiply r * h. Each gate's inputs are
 * summed into xg first, then the gate is activated as one vector. */
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
            h[j] = xg[j] + hg[j];
        }
        eo_rnn_gate_vec(p, &act[0], h, n);
    } else if (p->cell == EO_CELL_GRU) {
        const float *rb_h = rb != NULL ? rb + 2 * n : NULL;
        eo_dense_f32(h, r, rb, hg, 1, 2 * n, n);
        for (j = 0; j < 2 * n; ++j) { /* z, r */
            xg[j] += hg[j];
        }
        eo_rnn_gate_vec(p, &act[0], xg, 2 * n);
        if (!p->linear_before_reset) { /* g(x W_h + (r * h) R_h^T + Rb_h) */
            for (j = 0; j < n; ++j) {
                hg[j] = xg[n + j] * h[j];
            }
            eo_dense_f32(hg, r_h, rb_h, hg + 2 * n, 1, n, n);
            for (j = 0; j < n; ++j) {
                hg[2 * n + j] += xg[2 * n + j];
            }
        } else { /* g(x W_h + r * (h R_h^T + Rb_h)) */
            eo_dense_f32(h, r_h, rb_h, hg + 2 * n, 1, n, n);
            for (j = 0; j < n; ++j) {
                hg[2 * n + j] = xg[2 * n + j] + xg[n + j] * hg[2 * n + j];
            }
        }
        eo_rnn_gate_vec(p, &act[1], hg + 2 * n, n);
        for (j = 0; j < n; ++j) {
            h[j] = (1.0f - xg[j]) * hg[2 * n + j] + xg[j] * h[j];
        }
    } else { /* LSTM: i, o, f, c */
        const float *peep = p->peepholes != NULL ? p->peepholes + dir * 3 * n : NULL;
        for (j = 0; j < 4 * n; ++j) {
            xg[j] += hg[j];
        }
        if (peep != NULL) { /* i and f see the old cell */
            for (j = 0; j < n; ++j) {
                xg[j] += peep[j] * c[j];
                xg[2 * n + j] += peep[2 * n + j] * c[j];
            }
        }
        eo_rnn_gate_vec(p, &act[0], xg, n);
        if (p->input_forget) {
            for (j = 0; j < n; ++j) {
                xg[2 * n + j] = 1.0f - xg[j];
            }
        } else {
            eo_rnn_gate_vec(p, &act[0], xg + 2 * n, n);
        }
        eo_rnn_gate_vec(p, &act[1], xg + 3 * n, n);
        for (j = 0; j < n; ++j) {
            c[j] = xg[2 * n + j] * c[j] + xg[j] * xg[3 * n + j];
        }
        if (p->cell_clip > 0.0f) {
            eo_clip_f32(c, c, n, -p->cell_clip, p->cell_clip);
        }
        if (peep != NULL) { /* o sees the new one */
            for (j = 0; j < n; ++j) {
                xg[n + j] += peep[n + j] * c[j];
            }
        }
        eo_rnn_gate_vec(p, &act[0], xg + n, n);
        eo_copy_f32(c, hg, n);
        eo_rnn_gate_vec(NULL, &act[2], hg, n); /* h's activation of the cell: no clip */
        for (j = 0; j < n; ++j) {
            h[j] = xg[n + j] * hg[j];
        }
    }
}

/* The steps of batch row `batch`: sequence_lens may be a model input, so out-of-range values
 * are clamped to [0, seq] rather than trusted */
static int32_t eo_sequence_steps(const eo_recurrent_params_t *p, int32_t batch)
{
    const int32_t steps = p->sequence_lens != NULL ? p->sequence_lens[batch] : p->seq;
    return steps < 0 ? 0 : (steps > p->seq ? p->seq : steps);
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
            const int32_t steps = eo_sequence_steps(p, batch);
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
            for (j = 0; j < n; ++j) { /* an empty sequence ends in zero states, as onnxruntime has it */
                if (y_h != NULL) {
                    y_h[state + j] = steps > 0 ? h[j] : 0.0f;
                }
                if (y_c != NULL) {
                    y_c[state + j] = steps > 0 ? c[j] : 0.0f;
                }
            }
        }
    }
}

/* ---- tangents (forward mode), for the model Jacobians solvers need ---- */

/* The slope of a gate's activation at its input v, given its value y; p: the gate's clip
 * applies (a clipped input is flat), NULL: it does not (LSTM's h on the cell). */
static float eo_rnn_slope(const eo_recurrent_params_t *p, const eo_rnn_activation_t *a, float v, float y)
{
    if (p != NULL && p->clip > 0.0f && (v > p->clip || v < -p->clip)) {
        return 0.0f;
    }
    switch (a->kind) {
    case EO_RNN_SIGMOID:
        return y * (1.0f - y);
    case EO_RNN_TANH:
        return 1.0f - y * y;
    case EO_RNN_RELU:
        return v > 0.0f ? 1.0f : 0.0f;
    case EO_RNN_HARD_SIGMOID: {
        const float s = a->alpha * v + a->beta;
        return s > 0.0f && s < 1.0f ? a->alpha : 0.0f;
    }
    case EO_RNN_AFFINE:
        return a->alpha;
    case EO_RNN_LEAKY_RELU:
        return v < 0.0f ? a->alpha : 1.0f;
    case EO_RNN_THRESHOLDED_RELU:
        return v > a->alpha ? 1.0f : 0.0f;
    case EO_RNN_SCALED_TANH: {
        const float t = eo_tanhf(a->beta * v);
        return a->alpha * a->beta * (1.0f - t * t);
    }
    case EO_RNN_ELU: /* y = alpha (e^v - 1) below 0 */
        return v < 0.0f ? y + a->alpha : 1.0f;
    case EO_RNN_SOFTSIGN: {
        const float d = 1.0f + fabsf(v);
        return 1.0f / (d * d);
    }
    case EO_RNN_SOFTPLUS:
        return v > 20.0f ? 1.0f : eo_sigmoidf(v);
    default:
        return 1.0f;
    }
}

static void eo_rnn_activate_gate(const eo_recurrent_params_t *p, const eo_rnn_activation_t *a, float v,
                                 float *value, float *slope)
{
    *value = eo_rnn_gate(p, a, v);
    *slope = eo_rnn_slope(p, a, v, *value);
}

/* Element (o, i) of a [outs][ins] matrix packed for eo_dense_f32 (blocks of 8 outputs
 * stored input-major): a column of W is the tangent of W x along a unit vector. */
static float eo_packed_weight(const float *w, int32_t outs, int32_t ins, int32_t o, int32_t i)
{
    const int32_t lane = o % EO_DENSE_BLOCK;
    return o < (outs & ~(EO_DENSE_BLOCK - 1)) ? w[(o - lane) * ins + i * EO_DENSE_BLOCK + lane] : w[o * ins + i];
}

int32_t eo_recurrent_tangent_scratch_floats(const eo_recurrent_params_t *p, int32_t rows)
{
    const int32_t n = p->hidden;
    return 6 * eo_rnn_gates(p->cell) * n + 5 * n + 2 * rows * n;
}

typedef struct { /* one step's forward values, kept for its tangents */
    float *xg, *hg, *gate, *slope, *h, *c, *c_new, *c_act, *c_slope;
} eo_rnn_values_t;

/* The forward step again, keeping each gate's value and slope; h and c are not updated. */
static void eo_rnn_values(const eo_recurrent_params_t *p, int32_t dir, const float *x, const float *w,
                          const float *r, const float *r_h, const float *wb, const float *rb,
                          const eo_rnn_values_t *v)
{
    const int32_t n = p->hidden, g = eo_rnn_gates(p->cell) * n;
    const eo_rnn_activation_t *act = p->activations + dir * 3;
    int32_t j;
    eo_dense_f32(x, w, wb, v->xg, 1, g, p->input);
    eo_dense_f32(v->h, r, rb, v->hg, 1, p->cell == EO_CELL_GRU ? 2 * n : g, n);
    if (p->cell == EO_CELL_RNN) {
        for (j = 0; j < n; ++j) {
            eo_rnn_activate_gate(p, &act[0], v->xg[j] + v->hg[j], &v->gate[j], &v->slope[j]);
        }
    } else if (p->cell == EO_CELL_GRU) {
        const float *rb_h = rb != NULL ? rb + 2 * n : NULL;
        for (j = 0; j < 2 * n; ++j) { /* z, r */
            eo_rnn_activate_gate(p, &act[0], v->xg[j] + v->hg[j], &v->gate[j], &v->slope[j]);
        }
        if (!p->linear_before_reset) { /* hg's h part: R_h (r * h) + Rb_h */
            for (j = 0; j < n; ++j) {
                v->c_new[j] = v->gate[n + j] * v->h[j];
            }
            eo_dense_f32(v->c_new, r_h, rb_h, v->hg + 2 * n, 1, n, n);
        } else { /* hg's h part: R_h h + Rb_h, scaled by r below */
            eo_dense_f32(v->h, r_h, rb_h, v->hg + 2 * n, 1, n, n);
        }
        for (j = 0; j < n; ++j) {
            const float scale = p->linear_before_reset ? v->gate[n + j] : 1.0f;
            eo_rnn_activate_gate(p, &act[1], v->xg[2 * n + j] + scale * v->hg[2 * n + j], &v->gate[2 * n + j],
                                 &v->slope[2 * n + j]);
        }
    } else { /* LSTM: i, o, f, c */
        const float *peep = p->peepholes != NULL ? p->peepholes + dir * 3 * n : NULL;
        for (j = 0; j < n; ++j) {
            float c_new;
            eo_rnn_activate_gate(p, &act[0], v->xg[j] + v->hg[j] + (peep != NULL ? peep[j] * v->c[j] : 0.0f),
                                 &v->gate[j], &v->slope[j]);
            if (p->input_forget) {
                v->gate[2 * n + j] = 1.0f - v->gate[j];
            } else {
                eo_rnn_activate_gate(p, &act[0],
                                     v->xg[2 * n + j] + v->hg[2 * n + j] + (peep != NULL ? peep[2 * n + j] * v->c[j] : 0.0f),
                                     &v->gate[2 * n + j], &v->slope[2 * n + j]);
            }
            eo_rnn_activate_gate(p, &act[1], v->xg[3 * n + j] + v->hg[3 * n + j], &v->gate[3 * n + j],
                                 &v->slope[3 * n + j]);
            c_new = v->gate[2 * n + j] * v->c[j] + v->gate[j] * v->gate[3 * n + j];
            if (p->cell_clip > 0.0f) {
                c_new = c_new > p->cell_clip ? p->cell_clip : (c_new < -p->cell_clip ? -p->cell_clip : c_new);
            }
            v->c_new[j] = c_new;
            eo_rnn_activate_gate(p, &act[0], v->xg[n + j] + v->hg[n + j] + (peep != NULL ? peep[n + j] * c_new : 0.0f),
                                 &v->gate[n + j], &v->slope[n + j]);
            v->c_act[j] = eo_rnn_activate(&act[2], c_new);
            v->c_slope[j] = eo_rnn_slope(NULL, &act[2], c_new, v->c_act[j]);
        }
    }
}

/* One step's tangents for one seed row: dh and dc (n each) updated in place; dx: that row's
 * tangent of x_t, or NULL with unit >= 0 for the unit vector at input `unit`, or NULL with
 * unit < 0 for zero. ta and tb: g floats each. */
static void eo_rnn_tangent_row(const eo_recurrent_params_t *p, int32_t dir, const float *dx, int32_t unit,
                               const float *w, const float *r, const float *r_h, const eo_rnn_values_t *v,
                               float *dh, float *dc, float *ta, float *tb)
{
    const int32_t n = p->hidden, g = eo_rnn_gates(p->cell) * n;
    int32_t j;
    if (dx != NULL) {
        eo_dense_f32(dx, w, NULL, ta, 1, g, p->input);
    } else {
        for (j = 0; j < g; ++j) {
            ta[j] = unit >= 0 ? eo_packed_weight(w, g, p->input, j, unit) : 0.0f;
        }
    }
    eo_dense_f32(dh, r, NULL, tb, 1, p->cell == EO_CELL_GRU ? 2 * n : g, n);
    if (p->cell == EO_CELL_RNN) {
        for (j = 0; j < n; ++j) {
            dh[j] = v->slope[j] * (ta[j] + tb[j]);
        }
    } else if (p->cell == EO_CELL_GRU) {
        for (j = 0; j < 2 * n; ++j) { /* dz, dr into ta */
            ta[j] = v->slope[j] * (ta[j] + tb[j]);
        }
        if (!p->linear_before_reset) { /* R_h (dr * h + r * dh) into tb */
            for (j = 0; j < n; ++j) {
                tb[2 * n + j] = ta[n + j] * v->h[j] + v->gate[n + j] * dh[j];
            }
            eo_dense_f32(tb + 2 * n, r_h, NULL, tb, 1, n, n);
        } else { /* dr * (R_h h + Rb_h) + r * R_h dh into tb */
            eo_dense_f32(dh, r_h, NULL, tb + 2 * n, 1, n, n);
            for (j = 0; j < n; ++j) {
                tb[j] = ta[n + j] * v->hg[2 * n + j] + v->gate[n + j] * tb[2 * n + j];
            }
        }
        for (j = 0; j < n; ++j) {
            const float z = v->gate[j], hh = v->gate[2 * n + j];
            const float dhh = v->slope[2 * n + j] * (ta[2 * n + j] + tb[j]);
            dh[j] = ta[j] * (v->h[j] - hh) + (1.0f - z) * dhh + z * dh[j];
        }
    } else {
        const float *peep = p->peepholes != NULL ? p->peepholes + dir * 3 * n : NULL;
        for (j = 0; j < n; ++j) {
            const float i_gate = v->gate[j], f_gate = v->gate[2 * n + j], candidate = v->gate[3 * n + j];
            const float di = v->slope[j] * (ta[j] + tb[j] + (peep != NULL ? peep[j] * dc[j] : 0.0f));
            const float df = p->input_forget ? -di
                                             : v->slope[2 * n + j] * (ta[2 * n + j] + tb[2 * n + j] +
                                                                      (peep != NULL ? peep[2 * n + j] * dc[j] : 0.0f));
            const float dcandidate = v->slope[3 * n + j] * (ta[3 * n + j] + tb[3 * n + j]);
            /* a clipped cell is flat */
            const int32_t clipped = p->cell_clip > 0.0f && fabsf(v->c_new[j]) >= p->cell_clip;
            const float dc_new = clipped ? 0.0f : df * v->c[j] + f_gate * dc[j] + di * candidate + i_gate * dcandidate;
            const float d_o = v->slope[n + j] * (ta[n + j] + tb[n + j] + (peep != NULL ? peep[n + j] * dc_new : 0.0f));
            dh[j] = d_o * v->c_act[j] + v->gate[n + j] * v->c_slope[j] * dc_new;
            dc[j] = dc_new;
        }
    }
}

void eo_recurrent_tangent_f32(const eo_recurrent_params_t *p, const eo_recurrent_tangent_t *t, const float *x,
                              const float *w, const float *r, const float *r_h, const float *b, const float *h0,
                              const float *c0, float *scratch)
{
    const int32_t n = p->hidden, g = eo_rnn_gates(p->cell) * n, rows = t->rows;
    eo_rnn_values_t v;
    float *ta, *tb, *dh, *dc;
    int32_t dir, batch, step, k, j;
    v.xg = scratch;
    v.hg = v.xg + g;
    v.gate = v.hg + g;
    v.slope = v.gate + g;
    ta = v.slope + g;
    tb = ta + g;
    v.h = tb + g;
    v.c = v.h + n;
    v.c_new = v.c + n;
    v.c_act = v.c_new + n;
    v.c_slope = v.c_act + n;
    dh = v.c_slope + n;
    dc = dh + rows * n;
    for (dir = 0; dir < p->directions; ++dir) {
        const int32_t reverse = p->reverse || dir == 1;
        const int32_t r_rows = p->cell == EO_CELL_GRU ? 2 * n : g;
        const float *wd = w + dir * g * p->input, *rd = r + dir * r_rows * n;
        const float *rhd = r_h != NULL ? r_h + dir * n * n : NULL;
        const float *wb = b != NULL ? b + dir * 2 * g : NULL, *rb = b != NULL ? wb + g : NULL;
        for (batch = 0; batch < p->batch; ++batch) {
            const int32_t state = dir * p->state_dir + batch * p->state_batch;
            const int32_t steps = eo_sequence_steps(p, batch);
            for (j = 0; j < n; ++j) {
                v.h[j] = h0 != NULL ? h0[state + j] : 0.0f;
                v.c[j] = c0 != NULL ? c0[state + j] : 0.0f;
            }
            for (k = 0; k < rows * n; ++k) {
                dh[k] = t->h0 != NULL ? t->h0[(k / n) * t->state_size + state + k % n] : 0.0f;
                dc[k] = t->c0 != NULL ? t->c0[(k / n) * t->state_size + state + k % n] : 0.0f;
            }
            for (step = 0; step < p->seq; ++step) {
                const int32_t time = step >= steps ? step : (reverse ? steps - 1 - step : step);
                const int32_t at = time * p->x_step + batch * p->x_batch;
                if (step < steps) {
                    eo_rnn_values(p, dir, x + at, wd, rd, rhd, wb, rb, &v);
                    for (k = 0; k < rows; ++k) {
                        const int32_t unit = t->x_seed >= 0 ? t->x_seed + k - at : -1;
                        eo_rnn_tangent_row(p, dir, t->x != NULL ? t->x + k * t->x_size + at : NULL,
                                           unit < p->input ? unit : -1, wd, rd, rhd, &v, dh + k * n, dc + k * n,
                                           ta, tb);
                    }
                    for (j = 0; j < n; ++j) { /* the step's new state */
                        if (p->cell == EO_CELL_LSTM) {
                            v.h[j] = v.gate[n + j] * v.c_act[j];
                            v.c[j] = v.c_new[j];
                        } else if (p->cell == EO_CELL_GRU) {
                            v.h[j] = (1.0f - v.gate[j]) * v.gate[2 * n + j] + v.gate[j] * v.h[j];
                        } else {
                            v.h[j] = v.gate[j];
                        }
                    }
                }
                if (t->y != NULL) {
                    const int32_t out = time * p->y_step + dir * p->y_dir + batch * p->y_batch;
                    for (k = 0; k < rows * n; ++k) {
                        t->y[(k / n) * t->y_size + out + k % n] = step < steps ? dh[k] : 0.0f;
                    }
                }
            }
            for (k = 0; k < rows * n; ++k) {
                if (t->y_h != NULL) {
                    t->y_h[(k / n) * t->state_size + state + k % n] = steps > 0 ? dh[k] : 0.0f;
                }
                if (t->y_c != NULL) {
                    t->y_c[(k / n) * t->state_size + state + k % n] = steps > 0 ? dc[k] : 0.0f;
                }
            }
        }
    }
}
