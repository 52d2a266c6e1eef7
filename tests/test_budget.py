"""The budget check tells the truth: its flash figure is within 10% of what arm-none-eabi-size
says of the firmware PlatformIO builds, on a float and on int8 models (int16 weight copies on
DSP cores, where the compiler keeps them, included), and the code-size table it reads is the
one this runtime measures."""
import json
import shutil
from pathlib import Path

import pytest

import models
from edgeopt.budget import check_budget, core_key, estimate, load_table, measure_core, runtime_functions
from edgeopt.errors import EdgeoptError
from edgeopt.pipeline import compile_file
from edgeopt.platformio.offline import run_pio
from edgeopt.platformio.project import write_project
from edgeopt.simulator.qemu import memory_figures
from edgeopt.targets import get_target

TFLM = Path(__file__).resolve().parent / "data" / "models" / "tflm"

needs_tools = pytest.mark.skipif(
    not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")),
    reason="arm-none-eabi-gcc / qemu-system-arm not installed (.ci/run installs them)")


@needs_tools
@pytest.mark.parametrize("board", ["qemu_cortex_m4", "qemu_cortex_m3"])
@pytest.mark.parametrize("model", ["mlp", "micro_speech_quantized.tflite", "person_detect.tflite"])
def test_flash_estimate_matches_the_built_firmware(tmp_path, model, board):
    path = models.save(models.mlp(), tmp_path / "mlp.onnx") if model == "mlp" else TFLM / model
    artifact = compile_file(path, name="net")
    target = get_target(board)
    write_project(artifact, tmp_path / "fw", target)
    run_pio(["run", "-d", str(tmp_path / "fw")])
    built = memory_figures(tmp_path / "fw" / ".pio" / "build" / board / "firmware.elf")["flash_bytes"]
    estimated = estimate(artifact, target)["flash_bytes"]
    assert abs(estimated - built) <= 0.10 * built, (estimated, built)
    if model == "person_detect.tflite":  # int8 weights stay int8 (219 KB), not int16 copies
        assert built < 1.2 * artifact.memory.weights_on(False) + 2 * 16 * 1024, built


def test_real_boards_count_the_int16_copies_and_the_framework(tmp_path):
    """person_detect on a Nucleo-F446RE (Cortex-M4, DSP): with --int8-weights expanded the
    int16 copies (~460 KB) and the Arduino core's allowance, nearly all of its 512 KB; the
    default keeps the weights int8 (219 KB), as on the M0+ Pico."""
    nucleo = get_target("nucleo_f446re")
    expanded = compile_file(TFLM / "person_detect.tflite", name="net", int8_weights="expanded")
    assert 460_000 + 24_576 < check_budget(expanded, nucleo)["flash_bytes"] < 524_288
    artifact = compile_file(TFLM / "person_detect.tflite", name="net")
    assert 219_000 + 24_576 < check_budget(artifact, nucleo)["flash_bytes"] < 350_000
    assert check_budget(artifact, get_target("pico"))["flash_bytes"] < 350_000
    b = models.GraphBuilder(0)
    wide = models.save(b.model([("x", [1, 512])], [b.linear("x", 512, 300)]), tmp_path / "wide.onnx")
    with pytest.raises(EdgeoptError, match=r"(?s)does not fit nucleo_f446re .*flash: needs about"):
        check_budget(compile_file(wide, name="wide"), get_target("nucleo_f446re"))


@pytest.mark.skipif(not shutil.which("arm-none-eabi-gcc"), reason="arm-none-eabi-gcc not installed")
def test_code_size_table_is_current():
    """Re-measure the M4 core for a sample of kernels: the checked-in table must agree
    (regenerate it with `python -m edgeopt.budget` after changing the runtime)."""
    target = get_target("qemu-cortex-m4")
    sample = [f for f in runtime_functions() if f in (
        "eo_dense4_f32", "eo_tanh_f32", "eo_conv_f32", "eo_fully_connected_s8_dsp", "eo_softmax_s8")]
    measured = measure_core(target, sample)
    table = load_table()["cores"][core_key(target)]
    assert measured["base"] == table["base"]
    for function in sample:
        assert measured["kernels"][function] == table["kernels"][function], function
    assert set(load_table()["cores"]) >= {core_key(get_target(t)) for t in ("qemu-cortex-m3", "qemu-cortex-m7")}
    json.dumps(table)  # plain data
