"""Elementwise ops: broadcasting binary arithmetic, activations, identity."""
import numpy as np

from edgeopt.ops.registry import (
    Call, OpDef, broadcast_shapes, broadcast_strides, check_rank, collapse_dims,
)


def _infer_same(ctx):
    return [ctx.shape(0)]


def _infer_broadcast(ctx):
    return [broadcast_shapes(ctx.shape(0), ctx.shape(1))]


def _evaluate_binary(fn):
    def evaluate(ctx, values):
        a, b = values
        result = fn(a, b)
        return [np.asarray(result).astype(np.result_type(a, b), copy=False)]
    return evaluate


def _int_div(a, b):
    if np.issubdtype(np.result_type(a, b), np.integer):
        return np.trunc(np.true_divide(a, b))
    return np.true_divide(a, b)


def _lower_binary(kernel_op):
    def lower(ctx, lc):
        out = ctx.out_shape()
        if kernel_op == "EO_BIN_PRELU":
            # PRelu broadcasts the slope to X only (unidirectional)
            if broadcast_shapes(ctx.shape(0), ctx.shape(1)) != tuple(ctx.shape(0)):
                ctx.unsupported("slope does not broadcast to the input shape")
        check_rank(out, "output")
        dims, (a_strides, b_strides) = collapse_dims(
            out, broadcast_strides(ctx.shape(0), out), broadcast_strides(ctx.shape(1), out)
        )
        return Call("ops/binary.c.j2", dict(
            op=kernel_op, a=lc.buffer(ctx.node.inputs[0]), b=lc.buffer(ctx.node.inputs[1]),
            y=lc.buffer(ctx.node.outputs[0]), shape=dims, a_strides=a_strides,
            b_strides=b_strides,
        ))
    return lower


# ---- activations: ONNX op -> (runtime function, its float parameters) ----

def _clip_bounds(ctx):
    if "min" in ctx.node.attrs or "max" in ctx.node.attrs:  # opset < 11
        return float(ctx.attr("min", -np.inf)), float(ctx.attr("max", np.inf))
    low = ctx.require_const(1, "Clip min")
    high = ctx.require_const(2, "Clip max")
    low = -np.inf if low is None else float(np.asarray(low).reshape(()))
    high = np.inf if high is None else float(np.asarray(high).reshape(()))
    return low, high


ACTIVATIONS = {
    "Relu": lambda ctx: ("eo_relu_f32", ()),
    "LeakyRelu": lambda ctx: ("eo_leaky_relu_f32", (float(ctx.attr("alpha", 0.01)),)),
    "Clip": lambda ctx: ("eo_clip_f32", _clip_bounds(ctx)),
    "Sigmoid": lambda ctx: ("eo_sigmoid_f32", ()),
    "HardSigmoid": lambda ctx: (
        "eo_hard_sigmoid_f32", (float(ctx.attr("alpha", 0.2)), float(ctx.attr("beta", 0.5)))),
    "HardSwish": lambda ctx: ("eo_hard_swish_f32", ()),
    "Tanh": lambda ctx: ("eo_tanh_f32", ()),
    "Elu": lambda ctx: ("eo_elu_f32", (float(ctx.attr("alpha", 1.0)),)),
    "Selu": lambda ctx: (
        "eo_selu_f32", (float(ctx.attr("alpha", 1.67326319217681884765625)),
                        float(ctx.attr("gamma", 1.05070102214813232421875)))),
}


def _lower_activation(ctx, lc):
    function, params = ACTIVATIONS[ctx.node.op_type](ctx)
    return Call("ops/activation.c.j2", dict(
        function=function, params=params, x=lc.buffer(ctx.node.inputs[0]),
        y=lc.buffer(ctx.node.outputs[0]), size=lc.size(ctx.node.outputs[0]),
    ))


def _infer_dropout(ctx):
    if len(ctx.node.outputs) > 1 and ctx.node.outputs[1]:
        ctx.unsupported("the mask output is not supported (inference only)")
    training = ctx.const(2)
    if ctx.has_input(2) and (training is None or bool(np.asarray(training).reshape(()))):
        ratio = ctx.const(1) if ctx.has_input(1) else np.float32(0.5)
        if ratio is None or float(np.asarray(ratio).reshape(())) != 0.0:
            ctx.unsupported("training_mode must be a constant false (or the ratio a constant 0)")
    return [ctx.shape(0)]


def _identity_value(ctx, values):
    return [values[0]]


OPS = (
    OpDef("Add", _infer_broadcast, _evaluate_binary(np.add), _lower_binary("EO_BIN_ADD")),
    OpDef("Sub", _infer_broadcast, _evaluate_binary(np.subtract), _lower_binary("EO_BIN_SUB")),
    OpDef("Mul", _infer_broadcast, _evaluate_binary(np.multiply), _lower_binary("EO_BIN_MUL")),
    OpDef("Div", _infer_broadcast, _evaluate_binary(_int_div), _lower_binary("EO_BIN_DIV")),
    OpDef("PRelu", _infer_same, None, _lower_binary("EO_BIN_PRELU")),
    OpDef("Identity", _infer_same, _identity_value, alias=True, dtypes=None),
    OpDef("Dropout", _infer_dropout, _identity_value, alias=True, dtypes=None),
) + tuple(OpDef(op_type, _infer_same, None, _lower_activation) for op_type in ACTIVATIONS)
