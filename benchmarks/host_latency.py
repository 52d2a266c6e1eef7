"""Per-inference latency on the host, side by side in one run:
(a) the generated C in a C loop, (b) `edgeopt simulate` per sample (batch loop in C),
(c) onnxruntime's per-sample `run` (single thread); each the best of ROUNDS interleaved rounds.

    python benchmarks/host_latency.py
"""
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import models  # noqa: E402
from edgeopt.pipeline import compile_model, write_library  # noqa: E402
from edgeopt.simulator.host import HostRunner  # noqa: E402
from edgeopt.simulator.toolchain import HOST_OPT_FLAGS, STRICT_FLAGS, host_cc  # noqa: E402

C_LOOP = r"""
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <time.h>
#include "{name}.h"
static float in0[{in_size}];
static float out0[{out_size}];
int main(void) {{
    struct timespec t0, t1;
    long i, reps = {reps};
    double ns;
    for (i = 0; i < {in_size}; ++i) in0[i] = (float)(i % 7) * 0.1f - 0.3f;
    for (i = 0; i < reps / 10; ++i) {name}_invoke(in0, out0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < reps; ++i) {{ in0[0] = (float)(i & 3); {name}_invoke(in0, out0); }}
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    printf("%.1f %g\n", ns / (double)reps, (double)out0[0]);
    return 0;
}}
"""


ROUNDS = 5  # interleaved; the best of each (shared, noisy machines slow down whole stretches)


def c_loop(generated, workdir, reps):
    """The generated C timed in a C loop: a function that runs it once more."""
    write_library(generated, workdir)
    (workdir / "bench.c").write_text(C_LOOP.format(
        name=generated.name, in_size=generated.inputs[0].size, out_size=generated.outputs[0].size, reps=reps))
    runtime = workdir / "edgeopt_runtime"
    exe = workdir / "bench"
    subprocess.run([host_cc(), *[f for f in STRICT_FLAGS if f != "-std=c99"], "-std=gnu99",
                    *HOST_OPT_FLAGS, f"-I{workdir}", f"-I{runtime / 'include'}",
                    str(workdir / "bench.c"), str(workdir / f"{generated.name}.c"),
                    *map(str, sorted((runtime / "src").glob("*.c"))), "-o", str(exe), "-lm"], check=True)
    return lambda: float(subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()[0])


def simulate(model, generated, samples):
    """edgeopt's host simulator (batch loop in C): ns per sample"""
    x = np.random.default_rng(0).standard_normal((samples,) + generated.inputs[0].shape).astype(np.float32)
    model.run({generated.inputs[0].name: x[:100]})

    def run():
        start = time.perf_counter()
        model.run({generated.inputs[0].name: x})
        return (time.perf_counter() - start) / samples * 1e9
    return run


def onnxruntime(path, generated, reps):
    """onnxruntime's per-sample run, single thread: ns per sample"""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = np.random.default_rng(0).standard_normal(generated.inputs[0].shape).astype(np.float32)
    for _ in range(reps // 10):
        session.run(None, {name: x})

    def run():
        start = time.perf_counter()
        for _ in range(reps):
            session.run(None, {name: x})
        return (time.perf_counter() - start) / reps * 1e9
    return run


def main():
    cases = [("MLP 4-64-64-6 tanh", models.mlp, 200_000, 200_000, 20_000),
             ("1-D CNN (3x64)", models.cnn1d, 50_000, 50_000, 20_000),
             ("LeNet-5 + BN (1x28x28)", models.lenet, 2_000, 2_000, 2_000)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, builder, reps, samples, ort_reps in cases:
            workdir = Path(tmp) / builder.__name__
            workdir.mkdir()
            path = models.save(builder(), workdir / f"{builder.__name__}.onnx")
            generated = compile_model(path)
            with HostRunner(generated) as model:
                runners = (c_loop(generated, workdir / "c", reps), simulate(model, generated, samples),
                           onnxruntime(path, generated, ort_reps))
                best = [min(times) for times in zip(*([run() for run in runners] for _ in range(ROUNDS)))]
            rows.append((label, *best))
    print(f"{'model':<24} {'C loop':>10} {'simulate':>10} {'onnxruntime':>12} {'ORT/C':>7} {'ORT/sim':>8} {'sim samples/s':>14}")
    for label, c_ns, sim_ns, ort_ns in rows:
        print(f"{label:<24} {c_ns / 1e3:>8.2f}us {sim_ns / 1e3:>8.2f}us {ort_ns / 1e3:>10.2f}us "
              f"{ort_ns / c_ns:>6.1f}x {ort_ns / sim_ns:>7.1f}x {1e9 / sim_ns:>14,.0f}")


if __name__ == "__main__":
    main()
