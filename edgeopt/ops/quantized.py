"""int8 ops with TFLite semantics: requantization parameters are computed here, at
compile time, exactly as TFLite computes them. Fully-connected layers and convolutions,
with their DSP variants, are in quantized_linear.py."""
import math

import numpy as np

from edgeopt.ops.registry import Call, NodeUnsupported, OpDef, elementwise_in_place

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


def quant_of(ctx, index, what):
    """The quantization of input index (or -1: the output); unsupported if it has none."""
    tensor = ctx.graph.tensor(ctx.node.inputs[index] if index >= 0 else ctx.node.outputs[0])
    if tensor.quant is None:
        ctx.unsupported(f"{what} tensor {tensor.name!r} has no quantization parameters")
    return tensor.quant


def _lower_quantize(ctx, lc):
    q = quant_of(ctx, -1, "output")
    return Call("ops/quantize.c.j2", dict(
        function="eo_quantize_f32_s8", x=lc.buffer(ctx.node.inputs[0]), y=lc.buffer(ctx.node.outputs[0]),
        size=lc.size(ctx.node.outputs[0]), scale=q.scales[0], zero_point=q.zero_points[0]))


def _lower_dequantize(ctx, lc):
    q = quant_of(ctx, 0, "input")
    return Call("ops/quantize.c.j2", dict(
        function="eo_dequantize_s8_f32", x=lc.buffer(ctx.node.inputs[0]), y=lc.buffer(ctx.node.outputs[0]),
        size=lc.size(ctx.node.outputs[0]), scale=q.scales[0], zero_point=q.zero_points[0]))


def _same_shape(ctx):
    return [ctx.shape(0)]


OPS = (
    OpDef("QQuantize", _same_shape, None, _lower_quantize, dtypes=("float32", "int8")),
    OpDef("QDequantize", _same_shape, None, _lower_dequantize, dtypes=("float32", "int8")),
)


# ---- NHWC pooling and softmax (TFLite layouts) ----

def same_padding(size, kernel, stride, dilation, padding):
    """TFLite's output size and leading pad for SAME/VALID."""
    if not (1 <= stride <= 2 ** 16 and 1 <= dilation <= 2 ** 16 and 1 <= kernel <= 2 ** 16):
        raise NodeUnsupported(f"stride {stride}, dilation {dilation} and kernel {kernel} must be 1 to 65536")
    effective = (kernel - 1) * dilation + 1
    if padding == "SAME":
        out = (size + stride - 1) // stride
    else:
        out = (size - effective + stride) // stride
    total = max(0, (out - 1) * stride + effective - size)
    return out, total // 2


def _infer_pool(ctx):
    x = ctx.shape(0)
    out_h, _ = same_padding(x[1], ctx.attr("filter_h"), ctx.attr("stride_h"), 1, ctx.attr("padding"))
    out_w, _ = same_padding(x[2], ctx.attr("filter_w"), ctx.attr("stride_w"), 1, ctx.attr("padding"))
    return [(x[0], out_h, out_w, x[3])]


def _lower_pool(ctx, lc):
    x = ctx.shape(0)
    x_q, y_q = quant_of(ctx, 0, "input"), quant_of(ctx, -1, "output")
    if x_q != y_q:
        ctx.unsupported("int8 pooling needs the same input and output quantization")
    out_h, pad_h = same_padding(x[1], ctx.attr("filter_h"), ctx.attr("stride_h"), 1, ctx.attr("padding"))
    out_w, pad_w = same_padding(x[2], ctx.attr("filter_w"), ctx.attr("stride_w"), 1, ctx.attr("padding"))
    act_min, act_max = activation_range(ctx.attr("fused_activation", "NONE"), y_q.scales[0], y_q.zero_points[0])
    params = dict(batch=x[0], in_h=x[1], in_w=x[2], channels=x[3], out_h=out_h, out_w=out_w,
                  k_h=ctx.attr("filter_h"), k_w=ctx.attr("filter_w"), stride_h=ctx.attr("stride_h"),
                  stride_w=ctx.attr("stride_w"), pad_h=pad_h, pad_w=pad_w, act_min=act_min, act_max=act_max)
    kernel = "eo_maxpool_s8" if ctx.node.op_type == "QMaxPool2D" else "eo_avgpool_s8"
    return Call("ops/avgpool_s8.c.j2", dict(kernel=kernel, params=params, x=lc.buffer(ctx.node.inputs[0]),
                                            y=lc.buffer(ctx.node.outputs[0])))


