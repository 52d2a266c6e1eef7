"""The serial link end to end: round-trip latency (median, p95) and throughput of the MLP
4-64-64-6 over the UART of the two emulated Cortex-M4 boards (QEMU, TCP socket): MPS2-AN386's
CMSDK UART, which takes one byte per round of QEMU's I/O thread, and the AST1030's 16550, whose
receive FIFO takes up to 14; one sample per frame and batched, and the bound a real board's
115,200 baud sets from the frame sizes.

    python benchmarks/hil_link.py
"""
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import models  # noqa: E402
from edgeopt.hil.protocol import max_batch, request  # noqa: E402
from edgeopt.hil.runner import SerialRunner  # noqa: E402
from edgeopt.pipeline import compile_file  # noqa: E402


def wire_bytes(artifact, samples):
    """Bytes on the wire for one RUN of `samples` samples: request and response frames."""
    ask = len(request(1, 2, bytes(samples * artifact.input_bytes))) + 1  # + the leading delimiter
    answer = len(request(1, 2, bytes(8 - 4 + samples * artifact.output_bytes)))
    return ask + answer


def main():
    with tempfile.TemporaryDirectory() as folder:
        artifact = compile_file(models.save(models.mlp(), Path(folder) / "mlp.onnx"))
        x = {"x": np.random.default_rng(0).standard_normal((2000, 1, 4)).astype(np.float32)}
        print("MLP 4-64-64-6 over the emulated boards' UARTs (QEMU -serial tcp, nodelay), 2,000 samples")
        print(f"{'board':<16} {'samples per frame':>18} {'round trip p50':>15} {'p95':>9} {'samples/s':>10} "
              f"{'instructions per call':>22}")
        for target in ("qemu-cortex-m4", "qemu-ast1030"):
            for batch in (1, 8, max_batch(artifact)):
                with SerialRunner(artifact, target=target, batch=batch) as runner:
                    runner.run(x)
                    report = runner.latency_report()
                    cost, _ = runner.cost_per_call(x)
                print(f"{target:<16} {batch:>18} {report['latency_ms_p50']:>12.2f} ms "
                      f"{report['latency_ms_p95']:>6.2f} ms {report['throughput_per_s']:>10,.0f} {cost:>22,.1f}")
        print("\nreal boards at 115,200 baud (8N1: 11,520 bytes/s), bound by the frame sizes alone:")
        for batch in (1, max_batch(artifact)):
            per_sample = wire_bytes(artifact, batch) / batch
            print(f"  {batch:>2} per frame: {per_sample:.1f} bytes per sample on the wire -> at most "
                  f"{11520 / per_sample:,.0f} samples/s")


if __name__ == "__main__":
    main()
