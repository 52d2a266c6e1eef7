"""Compile a newton_mpc config: its model through the model pipeline (with the model Jacobian
generated beside the forward pass), then the solver's templates, into one Artifact."""
from __future__ import annotations

import hashlib

from edgeopt.artifact import Artifact, Memory, TensorSpec, packed_offsets, packed_size
from edgeopt.codegen.emit import RUNTIME_VERSION, banner_lines
from edgeopt.codegen.jacobian import jacobian_extension
from edgeopt.codegen.literals import f32
from edgeopt.codegen.render import make_environment
from edgeopt.pipeline import compile_model
from edgeopt.solvers.config import ConfigError, solver_name
from edgeopt.solvers.newton_mpc.config import load_mpc_config, read_dimensions
from edgeopt.targets import load_targets


def work_bytes(nx, nu, ny, nz):
    """The solver's static work buffers (solver.c.j2 checks this figure at compile time)."""
    nin = nx + nu
    return 4 * (2 * nz * nz + 5 * nz + max(nx, 1) * nz + ny * nz + nin + ny + nin * ny)


# Flash of solver.c's algorithm (Cortex-M4, -O2: 2,788 B for the soft-actuator example); the
# model's code and weights are counted from its own files.
SOLVER_CODE_BYTES = 2800


def state_bytes(nu, nz):
    """The packed entry point's context plus its started flag."""
    return 4 * (nz + nu + 3) + 4


def compile_newton_mpc(read, name_override=None) -> Artifact:
    name = solver_name(read, name_override, "mpc")
    model_path, nx, nu, method = read_dimensions(read)
    model_name = f"{name}_model"
    variants = (("", 0), ("_u", nx)) if nx else (("", 0),)  # x_0 is given: d x_0 / d U = 0
    model = compile_model(model_path, name=model_name, options=dict(solver=name),
                          extensions=[jacobian_extension(model_name, method, variants)])
    n_in = sum(t.size for t in model.inputs)
    n_out = sum(t.size for t in model.outputs) if len(model.outputs) == 1 else -1
    config = load_mpc_config(read, name, n_in, n_out)
    ny, horizon = config.output_dim, config.horizon
    nz = config.control_horizon * nu
    inputs = ([TensorSpec("x0", "x0", (nx,))] if nx else []) + [
        TensorSpec("r", "r", (horizon, ny)), TensorSpec("u_prev", "u_prev", (nu,))]
    outputs = [TensorSpec("u", "u", (horizon, nu)), TensorSpec("cost", "cost", ()),
               TensorSpec("iterations", "iterations", (), "int32"),
               TensorSpec("status", "status", (), "int32")]
    memory = model.memory.combined(Memory({}, work=work_bytes(nx, nu, ny, nz), state=state_bytes(nu, nz),
                                          own_code=SOLVER_CODE_BYTES))
    largest = max(t.ram for t in load_targets().values())
    if memory.static_ram > largest:
        raise ConfigError(f"{read.path}: [mpc] horizon = {horizon} with {nu} controls needs "
                          f"{memory.static_ram:,} B of static RAM; the largest target has {largest:,} B. "
                          "Use a shorter (control) horizon.")
    digest = hashlib.sha256(read.path.read_bytes()).hexdigest()
    options = dict(kind="newton_mpc", name=name, horizon=horizon, control_horizon=config.control_horizon,
                   jacobian=method, max_iterations=config.max_iterations)
    context = dict(
        banner=banner_lines(read.path.name, digest, options),
        prefix=name, upper=name.upper(), model=model_name, model_upper=model_name.upper(),
        nx=nx, nu=nu, ny=ny, horizon=horizon, control_horizon=config.control_horizon, nz=nz,
        max_iterations=config.max_iterations, tolerance=config.tolerance,
        work_bytes=memory.work - model.memory.work, state_bytes=memory.state,
        static_ram=memory.static_ram, runtime_version=RUNTIME_VERSION,
        inputs=inputs, outputs=outputs, input_offsets=packed_offsets(inputs),
        output_offsets=packed_offsets(outputs), input_bytes=packed_size(inputs),
        output_bytes=packed_size(outputs),
        **{key: ", ".join(f32(v) for v in getattr(config, key))
           for key in ("q", "q_terminal", "r", "s", "u_min", "u_max")},
    )
    env = make_environment()
    files = dict(model.files)
    files[f"{name}.h"] = env.get_template("solvers/newton_mpc/solver.h.j2").render(**context)
    files[f"{name}.c"] = env.get_template("solvers/newton_mpc/solver.c.j2").render(**context)
    return Artifact(name, "newton_mpc", files, inputs, outputs, memory, options, source=read.path.name,
                    source_sha256=digest, parameters=model.parameters, peak_bytes=model.peak_bytes,
                    details=config)