def softmax_parameters(beta, input_scale, integer_bits=5):
    """TFLite PreprocessSoftmaxScaling + CalculateInputRadius."""
    real = min(float(beta) * float(np.float32(input_scale)) * (1 << (31 - integer_bits)), (1 << 31) - 1.0)
    multiplier, shift = quantize_multiplier(real)
    radius = ((1 << integer_bits) - 1) * (1 << (31 - integer_bits)) / (1 << shift)
    return multiplier, shift, -int(math.floor(radius))


def _lower_softmax(ctx, lc):
    x_q, y_q = quant_of(ctx, 0, "input"), quant_of(ctx, -1, "output")
    if y_q.zero_points[0] != -128 or abs(y_q.scales[0] - 1 / 256) > 1e-3 / 256:
        ctx.unsupported("int8 softmax needs output scale 1/256 and zero point -128")
    multiplier, shift, diff_min = softmax_parameters(ctx.attr("beta", 1.0), x_q.scales[0])
    if shift < 0:
        ctx.unsupported("softmax input scale too small for the fixed-point exp")
    shape = ctx.shape(0)
    return Call("ops/softmax_s8.c.j2", dict(
        outer=int(np.prod(shape[:-1])), depth=shape[-1], multiplier=multiplier, shift=shift,
        diff_min=diff_min, x=lc.buffer(ctx.node.inputs[0]), y=lc.buffer(ctx.node.outputs[0])))


OPS = OPS + (
    OpDef("QAveragePool2D", _infer_pool, None, _lower_pool, dtypes=("int8",)),
    OpDef("QMaxPool2D", _infer_pool, None, _lower_pool, dtypes=("int8",)),
    OpDef("QSoftmax", _same_shape, None, _lower_softmax, dtypes=("int8",)),
)


# ---- elementwise and data movement ----

def _binary_multipliers(ctx):
    """TFLite's ADD/SUB (left shift 20, float max of the input scales), MUL or
    SQUARED_DIFFERENCE (left shift 7, in double) parameters."""
    a_q, b_q, y_q = quant_of(ctx, 0, "input"), quant_of(ctx, 1, "input"), quant_of(ctx, -1, "output")
    s1, s2, so = (np.float32(q.scales[0]) for q in (a_q, b_q, y_q))
    if ctx.node.op_type == "QMul":
        out = quantize_multiplier(float(s1) * float(s2) / float(so))
        return 0, (0, 0), (0, 0), out
    if ctx.node.op_type == "QSquaredDifference":
        twice_max = 2.0 * float(max(s1, s2))
        out = quantize_multiplier(twice_max * twice_max / ((1 << 14) * float(so)))
        return 7, quantize_multiplier(float(s1) / twice_max), quantize_multiplier(float(s2) / twice_max), out
    twice_max = np.float32(2) * max(s1, s2)
    first = quantize_multiplier(float(s1) / float(twice_max))
    second = quantize_multiplier(float(s2) / float(twice_max))
    out = quantize_multiplier(float(twice_max) / float(np.float32(1 << 20) * so))
    return 20, first, second, out


