"""The fw_dictionary config schema: [solver], [dictionary], [encode]."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeopt.solvers.config import ConfigReader

# Step sizes as in the authors' code (yokoxue/Online-ODL), t counted from 0:
# scale / (t + offset)^power.
DEFAULT_SCHEDULES = {
    "nonconvex": {"rho": (4.0, 1.0, 0.5), "gamma": (2.0, 2.0, 0.75)},
    "convex": {"rho": (4.0, 8.0, 2.0 / 3.0), "gamma": (2.0, 8.0, 1.0)},
}


@dataclass(frozen=True)
class DictionaryConfig:
    path: Path
    name: str
    dim: int  # n: atoms and sample length
    batch: int  # b: samples per update
    p: int  # the l_p norm maximized: 3 or 4
    variant: str  # "nonconvex" (polar re-projection every step) or "convex"
    seed: int
    rho: tuple  # (scale, offset, power)
    gamma: tuple
    top_k: int  # NAME_encode's default sparsity (0: threshold)
    threshold: float
    polar_sweeps: int  # cap of the Jacobi sweeps of one polar factor
    polar_tolerance: float


def _schedule(read: ConfigReader, key, default):
    table = read.get("dictionary", key, None)
    if table is None:
        return default
    if not isinstance(table, dict) or set(table) - {"scale", "offset", "power"}:
        read.fail("dictionary", key, "a table {scale, offset, power} (step = scale / (t + offset)^power)", table)
    sub = ConfigReader(read.path, {f"dictionary.{key}": table})
    return (sub.number(f"dictionary.{key}", "scale", default[0], positive=True),
            sub.number(f"dictionary.{key}", "offset", default[1], minimum=1e-6),
            sub.number(f"dictionary.{key}", "power", default[2], minimum=0.0))


def load_dictionary_config(read: ConfigReader, name: str) -> DictionaryConfig:
    dim = read.integer("dictionary", "dim", 2, maximum=128)
    variant = read.choice("dictionary", "variant", ("nonconvex", "convex"), "nonconvex")
    schedules = DEFAULT_SCHEDULES[variant]
    return DictionaryConfig(
        path=read.path, name=name, dim=dim,
        batch=read.integer("dictionary", "batch", 1, maximum=4096),
        p=read.choice("dictionary", "p", (3, 4), 4),
        variant=variant,
        seed=read.integer("dictionary", "seed", 0, 0),
        rho=_schedule(read, "rho", schedules["rho"]),
        gamma=_schedule(read, "gamma", schedules["gamma"]),
        top_k=read.integer("encode", "top_k", 0, 0, maximum=dim),
        threshold=read.number("encode", "threshold", 0.0, minimum=0.0),
        polar_sweeps=read.integer("dictionary", "polar_sweeps", 1, 30, maximum=1000),
        polar_tolerance=read.number("dictionary", "polar_tolerance", 1e-7, positive=True),
    )
