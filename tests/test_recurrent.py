"""RNN, GRU and LSTM with ONNX's semantics, built with onnx.helper (torch is kept out of CI)
and compared with onnxruntime: forward, reverse, bidirectional, both GRU reset modes, both
layouts, given and absent initial states, HardSigmoid/Relu activations."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeopt.pipeline import compile_model
from edgeopt.simulator.reference import run_reference
from targets import run_on
from test_tflite import needs_qemu

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def recurrent_model(path, op, seq=5, batch=2, size=3, hidden=4, direction="forward", layout=0,
                    initial=False, outputs=("Y", "Y_h"), lens=None, runtime_lens=False, **attrs):
    rng = np.random.default_rng(3)
    dirs = 2 if direction == "bidirectional" else 1
    gates = GATES[op] * hidden
    weights = {"W": rng.uniform(-0.6, 0.6, (dirs, gates, size)), "R": rng.uniform(-0.6, 0.6, (dirs, gates, hidden)),
               "B": rng.uniform(-0.3, 0.3, (dirs, 2 * gates))}
    inputs = ["x", "W", "R", "B"]
    x_shape = [seq, batch, size] if layout == 0 else [batch, seq, size]
    state = [dirs, batch, hidden] if layout == 0 else [batch, dirs, hidden]
    graph_inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)]
    if lens is not None:
        weights["lens"] = np.array(lens, np.int32)
        inputs.append("lens")
    elif runtime_lens:  # a model input, as PyTorch exports packed sequences
        graph_inputs.append(helper.make_tensor_value_info("lens", TensorProto.INT32, [batch]))
        inputs.append("lens")
    if initial:
        inputs += ([] if lens is not None or runtime_lens else [""]) + ["h0"] + (["c0"] if op == "LSTM" else [])
        graph_inputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, state)
                         for n in (["h0", "c0"] if op == "LSTM" else ["h0"])]
    names = list(outputs)
    node = helper.make_node(op, inputs, names, hidden_size=hidden, direction=direction, layout=layout, **attrs)
    graph = helper.make_graph([node], "rnn", graph_inputs,
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in names if n],
                              [numpy_helper.from_array(v if k == "lens" else v.astype(np.float32), k)
                               for k, v in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def _onnx_reference(path, inputs):
    """ONNX's own reference evaluator: onnxruntime has no batch-first (layout 1) kernels."""
    from onnx.reference import ReferenceEvaluator

    evaluator = ReferenceEvaluator(str(path))
    names = [o.name for o in onnx.load(str(path)).graph.output]
    samples = next(iter(inputs.values())).shape[0]
    runs = [evaluator.run(names, {k: v[i] for k, v in inputs.items()}) for i in range(samples)]
    return {name: np.stack([run[j] for run in runs]) for j, name in enumerate(names)}


def _check(path, target="host", samples=3, reference=run_reference):
    generated = compile_model(path)
    rng = np.random.default_rng(0)
    inputs = {t.name: rng.uniform(-1, 1, (samples,) + tuple(t.shape)).astype(np.float32) for t in generated.inputs}
    outputs = run_on(target, path, generated, inputs)
    reference = reference(path, inputs)
    for name, value in outputs.items():
        np.testing.assert_allclose(value, reference[name], rtol=1e-5, atol=2e-6, err_msg=name)


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("op,attrs", [("RNN", {}), ("GRU", {"linear_before_reset": 0}),
                                      ("GRU", {"linear_before_reset": 1}), ("LSTM", {})],
                         ids=["rnn", "gru_lbr0", "gru_lbr1", "lstm"])
def test_matches_onnxruntime(tmp_path, op, attrs, direction):
    outputs = ("Y", "Y_h", "Y_c") if op == "LSTM" else ("Y", "Y_h")
    _check(recurrent_model(tmp_path / "rnn.onnx", op, direction=direction, outputs=outputs, **attrs))


@pytest.mark.parametrize("op", ["GRU", "LSTM"])
def test_batch_first_layout_and_initial_states(tmp_path, op):
    outputs = ("Y", "Y_h", "Y_c") if op == "LSTM" else ("Y", "Y_h")
    _check(recurrent_model(tmp_path / "rnn.onnx", op, layout=1, initial=True, direction="bidirectional",
                           outputs=outputs), reference=_onnx_reference)


def test_other_activations_and_absent_outputs(tmp_path):
    path = recurrent_model(tmp_path / "rnn.onnx", "GRU", outputs=("", "Y_h"),
                           activations=["HardSigmoid", "Relu"], activation_alpha=[0.3], activation_beta=[0.4])
    _check(path)


