"""Closed-loop simulation: the generated controller, through any runner that keeps state
between calls (the host simulator, a board over serial), against a plant that is an ONNX
model or a Python function step(x, u) -> x."""
from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import numpy as np

from edgeopt.errors import EdgeoptError, InputDataError


def load_plant(spec: str, config):
    """'plant.onnx' (concat(x, u) -> next x, or u -> y) or 'file.py[:function]' (default step)."""
    if spec.lower().endswith(".onnx"):
        from edgeopt.simulator.reference import onnx_session

        path = Path(spec)
        if not path.is_file():
            raise EdgeoptError(f"--plant {spec}: no such file")
        session = onnx_session(path.read_bytes())
        meta = session.get_inputs()[0]
        shape = [d if isinstance(d, int) else 1 for d in meta.shape]

        def onnx_step(x, u):
            z = np.concatenate([np.reshape(x, -1), np.reshape(u, -1)]).astype(np.float32)
            return np.asarray(session.run(None, {meta.name: z.reshape(shape)})[0], np.float32).reshape(-1)

        return onnx_step
    file_name, _, function = spec.partition(":")
    path = Path(file_name)
    if not path.is_file() or path.suffix != ".py":
        raise EdgeoptError(f"--plant {spec}: expected PLANT.onnx or FILE.py[:FUNCTION]")
    module_spec = importlib.util.spec_from_file_location(f"edgeopt_plant_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        raise EdgeoptError(f"--plant {spec}: importing {path} failed: {type(exc).__name__}: {exc}") from None
    step = getattr(module, function or "step", None)
    if not callable(step):
        raise EdgeoptError(f"--plant {spec}: {path} has no function {function or 'step'}(x, u)")
    return lambda x, u: np.asarray(step(np.asarray(x, np.float32), np.asarray(u, np.float32)),
                                   np.float32).reshape(-1)


def run_closed_loop(runner, plant, inputs: dict, steps: int) -> dict:
    """inputs: x0 (nx,) [none for a static map], r (K, ny) reference trajectory, u_prev (nu,).
    Each step is one call of the packed entry point, whose u_prev is the control the previous
    step applied: the solver warm-starts from its previous solution."""
    config = runner.artifact.details
    ny = config.output_dim
    nx, nu, horizon = config.state_dim, config.control_dim, config.horizon
    reference = np.asarray(inputs.get("r"), np.float32)
    if reference.ndim == 1 and reference.size == ny:
        reference = np.tile(reference, (steps, 1))
    if reference.ndim != 2 or reference.shape[1] != ny or reference.shape[0] < 1:
        raise InputDataError(f"closed loop: r must be (K, {ny}) (or ({ny},) for a constant reference)")
    x = np.asarray(inputs.get("x0", np.zeros(nx)), np.float32).reshape(-1)
    if x.size != nx:
        raise InputDataError(f"closed loop: x0 must have {nx} values")
    u_prev = np.asarray(inputs.get("u_prev", np.zeros(nu)), np.float32).reshape(-1)
    padded = np.concatenate([reference, np.repeat(reference[-1:], horizon, axis=0)])
    record = {key: [] for key in ("x", "y", "u", "r", "cost", "iterations", "status")}
    for t in range(steps):
        window = padded[min(t, len(reference) - 1) + 1: min(t, len(reference) - 1) + 1 + horizon]
        feed = dict(r=window[None], u_prev=u_prev[None])
        if nx:
            feed["x0"] = x[None]
        result = runner.run(feed, reset=t == 0)
        u, cost = result["u"][0], float(result["cost"][0])
        iterations, status = int(result["iterations"][0]), int(result["status"][0])
        u_prev = u[0]
        y = plant(x, u[0])
        if y.size != ny:
            raise EdgeoptError(f"the plant returned {y.size} values; the controller expects {ny}")
        for key, value in (("x", x), ("y", y), ("u", u[0]), ("r", window[0]), ("cost", cost),
                           ("iterations", iterations), ("status", status)):
            record[key].append(np.array(value))
        if nx:
            x = y
    trajectory = {key: np.stack(values) for key, values in record.items()}
    trajectory["t"] = np.arange(1, steps + 1)
    return trajectory


def save_trajectory(trajectory: dict, out_path) -> list:
    """Writes OUT.npz, OUT.csv and OUT.png (reference vs output, and u)."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    stem = out.with_suffix("")
    np.savez(stem.with_suffix(".npz"), **trajectory)
    columns = [("t", trajectory["t"][:, None])] + [
        (f"{key}{i}", trajectory[key][:, i:i + 1]) for key in ("r", "y", "u")
        for i in range(trajectory[key].shape[1])] + [
        ("cost", trajectory["cost"][:, None]), ("iterations", trajectory["iterations"][:, None]),
        ("status", trajectory["status"][:, None])]
    with open(stem.with_suffix(".csv"), "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([name for name, _ in columns])
        writer.writerows(np.concatenate([c for _, c in columns], axis=1).tolist())
    _plot(trajectory, stem.with_suffix(".png"))
    return [stem.with_suffix(ext) for ext in (".npz", ".csv", ".png")]


def _plot(trajectory, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = trajectory["t"]
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(8, 5))
    for i in range(trajectory["y"].shape[1]):
        if np.any(trajectory["r"][:, i]) or i == 0:
            top.plot(t, trajectory["r"][:, i], "--", label=f"reference {i}")
            top.plot(t, trajectory["y"][:, i], label=f"output {i}")
    top.set_ylabel("output")
    top.legend(loc="upper right", fontsize=8)
    for i in range(trajectory["u"].shape[1]):
        bottom.step(t, trajectory["u"][:, i], where="post", label=f"u {i}")
    bottom.set_ylabel("control")
    bottom.set_xlabel("step")
    bottom.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
