"""Hostile and malformed input: every case ends with exit code 2 and a message naming the file,
the node or key and what to do, with nothing written; never an internal error (rc 3), a crash,
broken C or injected text."""
import json
import shutil
import subprocess
import sys
import warnings

import numpy as np
import onnx
import pytest
import tflite
from onnx import TensorProto, helper, numpy_helper

import models
from tflite_builder import Op, T, build, options

OPS = tflite.BuiltinOperator


def assert_clear(result, *needles, out_dir=None):
    code, _, err = result
    assert code == 2, err
    assert err.startswith("edgeopt: error:") and "Traceback" not in err and "internal error" not in err, err
    for needle in needles:
        assert needle in err, err
    if out_dir is not None:
        assert not out_dir.exists() or not any(out_dir.iterdir()), list(out_dir.iterdir())


def onnx_model(path, nodes, inputs, outputs, inits=(), opset=13):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), str(path))
    return path


def conv_model(path, **attrs):
    w = numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "w")
    return onnx_model(path, [helper.make_node("Conv", ["x", "w"], ["y"], name="the_conv", **attrs)],
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])


@pytest.mark.parametrize("attrs,needle", [
    (dict(strides="abc"), "strides"),
    (dict(group=[1, 2]), "group"),
    (dict(strides=[2 ** 31, 2 ** 31]), "strides"),
    (dict(pads=[2 ** 31] * 4), "pads"),
    (dict(pads=[60000] * 4), "elements"),
    (dict(strides=[0, 1]), "strides"),
], ids=["string_strides", "list_group", "huge_strides", "huge_pads", "gigantic_output", "zero_stride"])
def test_bad_conv_attributes(run_cli, tmp_path, attrs, needle):
    path = conv_model(tmp_path / "conv.onnx", **attrs)
    assert_clear(run_cli("compile", path, "-o", tmp_path / "out"), "the_conv", needle, out_dir=tmp_path / "out")


def test_gemm_alpha_of_the_wrong_type(run_cli, tmp_path):
    w = numpy_helper.from_array(np.ones((3, 4), np.float32), "w")
    path = onnx_model(tmp_path / "gemm.onnx", [helper.make_node("Gemm", ["x", "w"], ["y"], name="g0", alpha="x", transB=1)],
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], [w])
    assert_clear(run_cli("compile", path, "-o", tmp_path / "out"), "g0", "alpha")


def test_declared_input_too_large(run_cli, tmp_path):
    path = onnx_model(tmp_path / "big.onnx", [helper.make_node("Relu", ["x"], ["y"], name="r")],
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2 ** 31])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    assert_clear(run_cli("compile", path, "-o", tmp_path / "out"), "'x'", "elements")


def test_model_over_every_target_ram(run_cli, tmp_path):
    path = onnx_model(tmp_path / "wide.onnx", [helper.make_node("Relu", ["x"], ["h"], name="r1"),
                                               helper.make_node("Relu", ["h"], ["y"], name="r2")],
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 10 ** 9 // 4])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    assert_clear(run_cli("compile", path, "-o", tmp_path / "out"), "RAM", "the largest target has")


def test_constant_of_shape_bomb_fails_fast(run_cli, tmp_path):
    shape = numpy_helper.from_array(np.array([2 ** 16, 2 ** 15], np.int64), "shape")
    path = onnx_model(tmp_path / "bomb.onnx",
                      [helper.make_node("ConstantOfShape", ["shape"], ["c"], name="bomb"),
                       helper.make_node("Add", ["x", "c"], ["y"], name="add")],
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [shape])
    assert path.stat().st_size < 400
    assert_clear(run_cli("compile", path, "-o", tmp_path / "out"), "bomb", "elements")


@pytest.mark.parametrize("delta", [-8, 8])
def test_external_data_of_the_wrong_length(run_cli, tmp_path, delta):
    onnx.save(models.mlp(), str(tmp_path / "ext.onnx"), save_as_external_data=True, location="ext.bin",
              size_threshold=0, all_tensors_to_one_file=True)
    data = (tmp_path / "ext.bin").read_bytes()
    model = onnx.load(str(tmp_path / "ext.onnx"), load_external_data=False)
    for tensor in model.graph.initializer:  # the last tensor's recorded length is off
        entries = {e.key: e for e in tensor.external_data}
        if int(entries["offset"].value if "offset" in entries else 0) + int(entries["length"].value) == len(data):
            entries["length"].value = str(int(entries["length"].value) + delta)
    onnx.save(model, str(tmp_path / "ext.onnx"))
    if delta > 0:
        (tmp_path / "ext.bin").write_bytes(data + b"\0" * delta)
    assert_clear(run_cli("compile", tmp_path / "ext.onnx", "-o", tmp_path / "out"), "ext.onnx")


def _tflite_conv(tmp_path, stride=1, scale=0.05, weights_quantized=True):
    q = dict(scales=(scale,), zero_points=(0,))
    w = np.ones((2, 3, 3, 1), np.int8)
    tensors = [T("x", "int8", (1, 8, 8, 1), **q),
               T("w", "int8", (2, 3, 3, 1), w, **(q if weights_quantized else {})),
               T("y", "int8", (1, 8, 8, 2), **q)]
    ops = [Op(OPS.CONV_2D, ["x", "w"], ["y"], options("Conv2DOptions", Padding=0, StrideW=stride,
                                                      StrideH=stride, DilationWFactor=1, DilationHFactor=1))]
    path = tmp_path / "conv.tflite"
    path.write_bytes(build(tensors, ops, ["x"], ["y"]))
    return path


@pytest.mark.parametrize("case,needle", [
    (dict(stride=0), "stride"), (dict(scale=float("nan")), "scale"), (dict(weights_quantized=False), "quantization"),
], ids=["zero_stride", "nan_scale", "weights_without_quantization"])
def test_bad_tflite_files(run_cli, tmp_path, case, needle):
    path = _tflite_conv(tmp_path, **case)
    assert_clear(run_cli("compile", path, "-o", tmp_path / "out"), needle)


def test_output_location_taken_by_a_file(run_cli, tmp_path):
    mlp = models.save(models.mlp(), tmp_path / "mlp.onnx")
    (tmp_path / "file").write_text("x")
    assert_clear(run_cli("compile", mlp, "-o", tmp_path / "file"), "is a file")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "edgeopt_runtime").write_text("in the way")
    assert_clear(run_cli("compile", mlp, "-o", tmp_path / "lib"), "edgeopt_runtime")
    assert sorted(p.name for p in (tmp_path / "lib").iterdir()) == ["edgeopt_runtime"]  # nothing half-written


