"""TFLite frontend and int8 inference, bit-exact with TFLite's reference kernels."""
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgeopt.pipeline import compile_model
from edgeopt.resources import runtime_dir
from edgeopt.simulator.host import HostRunner
from edgeopt.simulator.reference import compare, run_reference, tflite_requantize
from targets import run_on

MODELS = Path(__file__).resolve().parent / "data" / "models" / "tflm"
needs_qemu = pytest.mark.skipif(not shutil.which("qemu-system-arm"), reason="qemu-system-arm not installed")


def _assert_bit_exact(model, target, inputs_for):
    """Run a TFLM model on the host or an emulated core and compare every output exactly."""
    path = MODELS / f"{model}.tflite"
    generated = compile_model(path)
    inputs = inputs_for(generated)
    outputs = run_on(target, path, generated, inputs)
    reference = run_reference(path, inputs)
    for name, value in outputs.items():
        assert value.dtype == np.int8
        np.testing.assert_array_equal(value, reference[name])


def _random_int8(samples, seed):
    def make(generated):
        (tensor,) = generated.inputs
        rng = np.random.default_rng(seed)
        return {tensor.name: rng.integers(-128, 128, (samples,) + tensor.shape).astype(np.int8)}
    return make


def _every_int8_input(generated):
    (tensor,) = generated.inputs
    return {tensor.name: np.arange(-128, 128, dtype=np.int8).reshape((256,) + tensor.shape)}


TARGETS = ["host", pytest.param("qemu-cortex-m3", marks=needs_qemu),
           pytest.param("qemu-cortex-m4", marks=needs_qemu)]


@pytest.mark.parametrize("target", TARGETS)
def test_hello_world_int8_is_bit_exact_on_every_input(target):
    _assert_bit_exact("hello_world_int8", target, _every_int8_input)


@pytest.mark.parametrize("target", ["host", pytest.param("qemu-cortex-m4", marks=needs_qemu),
                                    pytest.param("qemu-cortex-m33", marks=needs_qemu)])
@pytest.mark.parametrize("model", ["micro_speech_quantized", "person_detect"])
def test_tflm_models_are_bit_exact(model, target):
    """On the M4 and M33 the DSP kernels run (fully-connected, 1x1, regular and depthwise
    convolutions)."""
    samples = 1 if model == "person_detect" and target != "host" else 4
    _assert_bit_exact(model, target, _random_int8(samples, seed=1))


def test_hello_world_float_matches_tflite():
    path = MODELS / "hello_world_float.tflite"
    generated = compile_model(path)
    x = np.linspace(0, 2 * np.pi, 64, dtype=np.float32).reshape((64,) + generated.inputs[0].shape)
    inputs = {generated.inputs[0].name: x}
    with HostRunner(generated) as model:
        outputs = model.run(inputs)
    reference = run_reference(path, inputs)
    for name, value in outputs.items():
        assert compare(value, reference[name], 1e-4, 1e-5).ok


def test_unsupported_tflite_ops_listed_by_name_and_index(run_cli, tmp_path):
    code, _, err = run_cli("compile", MODELS / "keyword_scrambled_8bit.tflite", "-o", tmp_path / "out")
    assert code == 2 and "Traceback" not in err
    assert "SVDF" in err and "'#" in err


@pytest.mark.parametrize("mutate", ["truncate", "garble"])
def test_corrupt_flatbuffer(run_cli, tmp_path, mutate):
    data = bytearray((MODELS / "hello_world_int8.tflite").read_bytes())
    if mutate == "truncate":
        data = data[:100]
    else:
        data[8:400] = bytes(range(256)) + bytes(136)
    path = tmp_path / "broken.tflite"
    path.write_bytes(bytes(data))
    code, _, err = run_cli("compile", path, "-o", tmp_path / "out")
    assert code == 2 and "broken.tflite" in err and "Traceback" not in err


def test_not_a_tflite_file(run_cli, tmp_path):
    path = tmp_path / "model.tflite"
    path.write_bytes(b"\x00" * 64)
    code, _, err = run_cli("compile", path)
    assert code == 2 and "not a TFLite model" in err


