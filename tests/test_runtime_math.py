"""The runtime's own tanh/sigmoid (no libm) against double-precision references."""
import shutil
import subprocess

import numpy as np
import pytest

import models
from edgeopt.pipeline import compile_model
from edgeopt.resources import runtime_dir
from edgeopt.simulator.qemu import cross_compile
from edgeopt.simulator.toolchain import STRICT_FLAGS
from edgeopt.targets import get_target, qemu_command
from targets import run_on

needs_qemu = pytest.mark.skipif(not shutil.which("qemu-system-arm"), reason="qemu-system-arm not installed")

CHECK = r"""
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "eo_runtime.h"
int main(void)
{
    double worst_tanh = 0.0, worst_rel = 0.0, worst_sigmoid = 0.0, largest = 0.0;
    unsigned int bits;
    /* every 97th float bit pattern: all magnitudes and signs, about 44 million values */
    for (bits = 0u; bits < 0xFF800000u; bits += 97u) {
        float x;
        double t, e;
        memcpy(&x, &bits, sizeof x);
        if (x != x) continue;
        t = tanh((double)x);
        if (fabs((double)eo_tanhf(x)) > largest) largest = fabs((double)eo_tanhf(x));
        e = fabs((double)eo_tanhf(x) - t);
        if (e > worst_tanh) worst_tanh = e;
        if (t != 0.0 && fabs(x) < 1.0f && e / fabs(t) > worst_rel) worst_rel = e / fabs(t);
        e = fabs((double)eo_sigmoidf(x) - 1.0 / (1.0 + exp(-(double)x)));
        if (e > worst_sigmoid) worst_sigmoid = e;
    }
    printf("%g %g %g %g\n", worst_tanh, worst_rel, worst_sigmoid, largest);
    return 0;
}
"""


def test_tanh_and_sigmoid_accuracy(tmp_path):
    runtime = runtime_dir()
    (tmp_path / "check.c").write_text(CHECK)
    exe = tmp_path / "check"
    subprocess.run(["cc", *[f for f in STRICT_FLAGS if f not in ("-Wconversion", "-Wdouble-promotion")],
                    "-O2", f"-I{runtime / 'include'}", str(tmp_path / "check.c"),
                    str(runtime / "src" / "eo_activation.c"), "-o", str(exe), "-lm"], check=True)
    worst_tanh, worst_rel, worst_sigmoid, largest = map(float, subprocess.run(
        [str(exe)], check=True, capture_output=True, text=True).stdout.split())
    # about onnxruntime's own float Tanh (also a rational approximation): off by up to
    # 3.1e-7 on these values and 3.25e-7 on a dense grid of [-12, 12]
    assert worst_tanh < 3.3e-7
    assert worst_rel < 1e-6  # relative near zero, where tanh(x) ~ x
    assert worst_sigmoid < 2e-7
    assert largest == 1.0  # never beyond +-1, which it reaches


@pytest.mark.parametrize("target", ["host", pytest.param("qemu-cortex-m4", marks=needs_qemu)])
def test_vector_tanh_and_sigmoid_on_every_kind_of_quad(tmp_path, target):
    """eo_tanh4_f32 / eo_sigmoid4_f32 (a tensor this large) take four elements under one range
    test (on FPv4 by VLDM/VSTM): quads all in range, quads with one value beyond it, NaN,
    infinities and a tail of 3, each within the scalar accuracy of double precision,
    saturating exactly."""
    b = models.GraphBuilder(0)
    model = b.model([("x", [1, 1003])], [b.node("Tanh", ["x"]), b.node("Sigmoid", ["x"])])
    path = models.save(model, tmp_path / "activations.onnx")
    rng = np.random.default_rng(3)
    x = rng.standard_normal(1003) * 3
    x[rng.choice(1003, 120, replace=False)] = rng.choice([-1, 1], 120) * rng.uniform(7.9, 60, 120)
    x[[5, 401, 1001]] = [np.nan, np.inf, -np.inf]
    x[600:604] = [7.875, -7.875, 15.75, -15.75]  # the range bounds, exactly
    x = x.astype(np.float32)
    generated = compile_model(path)
    assert "eo_tanh4_f32(" in generated.files["activations.c"] and "eo_sigmoid4_f32(" in generated.files["activations.c"]
    outputs = run_on(target, path, generated, {"x": x.reshape(1, 1, -1)})
    tanh, sigmoid = (outputs[o.name].reshape(-1).astype(np.float64) for o in generated.outputs)
    finite = np.isfinite(x)
    assert np.isnan(tanh[np.isnan(x)]).all() and np.isnan(sigmoid[np.isnan(x)]).all()
    assert tanh[401] == 1.0 and tanh[1001] == -1.0 and sigmoid[401] == 1.0 and sigmoid[1001] == 0.0
    exact = x[finite].astype(np.float64)
    assert np.abs(tanh[finite] - np.tanh(exact)).max() < 3.3e-7
    assert np.abs(sigmoid[finite] - 1 / (1 + np.exp(-exact))).max() < 2e-7
    assert np.nanmax(np.abs(tanh)) == 1.0


