"""ONNX -> IR: parse, check external data, inline local functions, resolve input shapes."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from edgeopt.errors import ModelLoadError, ShapeError, UnsupportedError
from edgeopt.ir import Graph, Node, Tensor

# ONNX ops whose semantics changed with the opset in ways the op handlers cannot see.
_COERCE_2D_BEFORE_13 = {"Softmax", "LogSoftmax"}


def load_onnx(path: Path, input_shapes: dict) -> Graph:
    import onnx

    data = path.read_bytes()
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf raises DecodeError, RuntimeWarning-ish errors
        raise ModelLoadError(
            f"{path}: not a readable ONNX model ({type(exc).__name__}: {exc}); "
            "the file may be truncated or corrupt: export it again"
        ) from None
    if model.ir_version <= 0 or not model.HasField("graph") or not model.graph.output:
        raise ModelLoadError(
            f"{path}: not an ONNX model (no IR version or no graph outputs); "
            "pass a .onnx file exported by PyTorch, tf2onnx or similar"
        )
    _load_external_data(model, path)
    model = _inline_functions(model, path)
    graph = convert_model(model, input_shapes, source=str(path))
    graph.metadata["source_sha256"] = hashlib.sha256(data).hexdigest()
    graph.metadata["source_name"] = path.name
    return graph


def _load_external_data(model, path: Path) -> None:
    from onnx.external_data_helper import load_external_data_for_model, uses_external_data

    missing = []
    for tensor in model.graph.initializer:
        if uses_external_data(tensor):
            location = {e.key: e.value for e in tensor.external_data}.get("location", "")
            target = (path.parent / location).resolve()
            if not location or not target.is_file():
                missing.append((tensor.name, location))
            elif path.parent.resolve() not in target.parents:
                raise ModelLoadError(
                    f"{path}: initializer {tensor.name!r} points outside the model folder "
                    f"({location!r}); refusing to read it"
                )
    if missing:
        listed = ", ".join(f"{name!r} -> {loc!r}" for name, loc in missing[:5])
        raise ModelLoadError(
            f"{path}: external weight data not found ({listed}); keep the data file(s) next to "
            "the .onnx file, or re-export with the weights embedded"
        )
    try:
        load_external_data_for_model(model, str(path.parent))
    except Exception as exc:
        raise ModelLoadError(f"{path}: cannot read external weight data: {exc}") from None


def _inline_functions(model, path: Path, max_depth: int = 16):
    """Replace calls of the model's local functions by their bodies (nested calls too)."""
    import onnx

    functions = {(f.domain, f.name): f for f in model.functions}
    if not functions:
        return model
    nodes = list(model.graph.node)
    for depth in range(max_depth + 1):
        if not any((n.domain, n.op_type) in functions for n in nodes):
            break
        if depth == max_depth:
            raise ModelLoadError(f"{path}: local functions nest deeper than {max_depth} levels")
        expanded = []
        for index, node in enumerate(nodes):
            fn = functions.get((node.domain, node.op_type))
            expanded.extend(_expand_call(node, fn, f"{node.name or node.op_type}_{depth}_{index}")
                            if fn else [node])
        nodes = expanded
    inlined = onnx.ModelProto()
    inlined.CopyFrom(model)
    del inlined.graph.node[:]
    inlined.graph.node.extend(nodes)
    del inlined.functions[:]
    return inlined


def _expand_call(call, fn, scope):
    import onnx

    rename = dict(zip(fn.input, call.input))
    rename.update(zip(fn.output, call.output))
    actual_attrs = {a.name: a for a in call.attribute}
    defaults = {a.name: a for a in fn.attribute_proto}

    def local(name):
        return rename.get(name, f"{scope}/{name}" if name else "")

    body = []
    for inner in fn.node:
        node = onnx.NodeProto()
        node.CopyFrom(inner)
        node.name = f"{scope}/{inner.name or inner.op_type}"
        node.input[:] = [local(n) for n in inner.input]
        node.output[:] = [local(n) for n in inner.output]
        del node.attribute[:]
        for attr in inner.attribute:
            if attr.ref_attr_name:
                source = actual_attrs.get(attr.ref_attr_name) or defaults.get(attr.ref_attr_name)
                if source is None:
                    continue  # optional attribute left unset
                resolved = onnx.AttributeProto()
                resolved.CopyFrom(source)
                resolved.name = attr.name
                node.attribute.append(resolved)
            else:
                node.attribute.append(attr)
        body.append(node)
    return body


