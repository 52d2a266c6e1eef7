"""Ops edgeopt evaluates at compile time only: the shape arithmetic PyTorch and
TensorFlow exporters emit (Shape -> Gather -> Unsqueeze -> Concat -> Reshape, ...).
They have no kernel; a node left with run-time inputs is reported as unsupported."""
import numpy as np

from edgeopt.ops.registry import OpDef, normalize_axis


def _no_infer(ctx):
    ctx.unsupported("only supported when its inputs are constants (it has no run-time kernel)")


def _constant(ctx, values):
    attrs = ctx.node.attrs
    for key in ("value", "value_float", "value_int"):
        if key in attrs:
            return [np.asarray(attrs[key], dtype=np.float32 if key == "value_float" else None)]
    if "value_floats" in attrs:
        return [np.asarray(attrs["value_floats"], np.float32)]
    if "value_ints" in attrs:
        return [np.asarray(attrs["value_ints"], np.int64)]
    ctx.unsupported("Constant without a tensor/float/int value")


def _shape(ctx, values):
    shape = np.asarray(ctx.shape(0), np.int64)
    start, end = int(ctx.attr("start", 0)), ctx.attr("end")
    return [shape[start:None if end is None else int(end)]]


def _gather(ctx, values):
    data, indices = values
    axis = normalize_axis(int(ctx.attr("axis", 0)), data.ndim)
    return [np.take(data, np.where(indices < 0, indices + data.shape[axis], indices), axis=axis)]


def _cast(ctx, values):
    from onnx import helper  # element type codes are ONNX's

    return [values[0].astype(helper.tensor_dtype_to_np_dtype(int(ctx.attr("to"))))]


def _constant_of_shape(ctx, values):
    value = ctx.attr("value")
    fill = np.asarray(value).reshape(-1) if value is not None else np.zeros(1, np.float32)
    return [np.full(tuple(int(d) for d in values[0]), fill[0], dtype=fill.dtype)]


def _range(ctx, values):
    start, limit, delta = (np.asarray(v).reshape(()) for v in values)
    return [np.arange(start, limit, delta, dtype=np.result_type(start, limit, delta))]


def _expand(ctx, values):
    shape = np.broadcast_shapes(values[0].shape, tuple(int(d) for d in values[1]))
    return [np.broadcast_to(values[0], shape).copy()]


def _unary(fn):
    return lambda ctx, values: [np.asarray(fn(values[0])).astype(values[0].dtype, copy=False)]


def _elementwise(fn):
    return lambda ctx, values: [np.asarray(fn(*values))]


def _pack(ctx, values):
    return [np.stack(values, axis=int(ctx.attr("axis", 0)))]


def _unpack(ctx, values):
    axis = normalize_axis(int(ctx.attr("axis", 0)), values[0].ndim)
    return [np.take(values[0], i, axis=axis) for i in range(values[0].shape[axis])]


def _reduce_prod(ctx, values):
    axes = tuple(int(a) for a in np.atleast_1d(values[1])) if len(values) > 1 else None
    return [np.prod(values[0], axis=axes, keepdims=bool(ctx.attr("keepdims", 0)))]


OPS = (
    OpDef("Pack", _no_infer, _pack),
    OpDef("Unpack", _no_infer, _unpack),
    OpDef("ReduceProd", _no_infer, _reduce_prod),
    OpDef("Constant", _no_infer, _constant),
    OpDef("Shape", _no_infer, _shape),
    OpDef("Size", _no_infer, lambda ctx, values: [np.asarray(int(np.prod(ctx.shape(0))), np.int64)]),
    OpDef("Gather", _no_infer, _gather),
    OpDef("Cast", _no_infer, _cast),
    OpDef("ConstantOfShape", _no_infer, _constant_of_shape),
    OpDef("Range", _no_infer, _range),
    OpDef("Expand", _no_infer, _expand),
    OpDef("Equal", _no_infer, _elementwise(np.equal)),
    OpDef("Less", _no_infer, _elementwise(np.less)),
    OpDef("Greater", _no_infer, _elementwise(np.greater)),
    OpDef("Where", _no_infer, _elementwise(np.where)),
    OpDef("Not", _no_infer, _elementwise(np.logical_not)),
    OpDef("Neg", _no_infer, _unary(np.negative)),
    OpDef("Abs", _no_infer, _unary(np.abs)),
    OpDef("Floor", _no_infer, _unary(np.floor)),
    OpDef("Ceil", _no_infer, _unary(np.ceil)),
    OpDef("Sqrt", _no_infer, _unary(np.sqrt)),
    OpDef("Reciprocal", _no_infer, _unary(np.reciprocal)),
    OpDef("Pow", _no_infer, lambda ctx, values: [np.power(values[0], values[1]).astype(values[0].dtype)]),
)
