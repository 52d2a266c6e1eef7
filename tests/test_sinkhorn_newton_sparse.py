"""sinkhorn_newton_sparse: marginals and objective against POT run to 1e-12 in float64, a
float64 build to 1e-9, the numpy reference, bad input, the fallback, the CLI and an emulated
Cortex-M4."""
import shutil

import numpy as np
import pytest

from edgeopt.pipeline import compile_file
from edgeopt.simulator.host import HostRunner
from edgeopt.solvers.config import ConfigError
from edgeopt.solvers.sinkhorn_newton_sparse.reference import (
    marginal_error, objective, point_clouds, random_assignment, solve,
)

ot = pytest.importorskip("ot")


def config(tmp_path, n, m, eta, precision="float32", extra=""):
    path = tmp_path / f"ot_{n}_{m}_{precision}.toml"
    path.write_text(f'[solver]\nkind = "sinkhorn_newton_sparse"\nname = "ot"\n\n[problem]\nn = {n}\nm = {m}\n'
                    f'eta = {eta}\nprecision = "{precision}"\n{extra}')
    return compile_file(path)


def run(artifact, cost, r, c):
    dtype = np.float32 if artifact.details.precision == "float32" else np.float64
    with HostRunner(artifact) as runner:
        out = runner.run({"C": np.asarray(cost, dtype)[None], "r": np.asarray(r, dtype)[None],
                          "c": np.asarray(c, dtype)[None]})
    return {k: v[0] for k, v in out.items()}


CASES = [  # (problem, n, m, eta, POT's method): POT converges to 1e-12 on each in seconds
    (random_assignment, 32, 32, 50.0, "sinkhorn_log"),
    (point_clouds, 32, 48, 100.0, "sinkhorn_log"),  # rectangular, smooth costs
    (random_assignment, 64, 64, 400.0, "sinkhorn"),  # Sinkhorn needs over 10,000 iterations
]


@pytest.mark.parametrize("problem,n,m,eta,method", CASES, ids=["assignment", "clouds", "hard_assignment"])
def test_float32_matches_pot(tmp_path, problem, n, m, eta, method):
    cost, r, c = problem(n, m, seed=1)
    out = run(config(tmp_path, n, m, eta), cost, r, c)
    reference, log = ot.sinkhorn(r, c, cost, 1 / eta, method=method, stopThr=1e-12, numItermax=100000, log=True)
    assert out["status"] == 0
    assert marginal_error(out["P"], r, c) <= 1e-5
    assert abs(objective(out["P"], cost, eta) - objective(reference, cost, eta)) <= 1e-5 * abs(objective(reference, cost, eta))
    sinkhorn_iterations = log["niter"]
    assert out["iterations"] * 10 <= sinkhorn_iterations or sinkhorn_iterations < 1000
    # the potentials give P back: P = exp(eta (f_i + g_j - C_ij))
    rebuilt = np.exp(eta * (out["f"][:, None].astype(np.float64) + out["g"][None, :] - cost))
    np.testing.assert_allclose(rebuilt, out["P"], rtol=2e-3, atol=1e-9)


@pytest.mark.parametrize("problem,n,m,eta,method", CASES, ids=["assignment", "clouds", "hard_assignment"])
def test_float64_build_reaches_1e9(tmp_path, problem, n, m, eta, method):
    cost, r, c = problem(n, m, seed=2)
    out = run(config(tmp_path, n, m, eta, "float64"), cost, r, c)
    assert out["status"] == 0 and marginal_error(out["P"], r, c) <= 1e-9
    reference, newton = solve(cost, r, c, config(tmp_path, n, m, eta, "float64").details)
    np.testing.assert_allclose(out["P"], reference, atol=1e-7)


def test_far_fewer_iterations_than_sinkhorn_at_large_eta(tmp_path):
    cost, r, c = random_assignment(64, seed=3)
    out = run(config(tmp_path, 64, 64, 400.0), cost, r, c)
    _, log = ot.sinkhorn(r, c, cost, 1 / 400, method="sinkhorn", stopThr=1e-5, numItermax=100000, log=True)
    assert out["status"] == 0 and log["niter"] > 1000
    assert out["iterations"] * 10 <= log["niter"], (out["iterations"], log["niter"])


def test_float32_at_large_eta_by_newton_steps(tmp_path):
    """eta x the costs in the thousands: the reduced costs keep float32's exponents exact, so
    Newton steps reach the tolerance (with eta (x + y - C) in plain float32 they could not, and
    the solve ended in thousands of fallback Sinkhorn steps)."""
    cost, r, c = point_clouds(160, seed=2)
    out = run(config(tmp_path, 160, 160, 3200.0, extra="tolerance = 1e-5\n"), cost, r, c)
    reference, log = ot.sinkhorn(r, c, cost, 1 / 3200, method="sinkhorn_log", stopThr=1e-11, numItermax=100000, log=True)
    assert out["status"] == 0 and marginal_error(out["P"], r, c) <= 1e-5
    assert abs(objective(out["P"], cost, 3200) - objective(reference, cost, 3200)) <= 1e-5 * abs(objective(reference, cost, 3200))
    assert out["iterations"] * 10 <= log["niter"], (out["iterations"], log["niter"])


