"""ReduceSum / ReduceMean / ReduceMax over any set of axes."""
import numpy as np

from edgeopt.ops.registry import (
    Call, OpDef, check_rank, contiguous_strides, normalize_axis,
)

_KERNEL_OPS = {"ReduceSum": "EO_REDUCE_SUM", "ReduceMean": "EO_REDUCE_MEAN", "ReduceMax": "EO_REDUCE_MAX"}
_NUMPY = {"ReduceSum": np.sum, "ReduceMean": np.mean, "ReduceMax": np.max}


def _axes(ctx):
    """Reduced axes, or None when the op is a no-op (noop_with_empty_axes)."""
    rank = len(ctx.shape(0))
    axes = ctx.ints("axes", 1, default=[])
    if not axes:
        return None if ctx.attr("noop_with_empty_axes", 0) else list(range(rank))
    return sorted({normalize_axis(a, rank, "axes entry") for a in axes})


def _out_shape(shape, axes, keepdims):
    if keepdims:
        return tuple(1 if a in axes else d for a, d in enumerate(shape))
    return tuple(d for a, d in enumerate(shape) if a not in axes)


def _infer(ctx):
    axes = _axes(ctx)
    if axes is None:
        return [ctx.shape(0)]
    return [_out_shape(ctx.shape(0), axes, ctx.attr("keepdims", 1))]


def _evaluate(ctx, values):
    axes = _axes(ctx)
    if axes is None:
        return [values[0]]
    fn = _NUMPY[ctx.node.op_type]
    return [np.asarray(fn(values[0], axis=tuple(axes), keepdims=bool(ctx.attr("keepdims", 1))))]


def reduce_geometry(ctx, axes) -> dict:
    """The kernels' eo_reduce_t: input shape, output strides (0 on reduced axes), counts."""
    shape = tuple(ctx.shape(0))
    check_rank(shape, "input")
    if not shape:
        shape, axes = (1,), [0]
    kept = contiguous_strides(_out_shape(shape, axes, True))
    return dict(shape=list(shape), out_strides=[0 if a in axes else s for a, s in enumerate(kept)],
                out_size=int(np.prod(_out_shape(shape, axes, True))),
                reduced_count=int(np.prod([shape[a] for a in axes])))


def reduce_call(ctx, lc, kernel_op, axes):
    return Call("ops/reduce.c.j2", dict(
        op=kernel_op, x=lc.buffer(ctx.node.inputs[0]), y=lc.buffer(ctx.node.outputs[0]),
        **reduce_geometry(ctx, axes)))


def _lower(ctx, lc):
    axes = _axes(ctx)
    if axes is None:
        return Call("ops/copy.c.j2", dict(
            x=lc.buffer(ctx.node.inputs[0]), y=lc.buffer(ctx.node.outputs[0]),
            size=lc.size(ctx.node.outputs[0])))
    return reduce_call(ctx, lc, _KERNEL_OPS[ctx.node.op_type], axes)


OPS = tuple(OpDef(op_type, _infer, _evaluate, _lower) for op_type in _KERNEL_OPS)
