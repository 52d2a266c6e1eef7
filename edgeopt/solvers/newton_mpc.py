"""Newton-MPC: compile a config + learned model into a C solver library, run it on the
host, and the numpy/scipy references it is tested against."""
from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeopt.codegen import generate
from edgeopt.codegen.literals import f32
from edgeopt.codegen.render import make_environment
from edgeopt.errors import InputDataError
from edgeopt.frontends import load_model
from edgeopt.ops import default_registry
from edgeopt.passes import optimize
from edgeopt.pipeline import write_files
from edgeopt.resources import runtime_dir
from edgeopt.simulator.toolchain import (
    HOST_OPT_FLAGS, STRICT_FLAGS, Workspace, host_cc, run_compiler, runtime_archive,
)
from edgeopt.solvers.config import MpcConfig, load_mpc_config
from edgeopt.solvers.jacobian import jacobian_extension


@dataclass
class CompiledSolver:
    config: MpcConfig
    files: dict  # file name -> text (solver and its model)
    output_dim: int

    @property
    def name(self):
        return self.config.name


def compile_solver(config_path) -> CompiledSolver:
    registry = default_registry()
    graphs = {}

    def model_sizes(model_path):
        graph = optimize(load_model(model_path), registry)
        graphs["model"] = graph
        if len(graph.inputs) != 1 or len(graph.outputs) != 1:
            return sum(graph.tensor(n).size for n in graph.inputs), -1
        return graph.tensor(graph.inputs[0]).size, graph.tensor(graph.outputs[0]).size

    config = load_mpc_config(config_path, model_sizes)
    graph = graphs["model"]
    model_name = f"{config.name}_model"
    extensions = [jacobian_extension(model_name, config.jacobian)]
    if config.state_dim:  # the first step's state sensitivity is zero: control columns only
        extensions.append(jacobian_extension(model_name, config.jacobian, "_u", config.state_dim))
    generated = generate(graph, registry, model_name, f"solver={config.name}", extensions=extensions)
    ny = len(config.q)
    context = dict(
        banner=[f"edgeopt Newton-MPC solver {config.name} for {config.path.name}",
                "Do not edit: regenerate with `edgeopt compile`."],
        prefix=config.name, upper=config.name.upper(), model=model_name,
        nx=config.state_dim, nu=config.control_dim, ny=ny, horizon=config.horizon,
        control_horizon=config.control_horizon, nz=config.control_horizon * config.control_dim,
        max_iterations=config.max_iterations, tolerance=config.tolerance,
        **{key: ", ".join(f32(v) for v in getattr(config, key))
           for key in ("q", "q_terminal", "r", "s", "u_min", "u_max")},
    )
    env = make_environment()
    files = dict(generated.files)
    files[f"{config.name}.h"] = env.get_template("solvers/newton_mpc/solver.h.j2").render(**context)
    files[f"{config.name}.c"] = env.get_template("solvers/newton_mpc/solver.c.j2").render(**context)
    return CompiledSolver(config, files, ny)


