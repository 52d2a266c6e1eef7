"""Which int8 layers keep int16-expanded weights on DSP cores. The DSP kernels read either
layout bit-exactly; expanded copies save the SXTB16 unpacking in the inner loop (about 0.2
instructions per MAC) and take twice the flash. `auto` expands the layers that gain most per
byte (the most MACs per weight: convolutions over many pixels) while the copies fit the spare
flash; the rest stay compact."""
from edgeopt.errors import EdgeoptError
from edgeopt.ops.registry import MALFORMED, NodeUnsupported, OpContext

MODES = ("auto", "compact", "expanded")
# What auto may spend on int16 copies when no board says how much flash is free
DEFAULT_SPARE_BYTES = 16 * 1024


def choose_int8_weights(graph, registry, mode="auto", spare_bytes=DEFAULT_SPARE_BYTES):
    """Sets the int8_weights attribute ("compact" or "expanded") of every node whose op can
    expand its weights (OpDef.weight_expansion: extra bytes, MACs served, whether compact
    weights are exact); returns the bytes the expanded copies add."""
    if mode not in MODES:
        raise EdgeoptError(f"--int8-weights {mode!r}: choose one of {', '.join(MODES)}")
    layers = []
    for node in graph.nodes:
        rule = registry[node.op_type].weight_expansion
        if rule is None:
            continue
        node.attrs["int8_weights"] = "compact"
        try:
            cost = rule(OpContext(node, graph))
        except (NodeUnsupported, *MALFORMED):  # lowering reports it, with the node's name
            continue
        if cost is not None:
            layers.append((node, *cost))
    added = 0
    budget = float("inf") if mode == "expanded" else spare_bytes if mode == "auto" else 0
    for node, extra_bytes, macs, compact_exact in sorted(layers, key=lambda layer: -layer[2] / max(layer[1], 1)):
        if added + extra_bytes <= budget or not compact_exact:  # else only the portable kernel is exact
            node.attrs["int8_weights"] = "expanded"
            added += extra_bytes
    return added
