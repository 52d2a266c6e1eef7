"""Newton-MPC: config validation, exact Jacobians, solution quality against scipy,
bounds, failure handling, several solvers in one program, the CLI."""
import re

import numpy as np
import pytest

import models
from edgeopt.pipeline import compile_model
from edgeopt.simulator.host import HostRunner
from edgeopt.solvers import compile_solver
from edgeopt.solvers.config import ConfigError
from edgeopt.solvers.newton_mpc.reference import ReferenceProblem


def model_jacobian(runner, z, controls_only=False):
    """(y, d y / d z) from the generated <name>_model_jacobian (or, controls_only, the
    columns of the controls from <name>_model_jacobian_u), called through ctypes."""
    import ctypes

    config = runner.artifact.details
    z = np.ascontiguousarray(z, np.float32).reshape(-1)
    y = np.zeros(config.output_dim, np.float32)
    rows = config.control_dim if controls_only else z.size
    jt = np.zeros((rows, config.output_dim), np.float32)
    function = getattr(runner.library, f"{config.name}_model_jacobian{'_u' if controls_only else ''}")
    function(*(a.ctypes.data_as(ctypes.POINTER(ctypes.c_float)) for a in (z, y, jt)))
    return y, jt.T

CONFIG = """
[solver]
kind = "newton_mpc"
name = "{name}"

[model]
path = "{model}"
state_dim = {nx}
control_dim = {nu}

[mpc]
horizon = {horizon}
q = 1.0
q_terminal = 4.0
r = 0.01
s = 0.1
u_min = [-0.5, -1.0]
u_max = [0.8, 1.0]
max_iterations = 30
tolerance = 1e-6
jacobian = "{jacobian}"
"""


def forward_model(tmp_path, nx=2, nu=2, ny=None, seed=4, activation="Tanh"):
    """A small learned-dynamics MLP: concat(x, u) -> x_next (or u -> y when nx = 0)."""
    b = models.GraphBuilder(seed=seed)
    h = b.node(activation, [b.linear("z", nx + nu, 24)])
    h = b.node("Sigmoid", [b.linear(h, 24, 16)])
    y = b.linear(h, 16, ny or nx)
    return models.save(b.model([("z", [1, nx + nu])], [y]), tmp_path / f"forward_{seed}.onnx")


def write_config(tmp_path, model, name="mpc", nx=2, nu=2, horizon=4, jacobian="exact", **edits):
    text = CONFIG.format(name=name, model=model.name, nx=nx, nu=nu, horizon=horizon, jacobian=jacobian)
    for key, value in edits.items():  # replace the whole `key = ...` line
        text = re.sub(rf"^{key} = .*$", f"{key} = {value}", text, count=1, flags=re.M)
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def problems(count, nx, ny, nu, horizon, seed=0):
    rng = np.random.default_rng(seed)
    inputs = dict(r=(0.4 * rng.standard_normal((count, horizon, ny))).astype(np.float32),
                  u_prev=(0.2 * rng.standard_normal((count, nu))).astype(np.float32))
    if nx:
        inputs["x0"] = (0.5 * rng.standard_normal((count, nx))).astype(np.float32)
    return inputs


