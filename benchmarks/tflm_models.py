"""The TFLM example models side by side with TFLM itself: static arena against the arena the
tflite-micro interpreter allocates, and Cortex-M4 instructions per inference and firmware flash
under QEMU against TFLM + CMSIS-NN's, recorded once (../shared/DESIGN.md: TFLM 90b983c2 with
CMSIS-NN 4ab83cc3, built by TFLM's Makefile with the same gcc and run in the same QEMU with
-icount, so exact and reproducible).

    python benchmarks/tflm_models.py [--target qemu-cortex-m4]
"""
import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgeopt.pipeline import compile_model
from edgeopt.simulator.qemu import QemuRunner

MODELS = Path(__file__).resolve().parent.parent / "tests" / "data" / "models" / "tflm"
# TFLM + CMSIS-NN on qemu-cortex-m4: instructions per inference, firmware flash bytes
TFLM_CMSIS_NN = {"micro_speech_quantized": (1_495_494, 67_336), "person_detect": (22_929_260, 348_588)}


def tflm_arena_bytes(path):
    """The total of TFLM's RecordingMicroAllocator report (printed by the C++ side to fd 2)."""
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_file(str(path))
    with tempfile.TemporaryFile(mode="w+") as captured:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            interpreter.print_allocations()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        report = captured.read()
    return int(re.search(r"Arena allocation total (\d+) bytes", report).group(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", default="qemu-cortex-m4")
    args = parser.parse_args()
    print(f"{'model':<24} {'int8 weights':<12} {'edgeopt arena':>14} {'liveness bound':>15} {'TFLM arena':>11} {'ratio':>6} "
          f"{'instructions':>13} {'TFLM+CMSIS-NN':>14} {'ratio':>6} {'flash':>9} {'TFLM flash':>11} {'ratio':>6} "
          f"{'weights':>8} {'flash/(1.05 W + 16 KiB)':>24}")
    rng = np.random.default_rng(0)
    for name in ("micro_speech_quantized", "person_detect"):
        path = MODELS / f"{name}.tflite"
        tflm = tflm_arena_bytes(path)
        peer_instructions, peer_flash = TFLM_CMSIS_NN[name]
        for layout in ("auto", "compact", "expanded"):
            generated = compile_model(path, int8_weights=layout)
            inputs = {t.name: rng.integers(-128, 128, (1,) + t.shape).astype(np.int8) for t in generated.inputs}
            with QemuRunner(generated, args.target) as emulated:
                report = emulated.run(inputs)[1]
            instructions, flash = report["instructions_per_call"]["median"], report["flash_bytes"]
            weights = generated.memory.weights_on(False)  # the model's int8 weights and biases
            print(f"{name:<24} {layout:<12} {generated.arena_bytes:>14,} {generated.peak_bytes:>15,} {tflm:>11,} "
                  f"{generated.arena_bytes / tflm:>6.2f} {instructions:>13,} {peer_instructions:>14,} "
                  f"{instructions / peer_instructions:>6.2f} {flash:>9,} {peer_flash:>11,} {flash / peer_flash:>6.2f} "
                  f"{weights:>8,} {flash / (1.05 * weights + 16 * 1024):>24.2f}")


if __name__ == "__main__":
    main()
