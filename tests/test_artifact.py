"""The artifact contract: every header's RAM macros agree with the ELF, headers build as C++,
generated files check the runtime version, the C scratch companions agree with the planner,
and output is written only when it changes."""
import ctypes
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import models
from edgeopt.frontends import load_model
from edgeopt.ops import default_registry
from edgeopt.ops.quantized_linear import _conv_geometry, _dsp_plan
from edgeopt.ops.registry import OpContext
from edgeopt.passes import optimize
from edgeopt.pipeline import compile_file, write_library
from edgeopt.simulator.toolchain import STRICT_FLAGS, host_cc, runtime_archive

TFLM = Path(__file__).resolve().parent / "data" / "models" / "tflm"
M4 = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
needs_arm = pytest.mark.skipif(not shutil.which("arm-none-eabi-gcc"), reason="arm-none-eabi-gcc not installed")


def mpc_config(tmp_path):
    from test_mpc import forward_model, write_config

    return write_config(tmp_path, forward_model(tmp_path))


def _artifacts(tmp_path):
    return {
        "mlp": compile_file(models.save(models.mlp(), tmp_path / "mlp.onnx")),
        "lenet": compile_file(models.save(models.lenet(), tmp_path / "lenet.onnx")),
        "micro_speech": compile_file(TFLM / "micro_speech_quantized.tflite", name="kws"),
        "mpc": compile_file(mpc_config(tmp_path)),
    }


@needs_arm
@pytest.mark.parametrize("which", ["mlp", "lenet", "micro_speech", "mpc"])
def test_static_ram_macros_match_the_elf(tmp_path, which):
    """NAME_STATIC_RAM_SIZE (and the Memory figure) equal the .bss/.data the artifact's own
    objects define on a Cortex-M4, with the DSP kernels' layouts."""
    artifact = _artifacts(tmp_path)[which]
    out = tmp_path / "lib"
    write_library(artifact, out)
    objects = []
    for name in sorted(artifact.files):
        if name.endswith(".c"):
            objects.append(str(out / (name + ".o")))
            subprocess.run(["arm-none-eabi-gcc", *STRICT_FLAGS, "-O2", *M4, f"-I{out}",
                            f"-I{out / 'edgeopt_runtime' / 'include'}", "-c", str(out / name), "-o", objects[-1]],
                           check=True)
    listing = subprocess.run(["arm-none-eabi-nm", "-S", *objects], capture_output=True, text=True, check=True)
    ram = sum(int(parts[1], 16) for parts in (line.split() for line in listing.stdout.splitlines())
              if len(parts) == 4 and parts[2] in "bBdD")
    header = artifact.files[f"{artifact.name}.h"]
    macro = int(re.search(rf"#define {artifact.name.upper()}_STATIC_RAM_SIZE (\d+)u", header).group(1))
    assert ram == macro == artifact.memory.static_ram


@pytest.mark.parametrize("compiler", ["g++", "arm-none-eabi-g++"])
def test_every_generated_header_builds_as_cpp(tmp_path, compiler):
    if not shutil.which(compiler):
        pytest.skip(f"{compiler} not installed")
    for artifact in _artifacts(tmp_path).values():
        out = tmp_path / artifact.name
        write_library(artifact, out)
        for header in (n for n in artifact.files if n.endswith(".h")):
            source = out / "use.cpp"
            source.write_text(f'#include "{header}"\n'
                              f"eo_status_t (*eo_entry)(const void *, void *) = &{Path(header).stem}_run;\n")
            flags = ["-std=c++11", "-Wall", "-Wextra", "-Werror", "-pedantic"]
            flags += M4 if compiler.startswith("arm") else []
            result = subprocess.run([compiler, *flags, f"-I{out}", f"-I{out / 'edgeopt_runtime' / 'include'}",
                                     "-c", str(source), "-o", str(out / "use.o")], capture_output=True, text=True)
            assert result.returncode == 0, (header, result.stderr)


