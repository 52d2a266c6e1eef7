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
static inline int16_t eo_sigmoid_q15(const uint16_t *table, int32_t x)
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
static inline int16_t eo_tanh_q15(const uint16_t *table, int32_t x, int32_t power)
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
    /* the DSP kernel's scratch layout (one size for both): c and h after its pair words */
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
    for (k = 0; k < n; k += 4, pairs += 2) {
        uint32_t word = 0, odd;
        if (n - k >= 4) {
            memcpy(&word, v + k, sizeof word); /* LDR: unaligned loads are fine on these cores */
        } else {
            int32_t i;
            for (i = n - k - 1; i >= 0; --i) {
                word = word << 8 | (uint8_t)v[k + i];
            }
        }
        __asm__("sxtb16 %0, %1, ror #8" : "=r"(odd) : "r"(word));
        pairs[0] = (uint32_t)__sxtb16((int32_t)word);
        pairs[1] = odd;
    }
}

/* acc += the next four values {xa, xb} times one gate's next four weights w */
#define EO_LSTM_GATE_ASM(acc, w)                                                            \
    "sxtb16 %[t], %[" w "]\n\tsmlad %[" acc "], %[t], %[xa], %[" acc "]\n\t"               \
    "sxtb16 %[t], %[" w "], ror #8\n\tsmlad %[" acc "], %[t], %[xb], %[" acc "]\n\t"

/* a0..a3 += the four gates' rows of one unit (laid out four weights of each gate in turn)
 * times the values as pair words, from xp to end */
static inline void eo_lstm_gates(const int8_t *wp, const uint32_t *xp, const uint32_t *end, int32_t *a0,
                                 int32_t *a1, int32_t *a2, int32_t *a3)
{
    uint32_t xa, xb, w0, w1, t;
    /* the loop inside the asm: GCC would otherwise copy the sums between registers each pass */
    __asm__("1:\n\tldrd %[xa], %[xb], [%[xp]], #8\n\tldrd %[w0], %[w1], [%[wp]], #8\n\t"
            EO_LSTM_GATE_ASM("a0", "w0") EO_LSTM_GATE_ASM("a1", "w1")
            "ldrd %[w0], %[w1], [%[wp]], #8\n\t"
            EO_LSTM_GATE_ASM("a2", "w0") EO_LSTM_GATE_ASM("a3", "w1")
            "cmp %[xp], %[end]\n\tbcc 1b"
            : [a0] "+r"(*a0), [a1] "+r"(*a1), [a2] "+r"(*a2), [a3] "+r"(*a3), [xp] "+r"(xp), [wp] "+r"(wp),
              [xa] "=&r"(xa), [xb] "=&r"(xb), [w0] "=&r"(w0), [w1] "=&r"(w1), [t] "=&r"(t)
            : [end] "r"(end)
            : "cc", "memory");
}

/* TFLite's requantization in one SMMULR (eo_requant_dsp_t): doubled for the gates' products
 * (any right shift), not for the products of two gates (whose h reach 2^30). Shifts by a
 * register read only its low byte: right may be 32 there. */
static inline int32_t eo_lstm_requantize(int32_t acc, const eo_requant_dsp_t *q, int doubled)
{
    int32_t high, out;
    __asm__("smmulr %0, %1, %2" : "=r"(high) : "r"((int32_t)((uint32_t)acc << q->left)), "r"(q->multiplier));
    if (!doubled) {
        return (high + q->rounding + (high >> 31)) >> q->right; /* right <= 31 */
    }
    __asm__("asr %0, %1, %2" : "=r"(out) : "r"(2 * high + q->rounding + (high >> 31)), "r"(q->right));
    return out;
}

/* SSAT as asm: GCC 12's __ssat trips -Wsign-conversion inside its own macro */
static inline int32_t eo_ssat16(int32_t v)
{
    int32_t out;
    __asm__("ssat %0, #16, %1" : "=r"(out) : "r"(v));
    return out;
}