def _lower_binary_s8(ctx, lc):
    from edgeopt.ops.registry import broadcast_strides, check_rank, collapse_dims

    a_q, b_q, y_q = quant_of(ctx, 0, "input"), quant_of(ctx, 1, "input"), quant_of(ctx, -1, "output")
    out = ctx.out_shape()
    check_rank(out, "output")
    dims, (a_strides, b_strides) = collapse_dims(
        out, broadcast_strides(ctx.shape(0), out), broadcast_strides(ctx.shape(1), out))
    op = {"QAdd": "EO_BIN_ADD", "QSub": "EO_BIN_SUB", "QMul": "EO_BIN_MUL", "QMaximum": "EO_BIN_MAX",
          "QMinimum": "EO_BIN_MIN", "QSquaredDifference": "EO_BIN_SQUARED_DIFF"}[ctx.node.op_type]
    if op in ("EO_BIN_MAX", "EO_BIN_MIN"):  # TFLite compares the stored values: no rescaling
        if not a_q == b_q == y_q:
            ctx.unsupported("int8 MAXIMUM/MINIMUM needs one quantization on both inputs and the output")
        left_shift, (m1, s1), (m2, s2), (mo, so) = 0, (0, 0), (0, 0), (0, 0)
    else:
        left_shift, (m1, s1), (m2, s2), (mo, so) = _binary_multipliers(ctx)
    act_min, act_max = activation_range(ctx.attr("fused_activation", "NONE"), y_q.scales[0], y_q.zero_points[0])
    return Call("ops/binary_s8.c.j2", dict(
        shape=dims, a_strides=a_strides, b_strides=b_strides, op=op,
        in1_offset=-a_q.zero_points[0], in2_offset=-b_q.zero_points[0], out_offset=y_q.zero_points[0],
        left_shift=left_shift, m1=m1, s1=s1, m2=m2, s2=s2, mo=mo, so=so, act_min=act_min, act_max=act_max,
        a=lc.buffer(ctx.node.inputs[0]), b=lc.buffer(ctx.node.inputs[1]), y=lc.buffer(ctx.node.outputs[0])))


def _infer_broadcast(ctx):
    from edgeopt.ops.registry import broadcast_shapes

    return [broadcast_shapes(ctx.shape(0), ctx.shape(1))]


def _lower_relu_s8(ctx, lc):
    x_q, y_q = quant_of(ctx, 0, "input"), quant_of(ctx, -1, "output")
    if ctx.attr("fused_activation") == "RELU6":
        # TFLM clamps RELU6 in the input's quantization and does not rescale
        act_min, act_max = activation_range("RELU6", x_q.scales[0], x_q.zero_points[0])
        return Call("ops/requantize_s8.c.j2", dict(
            x=lc.buffer(ctx.node.inputs[0]), y=lc.buffer(ctx.node.outputs[0]),
            size=lc.size(ctx.node.outputs[0]), in_offset=0, multiplier=1 << 30, shift=1, out_offset=0,
            act_min=act_min, act_max=act_max))
    multiplier, shift = quantize_multiplier(float(np.float32(x_q.scales[0])) / float(np.float32(y_q.scales[0])))
    act_min, act_max = activation_range(ctx.attr("fused_activation"), y_q.scales[0], y_q.zero_points[0])
    return Call("ops/requantize_s8.c.j2", dict(
        x=lc.buffer(ctx.node.inputs[0]), y=lc.buffer(ctx.node.outputs[0]), size=lc.size(ctx.node.outputs[0]),
        in_offset=-x_q.zero_points[0], multiplier=multiplier, shift=shift, out_offset=y_q.zero_points[0],
        act_min=act_min, act_max=act_max))


def _concat_axis(ctx):
    from edgeopt.ops.registry import normalize_axis

    return normalize_axis(int(ctx.attr("axis", 0)), len(ctx.shape(0)))


def _infer_concat(ctx):
    axis = _concat_axis(ctx)
    shape = list(ctx.shape(0))
    shape[axis] = sum(ctx.shape(i)[axis] for i in range(len(ctx.node.inputs)))
    return [tuple(shape)]


