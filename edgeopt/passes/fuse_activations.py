"""Fuse an activation into the op producing its input, so it runs on cache-hot outputs."""
from edgeopt.ops.elementwise import ACTIVATIONS
from edgeopt.ops.registry import NodeUnsupported, OpContext

# Ops whose kernels take an eo_act_t.
FUSABLE_PRODUCERS = {"Conv", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div"}


def fuse_activations(graph):
    producers = graph.producers()
    consumers = graph.consumers()
    removed = set()
    for act in graph.nodes:
        if act.op_type not in ACTIVATIONS:
            continue
        prev = producers.get(act.inputs[0])
        if (prev is None or prev.op_type not in FUSABLE_PRODUCERS or "activation" in prev.attrs
                or len(consumers.get(act.inputs[0], [])) != 1 or act.inputs[0] in graph.outputs):
            continue
        try:
            prev.attrs["activation"] = ACTIVATIONS[act.op_type](OpContext(act, graph))
        except NodeUnsupported:
            continue
        prev.outputs[0] = act.outputs[0]
        prev.sources = prev.sources + act.sources
        removed.add(id(act))
    graph.nodes = [n for n in graph.nodes if id(n) not in removed]
