"""TFLM's int8 UNIDIRECTIONAL_SEQUENCE_LSTM (int8 activations and weights, int16 cell state),
with its DSP variant where every requantization is exact in one SMMULR."""
import numpy as np

from edgeopt.artifact import ALWAYS, DSP, PORTABLE
from edgeopt.ops.quantized import quant_of, quantize_multiplier
from edgeopt.ops.quantized_linear import smmulr_requantization
from edgeopt.ops.registry import Call, OpDef

# |f * c|, |i * g| and |o * tanh(c)|: the gates in Q0.15 are 0..32767, tanh at most 32767 in
# magnitude, the cell state int16
GATE_PRODUCT_BOUND = 32767 * 32768


def sigmoid_table_q16():
    """TFLite's sigmoid_table_uint16: sigmoid(i / 24) in Q0.16, each node raised by half the
    chord error of linear interpolation, (1/24)^2 / 16 |sigmoid''|, so the interpolated curve
    errs evenly above and below; the last entry saturates."""
    x = np.arange(256) / 24.0
    s = 1.0 / (1.0 + np.exp(-x))
    raised = s + np.abs(s * (1 - s) * (1 - 2 * s)) / (16 * 24.0 ** 2)
    table = np.floor(65536 * raised + 0.5)
    table[-1] = 65535
    return np.minimum(table, 65535).astype(np.uint16)


def _lstm_s8_shapes(ctx):
    shape = ctx.shape(0)
    if len(shape) != 3:
        ctx.unsupported(f"the input must be rank 3 (batch, time, features); found {tuple(shape)}")
    hidden = ctx.shape(5)[0]
    seq, batch = (shape[0], shape[1]) if ctx.attr("time_major", 0) else (shape[1], shape[0])
    return seq, batch, shape[2], hidden


def _infer_lstm_s8(ctx):
    seq, batch, _, hidden = _lstm_s8_shapes(ctx)
    return [(seq, batch, hidden) if ctx.attr("time_major", 0) else (batch, seq, hidden)]