class HostSolver(Workspace):
    """The generated solver compiled for the host and loaded with ctypes."""

    def __init__(self, solver: CompiledSolver):
        self.solver = solver
        super().__init__("edgeopt-mpc-")
        with self.removed_on_error():
            self._lib = ctypes.CDLL(str(self._build()))

    def _build(self):
        config = self.solver.config
        files = dict(self.solver.files)
        files["eo_sim_mpc.c"] = make_environment().get_template(
            "solvers/newton_mpc/host_harness.c.j2").render(
            prefix=config.name, nx=config.state_dim, nu=config.control_dim,
            ny=self.solver.output_dim, horizon=config.horizon)
        write_files(files, self.workdir)
        cc = host_cc()
        flags = [*STRICT_FLAGS, *HOST_OPT_FLAGS, "-fPIC"]
        library = self.workdir / f"lib{config.name}.so"
        sources = [str(self.workdir / n) for n in files if n.endswith(".c")]
        run_compiler([cc, *flags, "-shared", f"-I{runtime_dir() / 'include'}", f"-I{self.workdir}",
                      *sources, str(runtime_archive(cc, flags)), "-o", str(library), "-lm"])
        return library

    def reset(self, u_prev):
        """Start a closed loop: the next step() solves from u_prev."""
        u_prev = np.ascontiguousarray(u_prev, np.float32)
        self._lib.eo_sim_mpc_reset(u_prev.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))

    def step(self, x0, r):
        """One warm-started solve: r is (horizon, ny). Returns (u (horizon, nu), cost, iterations, status)."""
        config = self.solver.config
        x0 = np.ascontiguousarray(np.reshape(x0, -1) if config.state_dim else np.zeros(1), np.float32)
        r = np.ascontiguousarray(r, np.float32)
        u = np.zeros((config.horizon, config.control_dim), np.float32)
        cost, iterations = ctypes.c_float(), ctypes.c_int32()
        pointer = lambda a: a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))  # noqa: E731
        status = self._lib.eo_sim_mpc_step(pointer(x0), pointer(r), pointer(u), ctypes.byref(cost),
                                           ctypes.byref(iterations))
        return u, cost.value, iterations.value, status

    def model_jacobian(self, z, controls_only=False):
        """(y, d y / d z) from the generated <name>_model_jacobian (or, controls_only, the
        columns of the controls from <name>_model_jacobian_u)."""
        config = self.solver.config
        z = np.ascontiguousarray(z, np.float32).reshape(-1)
        y = np.zeros(self.solver.output_dim, np.float32)
        rows = config.control_dim if controls_only else z.size
        jt = np.zeros((rows, self.solver.output_dim), np.float32)
        suffix = "_u" if controls_only else ""
        function = getattr(self._lib, f"{config.name}_model_jacobian{suffix}")
        function(*(a.ctypes.data_as(ctypes.POINTER(ctypes.c_float)) for a in (z, y, jt)))
        return y, jt.T

    def solve(self, inputs: dict) -> dict:
        """inputs: x0 (N, nx) [omitted when nx = 0], r (N, horizon, ny) or (N, ny), u_prev (N, nu)."""
        x0, r, u_prev = prepare_mpc_inputs(self.solver, inputs)
        count = u_prev.shape[0]
        config = self.solver.config
        u = np.zeros((count, config.horizon, config.control_dim), np.float32)
        cost = np.zeros(count, np.float32)
        iterations = np.zeros(count, np.int32)
        status = np.zeros(count, np.int32)
        pointer = lambda a, t=ctypes.c_float: a.ctypes.data_as(ctypes.POINTER(t))  # noqa: E731
        self._lib.eo_sim_mpc_batch(ctypes.c_int32(count), pointer(x0), pointer(r), pointer(u_prev),
                                   pointer(u), pointer(cost), pointer(iterations, ctypes.c_int32),
                                   pointer(status, ctypes.c_int32))
        return dict(u=u, cost=cost, iterations=iterations, status=status)


def prepare_mpc_inputs(solver: CompiledSolver, inputs: dict):
    config = solver.config
    nx, nu, ny, horizon = config.state_dim, config.control_dim, solver.output_dim, config.horizon
    expected = {"r", "u_prev"} | ({"x0"} if nx else set())
    if set(inputs) != expected:
        raise InputDataError(f"solver inputs must be exactly {sorted(expected)}; got {sorted(inputs)}")
    u_prev = np.ascontiguousarray(inputs["u_prev"], np.float32)
    if u_prev.ndim != 2 or u_prev.shape[1] != nu:
        raise InputDataError(f"u_prev must be (N, {nu}); got {u_prev.shape}")
    count = u_prev.shape[0]
    r = np.asarray(inputs["r"], np.float32)
    if r.shape == (count, ny):
        r = np.repeat(r[:, None, :], horizon, axis=1)  # a constant reference
    if r.shape != (count, horizon, ny):
        raise InputDataError(f"r must be (N, {horizon}, {ny}) or (N, {ny}); got {r.shape}")
    x0 = np.ascontiguousarray(inputs.get("x0", np.zeros((count, max(nx, 1)))), np.float32)
    if nx and x0.shape != (count, nx):
        raise InputDataError(f"x0 must be (N, {nx}); got {x0.shape}")
    return x0, np.ascontiguousarray(r), u_prev


