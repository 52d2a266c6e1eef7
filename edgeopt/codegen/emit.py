"""Lower every node to a kernel call and render the model's C files from templates."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgeopt import __version__
from edgeopt.codegen.literals import array_rows, c_ints, c_type, f32
from edgeopt.codegen.names import NamePool, c_comment, c_identifier
from edgeopt.codegen.render import make_environment
from edgeopt.errors import UnsupportedError, unsupported_summary
from edgeopt.ops.registry import NodeUnsupported, OpContext
from edgeopt.passes import plan_memory

# Local identifiers of the generated invoke function that tensor names must not take.
_RESERVED = {"arena", "params", "shape", "pad", "a_offsets", "b_offsets", "eo_act_t"}


@dataclass
class TensorInfo:
    name: str  # as in the model
    c_name: str
    shape: tuple
    dtype: str = "float32"

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def ctype(self) -> str:
        return c_type(self.dtype)

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize


@dataclass
class StepInfo:
    index: int
    op_type: str
    sources: list  # model node names this step computes
    output: str  # model tensor name the step writes
    size: int


@dataclass
class GeneratedModel:
    name: str
    files: dict  # file name -> text
    inputs: list
    outputs: list
    steps: list
    arena_bytes: int
    peak_bytes: int
    weight_bytes: int
    parameters: int
    layers: list = field(default_factory=list)  # (op, node name, output shape) for the summary


class LoweringContext:
    """What an op's lower() may ask of codegen: C expressions for tensors and weights."""

    def __init__(self, graph, plan, prefix, pool, io_names):
        self.graph, self.plan, self.prefix, self.pool = graph, plan, prefix, pool
        self.io_names = io_names
        self.weights = []  # (symbol, array, comment)
        self.weight_symbols = {}  # (shape, bytes) -> symbol
        self.const_symbols = {}
        self.node_id = "node"

    def buffer(self, name: str) -> str:
        kind, where = self.plan.storage[name]
        if kind == "const":
            if name not in self.const_symbols:
                self.const_symbols[name] = self.weight(self.graph.constant(name), c_identifier(name),
                                                       f"constant {c_comment(name)}", per_node=False)
            return self.const_symbols[name]
        if kind in ("input", "output"):  # views of an I/O tensor share its parameter
            return self.io_names[(kind, where)]
        dtype = self.graph.tensor(name).dtype
        if dtype == "float32":
            return f"(arena + {where // 4})"
        return f"(({c_type(dtype)} *)(void *)(arena + {where // 4}))"  # offsets are 4-aligned

    def weight(self, array, label, comment="", per_node=True, guard=None, variant=False,
               align=None) -> str:
        """A static const array in flash; identical contents share one symbol. Integer
        arrays (quantized weights, biases) keep their type; the rest become float32.
        guard: a preprocessor condition under which the array exists; variant: a second layout
        of parameters already counted (a target-specific kernel's copy); align: bytes of
        alignment a kernel needs (GCC attribute; use only under a compiler-specific guard)."""
        array = np.asarray(array)
        keep = array.dtype in (np.int8, np.int16, np.int32, np.uint8)
        array = np.ascontiguousarray(array if keep else array.astype(np.float32))
        key = (array.shape, array.dtype.name, array.tobytes(), guard)
        if key in self.weight_symbols:
            return self.weight_symbols[key]
        base = f"{self.prefix}_{self.node_id}_{label}" if per_node else f"{self.prefix}_{label}"
        symbol = self.pool.unique(base)
        self.weights.append((symbol, array, comment or f"{label} of {self.node_id}", guard, variant,
                             align))
        self.weight_symbols[key] = symbol
        return symbol

    def scratch(self, ctx) -> str:
        offset = self.plan.scratch.get(id(ctx.node))
        return "NULL" if offset is None else f"(arena + {offset // 4})"

    def size(self, name: str) -> int:
        return self.graph.tensor(name).size

    def activation_call(self, node) -> str:
        """The fused activation as a call on the step's output, in place; or ""."""
        if "activation" not in node.attrs:
            return ""
        function, params = node.attrs["activation"]
        y, size = self.buffer(node.outputs[0]), self.size(node.outputs[0])
        return f"\n{function}({y}, {y}, {size}{''.join(', ' + f32(p) for p in params)});"