def _lower_concat_s8(ctx, lc):
    y_q = quant_of(ctx, -1, "output")
    if any(quant_of(ctx, i, "input") != y_q for i in range(len(ctx.node.inputs))):
        ctx.unsupported("int8 concatenation needs the same quantization on every input and the output")
    axis, out = _concat_axis(ctx), ctx.out_shape()
    outer, inner = int(np.prod(out[:axis])), int(np.prod(out[axis + 1:]))
    parts, offset = [], 0
    for index, name in enumerate(ctx.node.inputs):
        block = ctx.shape(index)[axis] * inner
        parts.append(dict(x=lc.buffer(name), offset=offset, block=block))
        offset += block
    return Call("ops/concat_bytes.c.j2", dict(y=lc.buffer(ctx.node.outputs[0]), outer=outer,
                                              y_stride=out[axis] * inner, parts=parts))


OPS = OPS + tuple(OpDef(op, _infer_broadcast, None, _lower_binary_s8, dtypes=("int8",), in_place=elementwise_in_place)
                  for op in ("QAdd", "QSub", "QMul", "QMaximum", "QMinimum", "QSquaredDifference")) + (
    OpDef("QRelu", _same_shape, None, _lower_relu_s8, dtypes=("int8",), in_place=elementwise_in_place),
    OpDef("QConcat", _infer_concat, None, _lower_concat_s8, dtypes=("int8",)),
)


def _lower_pad_s8(ctx, lc):
    from edgeopt.ops.layout import _pads

    begin, end, mode = _pads(ctx)
    if mode != "constant" or any(p < 0 for p in begin + end):
        ctx.unsupported("int8 PAD supports non-negative constant padding")
    y_q = quant_of(ctx, -1, "output")
    return Call("ops/pad.c.j2", dict(
        kernel="eo_pad_s8", x=lc.buffer(ctx.node.inputs[0]), y=lc.buffer(ctx.node.outputs[0]),
        in_shape=list(ctx.shape(0)), out_shape=list(ctx.out_shape()), begin=begin,
        mode="EO_PAD_CONSTANT", value=float(y_q.zero_points[0])))


def _infer_pad(ctx):
    from edgeopt.ops.layout import _pads

    begin, end, _ = _pads(ctx)
    return [tuple(d + b + e for d, b, e in zip(ctx.shape(0), begin, end))]


OPS = OPS + (OpDef("QPad", _infer_pad, None, _lower_pad_s8, dtypes=("int8",)),)


def _lower_leaky_relu_s8(ctx, lc):
    x_q, y_q = quant_of(ctx, 0, "input"), quant_of(ctx, -1, "output")
    x_scale, y_scale = np.float32(x_q.scales[0]), np.float32(y_q.scales[0])
    # float arithmetic, as TFLM's LeakyReluPrepare
    identity = quantize_multiplier(float(x_scale / y_scale))
    alpha = quantize_multiplier(float(x_scale * np.float32(ctx.attr("alpha", 0.2)) / y_scale))
    return Call("ops/leaky_relu_s8.c.j2", dict(
        x=lc.buffer(ctx.node.inputs[0]), y=lc.buffer(ctx.node.outputs[0]), size=lc.size(ctx.node.outputs[0]),
        in_offset=-x_q.zero_points[0], identity=identity, alpha=alpha, out_offset=y_q.zero_points[0]))


OPS = OPS + (OpDef("QLeakyRelu", _same_shape, None, _lower_leaky_relu_s8, dtypes=("int8",),
                   in_place=elementwise_in_place),)


def _lower_rsqrt_s8(ctx, lc):
    x_q, y_q = quant_of(ctx, 0, "input"), quant_of(ctx, -1, "output")
    # in double, as TFLM's SetRsqrtOutputMultiplier
    multiplier = quantize_multiplier(1.0 / (math.sqrt(float(np.float32(x_q.scales[0]))) *
                                            float(np.float32(y_q.scales[0]))))
    return Call("ops/rsqrt_s8.c.j2", dict(
        x=lc.buffer(ctx.node.inputs[0]), y=lc.buffer(ctx.node.outputs[0]), size=lc.size(ctx.node.outputs[0]),
        in_zero_point=x_q.zero_points[0], multiplier=multiplier[0], shift=multiplier[1],
        out_zero_point=y_q.zero_points[0]))


