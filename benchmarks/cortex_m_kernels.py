"""Instructions per MAC of the float and int8 kernels on Cortex-M4F under QEMU -icount
(exact); int8 with both weight layouts (--int8-weights compact / expanded) side by side.

    python benchmarks/cortex_m_kernels.py [--target qemu-cortex-m4]
"""
import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import models  # noqa: E402
from edgeopt.pipeline import compile_model  # noqa: E402
from edgeopt.simulator.qemu import QemuRunner  # noqa: E402


def dense(n_in, n_out):
    b = models.GraphBuilder(0)
    return b.model([("x", [1, n_in])], [b.linear("x", n_in, n_out)]), n_in * n_out


def conv(c_in, c_out, k, size, group=1):
    b = models.GraphBuilder(0)
    y = b.conv("x", c_in, c_out, (k, k), pads=[k // 2] * 4, group=group)
    return b.model([("x", [1, c_in, size, size])], [y]), size * size * c_out * (c_in // group) * k * k


def conv1d(c_in, c_out, k, length):
    b = models.GraphBuilder(0)
    y = b.conv("x", c_in, c_out, (k,), pads=[k // 2] * 2)
    return b.model([("x", [1, c_in, length])], [y]), length * c_out * c_in * k


def activation(op, n):
    b = models.GraphBuilder(0)
    return b.model([("x", [1, n])], [b.node(op, ["x"])])


CASES = [
    ("dense 256->64", lambda: dense(256, 64), 256),
    ("dense 64->64", lambda: dense(64, 64), 64),
    ("conv 3x3 16->16 @16x16", lambda: conv(16, 16, 3, 16), 144),
    ("conv 1x1 64->64 @8x8", lambda: conv(64, 64, 1, 8), 64),
    ("conv1d k5 16->32 @64", lambda: conv1d(16, 32, 5, 64), 80),
]


def measure(model, macs, target, workdir):
    path = models.save(model, workdir / "layer.onnx")
    generated = compile_model(path)
    inputs = {t.name: np.random.default_rng(0).standard_normal((1,) + t.shape).astype(np.float32)
              for t in generated.inputs}
    with QemuRunner(generated, target) as emulated:
        _, report = emulated.run(inputs)
    return report["instructions_per_call"]["median"]


def int8_fc_instructions(target, layout):
    """Instructions per MAC of micro_speech's int8 FULLY_CONNECTED (4000 -> 4) on the target,
    from the difference of two emulated runs: with and without that layer's call."""
    import dataclasses
    import re

    models_dir = Path(__file__).resolve().parent.parent / "tests" / "data" / "models" / "tflm"
    generated = compile_model(models_dir / "micro_speech_quantized.tflite", int8_weights=layout)
    source = generated.files[f"{generated.name}.c"]
    call = re.search(r"eo_fully_connected_s8_dsp\w*\(", source)
    if call is None:
        return None
    start = call.start()
    end = source.index(";", start) + 1
    args = source[call.end():end - 2].split(", ")
    stub = " ".join(f"(void){arg};" for arg in args)  # same code around it, no layer
    without = dataclasses.replace(generated, files={**generated.files,
                                                    f"{generated.name}.c": source[:start] + stub + source[end:]})
    counts = []
    inputs = {t.name: np.zeros((1,) + t.shape, np.int8) for t in generated.inputs}
    for variant in (generated, without):
        with QemuRunner(variant, target) as emulated:
            counts.append(emulated.run(inputs)[1]["instructions_per_call"]["median"])
    return (counts[0] - counts[1]) / (4000 * 4)


def int8_fc_layer_instructions(target, ins, outs, layout):
    """Instructions per MAC of one int8 FULLY_CONNECTED layer (per-channel, one row), less
    the same harness around an 8 -> 1 layer."""
    import tflite
    from tflite_builder import Op, T, build, options

    def count(ins, outs):
        rng = np.random.default_rng(0)
        w = rng.integers(-127, 128, (outs, ins)).astype(np.int8)
        scales = tuple(float(v) for v in rng.uniform(0.004, 0.02, outs))
        tensors = [T("x", "int8", (1, ins), scales=(0.05,), zero_points=(3,)),
                   T("w", "int8", w.shape, w, scales=scales, zero_points=(0,) * outs),
                   T("b", "int32", (outs,), np.zeros(outs, np.int32), scales=tuple(0.05 * v for v in scales),
                     zero_points=(0,) * outs),
                   T("y", "int8", (1, outs), scales=(0.1,), zero_points=(-2,))]
        ops = [Op(tflite.BuiltinOperator.FULLY_CONNECTED, ["x", "w", "b"], ["y"],
                  options("FullyConnectedOptions", FusedActivationFunction=1))]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "fc.tflite"
            path.write_bytes(build(tensors, ops, ["x"], ["y"]))
            with QemuRunner(compile_model(path, int8_weights=layout), target) as emulated:
                inputs = {"x": rng.integers(-128, 128, (1, 1, ins)).astype(np.int8)}
                return emulated.run(inputs)[1]["instructions_per_call"]["median"]

    return (count(ins, outs) - count(8, 1)) / (ins * outs)


def int8_conv_instructions(target, layout, kernel, channels=64, size=8, depthwise=False, multiplier=1,
                           stride=1, out_channels=None):
    """Instructions per MAC of one int8 CONV_2D (or DEPTHWISE_CONV_2D) layer (TFLite,
    per-channel, SAME padding) on the target, the whole call included. kernel: k or (k_h, k_w);
    size: s or (h, w)."""
    import tflite
    from tflite_builder import Op, T, build, options

    rng = np.random.default_rng(0)
    (k_h, k_w), (h, w) = np.broadcast_to(kernel, 2), np.broadcast_to(size, 2)
    outs = channels * multiplier if depthwise else (out_channels or channels)
    shape = (1, k_h, k_w, outs) if depthwise else (outs, k_h, k_w, channels)
    out_h, out_w = -(-h // stride), -(-w // stride)
    weights = rng.integers(-127, 128, shape).astype(np.int8)
    scales = tuple(float(v) for v in rng.uniform(0.004, 0.02, outs))
    tensors = [T("x", "int8", (1, h, w, channels), scales=(0.05,), zero_points=(3,)),
               T("w", "int8", shape, weights, scales=scales, zero_points=(0,) * outs, axis=3 if depthwise else 0),
               T("b", "int32", (outs,), np.zeros(outs, np.int32),
                 scales=tuple(0.05 * v for v in scales), zero_points=(0,) * outs),
               T("y", "int8", (1, out_h, out_w, outs), scales=(0.1,), zero_points=(-2,))]
    common = dict(Padding=0, StrideW=stride, StrideH=stride, FusedActivationFunction=1,
                  DilationWFactor=1, DilationHFactor=1)
    if depthwise:
        ops = [Op(tflite.BuiltinOperator.DEPTHWISE_CONV_2D, ["x", "w", "b"], ["y"], options(
            "DepthwiseConv2DOptions", DepthMultiplier=multiplier, **common))]
    else:
        ops = [Op(tflite.BuiltinOperator.CONV_2D, ["x", "w", "b"], ["y"], options("Conv2DOptions", **common))]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "conv.tflite"
        path.write_bytes(build(tensors, ops, ["x"], ["y"]))
        generated = compile_model(path, int8_weights=layout)
        inputs = {"x": rng.integers(-128, 128, (1, 1, h, w, channels)).astype(np.int8)}
        with QemuRunner(generated, target) as emulated:
            count = emulated.run(inputs)[1]["instructions_per_call"]["median"]
    macs_per_output = k_h * k_w * (1 if depthwise else channels)
    return count / (out_h * out_w * outs * macs_per_output)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", default="qemu-cortex-m4")
    args = parser.parse_args()
    print(f"{'layer':<26} {'MACs/output':>11} {'MACs':>9} {'instructions':>13} {'instr/MAC':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, build, per_output in CASES:
            model, macs = build()
            count = measure(model, macs, args.target, Path(tmp))
            print(f"{label:<26} {per_output:>11} {macs:>9,} {count:>13,} {count / macs:>10.2f}")
        # per element: the difference of 512 and 256 elements (call overhead cancels)
        print(f"\n{'float activation':<26} {'instructions/element':>21} {'target':>7}")
        for op in ("Tanh", "Sigmoid"):
            long, short = (measure(activation(op, n), n, args.target, Path(tmp)) for n in (512, 256))
            print(f"{op:<26} {(long - short) / 256:>21.2f} {20:>7}")
    print(f"\n{'int8 layer':<30} {'MACs/output':>11} {'MACs':>9} {'compact':>8} {'expanded':>9}   instr/MAC")
    layouts = ("compact", "expanded")
    int8_cases = [
        ("FC 4000->4 (micro_speech)", 4000, 16000, lambda layout: int8_fc_instructions(args.target, layout)),
        ("FC 64->64", 64, 4096, lambda layout: int8_fc_layer_instructions(args.target, 64, 64, layout)),
        ("FC 256->64", 256, 16384, lambda layout: int8_fc_layer_instructions(args.target, 256, 64, layout)),
        ("conv 1x1 64->64 @8x8", 64, 262144, lambda layout: int8_conv_instructions(args.target, layout, 1)),
        ("conv 3x3 64->64 @8x8", 576, 2359296, lambda layout: int8_conv_instructions(args.target, layout, 3)),
        ("conv 3x3 3->8 s2 @48", 27, 124416, lambda layout: int8_conv_instructions(
            args.target, layout, 3, channels=3, out_channels=8, size=48, stride=2)),
        ("depthwise 3x3 64 @8x8", 9, 36864, lambda layout: int8_conv_instructions(
            args.target, layout, 3, depthwise=True)),
        ("depthwise 3x3 64 @24x24", 9, 331776, lambda layout: int8_conv_instructions(
            args.target, layout, 3, depthwise=True, size=24)),
        ("depthwise 3x3 64 s2 @24x24", 9, 82944, lambda layout: int8_conv_instructions(
            args.target, layout, 3, depthwise=True, size=24, stride=2)),
        ("depthwise 3x3 128 @6x6", 9, 41472, lambda layout: int8_conv_instructions(
            args.target, layout, 3, channels=128, size=6, depthwise=True)),
        ("depthwise 3x3 30 @8x8", 9, 17280, lambda layout: int8_conv_instructions(
            args.target, layout, 3, channels=30, depthwise=True)),
        ("depthwise 3x3 16x2 @8x8", 9, 18432, lambda layout: int8_conv_instructions(
            args.target, layout, 3, channels=16, depthwise=True, multiplier=2)),
        # person_detect's first layer: 1 channel x 8, stride 2 on 96x96
        ("depthwise 3x3 1x8 s2 @96x96", 9, 165888, lambda layout: int8_conv_instructions(
            args.target, layout, 3, channels=1, size=96, depthwise=True, multiplier=8, stride=2)),
        # micro_speech's layer: 1 channel x 8, a 10x8 kernel, stride 2 on 49x40
        ("dw 10x8 1x8 s2 @49x40", 80, 320000, lambda layout: int8_conv_instructions(
            args.target, layout, (10, 8), channels=1, size=(49, 40), depthwise=True, multiplier=8, stride=2)),
    ]
    for label, per_output, macs, measure_layout in int8_cases:
        compact, expanded = (measure_layout(layout) for layout in layouts)
        shown = [f"{v:.2f}" if v is not None else "-" for v in (compact, expanded)]
        print(f"{label:<30} {per_output:>11} {macs:>9,} {shown[0]:>8} {shown[1]:>9}")


if __name__ == "__main__":
    main()