static inline int32_t eo_ssat8(int32_t v)
{
    int32_t out;
    __asm__("ssat %0, #8, %1" : "=r"(out) : "r"(v));
    return out;
}

/* one gate's pre-activation in Q3.12 from its two products (q: the input product's
 * requantization; the recurrent one's is 4 further) */
static inline int32_t eo_lstm_gate_dsp(int32_t from_input, int32_t from_state, const eo_requant_dsp_t *q)
{
    return eo_ssat16(eo_ssat16(eo_lstm_requantize(from_input, q, 1)) +
                     eo_ssat16(eo_lstm_requantize(from_state, q + 4, 1)));
}

void eo_lstm_s8_dsp(const eo_lstm_s8_params_t *p, const int8_t *x, const int8_t *w, const int8_t *r,
                    const int32_t *bias, const eo_requant_dsp_t *requant, int8_t *y, void *scratch)
{
    const int32_t hidden = p->hidden, x_words = eo_pair_words(p->input), h_words = eo_pair_words(hidden);
    uint32_t *const x_pairs = (uint32_t *)scratch, *const h_pairs = x_pairs + x_words;
    int16_t *const c = (int16_t *)(void *)(h_pairs + h_words);
    int8_t *const h = (int8_t *)(void *)(c + hidden);
    int32_t b, t, j;
    for (b = 0; b < p->batch; ++b) {
        for (j = 0; j < hidden; ++j) {
            h[j] = (int8_t)p->hidden_zero_point;
            c[j] = 0;
        }
        for (t = 0; t < p->seq; ++t) {
            const int32_t row = p->time_major ? t * p->batch + b : b * p->seq + t;
            int8_t *const y_t = y + row * hidden;
            eo_lstm_pairs(x + row * p->input, p->input, x_pairs);
            eo_lstm_pairs(h, hidden, h_pairs);
            for (j = 0; j < hidden; ++j) { /* h_pairs hold h_(t-1): h[j] is free to take h_t */
                const int32_t *const unit_bias = bias + 8 * j;
                int32_t i0 = unit_bias[0], i1 = unit_bias[1], i2 = unit_bias[2], i3 = unit_bias[3];
                int32_t s0 = unit_bias[4], s1 = unit_bias[5], s2 = unit_bias[6], s3 = unit_bias[7];
                int32_t input_gate, forget_gate, cell_gate, output_gate, cell;
                eo_lstm_gates(w + j * 8 * x_words, x_pairs, x_pairs + x_words, &i0, &i1, &i2, &i3);
                eo_lstm_gates(r + j * 8 * h_words, h_pairs, h_pairs + h_words, &s0, &s1, &s2, &s3);
                input_gate = eo_sigmoid_q15(p->sigmoid_table, eo_lstm_gate_dsp(i0, s0, &requant[EO_LSTM_INPUT]));
                forget_gate = eo_sigmoid_q15(p->sigmoid_table, eo_lstm_gate_dsp(i1, s1, &requant[EO_LSTM_FORGET]));
                cell_gate = eo_tanh_q15(p->sigmoid_table, eo_lstm_gate_dsp(i2, s2, &requant[EO_LSTM_CELL]), -12);
                output_gate = eo_sigmoid_q15(p->sigmoid_table, eo_lstm_gate_dsp(i3, s3, &requant[EO_LSTM_OUTPUT]));
                cell = eo_ssat16(eo_ssat16(eo_lstm_requantize(forget_gate * c[j], &requant[8], 0)) +
                                 eo_ssat16(eo_lstm_requantize(input_gate * cell_gate, &requant[9], 0)));
                if (p->cell_clip > 0) {
                    cell = eo_clamp(cell, -p->cell_clip, p->cell_clip);
                }
                c[j] = (int16_t)cell;
                h[j] = (int8_t)eo_ssat8(
                    eo_lstm_requantize(eo_tanh_q15(p->sigmoid_table, cell, p->cell_scale_power) * output_gate, &requant[10], 0));
                y_t[j] = h[j];
            }
        }
    }
}
#endif
