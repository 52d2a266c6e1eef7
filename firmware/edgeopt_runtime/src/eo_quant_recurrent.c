/* TFLM's int8 UNIDIRECTIONAL_SEQUENCE_LSTM (int8 activations and weights, int16 cell state):
 * each gate is two fully-connected products requantized to Q3.12 (input and recurrent apart,
 * added with saturation), sigmoid or tanh by TFLite's table in Q0.15, and the cell and hidden
 * updates as TFLite's int16 element-wise products. */
#include <string.h>

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
    int32_t from_input = bias[gate * p->hidden + unit], from_state = bias[(4 + gate) * p->hidden + unit];
    int32_t k;
    for (k = 0; k < p->input; ++k) {
        from_input += (int32_t)x[k] * wu[k];
    }
    for (k = 0; k < p->hidden; ++k) {
        from_state += (int32_t)h[k] * ru[k];
    }
    return eo_clamp16(eo_clamp16(eo_requantize(from_input, p->input_multiplier[gate], p->input_shift[gate])) +
                      eo_clamp16(eo_requantize(from_state, p->state_multiplier[gate], p->state_shift[gate])));
}

static int32_t eo_pair_words(int32_t n)
{
    return (n + 3) / 4 * 2;
}

int32_t eo_lstm_s8_scratch_size(const eo_lstm_s8_params_t *p)
{
    /* x_t and h as pair words (DSP), c (int16), h old and new (int8) */
    return 4 * (eo_pair_words(p->input) + eo_pair_words(p->hidden)) + 2 * p->hidden + 2 * p->hidden;
}

