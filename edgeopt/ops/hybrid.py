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


OPS = (OpDef("HybridFullyConnected", _infer_fc, None, _lower_fc, scratch=lambda ctx: _fc_sizes(ctx)[1]),)
