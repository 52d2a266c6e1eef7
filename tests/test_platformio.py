"""Generated PlatformIO projects: offline pio run / pio test on the emulated boards,
real-board environments, and the memory budget check."""
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import models
from edgeopt.platformio.offline import core_dir, prepare_offline, run_pio

MODELS = Path(__file__).resolve().parent / "data" / "models" / "tflm"

needs_tools = pytest.mark.skipif(
    not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
    reason="qemu-system-arm / arm-none-eabi-gcc not installed (.ci/run installs them)")


def _compile(run_cli, tmp_path, builder, board, name="net"):
    model = models.save(builder(), tmp_path / f"{builder.__name__}.onnx")
    project = tmp_path / f"fw_{board}"
    code, out, err = run_cli("compile", model, "--platformio", project, "--board", board, "--name", name)
    assert code == 0, err
    return project, out


def all_succeeded(output):
    """PlatformIO's summary: every test case of the model's and the runtime's suites passed."""
    import re

    summary = re.search(r"(\d+) test cases: (\d+) succeeded", output)
    return summary is not None and summary.group(1) == summary.group(2) and "test_runtime" in output


def test_offline_scons_package_is_prepared():
    path = prepare_offline()
    assert path == core_dir() / "packages" / "tool-scons"
    assert (path / "SCons" / "Script" / "__init__.py").is_file()
    assert '"owner": "platformio"' in (path / ".piopm").read_text()


@needs_tools
@pytest.mark.parametrize("board,builder", [
    ("qemu_cortex_m4", models.mlp), ("qemu_cortex_m3", models.cnn1d), ("qemu_cortex_m7", models.depthwise_separable),
    ("qemu_ast1030", models.mlp),
], ids=lambda v: getattr(v, "__name__", v))
def test_emulated_board_builds_and_passes_on_target_tests(run_cli, tmp_path, board, builder):
    project, _ = _compile(run_cli, tmp_path, builder, board)
    run_pio(["run", "-d", str(project)])
    assert (project / ".pio" / "build" / board / "firmware.elf").is_file()
    result = run_pio(["test", "-d", str(project)])
    assert "test_outputs_match_reference" in result.stdout and "PASSED" in result.stdout
    assert all_succeeded(result.stdout)


@needs_tools
def test_int8_tflite_project_passes_bit_exact_on_target_tests(run_cli, tmp_path):
    """int8 inputs and outputs: typed buffers, and on-target outputs equal to TFLM's."""
    model = MODELS / "micro_speech_quantized.tflite"
    project = tmp_path / "fw"
    code, _, err = run_cli("compile", model, "--platformio", project, "--board", "qemu_cortex_m4", "--name", "kws")
    assert code == 0, err
    test_main = (project / "test" / "test_kws" / "test_main.c").read_text()
    assert "static const int8_t output0_expected" in test_main and "output0[i] == output0_expected" in test_main
    result = run_pio(["test", "-d", str(project)])
    assert "test_outputs_match_reference" in result.stdout and all_succeeded(result.stdout)
    real = tmp_path / "real"
    code, _, err = run_cli("compile", model, "--platformio", real, "--board", "nucleo_f446re", "--name", "kws")
    assert code == 0, err
    main = (real / "src" / "main.cpp").read_text()
    assert "eo_link_receive" in main and "kws_run" in main and '\\"int8\\"' in main  # the HIL firmware, int8 I/O


@needs_tools
def test_failing_on_target_test_is_reported(run_cli, tmp_path):
    project, _ = _compile(run_cli, tmp_path, models.mlp, "qemu_cortex_m4")
    test_main = project / "test" / "test_net" / "test_main.c"
    text = test_main.read_text()
    start = text.index("output0_expected[EO_SAMPLES]")
    row = text.index("{", text.index("{", start) + 1)
    test_main.write_text(text[:row + 1] + "1000.0f + " + text[row + 1:])  # corrupt one expectation
    result = run_pio(["test", "-d", str(project)], check=False)
    assert result.returncode != 0
    assert "test_outputs_match_reference" in result.stdout and "FAILED" in result.stdout


@needs_tools
def test_flash_runs_emulated_firmware(run_cli, tmp_path):
    project, _ = _compile(run_cli, tmp_path, models.mlp, "qemu_cortex_m4")
    code, out, err = run_cli("flash", project)
    assert code == 0, err
    assert "net:" in out and "instructions per call" in out


