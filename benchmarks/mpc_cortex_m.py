"""Instructions per control step of the generated Newton-MPC solver on Cortex-M4F under
QEMU -icount (exact), for a ~2.4k-parameter forward model (3 states, 3 controls) at
horizons 1, 5 and 10 with 1, 2 and 3 Newton iterations; then the same on a recurrent
forward model, nn4mc's forward_kinematics GRU (Keras .hdf5, 68 inputs -> GRU 10 -> 3),
as a static map of 68 controls at horizon 1.

    python benchmarks/mpc_cortex_m.py
"""
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import models  # noqa: E402
from edgeopt.simulator.qemu import QemuRunner  # noqa: E402
from edgeopt.solvers import compile_solver, kind_of  # noqa: E402
from test_mpc_recurrent import CONFIG as KINEMATICS_CONFIG, MODEL as KINEMATICS  # noqa: E402

CONFIG = """
[solver]
kind = "newton_mpc"
name = "bench"
[model]
path = "forward.onnx"
state_dim = 3
control_dim = 3
[mpc]
horizon = {horizon}
q = 1.0
r = 0.01
s = 0.1
u_min = -1.0
u_max = 1.0
max_iterations = {iterations}
tolerance = 1e-9
"""


def forward_model(path):
    b = models.GraphBuilder(seed=7)
    h = b.node("Tanh", [b.linear("z", 6, 48)])
    h = b.node("Tanh", [b.linear(h, 48, 40)])
    model = b.model([("z", [1, 6])], [b.linear(h, 40, 3)])
    parameters = 6 * 48 + 48 + 48 * 40 + 40 + 40 * 3 + 3
    return models.save(model, path), parameters


def main():
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        _, parameters = forward_model(Path(tmp) / "forward.onnx")
        print(f"forward model 6-48-40-3 tanh: {parameters} parameters; Cortex-M4F, QEMU mps2-an386")
        print(f"{'horizon':>7} {'iterations':>10} {'instructions/step':>18} {'rate at 120 MHz*':>17}")
        for horizon in (1, 5, 10):
            for iterations in (1, 2, 3):
                path = Path(tmp) / "mpc.toml"
                path.write_text(CONFIG.format(horizon=horizon, iterations=iterations))
                inputs = dict(x0=(0.5 * rng.standard_normal((8, 3))).astype(np.float32),
                              r=(0.5 * rng.standard_normal((8, 3))).astype(np.float32),
                              u_prev=np.zeros((8, 3), np.float32))
                solver = compile_solver(path)
                with QemuRunner(solver, "qemu-cortex-m4") as emulated:
                    result, report = emulated.run(kind_of(solver).prepare_inputs(solver, inputs))
                count = report["instructions_per_call"]["median"]
                print(f"{horizon:>7} {iterations:>10} {count:>18,} {120e6 / count:>14,.0f} Hz")
        print()
        recurrent(Path(tmp), rng)
    print("* assuming one instruction per cycle; QEMU counts instructions, not cycles")


def recurrent(tmp, rng):
    (tmp / KINEMATICS.name).write_bytes(KINEMATICS.read_bytes())
    keras = np.load(KINEMATICS.parent.parent / "keras" / "nn4mc_forward_kinematics_jan_10_2022.npz")
    print("nn4mc forward_kinematics GRU (68 -> GRU 10 -> 3 relu), 68 controls, horizon 1, r = 0, s = 1e-3")
    print(f"{'iterations':>10} {'instructions/step':>18} {'rate at 120 MHz*':>17}")
    for iterations in (1, 2, 3):
        path = tmp / "kinematics.toml"
        path.write_text(KINEMATICS_CONFIG.format(model=KINEMATICS.name, iterations=iterations, tolerance=1e-12))
        solver = compile_solver(path)
        starts = np.clip(keras["gru_input"].reshape(-1, 68), -2, 2).astype(np.float32)
        inputs = dict(r=np.abs(0.05 * rng.standard_normal((len(starts), 1, 3))).astype(np.float32), u_prev=starts)
        with QemuRunner(solver, "qemu-cortex-m4") as emulated:
            result, report = emulated.run(inputs)
        count = report["instructions_per_call"]["median"]
        print(f"{iterations:>10} {count:>18,} {120e6 / count:>14,.0f} Hz")


if __name__ == "__main__":
    main()
