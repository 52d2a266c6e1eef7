"""Op registry: one OpDef per op type.

An OpDef says how to infer output shapes, how to evaluate the op in numpy (for
constant folding), and how to lower it to a kernel call rendered from one template.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Optional

import numpy as np

from edgeopt.errors import ShapeError


class NodeUnsupported(Exception):
    """Raised by op handlers for an unsupported attribute/input; collected per node."""


INT32_MAX = 2 ** 31 - 1
# Compile-time folding materializes at most this many elements of one tensor.
FOLD_LIMIT = 64 * 2 ** 20
# Kernel parameters and index arithmetic are int32: no tensor may hold more elements.
TENSOR_LIMIT = INT32_MAX // 8

# Handler errors that mean a malformed node (an attribute of the wrong type or value), not a
# bug of the handler: reported per node like an unsupported attribute.
MALFORMED = (TypeError, ValueError, OverflowError, ZeroDivisionError, IndexError, KeyError)


def malformed(exc) -> str:
    return (f"invalid attribute or input ({type(exc).__name__}: {str(exc)[:120]}); check the "
            "exporter's output, or report it if the model loads in onnxruntime/TFLite")


def _shown(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class OpDef:
    op_type: str
    infer: Callable  # (OpContext) -> list of output shapes
    evaluate: Optional[Callable] = None  # (OpContext, [np.ndarray]) -> [np.ndarray]
    lower: Optional[Callable] = None  # (OpContext, LoweringContext) -> Call
    # zero-copy view of input 0 (Reshape family): no kernel, output shares storage
    alias: bool = False
    # bytes of arena scratch the kernel needs while it runs: (OpContext) -> int
    scratch: Optional[Callable] = None
    # element types of its run-time tensors; None: any (views such as Reshape)
    dtypes: Optional[tuple] = ("float32",)
    # input positions that take int32 counts at run time instead (RNN/GRU/LSTM sequence_lens)
    int32_inputs: tuple = ()
    # elementwise activations: the runtime function, and (OpContext) -> its float parameters;
    # an activation fuses into a producer whose kernel takes one (fuses_activation)
    kernel: Optional[str] = None
    activation: Optional[Callable] = None
    fuses_activation: bool = False
    # forward-mode derivative: (OpContext, TangentContext) -> Call computing the output's
    # tangent from the inputs' (model Jacobians for solvers); None: no exact rule
    tangent: Optional[Callable] = None
    # work floats the tangent rule needs while it runs: (OpContext, rows) -> int
    tangent_scratch: Optional[Callable] = None
    # writes its output over its input one output row at a time, each row through a line
    # buffer: (OpContext) -> InPlace, or None where the rows' data flow does not allow it
    in_place: Optional[Callable] = None
    # patch-based execution (plan_memory): a layer that computes its output one image row at
    # a time, row i from input row i alone (a 1x1 convolution): (OpContext) -> bool
    row_producer: Optional[Callable] = None
    # a layer that can run one output row at a time over a window of its input rows, which
    # such a producer fills as it goes: (OpContext) -> the input rows one output row reads,
    # or None
    window_reader: Optional[Callable] = None
    # int8 layers on DSP cores: (OpContext) -> (flash bytes the int16-expanded weights add,
    # MACs they speed up, whether the compact layout holds the weights), or None where the
    # layer has no DSP kernel (passes.int8_weights)
    weight_expansion: Optional[Callable] = None


@dataclass(frozen=True)
class InPlace:
    """How an op runs over its input (output and input start at the same arena offset):
    rows in order ("forward": each output row ends before any input a later row reads) or
    from the last ("reverse": each starts after all input an earlier row reads), or element
    by element ("elementwise", elementwise_in_place). With a
    delay d (forward only), output row r goes into place once row r + d is computed: rows
    r + d + 1 on read no input under it (a depthwise layer of stride 1 reads the rows around
    its own), so the line buffer holds d + 1 rows."""

    order: str  # "forward", "reverse", or "elementwise": no rows, no line buffer
    row_bytes: int  # one output row
    delay: int = 0

    @property
    def line_bytes(self) -> int:
        return (self.delay + 1) * self.row_bytes


def elementwise_in_place(ctx):
    """Elementwise kernels read each input element before they write the output element
    over it and never read it again, so their output may start where input 0 does when
    both have one shape and type (for binary ops input 0 then takes no broadcast)."""
    x, y = ctx.graph.tensor(ctx.node.inputs[0]), ctx.graph.tensor(ctx.node.outputs[0])
    if tuple(x.shape) != tuple(y.shape) or x.dtype != y.dtype:
        return None
    return InPlace("elementwise", 0)


@dataclass
class Call:
    """A lowered op: one template and its context."""

    template: str
    args: dict = field(default_factory=dict)
    computes_value: bool = False  # a tangent rule's call that also writes the node's value


@dataclass
class OpContext:
    """What an op handler sees of one node: attributes, input shapes and constants."""

    node: object
    graph: object

    def attr(self, key, default=None):
        return self.node.attrs.get(key, default)

    def has_input(self, index: int) -> bool:
        return bool(self.node.input(index))

    def shape(self, index: int) -> tuple:
        return self.graph.tensor(self.node.inputs[index]).shape

    def out_shape(self, index: int = 0) -> tuple:
        return self.graph.tensor(self.node.outputs[index]).shape

    def const(self, index: int):
        return self.graph.constant(self.node.input(index))

    def require_const(self, index: int, what: str):
        value = self.const(index)
        if value is None and self.has_input(index):
            raise NodeUnsupported(f"{what} must be a constant (it is computed at run time)")
        return value

    def ints(self, key, index=None, default=None):
        """An int-list parameter given as attribute `key` or (newer opsets) as input `index`;
        each value an integer that fits int32 (the kernels' parameter type)."""
        if key in self.node.attrs:
            raw = self.node.attrs[key]
        elif index is not None and self.has_input(index):
            raw = self.require_const(index, key)
        else:
            return default
        try:
            values = [int(v) for v in np.atleast_1d(raw)]
        except (TypeError, ValueError, OverflowError):
            raise NodeUnsupported(f"{key} must be a list of integers; found {_shown(raw)}") from None
        if any(not -INT32_MAX <= v <= INT32_MAX for v in values):
            raise NodeUnsupported(f"{key} = {_shown(values)} is out of range (int32)")
        return values

    def integer(self, key, default):
        """An int attribute (group, axis, ...)."""
        value = self.node.attrs.get(key, default)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise NodeUnsupported(f"{key} must be an integer; found {_shown(value)}")
        if not -INT32_MAX <= int(value) <= INT32_MAX:
            raise NodeUnsupported(f"{key} = {value} is out of range (int32)")
        return int(value)

    def number(self, key, default):
        """A float attribute (alpha, beta, epsilon, ...)."""
        value = self.node.attrs.get(key, default)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise NodeUnsupported(f"{key} must be a number; found {_shown(value)}")
        return float(value)

    def unsupported(self, reason: str):
        raise NodeUnsupported(reason)


def build_registry(*op_lists) -> "MappingProxyType":
    table = {}
    for ops in op_lists:
        for op in ops:
            if op.op_type in table:
                raise ValueError(f"op {op.op_type} registered twice")
            table[op.op_type] = op
    return MappingProxyType(table)


def default_registry():
    from edgeopt.ops import (
        conv, elementwise, fold_only, hybrid, layout, linear, normalization, pool, quantized,
        quantized_linear, quantized_recurrent, recurrent, reduce,
    )

    return build_registry(
        elementwise.OPS, linear.OPS, conv.OPS, pool.OPS, reduce.OPS,
        normalization.OPS, layout.OPS, fold_only.OPS, quantized.OPS, quantized_linear.OPS,
        quantized_recurrent.OPS, recurrent.OPS, hybrid.OPS,
    )


# ---- shape helpers shared by op handlers ----

def normalize_axis(axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < max(rank, 1):
        raise ShapeError(f"{what} {axis} is out of range for rank {rank}")
    return axis % rank if rank else 0


def broadcast_shapes(*shapes) -> tuple:
    try:
        return tuple(int(d) for d in np.broadcast_shapes(*shapes))
    except ValueError:
        raise ShapeError(
            "shapes " + " and ".join(str(tuple(s)) for s in shapes) + " cannot be broadcast"
        ) from None


def broadcast_strides(shape: tuple, out_shape: tuple) -> list:
    """Element strides of `shape` aligned to `out_shape`, 0 on broadcast axes."""
    rank = len(out_shape)
    padded = (1,) * (rank - len(shape)) + tuple(shape)
    strides, step = [0] * rank, 1
    for axis in range(rank - 1, -1, -1):
        strides[axis] = step if padded[axis] != 1 else 0
        step *= padded[axis]
    return strides


def collapse_dims(shape, *stride_lists):
    """Drop size-1 axes and merge adjacent axes along which every operand stays
    contiguous, so kernels loop over as few, as long rows as possible."""
    axes = [a for a in range(len(shape)) if int(shape[a]) != 1]
    if not axes:
        return [1], [[0] for _ in stride_lists]
    dims = [int(shape[axes[-1]])]
    merged = [[s[axes[-1]]] for s in stride_lists]
    for axis in reversed(axes[:-1]):
        if all(s[axis] == m[0] * dims[0] for s, m in zip(stride_lists, merged)):
            dims[0] *= int(shape[axis])
        else:
            dims.insert(0, int(shape[axis]))
            for s, m in zip(stride_lists, merged):
                m.insert(0, s[axis])
    return dims, merged


def contiguous_strides(shape) -> list:
    strides, step = [0] * len(shape), 1
    for axis in range(len(shape) - 1, -1, -1):
        strides[axis] = step
        step *= int(shape[axis])
    return strides


def check_rank(shape, what="tensor", limit=6):
    if len(shape) > limit:
        raise NodeUnsupported(f"{what} has rank {len(shape)}; edgeopt kernels support rank <= {limit}")
