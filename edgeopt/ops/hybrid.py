"""Dynamic-range ("hybrid") layers: float activations, int8 constant weights. TFLite's kernels
quantize each input row to int8 on the fly and rescale the integer product; TFLM has none, so
these follow TFLite's reference kernels (tflite-runtime and TensorFlow's interpreter agree)."""
from __future__ import annotations

import numpy as np

from edgeopt.ops.quantized import quant_of
from edgeopt.ops.registry import Call, OpDef


def _fc_sizes(ctx):
    x, w = ctx.shape(0), ctx.shape(1)
    ins, outs = int(w[1]), int(w[0])
    total = int(np.prod(x))
    if total % ins:
        ctx.unsupported(f"the input {tuple(x)} does not split into rows of {ins}")
    return total // ins, ins, outs


def _infer_fc(ctx):
    rows, _, outs = _fc_sizes(ctx)
    x = ctx.shape(0)
    return [tuple(x[:-1]) + (outs,) if len(x) > 2 and int(np.prod(x[:-1])) == rows else (rows, outs)]


def _lower_fc(ctx, lc):
    rows, ins, outs = _fc_sizes(ctx)
    w_q = quant_of(ctx, 1, "weights")
    if any(z != 0 for z in w_q.zero_points):
        ctx.unsupported("dynamic-range weights must be symmetric (zero point 0), as TFLite writes them")
    weights = np.asarray(ctx.const(1), np.int8)
    bias = ctx.const(2) if ctx.has_input(2) else None
    return Call("ops/hybrid_fully_connected.c.j2", dict(
        rows=rows, ins=ins, outs=outs, asymmetric=int(ctx.attr("asymmetric", 0)), per_channel=int(w_q.per_channel),
        x=lc.buffer(ctx.node.inputs[0]), w=lc.weight(weights, "weights"),
        scales=lc.weight(np.asarray(w_q.scales, np.float32), "scales"),
        row_sums=lc.weight(weights.astype(np.int32).sum(axis=1).astype(np.int32), "row_sums"),
        bias=lc.weight(np.asarray(bias, np.float32), "bias") if bias is not None else "NULL",
        y=lc.buffer(ctx.node.outputs[0]), scratch=lc.scratch(ctx)))


def _conv_sizes(ctx):
    from edgeopt.ops.quantized_linear import _conv_geometry

    out_h, out_w, pad_h, pad_w = _conv_geometry(ctx)
    x, w = ctx.shape(0), ctx.shape(1)
    depthwise = ctx.node.op_type == "HybridDepthwiseConv2D"
    out_c = w[3] if depthwise else w[0]
    if depthwise and out_c % x[3]:
        ctx.unsupported(f"{out_c} output channels are not a multiple of {x[3]} input channels")
    if not depthwise and w[3] != x[3]:
        ctx.unsupported("grouped convolutions are not supported in dynamic-range files")
    return out_h, out_w, pad_h, pad_w, out_c, depthwise


def _infer_conv(ctx):
    out_h, out_w, _, _, out_c, _ = _conv_sizes(ctx)
    return [(ctx.shape(0)[0], out_h, out_w, out_c)]


def _lower_conv(ctx, lc):
    out_h, out_w, pad_h, pad_w, out_c, depthwise = _conv_sizes(ctx)
    x, w = ctx.shape(0), ctx.shape(1)
    w_q = quant_of(ctx, 1, "weights")
    bias = ctx.const(2) if ctx.has_input(2) else None
    return Call("ops/hybrid_conv.c.j2", dict(
        batch=x[0], in_h=x[1], in_w=x[2], in_c=x[3], out_h=out_h, out_w=out_w, out_c=out_c, k_h=w[1], k_w=w[2],
        stride_h=ctx.attr("stride_h", 1), stride_w=ctx.attr("stride_w", 1), dil_h=ctx.attr("dilation_h", 1),
        dil_w=ctx.attr("dilation_w", 1), pad_h=pad_h, pad_w=pad_w, depth_multiplier=out_c // x[3] if depthwise else 0,
        x=lc.buffer(ctx.node.inputs[0]), w=lc.weight(np.asarray(ctx.const(1), np.int8), "weights"),
        scales=lc.weight(np.asarray(w_q.scales, np.float32), "scales"),
        bias=lc.weight(np.asarray(bias, np.float32), "bias") if bias is not None else "NULL",
        y=lc.buffer(ctx.node.outputs[0]), scratch=lc.scratch(ctx)))


OPS = (OpDef("HybridFullyConnected", _infer_fc, None, _lower_fc, scratch=lambda ctx: _fc_sizes(ctx)[1]),
       OpDef("HybridConv2D", _infer_conv, None, _lower_conv, scratch=lambda ctx: int(np.prod(ctx.shape(0)[1:]))),
       OpDef("HybridDepthwiseConv2D", _infer_conv, None, _lower_conv,
             scratch=lambda ctx: int(np.prod(ctx.shape(0)[1:]))))