def test_config_path_that_is_a_folder(run_cli, tmp_path):
    (tmp_path / "cfg.toml").mkdir()
    assert_clear(run_cli("compile", tmp_path / "cfg.toml"), "cfg.toml", "folder")


@pytest.mark.parametrize("flag", ["--compare", "--per-layer"])
def test_zero_samples(run_cli, tmp_path, flag):
    mlp = models.save(models.mlp(), tmp_path / "mlp.onnx")
    np.savez(tmp_path / "in.npz", x=np.zeros((0, 1, 4), np.float32))
    assert_clear(run_cli("simulate", mlp, "--inputs", tmp_path / "in.npz", flag), "no samples")


def test_string_arrays(run_cli, tmp_path):
    mlp = models.save(models.mlp(), tmp_path / "mlp.onnx")
    np.savez(tmp_path / "in.npz", x=np.array([[["a", "b", "c", "d"]]]))
    assert_clear(run_cli("simulate", mlp, "--inputs", tmp_path / "in.npz"), "'x'")


@pytest.mark.parametrize("value", ["-1", "nan", "inf"])
def test_bad_tolerances(tmp_path, value):
    mlp = models.save(models.mlp(), tmp_path / "mlp.onnx")
    np.savez(tmp_path / "in.npz", x=np.zeros((1, 1, 4), np.float32))
    result = subprocess.run([sys.executable, "-m", "edgeopt", "simulate", str(mlp), "--inputs",
                             str(tmp_path / "in.npz"), "--compare", "--rtol", value], capture_output=True, text=True)
    assert result.returncode == 2 and "--rtol" in result.stderr and "finite number" in result.stderr


