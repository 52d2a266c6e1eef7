"""The numpy reference of newton_mpc: the same cost with onnxruntime for the model, and a
tight optimum of it from scipy's L-BFGS-B with the box bounds."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgeopt.simulator.reference import onnx_session

if TYPE_CHECKING:
    from edgeopt.solvers.newton_mpc.config import MpcConfig


class ReferenceProblem:
    """The same MPC cost evaluated with onnxruntime for the model (numpy reference)."""

    def __init__(self, config: MpcConfig):
        self.config = config
        self.session = onnx_session(Path(config.model_path).read_bytes())
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
