"""The newton_mpc config schema: [solver], [model] and [mpc], validated with clear errors."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeopt.solvers.config import ConfigError, ConfigReader


@dataclass(frozen=True)
class MpcConfig:
    path: Path
    name: str
    model_path: Path
    state_dim: int
    control_dim: int
    horizon: int
    control_horizon: int
    q: tuple
    q_terminal: tuple
    r: tuple
    s: tuple
    u_min: tuple
    u_max: tuple
    max_iterations: int
    tolerance: float
    jacobian: str  # "exact" or "finite_difference"

    @property
    def output_dim(self) -> int:
        return len(self.q)


def read_dimensions(read: ConfigReader):
    """(model path, state_dim, control_dim, jacobian): what compiling the model needs."""
    model_path = read.model_path()
    nx = read.integer("model", "state_dim", 0, maximum=4096)
    nu = read.integer("model", "control_dim", 1, maximum=4096)
    jacobian = read.choice("mpc", "jacobian", ("exact", "finite_difference"), "exact")
    return model_path, nx, nu, jacobian


def load_mpc_config(read: ConfigReader, name: str, n_in: int, n_out: int) -> MpcConfig:
    """The whole config, checked against the compiled model's input and output sizes."""
    path = read.path
    model_path, nx, nu, jacobian = read_dimensions(read)
    if n_in != nx + nu:
        raise ConfigError(f"{path}: [model] the model takes {n_in} input values but state_dim + "
                          f"control_dim = {nx} + {nu} = {nx + nu}")
    if nx and n_out != nx:
        raise ConfigError(f"{path}: [model] with state_dim = {nx} the model must output the next "
                          f"state ({nx} values); it outputs {n_out}")
    horizon = read.integer("mpc", "horizon", 1, maximum=4096)
    control_horizon = read.integer("mpc", "control_horizon", 1, horizon, maximum=4096)
    if control_horizon > horizon:
        read.fail("mpc", "control_horizon", f"at most the horizon ({horizon})", control_horizon)
    u_min = read.vector("mpc", "u_min", nu)
    u_max = read.vector("mpc", "u_max", nu)
    for i, (low, high) in enumerate(zip(u_min, u_max)):
        if low > high:
            raise ConfigError(f"{path}: [mpc] u_min[{i}] = {low} is greater than u_max[{i}] = {high}")
    q = read.vector("mpc", "q", n_out, positive=True)
    return MpcConfig(
        path=path, name=name, model_path=model_path, state_dim=nx, control_dim=nu,
        horizon=horizon, control_horizon=control_horizon, q=q,
        q_terminal=read.vector("mpc", "q_terminal", n_out, list(q), positive=True),
        r=read.vector("mpc", "r", nu, 0.0, positive=True),
        s=read.vector("mpc", "s", nu, 0.0, positive=True),
        u_min=u_min, u_max=u_max,
        max_iterations=read.integer("mpc", "max_iterations", 1, 10, maximum=1_000_000),
        tolerance=read.number("mpc", "tolerance", 1e-4, positive=True), jacobian=jacobian,
    )