def _lower_lstm_s8(ctx, lc):
    """TFLM's integer LSTM: gate products to Q3.12 (scale 2^-12), gates in Q0.15, the cell state
    at its power-of-two scale, the products between gates requantized in double."""
    seq, batch, features, hidden = _lstm_s8_shapes(ctx)
    x_q = quant_of(ctx, 0, "input")
    weights = [ctx.const(i) for i in range(1, 9)]
    scales = [quant_of(ctx, i, "weights") for i in range(1, 9)]
    if any(q.per_channel or any(z != 0 for z in q.zero_points) for q in scales):
        ctx.unsupported("int8 LSTM weights must be per-tensor and symmetric (TFLite's)")
    h_scale, h_zero = np.float32(ctx.attr("hidden_scale")), int(ctx.attr("hidden_zero_point"))
    c_scale = np.float32(ctx.attr("cell_scale"))
    power = int(np.round(np.float32(np.log(c_scale)) * np.float32(1 / np.log(np.float32(2)))))
    if abs(2.0 ** power - float(c_scale)) > 1e-3 * float(c_scale):
        ctx.unsupported(f"the int16 cell state's scale {float(c_scale)} is not a power of two")

    def to_gate(scale_in, scale_w):  # TFLM's GetQuantizedConvolutionMultipler: float product, then double
        return quantize_multiplier(float(np.float32(np.float32(scale_in) * np.float32(scale_w))) / 2.0 ** -12)

    def between(a, b, out):  # TFLM's CreateInterGateMulParams
        return quantize_multiplier(float(np.float32(a)) * float(np.float32(b)) / float(np.float32(out)))

    to_input = [to_gate(x_q.scales[0], q.scales[0]) for q in scales[:4]]
    to_state = [to_gate(h_scale, q.scales[0]) for q in scales[4:]]
    bias = [np.asarray(ctx.const(i), np.int64) for i in range(9, 13)]
    folded = [b - x_q.zero_points[0] * w.astype(np.int64).sum(axis=1) for b, w in zip(bias, weights[:4])]
    folded += [-h_zero * r.astype(np.int64).sum(axis=1) for r in weights[4:]]
    clip = ctx.attr("cell_clip", 0.0)
    cell_clip = int(min(max(float(clip) / float(c_scale), -32768.0), 32767.0)) if clip > 0 else 0
    gate = 2.0 ** -15
    forget, update, output = between(gate, c_scale, c_scale), between(gate, gate, c_scale), between(gate, gate, h_scale)
    worst = [int(np.abs(b).max()) + 128 * int(np.abs(w.astype(np.int64)).sum(axis=1).max())
             for b, w in zip(folded, weights)]
    requant = [smmulr_requantization(acc, m, s) for acc, (m, s) in zip(worst, to_input + to_state)]
    requant += [smmulr_requantization(GATE_PRODUCT_BOUND, m, s, offset, doubled=False)
                for (m, s), offset in ((forget, 0), (update, 0), (output, h_zero))]
    dsp = None if None in requant else dict(
        w=lc.weight(_gates_interleaved(weights[:4]), "input_weights_dsp", when=DSP, align=8),
        r=lc.weight(_gates_interleaved(weights[4:]), "recurrent_weights_dsp", when=DSP, align=8),
        bias=lc.weight(np.stack(folded, axis=1).astype(np.int32), "bias_dsp", when=DSP),
        requant=lc.weight(np.array(requant, np.int32), "requantization_dsp", when=DSP))
    portable = PORTABLE if dsp else ALWAYS
    return Call("ops/lstm_s8.c.j2", dict(
        seq=seq, batch=batch, input=features, hidden=hidden, time_major=int(ctx.attr("time_major", 0)),
        hidden_zero_point=h_zero,
        input_multipliers=[m for m, _ in to_input], input_shifts=[s for _, s in to_input],
        state_multipliers=[m for m, _ in to_state], state_shifts=[s for _, s in to_state],
        forget=forget, update=update, output=output, cell_scale_power=power, cell_clip=cell_clip,
        table=lc.weight(sigmoid_table_q16(), "sigmoid_table", "sigmoid(i / 24) in Q0.16 (TFLite's table)", per_node=False),
        x=lc.buffer(ctx.node.inputs[0]),
        w=lc.weight(np.concatenate(weights[:4]).astype(np.int8), "input_weights", when=portable),
        r=lc.weight(np.concatenate(weights[4:]).astype(np.int8), "recurrent_weights", when=portable),
        bias=lc.weight(np.concatenate(folded).astype(np.int32), "bias", when=portable), y=lc.buffer(ctx.node.outputs[0]),
        scratch=lc.scratch(ctx), dsp=dsp))


def _gates_interleaved(gates):
    """Four gates' [hidden][n] int8 weights -> eo_lstm_s8_dsp's layout: per unit and per 4
    inputs (zero-padded), the four gates' 4 weights in turn."""
    stacked = np.stack([np.asarray(g, np.int8) for g in gates])
    hidden, n = stacked.shape[1:]
    padded = np.zeros((4, hidden, -(-n // 4) * 4), np.int8)
    padded[:, :, :n] = stacked
    return padded.reshape(4, hidden, -1, 4).transpose(1, 2, 0, 3).reshape(hidden, -1)


def lstm_s8_scratch_bytes(features, hidden):
    """eo_lstm_s8_scratch_size: x_t and h as int16 pair words (DSP cores), c (int16), h twice (int8)."""
    pair_words = lambda n: (n + 3) // 4 * 2  # noqa: E731
    return 4 * (pair_words(features) + pair_words(hidden)) + 2 * hidden + 2 * hidden


def _lstm_s8_scratch(ctx):
    _, _, features, hidden = _lstm_s8_shapes(ctx)
    return lstm_s8_scratch_bytes(features, hidden)


OPS = (OpDef("QLstm", _infer_lstm_s8, None, _lower_lstm_s8, dtypes=("int8",), scratch=_lstm_s8_scratch),)
