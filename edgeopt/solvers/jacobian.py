"""Model Jacobians generated from the same IR as the forward pass (forward mode): each
node computes its value and its tangent, one row per input direction. Sharing the
LoweringContext with the forward pass means both functions use the same weight arrays."""
from __future__ import annotations

import numpy as np

from edgeopt.codegen.literals import f32
from edgeopt.errors import UnsupportedError, unsupported_summary
from edgeopt.ops.linear import dense_form, pack_dense
from edgeopt.ops.registry import NodeUnsupported, OpContext

# activation function -> (tangent kind, parameter positions copied into alpha/beta)
_TANGENTS = {
    "eo_tanh_f32": "EO_TANGENT_TANH",
    "eo_sigmoid_f32": "EO_TANGENT_SIGMOID",
    "eo_relu_f32": "EO_TANGENT_RELU",
    "eo_leaky_relu_f32": "EO_TANGENT_LEAKY_RELU",
    "eo_clip_f32": "EO_TANGENT_CLIP",
    "eo_elu_f32": "EO_TANGENT_ELU",
    "eo_selu_f32": "EO_TANGENT_SELU",
}
FD_HINT = 'set jacobian = "finite_difference" in [mpc] to use finite differences instead'


class _TensorContext:
    """A LoweringContext view whose run-time tensors live in the Jacobian's own buffers."""

    def __init__(self, lc, values):
        self._lc, self._values = lc, values

    def buffer(self, name):
        return self._values.get(name) or self._lc.buffer(name)

    def __getattr__(self, attr):
        return getattr(self._lc, attr)

    def activation_call(self, node):
        return type(self._lc).activation_call(self, node)


def jacobian_extension(prefix: str, method: str = "exact", suffix: str = "", first_input: int = 0):
    """Adds `void <prefix>_jacobian<suffix>(const float *z, float *y, float *jt)`: y = f(z)
    and jt[i][j] = d y_j / d z_(first_input + i), for the inputs from first_input on (a
    solver needs only the control columns where the state sensitivity is zero)."""

    def extend(lc, env, graph, registry):
        if len(graph.inputs) != 1 or len(graph.outputs) != 1:
            raise UnsupportedError("the solver's model must have one input and one output")
        z_name, y_name = graph.inputs[0], graph.outputs[0]
        n_in, n_out = graph.tensor(z_name).size, graph.tensor(y_name).size
        name = f"{prefix}_jacobian{suffix}"
        seeds = np.eye(n_in, dtype=np.float32)[first_input:]
        header = (f"/* y = f(z) and jt[i][j] = d y_j / d z_(i+{first_input}) ({len(seeds)} x {n_out}), "
                  f"{'finite differences' if method != 'exact' else 'exact, forward mode'} */\n"
                  f"void {name}(const float *z, float *y, float *jt);")
        if method != "exact":
            return _finite_difference(prefix, name, n_in, n_out, first_input), header
        return _forward_mode(name, lc, env, graph, registry, z_name, y_name, seeds, first_input), header

    return extend


def _finite_difference(prefix, name, n_in, n_out, first_input):
    invoke = f"{prefix}_invoke"
    return f"""
void {name}(const float *z, float *y, float *jt)
{{
    static float zp[{n_in}], yp[{n_out}], ym[{n_out}];
    int32_t i, j;
    (void){invoke}(z, y);
    for (i = 0; i < {n_in}; ++i) {{
        zp[i] = z[i];
    }}
    for (i = {first_input}; i < {n_in}; ++i) {{
        /* central differences, step relative to |z_i| */
        const float h = 1e-3f * (1.0f + (z[i] < 0.0f ? -z[i] : z[i]));
        zp[i] = z[i] + h;
        (void){invoke}(zp, yp);
        zp[i] = z[i] - h;
        (void){invoke}(zp, ym);
        zp[i] = z[i];
        for (j = 0; j < {n_out}; ++j) {{
            jt[(i - {first_input}) * {n_out} + j] = (yp[j] - ym[j]) / (2.0f * h);
        }}
    }}
}}
"""


class _Tangents(dict):
    """Tangent buffers by tensor; the input's (an identity matrix in flash) is only
    materialized when a rule needs it."""

    def __init__(self, lc, input_name, seeds, first_input):
        super().__init__()
        self._lc, self.input_name, self.seeds, self.first_input = lc, input_name, seeds, first_input

    def __missing__(self, name):
        if name != self.input_name:
            raise KeyError(name)
        symbol = self._lc.weight(self.seeds, "jacobian_seed", per_node=False)
        self[name] = symbol
        return symbol


def _forward_mode(prefix, lc, env, graph, registry, z_name, y_name, seeds, first_input):
    n_in = len(seeds)  # tangent rows
    values = {z_name: "z"}
    tangents = _Tangents(lc, z_name, seeds, first_input)
    statics, body, problems = [], [], []
    ctx_view = _TensorContext(lc, values)
    for index, node in enumerate(graph.nodes):
        opdef = registry[node.op_type]
        out = node.outputs[0]
        if opdef.alias:
            values[out], tangents[out] = values[node.inputs[0]], tangents[node.inputs[0]]
            continue
        size = graph.tensor(out).size
        value, tangent = f"{prefix}_jv{index}", f"{prefix}_jt{index}"
        statics += [f"static float {value}[{size}];", f"static float {tangent}[{size * n_in}];"]
        values[out], tangents[out] = value, tangent
        ctx = OpContext(node, graph)
        try:
            rule = _tangent_rule(ctx, lc, tangents, tangent, n_in, size)
            call = opdef.lower(ctx, ctx_view)
        except NodeUnsupported as exc:
            problems.append((node.op_type, node.name, f"{exc}; {FD_HINT}"))
            continue
        code = env.get_template(call.template).render(**call.args).strip()
        code += ctx_view.activation_call(node)
        fused = node.attrs.get("activation")
        if fused:
            rule += "\n" + _activation_tangent(fused, value, tangent, n_in, size)
        body.append(f"/* {node.op_type}: value and tangent */\n{code}\n{rule}")
    if problems:
        raise UnsupportedError("no exact Jacobian for the solver's model:\n" + unsupported_summary(problems))
    n_out = graph.tensor(y_name).size
    body.append(f"eo_copy_f32({values[y_name]}, y, {n_out});\n"
                f"eo_copy_f32({tangents[y_name]}, jt, {n_in * n_out});")
    indented = "\n".join("    " + line if line else line for line in "\n\n".join(body).splitlines())
    return "\n" + "\n".join(statics) + f"""

void {prefix}(const float *z, float *y, float *jt)
{{
{indented}
}}
"""