class EmulatedSolver:
    """The solver cross-compiled for a QEMU Cortex-M target; one emulated call per problem
    (init from u_prev + solve), timed exactly like a model inference."""

    def __init__(self, solver: CompiledSolver, target: str):
        from edgeopt.codegen.emit import GeneratedModel, TensorInfo
        from edgeopt.simulator.qemu import QemuModel

        config = self.config = solver.config
        self.solver = solver
        nx, nu, ny, horizon = config.state_dim, config.control_dim, solver.output_dim, config.horizon
        adapter = f"{config.name}_emulated"
        files = dict(solver.files)
        files[f"{adapter}.h"] = (f"#include \"eo_runtime.h\"\n"
                                 f"eo_status_t {adapter}_invoke(const float *in, float *out);\n")
        files[f"{adapter}.c"] = make_environment().get_template(
            "solvers/newton_mpc/adapter.c.j2").render(
            prefix=config.name, adapter=adapter, nx=nx, nu=nu, ny=ny, horizon=horizon)
        self.in_size, self.out_size = nx + horizon * ny + nu, horizon * nu + 3
        generated = GeneratedModel(adapter, files, [TensorInfo("in", "in", (self.in_size,))],
                                   [TensorInfo("out", "out", (self.out_size,))], [], 0, 0, 0, 0)
        self._model = QemuModel(generated, target)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._model.close()

    def solve(self, inputs: dict, timeout: float = 300.0):
        x0, r, u_prev = prepare_mpc_inputs(self.solver, inputs)
        count, config = u_prev.shape[0], self.config
        packed = np.concatenate([x0[:, :config.state_dim], r.reshape(count, -1), u_prev], axis=1)
        outputs, report = self._model.run({"in": packed}, timeout=timeout)
        out = outputs["out"]
        n = config.horizon * config.control_dim
        result = dict(u=out[:, :n].reshape(count, config.horizon, config.control_dim),
                      cost=out[:, n].copy(), iterations=out[:, n + 1].astype(np.int32),
                      status=out[:, n + 2].astype(np.int32))
        return result, report


class ReferenceProblem:
    """The same MPC cost evaluated with onnxruntime for the model (numpy reference)."""

    def __init__(self, config: MpcConfig):
        from edgeopt.simulator.reference import _session

        self.config = config
        self.session = _session(Path(config.model_path).read_bytes())
        self.input = self.session.get_inputs()[0]

    def model(self, z):
        shape = [d if isinstance(d, int) else 1 for d in self.input.shape]
        out = self.session.run(None, {self.input.name: np.asarray(z, np.float32).reshape(shape)})[0]
        return np.asarray(out, np.float64).reshape(-1)

    def controls(self, U):
        c = self.config
        U = np.asarray(U, np.float64).reshape(c.control_horizon, c.control_dim)
        return np.stack([U[min(k, c.control_horizon - 1)] for k in range(c.horizon)])

    def cost(self, U, x0, r, u_prev):
        c = self.config
        us = self.controls(U)
        x = np.asarray(x0, np.float64).reshape(-1)[:c.state_dim]
        total, before = 0.0, np.asarray(u_prev, np.float64)
        for k in range(c.horizon):
            y = self.model(np.concatenate([x, us[k]]))
            w = np.asarray(c.q_terminal if k == c.horizon - 1 else c.q)
            total += float(np.sum(w * (y - r[k]) ** 2))
            total += float(np.sum(np.asarray(c.r) * us[k] ** 2 + np.asarray(c.s) * (us[k] - before) ** 2))
            before = us[k]
            x = y if c.state_dim else x
        return total

    def optimum(self, x0, r, u_prev, start=None):
        """A tight reference optimum: scipy L-BFGS-B with the box bounds on the same cost."""
        from scipy.optimize import minimize

        c = self.config
        lows = np.tile(c.u_min, c.control_horizon)
        highs = np.tile(c.u_max, c.control_horizon)
        start = np.clip(np.tile(u_prev, c.control_horizon) if start is None else start, lows, highs)
        result = minimize(self.cost, start, args=(x0, r, u_prev), method="L-BFGS-B",
                          bounds=list(zip(lows, highs)),
                          options=dict(maxiter=3000, ftol=1e-15, gtol=1e-9, eps=1e-4))
        return result.x, float(result.fun)
