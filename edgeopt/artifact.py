"""The compiled artifact: what every compile returns (a model or a solver alike) and what every
runner (host, QEMU, serial) and consumer (PlatformIO writer, budget check) takes.

Besides its native C API, every artifact has one packed entry point,
`eo_status_t NAME_run(const void *in, void *out)`, and `void NAME_reset(void)`, which clears
the state the packed entry keeps between calls. The packed buffers hold the signature's
tensors in order, each starting at a multiple of 4 bytes (little-endian, as on Cortex-M)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgeopt.errors import InputDataError


@dataclass(frozen=True)
class TensorSpec:
    name: str  # as the user knows it: the model's tensor name, or the npz key of a solver
    c_name: str  # its parameter name in the native C API
    shape: tuple
    dtype: str = "float32"

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def ctype(self) -> str:
        from edgeopt.codegen.literals import c_type  # codegen imports this module

        return c_type(self.dtype)

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize


# Conditions under which constant data or code exists in a build.
ALWAYS, DSP, PORTABLE = "always", "dsp", "portable"


def present_on(condition: str, dsp: bool) -> bool:
    return condition == ALWAYS or (condition == DSP) == dsp


@dataclass(frozen=True)
class Memory:
    """Bytes of every kind of storage the generated files declare."""

    weights: dict  # condition -> bytes of static const data (flash)
    arena: int = 0  # the liveness-planned activation arena (includes kernel scratch)
    scratch: int = 0  # of the arena, bytes kernels use as scratch
    work: int = 0  # static work buffers that hold nothing between calls (solver, Jacobian)
    state: int = 0  # static state kept between calls (the packed entry's context)
    stack: int = 2048  # allowance for the call's stack
    code: dict = field(default_factory=dict)  # condition -> runtime symbols the files call
    own_code: int = 0  # estimated flash bytes of the generated functions themselves

    @property
    def static_ram(self) -> int:
        """All static RAM of the generated files: NAME_STATIC_RAM_SIZE."""
        return self.arena + self.work + self.state

    def weights_on(self, dsp: bool) -> int:
        return sum(size for condition, size in self.weights.items() if present_on(condition, dsp))

    def symbols_on(self, dsp: bool) -> set:
        return {s for condition, names in self.code.items() if present_on(condition, dsp) for s in names}

    def combined(self, other: "Memory") -> "Memory":
        weights = dict(self.weights)
        for condition, size in other.weights.items():
            weights[condition] = weights.get(condition, 0) + size
        code = {c: set(self.code.get(c, ())) | set(other.code.get(c, ()))
                for c in set(self.code) | set(other.code)}
        return Memory(weights, self.arena + other.arena, self.scratch + other.scratch,
                      self.work + other.work, self.state + other.state,
                      max(self.stack, other.stack), code, self.own_code + other.own_code)


@dataclass
class Artifact:
    name: str  # the C prefix
    kind: str  # "model", or the solver kind
    files: dict  # file name -> text
    inputs: list  # TensorSpec of the packed entry point, in order
    outputs: list
    memory: Memory
    options: dict  # what the user chose, as shown in the banner
    source: str = ""  # the input file's name
    source_sha256: str = ""
    # what the summary shows and the per-layer comparison needs (models)
    layers: list = field(default_factory=list)  # (op, node name, output shape)
    steps: list = field(default_factory=list)
    parameters: int = 0
    peak_bytes: int = 0  # the liveness bound of the arena
    in_place_layers: int = 0  # layers that write their output over their input
    windowed_layers: int = 0  # layers run a row at a time inside the next one (patch-based)
    details: object = None  # the solver kind's own description (its config)

    @property
    def entry(self) -> str:
        return f"{self.name}_run"

    @property
    def digest(self) -> str:
        """Identifies the generated C: what a board's firmware reports, to catch stale flashes."""
        import hashlib

        hasher = hashlib.sha256()
        for name in sorted(self.files):
            hasher.update(name.encode() + b"\0" + self.files[name].encode() + b"\0")
        return hasher.hexdigest()[:16]

    @property
    def arena_bytes(self) -> int:
        return self.memory.arena

    @property
    def weight_bytes(self) -> int:
        """Constant data as the portable build stores it (one copy of each weight)."""
        return self.memory.weights_on(dsp=False)

    @property
    def input_bytes(self) -> int:
        return packed_size(self.inputs)

    @property
    def output_bytes(self) -> int:
        return packed_size(self.outputs)