def _activation_tangent(fused, value, tangent, rows, size):
    function, params = fused
    kind = _TANGENTS.get(function)
    if kind is None or (function == "eo_leaky_relu_f32" and params[0] <= 0):
        raise NodeUnsupported(f"no derivative rule for {function[3:-4]}")
    alpha, beta = (list(params) + [0.0, 0.0])[:2]
    return (f"eo_activation_tangent_f32({kind}, {value}, {tangent}, {rows}, {size}, "
            f"{f32(alpha)}, {f32(beta)});")


def _tangent_rule(ctx, lc, tangents, tangent, rows, size):
    """C code computing the node's tangent from its inputs' tangents."""
    node, op = ctx.node, ctx.node.op_type
    if "activation" in node.attrs:
        _activation_tangent(node.attrs["activation"], "", "", rows, size)  # check it has a rule
    if op in ("Gemm", "MatMul"):
        dense = dense_form(ctx)
        if dense is None or ctx.const(0) is not None:
            raise NodeUnsupported("only dense layers with constant weights are differentiated")
        m, outs, ins, weights, _ = dense
        w = lc.weight(pack_dense(np.asarray(weights, np.float32).reshape(outs, ins)), "weights")
        if node.inputs[0] == tangents.input_name and node.inputs[0] not in tangents:
            # the first layer's tangent on identity seeds is its weights, transposed
            first = np.asarray(weights, np.float32).reshape(outs, ins).T[tangents.first_input:]
            first = np.ascontiguousarray(first)
            if m == 1:
                return f"eo_copy_f32({lc.weight(first, 'tangent_seed')}, {tangent}, {rows * outs});"
        # many tangent rows: the two-rows-per-pass kernel shares each weight load
        return (f"eo_dense_strided_f32({tangents[node.inputs[0]]}, {w}, NULL, {tangent}, {rows * m}, "
                f"{outs}, {ins}, {outs}, 1);")
    from edgeopt.ops.elementwise import ACTIVATIONS

    if op in ACTIVATIONS:
        function, params = ACTIVATIONS[op](ctx)
        return (f"eo_copy_f32({tangents[node.inputs[0]]}, {tangent}, {rows * size});\n"
                + _activation_tangent((function, params), f"{prefix_value(tangent)}", tangent, rows, size))
    if op in ("Add", "Sub", "Mul", "Div"):
        return _binary_tangent(ctx, lc, tangents, tangent, rows, size)
    raise NodeUnsupported("no derivative rule for this op")


def prefix_value(tangent_symbol):
    """The value buffer that goes with a tangent buffer (…_jtN -> …_jvN)."""
    head, _, index = tangent_symbol.rpartition("_jt")
    return f"{head}_jv{index}"


def _binary_tangent(ctx, lc, tangents, tangent, rows, size):
    node, op = ctx.node, ctx.node.op_type
    a, b = node.inputs[0], node.inputs[1]
    const_a, const_b = ctx.const(0), ctx.const(1)
    if const_a is None and const_b is None:
        if op in ("Mul", "Div") or tuple(ctx.shape(0)) != tuple(ctx.shape(1)):
            raise NodeUnsupported("products or broadcasts of two run-time tensors are not differentiated")
        kernel = "EO_BIN_ADD" if op == "Add" else "EO_BIN_SUB"
        return (f"{{\n    static const eo_broadcast_t shape = {{1, {{{rows * size}}}, {{1}}, {{1}}}};\n"
                f"    eo_binary_f32({kernel}, {tangents[a]}, {tangents[b]}, {tangent}, &shape);\n}}")
    runtime_index = 1 if const_a is not None else 0
    if graph_size(ctx, runtime_index) != size:
        raise NodeUnsupported("the constant operand broadcasts the run-time one")
    source = tangents[node.inputs[runtime_index]]
    out_shape = ctx.out_shape()
    if op in ("Add", "Sub") and not (op == "Sub" and runtime_index == 1):
        return f"eo_copy_f32({source}, {tangent}, {rows * size});"
    if op == "Sub":
        scale = -np.ones(size, np.float32)
    elif op == "Mul":
        scale = np.broadcast_to(const_a if const_a is not None else const_b, out_shape).reshape(-1)
    elif runtime_index == 0:
        scale = 1.0 / np.broadcast_to(const_b, out_shape).reshape(-1)
    else:
        raise NodeUnsupported("division by a run-time tensor is not differentiated")
    symbol = lc.weight(np.asarray(scale, np.float32), "tangent_scale")
    return (f"eo_copy_f32({source}, {tangent}, {rows * size});\n"
            f"eo_scale_columns_f32({symbol}, {tangent}, {rows}, {size});")


def graph_size(ctx, index):
    return int(np.prod(ctx.shape(index)))