def _lower_l2_normalization_s8(ctx, lc):
    x_q, y_q = quant_of(ctx, 0, "input"), quant_of(ctx, -1, "output")
    if y_q.zero_points[0] != 0 or abs(float(y_q.scales[0]) - 1 / 128) > 1e-9:
        ctx.unsupported("int8 L2_NORMALIZATION needs output scale 1/128 and zero point 0 (TFLite's)")
    shape = ctx.shape(0)
    return Call("ops/l2_normalization_s8.c.j2", dict(
        x=lc.buffer(ctx.node.inputs[0]), y=lc.buffer(ctx.node.outputs[0]), outer=int(np.prod(shape[:-1])),
        n=int(shape[-1]) if shape else 1, zero_point=x_q.zero_points[0]))


def _batch_matmul_operands(ctx):
    """(batch, m, k, n, a's and b's strides) of BATCH_MATMUL with its adj_x/adj_y: the adjoints are
    read transposed in place."""
    from edgeopt.errors import ShapeError
    from edgeopt.ops.registry import broadcast_shapes

    a, b = ctx.shape(0), ctx.shape(1)
    if len(a) < 2 or len(b) < 2:
        raise ShapeError("BATCH_MATMUL operands need rank >= 2")
    adj_x, adj_y = bool(ctx.attr("adj_x", 0)), bool(ctx.attr("adj_y", 0))
    m, k = (a[-1], a[-2]) if adj_x else (a[-2], a[-1])
    k_b, n = (b[-1], b[-2]) if adj_y else (b[-2], b[-1])
    if k != k_b:
        raise ShapeError(f"BATCH_MATMUL inner dimensions differ: {tuple(a)} x {tuple(b)} (adj_x {adj_x}, adj_y {adj_y})")
    a_strides = (1, m) if adj_x else (k, 1)  # (row, column) of the m x k operand
    b_strides = (1, k) if adj_y else (n, 1)  # ... and of the k x n one
    return broadcast_shapes(a[:-2], b[:-2]), m, k, n, a_strides, b_strides


def _infer_batch_matmul(ctx):
    batch, m, _, n, _, _ = _batch_matmul_operands(ctx)
    return [tuple(batch) + (m, n)]


def _lower_batch_matmul_s8(ctx, lc):
    from edgeopt.ops.registry import broadcast_strides

    a_q, b_q, y_q = quant_of(ctx, 0, "input"), quant_of(ctx, 1, "input"), quant_of(ctx, -1, "output")
    batch, m, k, n, (a_row, a_col), (b_row, b_col) = _batch_matmul_operands(ctx)
    # the float product, then double (TFLM's GetQuantizedConvolutionMultipler)
    product = float(np.float32(np.float32(a_q.scales[0]) * np.float32(b_q.scales[0])))
    multiplier, shift = quantize_multiplier(product / float(np.float32(y_q.scales[0])))
    count = int(np.prod(batch)) if batch else 1
    index = np.indices(batch).reshape(len(batch), -1).T if batch else np.zeros((1, 0), int)
    offsets = [[int(np.dot(i, broadcast_strides(shape[:-2], batch))) * shape[-2] * shape[-1] for i in index]
               for shape in (ctx.shape(0), ctx.shape(1))]
    return Call("ops/batch_matmul_s8.c.j2", dict(
        m=m, n=n, k=k, a_row=a_row, a_col=a_col, b_row=b_row, b_col=b_col, batch=count,
        a_offsets=offsets[0] if count > 1 else None, b_offsets=offsets[1] if count > 1 else None,
        a_zero_point=a_q.zero_points[0], b_zero_point=b_q.zero_points[0], out_zero_point=y_q.zero_points[0],
        multiplier=multiplier, shift=shift, a=lc.buffer(ctx.node.inputs[0]), b=lc.buffer(ctx.node.inputs[1]),
        y=lc.buffer(ctx.node.outputs[0])))


OPS = OPS + (OpDef("QBatchMatMul", _infer_batch_matmul, None, _lower_batch_matmul_s8, dtypes=("int8",)),)


