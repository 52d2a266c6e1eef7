"""Side by side on the host: a linear mass-spring-damper MPC solved by edgeopt's generated
Newton solver (the dynamics as a one-layer ONNX "learned" model) and by TinyMPC (PyPI
`tinympc`, ADMM). Same dynamics, weights, horizon and input bounds; each solution is scored
on edgeopt's cost against a tight scipy L-BFGS-B optimum.

    pip install tinympc scipy
    python benchmarks/mpc_vs_tinympc.py
"""
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgeopt.simulator.host import HostRunner  # noqa: E402
from edgeopt.solvers import compile_solver, kind_of  # noqa: E402
from edgeopt.solvers.newton_mpc.reference import ReferenceProblem

DT, MASS, STIFFNESS, DAMPING = 0.05, 1.0, 4.0, 1.2
A = np.array([[1.0, DT], [-STIFFNESS / MASS * DT, 1.0 - DAMPING / MASS * DT]])
B = np.array([[0.0], [DT / MASS]])
Q, R, HORIZON, U_MAX = np.array([10.0, 1.0]), np.array([0.1]), 10, 2.0

CONFIG = f"""
[solver]
kind = "newton_mpc"
name = "msd"
[model]
path = "linear.onnx"
state_dim = 2
control_dim = 1
[mpc]
horizon = {HORIZON}
q = [{Q[0]}, {Q[1]}]
r = {R[0]}
s = 0.0
u_min = {-U_MAX}
u_max = {U_MAX}
max_iterations = 20
tolerance = 1e-7
"""


def write_problem(folder):
    weights = numpy_helper.from_array(np.hstack([A, B]).astype(np.float32), "AB")
    graph = helper.make_graph([helper.make_node("Gemm", ["z", "AB"], ["x_next"], transB=1)], "msd",
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info("x_next", TensorProto.FLOAT, [1, 2])],
                              [weights])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]),
              str(folder / "linear.onnx"))
    (folder / "msd.toml").write_text(CONFIG)
    return folder / "msd.toml"


def tinympc_solver():
    import tinympc

    solver = tinympc.TinyMPC()
    # TinyMPC's N counts state knots: N + 1 knots give the same N controls.
    solver.setup(A, B, np.diag(Q), np.diag(R), HORIZON + 1, rho=1.0, u_min=np.array([-U_MAX]),
                 u_max=np.array([U_MAX]),
                 max_iter=500, abs_pri_tol=1e-7, abs_dua_tol=1e-7)
    return solver


def main():
    rng = np.random.default_rng(0)
    starts = rng.uniform([-1.0, -1.0], [1.0, 1.0], (50, 2)).astype(np.float32)
    zero_ref = np.zeros((HORIZON, 2), np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        compiled = compile_solver(write_problem(Path(tmp)))
        reference = ReferenceProblem(compiled.details)
        with HostRunner(compiled) as host:
            inputs = dict(x0=starts, r=np.zeros((len(starts), 2), np.float32),
                          u_prev=np.zeros((len(starts), 1), np.float32))
            inputs = kind_of(compiled).prepare_inputs(compiled, inputs)
            host.run(inputs)  # warm up
            begin = time.perf_counter()
            ours = host.run(inputs)
            ours_us = (time.perf_counter() - begin) / len(starts) * 1e6
        try:
            solver = tinympc_solver()
        except ImportError:
            print("tinympc is not installed: pip install tinympc")
            solver = None
        theirs_u, theirs_us = [], float("nan")
        if solver is not None:
            begin = time.perf_counter()
            for x0 in starts:
                solver.set_x0(x0.astype(np.float64))
                theirs_u.append(np.asarray(solver.solve()["controls_all"]).reshape(-1)[:HORIZON])
            theirs_us = (time.perf_counter() - begin) / len(starts) * 1e6
        gaps = {"edgeopt": [], "tinympc": []}
        for i, x0 in enumerate(starts):
            _, best = reference.optimum(x0, zero_ref, np.zeros(1), start=ours["u"][i].reshape(-1))
            gaps["edgeopt"].append(reference.cost(ours["u"][i], x0, zero_ref, np.zeros(1)) / best - 1)
            if theirs_u:
                gaps["tinympc"].append(reference.cost(theirs_u[i], x0, zero_ref, np.zeros(1)) / best - 1)
    first = (np.max(np.abs(np.array([u[0] for u in theirs_u]) - ours["u"][:, 0, 0]))
             if theirs_u else float("nan"))
    print(f"linear mass-spring-damper, horizon {HORIZON}, |u| <= {U_MAX}, {len(starts)} initial states")
    print(f"{'solver':<10} {'time per solve':>15} {'cost vs optimum (median / max)':>32}")
    for name, per_solve in (("edgeopt", ours_us), ("tinympc", theirs_us)):
        gap = np.array(gaps[name]) if gaps[name] else np.array([np.nan])
        print(f"{name:<10} {per_solve:>12.1f} us {np.median(gap):>+15.2e} / {np.max(gap):+.2e}")
    print(f"max |u_0(edgeopt) - u_0(tinympc)| = {first:.3f}")
    print("Costs are edgeopt's (diagonal terminal weight); TinyMPC optimizes its own objective with an "
          "infinite-horizon (Riccati) terminal cost, so its gap measures the difference of the problems "
          "as much as accuracy. edgeopt: generated C via ctypes, one call for all problems; tinympc: its "
          "Python binding, one call per problem.")


if __name__ == "__main__":
    main()
