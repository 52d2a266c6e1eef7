"""Target-neutral graph passes. Each is a function of the graph (and the op registry)."""
from edgeopt.passes.cancel_transposes import cancel_transposes
from edgeopt.passes.fold_batchnorm import fold_batchnorm
from edgeopt.passes.fuse_activations import fuse_activations
from edgeopt.passes.infer_shapes import infer_shapes
from edgeopt.passes.plan_memory import MemoryPlan, plan_memory


def optimize(graph, registry):
    """The standard pipeline up to (not including) lowering."""
    graph.prune()  # drop what no output needs (e.g. a converter's unused shape arithmetic)
    infer_shapes(graph, registry)
    cancel_transposes(graph)
    fold_batchnorm(graph)
    fuse_activations(graph, registry)
    graph.prune()
    return graph


__all__ = ["optimize", "infer_shapes", "fold_batchnorm", "fuse_activations", "plan_memory",
           "MemoryPlan"]