def test_node_name_that_is_not_utf8(run_cli, tmp_path):
    path = onnx_model(tmp_path / "m.onnx", [helper.make_node("Relu", ["x"], ["y"], name="NODENAME")],
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    path.write_bytes(path.read_bytes().replace(b"NODENAME", b"NODE\xff\xfeME"))
    code, out, err = run_cli("compile", path, "-o", tmp_path / "out")
    if code == 0:  # decoded with replacement characters: the C is still safe and builds
        assert "Traceback" not in err and (tmp_path / "out" / "m.c").is_file()
    else:
        assert_clear((code, out, err), "m.onnx", out_dir=tmp_path / "out")


def test_hostile_file_name_never_reaches_platformio_ini(run_cli, tmp_path):
    mlp = models.save(models.mlp(), tmp_path / "mlp.onnx")
    evil = tmp_path / 'net\nextra_scripts = pre:evil.py\n"quoted".onnx'
    shutil.copy(mlp, evil)
    project = tmp_path / "fw"
    code, _, err = run_cli("compile", evil, "--platformio", project, "--board", "nucleo_f446re", "--name", "net")
    assert code == 0, err
    ini = (project / "platformio.ini").read_text()
    assert not any(line.strip().startswith("extra_scripts") for line in ini.splitlines())
    library = json.loads((project / "lib" / "net" / "library.json").read_text())
    assert library["name"] == "net" and "extra_scripts" in library["description"]
    code, _, err = run_cli("compile", evil, "-o", tmp_path / "lib")  # the default name is sanitized
    assert code == 0, err


def test_reserved_prefixes(run_cli, tmp_path):
    mlp = models.save(models.mlp(), tmp_path / "mlp.onnx")
    assert_clear(run_cli("compile", mlp, "--name", "eo", "-o", tmp_path / "o"), "--name 'eo'", "reserved")
    assert_clear(run_cli("compile", mlp, "--name", "EO_model", "-o", tmp_path / "o"), "reserved")
    eo = tmp_path / "eo.onnx"
    shutil.copy(mlp, eo)
    code, out, err = run_cli("compile", eo, "-o", tmp_path / "o2")  # the default becomes model_eo
    assert code == 0 and (tmp_path / "o2" / "model_eo.h").is_file(), err


def _mpc_config(tmp_path, **edits):
    from test_mpc import forward_model, write_config

    return write_config(tmp_path, forward_model(tmp_path), **edits)


@pytest.mark.parametrize("edit,needle", [
    (dict(horizon="100000"), "[mpc] horizon"),
    (dict(max_iterations=str(2 ** 31)), "[mpc] max_iterations"),
    (dict(u_max="1e39"), "[mpc] u_max"),
    (dict(name="eo"), "[solver] name"),
    (dict(name="main"), "[solver] name"),
], ids=["horizon", "iterations", "u_max_overflow", "name_eo", "name_main"])
def test_bad_solver_configs(run_cli, tmp_path, edit, needle):
    path = _mpc_config(tmp_path, **edit)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning may leak
        assert_clear(run_cli("compile", path, "-o", tmp_path / "out"), str(path), needle,
                     out_dir=tmp_path / "out")


SPECIAL = np.float32([np.nan, np.inf, -np.inf, 1e30, -1e30, 3e9, -3e9, 0.3, -0.2, 0.0])


def test_activations_propagate_nan_like_onnxruntime(tmp_path):
    from edgeopt.simulator.host import HostRunner
    from edgeopt.simulator.reference import run_reference

    ops = ["Relu", "Tanh", "Sigmoid", "LeakyRelu", "Elu", "Selu", "HardSigmoid", "HardSwish", "Clip"]
    nodes = [helper.make_node(op, ["x"], [f"y_{op}"], name=op) for op in ops]
    path = onnx_model(tmp_path / "acts.onnx", nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [10])],
                      [helper.make_tensor_value_info(f"y_{op}", TensorProto.FLOAT, [10]) for op in ops], opset=14)
    x = {"x": SPECIAL[None]}
    with HostRunner.build(path) as runner:
        ours = runner.run(x)
    reference = run_reference(path, x)
    for op in ops:
        got, want = ours[f"y_{op}"][0], reference[f"y_{op}"][0]
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=op)
        finite = np.isfinite(want)
        np.testing.assert_allclose(got[finite], want[finite], rtol=1e-5, atol=1e-6, err_msg=op)


@pytest.mark.parametrize("target", ["host", pytest.param("qemu-cortex-m4", marks=pytest.mark.skipif(
    not shutil.which("qemu-system-arm"), reason="qemu-system-arm not installed"))])
def test_quantize_saturates_and_agrees_on_every_core(tmp_path, target):
    """QUANTIZE saturates +-Inf and huge values to 127 / -128, and NaN gives -128, on the host
    and on the M4 alike. TFLite's reference kernel converts them to int32 before clamping,
    which is undefined (on x86 every one becomes -128): it is the reference only in range."""
    from targets import run_on

    from edgeopt.pipeline import compile_file
    from edgeopt.simulator.reference import run_reference

    tensors = [T("x", "float32", (1, 10)), T("q", "int8", (1, 10), scales=(0.02,), zero_points=(5,))]
    path = tmp_path / "quantize.tflite"
    path.write_bytes(build(tensors, [Op(OPS.QUANTIZE, ["x"], ["q"])], ["x"], ["q"]))
    x = {"x": SPECIAL[None, None]}
    got = run_on(target, path, compile_file(path), x)["q"].reshape(-1)
    np.testing.assert_array_equal(got[:7], [-128, 127, -128, 127, -128, 127, -128])
    want = run_reference(path, x)["q"].reshape(-1)
    np.testing.assert_array_equal(got[7:], want[7:])