def gelu_table(x_scale, x_zero_point, y_scale, y_zero_point, approximate):
    """TFLite's int8 GELU lookup table (LUTPopulate): each int8 input dequantized in float,
    GELU in float (erf, or the tanh form), requantized with round-half-away."""
    x = np.float32(x_scale) * np.arange(-128 - x_zero_point, 128 - x_zero_point).astype(np.float32)
    if approximate:
        inner = x + np.float32(0.044715) * x * x * x
        y = np.float32(0.5) * x * (np.float32(1) + np.tanh(np.float32(math.sqrt(2 / math.pi)) * inner))
    else:
        y = np.array([0.5 * v * math.erfc(-v * math.sqrt(0.5)) for v in x.astype(np.float64)], np.float32)
    scaled = (y * (np.float32(1) / np.float32(y_scale))).astype(np.float32)
    rounded = np.sign(scaled) * np.floor(np.abs(scaled) + np.float32(0.5))
    return np.clip(rounded.astype(np.int64) + y_zero_point, -128, 127).astype(np.int8)


def _lower_gelu_s8(ctx, lc):
    x_q, y_q = quant_of(ctx, 0, "input"), quant_of(ctx, -1, "output")
    table = gelu_table(x_q.scales[0], x_q.zero_points[0], y_q.scales[0], y_q.zero_points[0],
                       bool(ctx.attr("approximate", 0)))
    return Call("ops/lookup_s8.c.j2", dict(
        table=lc.weight(table, "table", "GELU for each int8 input"), x=lc.buffer(ctx.node.inputs[0]),
        y=lc.buffer(ctx.node.outputs[0]), size=lc.size(ctx.node.outputs[0])))


OPS = OPS + (OpDef("QGelu", _same_shape, None, _lower_gelu_s8, dtypes=("int8",), in_place=elementwise_in_place),
             OpDef("QRsqrt", _same_shape, None, _lower_rsqrt_s8, dtypes=("int8",), in_place=elementwise_in_place),
             OpDef("QL2Normalization", _same_shape, None, _lower_l2_normalization_s8, dtypes=("int8",)))


def _lower_logistic_s8(ctx, lc):
    x_q, y_q = quant_of(ctx, 0, "input"), quant_of(ctx, -1, "output")
    tanh = ctx.node.op_type == "QTanh"
    if y_q.zero_points[0] != (0 if tanh else -128):
        ctx.unsupported("int8 TANH needs output zero point 0 (scale 1/128)" if tanh else
                        "int8 LOGISTIC needs output zero point -128 (scale 1/256)")
    # TFLM's prepare: frexp of scale * 2^27 without QuantizeMultiplier's adjustments
    fraction, left_shift = math.frexp(float(np.float32(x_q.scales[0])) * (1 << (31 - 4)))
    multiplier = round_half_away(fraction * (1 << 31))
    radius = int(math.floor(((1 << 4) - 1) * (1 << (31 - 4)) / (1 << left_shift)))
    return Call("ops/logistic_s8.c.j2", dict(
        function="eo_tanh_s8" if tanh else "eo_logistic_s8", x=lc.buffer(ctx.node.inputs[0]), y=lc.buffer(ctx.node.outputs[0]), size=lc.size(ctx.node.outputs[0]),
        zero_point=x_q.zero_points[0], radius=radius, multiplier=multiplier, shift=left_shift))


OPS = OPS + (OpDef("QLogistic", _same_shape, None, _lower_logistic_s8, dtypes=("int8",), in_place=elementwise_in_place),
             OpDef("QTanh", _same_shape, None, _lower_logistic_s8, dtypes=("int8",), in_place=elementwise_in_place))


def _lower_requantize_s8(ctx, lc):
    x_q, y_q = quant_of(ctx, 0, "input"), quant_of(ctx, -1, "output")
    multiplier, shift = quantize_multiplier(float(np.float32(x_q.scales[0])) / float(np.float32(y_q.scales[0])))
    return Call("ops/requantize_s8.c.j2", dict(
        x=lc.buffer(ctx.node.inputs[0]), y=lc.buffer(ctx.node.outputs[0]), size=lc.size(ctx.node.outputs[0]),
        in_offset=-x_q.zero_points[0], multiplier=multiplier, shift=shift, out_offset=y_q.zero_points[0],
        act_min=INT8_RANGE[0], act_max=INT8_RANGE[1]))