def test_requantize_edge_cases(tmp_path):
    rng = np.random.default_rng(0)
    accs = [0, 1, -1, 2, -2, 3, -3, 2 ** 31 - 1, -2 ** 31, 12345, -12345, 2 ** 20 + 1, -(2 ** 20) - 1]
    accs += [int(v) for v in rng.integers(-2 ** 31, 2 ** 31, 40)]
    multipliers = [2 ** 30, 2 ** 31 - 1, 1518500250, 1073741825, 1999999999, -2 ** 31]
    shifts = [-31, -20, -8, -1, 0, 1, 4]
    cases = [(a, m, s) for a in accs for m in multipliers for s in shifts
             if s <= 0 or abs(a) < 2 ** (31 - s)]  # TFLite never left-shifts into overflow
    source = ['#include <stdio.h>', '#include "eo_runtime.h"',
              "static const long long cases[][3] = {"]
    source += [f"    {{{a}LL, {m}LL, {s}LL}}," for a, m, s in cases]
    source += ["};", "int main(void) {", "    unsigned i;",
               "    for (i = 0; i < sizeof cases / sizeof cases[0]; ++i)",
               "        printf(\"%ld\\n\", (long)eo_requantize((int32_t)cases[i][0], (int32_t)cases[i][1],"
               " (int32_t)cases[i][2]));", "    return 0;", "}"]
    (tmp_path / "check.c").write_text("\n".join(source))
    runtime = runtime_dir()
    exe = tmp_path / "check"
    subprocess.run(["cc", "-std=c99", "-O2", f"-I{runtime / 'include'}", str(tmp_path / "check.c"),
                    *map(str, sorted((runtime / "src").glob("*.c"))), "-o", str(exe), "-lm"], check=True)
    got = [int(v) for v in subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()]
    expected = [tflite_requantize(a, m, s) for a, m, s in cases]
    assert got == expected


def test_dsp_requantization_matches_tflite():
    """The DSP kernels' one-SMMULR requantization (eo_requantize_channel, emulated here
    instruction by instruction) with the compiler's scaled weights and channel constants
    equals TFLite's on every accumulator the compiler lets through: right shifts 0..20 and
    left shifts, ties, signs, negative and positive output offsets."""
    from edgeopt.ops.quantized_linear import dsp_requantization

    rng = np.random.default_rng(1)
    multipliers = [2 ** 30, 2 ** 31 - 1, 1518500250, 1073741825, 1999999999]
    shifts = [-20, -9, -4, -1, 0, 1, 3]
    weights = rng.integers(-127, 128, (1, 16))
    for multiplier in multipliers:
        for shift in shifts:
            for offset in (-128, -5, 0, 127):
                bias = int(rng.integers(-2 ** 12, 2 ** 12))
                plan = dsp_requantization(weights, [bias], [multiplier], [shift], offset)
                assert plan is not None, (multiplier, shift, offset)
                scaled, ((scaled_bias, m, right),) = plan
                rounding = (2 * offset + 1 << right) >> 1
                scale = 2 ** (1 + max(shift, 0))
                for x in [np.full(16, v) for v in (-128, 127, 0, 1)] + list(rng.integers(-128, 128, (60, 16))):
                    acc = bias + int(np.dot(weights[0].astype(np.int64), x))
                    scaled_acc = scaled_bias + int(np.dot(scaled[0].astype(np.int64), x))
                    assert scaled_acc == acc * scale
                    high = (scaled_acc * m + 2 ** 31) >> 32  # SMMULR
                    got = (2 * high + rounding + (high >> 31)) >> right
                    assert got == tflite_requantize(acc, multiplier, shift) + offset, (acc, multiplier, shift)
    # ties: every residue of a small right shift around zero
    for offset in (-3, 4):
        _, ((_, m, right),) = dsp_requantization(np.ones((1, 8)), [0], [2 ** 30], [-3], offset)
        rounding = (2 * offset + 1 << right) >> 1
        for acc in range(-40, 41):
            high = (2 * acc * m + 2 ** 31) >> 32
            assert (2 * high + rounding + (high >> 31)) >> right == tflite_requantize(acc, 2 ** 30, -3) + offset


