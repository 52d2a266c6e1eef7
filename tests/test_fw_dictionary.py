"""fw_dictionary: the generated C against the float64 numpy reference step by step, recovery
of a planted orthogonal dictionary, orthogonality after every step, tracking a rotating
dictionary, bad input, independent contexts, the CLI and an emulated Cortex-M4."""
import shutil
import subprocess

import numpy as np
import pytest

from edgeopt.codegen.literals import f32
from edgeopt.pipeline import compile_file, write_library
from edgeopt.simulator.host import HostRunner
from edgeopt.solvers import kind_of
from edgeopt.solvers.config import ConfigError
from edgeopt.solvers.fw_dictionary.reference import (
    FrankWolfeDictionary, recovery_error, synthetic_stream,
)
from edgeopt.simulator.toolchain import STRICT_FLAGS, host_cc


def config(tmp_path, dim=10, batch=10, p=4, variant="nonconvex", extra="", name="odl"):
    path = tmp_path / f"{name}_{dim}_{batch}_{p}_{variant}.toml"
    path.write_text(f'[solver]\nkind = "fw_dictionary"\nname = "{name}"\n\n[dictionary]\ndim = {dim}\n'
                    f'batch = {batch}\np = {p}\nvariant = "{variant}"\n{extra}')
    return path


def learn(artifact, y, a0=None):
    arrays = {"Y": np.asarray(y, np.float32)}
    if a0 is not None:
        arrays["A0"] = a0
    with HostRunner(artifact) as runner:
        return runner.run(kind_of(artifact).prepare_inputs(artifact, arrays))


def orthogonality(a):
    a = np.asarray(a, np.float64)
    return float(np.max(np.abs(a @ np.swapaxes(a, -1, -2) - np.eye(a.shape[-1]))))


@pytest.mark.parametrize("variant", ["nonconvex", "convex"])
def test_tracks_the_reference_step_by_step(tmp_path, variant):
    """b = 2n keeps every polar factor unique and well conditioned (G has full rank from the
    first batch on), so the float32 C and the float64 reference take the same path."""
    artifact = compile_file(config(tmp_path, dim=10, batch=20, variant=variant))
    _, y = synthetic_stream(10, 6000, seed=5)
    outputs = learn(artifact, y)
    reference = FrankWolfeDictionary(artifact.details)
    for t in range(300):
        reference.update(y[20 * t:20 * t + 20])
        np.testing.assert_allclose(outputs["A"][t], reference.dictionary(), atol=2e-4, err_msg=f"step {t}")
    assert list(outputs["t"][:3]) == [1, 2, 3] and np.all(outputs["status"] == 0)


@pytest.mark.parametrize("dim,p,bound", [(10, 4, 0.01), (10, 3, 0.01), (16, 4, 0.015)])
def test_recovers_a_planted_dictionary(tmp_path, dim, p, bound):
    """The issue's setting: D0 orthogonal, x Bernoulli(0.3)-Gaussian, b = 10, 10,000 samples;
    a float64 port of the authors' method gets about 0.004 at n = 10."""
    artifact = compile_file(config(tmp_path, dim=dim, p=p))
    d0, y = synthetic_stream(dim, 10000, seed=1)
    outputs = learn(artifact, y)
    error = recovery_error(outputs["A"][-1], d0)
    assert error <= bound, error
    assert error <= 1.5 * recovery_error(FrankWolfeDictionary(artifact.details).fit(y), d0) + 1e-3
    assert orthogonality(outputs["A"]) <= 1e-5  # after every step


def test_follows_a_slowly_rotating_dictionary(tmp_path):
    steps = "rho = {scale = 0.3, offset = 1.0, power = 0.0}\ngamma = {scale = 0.2, offset = 1.0, power = 0.0}\n"
    artifact = compile_file(config(tmp_path, dim=8, batch=8, extra=steps))
    rng = np.random.default_rng(3)
    d0 = np.linalg.qr(rng.standard_normal((8, 8)))[0]
    generator = rng.standard_normal((8, 8))
    skew = 1e-3 * (generator - generator.T)
    rotation = np.linalg.solve(np.eye(8) - skew, np.eye(8) + skew)  # Cayley: a small rotation per batch
    batches, dictionaries = [], []
    for _ in range(1500):
        x = (rng.random((8, 8)) < 0.3) * rng.standard_normal((8, 8))
        batches.append((d0 @ x).T)
        dictionaries.append(d0)
        d0 = rotation @ d0
    outputs = learn(artifact, np.concatenate(batches))
    final = recovery_error(outputs["A"][-1], dictionaries[-1])
    assert recovery_error(dictionaries[0].T, dictionaries[-1]) > 0.3  # it really moved
    assert final < 0.08, final
    assert recovery_error(outputs["A"][-1], dictionaries[0]) > 5 * final


def test_non_finite_batch_is_skipped(tmp_path):
    artifact = compile_file(config(tmp_path))
    _, y = synthetic_stream(10, 40, seed=2)
    y[12, 3] = np.nan
    outputs = learn(artifact, y)
    assert list(outputs["status"]) == [0, 2, 0, 0]
    np.testing.assert_array_equal(outputs["A"][1], outputs["A"][0])
    assert np.all(np.isfinite(outputs["A"]))