OPS = OPS + (OpDef("QRequantize", _same_shape, None, _lower_requantize_s8, dtypes=("int8",),
                   in_place=elementwise_in_place),)


def _mean_axes(ctx):
    from edgeopt.ops.registry import normalize_axis

    rank = len(ctx.shape(0))
    return sorted({normalize_axis(int(a), rank, "axes entry") for a in ctx.attr("axes")})


def _infer_mean(ctx):
    from edgeopt.ops.reduce import _out_shape

    return [_out_shape(ctx.shape(0), _mean_axes(ctx), ctx.attr("keepdims", 0))]


def _lower_mean_s8(ctx, lc):
    """TFLM folds 1/count into the input/output multiplier: the largest power of two
    under count (at most 32, and what the shift allows) moves into the multiplier."""
    from edgeopt.ops.reduce import reduce_geometry

    x_q, y_q = quant_of(ctx, 0, "input"), quant_of(ctx, -1, "output")
    geometry = reduce_geometry(ctx, _mean_axes(ctx))
    count = geometry["reduced_count"]
    multiplier, shift = quantize_multiplier(float(np.float32(x_q.scales[0])) / float(np.float32(y_q.scales[0])))
    moved = min(count.bit_length() - 1, 32, 31 + shift)
    params = dict(in_zero_point=x_q.zero_points[0], out_zero_point=y_q.zero_points[0],
                  multiplier=(multiplier << moved) // count, shift=shift - moved)
    return Call("ops/mean_s8.c.j2", dict(
        x=lc.buffer(ctx.node.inputs[0]), y=lc.buffer(ctx.node.outputs[0]), sums=lc.scratch(ctx),
        params=params, **geometry))


def _mean_scratch(ctx):
    return 4 * int(np.prod(ctx.out_shape()))


def _q15_multiplier(real):
    """QuantizeMultiplier, then TFLite's DownScaleInt32ToInt16Multiplier."""
    multiplier, exponent = quantize_multiplier(real)
    if multiplier >= (1 << 31) - 1 - (1 << 15):
        return 32767, exponent
    return (multiplier + (1 << 15)) >> 16, exponent


def _lower_hard_swish_s8(ctx, lc):
    x_q, y_q = quant_of(ctx, 0, "input"), quant_of(ctx, -1, "output")
    hires_scale = np.float32(1 / 128) * np.float32(x_q.scales[0])  # float, as TFLM's prepare
    out_multiplier, out_exponent = _q15_multiplier(float(hires_scale / np.float32(y_q.scales[0])))
    reluish_multiplier, reluish_exponent = _q15_multiplier(float(hires_scale / np.float32(3 / 32768)))
    if out_exponent > 0:
        ctx.unsupported("int8 HARD_SWISH needs an output scale of at least input scale / 128")
    if reluish_exponent > 30:
        ctx.unsupported("int8 HARD_SWISH input scale is too large")
    params = dict(in_zero_point=x_q.zero_points[0], out_zero_point=y_q.zero_points[0],
                  reluish_multiplier=reluish_multiplier, reluish_exponent=reluish_exponent,
                  out_multiplier=out_multiplier, out_exponent=out_exponent)
    return Call("ops/hard_swish_s8.c.j2", dict(
        x=lc.buffer(ctx.node.inputs[0]), y=lc.buffer(ctx.node.outputs[0]), size=lc.size(ctx.node.outputs[0]),
        params=params))


OPS = OPS + (OpDef("QMean", _infer_mean, None, _lower_mean_s8, dtypes=("int8",), scratch=_mean_scratch),
             OpDef("QHardSwish", _same_shape, None, _lower_hard_swish_s8, dtypes=("int8",),
                   in_place=elementwise_in_place))
