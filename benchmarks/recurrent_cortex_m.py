"""Instructions per time step and per MAC of the float recurrent cells on an emulated
Cortex-M4F (QEMU -icount: exact): a GRU 68 -> 10 like nn4mc's forward model, an LSTM 32 -> 32
and a 2-layer LSTM 32 -> 32, built with onnx.helper (as tests/test_recurrent.py does).
The cost of one time step is the difference of a 21-step and a 1-step sequence over 20, so
the harness around the call cancels. Then TFLM's trained_lstm_int8 (28 steps of 28 -> 20, then
a dense layer and softmax): instructions per inference and the arena against TFLM's own
(its RecordingMicroAllocator), and its LSTM layer alone against CMSIS-NN's int8 LSTM (which
TFLM + CMSIS-NN runs; benchmarks/cmsis_nn_lstm.py), built from a checkout when given.

    python benchmarks/recurrent_cortex_m.py [--target qemu-cortex-m4] [--cmsis-nn DIR]
"""
import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgeopt.pipeline import compile_model
from edgeopt.simulator.qemu import QemuRunner

GATES = {"GRU": 3, "LSTM": 4}


def model(path, cell, size, hidden, layers, seq):
    rng = np.random.default_rng(0)
    nodes, inits, x = [], [], "x"
    for layer in range(layers):
        ins = size if layer == 0 else hidden
        g = GATES[cell] * hidden
        names = [f"W{layer}", f"R{layer}", f"B{layer}"]
        for name, shape in zip(names, [(1, g, ins), (1, g, hidden), (1, 2 * g)]):
            inits.append(numpy_helper.from_array(rng.uniform(-0.3, 0.3, shape).astype(np.float32), name))
        extra = {"linear_before_reset": 1} if cell == "GRU" else {}
        nodes.append(helper.make_node(cell, [x] + names, [f"Y{layer}"], hidden_size=hidden, **extra))
        nodes.append(helper.make_node("Squeeze", [f"Y{layer}", "axis1"], [f"S{layer}"]))
        x = f"S{layer}"
    inits.append(numpy_helper.from_array(np.array([1], np.int64), "axis1"))
    graph = helper.make_graph(nodes, "rnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [seq, 1, size])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, None)], inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    proto.ir_version = 8
    onnx.save(proto, path)
    return path


def instructions(path, target):
    generated = compile_model(path)
    inputs = {t.name: np.random.default_rng(1).uniform(-1, 1, (1,) + t.shape).astype(np.float32)
              for t in generated.inputs}
    with QemuRunner(generated, target) as emulated:
        return emulated.run(inputs)[1]["instructions_per_call"]["median"]


CASES = [("GRU 68 -> 10 (nn4mc)", "GRU", 68, 10, 1), ("LSTM 32 -> 32", "LSTM", 32, 32, 1),
         ("LSTM 32 -> 32, 2 layers", "LSTM", 32, 32, 2)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="qemu-cortex-m4")
    parser.add_argument("--cmsis-nn", help="a CMSIS-NN checkout to build the int8 LSTM peer from")
    args = parser.parse_args(argv)
    print(f"{'cell':<26} {'instructions/step':>18} {'MACs/step':>10} {'instructions/MAC':>17}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, cell, size, hidden, layers in CASES:
            counts = [instructions(model(Path(tmp) / f"{seq}.onnx", cell, size, hidden, layers, seq), args.target)
                      for seq in (1, 21)]
            per_step = (counts[1] - counts[0]) / 20
            macs = sum(GATES[cell] * hidden * ((size if layer == 0 else hidden) + hidden) for layer in range(layers))
            print(f"{label:<26} {per_step:>18,.0f} {macs:>10,} {per_step / macs:>17.2f}")
    int8_lstm(args.target, args.cmsis_nn)
    return 0


def int8_lstm(target, cmsis_nn=None):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from cmsis_nn_lstm import RECORDED_CMSIS_NN, lstm_instructions
    from tflm_models import MODELS, tflm_arena_bytes

    path = MODELS / "trained_lstm_int8.tflite"
    generated = compile_model(path)
    inputs = {t.name: np.random.default_rng(1).integers(-128, 128, (1,) + t.shape).astype(np.int8)
              for t in generated.inputs}
    with QemuRunner(generated, target) as emulated:
        count = emulated.run(inputs)[1]["instructions_per_call"]["median"]
    macs = 28 * 4 * 20 * (28 + 20)
    tflm = tflm_arena_bytes(path)
    print("\ntrained_lstm_int8 (TFLM's; 28 steps of an int8 LSTM 28 -> 20, dense 560 -> 10, softmax):")
    print(f"  {count:,} instructions per inference ({count / 28:,.0f} per step, {count / macs:.2f} per LSTM MAC); "
          f"arena {generated.arena_bytes:,} B against TFLM's {tflm:,} B ({generated.arena_bytes / tflm:.2f}x)")
    ours, peer = lstm_instructions(path, target, inputs, cmsis_nn)
    source = "built from " + cmsis_nn if cmsis_nn else "recorded"
    peer = peer or RECORDED_CMSIS_NN
    print(f"  the LSTM layer alone: {ours:,} instructions against CMSIS-NN's {peer:,} ({source}): {ours / peer:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
