"""Remove pairs of transposes that undo each other (the NHWC <-> NCHW pairs the TFLite
frontend puts around float convolutions and pools)."""
from edgeopt.ir import Node


def cancel_transposes(graph):
    producers = graph.producers()
    consumers = graph.consumers()
    for index, node in enumerate(graph.nodes):
        if node.op_type != "Transpose":
            continue
        inner = producers.get(node.inputs[0])
        if inner is None or inner.op_type != "Transpose" or len(consumers.get(inner.outputs[0], [])) != 1:
            continue
        first, second = inner.attrs.get("perm"), node.attrs.get("perm")
        if first is None or second is None or any(first[second[i]] != i for i in range(len(second))):
            continue
        # the pair is the identity: a zero-copy view of the first transpose's input
        graph.nodes[index] = Node(node.name, "Identity", [inner.inputs[0]], list(node.outputs), {},
                                  node.sources)
    graph.prune()