def test_start_from_a_given_dictionary(tmp_path):
    # b = 2n for well-conditioned polar factors, as in the step-by-step test: with b = n the
    # float32 and float64 paths may part at a near-singular G
    artifact = compile_file(config(tmp_path, batch=20))
    _, y = synthetic_stream(10, 200, seed=4)
    a0 = np.linalg.qr(np.random.default_rng(9).standard_normal((10, 10)))[0]
    outputs = learn(artifact, y, a0=a0)
    reference = FrankWolfeDictionary(artifact.details, a0=a0)
    reference.fit(y)
    np.testing.assert_allclose(outputs["A"][-1], reference.dictionary(), atol=5e-5)


def test_contexts_coexist_and_encode_keeps_the_largest(tmp_path):
    """Two learners updated alternately equal each alone (no shared statics); encode keeps the k
    largest magnitudes of D y."""
    artifact = compile_file(config(tmp_path, dim=8, batch=4, name="fw"))
    out = tmp_path / "lib"
    write_library(artifact, out)
    _, y = synthetic_stream(8, 64, seed=6)
    samples = ", ".join(f32(v) for v in y.astype(np.float32).reshape(-1))
    (out / "two.c").write_text(f"""
#include <stdio.h>
#include "fw.h"
static const float y[64 * 8] = {{{samples}}};
int main(void)
{{
    static fw_ctx_t a, b, alone;
    float x[8];
    int i, t;
    fw_init(&a, NULL); fw_init(&b, NULL); fw_init(&alone, NULL);
    for (t = 0; t < 8; ++t) {{
        fw_update(&a, y + t * 32);
        fw_update(&b, y + (15 - t) * 32);
    }}
    for (t = 0; t < 8; ++t) fw_update(&alone, y + t * 32);
    for (i = 0; i < 64; ++i) printf("%.9g %.9g\\n", (double)a.a[i], (double)alone.a[i]);
    fw_encode(&a, y, x, 3);
    for (i = 0; i < 8; ++i) printf("%.9g\\n", (double)x[i]);
    return 0;
}}
""")
    exe = tmp_path / "two"
    subprocess.run([host_cc(), *STRICT_FLAGS, "-O2", f"-I{out}", f"-I{out / 'edgeopt_runtime' / 'include'}",
                    str(out / "fw.c"), str(out / "two.c"), "-o", str(exe), "-lm"], check=True)
    lines = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split("\n")
    pairs = np.array([line.split() for line in lines[:64]], float)
    np.testing.assert_array_equal(pairs[:, 0], pairs[:, 1])
    code = np.array(lines[64:72], float)
    full = pairs[:, 0].reshape(8, 8) @ y[0].astype(np.float64)
    keep = np.argsort(-np.abs(full))[:3]
    np.testing.assert_allclose(code[keep], full[keep], rtol=1e-5, atol=1e-6)
    assert np.count_nonzero(code) == 3


@pytest.mark.parametrize("edit,message", [
    ("dim = 1", "[dictionary] dim must be an integer from 2"),
    ("p = 5", '[dictionary] p must be "3" or "4"'),
    ('variant = "fast"', '[dictionary] variant must be "nonconvex" or "convex"'),
    ("batch = 0", "[dictionary] batch must be an integer from 1"),
])
def test_config_errors(tmp_path, run_cli, edit, message):
    path = config(tmp_path)
    key = edit.split(" = ")[0]
    path.write_text("\n".join(edit if line.startswith(key + " ") else line for line in path.read_text().splitlines()))
    with pytest.raises(ConfigError) as info:
        compile_file(path)
    assert str(path) in str(info.value) and message in str(info.value)
    code, _, err = run_cli("compile", path, "-o", tmp_path / "out")
    assert code == 2 and message in err


def test_bad_schedule_table(tmp_path):
    path = config(tmp_path, extra="rho = {scale = -1.0}\n")
    with pytest.raises(ConfigError, match=r"\[dictionary.rho\] scale must be a positive number"):
        compile_file(path)


def test_cli_simulate(tmp_path, run_cli):
    path = config(tmp_path)
    d0, y = synthetic_stream(10, 2000, seed=7)
    np.savez(tmp_path / "in.npz", Y=y.astype(np.float32))
    code, out, err = run_cli("simulate", path, "--inputs", tmp_path / "in.npz", "--outputs", tmp_path / "out.npz")
    assert code == 0, err
    assert "learned a 10 x 10 dictionary in 200 updates" in out
    with np.load(tmp_path / "out.npz") as data:
        assert data["A"].shape == (10, 10) and int(data["iterations"]) == 200
    np.savez(tmp_path / "bad.npz", Y=y[:15].astype(np.float32))
    code, _, err = run_cli("simulate", path, "--inputs", tmp_path / "bad.npz")
    assert code == 2 and "multiple of the batch" in err


@pytest.mark.skipif(not shutil.which("qemu-system-arm"), reason="qemu-system-arm not installed")
def test_emulated_cortex_m4_matches_the_host(tmp_path):
    from edgeopt.simulator.qemu import QemuRunner

    artifact = compile_file(config(tmp_path, dim=8, batch=8))
    _, y = synthetic_stream(8, 400, seed=8)
    inputs = kind_of(artifact).prepare_inputs(artifact, {"Y": y.astype(np.float32)})
    host = learn(artifact, y)
    with QemuRunner(artifact, "qemu-cortex-m4") as runner:
        emulated, report = runner.run(inputs)
    # FMA contraction rounds differently on the M4; the paths agree, drifting slowly apart
    np.testing.assert_allclose(emulated["A"][:10], host["A"][:10], atol=1e-4)
    np.testing.assert_allclose(emulated["A"], host["A"], atol=1e-2)
    assert report["instructions_per_call"]["median"] > 0