def test_dsp_requantization_refuses_what_it_cannot_do_exactly():
    from edgeopt.ops.quantized_linear import dsp_requantization

    weights = np.full((1, 8), 127)
    assert dsp_requantization(weights, [2 ** 30 - 2 ** 16], [2 ** 30], [-1], 0) is None  # 2 |acc| >= 2^31
    assert dsp_requantization(weights, [2 ** 30 - 2 ** 18], [2 ** 30], [-1], 0) is not None
    assert dsp_requantization(weights, [0], [2 ** 30], [8], 0) is None  # 127 * 2^9 leaves int16
    assert dsp_requantization(weights, [0], [2 ** 30], [6], 0) is not None


def test_quantize_multiplier_matches_tflite_rules():
    from edgeopt.ops.quantized import quantize_multiplier, round_half_away

    assert round_half_away(2.5) == 3 and round_half_away(-2.5) == -3
    for real in (0.5, 0.75, 1.0, 1e-3, 3.7e-5, 0.99999999999):
        multiplier, shift = quantize_multiplier(real)
        assert 2 ** 30 <= multiplier < 2 ** 31
        assert abs(multiplier * 2.0 ** (shift - 31) - real) <= real * 2 ** -30
    assert quantize_multiplier(0.0) == (0, 0)
    assert quantize_multiplier(1e-12) == (0, 0)  # below 2^-31 * 2^-31: TFLite flushes to zero


def test_arena_is_smaller_than_tflm():
    # TFLM's arenas for these models (tflite-micro interpreter): 7,584 B and 85,264 B
    for model, tflm_arena, ratio in (("micro_speech_quantized", 7584, 0.8), ("person_detect", 85264, 0.5)):
        generated = compile_model(MODELS / f"{model}.tflite")
        assert generated.arena_bytes <= ratio * tflm_arena
        assert generated.arena_bytes <= generated.peak_bytes
    # below the liveness bound: layers run in place, and its first widening 1x1 layer inside
    # the strided depthwise layer after it, so that its 36 KB output never exists (their
    # bit-exactness: test_tflm_models_are_bit_exact)
    assert generated.arena_bytes < 0.6 * generated.peak_bytes and generated.arena_bytes < 36864
    assert generated.in_place_layers >= 2 and generated.windowed_layers == 1


def _separable_block(kernel, dilation):
    """int8 1x1 (4 -> 16 channels), depthwise k x k of stride 1 ("same", dilated), 1x1 (16 ->
    8) on 12x10 pixels: the depthwise layer's input and output are the largest tensors."""
    import tflite
    from tflite_builder import Op, T, build, options

    rng = np.random.default_rng(kernel)

    def scales(n):
        return tuple(float(v) for v in rng.uniform(0.004, 0.02, n))

    def layer(name, shape, axis, input_scale, outs):
        s = scales(outs)
        return [T(f"{name}_w", "int8", shape, rng.integers(-127, 128, shape).astype(np.int8), scales=s,
                  zero_points=(0,) * outs, axis=axis),
                T(f"{name}_b", "int32", (outs,), rng.integers(-500, 500, outs).astype(np.int32),
                  scales=tuple(input_scale * v for v in s), zero_points=(0,) * outs)]

    tensors = [T("x", "int8", (1, 12, 10, 4), scales=(0.05,), zero_points=(3,)),
               *layer("expand", (16, 1, 1, 4), 0, 0.05, 16), T("wide", "int8", (1, 12, 10, 16), scales=(0.1,), zero_points=(-5,)),
               *layer("depthwise", (1, kernel, kernel, 16), 3, 0.1, 16),
               T("filtered", "int8", (1, 12, 10, 16), scales=(0.2,), zero_points=(7,)),
               *layer("project", (8, 1, 1, 16), 0, 0.2, 8), T("y", "int8", (1, 12, 10, 8), scales=(0.3,), zero_points=(-1,))]
    same = dict(Padding=0, StrideW=1, StrideH=1, FusedActivationFunction=1)
    ops = [Op(tflite.BuiltinOperator.CONV_2D, ["x", "expand_w", "expand_b"], ["wide"], options("Conv2DOptions", **same)),
           Op(tflite.BuiltinOperator.DEPTHWISE_CONV_2D, ["wide", "depthwise_w", "depthwise_b"], ["filtered"],
              options("DepthwiseConv2DOptions", DepthMultiplier=1, DilationWFactor=dilation,
                      DilationHFactor=dilation, **same)),
           Op(tflite.BuiltinOperator.CONV_2D, ["filtered", "project_w", "project_b"], ["y"], options("Conv2DOptions", **same))]
    return build(tensors, ops, ["x"], ["y"])


