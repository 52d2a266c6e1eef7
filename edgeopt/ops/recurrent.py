"""Recurrent layers with ONNX's semantics: RNN, GRU (linear_before_reset 0 and 1) and LSTM,
forward, reverse and bidirectional, layout 0 and 1, one runtime call per sequence."""
import numpy as np

from edgeopt.ops.linear import pack_dense
from edgeopt.ops.registry import Call, OpDef

_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
RECURRENT_OPS = tuple(_GATES)
_DEFAULT_ACTIVATIONS = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}
_KINDS = {"Sigmoid": "EO_RNN_SIGMOID", "Tanh": "EO_RNN_TANH", "Relu": "EO_RNN_RELU",
          "HardSigmoid": "EO_RNN_HARD_SIGMOID", "Affine": "EO_RNN_AFFINE", "LeakyRelu": "EO_RNN_LEAKY_RELU",
          "ThresholdedRelu": "EO_RNN_THRESHOLDED_RELU", "ScaledTanh": "EO_RNN_SCALED_TANH", "Elu": "EO_RNN_ELU",
          "Softsign": "EO_RNN_SOFTSIGN", "Softplus": "EO_RNN_SOFTPLUS"}
# (alpha, beta) defaults of the activations that take them (those of the ONNX ops of the name;
# None: the activation takes no such parameter, so it consumes nothing from the lists)
_PARAMETERS = {"HardSigmoid": (0.2, 0.5), "Affine": (1.0, 0.0), "LeakyRelu": (0.01, None),
               "ThresholdedRelu": (1.0, None), "ScaledTanh": (1.0, 1.0), "Elu": (1.0, None)}


