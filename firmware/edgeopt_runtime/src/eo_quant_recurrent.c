/* TFLM's int8 UNIDIRECTIONAL_SEQUENCE_LSTM (int8 activations and weights, int16 cell state):
 * each gate is two fully-connected products requantized to Q3.12 (input and recurrent apart,
 * added with saturation), sigmoid or tanh by TFLite's table in Q0.15, and the cell and hidden
 * updates as TFLite's int16 element-wise products. */
#include "eo_fixedpoint.h"
#include "eo_runtime.h"

static int32_t eo_clamp16(int32_t v)
{
    return eo_clamp(v, -32768, 32767);
}

/* TFLite's int16 Logistic with input multiplier 3 (Q3.12 in, Q0.15 out) */
static int16_t eo_sigmoid_q15(const uint16_t *table, int32_t x)
{
    const int32_t v = x * 3;
    const uint32_t magnitude = (uint32_t)(v < 0 ? -v : v);
    const uint32_t index = magnitude >> 9;
    uint32_t result = 0x7FFFu << 10;
    if (index < 255u) {
        const uint32_t low = table[index], high = table[index + 1u];
        result = (low << 9) + (magnitude & 0x1FFu) * (high - low);
    }
    result = v >= 0 ? result + (1u << 9) : (1u << 25) - result + (1u << 9) - 1u;
    return (int16_t)(result >> 10);
}

/* TFLite's int16 Tanh for an input scale of 2^power (Q0.15 out) */
static int16_t eo_tanh_q15(const uint16_t *table, int32_t x, int32_t power)
{
    const int32_t left_shift = 15 + power - 3;
    const int32_t v = left_shift >= 0 ? x * (3 << left_shift)
                                      : (x * 3 + (1 << (-left_shift - 1))) >> -left_shift;
    const uint32_t magnitude = (uint32_t)(v < 0 ? -v : v);
    const uint32_t index = magnitude >> 8;
    int32_t result = (int32_t)(0xFFFFu << 8);
    if (index < 255u) {
        const uint32_t low = table[index], high = table[index + 1u];
        result = (int32_t)((low << 8) + (magnitude & 0xFFu) * (high - low));
    }
    result = v >= 0 ? result - (1 << 23) + (1 << 7) : -result + (1 << 23) + (1 << 7) - 1;
    return (int16_t)(result >> 8);
}

/* one gate's pre-activation in Q3.12: input and recurrent products requantized apart, then
 * added with saturation (TFLM) */
static int32_t eo_lstm_gate(const eo_lstm_s8_params_t *p, int32_t gate, int32_t unit, const int8_t *x,
                            const int8_t *h, const int8_t *w, const int8_t *r, const int32_t *bias)
{
    const int8_t *wu = w + (gate * p->hidden + unit) * p->input;
    const int8_t *ru = r + (gate * p->hidden + unit) * p->hidden;
    int32_t from_input = bias[gate * p->hidden + unit], from_state = bias[(4 + gate) * p->hidden + unit], k;
    for (k = 0; k < p->input; ++k) {
        from_input += (int32_t)x[k] * wu[k];
    }
    for (k = 0; k < p->hidden; ++k) {
        from_state += (int32_t)h[k] * ru[k];
    }
    return eo_clamp16(eo_clamp16(eo_requantize(from_input, p->input_multiplier[gate], p->input_shift[gate])) +
                      eo_clamp16(eo_requantize(from_state, p->state_multiplier[gate], p->state_shift[gate])));
}

int32_t eo_lstm_s8_scratch_size(const eo_lstm_s8_params_t *p)
{
    return 2 * p->hidden + 2 * 2 * p->hidden; /* h (int8, twice: old and new), c (int16) */
}

void eo_lstm_s8(const eo_lstm_s8_params_t *p, const int8_t *x, const int8_t *w, const int8_t *r,
                const int32_t *bias, int8_t *y, void *scratch)
{
    int8_t *const h = (int8_t *)scratch, *const h_next = h + p->hidden;
    int16_t *const c = (int16_t *)(void *)(h + 2 * p->hidden);
    int32_t b, t, j;
    for (b = 0; b < p->batch; ++b) { /* the states start at rest on every call, as TFLM's after a reset */
        for (j = 0; j < p->hidden; ++j) {
            h[j] = (int8_t)p->hidden_zero_point;
            c[j] = 0;
        }
        for (t = 0; t < p->seq; ++t) {
            const int32_t row = p->time_major ? t * p->batch + b : b * p->seq + t;
            const int8_t *xt = x + row * p->input;
            for (j = 0; j < p->hidden; ++j) { /* gates in TFLM's order: forget, input, cell, output */
                const int32_t f = eo_sigmoid_q15(p->sigmoid_table, eo_lstm_gate(p, EO_LSTM_FORGET, j, xt, h, w, r, bias));
                const int32_t i = eo_sigmoid_q15(p->sigmoid_table, eo_lstm_gate(p, EO_LSTM_INPUT, j, xt, h, w, r, bias));
                const int32_t g = eo_tanh_q15(p->sigmoid_table, eo_lstm_gate(p, EO_LSTM_CELL, j, xt, h, w, r, bias), -12);
                const int32_t o = eo_sigmoid_q15(p->sigmoid_table, eo_lstm_gate(p, EO_LSTM_OUTPUT, j, xt, h, w, r, bias));
                int32_t cell = eo_clamp16(eo_clamp16(eo_requantize(f * c[j], p->forget_multiplier, p->forget_shift)) +
                                          eo_clamp16(eo_requantize(i * g, p->update_multiplier, p->update_shift)));
                if (p->cell_clip > 0) {
                    cell = eo_clamp(cell, -p->cell_clip, p->cell_clip);
                }
                c[j] = (int16_t)cell;
                h_next[j] = (int8_t)eo_clamp(eo_requantize(eo_tanh_q15(p->sigmoid_table, cell, p->cell_scale_power) * o,
                                                           p->hidden_multiplier, p->hidden_shift) +
                                                 p->hidden_zero_point,
                                             -128, 127);
            }
            for (j = 0; j < p->hidden; ++j) {
                h[j] = h_next[j];
                y[row * p->hidden + j] = h_next[j];
            }
        }
    }
}
