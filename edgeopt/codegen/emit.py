"""Lower every node to a kernel call and render the model's C files from templates."""
from __future__ import annotations

import contextlib
import dataclasses
import re
from dataclasses import dataclass

import numpy as np

from edgeopt import __version__
from edgeopt.artifact import ALWAYS, DSP, PORTABLE, Artifact, Memory, TensorSpec, packed_offsets, packed_size
from edgeopt.codegen.literals import array_rows, c_type
from edgeopt.codegen.names import NamePool, artifact_namespaces, c_comment, c_identifier
from edgeopt.codegen.render import make_environment
from edgeopt.errors import UnsupportedError, unsupported_summary
from edgeopt.ops.registry import MALFORMED, Call, NodeUnsupported, OpContext, malformed
from edgeopt.passes import plan_memory

RUNTIME_VERSION = 3  # EO_RUNTIME_VERSION of the runtime these templates call

# The model's own symbols beside those of its weights (see model.c.j2 / model.h.j2).
OWN_SYMBOLS = ("invoke", "run", "reset", "arena", "jacobian", "jacobian_u")


# trace_hook.h's names of the step outputs' types the host simulator captures per layer
TRACE_KINDS = {"float32": "EO_TRACE_F32", "int8": "EO_TRACE_S8", "uint8": "EO_TRACE_U8", "int16": "EO_TRACE_S16",
               "int32": "EO_TRACE_S32"}


@dataclass
class StepInfo:
    index: int
    op_type: str
    sources: list  # model node names this step computes
    output: str  # model tensor name the step writes
    size: int


@dataclass
class Extension:
    """What a codegen extension (e.g. a model Jacobian) adds to the model's files."""

    code: str
    declarations: str
    work_bytes: int = 0  # its static work buffers


class LoweringContext:
    """What an op's lower() may ask of codegen: C expressions for tensors and weights."""

    def __init__(self, graph, plan, prefix, pool, io_names):
        self.graph, self.plan, self.prefix, self.pool = graph, plan, prefix, pool
        self.io_names = io_names
        self.weights = []  # dicts: symbol, array, comment, when, align
        self.weight_symbols = {}  # (shape, dtype, bytes, when) -> symbol
        self.const_symbols = {}
        self.node_id = "node"  # the node being lowered: names its weights
        self.node_ids = {}  # id(node) -> its identifier, for extensions lowering it again

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
            return f"(eo_arena + {where // 4})"
        return f"(({c_type(dtype)} *)(void *)(eo_arena + {where // 4}))"  # offsets are 4-aligned

    def weight(self, array, label, comment="", per_node=True, when=ALWAYS, align=None) -> str:
        """A static const array in flash; identical contents share one symbol. Integer
        arrays (quantized weights, biases) keep their type; the rest become float32.
        when: the builds that hold it (ALWAYS, or DSP / PORTABLE for the two layouts of a
        layer whose kernel differs by core); align: bytes of alignment a kernel needs (GCC
        attribute; use only for DSP data, which only GCC-compatible compilers build)."""
        array = np.asarray(array)
        keep = array.dtype in (np.int8, np.int16, np.int32, np.uint8, np.uint16)
        array = np.ascontiguousarray(array if keep else array.astype(np.float32))
        key = (array.shape, array.dtype.name, array.tobytes(), when)
        if key in self.weight_symbols:
            return self.weight_symbols[key]
        base = f"{self.prefix}_{self.node_id}_{label}" if per_node else f"{self.prefix}_{label}"
        symbol = self.pool.symbol(c_identifier(base))
        self.weights.append(dict(symbol=symbol, array=array, when=when, align=align,
                                 comment=comment or f"{label} of {self.node_id}"))
        self.weight_symbols[key] = symbol
        return symbol

    def scratch(self, ctx) -> str:
        offset = self.plan.scratch.get(id(ctx.node))
        return "NULL" if offset is None else f"(eo_arena + {offset // 4})"

    def in_place(self, ctx):
        """How the node writes its output over its input (plan_memory chose it), or None:
        the row order, the line buffer (int8), the bytes of a row and the rows of delay."""
        chosen = self.plan.in_place.get(id(ctx.node))
        if chosen is None or chosen[0].order == "elementwise":  # its kernel runs as it is
            return None
        rule, offset = chosen
        return dict(order=rule.order, line=f"((int8_t *)(void *)(eo_arena + {offset // 4}))",
                    row_bytes=rule.row_bytes, delay=rule.delay)

    def window(self, ctx):
        """The window the node reads its input rows from while the layer producing them runs
        inside it (plan_memory chose patch-based execution), or None: the producer's context,
        the window's rows and the bytes of one."""
        window = self.plan.windows.get(id(ctx.node))
        if window is None:
            return None
        return dict(producer=OpContext(window.producer, self.graph), rows=window.rows, row_bytes=window.row_bytes)

    @contextlib.contextmanager
    def lowering(self, node):
        """Lower another node inside this one (a window's producer): its weights keep its name."""
        outer, self.node_id = self.node_id, self.node_ids[id(node)]
        try:
            yield
        finally:
            self.node_id = outer

    def size(self, name: str) -> int:
        return self.graph.tensor(name).size


