"""int8 fully-connected layers and convolutions (TFLite semantics), with the Cortex-M DSP
variants: the compiler packs their weights and per-channel requantization tables and picks
a DSP kernel only where it is exact; the portable kernels serve the other cores."""
import numpy as np

from edgeopt.errors import ShapeError
from edgeopt.ops.quantized import activation_range, quant_of, quantize_multiplier, same_padding
from edgeopt.ops.registry import Call, OpDef

DSP_GUARD = "defined(__ARM_FEATURE_DSP)"


def pack_fc_dsp(weights):
    """int8 [outs][ins] -> eo_fully_connected_s8_dsp's int16 layout: per block of 4 outputs
    (zero rows pad the last) and per 8 inputs, each row's {w0, w2, w1, w3, w4, w6, w5, w7}."""
    return _pack_blocks(weights, rows=4, inputs=8)


def pack_pairs_dsp(weights):
    """int8 [outs][ins] -> eo_matmul_s8_dsp's int16 layout: per pair of outputs (a zero row
    pads an odd count) and per 4 inputs, each row's {w0, w2, w1, w3}."""
    return _pack_blocks(weights, rows=2, inputs=4)


def _pack_blocks(weights, rows, inputs):
    weights = np.asarray(weights, np.int16)
    outs, ins = weights.shape
    padded = np.zeros((-(-outs // rows) * rows, ins), np.int16)
    padded[:outs] = weights
    order = np.array([0, 2, 1, 3, 4, 6, 5, 7])[:inputs]
    blocks = padded.reshape(-1, rows, ins // inputs, inputs)[..., order]  # block, row, group, inputs
    return np.ascontiguousarray(blocks.transpose(0, 2, 1, 3)).reshape(-1)


def dsp_accumulators_fit(weights, bias, largest_input=128) -> bool:
    """The DSP kernels requantize with SMMULR on 2 * acc: every |acc| must stay below 2^30.
    weights: [outputs][inputs]; largest_input: 128 for int8, 255 with an offset added."""
    weights = np.asarray(weights, np.int64).reshape(len(bias), -1)
    worst = np.abs(np.asarray(bias, np.int64)) + largest_input * np.abs(weights).sum(axis=1)
    return bool(worst.max(initial=0) < 2 ** 30)


def dsp_channels(folded_bias, multipliers, shifts):
    """eo_channel_s8_t per output: bias, multiplier, right shift, its rounding constant."""
    rows = []
    for bias, multiplier, shift in zip(folded_bias, multipliers, shifts):
        right = -int(shift)
        rows.append((int(bias), int(multiplier), right, 1 << (right - 1) if right > 0 else 0))
    return np.array(rows, np.int32).reshape(-1, 4)


def dense_dsp_kernel(ins, rows):
    """The DSP kernel for an int8 matrix product, or None: one row (fully-connected layers)
    converts the inputs on the fly for four outputs; several rows (1x1 convolutions) expand
    each pair of rows once and share every weight load between them."""
    if ins % 8:
        return None
    return "eo_fully_connected_s8_dsp" if rows == 1 else "eo_matmul_s8_dsp"


def _folded_bias(ctx, weights):
    """bias - input zero point * sum(w) per output (int64), or None for a run-time bias."""
    if ctx.has_input(2) and ctx.const(2) is None:
        return None
    bias = ctx.const(2).astype(np.int64) if ctx.has_input(2) else np.zeros(len(weights), np.int64)
    return bias - quant_of(ctx, 0, "input").zero_points[0] * np.asarray(weights, np.int64).sum(axis=1)


def _dense_dsp(ctx, weights, folded):
    """The DSP kernel of this layer's matrix product (rows of the input), or None."""
    weights = np.asarray(weights).reshape(len(weights), -1)
    ins = weights.shape[1]
    kernel = dense_dsp_kernel(ins, int(np.prod(ctx.shape(0))) // ins)
    return kernel if folded is not None and dsp_accumulators_fit(weights, folded) else None


def _infer_fc(ctx):
    x, w = ctx.shape(0), ctx.shape(1)
    if len(w) != 2 or int(np.prod(x)) % w[1]:
        raise ShapeError(f"fully-connected input {tuple(x)} does not match weights {tuple(w)}")
    return [(int(np.prod(x)) // w[1], w[0])]


def _lower_fc(ctx, lc):
    x_q, w_q, y_q = quant_of(ctx, 0, "input"), quant_of(ctx, 1, "weights"), quant_of(ctx, -1, "output")
    in_scale = np.float32(x_q.scales[0])
    out_scale = float(np.float32(y_q.scales[0]))
    if w_q.per_channel:  # per-channel: double products, as TFLite's per-channel path
        reals = [float(in_scale) * float(np.float32(s)) / out_scale for s in w_q.scales]
    else:  # per-tensor: the float product, then double (GetQuantizedConvolutionMultipler)
        reals = [float(np.float32(in_scale * np.float32(w_q.scales[0]))) / out_scale]
    multipliers, shifts = zip(*(quantize_multiplier(r) for r in reals))
    return dense_s8_call(ctx, lc, ctx.const(1), multipliers, shifts, w_q.per_channel)


def dense_s8_call(ctx, lc, weights, multipliers, shifts, per_channel):
    """An int8 matrix product on rows of the input: fully-connected layers, and 1x1
    convolutions (each NHWC pixel is a row). The input offset is folded into the bias."""
    w_q, y_q = quant_of(ctx, 1, "weights"), quant_of(ctx, -1, "output")
    weights = np.asarray(weights).reshape(len(weights), -1)
    outs, ins = weights.shape
    if any(z != 0 for z in w_q.zero_points):
        ctx.unsupported("int8 weights must be symmetric (zero point 0)")
    folded = _folded_bias(ctx, weights)
    if folded is None:
        ctx.unsupported("the bias must be a constant")
    if np.abs(folded).max(initial=0) >= 2 ** 31:
        ctx.unsupported("folded bias overflows int32")
    act_min, act_max = activation_range(ctx.attr("fused_activation", "NONE"), y_q.scales[0], y_q.zero_points[0])
    rows = int(np.prod(ctx.shape(0))) // ins
    dsp = _dense_dsp(ctx, weights, folded)
    portable = f"!{DSP_GUARD}" if dsp else None
    if dsp:
        per_output = (multipliers, shifts) if per_channel else (multipliers * outs, shifts * outs)
        pack = pack_fc_dsp if dsp == "eo_fully_connected_s8_dsp" else pack_pairs_dsp
        dsp = dict(kernel=dsp, pair=lc.scratch(ctx) if dsp == "eo_matmul_s8_dsp" else None,
                   w=lc.weight(pack(weights), "weights_dsp", guard=DSP_GUARD, variant=True, align=8),
                   channels=lc.weight(dsp_channels(folded, *per_output), "channels_dsp",
                                      guard=DSP_GUARD, variant=True))
    return Call("ops/fully_connected_s8.c.j2", dict(
        x=lc.buffer(ctx.node.inputs[0]), y=lc.buffer(ctx.node.outputs[0]), dsp=dsp,
        w=lc.weight(weights.astype(np.int8), "weights", guard=portable),
        bias=lc.weight(folded.astype(np.int32), "bias", guard=portable),
        multipliers=list(multipliers), shifts=list(shifts), per_channel=int(per_channel),
        rows=rows, outs=outs, ins=ins, output_offset=y_q.zero_points[0],
        act_min=act_min, act_max=act_max,
    ))


def _dense_scratch(ctx):
    """eo_matmul_s8_dsp's two rows expanded to int16"""
    weights = ctx.const(1)
    if weights is None:
        return 0
    weights = weights.reshape(len(weights), -1)
    if _dense_dsp(ctx, weights, _folded_bias(ctx, weights)) != "eo_matmul_s8_dsp":
        return 0
    return 4 * int(np.prod(weights.shape[1:]))


def _conv_geometry(ctx):
    x, w = ctx.shape(0), ctx.shape(1)
    if len(x) != 4 or len(w) != 4:
        raise ShapeError(f"{ctx.node.op_type} needs 4-D NHWC input and filter, got {x} and {w}")
    k_h, k_w = w[1], w[2]
    padding = ctx.attr("padding", "SAME")
    out_h, pad_h = same_padding(x[1], k_h, ctx.attr("stride_h", 1), ctx.attr("dilation_h", 1), padding)
    out_w, pad_w = same_padding(x[2], k_w, ctx.attr("stride_w", 1), ctx.attr("dilation_w", 1), padding)
    return out_h, out_w, pad_h, pad_w


def _infer_conv(ctx):
    out_h, out_w, _, _ = _conv_geometry(ctx)
    w = ctx.shape(1)
    out_c = w[3] if ctx.node.op_type == "QDepthwiseConv2D" else w[0]
    return [(ctx.shape(0)[0], out_h, out_w, out_c)]


def _conv_multipliers(ctx, channels):
    x_q, w_q, y_q = quant_of(ctx, 0, "input"), quant_of(ctx, 1, "filter"), quant_of(ctx, -1, "output")
    scales = w_q.scales if w_q.per_channel else w_q.scales * channels
    # double products per channel (TFLite PopulateConvolutionQuantizationParams)
    reals = [float(np.float32(x_q.scales[0])) * float(np.float32(s)) / float(np.float32(y_q.scales[0]))
             for s in scales]
    return zip(*(quantize_multiplier(r) for r in reals))


def _lower_conv(ctx, lc):
    x, w = ctx.shape(0), ctx.shape(1)
    out_h, out_w, pad_h, pad_w = _conv_geometry(ctx)
    depthwise = ctx.node.op_type == "QDepthwiseConv2D"
    out_c = w[3] if depthwise else w[0]
    x_q, y_q = quant_of(ctx, 0, "input"), quant_of(ctx, -1, "output")
    multipliers, shifts = _conv_multipliers(ctx, out_c)
    if _pointwise(ctx):  # a 1x1 convolution is a matrix product over the pixels
        return dense_s8_call(ctx, lc, ctx.const(1), multipliers, shifts, True)
    act_min, act_max = activation_range(ctx.attr("fused_activation", "NONE"), y_q.scales[0], y_q.zero_points[0])
    bias = ctx.const(2) if ctx.has_input(2) else None
    params = dict(
        batch=x[0], in_h=x[1], in_w=x[2], in_c=x[3], out_h=out_h, out_w=out_w, out_c=out_c,
        k_h=w[1], k_w=w[2], filter_c=w[3] if not depthwise else 1,
        stride_h=ctx.attr("stride_h", 1), stride_w=ctx.attr("stride_w", 1),
        dil_h=ctx.attr("dilation_h", 1), dil_w=ctx.attr("dilation_w", 1), pad_h=pad_h, pad_w=pad_w,
        depth_multiplier=out_c // x[3] if depthwise else 1,
        input_offset=-x_q.zero_points[0], output_offset=y_q.zero_points[0],
        act_min=act_min, act_max=act_max, multipliers="multipliers", shifts="shifts",
    )
    dsp = None
    if _dsp_conv(ctx):
        dsp = _lower_conv_dsp(ctx, lc, multipliers, shifts)
    elif _dsp_depthwise(ctx):
        dsp = _lower_depthwise_dsp(ctx, lc, bias, multipliers, shifts)
    guard = f"!{DSP_GUARD}" if dsp else None
    return Call("ops/conv_s8.c.j2", dict(
        kernel="eo_depthwise_conv2d_s8" if depthwise else "eo_conv2d_s8", dsp=dsp,
        scratch=lc.scratch(ctx) if depthwise else None, params=params,
        multipliers=list(multipliers), shifts=list(shifts),
        x=lc.buffer(ctx.node.inputs[0]), y=lc.buffer(ctx.node.outputs[0]),
        w=lc.weight(ctx.const(1).astype(np.int8), "filter", guard=guard),
        bias=(lc.weight(bias.astype(np.int32), "bias", guard=guard) if bias is not None else "NULL"),
    ))


def _lower_conv_dsp(ctx, lc, multipliers, shifts):
    """im2col + the DSP matrix product: pair-packed weights, the input offset in the bias."""
    weights = ctx.const(1).reshape(ctx.shape(1)[0], -1)
    folded = _folded_bias(ctx, weights)
    return dict(kernel="eo_conv2d_s8_dsp",
                w=lc.weight(pack_pairs_dsp(weights), "filter_dsp", guard=DSP_GUARD, variant=True, align=8),
                channels=lc.weight(dsp_channels(folded, multipliers, shifts), "channels_dsp",
                                   guard=DSP_GUARD, variant=True),
                pair=lc.scratch(ctx))


def _dsp_depthwise(ctx):
    x, w = ctx.shape(0), ctx.shape(1)
    return (ctx.node.op_type == "QDepthwiseConv2D" and w[3] == x[3] and x[3] % 4 == 0
            and w[1] * w[2] <= DEPTHWISE_DSP_MAX_TAPS)


DEPTHWISE_DSP_MAX_TAPS = 64  # eo_runtime.h's EO_DEPTHWISE_DSP_MAX_TAPS


def _lower_depthwise_dsp(ctx, lc, bias, multipliers, shifts):
    """Depthwise on DSP cores: int16 weights per tap in the channel order {0, 2, 1, 3}."""
    taps = ctx.const(1).reshape(-1, ctx.shape(1)[3])  # [k_h * k_w][channels]
    packed = taps.reshape(len(taps), -1, 4)[..., [0, 2, 1, 3]].astype(np.int16).reshape(-1)
    plain_bias = bias.astype(np.int64) if bias is not None else np.zeros(taps.shape[1], np.int64)
    if not dsp_accumulators_fit(taps.T, plain_bias, largest_input=255):  # inputs + offset
        return None
    return dict(kernel="eo_depthwise_conv2d_s8_dsp",
                w=lc.weight(packed, "filter_dsp", guard=DSP_GUARD, variant=True, align=8),
                channels=lc.weight(dsp_channels(plain_bias, multipliers, shifts), "channels_dsp",
                                   guard=DSP_GUARD, variant=True), pair=None)


def _pointwise(ctx):
    x, w = ctx.shape(0), ctx.shape(1)
    out_h, out_w, pad_h, pad_w = _conv_geometry(ctx)
    return (ctx.node.op_type == "QConv2D" and w[1] == w[2] == 1 and w[3] == x[3]
            and (out_h, out_w) == (x[1], x[2]) and pad_h == pad_w == 0)


def _dsp_conv(ctx):
    """Regular convolutions whose patches suit the DSP kernel: whole groups of 4 channels
    per tap, whole groups of 8 per patch, accumulators that fit SMMULR."""
    x, w = ctx.shape(0), ctx.shape(1)
    if not (ctx.node.op_type == "QConv2D" and w[3] == x[3] and x[3] % 4 == 0
            and (w[1] * w[2] * w[3]) % 8 == 0 and not _pointwise(ctx)) or ctx.const(1) is None:
        return False
    weights = ctx.const(1).reshape(w[0], -1)
    folded = _folded_bias(ctx, weights)
    return folded is not None and dsp_accumulators_fit(weights, folded)


def _conv_scratch(ctx):
    """Depthwise: int32 accumulators per channel; DSP convolutions: two expanded patches."""
    if ctx.node.op_type == "QDepthwiseConv2D":
        return 4 * ctx.shape(1)[3]
    w = ctx.shape(1)
    if _pointwise(ctx):
        return _dense_scratch(ctx)
    return 4 * w[1] * w[2] * w[3] if _dsp_conv(ctx) else 0


OPS = (
    OpDef("QFullyConnected", _infer_fc, None, _lower_fc, dtypes=("int8", "int32"), scratch=_dense_scratch),
    OpDef("QConv2D", _infer_conv, None, _lower_conv, dtypes=("int8", "int32"), scratch=_conv_scratch),
    OpDef("QDepthwiseConv2D", _infer_conv, None, _lower_conv, dtypes=("int8", "int32"),
          scratch=_conv_scratch),
)
