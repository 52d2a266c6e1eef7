"""Newton-MPC on a learned model: damped Gauss-Newton over the control sequence, exact model
Jacobians generated from the model's IR, box bounds by a projected active set.

simulate's npz contract: inputs x0 (N, state_dim; omitted without states), r (N, horizon,
outputs) or (N, outputs) for a constant reference, u_prev (N, controls); outputs u (N,
horizon, controls), cost, iterations, status (N,)."""
from __future__ import annotations

import numpy as np

from edgeopt.errors import EdgeoptError, InputDataError
from edgeopt.solvers import SolverKind
from edgeopt.solvers.newton_mpc.compile import compile_newton_mpc


def summary(artifact):
    c = artifact.details
    return [f"solver {c.name} (newton_mpc): horizon {c.horizon} (control horizon {c.control_horizon}), "
            f"{c.state_dim} states, {c.control_dim} controls, {c.output_dim} outputs, {c.jacobian} "
            f"model Jacobian; static RAM {artifact.memory.static_ram:,} B"]


def prepare_inputs(artifact, arrays):
    c = artifact.details
    expected = {"r", "u_prev"} | ({"x0"} if c.state_dim else set())
    if set(arrays) != expected:
        raise InputDataError(f"solver inputs must be exactly {sorted(expected)}; got {sorted(arrays)}")
    arrays = dict(arrays)
    r = np.asarray(arrays["r"])
    if r.ndim == 2 and r.shape[1:] == (c.output_dim,):
        arrays["r"] = np.repeat(r[:, None, :], c.horizon, axis=1)  # a constant reference
    return arrays


def finish_outputs(artifact, outputs):
    status = outputs["status"]
    line = (f"solved {status.size} problem(s): {int((status == 0).sum())} converged, "
            f"{int((status == 1).sum())} at the iteration cap, {int((status == 2).sum())} numerical "
            f"failures; iterations median {int(np.median(outputs['iterations'])) if status.size else 0}")
    return outputs, line


def closed_loop(artifact, runner, plant_spec, inputs, steps, out_path):
    from edgeopt.solvers.newton_mpc.closed_loop import load_plant, run_closed_loop, save_trajectory

    if steps < 1:
        raise EdgeoptError("--closed-loop needs --steps >= 1")
    trajectory = run_closed_loop(runner, load_plant(plant_spec, artifact.details), inputs, steps)
    written = save_trajectory(trajectory, out_path)
    error = trajectory["y"] - trajectory["r"]
    weights = np.asarray(artifact.details.q) > 0
    rms = float(np.sqrt(np.mean(error[:, weights] ** 2)))
    return (f"closed loop: {steps} steps, RMS tracking error {rms:.4f} on the weighted outputs, "
            f"median {int(np.median(trajectory['iterations']))} iteration(s); wrote "
            + ", ".join(str(p) for p in written))


KIND = SolverKind(
    name="newton_mpc", title="Newton-Raphson MPC on a learned model", compile=compile_newton_mpc,
    summary=summary, prepare_inputs=prepare_inputs, finish_outputs=finish_outputs,
    closed_loop=closed_loop)