def activation_code(node, lc, env, registry) -> str:
    """The fused activation as a call on the step's output, in place; or ""."""
    if "activation" not in node.attrs:
        return ""
    op_type, params = node.attrs["activation"]
    y = lc.buffer(node.outputs[0])
    return "\n" + env.get_template("ops/activation.c.j2").render(
        function=registry[op_type].kernel, params=params, x=y, y=y, size=lc.size(node.outputs[0])).strip()


def generate(graph, registry, name: str, options: dict, extensions=()) -> Artifact:
    """extensions: callables (lc, env, graph, registry) -> Extension that add functions
    sharing the model's weights (e.g. a solver's model Jacobian)."""
    prefix, upper = name, name.upper()
    if not graph.outputs:
        raise UnsupportedError(f"{graph.metadata.get('source_name', graph.name)}: the model has no outputs; "
                               "there is nothing to compute")
    plan = plan_memory(graph, registry)
    pool = NamePool({f"{prefix}_{s}" for s in OWN_SYMBOLS}, artifact_namespaces(prefix))
    _check_dtypes(graph, registry)

    io_names, inputs, outputs = {}, [], []  # io_names: ("input"|"output", index) -> parameter
    for kind, names, specs in (("input", graph.inputs, inputs), ("output", graph.outputs, outputs)):
        for index, tensor_name in enumerate(names):
            c_name = pool.unique(tensor_name, "io")
            io_names[(kind, index)] = c_name
            tensor = graph.tensor(tensor_name)
            specs.append(TensorSpec(tensor_name, c_name, tuple(tensor.shape), tensor.dtype))
    lc = LoweringContext(graph, plan, prefix, pool, io_names)

    steps, blocks, layers = [], [], []
    env = make_environment()
    for spec in outputs:  # outputs that are inputs or constants: copy first
        if spec.name in graph.inputs or graph.tensor(spec.name).is_constant:
            src = lc.buffer(spec.name)
            blocks.append(dict(comment=f"output {c_comment(spec.name)} is not computed: copy it",
                               code=_copy_code(env, src, spec.c_name, graph.tensor(spec.name)), trace=None))

    problems = []
    for node in graph.nodes:
        opdef = registry[node.op_type]
        lc.node_id = lc.node_ids[id(node)] = pool.unique(node.name, "node")
        out = next((name for name in node.outputs if name), "")  # optional outputs may be omitted
        if (opdef.alias and id(node) not in plan.copies) or id(node) in plan.windowed:
            continue  # a view; or a window's producer, which its reader runs
        try:
            if opdef.alias:
                code = _copy_code(env, lc.buffer(node.inputs[0]), lc.buffer(out), graph.tensor(out))
            else:
                call = opdef.lower(OpContext(node, graph), lc)
                code = _render(env, call)
                code += activation_code(node, lc, env, registry)
        except NodeUnsupported as exc:
            problems.append((node.op_type, node.name, str(exc)))
            continue
        except MALFORMED as exc:
            problems.append((node.op_type, node.name, malformed(exc)))
            continue
        index = len(steps)
        shape_in = ("x".join(str(d) for d in graph.tensor(node.inputs[0]).shape)
                    if node.inputs and node.inputs[0] else "")
        shape_out = "x".join(str(d) for d in graph.tensor(out).shape)
        comment = f"[{index}] {c_comment(node.name)} ({op_label(node)}): {shape_in} -> {shape_out}"
        if node.sources[1:]:
            comment += f"; also computes {c_comment(', '.join(node.sources[1:]))}"
        sources = list(node.sources)
        if id(node) in plan.windows:
            producer = plan.windows[id(node)].producer
            sources += producer.sources
            comment += f"; runs {c_comment(producer.name)} ({op_label(producer)}) inside it, a row at a time"
        steps.append(StepInfo(index, node.op_type, sources, out, lc.size(out)))
        layers.append((op_label(node), node.name, graph.tensor(out).shape))
        kind = TRACE_KINDS.get(graph.tensor(out).dtype)
        blocks.append(dict(comment=comment, code=code, trace=kind and
                           f"EO_TRACE({index}, {lc.buffer(out)}, {lc.size(out)}, {kind});"))
    if problems:
        raise UnsupportedError(unsupported_summary(problems))

    added = [extend(lc, env, graph, registry) for extend in extensions]
    work_bytes = sum(e.work_bytes for e in added)
    weights_by_build = {}
    for w in lc.weights:
        weights_by_build[w["when"]] = weights_by_build.get(w["when"], 0) + w["array"].nbytes
    parameters = sum(w["array"].size for w in lc.weights if w["when"] != DSP)
    stream = _stream_layout(graph, inputs, outputs)
    memory = Memory(weights_by_build, arena=plan.arena_bytes, scratch=plan.scratch_bytes,
                    work=work_bytes, state=8 * stream["floats"] if stream else 0,
                    code=runtime_calls("\n".join([b["code"] for b in blocks] + [e.code for e in added])))
    signature_in = stream["inputs"] if stream else inputs  # the packed entry steps the stream
    signature_out = stream["outputs"] if stream else outputs
    context = dict(
        banner=banner_lines(graph.metadata.get("source_name", graph.name),
                            graph.metadata.get("source_sha256", "n/a"), options),
        prefix=prefix, upper=upper, inputs=inputs, outputs=outputs, stream=stream,
        run_inputs=signature_in, run_outputs=signature_out,
        input_offsets=packed_offsets(signature_in), output_offsets=packed_offsets(signature_out),
        input_bytes=packed_size(signature_in), output_bytes=packed_size(signature_out),
        weights=[dict(w, size=w["array"].size, ctype=c_type(w["array"].dtype),
                      rows=array_rows(w["array"])) for w in lc.weights],
        arena_bytes=plan.arena_bytes, arena_floats=plan.arena_bytes // 4, peak_bytes=plan.peak_bytes,
        work_bytes=work_bytes, static_ram=memory.static_ram,
        weight_bytes=memory.weights_on(dsp=False), blocks=blocks, runtime_version=RUNTIME_VERSION,
        input_comments=[c_comment(i.name) for i in inputs],
        extra_code=[e.code for e in added], extra_decls=[e.declarations for e in added],
        output_comments=[c_comment(o.name) for o in outputs],
    )
    files = {
        f"{name}.h": env.get_template("model/model.h.j2").render(**context),
        f"{name}.c": env.get_template("model/model.c.j2").render(**context),
    }
    memory = dataclasses.replace(memory, own_code=own_code_bytes(files))
    return Artifact(name, "model", files, signature_in, signature_out, memory, dict(options),
                    source=graph.metadata.get("source_name", graph.name),
                    source_sha256=graph.metadata.get("source_sha256", ""),
                    layers=layers, steps=steps, parameters=parameters, peak_bytes=plan.peak_bytes,
                    in_place_layers=len(plan.in_place), windowed_layers=len(plan.windowed))


