"""Compile a sinkhorn_newton_sparse config into an Artifact: the solver's templates only."""
from __future__ import annotations

import hashlib

from edgeopt.artifact import Artifact, Memory, TensorSpec, packed_offsets, packed_size
from edgeopt.codegen.emit import RUNTIME_VERSION, banner_lines
from edgeopt.codegen.render import make_environment
from edgeopt.solvers.config import ConfigError, solver_name
from edgeopt.solvers.sinkhorn_newton_sparse.config import load_transport_config
from edgeopt.targets import load_targets

SOLVER_CODE_BYTES = 5900  # solver.c on a Cortex-M4 at -O2 (5,176 B measured, its own exp inlined) + libm's logf (~700 B)


def context_bytes(config, item):
    """sizeof(NAME_ctx_t), laid out as C does (solver.c.j2 checks it at compile time)."""
    n, m, k = config.n, config.m, config.capacity
    fields = [(item, n + m), (item, n + m), (item, n + m), (item, n * m), (item, k), (4, k), (4, n + 1),
              (item, 6 * (n + m)), (4, 4), (item, 2), (4, 1)]  # (alignment = element size, count)
    size = 0
    for align, count in fields:
        size = -(-size // align) * align + align * count
    return -(-size // item) * item


def compile_sinkhorn_newton_sparse(read, name_override=None) -> Artifact:
    name = solver_name(read, name_override, "ot")
    config = load_transport_config(read, name)
    n, m = config.n, config.m
    real, item = ("float", 4) if config.precision == "float32" else ("double", 8)
    dtype = "float32" if item == 4 else "float64"
    inputs = [TensorSpec("C", "cost", (n, m), dtype), TensorSpec("r", "r", (n,), dtype),
              TensorSpec("c", "c", (m,), dtype)]
    outputs = [TensorSpec("P", "p", (n, m), dtype), TensorSpec("f", "f", (n,), dtype),
               TensorSpec("g", "g", (m,), dtype), TensorSpec("iterations", "iterations", (), "int32"),
               TensorSpec("newton_steps", "newton_steps", (), "int32"), TensorSpec("status", "status", (), "int32")]
    ctx_bytes = context_bytes(config, item)
    memory = Memory({}, state=ctx_bytes, code={"always": set()}, own_code=SOLVER_CODE_BYTES)
    largest = max(t.ram for t in load_targets().values())
    if memory.static_ram > largest:
        raise ConfigError(f"{read.path}: [problem] n = {n}, m = {m} needs {memory.static_ram:,} B of static RAM "
                          f"(a context); the largest target has {largest:,} B")
    digest = hashlib.sha256(read.path.read_bytes()).hexdigest()
    options = dict(kind="sinkhorn_newton_sparse", name=name, n=n, m=m, eta=config.eta, capacity=config.capacity,
                   precision=config.precision)
    context = dict(
        banner=banner_lines(read.path.name, digest, options), prefix=name, upper=name.upper(), real=real,
        n=n, m=m, eta=repr(config.eta), capacity=config.capacity, kept=config.kept, row_top_k=config.row_top_k,
        sinkhorn_steps=config.sinkhorn_steps, max_newton_steps=config.max_newton_steps,
        max_sinkhorn_steps=config.max_sinkhorn_steps, cg_max_iterations=config.cg_max_iterations,
        cg_tolerance=repr(config.cg_tolerance), tolerance=repr(config.tolerance), ctx_bytes=ctx_bytes,
        state_bytes=memory.state, static_ram=memory.static_ram, runtime_version=RUNTIME_VERSION,
        inputs=inputs, outputs=outputs, input_offsets=packed_offsets(inputs),
        output_offsets=packed_offsets(outputs), input_bytes=packed_size(inputs), output_bytes=packed_size(outputs))
    env = make_environment()
    files = {f"{name}.h": env.get_template("solvers/sinkhorn_newton_sparse/solver.h.j2").render(**context),
             f"{name}.c": env.get_template("solvers/sinkhorn_newton_sparse/solver.c.j2").render(**context)}
    return Artifact(name, "sinkhorn_newton_sparse", files, inputs, outputs, memory, options,
                    source=read.path.name, source_sha256=digest, details=config)
