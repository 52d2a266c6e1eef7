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
        if prev.op_type == "Conv" and _fold_into_conv(graph, prev, scale, shift):
            pass
        elif prev.op_type == "Gemm" and _fold_into_gemm(graph, prev, scale, shift):
            pass
        else:
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


def _fold_into_conv(graph, conv, scale, shift):
    weights = graph.constant(conv.inputs[1])
    if weights is None or "activation" in conv.attrs:
        return False
    bias = graph.constant(conv.input(2))
    if conv.input(2) and bias is None:
        return False
    bias = np.zeros(weights.shape[0]) if bias is None else bias.astype(np.float64)
    scaled = weights * scale.reshape((-1,) + (1,) * (weights.ndim - 1))
    conv.inputs[1:] = [
        _new_constant(graph, conv.inputs[1] + "_bn", scaled),
        _new_constant(graph, (conv.input(2) or conv.name + "_bias") + "_bn", bias * scale + shift),
    ]
    return True


def _fold_into_gemm(graph, gemm, scale, shift):
    b = graph.constant(gemm.inputs[1])
    if b is None or "activation" in gemm.attrs:
        return False
    c = graph.constant(gemm.input(2))
    if gemm.input(2) and c is None:
        return False
    alpha, beta = float(gemm.attrs.get("alpha", 1.0)), float(gemm.attrs.get("beta", 1.0))
    scaled = b * (scale[:, None] if gemm.attrs.get("transB", 0) else scale[None, :]) * alpha
    bias = np.zeros(scale.shape) if c is None else beta * c.astype(np.float64)
    gemm.inputs[1:] = [
        _new_constant(graph, gemm.inputs[1] + "_bn", scaled),
        _new_constant(graph, (gemm.input(2) or gemm.name + "_bias") + "_bn", bias * scale + shift),
    ]
    gemm.attrs.update(alpha=1.0, beta=1.0)
    return True
