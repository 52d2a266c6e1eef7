"""PyTorch-style exports compiled, simulated on the host and compared with onnxruntime."""
import shutil

import numpy as np
import onnx
import pytest

import models
from edgeopt.pipeline import compile_model
from edgeopt.simulator.host import HostRunner
from edgeopt.simulator.reference import compare, run_reference

BUILDERS = [models.mlp, models.odd_dense, models.cnn1d, models.lenet, models.depthwise_separable,
            models.with_local_function]


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.__name__)
def test_matches_onnxruntime_on_random_inputs(tmp_path, builder):
    path = models.save(builder(seed=3), tmp_path / f"{builder.__name__}.onnx")
    generated = compile_model(path)
    rng = np.random.default_rng(7)
    inputs = {t.name: rng.standard_normal((16,) + t.shape).astype(np.float32) for t in generated.inputs}
    with HostRunner(generated) as model:
        outputs = model.run(inputs)
    reference = run_reference(path, inputs)
    for name, value in outputs.items():
        result = compare(value, reference[name], rtol=1e-4, atol=1e-5)
        assert result.ok, f"{name}: max abs {result.max_abs}, max rel {result.max_rel}"


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.__name__)
def test_arena_within_peak_of_live_tensors(tmp_path, builder):
    generated = compile_model(models.save(builder(), tmp_path / "m.onnx"))
    assert 0 < generated.arena_bytes <= generated.peak_bytes
    assert f"#define {generated.name.upper()}_ARENA_SIZE {generated.arena_bytes}u" in generated.files[f"{generated.name}.h"]


def test_batchnorm_and_activations_are_folded(tmp_path):
    generated = compile_model(models.save(models.lenet(), tmp_path / "lenet.onnx"))
    ops = [op for op, _, _ in generated.layers]
    assert "BatchNormalization" not in ops and "Relu" not in ops
    assert ops.count("Conv+relu") == 2
    # the torch flatten chain (Shape/Gather/Unsqueeze/Concat/Reshape) leaves no kernel behind
    assert not {"Shape", "Gather", "Unsqueeze", "Concat", "Reshape"} & set(ops)