def test_generated_files_refuse_another_runtime_version(tmp_path):
    artifact = compile_file(models.save(models.mlp(), tmp_path / "mlp.onnx"), name="net")
    write_library(artifact, tmp_path / "lib")
    header = tmp_path / "lib" / "edgeopt_runtime" / "include" / "eo_runtime.h"
    header.write_text(re.sub(r"#define EO_RUNTIME_VERSION \d+", "#define EO_RUNTIME_VERSION 99", header.read_text()))
    result = subprocess.run([host_cc(), *STRICT_FLAGS, f"-I{tmp_path / 'lib'}", f"-I{header.parent}", "-c",
                             str(tmp_path / "lib" / "net.c"), "-o", str(tmp_path / "net.o")],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "regenerate it with edgeopt compile" in result.stderr


class _FcParams(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in ("rows", "outs", "ins", "output_offset", "act_min", "act_max",
                                              "per_channel")] + [("m", ctypes.c_void_p), ("s", ctypes.c_void_p)]


class _ConvParams(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in (
        "batch", "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w", "filter_c", "stride_h",
        "stride_w", "dil_h", "dil_w", "pad_h", "pad_w", "depth_multiplier", "input_offset", "output_offset",
        "act_min", "act_max")] + [("m", ctypes.c_void_p), ("s", ctypes.c_void_p)]


class _Reduce(ctypes.Structure):
    _fields_ = [("rank", ctypes.c_int32), ("shape", ctypes.c_int32 * 6), ("out_strides", ctypes.c_int32 * 6),
                ("out_size", ctypes.c_int32), ("reduced_count", ctypes.c_int32)]


def _runtime_library(tmp_path):
    cc = host_cc()
    archive = runtime_archive(cc, [*STRICT_FLAGS, "-O2", "-fPIC"])
    library = tmp_path / "libeo.so"
    subprocess.run([cc, "-shared", "-o", str(library), "-Wl,--whole-archive", str(archive),
                    "-Wl,--no-whole-archive", "-lm"], check=True)
    return ctypes.CDLL(str(library))


def _c_scratch(lib, ctx):
    """The C companion of the kernel the lowering picks for this node (the larger of the DSP
    and the portable kernel's, as the planner reserves one arena for every core)."""
    node, x, w = ctx.node, ctx.shape(0), ctx.shape(1) if len(ctx.node.inputs) > 1 else None
    plan = _dsp_plan(ctx) if node.op_type in ("QFullyConnected", "QConv2D", "QDepthwiseConv2D") else None
    call = lambda f, p: getattr(lib, f)(ctypes.byref(p))  # noqa: E731
    if node.op_type == "QMean":
        return call("eo_mean_s8_scratch_size", _Reduce(out_size=int(np.prod(ctx.out_shape()))))
    depthwise = node.op_type == "QDepthwiseConv2D"
    conv = None
    if w is not None and len(w) == 4:
        out_h, out_w, pad_h, pad_w = _conv_geometry(ctx)
        out_c = w[3] if depthwise else w[0]
        conv = _ConvParams(batch=x[0], in_h=x[1], in_w=x[2], in_c=x[3], out_h=out_h, out_w=out_w, out_c=out_c,
                           k_h=w[1], k_w=w[2], filter_c=1 if depthwise else w[3],
                           stride_h=ctx.attr("stride_h", 1), stride_w=ctx.attr("stride_w", 1),
                           dil_h=ctx.attr("dilation_h", 1), dil_w=ctx.attr("dilation_w", 1), pad_h=pad_h,
                           pad_w=pad_w, depth_multiplier=out_c // x[3] if depthwise else 1)
    portable = call("eo_depthwise_conv2d_s8_scratch_size", conv) if depthwise else 0
    if plan is None:
        return portable
    kernel, weights = plan[0], plan[1]
    outs, ins = weights.shape
    if kernel in ("eo_conv2d_s8_dsp", "eo_depthwise_conv2d_s8_dsp"):
        return max(portable, call(f"{kernel}_scratch_size", conv))
    rows = int(np.prod(x)) // ins
    return call(f"{kernel}_scratch_size", _FcParams(rows=rows, outs=outs, ins=ins))


@pytest.mark.parametrize("model", ["micro_speech_quantized.tflite", "person_detect.tflite"])
def test_scratch_companions_agree_with_the_planner(tmp_path, model):
    lib = _runtime_library(tmp_path)
    registry = default_registry()
    graph = optimize(load_model(TFLM / model), registry)
    checked = 0
    for node in graph.nodes:
        rule = registry[node.op_type].scratch
        if rule is None:
            continue
        ctx = OpContext(node, graph)
        assert rule(ctx) == _c_scratch(lib, ctx), node.name
        checked += rule(ctx) > 0
    assert checked > 0


def test_unchanged_output_is_not_rewritten(tmp_path):
    path = models.save(models.mlp(), tmp_path / "mlp.onnx")
    first = write_library(compile_file(path), tmp_path / "lib")
    stamps = {p: p.stat().st_mtime_ns for p in first}
    assert write_library(compile_file(path), tmp_path / "lib") == []
    assert {p: p.stat().st_mtime_ns for p in first} == stamps
    changed = write_library(compile_file(path, name="other"), tmp_path / "lib")
    assert {p.name for p in changed} == {"other.c", "other.h"}


@pytest.mark.skipif(not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")),
                    reason="arm-none-eabi-gcc / qemu-system-arm not installed")
def test_pio_run_after_an_unchanged_recompile_rebuilds_nothing(tmp_path, run_cli):
    from edgeopt.platformio.offline import run_pio

    model = models.save(models.mlp(), tmp_path / "mlp.onnx")
    project = tmp_path / "fw"
    assert run_cli("compile", model, "--platformio", project)[0] == 0
    run_pio(["run", "-d", str(project)])
    elf = project / ".pio" / "build" / "qemu_cortex_m4" / "firmware.elf"
    built = elf.stat().st_mtime_ns
    assert run_cli("compile", model, "--platformio", project)[0] == 0
    again = run_pio(["run", "-d", str(project)]).stdout
    assert elf.stat().st_mtime_ns == built and "Compiling" not in again
