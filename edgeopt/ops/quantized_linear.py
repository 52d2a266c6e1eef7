"""int8 fully-connected layers and convolutions (TFLite semantics), with the Cortex-M DSP
variants: the compiler packs their weights and per-channel requantization tables and picks
a DSP kernel only where it is exact; the portable kernels serve the other cores."""
import numpy as np

from edgeopt.artifact import ALWAYS, DSP, PORTABLE
from edgeopt.errors import ShapeError
from edgeopt.ops.quantized import activation_range, quant_of, quantize_multiplier, same_padding
from edgeopt.ops.registry import Call, InPlace, OpDef


def pack_fc_dsp(weights, compact=False):
    """[outs][ins] -> eo_fully_connected_s8_dsp's layout: per block of 4 outputs (zero rows
    pad the last) and per 8 inputs, each row's {w0, w2, w1, w3, w4, w6, w5, w7} as int16;
    compact: int8, the block's two output pairs interleaved (eo_runtime.h)."""
    return _pack_blocks(weights, rows=4, inputs=8, compact=compact)


def pack_pairs_dsp(weights, compact=False):
    """[outs][ins] -> eo_matmul_s8_dsp's layout: per pair of outputs (a zero row pads an odd
    count) and per 4 inputs, each row's {w0, w2, w1, w3} as int16; compact: int8, the pair
    interleaved."""
    return _pack_blocks(weights, rows=2, inputs=4, compact=compact)


_PAIR_ORDER = np.array([0, 2, 1, 3, 4, 6, 5, 7])  # the kernels' int16 input pairs {x0, x2}, {x1, x3}, ...


