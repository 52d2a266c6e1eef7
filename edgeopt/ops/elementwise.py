"""Elementwise ops: broadcasting binary arithmetic, activations, identity."""
import numpy as np

from edgeopt.ops.registry import (
    Call, NodeUnsupported, OpDef, broadcast_shapes, broadcast_strides, check_rank, collapse_dims,
    elementwise_in_place,
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


def _infer_two_inputs(ctx):
    """Max/Min are variadic in ONNX; at run time the kernel takes two."""
    if len([n for n in ctx.node.inputs if n]) != 2:
        ctx.unsupported("only two inputs are supported at run time (more fold when constant)")
    return _infer_broadcast(ctx)


def _variadic(fn):
    return lambda ctx, values: [fn.reduce(np.broadcast_arrays(*values))]


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
        return ctx.number("min", -FLOAT_MAX), ctx.number("max", FLOAT_MAX)
    low = ctx.require_const(1, "Clip min")
    high = ctx.require_const(2, "Clip max")
    low = -FLOAT_MAX if low is None else float(np.asarray(low).reshape(()))
    high = FLOAT_MAX if high is None else float(np.asarray(high).reshape(()))
    return low, high


FLOAT_MAX = float(np.finfo(np.float32).max)  # Clip's default bounds: +-Inf clamp to it (ONNX)


# op -> (runtime function, (OpContext) -> its float parameters)
ACTIVATIONS = {
    "Relu": ("eo_relu_f32", lambda ctx: ()),
    "LeakyRelu": ("eo_leaky_relu_f32", lambda ctx: (ctx.number("alpha", 0.01),)),
    "Clip": ("eo_clip_f32", _clip_bounds),
    "Sigmoid": ("eo_sigmoid_f32", lambda ctx: ()),
    "HardSigmoid": ("eo_hard_sigmoid_f32",
                    lambda ctx: (ctx.number("alpha", 0.2), ctx.number("beta", 0.5))),
    "HardSwish": ("eo_hard_swish_f32", lambda ctx: ()),
    "Tanh": ("eo_tanh_f32", lambda ctx: ()),
    "Elu": ("eo_elu_f32", lambda ctx: (ctx.number("alpha", 1.0),)),
    "Selu": ("eo_selu_f32", lambda ctx: (ctx.number("alpha", 1.67326319217681884765625),
                                         ctx.number("gamma", 1.05070102214813232421875))),
    "Rsqrt": ("eo_rsqrt_f32", lambda ctx: ()),
    "Gelu": ("eo_gelu_f32", lambda ctx: _exact_gelu(ctx)),
    "GeluTanh": ("eo_gelu_tanh_f32", lambda ctx: ()),
}


def _exact_gelu(ctx):
    if ctx.attr("approximate", "none") != "none":  # the frontends turn "tanh" into GeluTanh
        ctx.unsupported(f"approximate={ctx.attr('approximate')!r}; ONNX defines 'none' and 'tanh'")
    return ()

# Activations with a derivative rule (templates/tangents/activation.c.j2 knows them).
DIFFERENTIABLE = {"Relu", "LeakyRelu", "Clip", "Sigmoid", "Tanh", "Elu", "Selu"}


# Tensors from this size on take the four-per-turn tanh/sigmoid: over 1,000 fewer
# instructions per call for about 400 B more code, which a small model (an MLP's 64-wide
# layers) would rather keep
FOUR_PER_TURN = {"Tanh": "eo_tanh4_f32", "Sigmoid": "eo_sigmoid4_f32"}
FOUR_PER_TURN_MIN_SIZE = 256


def _lower_activation(ctx, lc):
    function, parameters = ACTIVATIONS[ctx.node.op_type]
    if lc.size(ctx.node.outputs[0]) >= FOUR_PER_TURN_MIN_SIZE:
        function = FOUR_PER_TURN.get(ctx.node.op_type, function)
    return Call("ops/activation.c.j2", dict(
        function=function, params=parameters(ctx), x=lc.buffer(ctx.node.inputs[0]),
        y=lc.buffer(ctx.node.outputs[0]), size=lc.size(ctx.node.outputs[0]),
    ))


def activation_tangent(op_type, params, value, tangent, rows, size, source=None):
    """The Call that scales a tangent by the activation's derivative, taken from its output
    (reading the unscaled rows from source, or in place)."""
    if op_type not in DIFFERENTIABLE or (op_type == "LeakyRelu" and params[0] <= 0):
        raise NodeUnsupported(f"no derivative rule for {op_type}")
    alpha, beta = (list(params) + [0.0, 0.0])[:2]
    return Call("tangents/activation.c.j2", dict(op=op_type, y=value, source=source, t=tangent, rows=rows,
                                                  size=size, alpha=alpha, beta=beta))


def _tangent_activation(ctx, tc):
    op_type = ctx.node.op_type
    out = ctx.node.outputs[0]
    return [activation_tangent(op_type, ACTIVATIONS[op_type][1](ctx), tc.value(out), tc.tangent(out),
                               tc.rows, tc.size(out), source=tc.tangent(ctx.node.inputs[0]))]


def _tangent_binary(ctx, tc):
    """Sums and differences of run-time tensors of one shape; any op with a constant operand
    that does not broadcast the run-time one (the derivative is a per-element scale)."""
    node, op = ctx.node, ctx.node.op_type
    out, size = node.outputs[0], tc.size(node.outputs[0])
    const_a, const_b = ctx.const(0), ctx.const(1)
    if const_a is None and const_b is None:
        if op in ("Mul", "Div") or tuple(ctx.shape(0)) != tuple(ctx.shape(1)):
            raise NodeUnsupported("products or broadcasts of two run-time tensors are not differentiated")
        return [Call("tangents/binary.c.j2", dict(
            op="EO_BIN_ADD" if op == "Add" else "EO_BIN_SUB", a=tc.tangent(node.inputs[0]),
            b=tc.tangent(node.inputs[1]), y=tc.tangent(out), size=tc.rows * size))]
    runtime_index = 1 if const_a is not None else 0
    if int(np.prod(ctx.shape(runtime_index))) != size:
        raise NodeUnsupported("the constant operand broadcasts the run-time one")
    copy = Call("ops/copy.c.j2", dict(x=tc.tangent(node.inputs[runtime_index]), y=tc.tangent(out),
                                           size=tc.rows * size))
    if op in ("Add", "Sub") and not (op == "Sub" and runtime_index == 1):
        return [copy]
    if op == "Sub":
        scale = -np.ones(size, np.float32)
    elif op == "Mul":
        scale = np.broadcast_to(const_a if const_a is not None else const_b, ctx.out_shape()).reshape(-1)
    elif runtime_index == 0:
        scale = 1.0 / np.broadcast_to(const_b, ctx.out_shape()).reshape(-1)
    else:
        raise NodeUnsupported("division by a run-time tensor is not differentiated")
    symbol = tc.weight(np.asarray(scale, np.float32), "tangent_scale")
    return [copy, Call("tangents/scale_columns.c.j2", dict(scale=symbol, t=tc.tangent(out),
                                                           rows=tc.rows, size=size))]


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
    OpDef("Add", _infer_broadcast, _evaluate_binary(np.add), _lower_binary("EO_BIN_ADD"),
          fuses_activation=True, tangent=_tangent_binary, in_place=elementwise_in_place),
    OpDef("Sub", _infer_broadcast, _evaluate_binary(np.subtract), _lower_binary("EO_BIN_SUB"),
          fuses_activation=True, tangent=_tangent_binary, in_place=elementwise_in_place),
    OpDef("Mul", _infer_broadcast, _evaluate_binary(np.multiply), _lower_binary("EO_BIN_MUL"),
          fuses_activation=True, tangent=_tangent_binary, in_place=elementwise_in_place),
    OpDef("Div", _infer_broadcast, _evaluate_binary(_int_div), _lower_binary("EO_BIN_DIV"),
          fuses_activation=True, tangent=_tangent_binary, in_place=elementwise_in_place),
    OpDef("PRelu", _infer_same, None, _lower_binary("EO_BIN_PRELU"), in_place=elementwise_in_place),
    OpDef("Max", _infer_two_inputs, _variadic(np.maximum), _lower_binary("EO_BIN_MAX"), in_place=elementwise_in_place),
    OpDef("Min", _infer_two_inputs, _variadic(np.minimum), _lower_binary("EO_BIN_MIN"), in_place=elementwise_in_place),
    OpDef("SquaredDifference", _infer_broadcast, _evaluate_binary(lambda a, b: np.square(a - b)),
          _lower_binary("EO_BIN_SQUARED_DIFF"), in_place=elementwise_in_place),
    OpDef("Identity", _infer_same, _identity_value, alias=True, dtypes=None),
    OpDef("Dropout", _infer_dropout, _identity_value, alias=True, dtypes=None),
) + tuple(
    OpDef(op_type, _infer_same, None, _lower_activation, kernel=function, activation=parameters,
          tangent=_tangent_activation if op_type in DIFFERENTIABLE else None, in_place=elementwise_in_place)
    for op_type, (function, parameters) in ACTIVATIONS.items())
