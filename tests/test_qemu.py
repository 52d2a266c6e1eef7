"""Generated C cross-compiled for Cortex-M and run in qemu-system-arm."""
import dataclasses
import shutil

import numpy as np
import pytest

import models
from edgeopt.errors import ToolchainError
from edgeopt.pipeline import compile_model
from edgeopt.simulator.qemu import QemuError, QemuRunner
from edgeopt.simulator.reference import compare, run_reference

pytestmark = pytest.mark.skipif(
    not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
    reason="qemu-system-arm / arm-none-eabi-gcc not installed (.ci/run installs them)")


def _run(tmp_path, builder, target, samples=4, generated=None):
    path = models.save(builder(), tmp_path / f"{builder.__name__}.onnx")
    generated = generated or compile_model(path)
    rng = np.random.default_rng(0)
    inputs = {t.name: rng.standard_normal((samples,) + t.shape).astype(np.float32) for t in generated.inputs}
    with QemuRunner(generated, target) as model:
        outputs, report = model.run(inputs, timeout=120)
    return path, generated, inputs, outputs, report


@pytest.mark.parametrize("target", ["qemu-cortex-m3", "qemu-cortex-m4", "qemu-cortex-m7", "qemu-cortex-m33",
                                    "qemu-ast1030"])
@pytest.mark.parametrize("builder", [models.mlp, models.odd_dense, models.cnn1d,
                                     models.depthwise_separable],
                         ids=lambda b: b.__name__)
def test_matches_onnxruntime(tmp_path, builder, target):
    path, generated, inputs, outputs, report = _run(tmp_path, builder, target)
    reference = run_reference(path, inputs)
    for name, value in outputs.items():
        result = compare(value, reference[name], 1e-4, 1e-5)
        assert result.ok, (name, result)
    assert report["target"] == target


def test_report_figures(tmp_path):
    _, generated, _, _, report = _run(tmp_path, models.mlp, "qemu-cortex-m4")
    counts = report["instructions_per_call"]
    macs = 4 * 64 + 64 * 64 + 64 * 6
    assert macs < counts["min"] <= counts["median"] <= counts["max"] < 50 * macs
    assert report["flash_bytes"] > report["weights_bytes"] == generated.weight_bytes
    assert report["ram_bytes"] >= report["arena_bytes"] == generated.arena_bytes
    assert 0 < report["stack_bytes"] < 4096
    assert "-mfpu=fpv4-sp-d16" in report["compiler_flags"]


def _patched(generated, code):
    source = generated.files[f"{generated.name}.c"].replace("    return EO_OK;\n}", f"    {code}\n    return EO_OK;\n}}")
    return dataclasses.replace(generated, files={**generated.files, f"{generated.name}.c": source})


@pytest.mark.parametrize("target", ["qemu-cortex-m4", "qemu-cortex-m33", "qemu-ast1030"])
def test_instruction_count_is_exact(tmp_path, target):
    """200 extra NOPs in the inference add exactly 200 instructions (the M33 board's timer
    runs at 20 MHz, the AST1030's at 50 MHz, the others' at 25 MHz)."""
    path = models.save(models.mlp(), tmp_path / "mlp.onnx")
    generated = compile_model(path)
    base = _run(tmp_path, models.mlp, target, samples=1, generated=generated)[4]
    padded = _run(tmp_path, models.mlp, target, samples=1,
                  generated=_patched(generated, '__asm__ volatile(".rept 200\\n nop\\n .endr");'))[4]
    assert padded["instructions_per_call"]["min"] - base["instructions_per_call"]["min"] == 200


def test_fault_reports_pc_and_exits(tmp_path):
    generated = _patched(compile_model(models.save(models.mlp(), tmp_path / "m.onnx")), '__asm__ volatile("udf #0");')
    with pytest.raises(QemuError, match=r"HardFault at pc=0x[0-9a-f]{8} lr=0x[0-9a-f]{8}"):
        _run(tmp_path, models.mlp, "qemu-cortex-m4", samples=1, generated=generated)


def test_hang_is_killed(tmp_path):
    generated = _patched(compile_model(models.save(models.mlp(), tmp_path / "m.onnx")),
                         "for (;;) { __asm__ volatile(\"\"); }")
    with QemuRunner(generated, "qemu-cortex-m4") as model:
        with pytest.raises(QemuError, match="did not finish"):
            model.run({"x": np.zeros((1, 1, 4), np.float32)}, timeout=3)


def test_missing_toolchain_names_install_command(tmp_path, monkeypatch):
    generated = compile_model(models.save(models.mlp(), tmp_path / "m.onnx"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolchainError, match="apt-get install -y --no-install-recommends gcc-arm-none-eabi"):
        QemuRunner(generated, "qemu-cortex-m4")
