"""Model Jacobians generated from the same IR as the forward pass (forward mode): each node
computes its value and its tangent (one row per input direction) with the op's tangent rule
(OpDef.tangent). Sharing the LoweringContext with the forward pass means both functions use
the same weight arrays. Values and tangents live in one static work array, placed by
liveness like the arena."""
from __future__ import annotations

import numpy as np

from edgeopt.codegen.emit import Extension, activation_code, op_label
from edgeopt.codegen.names import c_comment
from edgeopt.errors import UnsupportedError, unsupported_summary
from edgeopt.ops.elementwise import activation_tangent
from edgeopt.ops.registry import NodeUnsupported, OpContext
from edgeopt.passes.plan_memory import assign_offsets

FD_HINT = 'set jacobian = "finite_difference" in [mpc] to use finite differences instead'


def jacobian_extension(prefix: str, method: str = "exact", variants=(("", 0),)):
    """Adds, per variant (suffix, first_input), `void <prefix>_jacobian<suffix>(const float
    *z, float *y, float *jt)`: y = f(z) and jt[i][j] = d y_j / d z_(first_input + i) (a
    solver needs only the control columns where the state sensitivity is zero). The
    variants share one work array: they never run at the same time."""

    def extend(lc, env, graph, registry):
        if len(graph.inputs) != 1 or len(graph.outputs) != 1:
            raise UnsupportedError("the solver's model must have one input and one output")
        z_name, y_name = graph.inputs[0], graph.outputs[0]
        n_in, n_out = graph.tensor(z_name).size, graph.tensor(y_name).size
        work = lc.pool.symbol(f"{prefix}_jacobian_work")
        functions, declarations, work_floats = [], [], 0
        for suffix, first_input in variants:
            function = f"{prefix}_jacobian{suffix}"
            rows = n_in - first_input
            if method == "exact":
                code, floats = _forward_mode(function, work, lc, env, graph, registry, first_input)
            else:
                code, floats = env.get_template("model/jacobian_fd.c.j2").render(
                    function=function, work=work, invoke=f"{prefix}_invoke", n_in=n_in, n_out=n_out,
                    rows=rows, first_input=first_input), n_in + 2 * n_out
            functions.append(code)
            work_floats = max(work_floats, floats)
            declarations.append(env.get_template("model/jacobian.h.j2").render(
                function=function, rows=rows, n_out=n_out, first_input=first_input, method=method))
        code = f"\nstatic float {work}[{max(work_floats, 1)}];\n" + "".join(functions)
        return Extension(code, "\n\n".join(declarations), 4 * max(work_floats, 1))

    return extend


class TangentContext:
    """What an op's tangent rule may ask of codegen: value and tangent buffers, weights."""

    def __init__(self, lc, values, tangents, input_name, seeds, first_input):
        self._lc, self.values, self.tangents = lc, values, tangents
        self.lowering = _ValueContext(lc, values)  # the forward lowering, on the work array
        self.seed_names = {input_name}  # the model input and its views
        self.stacked_names = set()  # value and tangent rows adjacent: [value][tangent rows]
        self.seeds, self.first_input, self.rows = seeds, first_input, len(seeds)
        self.node_scratch = None

    def value(self, name):
        return self.values[name]

    def tangent(self, name):
        if self.is_seed(name):  # identity seeds, in flash only where a rule needs them
            symbol = self._lc.weight(self.seeds, "jacobian_seed", per_node=False)
            self.tangents.update({seed: symbol for seed in self.seed_names})
        return self.tangents[name]

    def is_seed(self, name):
        return name in self.seed_names and name not in self.tangents

    def stacked(self, name):
        """True where the tangent rows directly follow the value in the work array, so one
        kernel call can run through both."""
        return name in self.stacked_names

    def has_tangent(self, name):
        """False for constants: they do not depend on the model input."""
        return bool(name) and (self.is_seed(name) or name in self.tangents)

    def scratch(self):
        """The work floats the node's OpDef.tangent_scratch asked for."""
        return self.node_scratch

    def alias(self, source, view):
        if self.is_seed(source):
            self.seed_names.add(view)
        else:
            self.tangents[view] = self.tangents[source]
            if source in self.stacked_names:
                self.stacked_names.add(view)

    def weight(self, array, label):
        return self._lc.weight(array, label)

    def size(self, name):
        return self._lc.size(name)


class _ValueContext:
    """The LoweringContext with run-time tensors and kernel scratch in the Jacobian's work
    array (the arena belongs to the forward pass)."""

    def __init__(self, lc, values):
        self._lc, self._values = lc, values
        self.scratch_offsets = {}

    def buffer(self, name):
        return self._values.get(name) or self._lc.buffer(name)

    def scratch(self, ctx):
        offset = self.scratch_offsets.get(ctx.node.outputs[0])
        return "NULL" if offset is None else f"(eo_work + {offset})"

    def in_place(self, ctx):
        return None  # the work array is planned without in-place layers

    def __getattr__(self, attr):
        return getattr(self._lc, attr)


