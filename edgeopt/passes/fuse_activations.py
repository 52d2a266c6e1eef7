"""Fuse an activation into the op producing its input, so it runs on cache-hot outputs."""
from edgeopt.ops.registry import MALFORMED, NodeUnsupported, OpContext


def fuse_activations(graph, registry):
    """The producer keeps attrs["activation"] = (activation op type, its float parameters)."""
    producers = graph.producers()
    consumers = graph.consumers()
    removed = set()
    for act in graph.nodes:
        if registry[act.op_type].activation is None:
            continue
        prev = producers.get(act.inputs[0])
        if (prev is None or not registry[prev.op_type].fuses_activation or "activation" in prev.attrs
                or len(consumers.get(act.inputs[0], [])) != 1 or act.inputs[0] in graph.outputs):
            continue
        try:
            params = registry[act.op_type].activation(OpContext(act, graph))
        except (NodeUnsupported, *MALFORMED):  # lowering the activation alone reports it
            continue
        prev.attrs["activation"] = (act.op_type, tuple(params))
        prev.outputs[0] = act.outputs[0]
        prev.sources = prev.sources + act.sources
        removed.add(id(act))
    graph.nodes = [n for n in graph.nodes if id(n) not in removed]