def convert_model(model, input_shapes: dict, source: str = "<model>") -> Graph:
    """Convert an in-memory onnx.ModelProto (already inlined) to the IR."""
    from onnx import helper

    opset = 0
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            opset = entry.version
    g = model.graph
    tensors: dict = {}
    for init in g.initializer:
        tensors[_text(init.name)] = _initializer(init, source)
    for sparse in g.sparse_initializer:
        raise UnsupportedError(f"{source}: sparse initializer {sparse.values.name!r} is not supported")

    runtime_inputs = []
    unknown_inputs = set(input_shapes) - {_text(vi.name) for vi in g.input}
    if unknown_inputs:
        names = ", ".join(sorted(_text(vi.name) for vi in g.input if _text(vi.name) not in tensors))
        raise ShapeError(
            f"--input-shape names {', '.join(sorted(unknown_inputs))!s}, which the model does not "
            f"have; its inputs are: {names}"
        )
    for vi in g.input:
        if _text(vi.name) in tensors:
            continue  # old exporters list initializers as inputs too
        dtype, shape = _value_info(vi, source)
        if _text(vi.name) in input_shapes:
            shape = _override_shape(_text(vi.name), shape, input_shapes[_text(vi.name)])
        else:
            shape = _resolve_batch(_text(vi.name), shape)
        tensors[_text(vi.name)] = Tensor(_text(vi.name), dtype, shape)
        runtime_inputs.append(_text(vi.name))

    nodes = []
    for index, proto in enumerate(g.node):
        name = _text(proto.name) or f"{proto.op_type}_{index}"
        op_type = proto.op_type if proto.domain in ("", "ai.onnx") else f"{proto.domain}::{proto.op_type}"
        attrs = {}
        for attr in proto.attribute:
            value = helper.get_attribute_value(attr)
            if hasattr(value, "dims") and hasattr(value, "data_type"):
                value = _initializer(value, source, f"attribute {attr.name!r} of node {name!r}").data
            elif isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            attrs[_text(attr.name)] = value
        if op_type in _COERCE_2D_BEFORE_13 and opset < 13:
            attrs.setdefault("axis", 1)
            attrs["coerce_2d"] = 1
        if op_type == "Gelu" and attrs.get("approximate") == "tanh":  # one IR op per kernel
            op_type = "GeluTanh"
            del attrs["approximate"]
        nodes.append(Node(name, op_type, [_text(n) for n in proto.input], [_text(n) for n in proto.output],
                          attrs, [name]))

    outputs = [_text(vi.name) for vi in g.output]
    graph = Graph(_text(g.name) or "model", tensors, nodes, runtime_inputs, outputs, opset)
    for vi in g.output:
        if _text(vi.name) in tensors or any(_text(vi.name) in n.outputs for n in nodes):
            continue
        raise ModelLoadError(f"{source}: graph output {_text(vi.name)!r} is produced by no node")
    return graph


def _text(value):
    """A name from the file: ONNX's protobuf strings are not checked for UTF-8, and arrive as
    bytes when they are not; those are decoded with replacement characters."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _initializer(proto, source, what=None):
    """A constant tensor, its data checked against its declared shape and type."""
    from onnx import numpy_helper

    what = what or f"initializer {proto.name!r}"
    try:
        array = numpy_helper.to_array(proto)
    except Exception as exc:  # data shorter or longer than dims x type, unknown types, ...
        raise ModelLoadError(f"{source}: {what} does not hold the data its shape {list(proto.dims)} "
                             f"and type declare ({type(exc).__name__}: {str(exc)[:100]}); export the "
                             "model again") from None
    if array.size != int(np.prod(list(proto.dims), dtype=np.int64)):
        raise ModelLoadError(f"{source}: {what} holds {array.size} values for its shape {list(proto.dims)}; "
                             "export the model again")
    return Tensor(_text(proto.name), array.dtype.name, tuple(array.shape), array)


def _value_info(vi, source):
    from onnx import helper

    kind = vi.type.WhichOneof("value")
    if kind != "tensor_type":
        raise UnsupportedError(
            f"{source}: input {vi.name!r} is a {kind or 'untyped value'}; edgeopt supports tensors only"
        )
    ttype = vi.type.tensor_type
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(ttype.elem_type)).name
    except Exception:
        raise UnsupportedError(f"{source}: input {vi.name!r} has an unsupported element type") from None
    if not ttype.HasField("shape"):
        return dtype, None
    dims = []
    for dim in ttype.shape.dim:
        if dim.HasField("dim_value") and dim.dim_value > 0:
            dims.append(int(dim.dim_value))
        elif dim.HasField("dim_value") and dim.dim_value == 0:
            dims.append(0)
        else:
            dims.append(dim.dim_param or "?")
    return dtype, tuple(dims)


def _resolve_batch(name, shape):
    """Symbolic batch dims resolve to 1; any other unknown dim needs --input-shape."""
    if shape is None:
        raise ShapeError(_shape_hint(name, "has no shape in the model"))
    dims = list(shape)
    if dims and isinstance(dims[0], str):
        dims[0] = 1
    if any(isinstance(d, str) for d in dims):
        shown = ",".join(str(d) for d in shape)
        raise ShapeError(_shape_hint(name, f"has dynamic dimensions ({shown})"))
    return tuple(dims)


def _override_shape(name, shape, override):
    override = tuple(int(d) for d in override)
    if any(d <= 0 for d in override):
        raise ShapeError(f"--input-shape {name}: dimensions must be positive, got {override}")
    if shape is not None:
        if len(shape) != len(override):
            raise ShapeError(
                f"--input-shape {name}: the model's input has rank {len(shape)} "
                f"({','.join(str(d) for d in shape)}), the given shape has rank {len(override)}"
            )
        for fixed, given in zip(shape, override):
            if isinstance(fixed, int) and fixed != given:
                raise ShapeError(
                    f"--input-shape {name}: {','.join(map(str, override))} contradicts the model's "
                    f"fixed shape {','.join(str(d) for d in shape)}"
                )
    return override


def _shape_hint(name, problem):
    return (
        f"input {name!r} {problem}; pass the shape explicitly, e.g. "
        f"--input-shape {name}=1,3,32,32"
    )