def _pack_blocks(weights, rows, inputs, compact):
    weights = np.asarray(weights, np.int16)
    outs, ins = weights.shape
    padded = np.zeros((-(-outs // rows) * rows, ins), np.int16)
    padded[:outs] = weights
    groups, order = ins // inputs, _PAIR_ORDER[:inputs]
    if not compact:
        blocks = padded.reshape(-1, rows, groups, inputs)[..., order]  # block, row, group, inputs
        return np.ascontiguousarray(blocks.transpose(0, 2, 1, 3)).reshape(-1)
    if not interleavable(padded):
        raise ValueError("an odd output's weight -128 beside a negative even one")
    even, odd = _interleaved_pairs(padded)
    words = np.stack([even.reshape(-1, groups, inputs)[..., order], odd.reshape(-1, groups, inputs)[..., order]],
                     axis=-1)  # pair, group, input, (even byte, odd byte)
    blocks = words.reshape(-1, rows // 2, groups, 2 * inputs).transpose(0, 2, 1, 3)  # block, group, pair, bytes
    return np.ascontiguousarray(blocks).astype(np.int8).reshape(-1)


def _interleaved_pairs(weights):
    """The compact layout's bytes of each output pair of [outs][ins] weights: the even rows,
    and the odd rows less one where the even weight is negative (so each halfword reads as
    256 odd + even; an odd row past the last even one pairs with zeros)."""
    weights = np.asarray(weights, np.int16)
    if len(weights) % 2:
        weights = np.vstack([weights, np.zeros((1, weights.shape[1]), np.int16)])
    return weights[0::2], weights[1::2] - (weights[0::2] < 0)


def interleavable(weights):
    """Whether the compact layout can hold these [outs][ins] weights: no odd byte would be
    -129 (an odd weight -128 beside a negative even one)."""
    return _interleaved_pairs(weights)[1].min(initial=0) >= -128


def smmulr_requantization(worst_acc, multiplier, shift, output_offset=0, doubled=True):
    """TFLite's requantization of every |acc| <= worst_acc, plus the output offset, in one
    SMMULR (eo_requantize_channel, eo_requant_dsp_t): {multiplier, 1 + left shift, rounding,
    right}, or None where that is not exact. acc << (1 + left shift) makes SMMULR TFLite's
    rounding doubling high product h (while |acc| << (1 + left shift) < 2^31); then for TFLite's
    right shift e, ties away from zero:
    - doubled (any e): (2h + 2^e + offset 2^(e + 1) + sign(h)) >> (e + 1), right = e + 1;
    - not doubled (e >= 1, where h reaches 2^30): (h + 2^(e - 1) + offset 2^e + sign(h)) >> e."""
    left, right = max(int(shift), 0), max(-int(shift), 0)
    scaled = int(worst_acc) * 2 ** (1 + left)
    worst_high = -(-scaled * int(multiplier) // 2 ** 32)
    if doubled:
        rounding, worst_sum, right = 2 ** right + int(output_offset) * 2 ** (right + 1), 2 * worst_high, right + 1
    elif right >= 1:
        rounding, worst_sum = 2 ** (right - 1) + int(output_offset) * 2 ** right, worst_high
    else:
        return None
    if scaled >= 2 ** 31 or worst_sum + abs(rounding) + 1 >= 2 ** 31 or 2 * abs(rounding) >= 2 ** 31:
        return None
    return int(multiplier), 1 + left, rounding, right


def dsp_requantization(weights, bias, multipliers, shifts, output_offset, compact=False):
    """What the DSP kernels need to requantize each output channel exactly as TFLite with one
    SMMULR (smmulr_requantization, doubled), or None where that is not exact:
    - weights [outputs][inputs] and bias scaled by 2^(1 + left shift), so SMMULR of the
      accumulator is TFLite's rounding doubling high product (valid while |acc| < 2^31);
    - per channel {bias, multiplier, e + 1} for the right shift e.
    compact: the weights stay int8 and the bias unscaled; the kernel scales the accumulator
    instead by 1 + left shift, carried in the second byte of the shift (eo_scaled)."""
    weights = np.asarray(weights, np.int64).reshape(len(bias), -1)
    channels, scaled = [], np.empty(weights.shape, np.int8 if compact else np.int16)
    for row, (b, multiplier, shift) in enumerate(zip(bias, multipliers, shifts)):
        scale = 2 ** (1 + max(int(shift), 0))
        if not compact and np.abs(weights[row]).max(initial=0) * scale > 2 ** 15 - 1:
            return None
        worst_acc = abs(int(b)) + 128 * int(np.abs(weights[row]).sum())  # |int8 input| <= 128
        requantization = smmulr_requantization(worst_acc, multiplier, shift, output_offset)
        if requantization is None:
            return None
        _, left, _, right = requantization
        if compact:
            scaled[row] = weights[row]
            channels.append((int(b), int(multiplier), right + (left << 8)))
        else:
            scaled[row] = weights[row] * scale
            channels.append((int(b) * scale, int(multiplier), right))
    return scaled, np.array(channels, np.int32).reshape(-1, 3)


def _folded_bias(ctx, weights):
    """bias - input zero point * sum(w) per output (int64), or None for a run-time bias."""
    if ctx.has_input(2) and ctx.const(2) is None:
        return None
    bias = ctx.const(2).astype(np.int64) if ctx.has_input(2) else np.zeros(len(weights), np.int64)
    return bias - quant_of(ctx, 0, "input").zero_points[0] * np.asarray(weights, np.int64).sum(axis=1)


def _multipliers(ctx):
    """TFLite's per-output multipliers and shifts (one pair for a per-tensor layer)."""
    x_q, w_q, y_q = quant_of(ctx, 0, "input"), quant_of(ctx, 1, "weights"), quant_of(ctx, -1, "output")
    in_scale, out_scale = float(np.float32(x_q.scales[0])), float(np.float32(y_q.scales[0]))
    if ctx.node.op_type == "QFullyConnected" and not w_q.per_channel:
        # the float product, then double (GetQuantizedConvolutionMultipler)
        reals = [float(np.float32(np.float32(in_scale) * np.float32(w_q.scales[0]))) / out_scale]
    else:  # double products per channel (TFLite's per-channel paths)
        channels = _output_channels(ctx)
        scales = w_q.scales if w_q.per_channel else w_q.scales * channels
        reals = [in_scale * float(np.float32(s)) / out_scale for s in scales]
    multipliers, shifts = zip(*(quantize_multiplier(r) for r in reals))
    return list(multipliers), list(shifts)


def _output_channels(ctx):
    w = ctx.shape(1)
    return w[3] if ctx.node.op_type == "QDepthwiseConv2D" else w[0]


def _dsp_kernel(ctx):
    """The DSP kernel whose layout suits this layer, or None: a matrix product (fully-connected
    layers and 1x1 convolutions: one row converts its inputs on the fly for four outputs,
    several rows share every weight load between two), im2col into that product (also a
    depthwise layer of one input channel and a depth multiplier above 1: a convolution), or
    depthwise (4 output channels at a time, or a planar layer an input channel at a time)."""
    x, w = ctx.shape(0), ctx.shape(1)
    if ctx.node.op_type == "QFullyConnected" or _pointwise(ctx):
        ins = w[-1] if ctx.node.op_type == "QFullyConnected" else w[3]
        if ins % 8:
            return None
        return "eo_fully_connected_s8_dsp" if int(np.prod(x)) == ins else "eo_matmul_s8_dsp"
    if ctx.node.op_type == "QConv2D":
        return "eo_conv2d_s8_dsp" if w[3] == x[3] else None
    if planar_depthwise(ctx):
        return "eo_depthwise_conv2d_s8_dsp"
    if x[3] == 1 and w[3] > 1:
        return "eo_conv2d_s8_dsp"
    return "eo_depthwise_conv2d_s8_dsp" if w[1] * w[2] <= DEPTHWISE_DSP_MAX_TAPS else None


DEPTHWISE_DSP_MAX_TAPS = 64  # eo_runtime.h's EO_DEPTHWISE_DSP_MAX_TAPS


def planar_depthwise(ctx):
    """Whether the compact depthwise kernel runs this layer an input channel at a time over an
    int16 plane (eo_depthwise_planar, eo_planar_scales_fit): 3x3, no dilation, depth
    multiplier 1 at stride 1 on a map of at least 64 outputs or above 1 at stride 1 or 2,
    and every channel's weights scaled by 2 * 2^(TFLite left shift) fit int16."""
    if ctx.node.op_type != "QDepthwiseConv2D":
        return False
    x, w = ctx.shape(0), ctx.shape(1)
    out_h, out_w, _, _ = _conv_geometry(ctx)
    stride = ctx.attr("stride_h", 1) if ctx.attr("stride_h", 1) == ctx.attr("stride_w", 1) else 0
    return (w[1] == w[2] == 3 and ctx.attr("dilation_h", 1) == ctx.attr("dilation_w", 1) == 1
            and (stride in (1, 2) if w[3] > x[3] else stride == 1 and out_h * out_w >= 64)
            and max(_multipliers(ctx)[1]) <= 7)


def _plane_bytes(ctx):
    """eo_plane_of: the padded int16 plane of one channel's input rows for a block of output
    rows (blocks of about equal rows, at least 256 outputs each), and a block's sums (read 4
    at a time)."""
    out_h, out_w, _, _ = _conv_geometry(ctx)
    stride = ctx.attr("stride_h", 1)
    blocks = out_h * out_w // 256
    pairs, block = (out_w + 1) // 2, -(-out_h // blocks) if blocks > 1 else out_h
    rows, cols = (block - 1) * stride + 3, ((2 * pairs - 1) * stride + 5) & ~1
    return 2 * rows * cols + 4 * ((block * out_w + 4) & ~3)


def compact_weights(ctx):
    """Whether this layer's DSP kernel reads its int8 weights as stored (passes.int8_weights
    makes the choice; int16 expanded copies are faster and take twice the flash)."""
    return ctx.attr("int8_weights", "compact") == "compact"


def _dsp_plan(ctx, compact=None):
    """(kernel, weights [outputs][inputs] (int16, or int8 when compact), channel table) on
    DSP cores, or None where no DSP kernel suits the layer or its requantization would not
    be exact there. compact: the layout to plan for (default: the layer's own)."""
    compact = compact_weights(ctx) if compact is None else compact
    if ctx.const(1) is None or (ctx.has_input(2) and ctx.const(2) is None):
        return None  # weights or bias known only at run time
    kernel = _dsp_kernel(ctx)
    if kernel is None:
        return None
    channels = _output_channels(ctx)
    multipliers, shifts = _multipliers(ctx)
    if len(multipliers) == 1:
        multipliers, shifts = multipliers * channels, shifts * channels
    output_offset = quant_of(ctx, -1, "output").zero_points[0]
    weights = _weight_rows(ctx)
    folded = _folded_bias(ctx, weights)
    requantization = dsp_requantization(weights, folded, multipliers, shifts, output_offset, compact=compact)
    return None if requantization is None else (kernel, *requantization)


def _weight_rows(ctx):
    """The int8 weights as [outputs][inputs]."""
    channels = _output_channels(ctx)
    if ctx.node.op_type == "QDepthwiseConv2D":
        return ctx.const(1).reshape(-1, channels).T
    return ctx.const(1).reshape(channels, -1)


def _lower_dsp(ctx, lc, plan):
    """The DSP call's arguments: the kernel's weight layout, its channel table and scratch."""
    kernel, _, channels = plan
    compact = compact_weights(ctx)
    packed = _packed_weights(ctx, plan, compact)
    # whole blocks of 4, and a row past an odd last output, which the pair kernel reads
    rows = len(channels) + (kernel == "eo_conv2d_s8_dsp" and len(channels) % 2)
    padding = np.tile(np.array([0, 0, 1], np.int32), (-(-rows // 4) * 4 - len(channels), 1))  # output 0
    channels = np.vstack([channels, padding])
    scratch = lc.scratch(ctx) if _dsp_scratch_bytes(ctx, plan) else None
    scratch_type = "int8_t" if kernel == "eo_depthwise_conv2d_s8_dsp" else "uint32_t"
    scratch_arg = f"({scratch_type} *)(void *){scratch}" if scratch else "NULL"
    return dict(kernel=kernel + ("_compact" if compact else ""), scratch=scratch, scratch_arg=scratch_arg,
                planar_in_place=compact and planar_depthwise(ctx) and ctx.shape(1)[3] == ctx.shape(0)[3],
                w=lc.weight(packed, "weights_dsp", when=DSP, align=8),
                channels=lc.weight(channels, "channels_dsp", when=DSP))


def _packed_weights(ctx, plan, compact):
    """The weights in the DSP kernel's layout (eo_runtime.h)."""
    kernel, weights, _ = plan
    if kernel == "eo_fully_connected_s8_dsp":
        return pack_fc_dsp(weights, compact)
    if kernel == "eo_depthwise_conv2d_s8_dsp":  # per group of 4 channels (zero-padded), tap by tap, {0, 2, 1, 3}
        order = [0, 1, 2, 3] if compact else [0, 2, 1, 3]
        taps = np.zeros((weights.shape[1], -(-len(weights) // 4) * 4), weights.dtype)
        taps[:, :len(weights)] = weights.T
        return np.ascontiguousarray(taps.reshape(len(taps), -1, 4)[..., order].transpose(1, 0, 2)).reshape(-1)
    if kernel == "eo_conv2d_s8_dsp":  # over the patch padded with zero weights
        k_h, row, patch = conv_patch(ctx)
        rows = np.zeros((len(weights), k_h, row), weights.dtype)
        rows[..., :weights.shape[1] // k_h] = weights.reshape(len(weights), k_h, -1)
        padded = np.zeros((len(weights), patch), weights.dtype)
        padded[:, :k_h * row] = rows.reshape(len(weights), -1)
        return pack_pairs_dsp(padded, compact)
    return pack_pairs_dsp(weights, compact)


def conv_patch(ctx):
    """eo_conv2d_s8_dsp's patch (as eo_conv_patch): k_h rows of taps, each row rounded up to
    a word and the whole to 8 with zero weights, as (k_h, row, patch)."""
    w = ctx.shape(1)
    filter_c = 1 if ctx.node.op_type == "QDepthwiseConv2D" else w[3]
    row = -(-w[2] * filter_c // 4) * 4
    return w[1], row, -(-w[1] * row // 8) * 8


def _dsp_scratch_bytes(ctx, plan):
    """The inputs as int16 pairs: one row for the fully-connected kernel when several blocks
    of 4 outputs share it, two rows (patches) for the pair kernels; for the depthwise kernel
    a pixel of the input zero point, or the plane of a planar layer."""
    if plan is None:
        return 0
    kernel, weights, _ = plan
    outs, ins = weights.shape
    if kernel == "eo_fully_connected_s8_dsp":
        return 2 * ins if outs > 4 else 0
    if kernel == "eo_conv2d_s8_dsp":
        return 4 * conv_patch(ctx)[2]
    if kernel == "eo_depthwise_conv2d_s8_dsp":
        return _plane_bytes(ctx) if planar_depthwise(ctx) else -(-outs // 4) * 4
    return 4 * ins


def _infer_fc(ctx):
    x, w = ctx.shape(0), ctx.shape(1)
    if len(w) != 2 or int(np.prod(x)) % w[1]:
        raise ShapeError(f"fully-connected input {tuple(x)} does not match weights {tuple(w)}")
    return [(int(np.prod(x)) // w[1], w[0])]


def _lower_fc(ctx, lc):
    return _dense_s8_call(ctx, lc, quant_of(ctx, 1, "weights").per_channel)


def _dense_s8_call(ctx, lc, per_channel, window=None):
    """An int8 matrix product on rows of the input: fully-connected layers, and 1x1
    convolutions (each NHWC pixel is a row). The input offset is folded into the bias.
    window: the reader's window this 1x1 layer runs into (lc.window), one image row eo_next a
    call."""
    w_q, y_q = quant_of(ctx, 1, "weights"), quant_of(ctx, -1, "output")
    weights = np.asarray(ctx.const(1))
    weights = weights.reshape(len(weights), -1)
    outs, ins = weights.shape
    if any(z != 0 for z in w_q.zero_points):
        ctx.unsupported("int8 weights must be symmetric (zero point 0)")
    folded = _folded_bias(ctx, weights)
    if folded is None:
        ctx.unsupported("the bias must be a constant")
    if np.abs(folded).max(initial=0) >= 2 ** 31:
        ctx.unsupported("folded bias overflows int32")
    act_min, act_max = activation_range(ctx.attr("fused_activation", "NONE"), y_q.scales[0], y_q.zero_points[0])
    multipliers, shifts = _multipliers(ctx)
    plan = _dsp_plan(ctx)
    portable = PORTABLE if plan else ALWAYS
    rows = int(np.prod(ctx.shape(0))) // ins
    x, y = lc.buffer(ctx.node.inputs[0]), lc.buffer(ctx.node.outputs[0])
    in_place = lc.in_place(ctx)  # a 1x1 convolution, one image row of pixels at a time
    if in_place:
        in_place.update(slices=ctx.out_shape()[1], x_bytes=ctx.out_shape()[2] * ins)
        rows = ctx.out_shape()[2]
    if window:  # eo_conv_s8_window: row eo_next at its place in the window
        rows = ctx.out_shape()[2]
        x, y = f"{x} + eo_next * {rows * ins}", f"{y} + (eo_next - eo_held) * {window['row_bytes']}"
    return Call("ops/fully_connected_s8.c.j2", dict(in_place=in_place, x=x, y=y, scope="eo_producer" if window else "eo",
        dsp=_lower_dsp(ctx, lc, plan) if plan else None,
        w=lc.weight(weights.astype(np.int8), "weights", when=portable),
        bias=lc.weight(folded.astype(np.int32), "bias", when=portable),
        multipliers=multipliers, shifts=shifts, per_channel=int(per_channel),
        rows=rows, outs=outs, ins=ins, output_offset=y_q.zero_points[0],
        act_min=act_min, act_max=act_max,
    ))


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
    return [(ctx.shape(0)[0], out_h, out_w, _output_channels(ctx))]


def _lower_conv(ctx, lc):
    x, w = ctx.shape(0), ctx.shape(1)
    out_h, out_w, pad_h, pad_w = _conv_geometry(ctx)
    depthwise = ctx.node.op_type == "QDepthwiseConv2D"
    out_c = _output_channels(ctx)
    x_q, y_q = quant_of(ctx, 0, "input"), quant_of(ctx, -1, "output")
    if _pointwise(ctx):  # a 1x1 convolution is a matrix product over the pixels
        return _dense_s8_call(ctx, lc, True)
    if ctx.has_input(2) and ctx.const(2) is None:
        ctx.unsupported("the bias must be a constant")
    multipliers, shifts = _multipliers(ctx)
    act_min, act_max = activation_range(ctx.attr("fused_activation", "NONE"), y_q.scales[0], y_q.zero_points[0])
    bias = ctx.const(2) if ctx.has_input(2) else None
    params = dict(
        batch=x[0], in_h=x[1], in_w=x[2], in_c=x[3], out_h=out_h, out_w=out_w, out_c=out_c,
        k_h=w[1], k_w=w[2], filter_c=w[3] if not depthwise else 1,
        stride_h=ctx.attr("stride_h", 1), stride_w=ctx.attr("stride_w", 1),
        dil_h=ctx.attr("dilation_h", 1), dil_w=ctx.attr("dilation_w", 1), pad_h=pad_h, pad_w=pad_w,
        depth_multiplier=out_c // x[3] if depthwise else 1,
        input_offset=-x_q.zero_points[0], output_offset=y_q.zero_points[0],
        act_min=act_min, act_max=act_max, multipliers="eo_multipliers", shifts="eo_shifts",
    )
    plan = _dsp_plan(ctx)
    when = PORTABLE if plan else ALWAYS
    window, producers = lc.window(ctx), {}
    if window:  # the producer's code for each build this layer's code has (inside its #if)
        with lc.lowering(window["producer"].node):
            producer = _dense_s8_call(window.pop("producer"), lc, True, window)
        builds = ("dsp", "portable") if plan else (None,)
        producers = {f"producer_{build or 'portable'}": Call(producer.template, dict(producer.args, build=build))
                     for build in builds}
    return Call("ops/conv_s8.c.j2", dict(
        window=window, **producers,
        kernel="eo_depthwise_conv2d_s8" if depthwise else "eo_conv2d_s8", in_place=lc.in_place(ctx),
        dsp=_lower_dsp(ctx, lc, plan) if plan else None,
        scratch=lc.scratch(ctx) if depthwise else None, params=params,
        multipliers=multipliers, shifts=shifts,
        x=lc.buffer(ctx.node.inputs[0]), y=lc.buffer(ctx.node.outputs[0]),
        w=lc.weight(ctx.const(1).astype(np.int8), "filter", when=when),
        bias=(lc.weight(bias.astype(np.int32), "bias", when=when) if bias is not None else "NULL"),
    ))


def _pointwise(ctx):
    x, w = ctx.shape(0), ctx.shape(1)
    out_h, out_w, pad_h, pad_w = _conv_geometry(ctx)
    return (ctx.node.op_type == "QConv2D" and w[1] == w[2] == 1 and w[3] == x[3]
            and (out_h, out_w) == (x[1], x[2]) and pad_h == pad_w == 0)


def _one_int8_image(ctx):
    dtypes = {ctx.graph.tensor(name).dtype for name in (ctx.node.inputs[0], ctx.node.outputs[0])}
    return len(ctx.shape(0)) == 4 and ctx.shape(0)[0] == 1 and dtypes == {"int8"}


def _in_place(ctx):
    """One image's output rows over its input rows, in order where each output row ends
    before the first input byte a later row reads (a strided depthwise layer; with a delay
    of d rows in the line buffer, before the first byte row r + d + 1 reads: a depthwise
    layer of stride 1 and d = its top padding), from the last where each starts after the
    last input byte an earlier row reads (a 1x1 layer that widens the pixels); None where
    none holds."""
    x = ctx.shape(0)
    if not _one_int8_image(ctx):
        return None
    out_h, out_w, pad_h, _ = _conv_geometry(ctx)
    in_row, out_row = x[2] * x[3], out_w * _output_channels(ctx)
    reach = (ctx.shape(1)[1] - 1) * ctx.attr("dilation_h", 1)
    stride = ctx.attr("stride_h", 1)

    def first(r):  # the first input row output row r reads, and one past the last
        return min(max(r * stride - pad_h, 0), x[1])

    def end(r):
        return min(max(r * stride - pad_h + reach + 1, 0), x[1])

    if out_h < 2:
        return None
    for delay in range(reach + 1):  # more would hold as much as the layer's input
        if all((r + 1) * out_row <= first(r + delay + 1) * in_row for r in range(out_h - delay - 1)):
            return InPlace("forward", out_row, delay)
    if all(r * out_row >= end(r - 1) * in_row for r in range(1, out_h)):
        return InPlace("reverse", out_row)
    return None


def _row_producer(ctx):
    """A 1x1 convolution of one image: its output row i is a matrix product of input row i."""
    return ctx.node.op_type == "QConv2D" and _one_int8_image(ctx) and _pointwise(ctx)


def _window_reader(ctx):
    """The input rows one output row reads, when the layer can run a row at a time over a
    window of them; None for 1x1 layers (a matrix product over the image's pixels) and the
    planar depthwise layers (each channel's rows in one plane)."""
    if not _one_int8_image(ctx) or _pointwise(ctx) or planar_depthwise(ctx):
        return None
    return (ctx.shape(1)[1] - 1) * ctx.attr("dilation_h", 1) + 1


def _weight_expansion(ctx):
    """The int16-expanded DSP weights' extra flash (a byte per packed weight), the MACs they
    serve (every weight once per output pixel or row), and whether the compact layout can
    hold them (the interleaved kernels' one exception, see interleavable)."""
    plan = _dsp_plan(ctx, compact=False)
    if plan is None or planar_depthwise(ctx):  # the planar kernel reads each weight once a channel
        return None
    kernel, weights, _ = plan
    compact_exact = kernel == "eo_depthwise_conv2d_s8_dsp" or interleavable(_weight_rows(ctx))
    return (_packed_weights(ctx, plan, False).size, weights.size * int(np.prod(ctx.out_shape())) // len(weights),
            compact_exact)


def _fc_scratch(ctx):
    return _dsp_scratch_bytes(ctx, _dsp_plan(ctx))


def _conv_scratch(ctx):
    """The DSP kernel's (_dsp_scratch_bytes) or, for depthwise layers, the portable kernel's
    int32 accumulator per channel if that is more: one arena serves every core."""
    portable = 4 * ctx.shape(1)[3] if ctx.node.op_type == "QDepthwiseConv2D" else 0
    return max(portable, _dsp_scratch_bytes(ctx, _dsp_plan(ctx)))


OPS = (
    OpDef("QFullyConnected", _infer_fc, None, _lower_fc, dtypes=("int8", "int32"), scratch=_fc_scratch,
          weight_expansion=_weight_expansion),
    OpDef("QConv2D", _infer_conv, None, _lower_conv, dtypes=("int8", "int32"), scratch=_conv_scratch,
          weight_expansion=_weight_expansion, in_place=_in_place, row_producer=_row_producer,
          window_reader=_window_reader),
    OpDef("QDepthwiseConv2D", _infer_conv, None, _lower_conv, dtypes=("int8", "int32"),
          scratch=_conv_scratch, weight_expansion=_weight_expansion, in_place=_in_place,
          window_reader=_window_reader),
)
