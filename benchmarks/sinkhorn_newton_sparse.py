"""Sinkhorn-Newton-Sparse against Sinkhorn: total iterations and host wall time on the same
problems, each method run until the L1 marginal error is at most 1e-5 (POT's sinkhorn and
sinkhorn_log, RegOT's sparse Newton where it installs, edgeopt's generated C); instructions
per solve on an emulated Cortex-M4 (QEMU -icount) and the largest n x n problem whose context
fits in 256 KB of RAM.

    python benchmarks/sinkhorn_newton_sparse.py [--skip-qemu]
"""
import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from edgeopt.pipeline import compile_file
from edgeopt.simulator.host import HostRunner
from edgeopt.solvers.sinkhorn_newton_sparse.reference import marginal_error, point_clouds, random_assignment

TOLERANCE = 1e-5


def compile_for(folder, n, eta, precision="float32"):
    path = Path(folder) / f"ot_{n}_{precision}.toml"
    path.write_text(f'[solver]\nkind = "sinkhorn_newton_sparse"\nname = "ot"\n[problem]\nn = {n}\nm = {n}\n'
                    f'eta = {eta}\ntolerance = {TOLERANCE}\nmax_newton_steps = 200\nmax_sinkhorn_steps = 2000\n'
                    f'precision = "{precision}"\n')
    return compile_file(path)


def timed(function, repeat=3):
    best, result = float("inf"), None
    for _ in range(repeat):
        begin = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - begin)
    return best, result


def pot(method, cost, r, c, eta):
    """POT until the L1 marginal error is at most TOLERANCE (its stopThr is the 2-norm of the
    column violation: tightened until the L1 target holds)."""
    import ot

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for threshold in (1e-6, 1e-7, 1e-8, 1e-9):
            seconds, (plan, log) = timed(lambda: ot.sinkhorn(r, c, cost, 1 / eta, method=method, stopThr=threshold,
                                                               numItermax=200000, log=True))
            if marginal_error(plan, r, c) <= TOLERANCE:
                break
    return log["niter"], seconds, marginal_error(plan, r, c)


def regot(cost, r, c, eta):
    import regot

    for tolerance in (1e-6, 1e-7, 1e-8):
        seconds, result = timed(lambda: regot.sinkhorn_sparse_newton(np.asfortranarray(cost), r, c, 1 / eta,
                                                                      tol=tolerance, max_iter=10000))
        plan = np.asarray(result.plan)
        if marginal_error(plan, r, c) <= TOLERANCE:
            break
    return len(result.obj_vals), seconds, marginal_error(plan, r, c)


def ours(folder, cost, r, c, eta, precision="float32"):
    artifact = compile_for(folder, cost.shape[0], eta, precision)
    dtype = np.float32 if precision == "float32" else np.float64
    inputs = {"C": cost[None].astype(dtype), "r": r[None].astype(dtype), "c": c[None].astype(dtype)}
    with HostRunner(artifact) as runner:
        seconds, out = timed(lambda: runner.run(inputs))
    return int(out["iterations"][0]), seconds, marginal_error(out["P"][0], r, c), int(out["newton_steps"][0])


def host(folder):
    print(f"host: total iterations / wall time until the L1 marginal error is <= {TOLERANCE:g}")
    header = ["case", "n", "eta", "edgeopt C float32 (Newton)", "edgeopt C float64", "POT sinkhorn", "POT sinkhorn_log", "RegOT sparse Newton",
              "POT / float32 iter.", "POT / float32 time"]
    print(" | ".join(header))
    for label, problem, etas in (("random assignment", random_assignment, {32: 200, 64: 400, 128: 800, 256: 1600}),
                                 ("point clouds", point_clouds, {32: 1600, 64: 1600, 128: 1600, 256: 3200})):
        for n, eta in etas.items():
            cost, r, c = problem(n, seed=0)
            mine = ours(folder, cost, r, c, float(eta))
            wide = ours(folder, cost, r, c, float(eta), "float64")
            knopp = pot("sinkhorn", cost, r, c, eta)
            log_domain = pot("sinkhorn_log", cost, r, c, eta) if n <= 128 else None
            try:
                sparse_newton = regot(cost, r, c, eta)
            except ImportError:
                sparse_newton = None
            cells = [label, str(n), str(eta), f"{mine[0]} ({mine[3]}) / {mine[1] * 1e3:.1f} ms, L1 {mine[2]:.0e}",
                     f"{wide[0]} ({wide[3]}) / {wide[1] * 1e3:.1f} ms",
                     f"{knopp[0]} / {knopp[1] * 1e3:.1f} ms",
                     f"{log_domain[0]} / {log_domain[1] * 1e3:.0f} ms" if log_domain else "-",
                     f"{sparse_newton[0]} / {sparse_newton[1] * 1e3:.1f} ms" if sparse_newton else "-",
                     f"{knopp[0] / mine[0]:.0f}x", f"{knopp[1] / mine[1]:.1f}x"]
            print(" | ".join(cells))


def cortex_m4(folder):
    from edgeopt.simulator.qemu import QemuRunner

    cost, r, c = random_assignment(32, seed=0)
    artifact = compile_for(folder, 32, 200.0)
    inputs = {"C": cost[None].astype(np.float32), "r": r[None].astype(np.float32), "c": c[None].astype(np.float32)}
    with QemuRunner(artifact, "qemu-cortex-m4") as runner:
        out, report = runner.run(inputs, timeout=900)
    print(f"\nCortex-M4F (QEMU mps2-an386): n = 32 random assignment, eta 200: "
          f"{report['instructions_per_call']['median']:,} instructions per solve, {int(out['iterations'][0])} "
          f"iterations ({int(out['newton_steps'][0])} Newton), L1 error {marginal_error(out['P'][0], r, c):.1e}, "
          f"static RAM {artifact.memory.static_ram:,} B")
    largest = 1
    for n in range(8, 512):
        if compile_for(folder, n, 200.0).memory.static_ram + 4 * (2 * n * n + 4 * n) > 256 * 1024:
            break  # context + the caller's C and P (float32)
        largest = n
    print(f"largest n x n problem whose context, C and P fit in 256 KB of RAM: n = {largest}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-qemu", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        host(folder)
        if not args.skip_qemu:
            cortex_m4(folder)


if __name__ == "__main__":
    main()