@pytest.mark.parametrize("op,activations,alpha,beta", [
    ("GRU", ["LeakyRelu", "Softsign"], [0.1], []), ("GRU", ["ThresholdedRelu", "Softplus"], [0.2], []),
    ("RNN", ["Affine"], [0.7], [0.1]), ("RNN", ["ScaledTanh"], [1.5], [0.8]),
    ("LSTM", ["Sigmoid", "Elu", "Softsign"], [0.9], []),
], ids=["leaky_softsign", "thresholded_softplus", "affine", "scaled_tanh", "elu_softsign"])
def test_every_onnx_activation(tmp_path, op, activations, alpha, beta):
    outputs = ("Y", "Y_h", "Y_c") if op == "LSTM" else ("Y", "Y_h")
    attrs = dict(activations=activations, **({"activation_alpha": alpha} if alpha else {}),
                 **({"activation_beta": beta} if beta else {}))
    _check(recurrent_model(tmp_path / "rnn.onnx", op, outputs=outputs, **attrs))


@pytest.mark.parametrize("op", ["GRU", "LSTM"])
def test_clip_and_sequence_lens(tmp_path, op):
    outputs = ("Y", "Y_h", "Y_c") if op == "LSTM" else ("Y", "Y_h")
    _check(recurrent_model(tmp_path / "rnn.onnx", op, outputs=outputs, clip=0.4, lens=[3, 5],
                           direction="bidirectional"))


@pytest.mark.parametrize("target", ["host", pytest.param("qemu-cortex-m4", marks=needs_qemu)])
@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
def test_sequence_lens_given_at_run_time(tmp_path, op, target):
    """sequence_lens as an int32 model input: each sample its own lengths (0 and the full
    sequence among them), against onnxruntime; lengths outside 0..seq are clamped, so the
    kernel never reads past the sequence."""
    outputs = ("Y", "Y_h", "Y_c") if op == "LSTM" else ("Y", "Y_h")
    path = recurrent_model(tmp_path / "rnn.onnx", op, batch=3, outputs=outputs, direction="bidirectional",
                           runtime_lens=True, initial=True)
    generated = compile_model(path)
    assert [t.dtype for t in generated.inputs if t.name == "lens"] == ["int32"]
    rng = np.random.default_rng(0)
    lens = np.array([[5, 2, 0], [1, 5, 3], [4, 4, 4], [9, -4, 5]], np.int32)
    inputs = {t.name: rng.uniform(-1, 1, (4,) + tuple(t.shape)).astype(np.float32)
              for t in generated.inputs if t.name != "lens"}
    got = run_on(target, path, generated, dict(inputs, lens=lens))
    reference = run_reference(path, dict(inputs, lens=np.clip(lens, 0, 5)))
    for name, value in got.items():
        np.testing.assert_allclose(value, reference[name], rtol=1e-5, atol=2e-6, err_msg=name)


@pytest.mark.parametrize("direction", ["forward", "bidirectional"])
def test_lstm_input_forget(tmp_path, direction):
    """input_forget = 1 couples the gates, f = 1 - i, as onnxruntime does (the ONNX reference
    evaluator ignores the attribute)."""
    _check(recurrent_model(tmp_path / "lstm.onnx", "LSTM", outputs=("Y", "Y_h", "Y_c"), initial=True,
                           direction=direction, input_forget=1))


def test_unsupported_inputs_are_named(run_cli, tmp_path):
    path = recurrent_model(tmp_path / "rnn.onnx", "RNN", activations=["Gelu"])
    code, _, err = run_cli("compile", path, "-o", tmp_path / "out")
    assert code == 2 and "Gelu" in err and "Traceback" not in err


@needs_qemu
def test_lstm_on_an_emulated_cortex_m4(tmp_path):
    _check(recurrent_model(tmp_path / "rnn.onnx", "LSTM", direction="bidirectional", outputs=("Y", "Y_h", "Y_c")),
           "qemu-cortex-m4")


def test_per_layer_compares_the_hidden_state_of_every_step(run_cli, tmp_path):
    """--per-layer checks a recurrent layer's Y (its hidden state at every time step)."""
    path = recurrent_model(tmp_path / "rnn.onnx", "LSTM", seq=5, batch=1, outputs=("Y",))
    np.savez(tmp_path / "x.npz", x=np.random.default_rng(0).uniform(-1, 1, (3, 5, 1, 3)).astype(np.float32))
    code, out, err = run_cli("simulate", path, "--inputs", tmp_path / "x.npz", "--per-layer")
    assert code == 0, err
    assert "LSTM" in out and "every layer matches onnxruntime" in out
