"""Online orthogonal dictionary learning (fw_dictionary): instructions per update on an
emulated Cortex-M4 (QEMU -icount, exact), and on the host, side by side on the same stream,
recovery error against samples and time per sample for edgeopt's C, the float64 reference of
the authors' method, scikit-learn's MiniBatchDictionaryLearning and the batch l4-norm MSP
iteration of Zhai et al. (A <- polar((A Y)^3 Y^T) on all the data at once).

    python benchmarks/fw_dictionary.py [--skip-qemu]
"""
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from edgeopt.pipeline import compile_file
from edgeopt.simulator.host import HostRunner
from edgeopt.solvers import kind_of
from edgeopt.solvers.fw_dictionary.reference import (
    FrankWolfeDictionary, polar, recovery_error, synthetic_stream,
)


def config(folder, dim, batch):
    path = Path(folder) / f"odl_{dim}_{batch}.toml"
    path.write_text(f'[solver]\nkind = "fw_dictionary"\nname = "odl"\n[dictionary]\ndim = {dim}\nbatch = {batch}\n')
    return compile_file(path)


def cortex_m4(folder):
    from edgeopt.simulator.qemu import QemuRunner

    print("instructions per update on Cortex-M4F (QEMU mps2-an386, -icount; nonconvex, p = 4)")
    print(f"{'n':>3} {'b':>3} {'per update':>12} {'per sample':>11} {'samples/s at 120 MHz*':>22}")
    for dim in (8, 16, 32):
        for batch in (1, 10):
            artifact = config(folder, dim, batch)
            _, y = synthetic_stream(dim, batch * 300, seed=0)
            inputs = kind_of(artifact).prepare_inputs(artifact, {"Y": y.astype(np.float32)})
            with QemuRunner(artifact, "qemu-cortex-m4") as runner:
                _, report = runner.run(inputs, timeout=600)
            # the median of 300 updates: the first of a stream need more Jacobi sweeps
            per_update = report["instructions_per_call"]["median"]
            print(f"{dim:>3} {batch:>3} {per_update:>12,} {per_update // batch:>11,} {120e6 * batch / per_update:>22,.0f}")
    print("* one instruction per cycle; QEMU counts instructions, not cycles")


def sklearn_errors(y, d0, batch, checkpoints):
    from sklearn.decomposition import MiniBatchDictionaryLearning

    n = d0.shape[0]
    learner = MiniBatchDictionaryLearning(n_components=n, batch_size=batch, alpha=0.1, random_state=0)
    errors, begin, done = [], time.perf_counter(), 0
    for end in checkpoints:
        for start in range(done, end, batch):
            learner.partial_fit(y[start:start + batch])
        done = end
        atoms = learner.components_ / np.linalg.norm(learner.components_, axis=1, keepdims=True)
        errors.append(recovery_error(atoms, d0))
    return errors, (time.perf_counter() - begin) / checkpoints[-1]


def msp_errors(y, d0, checkpoints, iterations=30):
    """Zhai et al.'s batch MSP on the first k samples, for each checkpoint k."""
    errors, elapsed = [], 0.0
    for end in checkpoints:
        begin = time.perf_counter()
        a = np.linalg.qr(np.random.default_rng(0).standard_normal(d0.shape))[0]
        samples = y[:end].T
        for _ in range(iterations):
            a = polar((a @ samples) ** 3 @ samples.T)
        elapsed = time.perf_counter() - begin
        errors.append(recovery_error(a, d0))
    return errors, elapsed / checkpoints[-1]


def host(folder, dim=10, batch=10, total=10000):
    checkpoints = [1000, 2000, 5000, 10000]
    d0, y = synthetic_stream(dim, total, seed=1)
    artifact = config(folder, dim, batch)
    inputs = kind_of(artifact).prepare_inputs(artifact, {"Y": y.astype(np.float32)})
    with HostRunner(artifact) as runner:
        runner.run(inputs)  # warm up
        begin = time.perf_counter()
        outputs = runner.run(inputs)
        ours_time = (time.perf_counter() - begin) / total
    ours = [recovery_error(outputs["A"][k // batch - 1], d0) for k in checkpoints]
    reference, begin = FrankWolfeDictionary(artifact.details), time.perf_counter()
    ref_errors = []
    for start in range(0, total, batch):
        reference.update(y[start:start + batch])
        if start + batch in checkpoints:
            ref_errors.append(recovery_error(reference.dictionary(), d0))
    ref_time = (time.perf_counter() - begin) / total
    rows = [("edgeopt C (float32)", ours, ours_time), ("reference (numpy float64)", ref_errors, ref_time)]
    try:
        rows.append(("sklearn MiniBatchDictionaryLearning",) + sklearn_errors(y, d0, batch, checkpoints))
    except ImportError:
        print("(scikit-learn not installed: pip install scikit-learn)")
    rows.append(("batch l4 MSP (Zhai et al.), all data",) + msp_errors(y, d0, checkpoints))
    print(f"\nhost, n = {dim}, b = {batch}: recovery error |sum((A D0)^4)/n - 1| after k samples, time per sample")
    print(f"{'method':<38}" + "".join(f"{'k=' + str(k):>10}" for k in checkpoints) + f"{'us/sample':>11}")
    for label, errors, seconds in rows:
        print(f"{label:<38}" + "".join(f"{e:>10.4f}" for e in errors) + f"{seconds * 1e6:>11.2f}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-qemu", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if not args.skip_qemu:
            cortex_m4(folder)
        host(folder)


if __name__ == "__main__":
    main()
