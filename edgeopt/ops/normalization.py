"""BatchNormalization (inference; standalone when it cannot be folded), Softmax, LogSoftmax,
L2Normalization (TFLite's, over the last axis)."""
import numpy as np

from edgeopt.errors import ShapeError
from edgeopt.ops.registry import Call, OpDef, normalize_axis


def batchnorm_scale_shift(ctx):
    """Per-channel (scale, shift) with y = x * scale + shift, from constant parameters."""
    if int(ctx.attr("training_mode", 0)) or any(o for o in ctx.node.outputs[1:]):
        ctx.unsupported("training mode (running statistics outputs) is not supported")
    params = [ctx.require_const(i, name) for i, name in
              enumerate(("scale", "bias", "mean", "var"), start=1)]
    gamma, beta, mean, var = (np.asarray(p, np.float64) for p in params)
    scale = gamma / np.sqrt(var + ctx.number("epsilon", 1e-5))
    return scale, beta - mean * scale


def _infer_batchnorm(ctx):
    x = ctx.shape(0)
    if len(x) < 2:
        raise ShapeError(f"BatchNormalization needs rank >= 2, got {x}")
    return [x]


def _lower_batchnorm(ctx, lc):
    scale, shift = batchnorm_scale_shift(ctx)
    x = ctx.shape(0)
    return Call("ops/channel_affine.c.j2", dict(
        x=lc.buffer(ctx.node.inputs[0]), y=lc.buffer(ctx.node.outputs[0]),
        scale=lc.weight(scale.astype(np.float32), "scale"),
        shift=lc.weight(shift.astype(np.float32), "shift"),
        outer=x[0], channels=x[1], inner=int(np.prod(x[2:])),
    ))


def _softmax_split(ctx):
    shape = ctx.shape(0)
    rank = len(shape)
    if ctx.attr("coerce_2d", 0):  # opset < 13: flatten to 2-D at axis
        axis = normalize_axis(int(ctx.attr("axis", 1)), rank)
        return int(np.prod(shape[:axis])), int(np.prod(shape[axis:])), 1
    axis = normalize_axis(int(ctx.attr("axis", -1)), rank)
    return int(np.prod(shape[:axis])), int(shape[axis]), int(np.prod(shape[axis + 1:]))


def _lower_softmax(log):
    def lower(ctx, lc):
        outer, n, inner = _softmax_split(ctx)
        return Call("ops/softmax.c.j2", dict(
            x=lc.buffer(ctx.node.inputs[0]), y=lc.buffer(ctx.node.outputs[0]),
            outer=outer, n=n, inner=inner, log=int(log),
        ))
    return lower


def _infer_softmax(ctx):
    _softmax_split(ctx)
    return [ctx.shape(0)]


def _lower_l2_normalization(ctx, lc):
    shape = ctx.shape(0)
    return Call("ops/l2_normalization.c.j2", dict(
        x=lc.buffer(ctx.node.inputs[0]), y=lc.buffer(ctx.node.outputs[0]),
        outer=int(np.prod(shape[:-1])), n=int(shape[-1]) if shape else 1,
    ))


OPS = (
    OpDef("BatchNormalization", _infer_batchnorm, None, _lower_batchnorm),
    OpDef("L2Normalization", lambda ctx: [ctx.shape(0)], None, _lower_l2_normalization),
    OpDef("Softmax", _infer_softmax, None, _lower_softmax(False)),
    OpDef("LogSoftmax", _infer_softmax, None, _lower_softmax(True)),
)
