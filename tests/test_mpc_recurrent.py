"""Newton-MPC on a recurrent forward model: nn4mc's forward_kinematics GRU (Keras .hdf5:
Input 1x68 -> GRU 10 -> Dense 3 relu), compiled through the Keras frontend with its exact
GRU tangents. The reference is an ONNX twin of the same network written here from the
file's weights with onnx.helper and run by onnxruntime; the twin is first checked against
the outputs Keras itself gave (tests/data/models/keras/nn4mc_*.npz), so neither side
depends on edgeopt's code. The solutions meet the same 1e-3 cost accuracy against scipy's
L-BFGS-B as the MLP models do."""
import dataclasses
import json
from pathlib import Path

import h5py
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeopt.simulator.host import HostRunner
from edgeopt.simulator.qemu import QemuRunner
from edgeopt.solvers import compile_solver
from edgeopt.solvers.newton_mpc.reference import ReferenceProblem
from test_tflite import needs_qemu

DATA = Path(__file__).resolve().parent / "data" / "models"
MODEL = DATA / "nn4mc" / "forward_kinematics_jan_10_2022.hdf5"

CONFIG = """
[solver]
kind = "newton_mpc"
name = "kinematics"

[model]
path = "{model}"
state_dim = 0
control_dim = 68

[mpc]
horizon = 1
q = 1.0
r = 0.0
s = 1e-3
u_min = -2.0
u_max = 2.0
max_iterations = {iterations}
tolerance = {tolerance}
"""


def onnx_twin(path):
    """The Keras GRU (reset_after: ONNX's linear_before_reset = 1; Keras gate blocks z, r, h
    as ONNX's) and its relu Dense head, from the .hdf5's weights."""
    with h5py.File(MODEL, "r") as f:
        layers = {layer["config"]["name"]: layer for layer in json.loads(f.attrs["model_config"])["config"]["layers"]}
        assert layers["gru"]["config"]["reset_after"] and layers["dense"]["config"]["activation"] == "relu"
        cell = f["model_weights/gru/gru/gru_cell"]
        kernel, recurrent, bias = (np.asarray(cell[k], np.float32) for k in ("kernel:0", "recurrent_kernel:0", "bias:0"))
        dense_kernel = np.asarray(f["model_weights/dense/dense/kernel:0"], np.float32)
        dense_bias = np.asarray(f["model_weights/dense/dense/bias:0"], np.float32)
    weights = dict(W=kernel.T[None], R=recurrent.T[None], B=bias.reshape(1, -1), kernel=dense_kernel,
                   bias=dense_bias, flat=np.array([1, 10], np.int64))
    nodes = [helper.make_node("GRU", ["x", "W", "R", "B"], ["", "h"], hidden_size=10, linear_before_reset=1),
             helper.make_node("Reshape", ["h", "flat"], ["h_flat"]),
             helper.make_node("Gemm", ["h_flat", "kernel", "bias"], ["pre"]),
             helper.make_node("Relu", ["pre"], ["y"])]
    graph = helper.make_graph(nodes, "forward_kinematics", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 68])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
                              [numpy_helper.from_array(v, k) for k, v in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.fixture
def kinematics(tmp_path):
    """(solver artifact, reference problem on the twin, Keras's inputs)."""
    (tmp_path / MODEL.name).write_bytes(MODEL.read_bytes())
    config = tmp_path / "kinematics.toml"
    config.write_text(CONFIG.format(model=MODEL.name, iterations=40, tolerance=1e-7))
    solver = compile_solver(config)
    twin = onnx_twin(tmp_path / "twin.onnx")
    reference = ReferenceProblem(dataclasses.replace(solver.details, model_path=twin))
    keras = np.load(DATA / "keras" / "nn4mc_forward_kinematics_jan_10_2022.npz")
    for x, y in zip(keras["gru_input"], keras["dense"]):  # the twin is Keras's network
        np.testing.assert_allclose(reference.model(x), y, rtol=1e-5, atol=1e-6)
    return solver, reference, keras["gru_input"].reshape(-1, 68)


def problems(keras_inputs, reference, count=8):
    """Starts at Keras's inputs and random ones where an output is alive (a relu at zero has
    no slope for any local method to follow); targets the network can reach: the outputs of
    inputs 0.5 away per component. With r = 0 and a rate weight s the solution stays near
    the previous control, as an over-actuated controller's should."""
    rng = np.random.default_rng(7)
    candidates = np.concatenate([keras_inputs, rng.standard_normal((64, 68))])
    starts = np.clip([u for u in candidates if reference.model(u).max() > 0][:count], -2, 2).astype(np.float32)
    targets = np.stack([reference.model(np.clip(u + 0.5 * rng.standard_normal(68), -2, 2)) for u in starts])
    return dict(r=targets[:, None, :].astype(np.float32), u_prev=starts)


def test_exact_jacobian_matches_onnxruntime_differences(kinematics, tmp_path):
    """The Keras frontend's GRU (batch-first, its last state the output) differentiated by
    its tangent rule, against finite differences of onnxruntime on the twin."""
    from test_mpc import model_jacobian
    from test_recurrent_jacobian import onnxruntime_differences

    solver, reference, keras_inputs = kinematics
    largest = 0.0
    with HostRunner(solver) as host:
        for u in problems(keras_inputs, reference, count=4)["u_prev"]:
            y, jac = model_jacobian(host, u)
            y_ref, jac_ref, smooth = onnxruntime_differences(tmp_path / "twin.onnx", u)
            np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(jac[smooth], jac_ref[smooth], rtol=1e-3, atol=1e-4)
            largest = max(largest, np.abs(jac_ref).max())
    assert largest > 0.01


def test_solutions_match_lbfgsb_on_the_twin(kinematics):
    solver, reference, keras_inputs = kinematics
    inputs = problems(keras_inputs, reference)
    with HostRunner(solver) as host:
        result = host.run(inputs)
    assert np.all(result["status"] == 0), result["status"]
    assert len(inputs["r"]) == 8
    for i in range(len(inputs["r"])):
        ours = reference.cost(result["u"][i], np.zeros(0), inputs["r"][i], inputs["u_prev"][i])
        best = min(reference.optimum(np.zeros(0), inputs["r"][i], inputs["u_prev"][i], start=s)[1]
                   for s in (None, result["u"][i].reshape(-1)))
        assert abs(result["cost"][i] - ours) <= 1e-4 * (1 + ours)
        assert ours <= best * (1 + 1e-3) + 1e-7, (i, ours, best)


@needs_qemu
def test_emulated_cortex_m4_matches_the_host(kinematics, tmp_path):
    solver, reference, keras_inputs = kinematics
    inputs = problems(keras_inputs, reference, count=3)
    with HostRunner(solver) as host:
        expected = host.run(inputs)
    with QemuRunner(solver, "qemu-cortex-m4") as board:
        emulated, report = board.run(inputs)
    np.testing.assert_array_equal(emulated["status"], expected["status"])
    np.testing.assert_allclose(emulated["cost"], expected["cost"], rtol=1e-3, atol=1e-7)
    assert report["instructions_per_call"]["min"] > 0