@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_every_seed_at_large_eta_converges_by_newton_steps(tmp_path, precision):
    """Point clouds at eta = 3200 over eight seeds: each solve converges in tens of iterations.
    Before the Levenberg-Marquardt shift some seeds took no Newton step at all (the undamped
    steps overshot the exponentials and the line search gave up), and in float32 the entries of
    P at the exponential's floor, all equal, crowded the later rows out of the sparse Hessian:
    thousands of Sinkhorn steps, some never reaching the tolerance."""
    artifact = config(tmp_path, 128, 128, 3200.0, precision, "tolerance = 1e-5\nmax_newton_steps = 200\n")
    dtype = np.float32 if precision == "float32" else np.float64
    problems = [point_clouds(128, seed=seed) for seed in range(8)]
    with HostRunner(artifact) as runner:
        out = runner.run({"C": np.stack([p[0] for p in problems]).astype(dtype),
                          "r": np.stack([p[1] for p in problems]).astype(dtype),
                          "c": np.stack([p[2] for p in problems]).astype(dtype)})
    for seed, (cost, r, c) in enumerate(problems):
        _, log = ot.sinkhorn(r, c, cost, 1 / 3200, method="sinkhorn", stopThr=1e-6, numItermax=100000, log=True)
        assert out["status"][seed] == 0 and marginal_error(out["P"][seed], r, c) <= 1e-5, seed
        assert out["iterations"][seed] * 10 <= log["niter"], (seed, out["iterations"][seed], log["niter"])


@pytest.mark.parametrize("edit", ["negative", "unnormalized", "nan_cost", "inf_cost", "zero_weight"])
def test_bad_input_status(tmp_path, edit):
    cost, r, c = random_assignment(8, seed=4)
    r = r.copy()
    if edit == "negative":
        r[0], r[1] = -0.1, r[1] + 0.1 + r[0]
    elif edit == "unnormalized":
        r = 2 * r
    elif edit == "nan_cost":
        cost[2, 3] = np.nan
    elif edit == "inf_cost":
        cost[0, 0] = np.inf
    else:
        r[0], r[1] = 0.0, r[1] + r[0]
    out = run(config(tmp_path, 8, 8, 20.0), cost, r, c)
    assert out["status"] == 3 and np.all(out["P"] == 0)


def test_sparse_steps_that_fail_fall_back_to_sinkhorn(tmp_path):
    """One Hessian entry kept and one CG iteration: the Newton steps are poor, the solve still
    converges through Sinkhorn steps, and P stays finite."""
    cost, r, c = point_clouds(24, seed=5)
    out = run(config(tmp_path, 24, 24, 60.0, extra="sparsity = 0.001\ncg_max_iterations = 1\nmax_sinkhorn_steps = 100000\n"),
              cost, r, c)
    assert out["status"] == 0 and np.all(np.isfinite(out["P"]))
    assert marginal_error(out["P"], r, c) <= 1e-5


def test_row_top_k_sparsity(tmp_path):
    cost, r, c = random_assignment(32, seed=6)
    out = run(config(tmp_path, 32, 32, 200.0, extra="row_top_k = 3\n"), cost, r, c)
    assert out["status"] == 0 and marginal_error(out["P"], r, c) <= 1e-5


@pytest.mark.parametrize("edit,message", [
    ("eta = -1.0", "[problem] eta must be a positive number"),
    ("n = 0", "[problem] n must be an integer from 1"),
    ("sparsity = 2.0", "[problem] sparsity must be a share"),
    ('precision = "float16"', '[problem] precision must be "float32" or "float64"'),
])
def test_config_errors(tmp_path, run_cli, edit, message):
    artifact_path = tmp_path / "bad.toml"
    key = edit.split(" = ")[0]
    lines = ['[solver]', 'kind = "sinkhorn_newton_sparse"', '[problem]', 'n = 8', 'm = 8', 'eta = 10.0']
    lines = [edit if line.startswith(key + " ") else line for line in lines]
    if not any(line.startswith(key + " ") for line in lines):
        lines.append(edit)
    artifact_path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as info:
        compile_file(artifact_path)
    assert message in str(info.value)
    code, _, err = run_cli("compile", artifact_path, "-o", tmp_path / "out")
    assert code == 2 and message in err


def test_cli_simulate_several_problems(tmp_path, run_cli):
    config(tmp_path, 16, 16, 50.0)
    path = tmp_path / "ot_16_16_float32.toml"
    problems = [random_assignment(16, seed=s) for s in range(3)]
    np.savez(tmp_path / "in.npz", C=np.stack([p[0] for p in problems]).astype(np.float32),
             r=np.stack([p[1] for p in problems]).astype(np.float32), c=np.stack([p[2] for p in problems]).astype(np.float32))
    code, out, err = run_cli("simulate", path, "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "out.npz")
    assert code == 0, err
    assert "solved 3 problem(s): 3 converged" in out
    with np.load(tmp_path / "out.npz") as data:
        assert data["P"].shape == (3, 16, 16) and data["f"].shape == (3, 16) and list(data["status"]) == [0, 0, 0]


@pytest.mark.skipif(not shutil.which("qemu-system-arm"), reason="qemu-system-arm not installed")
def test_emulated_cortex_m4_matches_the_host(tmp_path):
    from edgeopt.simulator.qemu import QemuRunner

    artifact = config(tmp_path, 16, 16, 100.0)
    cost, r, c = random_assignment(16, seed=7)
    inputs = {"C": cost[None].astype(np.float32), "r": r[None].astype(np.float32), "c": c[None].astype(np.float32)}
    host = run(artifact, cost, r, c)
    with QemuRunner(artifact, "qemu-cortex-m4") as runner:
        emulated, report = runner.run(inputs)
    assert emulated["status"][0] == 0 and marginal_error(emulated["P"][0], r, c) <= 1e-5
    np.testing.assert_allclose(emulated["P"][0], host["P"], atol=1e-5)