void eo_lstm_s8(const eo_lstm_s8_params_t *p, const int8_t *x, const int8_t *w, const int8_t *r,
                const int32_t *bias, int8_t *y, void *scratch)
{
    uint32_t *const x_pairs = (uint32_t *)scratch, *const h_pairs = x_pairs + eo_pair_words(p->input);
    int16_t *const c = (int16_t *)(void *)(h_pairs + eo_pair_words(p->hidden));
    int8_t *const h = (int8_t *)(void *)(c + p->hidden), *const h_next = h + p->hidden;
    int32_t b, t, j;
    for (b = 0; b < p->batch; ++b) { /* the states start at rest on every call, as TFLM's after a reset */
        for (j = 0; j < p->hidden; ++j) {
            h[j] = (int8_t)p->hidden_zero_point;
            c[j] = 0;
        }
        for (t = 0; t < p->seq; ++t) {
            const int32_t row = p->time_major ? t * p->batch + b : b * p->seq + t;
            const int8_t *const x_t = x + row * p->input;
            for (j = 0; j < p->hidden; ++j) { /* gates in TFLM's order: forget, input, cell, output */
                const int32_t f = eo_sigmoid_q15(p->sigmoid_table, eo_lstm_gate(p, EO_LSTM_FORGET, j, x_t, h, w, r, bias));
                const int32_t i = eo_sigmoid_q15(p->sigmoid_table, eo_lstm_gate(p, EO_LSTM_INPUT, j, x_t, h, w, r, bias));
                const int32_t g = eo_tanh_q15(p->sigmoid_table, eo_lstm_gate(p, EO_LSTM_CELL, j, x_t, h, w, r, bias), -12);
                const int32_t o = eo_sigmoid_q15(p->sigmoid_table, eo_lstm_gate(p, EO_LSTM_OUTPUT, j, x_t, h, w, r, bias));
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

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>

/* n int8 values as int16 pair words for SMLAD against SXTB16 of four weight bytes: per four
 * values {v0, v2}, {v1, v3}; the tail is zero. */
static void eo_lstm_pairs(const int8_t *v, int32_t n, uint32_t *pairs)
{
    int32_t k;
    for (k = 0; k < n; k += 4) {
        int8_t four[4] = {0, 0, 0, 0};
        uint32_t word, odd;
        memcpy(four, v + k, (size_t)(n - k < 4 ? n - k : 4));
        memcpy(&word, four, sizeof word);
        __asm__("sxtb16 %0, %1, ror #8" : "=r"(odd) : "r"(word));
        pairs[k / 2] = (uint32_t)__sxtb16((int32_t)word);
        pairs[k / 2 + 1] = odd;
    }
}

/* acc += the next four values {xa, xb} times one gate's next four weights w */
#define EO_LSTM_GATE_ASM(acc, w)                                                            \
    "sxtb16 %[t], %[" w "]\n\tsmlad %[" acc "], %[t], %[xa], %[" acc "]\n\t"               \
    "sxtb16 %[t], %[" w "], ror #8\n\tsmlad %[" acc "], %[t], %[xb], %[" acc "]\n\t"

/* acc[g] += the four gates' rows of one unit (laid out four weights of each gate in turn)
 * times the values as pair words, from xp to end */
static inline void eo_lstm_gates(const int8_t *wp, const uint32_t *xp, const uint32_t *end, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    do {
        uint32_t xa, xb, w0, w1, t;
        __asm__("ldrd %[xa], %[xb], [%[xp]], #8\n\tldrd %[w0], %[w1], [%[wp]], #8\n\t"
                EO_LSTM_GATE_ASM("a0", "w0") EO_LSTM_GATE_ASM("a1", "w1")
                "ldrd %[w0], %[w1], [%[wp]], #8\n\t"
                EO_LSTM_GATE_ASM("a2", "w0") EO_LSTM_GATE_ASM("a3", "w1")
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [xp] "+r"(xp), [wp] "+r"(wp),
                  [xa] "=&r"(xa), [xb] "=&r"(xb), [w0] "=&r"(w0), [w1] "=&r"(w1), [t] "=&r"(t)
                :
                : "memory");
    } while (xp < end);
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* TFLite's requantization in one SMMULR (eo_requant_dsp_t) */
static inline int32_t eo_lstm_requantize(int32_t acc, const eo_requant_dsp_t *q)
{
    int32_t high;
    __asm__("smmulr %0, %1, %2" : "=r"(high) : "r"((int32_t)((uint32_t)acc << q->left)), "r"(q->multiplier));
    return (high + q->rounding + (high >> 31)) >> q->right;
}

static inline int32_t eo_ssat16(int32_t v)
{
    int32_t out;
    __asm__("ssat %0, #16, %1" : "=r"(out) : "r"(v));
    return out;
}

void eo_lstm_s8_dsp(const eo_lstm_s8_params_t *p, const int8_t *x, const int8_t *w, const int8_t *r,
                    const int32_t *bias, const eo_requant_dsp_t *requant, int8_t *y, void *scratch)
{
    const int32_t x_words = eo_pair_words(p->input), h_words = eo_pair_words(p->hidden);
    uint32_t *const x_pairs = (uint32_t *)scratch, *const h_pairs = x_pairs + x_words;
    int16_t *const c = (int16_t *)(void *)(h_pairs + h_words);
    int8_t *const h = (int8_t *)(void *)(c + p->hidden);
    const eo_requant_dsp_t *const to_input = requant, *const to_state = requant + 4;
    int32_t b, t, j, g;
    for (b = 0; b < p->batch; ++b) {
        for (j = 0; j < p->hidden; ++j) {
            h[j] = (int8_t)p->hidden_zero_point;
            c[j] = 0;
        }
        for (t = 0; t < p->seq; ++t) {
            const int32_t row = p->time_major ? t * p->batch + b : b * p->seq + t;
            eo_lstm_pairs(x + row * p->input, p->input, x_pairs);
            eo_lstm_pairs(h, p->hidden, h_pairs);
            for (j = 0; j < p->hidden; ++j) { /* h_pairs hold h_(t-1): h[j] is free to take h_t */
                int32_t from_input[4], from_state[4], gate[4], cell;
                memcpy(from_input, bias + 8 * j, sizeof from_input);
                memcpy(from_state, bias + 8 * j + 4, sizeof from_state);
                eo_lstm_gates(w + j * 8 * x_words, x_pairs, x_pairs + x_words, from_input);
                eo_lstm_gates(r + j * 8 * h_words, h_pairs, h_pairs + h_words, from_state);
                for (g = 0; g < 4; ++g) {
                    gate[g] = eo_ssat16(eo_ssat16(eo_lstm_requantize(from_input[g], &to_input[g])) +
                                        eo_ssat16(eo_lstm_requantize(from_state[g], &to_state[g])));
                }
                gate[EO_LSTM_FORGET] = eo_sigmoid_q15(p->sigmoid_table, gate[EO_LSTM_FORGET]);
                gate[EO_LSTM_INPUT] = eo_sigmoid_q15(p->sigmoid_table, gate[EO_LSTM_INPUT]);
                gate[EO_LSTM_CELL] = eo_tanh_q15(p->sigmoid_table, gate[EO_LSTM_CELL], -12);
                gate[EO_LSTM_OUTPUT] = eo_sigmoid_q15(p->sigmoid_table, gate[EO_LSTM_OUTPUT]);
                cell = eo_ssat16(eo_ssat16(eo_lstm_requantize(gate[EO_LSTM_FORGET] * c[j], &requant[8])) +
                                 eo_ssat16(eo_lstm_requantize(gate[EO_LSTM_INPUT] * gate[EO_LSTM_CELL], &requant[9])));
                if (p->cell_clip > 0) {
                    cell = eo_clamp(cell, -p->cell_clip, p->cell_clip);
                }
                c[j] = (int16_t)cell;
                h[j] = (int8_t)eo_clamp(
                    eo_lstm_requantize(eo_tanh_q15(p->sigmoid_table, cell, p->cell_scale_power) * gate[EO_LSTM_OUTPUT],
                                       &requant[10]),
                    -128, 127);
                y[row * p->hidden + j] = h[j];
            }
        }
    }
}
#endif