@pytest.mark.parametrize("board,platform,counter", [
    ("nucleo_f446re", "ststm32", "EO_DWT_CYCCNT"), ("teensy41", "teensy", "EO_DWT_CYCCNT"),
    ("nrf52840_dk", "nordicnrf52", "EO_DWT_CYCCNT"), ("pico", "raspberrypi", "micros()"),
])
def test_real_board_projects(run_cli, tmp_path, board, platform, counter):
    project, out = _compile(run_cli, tmp_path, models.mlp, board)
    ini = (project / "platformio.ini").read_text()
    assert f"[env:{board}]" in ini and f"platform = {platform}" in ini and f"board = {board}" in ini
    assert "framework = arduino" in ini
    main = (project / "src" / "main.cpp").read_text()
    assert "eo_link_receive" in main and "net_run" in main and counter in main
    assert (project / "lib" / "net" / "net.c").is_file()
    assert (project / "lib" / "edgeopt_runtime" / "library.json").is_file()


def _big_dense_model(path, n_in, n_out):
    w = numpy_helper.from_array(np.zeros((n_out, n_in), np.float32), "w")
    graph = helper.make_graph([helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n_in])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n_out])], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def test_model_too_big_for_board_fails_at_compile_time(run_cli, tmp_path):
    model = _big_dense_model(tmp_path / "big.onnx", 512, 512)  # 1 MiB of weights
    code, _, err = run_cli("compile", model, "--platformio", tmp_path / "fw", "--board", "nucleo_f446re")
    assert code == 2
    assert "does not fit nucleo_f446re" in err and "1,048,576" in err and "524,288 B" in err
    assert not (tmp_path / "fw").exists()


def test_unknown_board(run_cli, tmp_path):
    model = models.save(models.mlp(), tmp_path / "m.onnx")
    code, _, err = run_cli("compile", model, "--platformio", tmp_path / "fw", "--board", "uno")
    assert code == 2 and "unknown target 'uno'" in err and "nucleo_f446re" in err


@needs_tools
def test_solver_project_passes_on_target_tests(run_cli, tmp_path):
    """A solver is an artifact like a model: its firmware project builds, and on the emulated
    board its solutions match the host simulator's (status and iterations exactly)."""
    config = Path(__file__).resolve().parent.parent / "examples" / "soft_actuator" / "mpc.toml"
    project = tmp_path / "fw"
    code, out, err = run_cli("compile", config, "--platformio", project, "--board", "qemu_cortex_m33")
    assert code == 0, err
    assert "qemu_cortex_m33" in out and (project / "lib" / "actuator_mpc" / "actuator_mpc_model.c").is_file()
    result = run_pio(["test", "-d", str(project)])
    assert "test_outputs_match_reference" in result.stdout and all_succeeded(result.stdout)


@pytest.mark.skipif(not shutil.which("arm-none-eabi-g++"), reason="arm-none-eabi-g++ not installed")
@pytest.mark.parametrize("board", ["nucleo_f446re", "pico"])
def test_real_board_firmware_compiles(run_cli, tmp_path, board):
    """The Arduino cores cannot be installed offline: the real-board main.cpp, the artifact and
    the runtime are compiled with the board's flags against the Arduino API's declarations."""
    import subprocess

    from edgeopt.simulator.toolchain import STRICT_FLAGS
    from edgeopt.targets import get_target

    project, _ = _compile(run_cli, tmp_path, models.mlp, board)
    target = get_target(board)
    includes = [f"-I{project / 'lib' / 'net'}", f"-I{project / 'lib' / 'edgeopt_runtime' / 'include'}"]
    cxx = ["arm-none-eabi-g++", "-std=c++11", *[f for f in STRICT_FLAGS if f != "-std=c99"], *target.cpu_flags,
           f"-I{Path(__file__).parent / 'data' / 'arduino'}", *includes, "-c", str(project / "src" / "main.cpp"),
           "-o", str(tmp_path / "main.o")]
    result = subprocess.run(cxx, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    sources = [*(project / "lib" / "net").glob("*.c"), *(project / "lib" / "edgeopt_runtime" / "src").glob("*.c")]
    for source in sources:
        cc = ["arm-none-eabi-gcc", *STRICT_FLAGS, "-O2", *target.cpu_flags, *includes, "-c", str(source),
              "-o", str(tmp_path / (source.stem + ".o"))]
        result = subprocess.run(cc, capture_output=True, text=True)
        assert result.returncode == 0, (source.name, result.stderr)
