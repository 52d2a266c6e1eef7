"""Entropic optimal transport by Sinkhorn-Newton-Sparse ("Accelerating Sinkhorn Algorithm with
Sparse Newton Iterations", Tang, Shavlovsky, Rahmanian et al., ICLR 2024).

simulate's npz contract: inputs C (N, n, m), r (N, n), c (N, m); outputs P (N, n, m), the
dual potentials f (N, n) and g (N, m), iterations (Sinkhorn plus Newton), newton_steps and
status (N,)."""
from __future__ import annotations

import numpy as np

from edgeopt.solvers import SolverKind
from edgeopt.solvers.sinkhorn_newton_sparse.compile import compile_sinkhorn_newton_sparse

STATUS = ("converged", "not converged", "numerical failure", "bad input")


def summary(artifact):
    c = artifact.details
    return [f"solver {c.name} (sinkhorn_newton_sparse): {c.n} x {c.m} transport, eta {c.eta:g}, "
            f"{c.capacity} Hessian entries kept, {c.precision}; {artifact.memory.state:,} B per context"]


def finish_outputs(artifact, outputs):
    status = outputs["status"]
    counts = ", ".join(f"{int((status == k).sum())} {label}" for k, label in enumerate(STATUS) if (status == k).any())
    line = (f"solved {status.size} problem(s): {counts}; iterations median "
            f"{int(np.median(outputs['iterations'])) if status.size else 0} "
            f"(Newton steps median {int(np.median(outputs['newton_steps'])) if status.size else 0})")
    return outputs, line


KIND = SolverKind(
    name="sinkhorn_newton_sparse", title="entropic optimal transport by Sinkhorn-Newton-Sparse",
    compile=compile_sinkhorn_newton_sparse, summary=summary, finish_outputs=finish_outputs)
