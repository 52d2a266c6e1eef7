"""The sinkhorn_newton_sparse config schema: [solver] and [problem]."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from edgeopt.solvers.config import ConfigReader


@dataclass(frozen=True)
class TransportConfig:
    path: Path
    name: str
    n: int
    m: int
    eta: float  # the objective is <C, P> + (1/eta) sum P log P: POT's reg = 1 / eta
    sinkhorn_steps: int  # N1: Sinkhorn steps before the Newton stage (and per fallback)
    kept: int  # entries of P the sparsified Hessian keeps at first
    capacity: int  # ... and at most: a step that does not halve the error doubles them
    row_top_k: int  # > 0: keep the k largest of each row instead of a global threshold
    cg_max_iterations: int
    cg_tolerance: float
    max_newton_steps: int
    max_sinkhorn_steps: int  # the fallback's cap
    tolerance: float  # L1 marginal error at which it stops
    precision: str  # "float32" (targets) or "float64" (host checks)


def load_transport_config(read: ConfigReader, name: str) -> TransportConfig:
    n = read.integer("problem", "n", 1, maximum=4096)
    m = read.integer("problem", "m", 1, maximum=4096)
    row_top_k = read.integer("problem", "row_top_k", 0, 0, maximum=m)
    sparsity = read.number("problem", "sparsity", 2.0 / n, minimum=0.0)
    if not 0 < sparsity <= 1:
        read.fail("problem", "sparsity", "a share of the n m entries in (0, 1]", sparsity)
    most = read.number("problem", "max_sparsity", max(sparsity, 0.25), minimum=0.0)
    if not sparsity <= most <= 1:
        read.fail("problem", "max_sparsity", f"a share in [sparsity = {sparsity:g}, 1]", most)
    kept = n * row_top_k if row_top_k else max(1, math.ceil(sparsity * n * m))
    capacity = kept if row_top_k else max(kept, math.ceil(most * n * m))
    precision = read.choice("problem", "precision", ("float32", "float64"), "float32")
    return TransportConfig(
        path=read.path, name=name, n=n, m=m,
        eta=read.number("problem", "eta", positive=True),
        sinkhorn_steps=read.integer("problem", "sinkhorn_steps", 0, 20, maximum=10 ** 6),
        kept=kept, capacity=capacity, row_top_k=row_top_k,
        cg_max_iterations=read.integer("problem", "cg_max_iterations", 1, 2 * (n + m), maximum=10 ** 6),
        cg_tolerance=read.number("problem", "cg_tolerance", 1e-6, positive=True),
        max_newton_steps=read.integer("problem", "max_newton_steps", 0, 50, maximum=10 ** 6),
        max_sinkhorn_steps=read.integer("problem", "max_sinkhorn_steps", 0, 10000, maximum=10 ** 8),
        tolerance=read.number("problem", "tolerance", 5e-6 if precision == "float32" else 1e-9, positive=True),
        precision=precision,
    )