def _render(env, call) -> str:
    """A Call's code; Calls among its arguments (a window's producer) render first."""
    args = {key: _render(env, value) if isinstance(value, Call) else value for key, value in call.args.items()}
    return env.get_template(call.template).render(**args).strip()


def _stream_layout(graph, inputs, outputs):
    """With --stream: the data inputs/outputs, and each state input's and output's offset in
    the context's state array; None otherwise."""
    pairs = graph.metadata.get("stream_states")
    if not pairs:
        return None
    sizes = {spec.name: spec.size for spec in inputs}
    state_in, state_out, offset = {}, {}, 0
    for name_in, name_out in pairs:  # each state's offset in the context's state array
        state_in[name_in] = state_out[name_out] = offset
        offset += sizes[name_in]
    return dict(floats=offset, state_in=state_in, state_out=state_out,
                inputs=[s for s in inputs if s.name not in state_in],
                outputs=[s for s in outputs if s.name not in state_out])


_DSP_IF = "#if defined(__ARM_FEATURE_DSP)"


def runtime_calls(code: str) -> dict:
    """The runtime functions C code calls, by the builds that compile the call (the code's
    only conditionals are the DSP guards the templates write)."""
    calls, stack = {ALWAYS: set()}, []
    for line in code.splitlines():
        text = line.strip()
        if text.startswith(_DSP_IF):
            stack.append(DSP)
        elif text.startswith("#if !defined(__ARM_FEATURE_DSP)"):
            stack.append(PORTABLE)
        elif text.startswith("#else") and stack:
            stack[-1] = PORTABLE if stack[-1] == DSP else DSP
        elif text.startswith("#endif") and stack:
            stack.pop()
        for function in re.findall(r"\b(eo_[A-Za-z0-9_]+)\s*\(", text):
            calls.setdefault(stack[-1] if stack else ALWAYS, set()).add(function)
    return calls