def _geometry(ctx):
    """(seq, batch, input, hidden, directions, layout) after checking what the kernel supports."""
    op = ctx.node.op_type
    layout = ctx.integer("layout", 0)
    shape = ctx.shape(0)
    if len(shape) != 3 or layout not in (0, 1):
        ctx.unsupported(f"X must be rank 3 with layout 0 or 1; found {tuple(shape)}, layout {layout}")
    seq, batch = (shape[0], shape[1]) if layout == 0 else (shape[1], shape[0])
    direction = ctx.attr("direction", "forward")
    if direction not in ("forward", "reverse", "bidirectional"):
        ctx.unsupported(f"direction {direction!r}")
    directions = 2 if direction == "bidirectional" else 1
    lens = ctx.const(4)
    if lens is not None and (np.shape(lens) != (batch,) or np.any(np.asarray(lens) < 0)
                             or np.any(np.asarray(lens) > seq)):
        ctx.unsupported(f"sequence_lens {np.asarray(lens).tolist()} must give 0..{seq} steps for each of {batch} rows")
    if lens is None and ctx.has_input(4) and (ctx.graph.tensor(ctx.node.input(4)).dtype != "int32"
                                              or tuple(ctx.shape(4)) != (batch,)):
        tensor = ctx.graph.tensor(ctx.node.input(4))
        ctx.unsupported(f"sequence_lens at run time must be int32 of shape ({batch},); found {tensor.dtype} "
                        f"{tuple(tensor.shape)}")
    w = ctx.require_const(1, "W")
    ctx.require_const(2, "R")
    hidden = ctx.integer("hidden_size", int(np.shape(w)[1]) // _GATES[op])
    if np.shape(w) != (directions, _GATES[op] * hidden, shape[2]):
        ctx.unsupported(f"W has shape {np.shape(w)}; expected {(directions, _GATES[op] * hidden, shape[2])}")
    if op == "LSTM" and ctx.has_input(7) and np.shape(ctx.require_const(7, "P (peepholes)")) != (directions, 3 * hidden):
        ctx.unsupported(f"P (peepholes) must have shape {(directions, 3 * hidden)}")
    return seq, batch, shape[2], hidden, directions, layout


def _activations(ctx, directions):
    names = ctx.attr("activations") or _DEFAULT_ACTIVATIONS[ctx.node.op_type] * directions
    alphas, betas = list(ctx.attr("activation_alpha") or []), list(ctx.attr("activation_beta") or [])
    per = len(_DEFAULT_ACTIVATIONS[ctx.node.op_type])
    if len(names) != per * directions:
        ctx.unsupported(f"activations {names}: expected {per * directions}")
    result = []
    for index, name in enumerate(names):
        name = name.decode() if isinstance(name, bytes) else str(name)
        kind = next((k for k in _KINDS if k.lower() == name.lower()), None)
        if kind is None:
            ctx.unsupported(f"activation {name!r} is not one of ONNX's ({', '.join(_KINDS)})")
        alpha, beta = _PARAMETERS.get(kind, (None, None))  # the lists are consumed in order
        alpha = (alphas.pop(0) if alphas else alpha) if alpha is not None else 0.0
        beta = (betas.pop(0) if betas else beta) if beta is not None else 0.0
        result.append(dict(kind=_KINDS[kind], alpha=float(alpha), beta=float(beta)))
    padded = []
    for d in range(directions):
        own = result[d * per:(d + 1) * per]
        padded += own + [dict(kind="EO_RNN_TANH", alpha=0.0, beta=0.0)] * (3 - per)
    return padded


def _infer(ctx):
    seq, batch, _, hidden, directions, layout = _geometry(ctx)
    y = (seq, directions, batch, hidden) if layout == 0 else (batch, seq, directions, hidden)
    state = (directions, batch, hidden) if layout == 0 else (batch, directions, hidden)
    return [y, state, state][:3 if ctx.node.op_type == "LSTM" else 2]


def _lower(ctx, lc):
    seq, batch, size, hidden, directions, layout = _geometry(ctx)
    x_step, x_batch = (batch * size, size) if layout == 0 else (size, seq * size)
    if layout == 0:  # Y [seq][dirs][batch][hidden], states [dirs][batch][hidden]
        y_strides = (directions * batch * hidden, batch * hidden, hidden)
        state = (batch * hidden, hidden)
    else:  # Y [batch][seq][dirs][hidden], states [batch][dirs][hidden]
        y_strides = (directions * hidden, hidden, seq * directions * hidden)
        state = (hidden, directions * hidden)
    outputs = list(ctx.node.outputs) + [""] * 3
    lens = ctx.const(4)  # None when absent or an input

    def pointer(name):
        return lc.buffer(name) if name else "NULL"

    def packed(matrices, label):  # per direction, packed for the dense kernel
        return lc.weight(np.concatenate([pack_dense(m) for m in matrices]), label)

    w, r = np.asarray(ctx.const(1), np.float32), np.asarray(ctx.const(2), np.float32)
    r_h = "NULL"
    if ctx.node.op_type == "GRU":  # the h rows apart: without linear_before_reset they multiply r * h
        r_h = packed([m[2 * hidden:] for m in r], "recurrent_h_weights")
        r = r[:, :2 * hidden]

    return Call("ops/recurrent.c.j2", dict(
        cell=f"EO_CELL_{ctx.node.op_type}", seq=seq, batch=batch, input=size, hidden=hidden,
        directions=directions, reverse=int(ctx.attr("direction", "forward") == "reverse"),
        linear_before_reset=ctx.integer("linear_before_reset", 0), x_step=x_step, x_batch=x_batch,
        y_step=y_strides[0], y_dir=y_strides[1], y_batch=y_strides[2], state_dir=state[0], state_batch=state[1],
        activations=_activations(ctx, directions), cell_clip=ctx.number("cell_clip", 0.0),
        clip=ctx.number("clip", 0.0),
        sequence_lens=(lc.weight(np.asarray(lens, np.int32), "sequence_lens") if lens is not None
                       else pointer(ctx.node.input(4))),
        runtime_lens=lens is None and ctx.has_input(4),
        peepholes=lc.weight(np.asarray(ctx.const(7), np.float32), "peepholes") if ctx.has_input(7) else "NULL",
        input_forget=int(bool(ctx.integer("input_forget", 0))) if ctx.node.op_type == "LSTM" else 0,
        x=pointer(ctx.node.input(0)), w=packed(w, "input_weights"), r=packed(r, "recurrent_weights"), r_h=r_h,
        b=pointer(ctx.node.input(3)), h0=pointer(ctx.node.input(5)),
        c0=pointer(ctx.node.input(6)) if ctx.node.op_type == "LSTM" else "NULL",
        y=pointer(outputs[0]), y_h=pointer(outputs[1]),
        y_c=pointer(outputs[2]) if ctx.node.op_type == "LSTM" else "NULL",
        scratch=lc.scratch(ctx),
    ))


def _scratch(ctx):
    _, _, _, hidden, _, _ = _geometry(ctx)
    return 4 * (2 * _GATES[ctx.node.op_type] * hidden + 2 * hidden)


def _tangent(ctx, tc):
    """The outputs' tangents from X's and the initial states' (the weights are constants):
    the runtime runs the recurrence again, carrying one state tangent per seed row. X as the
    model input itself needs no identity seeds: its rows are columns of W."""
    call = _lower(ctx, tc.lowering)
    node = ctx.node
    x, outputs = node.input(0), list(node.outputs) + [""] * 3

    def tangent_or_null(name):
        return tc.tangent(name) if tc.has_tangent(name) else "NULL"

    seeded = tc.is_seed(x)
    return [Call("tangents/recurrent.c.j2", dict(
        call.args, rows=tc.rows, dx="NULL" if seeded else tangent_or_null(x), x_size=tc.size(x),
        x_seed=tc.first_input if seeded else -1, dh0=tangent_or_null(node.input(5)),
        dc0=tangent_or_null(node.input(6)) if node.op_type == "LSTM" else "NULL",
        state_size=tc.size(outputs[1]) if outputs[1] else 0, y_size=tc.size(outputs[0]) if outputs[0] else 0,
        dy=tangent_or_null(outputs[0]), dy_h=tangent_or_null(outputs[1]),
        dy_c=tangent_or_null(outputs[2]) if node.op_type == "LSTM" else "NULL",
        tangent_scratch=tc.scratch()))]


def _tangent_scratch(ctx, rows):
    _, _, _, hidden, _, _ = _geometry(ctx)
    return 6 * _GATES[ctx.node.op_type] * hidden + 5 * hidden + 2 * rows * hidden


OPS = tuple(OpDef(op, _infer, None, _lower, scratch=_scratch, tangent=_tangent,
                  tangent_scratch=_tangent_scratch, int32_inputs=(4,)) for op in _GATES)