def _plan_work(graph, registry, z_name, rows):
    """Work-array offsets (floats) of each node output's value and tangent (its rows right
    after the value's), and of the scratch a tangent rule asks for, placed by liveness."""
    root, produced, last = {z_name: None}, {}, {}
    end = len(graph.nodes)
    for step, node in enumerate(graph.nodes):
        for name in node.inputs:
            if name and root.get(name) is not None:
                last[root[name]] = step
        opdef = registry[node.op_type]
        if opdef.alias:
            root[node.outputs[0]] = root.get(node.inputs[0])
            continue
        for out in filter(None, node.outputs):
            root[out] = out
            produced[("stack", out)] = (step, graph.tensor(out).size * (1 + rows))
            last[out] = step
        if opdef.scratch is not None:  # the forward kernel's, in the work array here
            produced[("value_scratch", node.outputs[0])] = (step, -(-opdef.scratch(OpContext(node, graph)) // 4))
        if opdef.tangent_scratch is not None:
            floats = opdef.tangent_scratch(OpContext(node, graph), rows)
            produced[("scratch", node.outputs[0])] = (step, floats)
    for name in graph.outputs:
        if root.get(name) is not None:
            last[root[name]] = end
    intervals = {key: (step, last[key[1]] if key[0] == "stack" else step) for key, (step, _) in produced.items()}
    sizes = {key: 4 * floats for key, (_, floats) in produced.items()}
    offsets, total = assign_offsets(intervals, sizes)
    floats = {key: offset // 4 for key, offset in offsets.items()}
    for kind, name in [key for key in floats if key[0] == "stack"]:
        floats[("value", name)] = floats[(kind, name)]
        floats[("tangent", name)] = floats[(kind, name)] + graph.tensor(name).size
    return floats, total // 4


def _forward_mode(function, work, lc, env, graph, registry, first_input):
    z_name, y_name = graph.inputs[0], graph.outputs[0]
    n_in = graph.tensor(z_name).size
    seeds = np.eye(n_in, dtype=np.float32)[first_input:]
    offsets, floats = _plan_work(graph, registry, z_name, len(seeds))
    values, tangents = {z_name: "z"}, {}
    tc = TangentContext(lc, values, tangents, z_name, seeds, first_input)
    view = tc.lowering
    view.scratch_offsets = {key[1]: offset for key, offset in offsets.items() if key[0] == "value_scratch"}
    blocks, problems = [], []
    for node in graph.nodes:
        opdef, out = registry[node.op_type], node.outputs[0]
        if opdef.alias:
            values[out] = values[node.inputs[0]]
            tc.alias(node.inputs[0], out)
            continue
        lc.node_id = lc.node_ids[id(node)]
        for name in filter(None, node.outputs):
            values[name] = f"(eo_work + {offsets[('value', name)]})"
            tangents[name] = f"(eo_work + {offsets[('tangent', name)]})"
            tc.stacked_names.add(name)
        scratch = offsets.get(("scratch", out))
        tc.node_scratch = None if scratch is None else f"(eo_work + {scratch})"
        ctx = OpContext(node, graph)
        try:
            if opdef.tangent is None:
                raise NodeUnsupported("no derivative rule for this op")
            calls = list(opdef.tangent(ctx, tc))
            if "activation" in node.attrs:
                op_type, params = node.attrs["activation"]
                source = None
                if calls and calls[-1].template == "ops/copy.c.j2" and calls[-1].args["y"] == tangents[out]:
                    source = calls.pop().args["x"]  # scaled on the way instead of copied first
                calls.append(activation_tangent(op_type, params, values[out], tangents[out], tc.rows,
                                                lc.size(out), source))
            value = [c for c in calls if c.computes_value] or [opdef.lower(ctx, view)]
        except NodeUnsupported as exc:
            problems.append((node.op_type, node.name, f"{exc}; {FD_HINT}"))
            continue
        render = [env.get_template(c.template).render(**c.args).strip() for c in value]
        code = ["\n".join(render) + activation_code(node, view, env, registry)]
        code += [env.get_template(c.template).render(**c.args).strip() for c in calls if not c.computes_value]
        blocks.append(dict(comment=f"{c_comment(node.name)} ({op_label(node)}): value and tangent",
                           code="\n".join(code)))
    if problems:
        raise UnsupportedError("no exact Jacobian for the solver's model:\n" + unsupported_summary(problems))
    return env.get_template("model/jacobian.c.j2").render(
        function=function, work=work, blocks=blocks, value_y=values[y_name], tangent_y=tc.tangent(y_name),
        rows=len(seeds), n_out=graph.tensor(y_name).size, first_input=first_input), floats
