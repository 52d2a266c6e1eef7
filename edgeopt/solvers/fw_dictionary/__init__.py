"""Online orthogonal dictionary learning by Frank-Wolfe ("Online Orthogonal Dictionary
Learning Based on Frank-Wolfe Method", Xue and Lau) for streaming sensor data.

simulate's npz contract: inputs Y (T, n), the samples in order, consumed as T / b
mini-batches, and an optional A0 (n, n); outputs A (n, n), the dictionary after the stream
(rows are atoms: A D0 is close to a signed permutation), iterations (updates), status."""
from __future__ import annotations

import numpy as np

from edgeopt.errors import InputDataError
from edgeopt.solvers import SolverKind
from edgeopt.solvers.fw_dictionary.compile import compile_fw_dictionary


def summary(artifact):
    c = artifact.details
    return [f"solver {c.name} (fw_dictionary): {c.dim} x {c.dim} orthogonal dictionary, batches of "
            f"{c.batch}, l{c.p}, {c.variant}; state {artifact.memory.state:,} B per context"]


def prepare_inputs(artifact, arrays):
    c = artifact.details
    if "Y" not in arrays or set(arrays) - {"Y", "A0"}:
        raise InputDataError(f"inputs must be Y (T, {c.dim}) and optionally A0 ({c.dim}, {c.dim}); "
                             f"got {sorted(arrays)}")
    y = np.asarray(arrays["Y"])
    if y.ndim != 2 or y.shape[1] != c.dim or y.shape[0] < c.batch or y.shape[0] % c.batch:
        raise InputDataError(f"Y must be (T, {c.dim}) with T a positive multiple of the batch ({c.batch}); "
                             f"got {y.shape}")
    updates = y.shape[0] // c.batch
    a0 = np.zeros((c.dim, c.dim), np.float32)
    if "A0" in arrays:
        a0 = np.asarray(arrays["A0"], np.float32)
        if a0.shape != (c.dim, c.dim) or not np.all(np.isfinite(a0)):
            raise InputDataError(f"A0 must be a finite ({c.dim}, {c.dim}) matrix; got {a0.shape}")
    init = np.zeros(updates, np.int32)
    init[0] = 1 if "A0" in arrays else 2
    return dict(Y=y.reshape(updates, c.batch, c.dim), A0=np.broadcast_to(a0, (updates,) + a0.shape), init=init)


def finish_outputs(artifact, outputs):
    a = outputs["A"][-1]
    deviation = float(np.max(np.abs(a.astype(np.float64) @ a.T - np.eye(a.shape[0]))))
    status = outputs["status"]
    line = (f"learned a {a.shape[0]} x {a.shape[0]} dictionary in {int(outputs['t'][-1])} updates; "
            f"max |A A^T - I| = {deviation:.1e}; {int((status == 2).sum())} batch(es) skipped (non-finite), "
            f"{int((status == 1).sum())} at the sweep cap")
    return dict(A=a, iterations=np.int32(outputs["t"][-1]), status=status), line


KIND = SolverKind(
    name="fw_dictionary", title="online orthogonal dictionary learning (Frank-Wolfe)",
    compile=compile_fw_dictionary, summary=summary, prepare_inputs=prepare_inputs,
    finish_outputs=finish_outputs)