@pytest.mark.parametrize("activation", ["Tanh", "Relu", "LeakyRelu"])
def test_exact_jacobian_matches_finite_differences(tmp_path, activation):
    model = forward_model(tmp_path, activation=activation)
    solver = compile_solver(write_config(tmp_path, model))
    reference = ReferenceProblem(solver.details)
    plain = compile_model(model)
    rng = np.random.default_rng(1)
    with HostRunner(solver) as host, HostRunner(plain) as forward:
        for _ in range(5):
            z = rng.standard_normal(4)
            y, jac = model_jacobian(host, z)
            np.testing.assert_allclose(y, reference.model(z), rtol=1e-5, atol=1e-6)
            # the value rows of the one-pass value-and-tangent kernels sum as the forward ones
            (alone,) = forward.run({plain.inputs[0].name: z.astype(np.float32).reshape(1, 1, 4)}).values()
            np.testing.assert_array_equal(y, alone.reshape(-1))
            h = 1e-3  # central differences of onnxruntime, in double precision around float32
            fd = np.stack([(reference.model(z + h * e) - reference.model(z - h * e)) / (2 * h)
                           for e in np.eye(4)], axis=1)
            np.testing.assert_allclose(jac, fd, rtol=2e-3, atol=2e-4)
            y_u, jac_u = model_jacobian(host, z, controls_only=True)
            np.testing.assert_array_equal(y_u, y)
            np.testing.assert_allclose(jac_u, jac[:, 2:], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("nx,horizon,jacobian", [(2, 4, "exact"), (0, 1, "exact"), (2, 3, "finite_difference")])
def test_solution_matches_reference_optimum_and_bounds_hold(tmp_path, nx, horizon, jacobian):
    ny = 2 if nx else 3
    model = forward_model(tmp_path, nx=nx, ny=ny)
    solver = compile_solver(write_config(tmp_path, model, nx=nx, horizon=horizon, jacobian=jacobian))
    inputs = problems(6, nx, ny, 2, horizon)
    with HostRunner(solver) as host:
        result = host.run(prepare(solver, inputs))
    assert np.all(result["status"] != 2), result  # converged or at the iteration cap
    assert np.mean(result["status"] == 0) >= 0.8
    low, high = np.array([-0.5, -1.0], np.float32), np.array([0.8, 1.0], np.float32)
    assert np.all(result["u"] >= low) and np.all(result["u"] <= high)
    reference = ReferenceProblem(solver.details)
    for i in range(6):
        x0 = inputs["x0"][i] if nx else np.zeros(0)
        ours = reference.cost(result["u"][i], x0, inputs["r"][i], inputs["u_prev"][i])
        best = min(reference.optimum(x0, inputs["r"][i], inputs["u_prev"][i], start=s)[1]
                   for s in (None, result["u"][i].reshape(-1)))
        assert abs(result["cost"][i] - ours) <= 1e-4 * (1 + ours)  # C reports its true cost
        assert ours <= best * (1 + 1e-3) + 1e-6, (i, ours, best)


def test_nan_input_returns_error_status_and_safe_u(tmp_path):
    solver = compile_solver(write_config(tmp_path, forward_model(tmp_path)))
    inputs = problems(2, 2, 2, 2, 4)
    inputs["x0"][0, 1] = np.nan
    inputs["r"][1, 2, 0] = np.inf
    inputs["u_prev"][:] = [[2.0, -0.3], [-3.0, 0.5]]
    with HostRunner(solver) as host:
        result = host.run(prepare(solver, inputs))
    assert list(result["status"]) == [2, 2]
    assert np.all(np.isfinite(result["u"]))
    np.testing.assert_array_equal(result["u"][0], np.tile(np.float32([0.8, -0.3]), (4, 1)))
    np.testing.assert_array_equal(result["u"][1], np.tile(np.float32([-0.5, 0.5]), (4, 1)))


def test_two_solvers_link_into_one_program(tmp_path):
    a = compile_solver(write_config(tmp_path, forward_model(tmp_path, seed=1), name="left"))
    b = compile_solver(write_config(tmp_path, forward_model(tmp_path, seed=2), name="right"))
    merged = dataclass_replace(a, files={**a.files, **b.files})
    with HostRunner(merged) as host:  # links both; the harness drives "left"
        assert np.all(host.run(problems(2, 2, 2, 2, 4))["status"] == 0)


def prepare(solver, inputs):
    from edgeopt.solvers import kind_of

    return kind_of(solver).prepare_inputs(solver, inputs)


def dataclass_replace(obj, **changes):
    import dataclasses

    return dataclasses.replace(obj, **changes)


@pytest.mark.parametrize("edit,message", [
    (dict(q="[1.0, 2.0, 3.0]"), "[mpc] q must be a list of 2 finite numbers"),
    (dict(u_min="[0.9, -1.0]"), "u_min[0] = 0.9 is greater than u_max[0] = 0.8"),
    (dict(horizon="0"), "[mpc] horizon must be an integer from 1 to 4,096; found 0"),
    (dict(kind='"lqr"'), '[solver] kind must be one of "fw_dictionary", "newton_mpc", "sinkhorn_newton_sparse"; found "lqr"'),
    (dict(jacobian="magic"), '[mpc] jacobian must be "exact" or "finite_difference"'),
    (dict(r='"big"'), '[mpc] r must be a list of 2 finite numbers (or one number); found "big"'),
])
def test_config_errors_name_file_key_and_value(tmp_path, run_cli, edit, message):
    path = write_config(tmp_path, forward_model(tmp_path), **edit)
    with pytest.raises(ConfigError) as info:
        compile_solver(path)
    assert str(path) in str(info.value) and message in str(info.value)
    code, _, err = run_cli("compile", path, "-o", tmp_path / "out")
    assert code == 2 and message in err and "Traceback" not in err


def test_model_size_mismatch(tmp_path):
    path = write_config(tmp_path, forward_model(tmp_path), control_dim="3")
    with pytest.raises(ConfigError, match=r"the model takes 4 input values but state_dim \+ control_dim = 2 \+ 3 = 5"):
        compile_solver(path)


def test_invalid_toml(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[solver\nkind = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        compile_solver(path)


def test_cli_compile_and_simulate(tmp_path, run_cli):
    path = write_config(tmp_path, forward_model(tmp_path), name="arm")
    code, out, err = run_cli("compile", path, "-o", tmp_path / "lib")
    assert code == 0, err
    assert (tmp_path / "lib" / "arm.h").is_file() and (tmp_path / "lib" / "arm_model.c").is_file()
    header = (tmp_path / "lib" / "arm.h").read_text()
    assert "arm_solve(arm_ctx_t *ctx, const float *x0, const float *r, float *u_out)" in header
    inputs = problems(3, 2, 2, 2, 4)
    inputs["r"] = inputs["r"][:, 0, :]  # a constant reference per problem
    np.savez(tmp_path / "in.npz", **inputs)
    code, out, err = run_cli("simulate", path, "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "out.npz")
    assert code == 0, err
    with np.load(tmp_path / "out.npz") as data:
        assert data["u"].shape == (3, 4, 2) and data["cost"].shape == (3,)
        assert data["iterations"].shape == (3,) and list(data["status"]) == [0, 0, 0]


EXAMPLE = __import__("pathlib").Path(__file__).resolve().parent.parent / "examples" / "soft_actuator"


def test_closed_loop_example_tracks_the_reference(tmp_path, run_cli):
    code, out, err = run_cli("simulate", EXAMPLE / "mpc.toml", "--closed-loop", "--plant",
                             f"{EXAMPLE / 'plant.py'}:step", "--inputs", EXAMPLE / "reference.npz",
                             "--steps", "180", "--outputs", tmp_path / "loop.npz")
    assert code == 0, err
    for ext in (".npz", ".csv", ".png"):
        assert (tmp_path / f"loop{ext}").stat().st_size > 0
    with np.load(tmp_path / "loop.npz") as data:
        assert np.all(np.abs(data["u"]) <= 1.0) and np.all(data["status"] != 2)
        error = data["y"][:, 0] - data["r"][:, 0]
        settled = np.r_[40:95, 140:180]  # away from the reference steps
        assert np.sqrt(np.mean(error[settled] ** 2)) < 0.03


def test_closed_loop_with_onnx_plant(tmp_path, run_cli):
    np.savez(tmp_path / "ref.npz", x0=np.zeros(2, np.float32), r=np.float32([0.2, 0.0]),
             u_prev=np.zeros(1, np.float32))
    code, out, err = run_cli("simulate", EXAMPLE / "mpc.toml", "--closed-loop", "--plant",
                             EXAMPLE / "forward.onnx", "--inputs", tmp_path / "ref.npz", "--steps", "60",
                             "--outputs", tmp_path / "loop.npz")
    assert code == 0, err
    with np.load(tmp_path / "loop.npz") as data:
        assert abs(data["y"][-1, 0] - 0.2) < 0.01  # the model is its own plant: exact tracking


@pytest.mark.skipif(not __import__("shutil").which("qemu-system-arm"), reason="qemu-system-arm not installed")
def test_emulated_cortex_m4_solver_matches_host(tmp_path):
    from edgeopt.simulator.qemu import QemuRunner

    solver = compile_solver(write_config(tmp_path, forward_model(tmp_path)))
    inputs = problems(4, 2, 2, 2, 4)
    with HostRunner(solver) as host:
        expected = host.run(inputs)
    with QemuRunner(solver, "qemu-cortex-m4") as emulated:
        result, report = emulated.run(inputs)
    np.testing.assert_allclose(result["cost"], expected["cost"], rtol=1e-3, atol=1e-5)
    assert np.all(result["status"] == expected["status"])
    assert report["instructions_per_call"]["min"] > 0


@pytest.mark.skipif(not __import__("shutil").which("qemu-system-arm"), reason="qemu-system-arm not installed")
def test_emulated_newton_step_matches_host_on_odd_layer_sizes(tmp_path):
    """One Newton step on Cortex-M4, where the value and tangent rows run through one pass of
    the assembly kernels (row pairs, an odd last row, four-row tails, odd input counts),
    against the host build, whose Jacobian the finite-difference test checks."""
    from edgeopt.simulator.qemu import QemuRunner

    b = models.GraphBuilder(seed=11)
    h = b.node("Tanh", [b.linear("z", 5, 21)])
    h = b.node("Sigmoid", [b.linear(h, 21, 13)])
    model = models.save(b.model([("z", [1, 5])], [b.linear(h, 13, 2)]), tmp_path / "odd.onnx")
    solver = compile_solver(write_config(tmp_path, model, nu=3, max_iterations=1,
                                         u_min="[-0.5, -1.0, -1.0]", u_max="[0.8, 1.0, 1.0]"))
    inputs = problems(4, 2, 2, 3, 4)
    with HostRunner(solver) as host:
        expected = host.run(inputs)
    with QemuRunner(solver, "qemu-cortex-m4") as emulated:
        result, _ = emulated.run(inputs)
    moved = np.abs(expected["u"][:, 0] - np.clip(inputs["u_prev"], [-0.5, -1, -1], [0.8, 1, 1]))
    assert moved.max() > 1e-2  # the step itself is compared, not the warm start
    np.testing.assert_allclose(result["u"], expected["u"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(result["cost"], expected["cost"], rtol=1e-4, atol=1e-6)


def test_example_training_script_reproduces_a_good_model(tmp_path):
    import importlib.util
    import sys

    from edgeopt.simulator.reference import onnx_session

    sys.path.insert(0, str(EXAMPLE))  # train.py imports plant.py from its folder
    try:
        spec = importlib.util.spec_from_file_location("soft_actuator_train", EXAMPLE / "train.py")
        train = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(train)
        rms = train.main(tmp_path / "forward.onnx")
        step = train.step
    finally:
        sys.path.remove(str(EXAMPLE))
    assert rms < 5e-3
    session = onnx_session((tmp_path / "forward.onnx").read_bytes())
    z = np.float32([[0.2, -0.3, 0.5]])
    predicted = session.run(None, {"z": z})[0].reshape(-1)
    np.testing.assert_allclose(predicted, step(z[0, :2], z[0, 2:]), atol=2e-2)


def test_contexts_used_in_turn_are_independent(tmp_path):
    """Two controllers (contexts) of one solver stepped alternately give bit for bit what each
    gives alone: the shared static work buffers carry nothing from one solve to the next."""
    import subprocess

    from edgeopt.pipeline import write_library
    from edgeopt.simulator.toolchain import host_cc

    solver = compile_solver(write_config(tmp_path, forward_model(tmp_path), name="arm"))
    out = tmp_path / "lib"
    write_library(solver, out)
    (out / "turns.c").write_text("""
#include <stdio.h>
#include "arm.h"
/* six warm-started steps of controller `which` (0: a, 1: b); both when which < 0, in turn */
static void run(int which, float *record)
{
    static const float r[4 * 2] = {0.3f, -0.2f, 0.3f, -0.2f, 0.3f, -0.2f, 0.3f, -0.2f};
    float x[2][2] = {{0.1f, 0.2f}, {-0.4f, 0.5f}}, u[4 * 2];
    arm_ctx_t ctx[2];
    int step, c;
    arm_init(&ctx[0], NULL);
    arm_init(&ctx[1], NULL);
    for (step = 0; step < 6; ++step) {
        for (c = 0; c < 2; ++c) {
            if (which < 0 || which == c) {
                (void)arm_solve(&ctx[c], x[c], r, u);
                record[(step * 2 + c) * 2] = u[0];
                record[(step * 2 + c) * 2 + 1] = ctx[c].cost;
            }
            x[c][0] += 0.05f * u[0];
        }
    }
}
int main(void)
{
    float together[24], alone[24];
    int i;
    run(-1, together);
    run(0, alone);
    run(1, alone);
    for (i = 0; i < 24; ++i) printf("%.9g %.9g\\n", (double)together[i], (double)alone[i]);
    return 0;
}
""")
    exe = tmp_path / "turns"
    sources = [str(out / n) for n in ("arm.c", "arm_model.c", "turns.c")]
    runtime = sorted(str(p) for p in (out / "edgeopt_runtime" / "src").glob("*.c"))
    subprocess.run([host_cc(), "-std=c99", "-O2", f"-I{out}", f"-I{out / 'edgeopt_runtime' / 'include'}",
                    *sources, *runtime, "-o", str(exe), "-lm"], check=True)
    rows = np.array([line.split() for line in subprocess.run([str(exe)], capture_output=True, text=True,
                                                             check=True).stdout.splitlines()], float)
    np.testing.assert_array_equal(rows[:, 0], rows[:, 1])
    assert len(set(rows[:, 0])) > 12  # the two controllers and their steps differ


def test_jacobian_buffers_and_comments_name_their_nodes(tmp_path):
    solver = compile_solver(write_config(tmp_path, forward_model(tmp_path)))
    model_c = solver.files["mpc_model.c"]
    jacobian = model_c[model_c.index("void mpc_model_jacobian("):model_c.index("void mpc_model_jacobian_u(")]
    comments = re.findall(r"/\* (\S+) \((\w[\w+]*)\): value and tangent \*/", jacobian)
    assert [op for _, op in comments] == ["Gemm+tanh", "Gemm+sigmoid", "Gemm"]
    assert len({node for node, _ in comments}) == 3  # each block names its own node
    seeds = re.findall(r"static const float (mpc_model_\w*tangent_seed\w*)\[", model_c)
    first_node = comments[0][0]
    assert seeds and all(first_node.replace("/", "_") in s or "jacobian_seed" in s for s in seeds), seeds
    assert "static float mpc_model_jacobian_work[" in model_c and "static float mpc_model_jv" not in model_c