@pytest.mark.parametrize("target", ["host", pytest.param("qemu-cortex-m4", marks=needs_qemu)])
@pytest.mark.parametrize("kernel,dilation,delay", [(3, 1, 1), (5, 1, 2), (5, 2, 4)])
def test_stride_one_depthwise_in_place_delays_rows_by_its_top_padding(tmp_path, target, kernel, dilation, delay):
    """A depthwise layer of stride 1 over its own input: row r reads input rows up to r + pad
    below, so it goes into place pad rows later, the line buffer holding pad + 1 rows."""
    path = tmp_path / "block.tflite"
    path.write_bytes(_separable_block(kernel, dilation))
    generated = compile_model(path)
    code = "\n".join(generated.files.values())
    assert f"a line buffer of {delay + 1} rows, into place {delay} row" in code
    assert generated.arena_bytes < generated.peak_bytes
    inputs = _random_int8(4, kernel + dilation)(generated)
    outputs = run_on(target, path, generated, inputs)
    reference = run_reference(path, inputs)
    for name, value in outputs.items():
        np.testing.assert_array_equal(value, reference[name])


def test_summary_reports_what_runs_below_the_liveness_bound(run_cli, tmp_path):
    code, out, _ = run_cli("compile", MODELS / "person_detect.tflite", "-o", tmp_path / "out")
    assert code == 0
    assert "layer(s) in place, 1 run a row at a time inside the next, below the bound)" in out


