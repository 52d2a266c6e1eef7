"""Shape and layout ops. Reshape-like ops are zero-copy aliases; Transpose, Slice,
StridedSlice, Concat and Pad move data."""
import numpy as np
from numpy.lib.stride_tricks import as_strided

from edgeopt.errors import ShapeError
from edgeopt.ops.registry import (
    Call, NodeUnsupported, OpDef, check_rank, collapse_dims, contiguous_strides, normalize_axis,
)


def _flatten_shape(ctx):
    shape = ctx.shape(0)
    axis = int(ctx.attr("axis", 1))
    axis = axis + len(shape) if axis < 0 else axis  # range is [-rank, rank]
    return (int(np.prod(shape[:axis])), int(np.prod(shape[axis:])))


def _reshape_shape(ctx):
    target = ctx.require_const(1, "the target shape") if "shape" not in ctx.node.attrs else ctx.attr("shape")
    if target is None:
        ctx.unsupported("missing target shape")
    shape, dims = ctx.shape(0), [int(d) for d in np.atleast_1d(target)]
    allow_zero = int(ctx.attr("allowzero", 0))
    out = [shape[i] if d == 0 and not allow_zero else d for i, d in enumerate(dims)]
    total = int(np.prod(shape))
    if out.count(-1) > 1:
        raise ShapeError(f"Reshape target {dims} has more than one -1")
    if -1 in out:
        known = int(np.prod([d for d in out if d != -1]))
        if known == 0 or total % known:
            raise ShapeError(f"Reshape cannot infer -1 in {dims} for input {tuple(shape)}")
        out[out.index(-1)] = total // known
    if int(np.prod(out)) != total:
        raise ShapeError(f"Reshape {tuple(shape)} -> {dims}: element counts differ")
    return tuple(out)


def _squeeze_shape(ctx):
    shape = ctx.shape(0)
    axes = ctx.ints("axes", 1)
    if axes is None:
        return tuple(d for d in shape if d != 1)
    axes = {normalize_axis(a, len(shape)) for a in axes}
    if any(shape[a] != 1 for a in axes):
        raise ShapeError(f"Squeeze axes {sorted(axes)} are not all size 1 in {tuple(shape)}")
    return tuple(d for a, d in enumerate(shape) if a not in axes)


def _unsqueeze_shape(ctx):
    shape = list(ctx.shape(0))
    axes = ctx.ints("axes", 1) or []
    rank = len(shape) + len(axes)
    for axis in sorted(normalize_axis(a, rank) for a in axes):
        shape.insert(axis, 1)
    return tuple(shape)


def _alias(shape_fn):
    return OpDef(
        None, lambda ctx: [shape_fn(ctx)],
        lambda ctx, values: [np.reshape(values[0], shape_fn(ctx))], alias=True, dtypes=None,
    )


def _named(op_type, op):
    return OpDef(op_type, op.infer, op.evaluate, op.lower, op.alias, dtypes=op.dtypes)


# ---- Transpose ----

def _perm(ctx):
    rank = len(ctx.shape(0))
    perm = ctx.ints("perm") or list(range(rank - 1, -1, -1))
    if sorted(perm) != list(range(rank)):
        raise ShapeError(f"Transpose perm {perm} is not a permutation of {rank} axes")
    return perm


def _transpose_view(ctx):
    shape, perm = ctx.shape(0), _perm(ctx)
    in_strides = contiguous_strides(shape)
    return [shape[p] for p in perm], [in_strides[p] for p in perm], 0


def _lower_transpose(ctx, lc):
    return _gather(ctx, lc, *_transpose_view(ctx))


def _gather(ctx, lc, out_shape, in_strides, offset):
    """y (contiguous) = x read from element `offset` with the given strides per output axis."""
    check_rank(out_shape, "output")
    dims, (strides,) = collapse_dims(out_shape, in_strides)
    x = lc.buffer(ctx.node.inputs[0])
    return Call("ops/gather_strided.c.j2", dict(
        x=f"{x} + {offset}" if offset else x, y=lc.buffer(ctx.node.outputs[0]),
        shape=dims, in_strides=strides, kernel=_gather_kernel(ctx),
    ))