def test_python_api_simulate(tmp_path):
    import edgeopt

    path = models.save(models.mlp(), tmp_path / "mlp.onnx")
    x = np.zeros((3, 1, 4), np.float32)
    out = edgeopt.simulate(path, {"x": x})
    (name, y), = out.items()
    assert y.shape == (3, 1, 6)
    np.testing.assert_allclose(y, run_reference(path, {"x": x})[name], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("trans_b", [0, 1])
def test_batchnorm_after_gemm_folds(tmp_path, trans_b):
    """BatchNorm1d after Linear (with alpha/beta) folds into the Gemm."""
    b = models.GraphBuilder(seed=5)
    w = b.rng.standard_normal((6, 10) if trans_b else (10, 6)).astype(np.float32)
    bias = b.rng.standard_normal(6).astype(np.float32)
    y = b.node("Gemm", ["x", b.const(w), b.const(bias)], transB=trans_b, alpha=0.7, beta=1.3)
    y = b.node("Sigmoid", [b.batchnorm(y, 6)])
    path = models.save(b.model([("x", [1, 10])], [y]), tmp_path / "gemm_bn.onnx")
    generated = compile_model(path)
    assert [op for op, _, _ in generated.layers] == ["Gemm+sigmoid"]
    x = np.random.default_rng(0).standard_normal((8, 1, 10)).astype(np.float32)
    with HostRunner(generated) as model:
        (name, out), = model.run({"x": x}).items()
    assert compare(out, run_reference(path, {"x": x})[name], 1e-4, 1e-5).ok


@pytest.mark.parametrize("shape,kernel,group,in_channels", [
    ((1, 4, 37), (5,), 1, 4),            # 1-D
    ((1, 4, 5, 6, 7), (3, 2, 3), 1, 4),  # 3-D
    ((1, 6, 11, 12), (3, 3), 2, 6),      # two groups of 6 output channels
    ((1, 160, 6, 70), (3, 3), 1, 160),   # padded rows beyond the host's stack budget
], ids=["1d", "3d", "groups", "many_channels"])
def test_conv_im2col_shapes(tmp_path, shape, kernel, group, in_channels):
    b = models.GraphBuilder(seed=3)
    pads = [1] * (2 * len(kernel))
    y = b.conv("x", in_channels, 12, kernel, pads=pads, group=group)
    path = models.save(b.model([("x", list(shape))], [y]), tmp_path / "conv.onnx")
    x = np.random.default_rng(1).standard_normal((2,) + shape).astype(np.float32)
    with HostRunner.build(path) as model:
        (name, out), = model.run({"x": x}).items()
    assert compare(out, run_reference(path, {"x": x})[name], 1e-4, 1e-5).ok


@pytest.mark.parametrize("out_channels", [1, 3, 8, 20], ids=lambda c: f"out{c}")
@pytest.mark.parametrize("stride,dilation", [(1, 1), (2, 1), (1, 3), (2, 40)], ids=str)
def test_conv_kernel_paths(tmp_path, out_channels, stride, dilation):
    """Direct (few output channels) and im2col paths (on x86 hosts: padded rows, tiles of
    one or two blocks of 8 channels plus a partial block), interior blocks, padded borders,
    and spans too wide for the border buffer, each against onnxruntime."""
    b = models.GraphBuilder(seed=out_channels)
    y = b.conv("x", 4, out_channels, (3, 3), pads=[1, 2, 2, 1], strides=[stride, stride],
               dilations=[1, dilation])
    path = models.save(b.model([("x", [1, 4, 9, 130])], [y]), tmp_path / "conv.onnx")
    x = np.random.default_rng(1).standard_normal((2, 1, 4, 9, 130)).astype(np.float32)
    with HostRunner.build(path) as model:
        (name, out), = model.run({"x": x}).items()
    assert compare(out, run_reference(path, {"x": x})[name], 1e-4, 1e-5).ok


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_and_max_match_onnxruntime(tmp_path, approximate):
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Gelu", ["x"], ["g"], approximate=approximate), helper.make_node("Max", ["g", "x"], ["y"])]
    graph = helper.make_graph(nodes, "gelu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 30])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 30])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    path = tmp_path / "gelu.onnx"
    onnx.save(model, path)
    inputs = {"x": np.random.default_rng(0).uniform(-4, 4, (8, 1, 30)).astype(np.float32)}
    with HostRunner(compile_model(path)) as runner:
        outputs = runner.run(inputs)
    np.testing.assert_allclose(outputs["y"], run_reference(path, inputs)["y"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("target", ["host", pytest.param("qemu-cortex-m4", marks=pytest.mark.skipif(
    not shutil.which("qemu-system-arm"), reason="qemu-system-arm not installed"))])
def test_elementwise_ops_run_in_place(tmp_path, target):
    """Standalone activations and binary ops whose first input has the output's shape write
    their output over that input when nothing reads it later: the chain needs one tensor of
    the arena, not two."""
    from onnx import TensorProto, helper, numpy_helper

    from targets import run_on

    rng = np.random.default_rng(3)
    constants = [numpy_helper.from_array(rng.standard_normal((1, 8, 1, 1)).astype(np.float32), "scale"),
                 numpy_helper.from_array(rng.standard_normal((8, 6, 6)).astype(np.float32), "shift")]
    nodes = [helper.make_node("Sigmoid", ["x"], ["s"]),
             helper.make_node("Mul", ["s", "scale"], ["m"]),  # a broadcast second input
             helper.make_node("Sub", ["m", "shift"], ["d"]),
             helper.make_node("Tanh", ["d"], ["t"]),
             helper.make_node("Max", ["t", "x"], ["y"])]
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 6, 6])], constants)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "chain.onnx"
    onnx.save(model, path)
    generated = compile_model(path)
    tensor_bytes = 8 * 6 * 6 * 4
    assert generated.peak_bytes == 2 * tensor_bytes and generated.arena_bytes == tensor_bytes
    assert generated.in_place_layers >= 2
    inputs = {"x": rng.standard_normal((4, 1, 8, 6, 6)).astype(np.float32)}
    outputs = run_on(target, path, generated, inputs)
    np.testing.assert_allclose(outputs["y"], run_reference(path, inputs)["y"], rtol=1e-5, atol=1e-6)
