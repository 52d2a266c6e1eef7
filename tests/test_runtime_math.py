"""The runtime's own tanh/sigmoid (no libm) against double-precision references."""
import subprocess

from edgeopt.resources import runtime_dir
from edgeopt.simulator.toolchain import STRICT_FLAGS

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
