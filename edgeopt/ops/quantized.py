"""int8 ops with TFLite semantics: requantization parameters are computed here, at
compile time, exactly as TFLite computes them."""
import math

import numpy as np

from edgeopt.errors import ShapeError
from edgeopt.ops.registry import Call, OpDef

INT8_RANGE = (-128, 127)


def round_half_away(value: float) -> int:
    """TfLiteRound / std::round: ties away from zero (Python's round() ties to even)."""
    return int(math.floor(abs(value) + 0.5)) * (1 if value >= 0 else -1)


def quantize_multiplier(real: float):
    """TFLite QuantizeMultiplier: real = multiplier * 2^(shift - 31), multiplier in [2^30, 2^31)."""
    if real == 0.0:
        return 0, 0
    fraction, shift = math.frexp(real)
    fixed = round_half_away(fraction * (1 << 31))
    if fixed == 1 << 31:
        fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return int(fixed), int(shift)


def activation_range(name: str, scale: float, zero_point: int):
    """TFLite CalculateActivationRangeQuantized for int8 outputs."""
    low, high = INT8_RANGE

    def quantize(value):
        return zero_point + round_half_away(float(np.float32(value) / np.float32(scale)))

    if name == "RELU":
        return max(low, quantize(0.0)), high
    if name == "RELU6":
        return max(low, quantize(0.0)), min(high, quantize(6.0))
    if name == "RELU_N1_TO_1":
        return max(low, quantize(-1.0)), min(high, quantize(1.0))
    return low, high


def _quant(ctx, index, what):
    tensor = ctx.graph.tensor(ctx.node.inputs[index] if index >= 0 else ctx.node.outputs[0])
    if tensor.quant is None:
        ctx.unsupported(f"{what} tensor {tensor.name!r} has no quantization parameters")
    return tensor.quant


def _infer_fc(ctx):
    x, w = ctx.shape(0), ctx.shape(1)
    if len(w) != 2 or int(np.prod(x)) % w[1]:
        raise ShapeError(f"fully-connected input {tuple(x)} does not match weights {tuple(w)}")
    return [(int(np.prod(x)) // w[1], w[0])]


def _lower_fc(ctx, lc):
    x_q, w_q, y_q = _quant(ctx, 0, "input"), _quant(ctx, 1, "weights"), _quant(ctx, -1, "output")
    weights = ctx.const(1).astype(np.int32)
    outs, ins = weights.shape
    if any(z != 0 for z in w_q.zero_points):
        ctx.unsupported("int8 weights must be symmetric (zero point 0)")
    bias = ctx.const(2) if ctx.has_input(2) else np.zeros(outs, np.int32)
    if bias is None:
        ctx.unsupported("the bias must be a constant")
    input_offset = -x_q.zero_points[0]
    folded = bias.astype(np.int64) + input_offset * weights.sum(axis=1)
    if np.abs(folded).max(initial=0) >= 2 ** 31:
        ctx.unsupported("folded bias overflows int32")
    in_scale = np.float32(x_q.scales[0])
    out_scale = float(np.float32(y_q.scales[0]))
    if w_q.per_channel:  # per-channel: double products, as TFLite's per-channel path
        reals = [float(in_scale) * float(np.float32(s)) / out_scale for s in w_q.scales]
    else:  # per-tensor: the float product, then double (GetQuantizedConvolutionMultipler)
        reals = [float(np.float32(in_scale * np.float32(w_q.scales[0]))) / out_scale]
    multipliers, shifts = zip(*(quantize_multiplier(r) for r in reals))
    act_min, act_max = activation_range(ctx.attr("fused_activation", "NONE"), y_q.scales[0], y_q.zero_points[0])
    rows = int(np.prod(ctx.shape(0))) // ins
    return Call("ops/fully_connected_s8.c.j2", dict(
        x=lc.buffer(ctx.node.inputs[0]), y=lc.buffer(ctx.node.outputs[0]),
        w=lc.weight(ctx.const(1).astype(np.int8), "weights"),
        bias=lc.weight(folded.astype(np.int32), "bias"),
        multipliers=list(multipliers), shifts=list(shifts), per_channel=int(w_q.per_channel),
        rows=rows, outs=outs, ins=ins, output_offset=y_q.zero_points[0], act_min=act_min, act_max=act_max,
    ))


def _lower_quantize(ctx, lc):
    q = _quant(ctx, -1, "output")
    return Call("ops/quantize.c.j2", dict(
        function="eo_quantize_f32_s8", x=lc.buffer(ctx.node.inputs[0]), y=lc.buffer(ctx.node.outputs[0]),
        size=lc.size(ctx.node.outputs[0]), scale=q.scales[0], zero_point=q.zero_points[0]))


def _lower_dequantize(ctx, lc):
    q = _quant(ctx, 0, "input")
    return Call("ops/quantize.c.j2", dict(
        function="eo_dequantize_s8_f32", x=lc.buffer(ctx.node.inputs[0]), y=lc.buffer(ctx.node.outputs[0]),
        size=lc.size(ctx.node.outputs[0]), scale=q.scales[0], zero_point=q.zero_points[0]))


def _same_shape(ctx):
    return [ctx.shape(0)]


OPS = (
    OpDef("QFullyConnected", _infer_fc, None, _lower_fc, dtypes=("int8", "int32")),
    OpDef("QQuantize", _same_shape, None, _lower_quantize, dtypes=("float32", "int8")),
    OpDef("QDequantize", _same_shape, None, _lower_dequantize, dtypes=("float32", "int8")),
)
