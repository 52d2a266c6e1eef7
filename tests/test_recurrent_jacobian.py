"""Exact Jacobians through recurrent layers (the tangent rules Newton-MPC uses on a GRU or
LSTM forward model) against finite differences of onnxruntime (Richardson-extrapolated
central differences in float32), or, for the batch-first layout onnxruntime lacks, plain
central differences of ONNX's reference evaluator on the float64 twin of the graph: RNN,
GRU (both reset modes), LSTM (peepholes, input_forget), forward, reverse and bidirectional,
both layouts, sequence_lens, clip, every ONNX activation, initial states that depend on the
input, and every output (Y, Y_h, Y_c) at once."""
import ctypes
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeopt.codegen.jacobian import jacobian_extension
from edgeopt.pipeline import compile_model
from edgeopt.simulator.host import HostRunner

PYTORCH = Path(__file__).resolve().parent / "data" / "models" / "pytorch"

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def wrapped_model(path, op, seq=4, batch=2, size=3, hidden=4, direction="forward", layout=0, initial=False,
                  lens=None, peepholes=False, dtype=np.float32, seed=5, **attrs):
    """z (1, N) -> Slice/Reshape into X (and h0, c0) -> op -> each output flattened -> Concat."""
    rng = np.random.default_rng(seed)
    elem = TensorProto.FLOAT if dtype == np.float32 else TensorProto.DOUBLE
    dirs = 2 if direction == "bidirectional" else 1
    gates = GATES[op] * hidden
    consts = {"W": rng.uniform(-0.7, 0.7, (dirs, gates, size)), "R": rng.uniform(-0.7, 0.7, (dirs, gates, hidden)),
              "B": rng.uniform(-0.3, 0.3, (dirs, 2 * gates))}
    x_shape = [seq, batch, size] if layout == 0 else [batch, seq, size]
    state = [dirs, batch, hidden] if layout == 0 else [batch, dirs, hidden]
    parts = [("X", x_shape)] + ([("h0", state)] + ([("c0", state)] if op == "LSTM" else []) if initial else [])
    nodes, start = [], 0
    for name, shape in parts:
        count = int(np.prod(shape))
        consts.update({f"{name}_start": np.array([start]), f"{name}_end": np.array([start + count]),
                       f"{name}_axis": np.array([1]), f"{name}_shape": np.array(shape)})
        nodes += [helper.make_node("Slice", ["z", f"{name}_start", f"{name}_end", f"{name}_axis"], [f"{name}_flat"]),
                  helper.make_node("Reshape", [f"{name}_flat", f"{name}_shape"], [name])]
        start += count
    inputs = ["X", "W", "R", "B", "lens" if lens is not None else ""]
    if lens is not None:
        consts["lens"] = np.array(lens, np.int32)
    inputs += ["h0" if initial else ""] + (["c0" if initial else ""] if op == "LSTM" else [])
    if peepholes:
        consts["P"] = rng.uniform(-0.5, 0.5, (dirs, 3 * hidden))
        inputs.append("P")
    while inputs and not inputs[-1]:
        inputs.pop()
    outputs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    nodes.append(helper.make_node(op, inputs, outputs, hidden_size=hidden, direction=direction, layout=layout,
                                  **attrs))
    consts["flat_shape"] = np.array([1, -1])
    nodes += [helper.make_node("Reshape", [o, "flat_shape"], [f"{o}_flat"]) for o in outputs]
    nodes.append(helper.make_node("Concat", [f"{o}_flat" for o in outputs], ["y"], axis=1))
    initializers = [numpy_helper.from_array(v.astype(np.int64 if v.dtype.kind == "i" and k != "lens" else
                                                     (v.dtype if k == "lens" else dtype)), k)
                    for k, v in consts.items()]
    graph = helper.make_graph(nodes, "wrapped", [helper.make_tensor_value_info("z", elem, [1, start])],
                              [helper.make_tensor_value_info("y", elem, None)], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.save(model, path)
    return path, start


def generated_jacobian(path):
    """(y, J) at z from the generated <name>_jacobian (J[j][i] = d y_j / d z_i)."""
    artifact = compile_model(path, name="wrapped", extensions=[jacobian_extension("wrapped")])
    runner = HostRunner(artifact)
    n_in, n_out = artifact.inputs[0].size, artifact.outputs[0].size

    def evaluate(z):
        z = np.ascontiguousarray(z, np.float32).reshape(-1)
        y = np.zeros(n_out, np.float32)
        jt = np.zeros((n_in, n_out), np.float32)
        runner.library.wrapped_jacobian(*(a.ctypes.data_as(ctypes.POINTER(ctypes.c_float)) for a in (z, y, jt)))
        return y, jt.T
    return runner, evaluate


def onnxruntime_differences(path, z, h=4e-3):
    """(y, d y / d z, smooth) by onnxruntime in float32: central differences at h and 2h,
    extrapolated (truncation O(h^4), rounding about 5e-5). smooth: where the second-order
    one-sided differences forward and backward agree; elsewhere a kink (clip, Relu, a
    threshold) lies within 2h of z and no difference quotient is the derivative."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    z_input = session.get_inputs()[0]

    def f(v):
        feed = {z_input.name: v.reshape(z_input.shape).astype(np.float32)}
        return session.run(None, feed)[0].astype(np.float64).reshape(-1)

    y, columns, smooth = f(z), [], []
    for e in np.eye(z.size):
        up1, up2, down1, down2 = (f(z + k * h * e) for k in (1, 2, -1, -2))
        central = (4 * (up1 - down1) / (2 * h) - (up2 - down2) / (4 * h)) / 3
        forward, backward = (-3 * y + 4 * up1 - up2) / (2 * h), (3 * y - 4 * down1 + down2) / (2 * h)
        columns.append(central)
        smooth.append(np.abs(forward - backward) <= 3e-4 + 5e-3 * np.abs(central))
    return y, np.stack(columns, axis=1), np.stack(smooth, axis=1)


def evaluator_differences(path, z, h=1e-5):
    """(y, d y / d z) of the float64 twin of the graph by ONNX's reference evaluator."""
    from onnx.reference import ReferenceEvaluator

    evaluator = ReferenceEvaluator(str(path))

    def f(v):
        return np.asarray(evaluator.run(None, {"z": v.reshape(1, -1)})[0], np.float64).reshape(-1)
    columns = [(f(z + h * e) - f(z - h * e)) / (2 * h) for e in np.eye(z.size)]
    return f(z), np.stack(columns, axis=1)


def check(tmp_path, op, samples=2, **options):
    path, _ = wrapped_model(tmp_path / "m32.onnx", op, **options)
    check_file(path, samples, lambda: wrapped_model(tmp_path / "m64.onnx", op, dtype=np.float64, **options)[0]
               if options.get("layout", 0) else None)


def check_file(path, samples=2, float64_twin=lambda: None):
    runner, evaluate = generated_jacobian(path)
    n = runner.artifact.inputs[0].size
    rng = np.random.default_rng(2)
    with runner:
        for _ in range(samples):
            z = rng.uniform(-1, 1, n)
            y, jac = evaluate(z)
            path64 = float64_twin()
            if path64 is None:
                y_ref, jac_ref, smooth = onnxruntime_differences(path, z)
                assert smooth.mean() > 0.9
                np.testing.assert_allclose(jac[smooth], jac_ref[smooth], rtol=1e-3, atol=1e-4)
                error = np.linalg.norm((jac - jac_ref)[smooth]) / np.linalg.norm(jac_ref[smooth])
                assert error <= 2e-3, error  # also where the sensitivities are small
            else:
                y_ref, jac_ref = evaluator_differences(path64, z)
                np.testing.assert_allclose(jac, jac_ref, rtol=1e-4, atol=2e-6)
            np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-6)
            assert np.abs(jac_ref).max() > 0.005  # the test sees real sensitivities


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("op,attrs", [("RNN", {}), ("GRU", {"linear_before_reset": 0}),
                                      ("GRU", {"linear_before_reset": 1}), ("LSTM", {})],
                         ids=["rnn", "gru_lbr0", "gru_lbr1", "lstm"])
