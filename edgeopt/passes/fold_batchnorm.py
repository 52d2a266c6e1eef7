"""Fold inference-mode BatchNormalization into the preceding Conv or Gemm."""
import numpy as np

from edgeopt.ir import Tensor
from edgeopt.ops.normalization import batchnorm_scale_shift
from edgeopt.ops.registry import NodeUnsupported, OpContext


def fold_batchnorm(graph):
    producers = graph.producers()
    consumers = graph.consumers()
    removed = set()
    for bn in list(graph.nodes):
        if bn.op_type != "BatchNormalization":
            continue
        prev = producers.get(bn.inputs[0])
        if prev is None or len(consumers.get(bn.inputs[0], [])) != 1 or bn.inputs[0] in graph.outputs:
            continue
        try:
            scale, shift = batchnorm_scale_shift(OpContext(bn, graph))
        except NodeUnsupported:
            continue
        if prev.op_type not in ("Conv", "Gemm") or not _fold_into(graph, prev, scale, shift):
            continue
        prev.outputs[0] = bn.outputs[0]
        prev.sources = prev.sources + bn.sources
        removed.add(id(bn))
    graph.nodes = [n for n in graph.nodes if id(n) not in removed]


def _new_constant(graph, base, value):
    name = base
    while name in graph.tensors:
        name += "_"
    value = np.ascontiguousarray(value, np.float32)
    graph.tensors[name] = Tensor(name, "float32", tuple(value.shape), value)
    return name


def _fold_into(graph, node, scale, shift):
    """Scale the Conv/Gemm weights per output channel and fold the shift into its bias."""
    weights = graph.constant(node.inputs[1])
    bias = graph.constant(node.input(2))
    if weights is None or "activation" in node.attrs or (node.input(2) and bias is None):
        return False
    if node.op_type == "Conv":
        scaled = weights * scale.reshape((-1,) + (1,) * (weights.ndim - 1))
        bias_factor = 1.0
    else:  # Gemm: output features are B's columns (rows with transB)
        alpha, bias_factor = float(node.attrs.get("alpha", 1.0)), float(node.attrs.get("beta", 1.0))
        scaled = weights * alpha * (scale[:, None] if node.attrs.get("transB", 0) else scale[None, :])
        node.attrs.update(alpha=1.0, beta=1.0)
    bias = np.zeros(scale.shape) if bias is None else bias_factor * bias.astype(np.float64)
    node.inputs[1:] = [
        _new_constant(graph, node.inputs[1] + "_bn", scaled),
        _new_constant(graph, (node.input(2) or node.name + "_bias") + "_bn", bias * scale + shift),
    ]
    return True