def _tangent_gather(view):
    """The tangent rule of an op that is one strided gather, view(ctx) -> (out shape, input
    strides, offset): the same gather on every seed row of the input's tangent."""
    def tangent(ctx, tc):
        out_shape, in_strides, offset = view(ctx)
        x = ctx.node.inputs[0]
        dims, (strides,) = collapse_dims([tc.rows] + list(out_shape), [tc.size(x)] + list(in_strides))
        check_rank(dims, "the tangent")
        source = tc.tangent(x)
        return [Call("ops/gather_strided.c.j2", dict(
            x=f"{source} + {offset}" if offset else source, y=tc.tangent(ctx.node.outputs[0]),
            shape=dims, in_strides=strides, kernel="f32"))]
    return tangent


def _gather_kernel(ctx):
    """The suffix of the eo_gather_strided_* kernel for the input's element type."""
    return {"float32": "f32", "int8": "s8"}[ctx.graph.tensor(ctx.node.inputs[0]).dtype]


# ---- Slice (ONNX) and StridedSlice (TFLite): a numpy basic index, one strided gather ----

_INDEX_LIMIT = 2 ** 62  # ONNX writes INT64_MAX for "to the end"; clamp before Python slicing


def _index_values(ctx, index, what, raw=None):
    if raw is None and ctx.has_input(index):
        raw = ctx.require_const(index, what)
    if raw is None:
        return None
    try:
        return [max(-_INDEX_LIMIT, min(_INDEX_LIMIT, int(v))) for v in np.asarray(raw).reshape(-1)]
    except (TypeError, ValueError, OverflowError):
        raise NodeUnsupported(f"{what} must be integers; found {np.asarray(raw).dtype}") from None