def test_tangents_match_central_differences(tmp_path, op, attrs, direction):
    check(tmp_path, op, direction=direction, **attrs)


@pytest.mark.parametrize("op", ["GRU", "LSTM"])
def test_batch_first_with_initial_states_from_the_input(tmp_path, op):
    check(tmp_path, op, layout=1, initial=True, direction="bidirectional")


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
def test_sequence_lens_and_clip(tmp_path, op):
    check(tmp_path, op, lens=[2, 4], clip=0.6, direction="bidirectional", initial=True)


def test_lstm_peepholes(tmp_path):
    check(tmp_path, "LSTM", peepholes=True, initial=True, direction="bidirectional")


@pytest.mark.parametrize("op,activations,alpha,beta", [
    ("GRU", ["HardSigmoid", "Relu"], [0.3], [0.4]), ("GRU", ["LeakyRelu", "Softsign"], [0.1], []),
    ("GRU", ["ThresholdedRelu", "Softplus"], [0.2], []), ("RNN", ["Affine"], [0.7], [0.1]),
    ("RNN", ["ScaledTanh"], [1.5], [0.8]), ("LSTM", ["Sigmoid", "Elu", "Softsign"], [0.9], []),
], ids=["hard_sigmoid_relu", "leaky_softsign", "thresholded_softplus", "affine", "scaled_tanh", "elu_softsign"])
def test_every_onnx_activation(tmp_path, op, activations, alpha, beta):
    attrs = dict(activations=activations, **({"activation_alpha": alpha} if alpha else {}),
                 **({"activation_beta": beta} if beta else {}))
    check(tmp_path, op, **attrs)


@pytest.mark.parametrize("direction", ["forward", "bidirectional"])
def test_lstm_input_forget(tmp_path, direction):
    check(tmp_path, "LSTM", input_forget=1, initial=True, direction=direction)


@pytest.mark.parametrize("name", ["gru_batch_first", "gru_two_layers_bidirectional", "lstm_batch_first_two_layers",
                                  "rnn_batch_first_bidirectional"])
def test_pytorch_exports(name):
    """PyTorch's own exports (its Transpose/Reshape preludes, stacked layers), one input each."""
    check_file(PYTORCH / f"{name}.onnx", samples=1)