def _windowed_block(reader, kernel, stride, dilation, padding, stem=True):
    """int8 3x3 "stem" (3 -> 4 channels; or none, the model's input 4 channels), a widening
    1x1 (4 -> 16) that only the reader reads, and the reader (a depthwise layer, or a
    convolution to 8 channels) on 13x11 pixels: the 1x1 layer's output is the largest tensor."""
    import tflite
    from tflite_builder import Op, T, build, options

    rng = np.random.default_rng(kernel + 10 * stride + 100 * dilation)

    def layer(name, shape, axis, input_scale, outs):
        s = tuple(float(v) for v in rng.uniform(0.004, 0.02, outs))
        return [T(f"{name}_w", "int8", shape, rng.integers(-127, 128, shape).astype(np.int8), scales=s,
                  zero_points=(0,) * outs, axis=axis),
                T(f"{name}_b", "int32", (outs,), rng.integers(-500, 500, outs).astype(np.int32),
                  scales=tuple(input_scale * v for v in s), zero_points=(0,) * outs)]

    def out_size(n):
        reach = (kernel - 1) * dilation + 1
        return -(-n // stride) if padding == 0 else (n - reach) // stride + 1

    depthwise = reader == "depthwise"
    outs = 16 if depthwise else 8
    reader_shape = (1, kernel, kernel, 16) if depthwise else (8, kernel, kernel, 16)
    tensors = [T("x", "int8", (1, 13, 11, 3 if stem else 4), scales=(0.05,), zero_points=(3,)),
               *layer("stem", (4, 3, 3, 3), 0, 0.05, 4), T("stem", "int8", (1, 13, 11, 4), scales=(0.1,), zero_points=(-5,)),
               *layer("expand", (16, 1, 1, 4), 0, 0.1, 16),
               T("wide", "int8", (1, 13, 11, 16), scales=(0.2,), zero_points=(7,)),
               *layer("reader", reader_shape, 3 if depthwise else 0, 0.2, outs),
               T("y", "int8", (1, out_size(13), out_size(11), outs), scales=(0.3,), zero_points=(-1,))]
    same = dict(Padding=0, StrideW=1, StrideH=1, FusedActivationFunction=1)
    strided = dict(Padding=padding, StrideW=stride, StrideH=stride, FusedActivationFunction=3,
                   DilationWFactor=dilation, DilationHFactor=dilation)
    reader_op = (Op(tflite.BuiltinOperator.DEPTHWISE_CONV_2D, ["wide", "reader_w", "reader_b"], ["y"],
                    options("DepthwiseConv2DOptions", DepthMultiplier=1, **strided)) if depthwise else
                 Op(tflite.BuiltinOperator.CONV_2D, ["wide", "reader_w", "reader_b"], ["y"],
                    options("Conv2DOptions", **strided)))
    ops = [Op(tflite.BuiltinOperator.CONV_2D, ["stem" if stem else "x", "expand_w", "expand_b"], ["wide"],
              options("Conv2DOptions", **same)), reader_op]
    if stem:
        ops.insert(0, Op(tflite.BuiltinOperator.CONV_2D, ["x", "stem_w", "stem_b"], ["stem"],
                         options("Conv2DOptions", **same)))
    else:
        tensors = [t for t in tensors if not t.name.startswith("stem")]
    return build(tensors, ops, ["x"], ["y"])


@pytest.mark.parametrize("target", ["host", pytest.param("qemu-cortex-m4", marks=needs_qemu)])
@pytest.mark.parametrize("reader,kernel,stride,dilation,padding,stem", [
    ("depthwise", 3, 2, 1, 0, True),  # person_detect's pattern, with a top padding row (13 rows)
    ("depthwise", 3, 2, 1, 0, False),  # the 1x1 layer reads the model's input
    ("depthwise", 3, 2, 2, 0, True),  # dilated: a window of 5 rows
    ("conv", 5, 1, 1, 0, True),  # stride 1, two rows of top padding
    ("conv", 3, 2, 1, 1, True),  # VALID
    ("conv", 1, 2, 1, 0, True),  # reads every other row: the rows between are never computed
])
def test_patch_based_layer_runs_inside_its_reader(tmp_path, target, reader, kernel, stride, dilation, padding, stem):
    """A widening 1x1 layer that only the next layer reads runs inside it, a window of that
    layer's input rows at a time: bit-exact, and the arena below the liveness bound."""
    path = tmp_path / "block.tflite"
    path.write_bytes(_windowed_block(reader, kernel, stride, dilation, padding, stem))
    generated = compile_model(path)
    rows = (kernel - 1) * dilation + 1
    assert generated.windowed_layers == 1 and generated.arena_bytes < generated.peak_bytes
    assert f"eo_conv_s8_window(&eo_params, eo_row, {rows}," in generated.files["block.c"]
    inputs = _random_int8(4, kernel + stride)(generated)
    outputs = run_on(target, path, generated, inputs)
    reference = run_reference(path, inputs)
    for name, value in outputs.items():
        np.testing.assert_array_equal(value, reference[name])


@pytest.mark.parametrize("target", ["host", pytest.param("qemu-cortex-m4", marks=needs_qemu)])
def test_int8_sequence_lstm_is_bit_exact_with_tflm(target):
    """TFLM's trained_lstm_int8: its integer LSTM (int16 cell state, gates in Q3.12 and Q0.15),
    then FULLY_CONNECTED and SOFTMAX."""
    path = MODELS / "trained_lstm_int8.tflite"
    generated = compile_model(path)
    inputs = {t.name: np.random.default_rng(2).integers(-128, 128, (6,) + t.shape).astype(np.int8)
              for t in generated.inputs}
    outputs = run_on(target, path, generated, inputs)
    reference = run_reference(path, inputs)
    for name, value in outputs.items():
        np.testing.assert_array_equal(value, reference[name])


def test_int8_lstm_refuses_to_stream_with_a_clear_error(run_cli, tmp_path):
    code, _, err = run_cli("compile", MODELS / "trained_lstm_int8.tflite", "--stream", "-o", tmp_path / "out")
    assert code == 2 and "Traceback" not in err and "int8 LSTM" in err and "without --stream" in err


@pytest.mark.parametrize("target", ["host", pytest.param("qemu-cortex-m4", marks=needs_qemu)])
def test_float_sequence_lstm_matches_tflm(target):
    """TFLM's trained_lstm (MNIST rows as a 28-step sequence, UNIDIRECTIONAL_SEQUENCE_LSTM with
    cell clipping, then FULLY_CONNECTED and SOFTMAX)."""
    path = MODELS / "trained_lstm.tflite"
    generated = compile_model(path)
    inputs = {t.name: np.random.default_rng(2).uniform(0, 1, (3,) + t.shape).astype(np.float32)
              for t in generated.inputs}
    outputs = run_on(target, path, generated, inputs)
    reference = run_reference(path, inputs)
    for name, value in outputs.items():
        np.testing.assert_allclose(value, reference[name], rtol=1e-5, atol=1e-6)