QUADS_AGAINST_ONE = r"""
#include <stdint.h>
#include <string.h>
#include "eo_qemu.h"
#include "eo_runtime.h"
static float x[1024], quad[1024];
static uint32_t mismatches(float (*one)(float))
{
    uint32_t bad = 0u;
    int32_t i;
    for (i = 0; i < 1024; ++i) {
        const float value = one(x[i]);
        if (memcmp(&value, &quad[i], sizeof value) != 0 && !(value != value && quad[i] != quad[i])) ++bad;
    }
    return bad;
}
static void print_count(const char *label, uint32_t count)
{
    char text[40];
    int32_t i = 0, digit;
    while (label[i] != 0) { text[i] = label[i]; ++i; }
    for (digit = 28; digit >= 0; digit -= 4) text[i++] = "0123456789abcdef"[(count >> digit) & 15u];
    text[i++] = '\n';
    text[i] = 0;
    eo_sh_print(text);
}
int main(void)
{
    uint32_t bits = 0u, block = 0u, tanh_bad = 0u, sigmoid_bad = 0u;
    int32_t i;
    while (bits < 0xFF800000u) { /* every 997th float bit pattern, 1024 per block */
        for (i = 0; i < 1024; ++i, bits += 997u) memcpy(&x[i], &bits, sizeof bits);
        if (block++ % 8u == 0u) { /* blocks of mostly small values: most quads in range */
            for (i = 0; i < 1024; i += 2) x[i] *= 1e-30f;
        }
        eo_tanh4_f32(x, quad, 1024);
        tanh_bad += mismatches(eo_tanhf);
        eo_sigmoid4_f32(x, quad, 1024);
        sigmoid_bad += mismatches(eo_sigmoidf);
    }
    print_count("tanh ", tanh_bad);
    print_count("sigmoid ", sigmoid_bad);
    eo_sh_exit(0);
}
"""


@needs_qemu
@pytest.mark.parametrize("target", ["qemu-cortex-m4", "qemu-cortex-m33"])
def test_four_per_turn_equal_one_at_a_time_bit_for_bit(tmp_path, target):
    """On FPv4/FPv5 the four-per-turn loops are asm of their own (the fit's operations written
    out again): on a million floats, every value is the one-at-a-time function's, bit for
    bit, so the accuracy checked above holds for them too."""
    shutil.copytree(runtime_dir(), tmp_path / "edgeopt_runtime")
    (tmp_path / "check.c").write_text(QUADS_AGAINST_ONE)
    board = get_target(target)
    command = qemu_command(board, str(cross_compile(tmp_path, [tmp_path / "check.c"], board)))
    del command[command.index("-icount"):command.index("-icount") + 2]  # counts are not wanted
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
    counts = dict(line.split() for line in (run.stdout + run.stderr).splitlines() if line.startswith(("tanh", "sigmoid")))
    assert counts == {"tanh": "00000000", "sigmoid": "00000000"}
