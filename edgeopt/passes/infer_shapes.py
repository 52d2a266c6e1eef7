"""Shape inference with constant folding as it goes: shapes depend on folded values
(Shape -> Gather -> Concat -> Reshape chains), so the two run in one walk."""
import numpy as np

from edgeopt.errors import ShapeError, UnsupportedError, unsupported_summary
from edgeopt.ir import Tensor
from edgeopt.ops.registry import FOLD_LIMIT, MALFORMED, TENSOR_LIMIT, NodeUnsupported, OpContext, malformed

# Ops that fold from their input's shape alone, not its values.
_SHAPE_ONLY = {"Shape", "Size"}


def infer_shapes(graph, registry):
    for name in graph.inputs:
        shape = graph.tensor(name).shape
        if any(int(d) < 0 for d in shape) or _elements(shape) > TENSOR_LIMIT:
            raise UnsupportedError(f"input {name!r} {tuple(shape)} holds {_elements(shape):,} elements; "
                                   f"edgeopt's limit is {TENSOR_LIMIT:,} (and no negative dimensions)")
    problems = []
    unknown = set()  # tensors downstream of an unsupported node
    kept = []
    for node in _topological(graph):
        opdef = registry.get(node.op_type)
        inputs = [name for name in node.inputs if name]
        if opdef is None:
            problems.append((node.op_type, node.name, "op not supported"))
            unknown.update(node.outputs)
            continue
        if any(name in unknown for name in inputs):
            unknown.update(node.outputs)  # shapes unknown: only its op type can be checked
            continue
        ctx = OpContext(node, graph)
        try:
            if _fold(node, opdef, ctx, graph):
                continue
            shapes = opdef.infer(ctx)
            extra = [name for name in node.outputs[len(shapes):] if name]
            if extra:
                ctx.unsupported(f"output {extra[0]!r} is not supported (only the first "
                                f"{len(shapes)} output(s) are)")
        except NodeUnsupported as exc:
            problems.append((node.op_type, node.name, str(exc)))
            unknown.update(node.outputs)
            continue
        except ShapeError as exc:
            raise ShapeError(f"node {node.name!r} ({node.op_type}): {exc}") from None
        except MALFORMED as exc:
            problems.append((node.op_type, node.name, malformed(exc)))
            unknown.update(node.outputs)
            continue
        dtype = graph.tensor(inputs[0]).dtype if inputs else "float32"
        for shape in shapes:
            if _elements(shape) > TENSOR_LIMIT:
                problems.append((node.op_type, node.name, f"its output {tuple(shape)} would hold "
                                 f"{_elements(shape):,} elements; edgeopt's limit is {TENSOR_LIMIT:,}"))
                unknown.update(node.outputs)
                break
        else:
            _record(node, shapes, dtype, graph)
            kept.append(node)
    if problems:
        raise UnsupportedError(unsupported_summary(problems))
    graph.nodes = kept
    _check_runtime_tensors(graph)
    graph.prune()


def _elements(shape):
    count = 1
    for d in shape:
        count *= max(int(d), 0)
    return count


def _record(node, shapes, dtype, graph):
    for name, shape in zip(node.outputs, shapes):
        if name:
            declared = graph.tensors.get(name)  # frontends may declare type and quantization
            graph.tensors[name] = Tensor(name, declared.dtype if declared else dtype,
                                         tuple(int(d) for d in shape),
                                         quant=declared.quant if declared else None)


def _fold(node, opdef, ctx, graph):
    """Evaluate the node at compile time when its inputs are known; True if folded."""
    if opdef.evaluate is None:
        return False
    names = [name for name in node.inputs if name]
    if node.op_type not in _SHAPE_ONLY and not all(graph.tensor(n).is_constant for n in names):
        return False
    values = [graph.constant(name) if name else None for name in node.inputs]
    bound = _fold_bound(node, values, graph)
    if bound > FOLD_LIMIT:
        raise NodeUnsupported(f"folding it at compile time would materialize {bound:,} elements; "
                              f"edgeopt folds at most {FOLD_LIMIT:,}")
    results = opdef.evaluate(ctx, values)
    if results is None:
        return False
    for name, value in zip(node.outputs, results):
        if name:
            value = np.asarray(value)
            graph.tensors[name] = Tensor(name, value.dtype.name, tuple(value.shape), value)
    return True


def _fold_bound(node, values, graph):
    """An upper bound of the elements folding the node creates, known before it runs."""
    present = [np.asarray(v) for v in values if v is not None]
    if node.op_type == "ConstantOfShape" and present:
        return _elements(present[0].reshape(-1))
    if node.op_type == "Expand" and len(present) == 2:
        return _broadcast([present[0].shape, tuple(int(d) for d in present[1].reshape(-1))])
    if node.op_type == "Range" and len(present) == 3:
        start, limit, delta = (float(np.asarray(v).reshape(-1)[0]) for v in present)
        return int(abs((limit - start) / delta)) + 1 if delta and np.isfinite([start, limit, delta]).all() else 0
    sizes = [v.size for v in present] + [graph.tensor(n).size for n in node.inputs
                                         if n and not graph.tensor(n).is_constant]
    return max([_broadcast([v.shape for v in present])] + sizes, default=0)


def _broadcast(shapes):
    """Elements of the broadcast of shapes (dims of 1 stretch to the largest)."""
    rank = max((len(s) for s in shapes), default=0)
    dims = [1] * rank
    for shape in shapes:
        for axis, d in enumerate((1,) * (rank - len(shape)) + tuple(shape)):
            dims[axis] = max(dims[axis], int(d))
    return _elements(dims)


def _topological(graph):
    """Nodes in an order where every input is produced first (ONNX requires it; check it)."""
    known = set(graph.inputs) | {n for n, t in graph.tensors.items() if t.is_constant}
    for node in graph.nodes:
        missing = [name for name in node.inputs if name and name not in known]
        if missing:
            raise ShapeError(
                f"node {node.name!r} ({node.op_type}) reads {missing[0]!r}, which no earlier node "
                "produces; the graph is not topologically sorted or is missing a tensor"
            )
        known.update(node.outputs)
        yield node


def _check_runtime_tensors(graph):
    for name in graph.inputs:
        if 0 in graph.tensor(name).shape:
            raise UnsupportedError(f"input {name!r} is empty {graph.tensor(name).shape}; "
                                   "zero-sized tensors are not supported")
    for node in graph.nodes:
        for name in node.outputs:
            tensor = graph.tensors.get(name)
            if tensor is not None and 0 in tensor.shape:
                raise UnsupportedError(
                    f"node {node.name!r} ({node.op_type}) produces an empty tensor {tuple(tensor.shape)}; "
                    "zero-sized tensors are not supported"
                )