def _onnx_slice_index(ctx):
    rank = len(ctx.shape(0))
    if "starts" in ctx.node.attrs:  # opset < 10
        starts, ends = (_index_values(ctx, None, key, ctx.attr(key)) for key in ("starts", "ends"))
        axes, steps = _index_values(ctx, None, "axes", ctx.attr("axes")) or list(range(len(starts))), [1] * len(starts)
    else:
        starts, ends = _index_values(ctx, 1, "starts"), _index_values(ctx, 2, "ends")
        axes = _index_values(ctx, 3, "axes") or list(range(len(starts)))
        steps = _index_values(ctx, 4, "steps") or [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ShapeError(f"Slice starts/ends/axes/steps have lengths {len(starts)}/{len(ends)}/"
                         f"{len(axes)}/{len(steps)}; they must match")
    index = [slice(None)] * rank
    for start, end, axis, step in zip(starts, ends, axes, steps):
        index[normalize_axis(axis, rank)] = slice(start, end, step)
    return tuple(index)


_STRIDED_MASKS = ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")


def _strided_slice_index(ctx):
    """TFLite's STRIDED_SLICE spec as a numpy index: masked bounds are open, a shrunk axis is
    an integer index, a new axis is None, the ellipsis is Ellipsis."""
    begin, end, strides = (_index_values(ctx, i, what) for i, what in enumerate(("begin", "end", "strides"), 1))
    if begin is None or end is None or strides is None or not len(begin) == len(end) == len(strides):
        raise ShapeError("STRIDED_SLICE needs begin, end and strides of one length")
    mask = {key: ctx.integer(key, 0) for key in _STRIDED_MASKS}
    offset = bool(ctx.attr("offset", False))
    index = []
    for i, (b, e, s) in enumerate(zip(begin, end, strides)):
        bit = 1 << i
        if mask["ellipsis_mask"] & bit:
            index.append(Ellipsis)
        elif mask["new_axis_mask"] & bit:
            index.append(None)
        elif mask["shrink_axis_mask"] & bit:
            index.append(b)
        else:
            index.append(slice(None if mask["begin_mask"] & bit else b,
                               None if mask["end_mask"] & bit else (b + e if offset else e), s))
    return tuple(index)


def _sliced_view(ctx, index):
    """(shape, element strides, element offset) of x[index], computed by numpy on a view
    that only has x's geometry (it never touches memory), so every indexing rule is numpy's."""
    shape = tuple(int(d) for d in ctx.shape(0))
    base = np.zeros(1, np.uint8)
    view = as_strided(base, shape, contiguous_strides(shape), writeable=False)[index]
    offset = view.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    return tuple(view.shape), list(view.strides), offset


def _slice_op(op_type, index_fn):
    def view(ctx):
        return _sliced_view(ctx, index_fn(ctx))

    return OpDef(op_type, lambda ctx: [view(ctx)[0]],
                 lambda ctx, values: [np.array(values[0][index_fn(ctx)])],
                 lambda ctx, lc: _gather(ctx, lc, *view(ctx)), dtypes=("float32", "int8"),
                 tangent=_tangent_gather(view))


# ---- Split: each output a strided gather of its part of the axis ----

def _split_sizes(ctx):
    shape = ctx.shape(0)
    axis = normalize_axis(ctx.integer("axis", 0), len(shape))
    outputs = len(ctx.node.outputs)
    sizes = ctx.ints("split", 1)
    if sizes is None and "num_outputs" in ctx.node.attrs:  # opset 18: the last part may be smaller
        part = -(-shape[axis] // outputs)
        sizes = [part] * (outputs - 1) + [shape[axis] - part * (outputs - 1)]
    elif sizes is None:
        if shape[axis] % outputs:
            raise ShapeError(f"Split cannot cut axis {axis} of {tuple(shape)} into {outputs} equal parts")
        sizes = [shape[axis] // outputs] * outputs
    if sizes.count(-1) == 1:  # TFLite SPLIT_V: one size is the rest
        sizes[sizes.index(-1)] = shape[axis] - (sum(sizes) + 1)
    if len(sizes) != outputs or sum(sizes) != shape[axis] or min(sizes) < 0:
        raise ShapeError(f"Split sizes {sizes} do not cut axis {axis} ({shape[axis]}) into {outputs} outputs")
    return axis, sizes


def _infer_split(ctx):
    shape = list(ctx.shape(0))
    axis, sizes = _split_sizes(ctx)
    return [tuple(shape[:axis] + [size] + shape[axis + 1:]) for size in sizes]


def _evaluate_split(ctx, values):
    axis, sizes = _split_sizes(ctx)
    return np.split(values[0], np.cumsum(sizes)[:-1], axis=axis)


def _lower_split(ctx, lc):
    shape = ctx.shape(0)
    axis, sizes = _split_sizes(ctx)
    outer, inner = int(np.prod(shape[:axis])), int(np.prod(shape[axis + 1:]))
    parts, start = [], 0
    for name, size in zip(ctx.node.outputs, sizes):
        if name and size:
            parts.append(dict(y=lc.buffer(name), offset=start * inner, shape=[outer, size * inner],
                              in_strides=[shape[axis] * inner, 1]))
        start += size
    return Call("ops/split.c.j2", dict(x=lc.buffer(ctx.node.inputs[0]), parts=parts, kernel=_gather_kernel(ctx)))


# ---- Concat ----

def _concat_axis(ctx):
    return normalize_axis(int(ctx.attr("axis", 0)), len(ctx.shape(0)))


def _infer_concat(ctx):
    axis = _concat_axis(ctx)
    shapes = [ctx.shape(i) for i in range(len(ctx.node.inputs))]
    first = list(shapes[0])
    for shape in shapes[1:]:
        if len(shape) != len(first) or any(
                a != b for i, (a, b) in enumerate(zip(shape, first)) if i != axis):
            raise ShapeError(f"Concat inputs {[tuple(s) for s in shapes]} differ off axis {axis}")
    first[axis] = sum(s[axis] for s in shapes)
    return [tuple(first)]


def _concat_parts(ctx, source):
    """(outer, y_stride, parts): each input with source(name) (None: skipped) is copied as
    `outer` blocks into its place along the axis."""
    axis = _concat_axis(ctx)
    out = ctx.out_shape()
    inner = int(np.prod(out[axis + 1:]))
    parts, offset = [], 0
    for index, name in enumerate(ctx.node.inputs):
        block = ctx.shape(index)[axis] * inner
        if block and source(name) is not None:
            parts.append(dict(x=source(name), offset=offset, block=block))
        offset += block
    return int(np.prod(out[:axis])), out[axis] * inner, parts


def _lower_concat(ctx, lc):
    outer, y_stride, parts = _concat_parts(ctx, lc.buffer)
    return Call("ops/concat.c.j2", dict(y=lc.buffer(ctx.node.outputs[0]), outer=outer, y_stride=y_stride,
                                        parts=parts))


def _tangent_concat(ctx, tc):
    """Each seed row of the output's tangent is the concatenation of the inputs' rows (the
    rows stack as more outer blocks); a constant input's part is zero."""
    outer, y_stride, parts = _concat_parts(ctx, lambda name: tc.tangent(name) if tc.has_tangent(name) else None)
    y = tc.tangent(ctx.node.outputs[0])
    calls = [Call("ops/concat.c.j2", dict(y=y, outer=tc.rows * outer, y_stride=y_stride, parts=parts))]
    if not all(tc.has_tangent(name) for name in ctx.node.inputs):
        calls.insert(0, Call("tangents/zero.c.j2", dict(y=y, size=tc.rows * tc.size(ctx.node.outputs[0]))))
    return calls


# ---- Pad ----

_PAD_MODES = {"constant": "EO_PAD_CONSTANT", "edge": "EO_PAD_EDGE",
              "reflect": "EO_PAD_REFLECT", "wrap": "EO_PAD_WRAP"}


def _pads(ctx):
    rank = len(ctx.shape(0))
    pads = ctx.ints("pads", 1) or ctx.ints("paddings") or [0] * (2 * rank)
    axes = ctx.ints("axes", 3)
    if axes is not None:
        full = [0] * (2 * rank)
        for i, axis in enumerate(normalize_axis(a, rank) for a in axes):
            full[axis], full[axis + rank] = pads[i], pads[i + len(axes)]
        pads = full
    if len(pads) != 2 * rank:
        raise ShapeError(f"Pad needs {2 * rank} pad values for rank {rank}, got {len(pads)}")
    mode = ctx.attr("mode", "constant")
    if mode not in _PAD_MODES:
        ctx.unsupported(f"mode={mode!r}")
    return pads[:rank], pads[rank:], mode


def _infer_pad(ctx):
    begin, end, mode = _pads(ctx)
    shape = ctx.shape(0)
    out = tuple(d + b + e for d, b, e in zip(shape, begin, end))
    if any(d <= 0 for d in out):
        raise ShapeError(f"Pad {begin}/{end} removes every element of {tuple(shape)}")
    if mode != "constant" and any(p > 0 for p in begin + end) and 0 in shape:
        raise ShapeError("Pad: cannot pad an empty axis in non-constant mode")
    return [out]


def _lower_pad(ctx, lc):
    begin, _, mode = _pads(ctx)
    check_rank(ctx.shape(0), "input")
    value = ctx.require_const(2, "constant_value") if ctx.has_input(2) else ctx.attr("value", 0.0)
    value = 0.0 if value is None else float(np.asarray(value).reshape(-1)[0])
    return Call("ops/pad.c.j2", dict(
        x=lc.buffer(ctx.node.inputs[0]), y=lc.buffer(ctx.node.outputs[0]),
        in_shape=list(ctx.shape(0)), out_shape=list(ctx.out_shape()), begin=begin,
        mode=_PAD_MODES[mode], value=value,
    ))


def _evaluate_pad(ctx, values):
    begin, end, mode = _pads(ctx)
    if mode != "constant" or any(p < 0 for p in begin + end):
        return None
    value = values[2] if len(values) > 2 and values[2] is not None else ctx.attr("value", 0)
    value = np.asarray(value).reshape(-1)[0] if np.size(value) else 0
    return [np.pad(values[0], list(zip(begin, end)), constant_values=value)]


OPS = (
    _named("Flatten", _alias(_flatten_shape)),
    _named("Reshape", _alias(_reshape_shape)),
    _named("Squeeze", _alias(_squeeze_shape)),
    _named("Unsqueeze", _alias(_unsqueeze_shape)),
    OpDef("Transpose", lambda ctx: [tuple(ctx.shape(0)[p] for p in _perm(ctx))],
          lambda ctx, values: [np.transpose(values[0], _perm(ctx))], _lower_transpose,
          dtypes=("float32", "int8"), tangent=_tangent_gather(_transpose_view)),
    _slice_op("Slice", _onnx_slice_index),
    _slice_op("StridedSlice", _strided_slice_index),
    OpDef("Split", _infer_split, _evaluate_split, _lower_split, dtypes=("float32", "int8")),
    OpDef("Concat", _infer_concat,
          lambda ctx, values: [np.concatenate(values, axis=_concat_axis(ctx))], _lower_concat,
          tangent=_tangent_concat),
    OpDef("Pad", _infer_pad, _evaluate_pad, _lower_pad),
)
