"""The IR: a typed dataflow graph that knows no file format and no C."""
from edgeopt.ir.graph import Graph, Node, Quantization, Tensor

__all__ = ["Graph", "Node", "Quantization", "Tensor"]