def packed_offsets(specs) -> list:
    offsets, position = [], 0
    for spec in specs:
        offsets.append(position)
        position += -(-spec.nbytes // 4) * 4
    return offsets


def packed_size(specs) -> int:
    return max(sum(-(-s.nbytes // 4) * 4 for s in specs), 4)


def pack(specs, arrays) -> np.ndarray:
    """Per sample, the packed bytes: (N, packed_size) uint8."""
    count = arrays[0].shape[0] if arrays else 1
    buffer = np.zeros((count, packed_size(specs)), np.uint8)
    for spec, offset, array in zip(specs, packed_offsets(specs), arrays):
        raw = np.ascontiguousarray(array.reshape(count, -1), np.dtype(spec.dtype).newbyteorder("<"))
        buffer[:, offset:offset + spec.nbytes] = raw.view(np.uint8).reshape(count, -1)
    return buffer


def unpack(specs, buffer) -> dict:
    """{name: (N, *shape)} from (N, packed_size) bytes."""
    count = buffer.shape[0]
    result = {}
    for spec, offset in zip(specs, packed_offsets(specs)):
        raw = np.ascontiguousarray(buffer[:, offset:offset + spec.nbytes])
        values = raw.view(np.dtype(spec.dtype).newbyteorder("<")).astype(spec.dtype)
        result[spec.name] = values.reshape((count,) + tuple(spec.shape))
    return result


def check_inputs(artifact: Artifact, inputs: dict) -> list:
    """The user's arrays checked against the signature: contiguous copies in its order."""
    expected = {t.name: t for t in artifact.inputs}
    missing = [n for n in expected if n not in inputs]
    extra = [n for n in inputs if n not in expected]
    if missing or extra:
        wanted = ", ".join(f"{t.name!r} (N, {', '.join(map(str, t.shape))})" for t in artifact.inputs)
        problem = f"missing {missing}" if missing else f"unknown {extra}"
        raise InputDataError(f"input arrays do not match {artifact.name} ({problem}); it expects: {wanted}")
    arrays, count = [], None
    for tensor in artifact.inputs:
        array = np.asarray(inputs[tensor.name])
        if array.ndim == 0 or array.shape[1:] != tuple(tensor.shape):
            raise InputDataError(
                f"input {tensor.name!r} has shape {array.shape}; expected (N, "
                f"{', '.join(map(str, tensor.shape))}) with N samples")
        if array.shape[0] == 0:
            raise InputDataError(f"input {tensor.name!r} has no samples (shape {array.shape}); pass at "
                                 "least one")
        if count is not None and array.shape[0] != count:
            raise InputDataError(f"inputs have different sample counts ({count} and {array.shape[0]})")
        count = array.shape[0]
        if np.dtype(tensor.dtype).kind == "i":
            info = np.iinfo(tensor.dtype)
            if array.dtype.kind not in "iu" or array.min(initial=0) < info.min or array.max(initial=0) > info.max:
                raise InputDataError(f"input {tensor.name!r} is {tensor.dtype}: pass integer values "
                                     f"in [{info.min}, {info.max}] (got {array.dtype})")
        elif array.dtype.kind not in "fiub":
            raise InputDataError(f"input {tensor.name!r} holds {array.dtype} values; pass numbers "
                                 f"({tensor.dtype})")
        arrays.append(np.ascontiguousarray(array, tensor.dtype))
    return arrays
