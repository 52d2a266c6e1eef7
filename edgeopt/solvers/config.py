"""Newton-MPC config files (TOML): parsing and validation with clear errors."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from edgeopt.errors import EdgeoptError


class ConfigError(EdgeoptError):
    """A solver config file is missing, unreadable or invalid."""


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


def _load_toml(path: Path) -> dict:
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


class _Reader:
    def __init__(self, path, data):
        self.path, self.data = path, data

    def fail(self, section, key, expected, found):
        shown = f'"{found}"' if isinstance(found, str) else repr(found)
        raise ConfigError(f"{self.path}: [{section}] {key} must be {expected}; found {shown}")

    def get(self, section, key, default=...):
        table = self.data.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{self.path}: [{section}] must be a table")
        if key not in table:
            if default is ...:
                raise ConfigError(f"{self.path}: missing key [{section}] {key}")
            return default
        return table[key]

    def integer(self, section, key, minimum, default=...):
        value = self.get(section, key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(section, key, f"an integer >= {minimum}", value)
        return value

    def number(self, section, key, default=...):
        value = self.get(section, key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.fail(section, key, "a finite number", value)
        return float(value)

    def vector(self, section, key, length, default=..., positive=False):
        value = self.get(section, key, default)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value] * length  # a scalar applies to every component
        if (not isinstance(value, list) or len(value) != length
                or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                       for v in value)):
            self.fail(section, key, f"a list of {length} finite numbers (or one number)", value)
        if positive and any(v < 0 for v in value):
            self.fail(section, key, "non-negative weights", value)
        return tuple(float(v) for v in value)


def load_mpc_config(path, model_sizes) -> MpcConfig:
    """Parse and validate; model_sizes(model_path) -> (input size, output size)."""
    path = Path(path)
    read = _Reader(path, _load_toml(path))
    kind = read.get("solver", "kind")
    if kind != "newton_mpc":
        read.fail("solver", "kind", '"newton_mpc"', kind)
    name = read.get("solver", "name", "mpc")
    if not isinstance(name, str) or not name.isidentifier() or not name.isascii() or len(name) > 32:
        read.fail("solver", "name", "a C identifier of at most 32 characters", name)
    model = read.get("model", "path")
    if not isinstance(model, str):
        read.fail("model", "path", "a path string (relative to the config)", model)
    model_path = (path.parent / model).resolve()
    if not model_path.is_file():
        raise ConfigError(f"{path}: [model] path: {model_path} does not exist")
    nx = read.integer("model", "state_dim", 0)
    nu = read.integer("model", "control_dim", 1)
    n_in, n_out = model_sizes(model_path)
    if n_in != nx + nu:
        raise ConfigError(f"{path}: [model] the model takes {n_in} input values but state_dim + "
                          f"control_dim = {nx} + {nu} = {nx + nu}")
    if nx and n_out != nx:
        raise ConfigError(f"{path}: [model] with state_dim = {nx} the model must output the next "
                          f"state ({nx} values); it outputs {n_out}")
    horizon = read.integer("mpc", "horizon", 1)
    control_horizon = read.integer("mpc", "control_horizon", 1, horizon)
    if control_horizon > horizon:
        read.fail("mpc", "control_horizon", f"at most the horizon ({horizon})", control_horizon)
    u_min = read.vector("mpc", "u_min", nu)
    u_max = read.vector("mpc", "u_max", nu)
    for i, (low, high) in enumerate(zip(u_min, u_max)):
        if low > high:
            raise ConfigError(f"{path}: [mpc] u_min[{i}] = {low} is greater than u_max[{i}] = {high}")
    jacobian = read.get("mpc", "jacobian", "exact")
    if jacobian not in ("exact", "finite_difference"):
        read.fail("mpc", "jacobian", '"exact" or "finite_difference"', jacobian)
    tolerance = read.number("mpc", "tolerance", 1e-4)
    if tolerance <= 0:
        read.fail("mpc", "tolerance", "a positive number", tolerance)
    q = read.vector("mpc", "q", n_out, positive=True)
    return MpcConfig(
        path=path, name=name, model_path=model_path, state_dim=nx, control_dim=nu,
        horizon=horizon, control_horizon=control_horizon, q=q,
        q_terminal=read.vector("mpc", "q_terminal", n_out, list(q), positive=True),
        r=read.vector("mpc", "r", nu, 0.0, positive=True),
        s=read.vector("mpc", "s", nu, 0.0, positive=True),
        u_min=u_min, u_max=u_max,
        max_iterations=read.integer("mpc", "max_iterations", 1, 10),
        tolerance=tolerance, jacobian=jacobian,
    )
