"""One test per supported TFLite op: small models written with tflite_builder, compared
bit-exactly (int8) with the TFLM interpreter, per-tensor and per-channel."""
import shutil

import numpy as np
import pytest
import tflite

from edgeopt.frontends import load_model
from edgeopt.ops import default_registry
from edgeopt.ops.quantized_linear import planar_depthwise
from edgeopt.ops.registry import OpContext
from edgeopt.passes import optimize
from edgeopt.pipeline import compile_model
from edgeopt.simulator.host import HostRunner
from edgeopt.simulator.reference import compare, run_reference
from targets import run_on
from tflite_builder import Op, T, build, options

OPS = tflite.BuiltinOperator
RNG = np.random.default_rng(11)


LAYOUTS = pytest.mark.parametrize("layout", ["compact", "expanded"])  # int8 weights on DSP cores


def _run(tmp_path, tensors, ops, inputs, outputs, samples=6, target="host", layout="auto"):
    path = tmp_path / "op.tflite"
    path.write_bytes(build(tensors, ops, inputs, outputs))
    generated = compile_model(path, int8_weights=layout)
    feed = {}
    for t in generated.inputs:
        shape = (samples,) + t.shape
        feed[t.name] = (RNG.integers(-128, 128, shape).astype(np.int8) if t.dtype == "int8"
                        else RNG.uniform(-3, 3, shape).astype(np.float32))
    got = run_on(target, path, generated, feed)
    expected = run_reference(path, feed)
    for name, value in got.items():
        if value.dtype == np.int8:
            np.testing.assert_array_equal(value, expected[name])
        else:
            assert compare(value, expected[name], 1e-5, 1e-6).ok
    return got


def _weights(shape, channels, axis=0):
    w = RNG.integers(-127, 128, shape).astype(np.int8)
    scales = tuple(float(s) for s in RNG.uniform(0.004, 0.02, channels))
    return w, scales, axis


def _layer(kind, x_shape, w_shape, y_shape, per_channel, opts, x_q=(0.05, 3), y_q=(0.08, -4)):
    channels = w_shape[0] if kind != "dw" else w_shape[3]
    w, scales, axis = _weights(w_shape, channels if per_channel else 1, 0 if kind != "dw" else 3)
    bias_scales = tuple(x_q[0] * s for s in scales)
    bias = RNG.integers(-800, 800, channels).astype(np.int32)
    return [T("x", "int8", x_shape, scales=(x_q[0],), zero_points=(x_q[1],)),
            T("w", "int8", w_shape, w, scales=scales, zero_points=(0,) * len(scales), axis=axis),
            T("b", "int32", (channels,), bias, scales=bias_scales if per_channel else bias_scales * channels,
              zero_points=(0,) * channels),
            T("y", "int8", y_shape, scales=(y_q[0],), zero_points=(y_q[1],))]


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("activation", [0, 1, 3])
def test_fully_connected_int8(tmp_path, per_channel, activation):
    tensors = _layer("fc", (2, 16), (6, 16), (2, 6), per_channel, None)
    ops = [Op(OPS.FULLY_CONNECTED, ["x", "w", "b"], ["y"],
              options("FullyConnectedOptions", FusedActivationFunction=activation))]
    _run(tmp_path, tensors, ops, ["x"], ["y"])


@pytest.mark.parametrize("case", [
    dict(x=(1, 9, 9, 4), w=(8, 3, 3, 4), y=(1, 5, 5, 8), pad=0, stride=2, dil=1, act=1),
    dict(x=(1, 9, 9, 4), w=(6, 3, 3, 4), y=(1, 5, 5, 6), pad=1, stride=1, dil=2, act=3),
    dict(x=(1, 6, 6, 16), w=(8, 1, 1, 16), y=(1, 6, 6, 8), pad=0, stride=1, dil=1, act=0),  # 1x1
], ids=["3x3_same_stride2", "3x3_valid_dilated", "1x1_pointwise"])
@pytest.mark.parametrize("per_channel", [False, True])
def test_conv_2d_int8(tmp_path, case, per_channel):
    tensors = _layer("conv", case["x"], case["w"], case["y"], per_channel, None)
    ops = [Op(OPS.CONV_2D, ["x", "w", "b"], ["y"], options(
        "Conv2DOptions", Padding=case["pad"], StrideW=case["stride"], StrideH=case["stride"],
        FusedActivationFunction=case["act"], DilationWFactor=case["dil"], DilationHFactor=case["dil"]))]
    _run(tmp_path, tensors, ops, ["x"], ["y"])


@pytest.mark.parametrize("case", [
    dict(x=(1, 8, 8, 6), w=(1, 3, 3, 6), y=(1, 8, 8, 6), pad=0, stride=1, mult=1),
    dict(x=(1, 9, 9, 3), w=(1, 3, 3, 6), y=(1, 4, 4, 6), pad=1, stride=2, mult=2),
], ids=["same_dm1", "valid_stride2_dm2"])
@pytest.mark.parametrize("per_channel", [False, True])
def test_depthwise_conv_2d_int8(tmp_path, case, per_channel):
    tensors = _layer("dw", case["x"], case["w"], case["y"], per_channel, None)
    ops = [Op(OPS.DEPTHWISE_CONV_2D, ["x", "w", "b"], ["y"], options(
        "DepthwiseConv2DOptions", Padding=case["pad"], StrideW=case["stride"], StrideH=case["stride"],
        DepthMultiplier=case["mult"], FusedActivationFunction=3, DilationWFactor=1, DilationHFactor=1))]
    _run(tmp_path, tensors, ops, ["x"], ["y"])


@pytest.mark.skipif(not shutil.which("qemu-system-arm"), reason="qemu-system-arm not installed")
@pytest.mark.parametrize("pad,stride,dilation,y_scale", [(0, 1, 1, 0.08), (0, 2, 1, 0.08), (1, 1, 2, 0.08),
                                                         (0, 1, 1, 0.0004)],
                         ids=["same", "same_stride2", "valid_dilated", "left_shifts"])
