"""Compile a fw_dictionary config into an Artifact: the solver's templates, no model."""
from __future__ import annotations

import hashlib

from edgeopt.artifact import Artifact, Memory, TensorSpec, packed_offsets, packed_size
from edgeopt.codegen.emit import RUNTIME_VERSION, banner_lines
from edgeopt.codegen.literals import array_rows
from edgeopt.codegen.render import make_environment
from edgeopt.solvers.config import solver_name
from edgeopt.solvers.fw_dictionary.config import load_dictionary_config
from edgeopt.solvers.fw_dictionary.reference import initial_dictionary

SOLVER_CODE_BYTES = 3700  # solver.c on a Cortex-M4 at -O2 (2,650 B measured) and libm's powf
UNIT_ROUNDOFF = 2.0 ** -24


def compile_fw_dictionary(read, name_override=None) -> Artifact:
    name = solver_name(read, name_override, "odl")
    config = load_dictionary_config(read, name)
    n, b = config.dim, config.batch
    # Jacobi stops when no pair of columns is further from orthogonal than rounding allows
    tolerance = max(config.polar_tolerance, 4 * n * UNIT_ROUNDOFF)
    inputs = [TensorSpec("Y", "y", (b, n)), TensorSpec("A0", "a0", (n, n)),
              TensorSpec("init", "init", (), "int32")]
    outputs = [TensorSpec("A", "a", (n, n)), TensorSpec("t", "t", (), "int32"),
               TensorSpec("status", "status", (), "int32"), TensorSpec("sweeps", "sweeps", (), "int32")]
    ctx_bytes = 4 * (6 * n * n + n * b + 3)
    memory = Memory({"always": 4 * n * n}, state=ctx_bytes + 4, stack=2048 + 8 * n,
                    code={"always": set()}, own_code=SOLVER_CODE_BYTES)
    digest = hashlib.sha256(read.path.read_bytes()).hexdigest()
    options = dict(kind="fw_dictionary", name=name, dim=n, batch=b, p=config.p, variant=config.variant)
    context = dict(
        banner=banner_lines(read.path.name, digest, options), prefix=name, upper=name.upper(),
        n=n, b=b, p=config.p, variant=config.variant, seed=config.seed, rho=config.rho, gamma=config.gamma,
        threshold=config.threshold, polar_sweeps=config.polar_sweeps, polar_tolerance=tolerance,
        orthogonal=2 * n * UNIT_ROUNDOFF,
        initial_rows=array_rows(initial_dictionary(n, config.seed).astype("float32")),
        ctx_bytes=ctx_bytes, state_bytes=memory.state, static_ram=memory.static_ram,
        runtime_version=RUNTIME_VERSION, inputs=inputs, outputs=outputs,
        input_offsets=packed_offsets(inputs), output_offsets=packed_offsets(outputs),
        input_bytes=packed_size(inputs), output_bytes=packed_size(outputs))
    env = make_environment()
    files = {f"{name}.h": env.get_template("solvers/fw_dictionary/solver.h.j2").render(**context),
             f"{name}.c": env.get_template("solvers/fw_dictionary/solver.c.j2").render(**context)}
    return Artifact(name, "fw_dictionary", files, inputs, outputs, memory, options, source=read.path.name,
                    source_sha256=digest, details=config)
