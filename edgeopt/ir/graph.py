"""Graph, Node and Tensor: ONNX-like semantics, format-neutral.

Tensors are keyed by name. A tensor with `data` is a constant. Shapes are tuples of
ints once resolved; None (unknown) or str (symbolic) dims may appear before shape inference.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np


@dataclass(frozen=True)
class Quantization:
    scales: tuple
    zero_points: tuple
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return len(self.scales) > 1


@dataclass
class Tensor:
    name: str
    dtype: str  # numpy dtype name: "float32", "int64", ...
    shape: Optional[tuple] = None
    data: Optional[np.ndarray] = None
    # affine quantization: real = scale * (q - zero_point); per channel along `axis`
    quant: Optional["Quantization"] = None

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape is not None else 0

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize


@dataclass
class Node:
    name: str
    op_type: str
    inputs: list  # tensor names; "" marks an omitted optional input
    outputs: list
    attrs: dict = field(default_factory=dict)
    # names of the source nodes this node stands for (after fusion/folding)
    sources: list = field(default_factory=list)

    def input(self, index: int) -> str:
        return self.inputs[index] if index < len(self.inputs) else ""


@dataclass
class Graph:
    name: str
    tensors: dict
    nodes: list
    inputs: list  # names of runtime (non-constant) graph inputs
    outputs: list
    opset: int = 13
    metadata: dict = field(default_factory=dict)

    def tensor(self, name: str) -> Tensor:
        return self.tensors[name]

    def constant(self, name: str) -> Optional[np.ndarray]:
        if not name:
            return None
        tensor = self.tensors.get(name)
        return None if tensor is None else tensor.data

    def consumers(self) -> dict:
        """Map tensor name -> list of nodes reading it."""
        users: dict = {}
        for node in self.nodes:
            for name in node.inputs:
                if name:
                    users.setdefault(name, []).append(node)
        return users

    def producers(self) -> dict:
        return {out: node for node in self.nodes for out in node.outputs if out}

    def prune(self) -> None:
        """Drop nodes whose outputs nobody needs, and tensors no node or graph edge uses."""
        needed = set(self.outputs)
        kept = []
        for node in reversed(self.nodes):
            if any(out in needed for out in node.outputs):
                kept.append(node)
                needed.update(name for name in node.inputs if name)
        self.nodes = list(reversed(kept))
        used = needed | set(self.inputs) | {o for n in self.nodes for o in n.outputs}
        self.tensors = {k: v for k, v in self.tensors.items() if k in used}