@LAYOUTS
def test_depthwise_dsp_kernel_bit_exact_on_cortex_m4(tmp_path, pad, stride, dilation, y_scale, layout):
    """Depth multiplier 1 and channels a multiple of 4 take the DSP kernel on the M4, with
    the border taps left out per pixel."""
    size = {0: (9 + stride - 1) // stride, 1: 9 - 2 * dilation}[pad]
    tensors = _layer("dw", (1, 9, 9, 12), (1, 3, 3, 12), (1, size, size, 12), True, None, y_q=(y_scale, -3))
    ops = [Op(OPS.DEPTHWISE_CONV_2D, ["x", "w", "b"], ["y"], options(
        "DepthwiseConv2DOptions", Padding=pad, StrideW=stride, StrideH=stride, DepthMultiplier=1,
        FusedActivationFunction=1, DilationWFactor=dilation, DilationHFactor=dilation))]
    _run(tmp_path, tensors, ops, ["x"], ["y"], target="qemu-cortex-m4", layout=layout)


@pytest.mark.skipif(not shutil.which("qemu-system-arm"), reason="qemu-system-arm not installed")
@pytest.mark.parametrize("channels,stride", [(6, 2), (3, 2), (10, 1)])
@LAYOUTS
def test_depthwise_dsp_kernel_takes_any_channel_count_on_cortex_m4(tmp_path, channels, stride, layout):
    """A last group of fewer than 4 channels (or the only one) reads just its own inputs; with
    stride 1 the inner pixels' whole groups run apart from that last group."""
    size = 4 if stride == 2 else 7
    tensors = _layer("dw", (1, 7, 7, channels), (1, 3, 3, channels), (1, size, size, channels), True, None)
    ops = [Op(OPS.DEPTHWISE_CONV_2D, ["x", "w", "b"], ["y"], options(
        "DepthwiseConv2DOptions", Padding=0, StrideW=stride, StrideH=stride, DepthMultiplier=1,
        FusedActivationFunction=1, DilationWFactor=1, DilationHFactor=1))]
    _run(tmp_path, tensors, ops, ["x"], ["y"], target="qemu-cortex-m4", layout=layout)
    assert "eo_depthwise_conv2d_s8_dsp" in compile_model(tmp_path / "op.tflite").files["op.c"]


@pytest.mark.skipif(not shutil.which("qemu-system-arm"), reason="qemu-system-arm not installed")
@pytest.mark.parametrize("case", [
    # micro_speech's layer on a smaller input: 1 channel x 8, a 10x8 kernel, stride 2
    dict(x=(1, 15, 12, 1), k=(10, 8), mult=8, pad=0, stride=2, dil=1),
    dict(x=(1, 7, 7, 1), k=(3, 3), mult=3, pad=1, stride=1, dil=1),  # odd outputs per channel
    dict(x=(1, 9, 8, 1), k=(3, 3), mult=2, pad=0, stride=1, dil=2),
    dict(x=(1, 7, 7, 3), k=(3, 3), mult=2, pad=0, stride=1, dil=1),
    dict(x=(1, 7, 7, 5), k=(3, 3), mult=3, pad=1, stride=2, dil=1),  # 15 outputs: a group of 3
], ids=["micro_speech_like", "dm3_valid", "dm2_dilated", "dm2_three_channels", "dm3_five_channels"])
@LAYOUTS
def test_depthwise_multiplier_dsp_kernel_bit_exact_on_cortex_m4(tmp_path, case, layout):
    """A depth multiplier above 1: 3x3 layers without dilation take the planar kernel (its
    own test below); on one input channel the others run as a convolution (im2col + the pair
    kernel), on several the depthwise kernel gathers each output channel's input byte by byte."""
    (n, h, w, c), (k_h, k_w), s, d = case["x"], case["k"], case["stride"], case["dil"]
    out = lambda size, k: -(-size // s) if case["pad"] == 0 else (size - d * (k - 1) - 1) // s + 1  # noqa: E731
    y = (n, out(h, k_h), out(w, k_w), c * case["mult"])
    tensors = _layer("dw", case["x"], (1, k_h, k_w, y[3]), y, True, None)
    ops = [Op(OPS.DEPTHWISE_CONV_2D, ["x", "w", "b"], ["y"], options(
        "DepthwiseConv2DOptions", Padding=case["pad"], StrideW=s, StrideH=s, DepthMultiplier=case["mult"],
        FusedActivationFunction=1, DilationWFactor=d, DilationHFactor=d))]
    _run(tmp_path, tensors, ops, ["x"], ["y"], samples=3, target="qemu-cortex-m4", layout=layout)
    source = compile_model(tmp_path / "op.tflite", int8_weights=layout).files["op.c"]
    planar = case["k"] == (3, 3) and d == 1
    assert ("eo_conv2d_s8_dsp" if case["x"][3] == 1 and not planar else "eo_depthwise_conv2d_s8_dsp") in source


@pytest.mark.skipif(not shutil.which("qemu-system-arm"), reason="qemu-system-arm not installed")
@pytest.mark.parametrize("case", [
    # two blocks of output rows (the plane slides), odd width, a last group of 2 channels, ReLU
    dict(x=(1, 20, 13, 10), mult=1, pad=0, stride=1, act=1, y_scale=0.08),
    # no activation (no clamp), valid padding, left shifts (a small output scale)
    dict(x=(1, 12, 12, 8), mult=1, pad=1, stride=1, act=0, y_scale=0.0004),
    dict(x=(1, 17, 17, 3), mult=2, pad=0, stride=2, act=1, y_scale=0.08),
    # person_detect's first layer on a smaller input: one channel x 8, stride 2, ReLU6
    dict(x=(1, 24, 24, 1), mult=8, pad=0, stride=2, act=3, y_scale=0.08),
    dict(x=(1, 10, 10, 2), mult=4, pad=1, stride=1, act=0, y_scale=0.08),
], ids=["two_blocks_odd", "valid_left_shifts", "dm2_stride2", "one_channel_x8", "dm4_valid"])
@pytest.mark.parametrize("target", ["qemu-cortex-m4", "qemu-cortex-m33"])
def test_planar_depthwise_bit_exact(tmp_path, case, target):
    """3x3 layers on maps of at least 64 outputs, depth multiplier 1 at stride 1 or above 1:
    the compact kernel runs an input channel at a time over an int16 plane (SMLAD on pairs of
    taps). Bit-exact with TFLM in every layout (planar layers never expand their weights)."""
    (n, h, w, c), s = case["x"], case["stride"]
    out = lambda size: -(-size // s) if case["pad"] == 0 else (size - 3) // s + 1  # noqa: E731
    y = (n, out(h), out(w), c * case["mult"])
    tensors = _layer("dw", case["x"], (1, 3, 3, y[3]), y, True, None, y_q=(case["y_scale"], -3))
    ops = [Op(OPS.DEPTHWISE_CONV_2D, ["x", "w", "b"], ["y"], options(
        "DepthwiseConv2DOptions", Padding=case["pad"], StrideW=s, StrideH=s, DepthMultiplier=case["mult"],
        FusedActivationFunction=case["act"], DilationWFactor=1, DilationHFactor=1))]
    _run(tmp_path, tensors, ops, ["x"], ["y"], samples=2, target=target, layout="expanded")
    registry = default_registry()
    graph = optimize(load_model(tmp_path / "op.tflite", {}), registry)
    node = next(n for n in graph.nodes if n.op_type == "QDepthwiseConv2D")
    assert planar_depthwise(OpContext(node, graph))
    assert "eo_depthwise_conv2d_s8_dsp_compact(" in compile_model(tmp_path / "op.tflite").files["op.c"]


@pytest.mark.parametrize("pad,filter_size,stride,out", [(0, 3, 2, 5), (1, 2, 2, 4)], ids=["same", "valid"])
def test_average_pool_2d_int8(tmp_path, pad, filter_size, stride, out):
    q = dict(scales=(0.04,), zero_points=(-7,))
    tensors = [T("x", "int8", (1, 9, 9, 5), **q), T("y", "int8", (1, out, out, 5), **q)]
    ops = [Op(OPS.AVERAGE_POOL_2D, ["x"], ["y"], options(
        "Pool2DOptions", Padding=pad, StrideW=stride, StrideH=stride, FilterWidth=filter_size,
        FilterHeight=filter_size, FusedActivationFunction=0))]
    _run(tmp_path, tensors, ops, ["x"], ["y"])


@pytest.mark.parametrize("scale", [0.01, 0.0625, 0.3])
def test_softmax_int8(tmp_path, scale):
    tensors = [T("x", "int8", (3, 10), scales=(scale,), zero_points=(5,)),
               T("y", "int8", (3, 10), scales=(1 / 256,), zero_points=(-128,))]
    ops = [Op(OPS.SOFTMAX, ["x"], ["y"], options("SoftmaxOptions", Beta=1.0))]
    _run(tmp_path, tensors, ops, ["x"], ["y"])


def test_quantize_dequantize_and_reshape(tmp_path):
    tensors = [T("x", "float32", (1, 12)), T("q", "int8", (1, 12), scales=(0.02,), zero_points=(-3,)),
               T("s", "int32", (3,), np.array([1, 3, 4], np.int32)),
               T("r", "int8", (1, 3, 4), scales=(0.02,), zero_points=(-3,)),
               T("y", "float32", (1, 3, 4))]
    ops = [Op(OPS.QUANTIZE, ["x"], ["q"]), Op(OPS.RESHAPE, ["q", "s"], ["r"]),
           Op(OPS.DEQUANTIZE, ["r"], ["y"])]
    _run(tmp_path, tensors, ops, ["x"], ["y"])


@pytest.mark.skipif(not shutil.which("qemu-system-arm"), reason="qemu-system-arm not installed")
@pytest.mark.parametrize("rows,per_channel,y_scale", [
    (1, True, 0.08), (3, True, 0.08), (3, False, 0.08), (1, True, 0.0006), (4, True, 0.0006),
], ids=["one_row", "odd_rows", "per_tensor", "one_row_left_shifts", "rows_left_shifts"])
@pytest.mark.parametrize("outs", [7, 3])
@LAYOUTS
def test_dsp_kernels_bit_exact_on_cortex_m4(tmp_path, rows, per_channel, y_scale, outs, layout):
    """The M4 build takes the DSP kernels (inputs a multiple of 8): one row (its inputs
    expanded once for two blocks of outputs, or on the fly for one), several rows in pairs
    (an odd count repeats the last); an odd output count pads a zero row. A small output
    scale gives some channels a multiplier >= 0.5 (a left shift)."""
    tensors = _layer("fc", (rows, 24), (outs, 24), (rows, outs), per_channel, None, y_q=(y_scale, 1))
    ops = [Op(OPS.FULLY_CONNECTED, ["x", "w", "b"], ["y"], options("FullyConnectedOptions",
                                                                   FusedActivationFunction=1))]
    _run(tmp_path, tensors, ops, ["x"], ["y"], target="qemu-cortex-m4", layout=layout)


@pytest.mark.skipif(not shutil.which("qemu-system-arm"), reason="qemu-system-arm not installed")
@pytest.mark.parametrize("rows", [1, 2])
def test_compact_weights_long_rows_and_extremes_bit_exact_on_cortex_m4(tmp_path, rows):
    """The compact layout interleaves output pairs (each halfword 256 x the odd output's weight
    + the even one's): 1,000 inputs of 127 against odd rows of 127 put the odd outputs' sums
    past 2^23 (the kernels flush them every 256 inputs), and some inputs of -128 against -128
    weights the extremes. An odd weight of -128 beside a negative even one cannot be
    interleaved: that layer keeps int16 weights, still exact."""
    ins, outs = 1000, 6
    w = RNG.integers(-127, 128, (outs, ins)).astype(np.int8)
    w[1], w[3, :500], w[5, ::7] = 127, -128, -128
    w[2, :500], w[4, ::7] = np.abs(w[2, :500]), np.abs(w[4, ::7])  # beside the -128s: nothing negative
    tensors = [T("x", "int8", (rows, ins), scales=(0.05,), zero_points=(-3,)),
               T("w", "int8", w.shape, w, scales=(0.01,) * outs, zero_points=(0,) * outs),
               T("b", "int32", (outs,), np.zeros(outs, np.int32), scales=(0.0005,) * outs, zero_points=(0,) * outs),
               T("y", "int8", (rows, outs), scales=(40.0,), zero_points=(0,))]
    ops = [Op(OPS.FULLY_CONNECTED, ["x", "w", "b"], ["y"], options("FullyConnectedOptions"))]
    path = tmp_path / "fc.tflite"
    path.write_bytes(build(tensors, ops, ["x"], ["y"]))
    feed = {"x": RNG.integers(-128, 128, (3, rows, ins)).astype(np.int8)}
    feed["x"][0] = 127
    feed["x"][1, :, ::2] = -128
    for layout in ("compact", "expanded"):
        generated = compile_model(path, int8_weights=layout)
        got = run_on("qemu-cortex-m4", path, generated, feed)
        np.testing.assert_array_equal(got["y"], run_reference(path, feed)["y"])
    assert np.any(np.abs(got["y"][0]) < 120)  # not all saturated: the sums matter
    assert "_dsp_compact(" in compile_model(path, int8_weights="compact").files["fc.c"]
    w[5, 0], w[4, 0] = -128, -1
    path.write_bytes(build(tensors, ops, ["x"], ["y"]))
    generated = compile_model(path, int8_weights="compact")
    assert "_dsp_compact(" not in generated.files["fc.c"]
    np.testing.assert_array_equal(run_on("qemu-cortex-m4", path, generated, feed)["y"], run_reference(path, feed)["y"])


@pytest.mark.skipif(not shutil.which("qemu-system-arm"), reason="qemu-system-arm not installed")
def test_huge_bias_keeps_the_exact_portable_kernel_on_cortex_m4(tmp_path):
    """Accumulators that could reach 2^30 rule out the DSP kernels' SMMULR requantization."""
    tensors = _layer("fc", (2, 16), (8, 16), (2, 8), True, None)
    tensors[2].data = np.full(8, 1_100_000_000, np.int32) * np.array([1, -1] * 4, np.int32)
    path = tmp_path / "fc.tflite"
    ops = [Op(OPS.FULLY_CONNECTED, ["x", "w", "b"], ["y"], options("FullyConnectedOptions"))]
    path.write_bytes(build(tensors, ops, ["x"], ["y"]))
    assert "eo_matmul_s8_dsp" not in compile_model(path).files["fc.c"]
    _run(tmp_path, tensors, ops, ["x"], ["y"], target="qemu-cortex-m4")


@pytest.mark.parametrize("kind", ["ADD", "SUB", "MUL"])
@pytest.mark.parametrize("broadcast", [False, True])
def test_add_sub_mul_int8(tmp_path, kind, broadcast):
    b_shape = (1, 1, 1, 5) if broadcast else (1, 4, 4, 5)
    tensors = [T("a", "int8", (1, 4, 4, 5), scales=(0.05,), zero_points=(-3,)),
               T("b", "int8", b_shape, scales=(0.02,), zero_points=(6,)),
               T("y", "int8", (1, 4, 4, 5), scales=(0.07,), zero_points=(2,))]
    code = getattr(OPS, kind)
    opts = options(f"{kind.capitalize()}Options", FusedActivationFunction=1 if kind == "ADD" else 0)
    _run(tmp_path, tensors, [Op(code, ["a", "b"], ["y"], opts)], ["a", "b"], ["y"])


@pytest.mark.parametrize("kind", ["RELU", "RELU6"])
def test_relu_int8(tmp_path, kind):
    tensors = [T("x", "int8", (2, 7), scales=(0.1,), zero_points=(-10,)),
               T("y", "int8", (2, 7), scales=(0.04,), zero_points=(-128,))]
    _run(tmp_path, tensors, [Op(getattr(OPS, kind), ["x"], ["y"])], ["x"], ["y"])


def test_concatenation_squeeze_expand_dims_int8(tmp_path):
    q = dict(scales=(0.05,), zero_points=(1,))
    tensors = [T("a", "int8", (1, 2, 3), **q), T("b", "int8", (1, 2, 5), **q), T("c", "int8", (1, 2, 8), **q),
               T("axis", "int32", (1,), np.array([0], np.int32)),
               T("e", "int8", (1, 1, 2, 8), **q), T("y", "int8", (2, 8), **q)]
    ops = [Op(OPS.CONCATENATION, ["a", "b"], ["c"], options("ConcatenationOptions", Axis=2)),
           Op(OPS.EXPAND_DIMS, ["c", "axis"], ["e"]),
           Op(OPS.SQUEEZE, ["e"], ["y"], options("SqueezeOptions"))]
    _run(tmp_path, tensors, ops, ["a", "b"], ["y"])


def test_float_elementwise_and_activations(tmp_path):
    tensors = [T("a", "float32", (1, 6)), T("b", "float32", (1, 6)), T("s", "float32", (1, 6)),
               T("t", "float32", (1, 6)), T("y", "float32", (1, 6))]
    ops = [Op(OPS.ADD, ["a", "b"], ["s"], options("AddOptions", FusedActivationFunction=3)),
           Op(OPS.MUL, ["s", "b"], ["t"], options("MulOptions", FusedActivationFunction=0)),
           Op(OPS.LOGISTIC, ["t"], ["y"])]
    _run(tmp_path, tensors, ops, ["a", "b"], ["y"])


@pytest.mark.parametrize("pad,filter_size,stride,out", [(0, 3, 2, 5), (1, 2, 2, 4)], ids=["same", "valid"])
def test_max_pool_2d_int8(tmp_path, pad, filter_size, stride, out):
    q = dict(scales=(0.04,), zero_points=(-7,))
    tensors = [T("x", "int8", (1, 9, 9, 5), **q), T("y", "int8", (1, out, out, 5), **q)]
    ops = [Op(OPS.MAX_POOL_2D, ["x"], ["y"], options(
        "Pool2DOptions", Padding=pad, StrideW=stride, StrideH=stride, FilterWidth=filter_size,
        FilterHeight=filter_size, FusedActivationFunction=1))]
    _run(tmp_path, tensors, ops, ["x"], ["y"])


def test_pad_int8(tmp_path):
    q = dict(scales=(0.04,), zero_points=(-7,))
    paddings = np.array([[0, 0], [1, 2], [0, 3], [0, 0]], np.int32)
    tensors = [T("x", "int8", (1, 4, 5, 3), **q), T("p", "int32", (4, 2), paddings),
               T("y", "int8", (1, 7, 8, 3), **q)]
    _run(tmp_path, tensors, [Op(OPS.PAD, ["x", "p"], ["y"])], ["x"], ["y"])


def test_int16_activations_are_rejected(run_cli, tmp_path):
    tensors = [T("x", "int16", (1, 8), scales=(0.001,), zero_points=(0,)),
               T("y", "int16", (1, 8), scales=(0.001,), zero_points=(0,))]
    path = tmp_path / "int16.tflite"
    path.write_bytes(build(tensors, [Op(OPS.RELU, ["x"], ["y"])], ["x"], ["y"]))
    code, _, err = run_cli("compile", path, "-o", tmp_path / "out")
    assert code == 2 and "int16" in err and "Traceback" not in err


def test_dynamic_batch_prelude_is_folded_away(tmp_path):
    """What converters emit for a dynamic batch: SHAPE -> GATHER -> PACK feeding RESHAPE."""
    q = dict(scales=(0.05,), zero_points=(0,))
    tensors = [T("x", "int8", (1, 2, 3), **q), T("shape", "int32", (3,)),
               T("zero", "int32", (), np.array(0, np.int32)), T("batch", "int32", ()),
               T("six", "int32", (), np.array(6, np.int32)), T("target", "int32", (2,)),
               T("y", "int8", (1, 6), **q)]
    ops = [Op(OPS.SHAPE, ["x"], ["shape"], options("ShapeOptions", OutType=2)),
           Op(OPS.GATHER, ["shape", "zero"], ["batch"], options("GatherOptions", Axis=0)),
           Op(OPS.PACK, ["batch", "six"], ["target"], options("PackOptions", ValuesCount=2, Axis=0)),
           Op(OPS.RESHAPE, ["x", "target"], ["y"])]
    _run(tmp_path, tensors, ops, ["x"], ["y"])


def _float_conv_tensors(x, w_shape, y, depthwise=False):
    w = RNG.normal(0, 0.3, w_shape).astype(np.float32)
    channels = w_shape[3] if depthwise else w_shape[0]
    return [T("x", "float32", x), T("w", "float32", w_shape, w),
            T("b", "float32", (channels,), RNG.normal(0, 0.1, channels).astype(np.float32)),
            T("y", "float32", y)]


def test_float_conv_depthwise_pools_and_transposes_cancel(tmp_path):
    tensors = _float_conv_tensors((1, 9, 9, 3), (6, 3, 3, 3), (1, 5, 5, 6))
    w2 = RNG.normal(0, 0.3, (1, 3, 3, 12)).astype(np.float32)
    tensors += [T("w2", "float32", (1, 3, 3, 12), w2), T("b2", "float32", (12,), np.zeros(12, np.float32)),
                T("z", "float32", (1, 5, 5, 12)), T("p", "float32", (1, 2, 2, 12)),
                T("axes", "int32", (2,), np.array([1, 2], np.int32)), T("m", "float32", (1, 12))]
    ops = [Op(OPS.CONV_2D, ["x", "w", "b"], ["y"], options(
               "Conv2DOptions", Padding=0, StrideW=2, StrideH=2, FusedActivationFunction=3,
               DilationWFactor=1, DilationHFactor=1)),
           Op(OPS.DEPTHWISE_CONV_2D, ["y", "w2", "b2"], ["z"], options(
               "DepthwiseConv2DOptions", Padding=0, StrideW=1, StrideH=1, DepthMultiplier=2,
               FusedActivationFunction=1, DilationWFactor=1, DilationHFactor=1)),
           Op(OPS.MAX_POOL_2D, ["z"], ["p"], options(
               "Pool2DOptions", Padding=1, StrideW=2, StrideH=2, FilterWidth=2, FilterHeight=2,
               FusedActivationFunction=0)),
           Op(OPS.MEAN, ["p", "axes"], ["m"], options("ReducerOptions", KeepDims=False))]
    path = tmp_path / "float.tflite"
    path.write_bytes(build(tensors, ops, ["x"], ["m"]))
    layers = [op for op, _, _ in compile_model(path).layers]
    assert layers.count("Transpose") == 2  # into NCHW and back once, not around every op
    _run(tmp_path, tensors, ops, ["x"], ["m"])


def test_float_average_pool_and_pad(tmp_path):
    tensors = [T("x", "float32", (1, 6, 7, 2)), T("pads", "int32", (4, 2), np.array([[0, 0], [1, 1], [2, 0], [0, 0]], np.int32)),
               T("q", "float32", (1, 8, 9, 2)), T("y", "float32", (1, 4, 5, 2))]
    ops = [Op(OPS.PAD, ["x", "pads"], ["q"]),
           Op(OPS.AVERAGE_POOL_2D, ["q"], ["y"], options(
               "Pool2DOptions", Padding=0, StrideW=2, StrideH=2, FilterWidth=3, FilterHeight=3,
               FusedActivationFunction=0))]
    _run(tmp_path, tensors, ops, ["x"], ["y"])


def test_float_softmax_leaky_relu_hard_swish(tmp_path):
    tensors = [T("x", "float32", (2, 6)), T("a", "float32", (2, 6)), T("h", "float32", (2, 6)),
               T("y", "float32", (2, 6))]
    ops = [Op(OPS.LEAKY_RELU, ["x"], ["a"], options("LeakyReluOptions", Alpha=0.2)),
           Op(OPS.HARD_SWISH, ["a"], ["h"]),
           Op(OPS.SOFTMAX, ["h"], ["y"], options("SoftmaxOptions", Beta=1.0))]
    _run(tmp_path, tensors, ops, ["x"], ["y"])


@pytest.mark.parametrize("alpha", [0.1, 0.3])
def test_leaky_relu_int8(tmp_path, alpha):
    tensors = [T("x", "int8", (3, 9), scales=(0.06,), zero_points=(-4,)),
               T("y", "int8", (3, 9), scales=(0.05,), zero_points=(3,))]
    ops = [Op(OPS.LEAKY_RELU, ["x"], ["y"], options("LeakyReluOptions", Alpha=alpha))]
    _run(tmp_path, tensors, ops, ["x"], ["y"])


@pytest.mark.parametrize("scale", [0.02, 0.1, 0.5])
def test_logistic_int8(tmp_path, scale):
    tensors = [T("x", "int8", (4, 64), scales=(scale,), zero_points=(3,)),
               T("y", "int8", (4, 64), scales=(1 / 256,), zero_points=(-128,))]
    _run(tmp_path, tensors, [Op(OPS.LOGISTIC, ["x"], ["y"])], ["x"], ["y"])


@pytest.mark.parametrize("scale", [0.02, 0.1, 0.5])
def test_tanh_int8(tmp_path, scale):
    tensors = [T("x", "int8", (4, 64), scales=(scale,), zero_points=(-2,)),
               T("y", "int8", (4, 64), scales=(1 / 128,), zero_points=(0,))]
    _run(tmp_path, tensors, [Op(OPS.TANH, ["x"], ["y"])], ["x"], ["y"])


@pytest.mark.parametrize("x_q,y_q", [((0.05, 3), (0.03, -4)), ((0.002, 7), (0.001, -3)),
                                     ((0.3, 5), (0.2, -128))], ids=["mid", "small_scale", "large_scale"])
def test_hard_swish_int8(tmp_path, x_q, y_q):
    """Every int8 input value, through gemmlowp's int16 fixed point with saturation."""
    tensors = [T("x", "int8", (4, 64), scales=(x_q[0],), zero_points=(x_q[1],)),
               T("y", "int8", (4, 64), scales=(y_q[0],), zero_points=(y_q[1],))]
    path = tmp_path / "op.tflite"
    path.write_bytes(build(tensors, [Op(OPS.HARD_SWISH, ["x"], ["y"])], ["x"], ["y"]))
    every_value = {"x": np.arange(-128, 128).astype(np.int8).reshape(1, 4, 64)}
    with HostRunner.build(path) as model:
        np.testing.assert_array_equal(model.run(every_value)["y"], run_reference(path, every_value)["y"])


@pytest.mark.parametrize("shape,axes,keep,x_q,y_q", [
    ((1, 5, 7, 8), [1, 2], True, (0.05, 3), (0.03, -4)),  # global average pooling
    ((1, 5, 7, 8), [2, 1], False, (0.05, 3), (0.05, 3)),  # same quantization in and out
    ((2, 6, 10), [-1], True, (0.05, 3), (0.02, -4)),
    ((3, 6, 10), [0, 2], False, (0.1, -3), (0.02, 10)),  # non-adjacent axes
    ((4, 50), [1], False, (0.5, -128), (0.001, 0)),  # saturation
], ids=["hw_keep", "hw_same_q", "last_keep", "outer_inner", "saturating"])
def test_mean_int8(tmp_path, shape, axes, keep, x_q, y_q):
    out = tuple(1 if i in [a % len(shape) for a in axes] else d for i, d in enumerate(shape))
    if not keep:
        out = tuple(d for i, d in enumerate(shape) if i not in [a % len(shape) for a in axes])
    tensors = [T("x", "int8", shape, scales=(x_q[0],), zero_points=(x_q[1],)),
               T("axes", "int32", (len(axes),), np.array(axes, np.int32)),
               T("y", "int8", out, scales=(y_q[0],), zero_points=(y_q[1],))]
    ops = [Op(OPS.MEAN, ["x", "axes"], ["y"], options("ReducerOptions", KeepDims=keep))]
    _run(tmp_path, tensors, ops, ["x"], ["y"])


@pytest.mark.skipif(not shutil.which("qemu-system-arm"), reason="qemu-system-arm not installed")
def test_hard_swish_and_mean_int8_on_cortex_m3(tmp_path):
    tensors = [T("x", "int8", (1, 4, 4, 16), scales=(0.05,), zero_points=(3,)),
               T("h", "int8", (1, 4, 4, 16), scales=(0.03,), zero_points=(-20,)),
               T("axes", "int32", (2,), np.array([1, 2], np.int32)),
               T("y", "int8", (1, 16), scales=(0.01,), zero_points=(-5,))]
    ops = [Op(OPS.HARD_SWISH, ["x"], ["h"]),
           Op(OPS.MEAN, ["h", "axes"], ["y"], options("ReducerOptions", KeepDims=False))]
    _run(tmp_path, tensors, ops, ["x"], ["y"], target="qemu-cortex-m3")


def test_quantize_int8_to_int8(tmp_path):
    tensors = [T("x", "int8", (2, 30), scales=(0.07,), zero_points=(5,)),
               T("y", "int8", (2, 30), scales=(0.03,), zero_points=(-9,))]
    _run(tmp_path, tensors, [Op(OPS.QUANTIZE, ["x"], ["y"])], ["x"], ["y"])


@pytest.mark.skipif(not shutil.which("qemu-system-arm"), reason="qemu-system-arm not installed")
@pytest.mark.parametrize("pad,stride", [(0, 1), (0, 2), (1, 1)], ids=["same", "same_stride2", "valid"])
@pytest.mark.parametrize("channels", [16, 3, 1])
@LAYOUTS
def test_conv_dsp_kernel_bit_exact_on_cortex_m4(tmp_path, pad, stride, channels, layout):
    """On the M4 a 3x3 convolution runs as im2col + the DSP pair kernel, with zero-point
    padding: patches straight from the input words (16 channels) or gathered as bytes (RGB,
    grayscale: a patch of 27 or 9, padded to 32 or 16)."""
    out = {0: (7 + stride - 1) // stride, 1: (7 - 3 + stride) // stride}[pad]
    tensors = _layer("conv", (1, 7, 7, channels), (12, 3, 3, channels), (1, out, out, 12), True, None)
    ops = [Op(OPS.CONV_2D, ["x", "w", "b"], ["y"], options(
        "Conv2DOptions", Padding=pad, StrideW=stride, StrideH=stride, FusedActivationFunction=1,
        DilationWFactor=1, DilationHFactor=1))]
    _run(tmp_path, tensors, ops, ["x"], ["y"], samples=3, target="qemu-cortex-m4", layout=layout)
    source = compile_model(tmp_path / "op.tflite", int8_weights=layout).files["op.c"]
    assert ("eo_conv2d_s8_dsp_compact(" in source) == (layout == "compact") and "eo_conv2d_s8_dsp" in source


@pytest.mark.parametrize("dtype", ["float32", "int8"])
@pytest.mark.parametrize("case", [
    # begin, end, strides, masks, output shape
    dict(spec=([0, 1, 0], [1, 4, 6], [1, 1, 2], {}), y=(1, 3, 3)),
    dict(spec=([0, -1, 5], [1, -5, -7], [1, -1, -2], {}), y=(1, 4, 3)),  # negative strides and indices
    dict(spec=([0, 2, 0], [0, 0, 0], [1, 1, 1], dict(BeginMask=1, EndMask=5, ShrinkAxisMask=2)), y=(1, 6)),
    dict(spec=([0, 1], [0, 3], [1, 1], dict(EllipsisMask=1)), y=(1, 5, 2)),  # "...", then the last axis
    dict(spec=([0, 0, 1, 0], [1, 0, 3, 6], [1, 1, 1, 1], dict(NewAxisMask=2)), y=(1, 1, 2, 6)),
], ids=["plain", "negative", "masks_shrink", "ellipsis", "new_axis"])
def test_strided_slice(tmp_path, dtype, case):
    begin, end, strides, masks = case["spec"]
    q = dict(scales=(0.05,), zero_points=(2,)) if dtype == "int8" else {}
    vector = lambda name, v: T(name, "int32", (len(v),), np.array(v, np.int32))
    tensors = [T("x", dtype, (1, 5, 6), **q), vector("b", begin), vector("e", end), vector("s", strides),
               T("y", dtype, case["y"], **q)]
    ops = [Op(OPS.STRIDED_SLICE, ["x", "b", "e", "s"], ["y"], options("StridedSliceOptions", **masks))]
    _run(tmp_path, tensors, ops, ["x"], ["y"])


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_slice_transpose_split_v(tmp_path, dtype):
    q = dict(scales=(0.05,), zero_points=(-3,)) if dtype == "int8" else {}
    tensors = [T("x", dtype, (1, 5, 6, 4), **q), T("begin", "int32", (4,), np.array([0, 1, 2, 0], np.int32)),
               T("size", "int32", (4,), np.array([1, 3, -1, 3], np.int32)), T("s", dtype, (1, 3, 4, 3), **q),
               T("perm", "int32", (4,), np.array([0, 3, 1, 2], np.int32)), T("t", dtype, (1, 3, 3, 4), **q),
               T("sizes", "int32", (3,), np.array([1, -1, 2], np.int32)), T("axis", "int32", (), np.array(3, np.int32)),
               T("y0", dtype, (1, 3, 3, 1), **q), T("y1", dtype, (1, 3, 3, 1), **q), T("y2", dtype, (1, 3, 3, 2), **q)]
    ops = [Op(OPS.SLICE, ["x", "begin", "size"], ["s"]),
           Op(OPS.TRANSPOSE, ["s", "perm"], ["t"]),
           Op(OPS.SPLIT_V, ["t", "sizes", "axis"], ["y0", "y1", "y2"], options("SplitVOptions", NumSplits=3))]
    _run(tmp_path, tensors, ops, ["x"], ["y0", "y1", "y2"])


def test_split_equal_parts_on_cortex_m4(tmp_path):
    if not shutil.which("qemu-system-arm"):
        pytest.skip("qemu-system-arm not installed")
    q = dict(scales=(0.05,), zero_points=(1,))
    tensors = [T("axis", "int32", (), np.array(1, np.int32)), T("x", "int8", (1, 6, 4), **q),
               T("a", "int8", (1, 3, 4), **q), T("b", "int8", (1, 3, 4), **q)]
    ops = [Op(OPS.SPLIT, ["axis", "x"], ["a", "b"], options("SplitOptions", NumSplits=2))]
    _run(tmp_path, tensors, ops, ["x"], ["a", "b"], target="qemu-cortex-m4")


def test_shape_computations_fold_in_general(tmp_path):
    """The converter's shape arithmetic in other spellings than SHAPE -> GATHER -> PACK:
    STRIDED_SLICE, UNPACK, arithmetic, CAST, CONCATENATION and FILL on shapes, all folded."""
    tensors = [T("x", "float32", (1, 4, 6)), T("shape", "int32", (3,)),
               T("b", "int32", (1,), np.array([1], np.int32)), T("e", "int32", (1,), np.array([3], np.int32)),
               T("one", "int32", (1,), np.array([1], np.int32)), T("dims", "int32", (2,)),
               T("d0", "int32", ()), T("d1", "int32", ()), T("product", "int32", ()),
               T("product_f", "float32", ()), T("product_i", "int32", ()), T("flat", "int32", (1,)),
               T("minus_one", "int32", (1,), np.array([-1], np.int32)), T("target", "int32", (2,)),
               T("fill_dims", "int32", (2,)),
               T("half", "float32", (), np.array(0.5, np.float32)), T("halves", "float32", (1, 24)),
               T("r", "float32", (1, 24)), T("y", "float32", (1, 24))]
    ops = [Op(OPS.SHAPE, ["x"], ["shape"], options("ShapeOptions", OutType=2)),
           Op(OPS.STRIDED_SLICE, ["shape", "b", "e", "one"], ["dims"], options("StridedSliceOptions")),
           Op(OPS.UNPACK, ["dims"], ["d0", "d1"], options("UnpackOptions", Num=2, Axis=0)),
           Op(OPS.MUL, ["d0", "d1"], ["product"], options("MulOptions")),
           Op(OPS.CAST, ["product"], ["product_f"]),
           Op(OPS.CAST, ["product_f"], ["product_i"]),
           Op(OPS.RESHAPE, ["product_i", "one"], ["flat"]),
           Op(OPS.CONCATENATION, ["minus_one", "flat"], ["target"], options("ConcatenationOptions", Axis=0)),
           Op(OPS.RESHAPE, ["x", "target"], ["r"]),
           Op(OPS.CONCATENATION, ["one", "flat"], ["fill_dims"], options("ConcatenationOptions", Axis=0)),
           Op(OPS.FILL, ["fill_dims", "half"], ["halves"]),
           Op(OPS.MUL, ["r", "halves"], ["y"], options("MulOptions"))]
    _run(tmp_path, tensors, ops, ["x"], ["y"])


def test_maximum_minimum_squared_difference_rsqrt(tmp_path):
    one = np.ones((1, 6), np.float32)
    tensors = [T("a", "float32", (2, 6)), T("b", "float32", (1, 6)), T("one", "float32", (1, 6), one),
               T("hi", "float32", (2, 6)), T("lo", "float32", (2, 6)), T("sq", "float32", (2, 6)),
               T("pos", "float32", (2, 6)), T("r", "float32", (2, 6)), T("y", "float32", (2, 6))]
    ops = [Op(OPS.MAXIMUM, ["a", "b"], ["hi"]), Op(OPS.MINIMUM, ["a", "b"], ["lo"]),
           Op(OPS.SQUARED_DIFFERENCE, ["hi", "lo"], ["sq"]),
           Op(OPS.ADD, ["sq", "one"], ["pos"], options("AddOptions")),
           Op(OPS.RSQRT, ["pos"], ["r"]), Op(OPS.MUL, ["r", "lo"], ["y"], options("MulOptions"))]
    _run(tmp_path, tensors, ops, ["a", "b"], ["y"])


@pytest.mark.parametrize("approximate", [False, True])
def test_gelu(tmp_path, approximate):
    tensors = [T("x", "float32", (1, 40)), T("y", "float32", (1, 40))]
    _run(tmp_path, tensors, [Op(OPS.GELU, ["x"], ["y"], options("GeluOptions", Approximate=approximate))],
         ["x"], ["y"])


@pytest.mark.parametrize("adj_x,adj_y", [(False, False), (True, False), (False, True)])
def test_batch_matmul(tmp_path, adj_x, adj_y):
    x_shape, y_shape = ((2, 5, 3) if adj_x else (2, 3, 5)), ((4, 5) if adj_y else (5, 4))
    w = RNG.uniform(-1, 1, y_shape).astype(np.float32)
    tensors = [T("x", "float32", x_shape), T("w", "float32", y_shape, w), T("y", "float32", (2, 3, 4))]
    ops = [Op(OPS.BATCH_MATMUL, ["x", "w"], ["y"], options("BatchMatMulOptions", AdjX=adj_x, AdjY=adj_y))]
    _run(tmp_path, tensors, ops, ["x"], ["y"])


@pytest.mark.parametrize("target", ["host", "qemu-cortex-m4"])
@pytest.mark.parametrize("adj_x,adj_y,y_shape,constant", [
    (False, False, (2, 5, 4), False), (True, False, (5, 4), True), (False, True, (1, 4, 5), False),
    (True, True, (2, 4, 5), False)])
def test_batch_matmul_int8(tmp_path, adj_x, adj_y, y_shape, constant, target):
    """Two activations (attention-like), or a constant right-hand side; batch broadcast; zero
    points on both operands."""
    x_shape = (2, 5, 3) if adj_x else (2, 3, 5)
    w = RNG.integers(-128, 128, y_shape).astype(np.int8) if constant else None
    tensors = [T("x", "int8", x_shape, scales=(0.04,), zero_points=(5,)),
               T("w", "int8", y_shape, w, scales=(0.03,), zero_points=(-7,)),
               T("y", "int8", (2, 3, 4), scales=(0.15,), zero_points=(-2,))]
    ops = [Op(OPS.BATCH_MATMUL, ["x", "w"], ["y"], options("BatchMatMulOptions", AdjX=adj_x, AdjY=adj_y))]
    _run(tmp_path, tensors, ops, ["x"] if constant else ["x", "w"], ["y"], samples=8, target=target)


def test_l2_normalization(tmp_path):
    tensors = [T("x", "float32", (2, 3, 7)), T("y", "float32", (2, 3, 7))]
    _run(tmp_path, tensors, [Op(OPS.L2_NORMALIZATION, ["x"], ["y"], options("L2NormOptions"))], ["x"], ["y"])


@pytest.mark.parametrize("kind", ["MAXIMUM", "MINIMUM"])
def test_maximum_minimum_int8(tmp_path, kind):
    q = dict(scales=(0.05,), zero_points=(-6,))
    tensors = [T("a", "int8", (2, 3, 5), **q), T("b", "int8", (1, 3, 1), **q), T("y", "int8", (2, 3, 5), **q)]
    _run(tmp_path, tensors, [Op(getattr(OPS, kind), ["a", "b"], ["y"])], ["a", "b"], ["y"])


GELU_QUANT = [((0.05, 3), (0.03, -40)), ((0.02, -128), (0.01, -120)), ((0.1, 20), (0.2, 0))]


@pytest.mark.parametrize("approximate", [False, True])
@pytest.mark.parametrize("target,quant", [("host", q) for q in GELU_QUANT] + [("qemu-cortex-m4", GELU_QUANT[0])])
def test_gelu_int8(tmp_path, target, quant, approximate):
    """Every int8 input, against TFLite's own table (TFLM has no GELU)."""
    (x_scale, x_zero), (y_scale, y_zero) = quant
    tensors = [T("x", "int8", (1, 256), scales=(x_scale,), zero_points=(x_zero,)),
               T("y", "int8", (1, 256), scales=(y_scale,), zero_points=(y_zero,))]
    path = tmp_path / "op.tflite"
    path.write_bytes(build(tensors, [Op(OPS.GELU, ["x"], ["y"], options("GeluOptions", Approximate=approximate))],
                           ["x"], ["y"]))
    feed = {"x": np.arange(-128, 128, dtype=np.int8)[None, None]}
    got = run_on(target, path, compile_model(path), feed)
    np.testing.assert_array_equal(got["y"], run_reference(path, feed)["y"])


@pytest.mark.parametrize("target", ["host", "qemu-cortex-m4"])
@pytest.mark.parametrize("quant", [((0.05, -128), (0.02, -100)), ((0.003, -20), (0.5, 3)), ((2.0, 0), (0.01, -128))])
def test_rsqrt_int8(tmp_path, quant, target):
    """Every int8 value at or above the zero point (RSQRT is not defined below it: TFLM stops)."""
    (x_scale, x_zero), (y_scale, y_zero) = quant
    tensors = [T("x", "int8", (1, 128 - x_zero), scales=(x_scale,), zero_points=(x_zero,)),
               T("y", "int8", (1, 128 - x_zero), scales=(y_scale,), zero_points=(y_zero,))]
    path = tmp_path / "op.tflite"
    path.write_bytes(build(tensors, [Op(OPS.RSQRT, ["x"], ["y"])], ["x"], ["y"]))
    feed = {"x": np.arange(x_zero, 128, dtype=np.int8)[None, None]}
    got = run_on(target, path, compile_model(path), feed)
    np.testing.assert_array_equal(got["y"], run_reference(path, feed)["y"])


@pytest.mark.parametrize("target", ["host", "qemu-cortex-m4"])
@pytest.mark.parametrize("depth", [1, 7, 64])
def test_l2_normalization_int8(tmp_path, depth, target):
    tensors = [T("x", "int8", (3, depth), scales=(0.05,), zero_points=(-3,)),
               T("y", "int8", (3, depth), scales=(1 / 128,), zero_points=(0,))]
    got = _run(tmp_path, tensors, [Op(OPS.L2_NORMALIZATION, ["x"], ["y"], options("L2NormOptions"))], ["x"], ["y"],
               samples=10, target=target)
    assert np.abs(got["y"].astype(int)).max() > 16  # not all zero


@pytest.mark.parametrize("target", ["host", "qemu-cortex-m4"])
@pytest.mark.parametrize("scales", [(0.05, 0.05, 0.02), (0.03, 0.07, 0.3), (0.1, 0.02, 0.004)])
def test_squared_difference_int8(tmp_path, scales, target):
    """Different input scales, broadcast, outputs that saturate and outputs that do not."""
    tensors = [T("a", "int8", (2, 3, 5), scales=(scales[0],), zero_points=(-6,)),
               T("b", "int8", (1, 3, 1), scales=(scales[1],), zero_points=(11,)),
               T("y", "int8", (2, 3, 5), scales=(scales[2],), zero_points=(-128,))]
    _run(tmp_path, tensors, [Op(OPS.SQUARED_DIFFERENCE, ["a", "b"], ["y"])], ["a", "b"], ["y"], samples=20,
         target=target)


def _lstm_s8_model(time_major, hidden_zero, cell_power, cell_clip, batch=2, seq=6, features=5, hidden=7,
                   x_scale=0.02, bias_bound=30000):
    """One int8 UNIDIRECTIONAL_SEQUENCE_LSTM as TFLite's quantizer writes it: per-tensor int8
    weights, int32 biases at input x weight scale, an int8 hidden state and an int16 cell state
    (variables), the output in the hidden state's quantization."""
    x_q, h_q = (x_scale, -11), (0.01, hidden_zero)
    tensors = [T("x", "int8", (seq, batch, features) if time_major else (batch, seq, features),
                 scales=(x_q[0],), zero_points=(x_q[1],))]
    names = []
    for gate in "ifco":
        scale = float(RNG.uniform(0.005, 0.02))
        tensors.append(T(f"w_{gate}", "int8", (hidden, features), RNG.integers(-127, 128, (hidden, features)).astype(np.int8),
                         scales=(scale,), zero_points=(0,)))
        names.append(f"w_{gate}")
    for gate in "ifco":
        scale = float(RNG.uniform(0.005, 0.02))
        tensors.append(T(f"r_{gate}", "int8", (hidden, hidden), RNG.integers(-127, 128, (hidden, hidden)).astype(np.int8),
                         scales=(scale,), zero_points=(0,)))
        names.append(f"r_{gate}")
    for gate, w in zip("ifco", tensors[1:5]):
        scale = x_q[0] * w.scales[0]
        tensors.append(T(f"b_{gate}", "int32", (hidden,), RNG.integers(-bias_bound, bias_bound, hidden).astype(np.int32),
                         scales=(scale,), zero_points=(0,)))
        names.append(f"b_{gate}")
    tensors += [T("h", "int8", (batch, hidden), scales=(h_q[0],), zero_points=(h_q[1],), variable=True),
                T("c", "int16", (batch, hidden), scales=(2.0 ** cell_power,), zero_points=(0,), variable=True),
                T("y", "int8", (seq, batch, hidden) if time_major else (batch, seq, hidden),
                  scales=(h_q[0],), zero_points=(h_q[1],))]
    inputs = ["x"] + names[:8] + ["", "", ""] + names[8:] + ["", "", "h", "c", "", "", "", ""]
    op = Op(OPS.UNIDIRECTIONAL_SEQUENCE_LSTM, inputs, ["y"],
            options("UnidirectionalSequenceLSTMOptions", FusedActivationFunction=4, CellClip=cell_clip,
                    TimeMajor=time_major))
    return tensors, [op]


def test_sigmoid_table_is_tflites():
    """The table TFLite's int16 sigmoid and tanh interpolate, rebuilt from its construction:
    spot values of TFLite's sigmoid_table_uint16, where rounding sigmoid(i / 24) alone would be
    off by one (indices 4, 8, 28)."""
    from edgeopt.ops.quantized_recurrent import sigmoid_table_q16

    table = sigmoid_table_q16()
    spots = {0: 32768, 1: 33451, 4: 35493, 8: 38180, 28: 49975, 100: 64536, 128: 65221, 200: 65520,
             254: 65534, 255: 65535}
    assert {i: int(table[i]) for i in spots} == spots
    assert table.dtype == np.uint16 and np.all(np.diff(table.astype(int)) >= 0)


@pytest.mark.parametrize("target", ["host", "qemu-cortex-m4"])
@pytest.mark.parametrize("time_major,hidden_zero,cell_power,cell_clip", [
    (False, 0, -12, 0.0), (True, 9, -11, 0.0), (False, -20, -15, 0.0), (False, 4, -11, 3.0)])
def test_sequence_lstm_int8(tmp_path, time_major, hidden_zero, cell_power, cell_clip, target):
    """Bit-exact with TFLM's integer LSTM at every step: time-major or not, a hidden zero point,
    cell state scales 2^-11, 2^-12 and 2^-15 (tanh's input shifted both ways), cell clipping."""
    tensors, ops = _lstm_s8_model(time_major, hidden_zero, cell_power, cell_clip)
    got = _run(tmp_path, tensors, ops, ["x"], ["y"], samples=8, target=target)
    assert len(np.unique(got["y"])) > 20  # the gates are not all saturated
    assert "eo_lstm_s8_dsp(" in compile_model(tmp_path / "op.tflite").files["op.c"]  # DSP cores run it


@pytest.mark.parametrize("target", ["host", "qemu-cortex-m4"])
def test_sequence_lstm_int8_beyond_one_smmulr(tmp_path, target):
    """An input scale so large that the gate products need TFLite's left shift (11), and biases
    so large that their accumulators could overflow the DSP kernel's one more doubling: the
    portable kernel runs there too, still bit-exact."""
    tensors, ops = _lstm_s8_model(False, 0, -12, 0.0, x_scale=40.0, bias_bound=600000)
    _run(tmp_path, tensors, ops, ["x"], ["y"], samples=4, target=target)
    assert "eo_lstm_s8_dsp(" not in compile_model(tmp_path / "op.tflite").files["op.c"]


def test_dynamic_range_fully_connected(tmp_path):
    """A float FULLY_CONNECTED with per-tensor int8 weights (dynamic range): each input row
    quantized on the fly, symmetric, as TFLite's hybrid kernel does, within 1e-5 of
    tflite-runtime. (Asymmetric inputs and per-channel weights are checked on the converter's
    mlp_dynamic file against TensorFlow 2.21: this tflite-runtime predates both.)"""
    asymmetric, per_channel = False, False
    w = RNG.integers(-127, 128, (6, 16)).astype(np.int8)
    scales = tuple(float(s) for s in RNG.uniform(0.004, 0.02, 6 if per_channel else 1))
    tensors = [T("x", "float32", (3, 16)), T("w", "int8", (6, 16), w, scales=scales, zero_points=(0,) * len(scales)),
               T("b", "float32", (6,), RNG.uniform(-1, 1, 6).astype(np.float32)), T("y", "float32", (3, 6))]
    ops = [Op(OPS.FULLY_CONNECTED, ["x", "w", "b"], ["y"],
              options("FullyConnectedOptions", FusedActivationFunction=1, AsymmetricQuantizeInputs=asymmetric))]
    _run(tmp_path, tensors, ops, ["x"], ["y"])


@pytest.mark.parametrize("depthwise", [False, True])
def test_dynamic_range_convolutions(tmp_path, depthwise):
    """Float CONV_2D / DEPTHWISE_CONV_2D with per-channel int8 weights (dynamic range): the
    input quantized asymmetrically on the fly, as TFLite's hybrid kernels do."""
    channels = 6
    shape = (1, 3, 3, channels) if depthwise else (channels, 3, 3, 4)
    w = RNG.integers(-127, 128, shape).astype(np.int8)
    scales = tuple(float(s) for s in RNG.uniform(0.004, 0.02, channels))
    tensors = [T("x", "float32", (1, 7, 6, 3 if depthwise else 4)),
               T("w", "int8", shape, w, scales=scales, zero_points=(0,) * channels, axis=3 if depthwise else 0),
               T("b", "float32", (channels,), RNG.uniform(-1, 1, channels).astype(np.float32)),
               T("y", "float32", (1, 4, 3, channels))]
    kind, opts = (("DEPTHWISE_CONV_2D", options("DepthwiseConv2DOptions", Padding=0, StrideW=2, StrideH=2,
                                                 DepthMultiplier=2, FusedActivationFunction=1)) if depthwise else
                  ("CONV_2D", options("Conv2DOptions", Padding=0, StrideW=2, StrideH=2, FusedActivationFunction=1)))
    _run(tmp_path, tensors, [Op(getattr(OPS, kind), ["x", "w", "b"], ["y"], opts)], ["x"], ["y"])


@pytest.mark.parametrize("target", ["host", pytest.param("qemu-cortex-m4", marks=pytest.mark.skipif(
    not shutil.which("qemu-system-arm"), reason="qemu-system-arm not installed"))])
def test_int8_elementwise_op_runs_over_its_input(tmp_path, target):
    """ADD writes its output over its first input (LOGISTIC's, read by nothing later) while the
    second (the convolution's) stays: two tensors of the arena instead of three; bit-exact."""
    w, scales, axis = _weights((8, 1, 1, 4), 8)
    tensors = [T("x", "int8", (1, 6, 6, 4), scales=(0.05,), zero_points=(3,)),
               T("w", "int8", w.shape, w, scales=scales, zero_points=(0,) * 8, axis=axis),
               T("b", "int32", (8,), RNG.integers(-800, 800, 8).astype(np.int32),
                 scales=tuple(0.05 * s for s in scales), zero_points=(0,) * 8),
               T("c", "int8", (1, 6, 6, 8), scales=(0.08,), zero_points=(-4,)),
               T("s", "int8", (1, 6, 6, 8), scales=(1 / 256,), zero_points=(-128,)),
               T("a", "int8", (1, 6, 6, 8), scales=(0.09,), zero_points=(2,)),
               T("y", "int8", (1, 6, 6, 8), scales=(1 / 128,), zero_points=(0,))]
    ops = [Op(OPS.CONV_2D, ["x", "w", "b"], ["c"], options("Conv2DOptions", Padding=0, StrideW=1, StrideH=1)),
           Op(OPS.LOGISTIC, ["c"], ["s"]),
           Op(OPS.ADD, ["s", "c"], ["a"], options("AddOptions", FusedActivationFunction=0)),
           Op(OPS.TANH, ["a"], ["y"])]
    path = tmp_path / "chain.tflite"
    path.write_bytes(build(tensors, ops, ["x"], ["y"]))
    generated = compile_model(path)
    assert generated.in_place_layers == 1 and generated.arena_bytes == 2 * 6 * 6 * 8 == generated.peak_bytes * 2 // 3
    _run(tmp_path, tensors, ops, ["x"], ["y"], target=target)
