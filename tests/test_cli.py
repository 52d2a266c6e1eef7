"""The command line: outputs, comparisons, and clear errors for bad input."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import models

DATA = Path(__file__).resolve().parent / "data" / "models"


@pytest.fixture
def mlp_path(tmp_path):
    return models.save(models.mlp(), tmp_path / "mlp.onnx")


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_compile_writes_library_and_prints_summary(run_cli, tmp_path, mlp_path):
    code, out, err = run_cli("compile", mlp_path, "-o", tmp_path / "lib", "--name", "ctrl")
    assert code == 0, err
    assert (tmp_path / "lib" / "ctrl.h").is_file() and (tmp_path / "lib" / "ctrl.c").is_file()
    assert (tmp_path / "lib" / "edgeopt_runtime" / "include" / "eo_runtime.h").is_file()
    assert "ctrl_invoke" in (tmp_path / "lib" / "ctrl.h").read_text()
    assert "layers: 3" in out and "arena:" in out and "parameters: 4870" in out


def test_simulate_writes_outputs_and_compares(run_cli, tmp_path, mlp_path):
    x = np.random.default_rng(0).standard_normal((50, 1, 4)).astype(np.float32)
    inputs = _npz(tmp_path / "in.npz", x=x)
    code, out, err = run_cli("simulate", mlp_path, "--inputs", inputs, "--outputs", tmp_path / "out.npz",
                             "--compare")
    assert code == 0, err
    with np.load(tmp_path / "out.npz") as data:
        (key,) = data.files
        assert data[key].shape == (50, 1, 6)
    assert "max abs err" in out


def test_per_layer_names_first_divergent_node(run_cli, tmp_path):
    path = models.save(models.lenet(), tmp_path / "lenet.onnx")
    inputs = _npz(tmp_path / "in.npz", x=np.random.default_rng(0).standard_normal((2, 1, 1, 28, 28)).astype(np.float32))
    code, out, _ = run_cli("simulate", path, "--inputs", inputs, "--per-layer")
    assert code == 0 and "every layer matches" in out
    # With zero tolerance rounding differences count: the report must name a node.
    code, out, _ = run_cli("simulate", path, "--inputs", inputs, "--per-layer", "--rtol", "0", "--atol", "0")
    assert code == 1
    assert "first divergence: step" in out and "node(s) conv_" in out


def test_per_layer_on_an_int8_tflite_model(run_cli, tmp_path):
    """int8 layers are traced too (their C types, not floats); the TFLite reference exposes only
    the outputs, and the report says so instead of claiming every layer matches."""
    path = DATA / "tflm" / "micro_speech_quantized.tflite"
    inputs = _npz(tmp_path / "in.npz", Reshape_1=np.random.default_rng(0).integers(-128, 128, (2, 1, 1960)).astype(np.int8))
    code, out, err = run_cli("simulate", path, "--inputs", inputs, "--per-layer")
    assert code == 0, err
    assert "layers have no intermediate from the TFLite reference (TFLM)" in out and "every layer" not in out


def test_compare_on_a_keras_file_says_there_is_no_reference(run_cli, tmp_path):
    inputs = _npz(tmp_path / "in.npz", gru_input=np.zeros((2, 1, 1, 10), np.float32))
    code, _, err = run_cli("simulate", DATA / "nn4mc" / "GRU.hdf5", "--inputs", inputs, "--compare")
    assert code != 0 and "no reference runtime for Keras files" in err and "Traceback" not in err


def test_console_entry_point_runs(tmp_path, mlp_path):
    result = subprocess.run([sys.executable, "-m", "edgeopt", "compile", str(mlp_path), "-o",
                             str(tmp_path / "o")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _assert_clear_error(code, err, *needles):
    assert code == 2, err
    assert err.startswith("edgeopt: error:")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err


def test_truncated_model(run_cli, tmp_path, mlp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(mlp_path.read_bytes()[:200])
    code, _, err = run_cli("compile", broken, "-o", tmp_path / "out")
    _assert_clear_error(code, err, "broken.onnx")
    assert not (tmp_path / "out").exists()


def test_corrupt_model(run_cli, tmp_path, mlp_path):
    data = bytearray(mlp_path.read_bytes())
    data[10:60] = b"\xff" * 50
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(bytes(data))
    code, _, err = run_cli("compile", corrupt, "-o", tmp_path / "out")
    _assert_clear_error(code, err, "corrupt.onnx")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content", [b"", b"hello, this is not a model\n", b"\x00" * 64])
def test_file_that_is_not_a_model(run_cli, tmp_path, content):
    path = tmp_path / "notes.onnx"
    path.write_bytes(content)
    code, _, err = run_cli("compile", path, "-o", tmp_path / "out")
    _assert_clear_error(code, err, "notes.onnx")


def test_missing_model_file(run_cli, tmp_path):
    code, _, err = run_cli("compile", tmp_path / "nope.onnx")
    _assert_clear_error(code, err, "no such file")


def test_missing_external_weights(run_cli, tmp_path):
    model = models.mlp()
    onnx.save(model, str(tmp_path / "ext.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="ext.weights", size_threshold=0)
    (tmp_path / "ext.weights").unlink()
    code, _, err = run_cli("compile", tmp_path / "ext.onnx", "-o", tmp_path / "out")
    _assert_clear_error(code, err, "external weight data not found", "ext.weights")


def test_external_weights_load(run_cli, tmp_path):
    onnx.save(models.mlp(), str(tmp_path / "ext.onnx"), save_as_external_data=True,
              location="ext.weights", size_threshold=0)
    code, _, err = run_cli("compile", tmp_path / "ext.onnx", "-o", tmp_path / "out")
    assert code == 0, err


def _dynamic_model():
    w = numpy_helper.from_array(np.ones((3, 2, 3, 3), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["img", "w"], ["y"], kernel_shape=[3, 3])], "g",
        [helper.make_tensor_value_info("img", TensorProto.FLOAT, ["N", 2, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_dynamic_dims_need_input_shape(run_cli, tmp_path):
    path = tmp_path / "dyn.onnx"
    onnx.save(_dynamic_model(), str(path))
    code, _, err = run_cli("compile", path, "-o", tmp_path / "out")
    _assert_clear_error(code, err, "--input-shape img=")
    code, out, err = run_cli("compile", path, "-o", tmp_path / "out", "--input-shape", "img=1,2,8,8")
    assert code == 0, err
    assert "1x3x6x6" in out
    code, _, err = run_cli("compile", path, "-o", tmp_path / "out2", "--input-shape", "img=1,5,8,8")
    _assert_clear_error(code, err, "contradicts")


def test_unsupported_ops_listed_all_at_once(run_cli, tmp_path):
    nodes = [helper.make_node("Erf", ["x"], ["a"], name="erf_first"),
             helper.make_node("Erf", ["a"], ["b"], name="erf_second"),
             helper.make_node("Relu", ["b"], ["c"], name="ok_relu"),
             helper.make_node("Mod", ["c", "c"], ["y"], name="the_mod", fmod=1)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    path = tmp_path / "unsup.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    code, _, err = run_cli("compile", path, "-o", tmp_path / "out")
    _assert_clear_error(code, err, "Erf", "'erf_first'", "'erf_second'")
    assert not (tmp_path / "out").exists()


def test_unsupported_ops_in_separate_branches_listed(run_cli, tmp_path):
    nodes = [helper.make_node("Erf", ["x"], ["a"], name="n_erf"),
             helper.make_node("Round", ["x"], ["b"], name="n_round"),
             helper.make_node("Add", ["a", "b"], ["y"], name="n_add")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    path = tmp_path / "unsup2.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    code, _, err = run_cli("compile", path)
    _assert_clear_error(code, err, "Erf", "n_erf", "Round", "n_round")


def test_bad_name_prefix(run_cli, tmp_path, mlp_path):
    code, _, err = run_cli("compile", mlp_path, "-o", tmp_path / "out", "--name", "int")
    _assert_clear_error(code, err, "--name")


def test_simulate_input_mismatch(run_cli, tmp_path, mlp_path):
    wrong_key = _npz(tmp_path / "a.npz", inp=np.zeros((2, 1, 4), np.float32))
    code, _, err = run_cli("simulate", mlp_path, "--inputs", wrong_key, "--outputs", tmp_path / "o.npz")
    _assert_clear_error(code, err, "'x'")
    wrong_shape = _npz(tmp_path / "b.npz", x=np.zeros((2, 5), np.float32))
    code, _, err = run_cli("simulate", mlp_path, "--inputs", wrong_shape, "--outputs", tmp_path / "o.npz")
    _assert_clear_error(code, err, "(N, 1, 4)")
    assert not (tmp_path / "o.npz").exists()