def generate(graph, registry, name: str, options_text: str = "", extensions=()) -> GeneratedModel:
    """extensions: callables (lc, env, graph, registry) -> (C code, header declarations)
    that add functions sharing the model's weights (e.g. a solver's model Jacobian)."""
    prefix = name
    upper = name.upper()
    plan = plan_memory(graph, registry)
    pool = NamePool(_RESERVED | {prefix, f"{prefix}_invoke", f"{prefix}_arena"})
    _check_dtypes(graph, registry)

    io_names, inputs, outputs = {}, [], []  # io_names: ("input"|"output", index) -> parameter
    for kind, names, infos in (("input", graph.inputs, inputs), ("output", graph.outputs, outputs)):
        for index, tensor_name in enumerate(names):
            c_name = pool.unique(tensor_name, "io")
            io_names[(kind, index)] = c_name
            tensor = graph.tensor(tensor_name)
            infos.append(TensorInfo(tensor_name, c_name, tuple(tensor.shape), tensor.dtype))
    lc = LoweringContext(graph, plan, prefix, pool, io_names)

    steps, blocks, layers = [], [], []
    env = make_environment()
    for info in outputs:  # outputs that are inputs or constants: copy first
        if info.name in graph.inputs or graph.tensor(info.name).is_constant:
            src = lc.buffer(info.name)
            blocks.append(dict(comment=f"output {c_comment(info.name)} is not computed: copy it",
                               code=_copy_code(src, info.c_name, graph.tensor(info.name)), trace=None))

    problems = []
    for node in graph.nodes:
        opdef = registry[node.op_type]
        lc.node_id = pool.unique(node.name, "node")
        ctx = OpContext(node, graph)
        out = node.outputs[0]
        if opdef.alias and id(node) not in plan.copies:
            continue
        try:
            if opdef.alias:
                code = _copy_code(lc.buffer(node.inputs[0]), lc.buffer(out), graph.tensor(out))
            else:
                call = opdef.lower(ctx, lc)
                code = env.get_template(call.template).render(**call.args).strip()
                code += lc.activation_call(node)
        except NodeUnsupported as exc:
            problems.append((node.op_type, node.name, str(exc)))
            continue
        index = len(steps)
        shape_in = "x".join(str(d) for d in graph.tensor(node.inputs[0]).shape) if node.inputs and node.inputs[0] else ""
        shape_out = "x".join(str(d) for d in graph.tensor(out).shape)
        fused = node.sources[1:]
        comment = f"[{index}] {c_comment(node.name)} ({_op_label(node)}"
        comment += f"): {shape_in} -> {shape_out}"
        if fused:
            comment += f"; also computes {c_comment(', '.join(fused))}"
        steps.append(StepInfo(index, node.op_type, list(node.sources), out, lc.size(out)))
        layers.append((_op_label(node), node.name, graph.tensor(out).shape))
        blocks.append(dict(comment=comment, code=code,
                           trace=f"EO_TRACE({index}, {lc.buffer(out)}, {lc.size(out)});"))
    if problems:
        raise UnsupportedError(unsupported_summary(problems))

    extra_code, extra_decls = [], []
    for extend in extensions:
        code, decls = extend(lc, env, graph, registry)
        extra_code.append(code)
        extra_decls.append(decls)
    weight_bytes = sum(array.nbytes for _, array, _, _, variant, _ in lc.weights if not variant)
    parameters = sum(array.size for _, array, _, _, variant, _ in lc.weights if not variant)
    banner = _banner(graph, options_text)
    context = dict(
        banner=banner, prefix=prefix, upper=upper, inputs=inputs, outputs=outputs,
        weights=[dict(symbol=s, size=a.size, ctype=c_type(a.dtype), rows=array_rows(a), comment=c,
                      guard=g, align=al) for s, a, c, g, _, al in lc.weights],
        arena_bytes=plan.arena_bytes, arena_floats=plan.arena_bytes // 4, peak_bytes=plan.peak_bytes,
        weight_bytes=weight_bytes, blocks=blocks, c_ints=c_ints,
        input_comments=[c_comment(i.name) for i in inputs],
        extra_code=extra_code, extra_decls=extra_decls,
        output_comments=[c_comment(o.name) for o in outputs],
    )
    files = {
        f"{name}.h": env.get_template("model/model.h.j2").render(**context),
        f"{name}.c": env.get_template("model/model.c.j2").render(**context),
    }
    return GeneratedModel(name, files, inputs, outputs, steps, plan.arena_bytes, plan.peak_bytes,
                          weight_bytes, parameters, layers)


def _copy_code(src, dst, tensor):
    if tensor.dtype == "float32":
        return f"eo_copy_f32({src}, {dst}, {tensor.size});"
    return f"eo_copy_blocks_bytes({src}, {dst}, 1, {tensor.nbytes}, {tensor.nbytes});"


def _op_label(node):
    """Op type plus a fused activation, e.g. "Conv+relu"."""
    if "activation" not in node.attrs:
        return node.op_type
    return f"{node.op_type}+{node.attrs['activation'][0][3:-4]}"


def _check_dtypes(graph, registry):
    """Every run-time tensor must have a type its op's kernel takes (constants such as
    shapes may not); model inputs and outputs are float32 or int8."""
    problems = []
    for node in graph.nodes:
        allowed = registry[node.op_type].dtypes
        if allowed is None:
            continue
        for tensor_name in dict.fromkeys(n for n in node.inputs + node.outputs if n):
            tensor = graph.tensor(tensor_name)
            if not tensor.is_constant and tensor.dtype not in allowed:
                problems.append((node.op_type, node.name,
                                 f"tensor {tensor_name!r} is {tensor.dtype}; the kernel takes "
                                 f"{' or '.join(allowed)}"))
                break
    for tensor_name in graph.inputs + graph.outputs:
        tensor = graph.tensor(tensor_name)
        if tensor.dtype not in ("float32", "int8") and not problems:
            problems.append(("(graph)", tensor_name,
                             f"model input/output is {tensor.dtype}; edgeopt supports float32 and int8 I/O"))
    if problems:
        raise UnsupportedError(unsupported_summary(problems))


def _banner(graph, options_text):
    source = c_comment(graph.metadata.get("source_name", graph.name), 80)
    digest = graph.metadata.get("source_sha256", "n/a")
    lines = [
        f"Generated by edgeopt {__version__} from {source}",
        f"source sha256: {digest}",
    ]
    if options_text:
        lines.append(f"options: {c_comment(options_text, 200)}")
    lines.append("Do not edit: regenerate with `edgeopt compile`.")
    return lines