CALL_BYTES = 28  # flash of one kernel call in a generated function (23-28 B on Cortex-M4)
FUNCTION_BYTES = 16


def own_code_bytes(files: dict) -> int:
    """Estimated flash of the generated functions and their static const parameter blocks,
    from the C text (weights are counted apart): per kernel call, per function, and 4 B per
    initializer item."""
    total = 0
    for name, text in files.items():
        if not name.endswith(".c"):
            continue
        body = re.sub(r"^static const \w+ \w+\[\d+\](?: __attribute__\(\(\w+\(\d+\)\)\))? = \{[^}]*\};",
                      "", text, flags=re.M)  # the weights, at file scope
        total += CALL_BYTES * len(re.findall(r"\beo_[A-Za-z0-9_]+\(", body))
        total += FUNCTION_BYTES * len(re.findall(r"^\w[\w *]*\b\w+\([^;]*\)\s*\{", body, re.M))
        for block in re.findall(r"^\s+static const [\w ]+ \w+(?:\[\d+\])? = (\{.*?\});", body, re.M | re.S):
            total += 4 * len([item for item in re.split(r"[{},]", block) if item.strip()])
    return total


def _copy_code(env, src, dst, tensor):
    if tensor.dtype == "float32":
        return env.get_template("ops/copy.c.j2").render(x=src, y=dst, size=tensor.size).strip()
    return env.get_template("ops/copy_bytes.c.j2").render(x=src, y=dst, bytes=tensor.nbytes).strip()


def op_label(node):
    """Op type plus a fused activation, e.g. "Conv+relu", "Gemm+leaky_relu"."""
    if "activation" not in node.attrs:
        return node.op_type
    return f"{node.op_type}+{re.sub(r'(?<!^)(?=[A-Z])', '_', node.attrs['activation'][0]).lower()}"


def _check_dtypes(graph, registry):
    """Every run-time tensor must have a type its op's kernel takes (constants such as
    shapes may not); model inputs and outputs are float32 or int8, or int32 where every
    reader takes counts there (sequence_lens)."""
    problems, counts = [], set()
    for node in graph.nodes:
        op = registry[node.op_type]
        if op.dtypes is None:
            continue
        for index, tensor_name in enumerate(node.inputs + node.outputs):
            tensor = graph.tensor(tensor_name) if tensor_name else None
            if tensor is None or tensor.is_constant:
                continue
            allowed = ("int32",) if index in op.int32_inputs and index < len(node.inputs) else op.dtypes
            if tensor.dtype not in allowed:
                problems.append((node.op_type, node.name,
                                 f"tensor {tensor_name!r} is {tensor.dtype}; the kernel takes "
                                 f"{' or '.join(allowed)}"))
                break
            if allowed == ("int32",):
                counts.add(tensor_name)
    for tensor_name in graph.inputs + graph.outputs:
        tensor = graph.tensor(tensor_name)
        plain = tensor.dtype in ("float32", "int8") or (tensor.dtype == "int32" and tensor_name in counts
                                                        and tensor_name in graph.inputs)
        if not plain and not problems:
            problems.append(("(graph)", tensor_name,
                             f"model input/output is {tensor.dtype}; edgeopt supports float32 and int8 I/O "
                             "(and int32 sequence lengths)"))
    if problems:
        raise UnsupportedError(unsupported_summary(problems))


def options_text(options: dict) -> str:
    return " ".join(f"{key}={value}" for key, value in options.items())


def banner_lines(source, digest, options):
    """The banner of every generated file: version, input file and hash, options."""
    lines = [f"Generated by edgeopt {__version__} from {c_comment(source, 80)}",
             f"source sha256: {digest}"]
    if options:
        lines.append(f"options: {c_comment(options_text(options), 200)}")
    lines.append("Do not edit: regenerate with `edgeopt compile`.")
    return lines
