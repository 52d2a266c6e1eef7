"""Cortex-M emulation: cross-compile the generated C with a harness, run it in
qemu-system-arm under -icount, and report outputs, exact instruction counts and memory."""
from __future__ import annotations

import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeopt.codegen.render import make_environment
from edgeopt.errors import EdgeoptError, ToolchainError
from edgeopt.pipeline import write_library
from edgeopt.resources import resource_dir
from edgeopt.simulator.host import prepare_inputs
from edgeopt.simulator.toolchain import STRICT_FLAGS, Workspace, run_compiler

INSTALL_HINT = ("install it with: apt-get install -y --no-install-recommends "
                "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm")

# Under -icount shift=10 every instruction takes 2**10 ns; the timer ticks at 25 MHz.
ICOUNT_SHIFT = 10


@dataclass(frozen=True)
class Target:
    name: str
    machine: str
    core: str
    cpu_flags: tuple
    fpu: str
    linker_script: str = "mps2.ld"
    board_flags: tuple = ()  # the harness's memory map where it differs from AN385/386/500
    timer_ns_per_tick: int = 40  # CMSDK TIMER0 at the board's 25 MHz system clock


TARGETS = {t.name: t for t in (
    Target("qemu-cortex-m3", "mps2-an385", "Cortex-M3",
           ("-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft"), "none"),
    Target("qemu-cortex-m4", "mps2-an386", "Cortex-M4F",
           ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"), "fpv4-sp-d16"),
    Target("qemu-cortex-m7", "mps2-an500", "Cortex-M7",
           ("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16"), "fpv5-d16"),
    Target("qemu-cortex-m33", "mps2-an505", "Cortex-M33",
           ("-mcpu=cortex-m33", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"), "fpv5-sp-d16",
           "mps2_an505.ld", ("-DEO_TIMER0_BASE=0x50000000u",), 50),  # 20 MHz system clock
)}

OPT_FLAGS = ("-O2", "-ffp-contract=fast", "-ffunction-sections", "-fdata-sections")


class QemuError(EdgeoptError):
    """The emulated run faulted, hung or failed."""


def get_target(name: str) -> Target:
    if name not in TARGETS:
        raise EdgeoptError(f"unknown target {name!r}; choose one of: host, {', '.join(TARGETS)}")
    return TARGETS[name]


def _tool(name):
    path = shutil.which(name)
    if not path:
        raise ToolchainError(f"{name} not found; {INSTALL_HINT}")
    return path


def build_firmware(generated, target: Target, workdir: Path, warning_flags=STRICT_FLAGS,
                   extra_flags=()) -> Path:
    """Cross-compile model + runtime + harness into workdir/firmware.elf."""
    cc = _tool("arm-none-eabi-gcc")
    write_library(generated, workdir)
    inputs, input_words = word_layout(generated.inputs)
    outputs, output_words = word_layout(generated.outputs)
    harness = make_environment().get_template("qemu/main.c.j2").render(
        prefix=generated.name, inputs=inputs, outputs=outputs, input_words=input_words,
        output_words=output_words, input_file="eo_in.bin", output_file="eo_out.bin")
    (workdir / "eo_main.c").write_text(harness)
    board = resource_dir("firmware") / "qemu"
    runtime = workdir / "edgeopt_runtime"
    sources = [*(workdir / n for n in sorted(generated.files) if n.endswith(".c")),
               workdir / "eo_main.c", board / "eo_qemu.c", *sorted((runtime / "src").glob("*.c"))]
    elf = workdir / "firmware.elf"
    run_compiler([cc, *warning_flags, *OPT_FLAGS, *target.cpu_flags, *target.board_flags, *extra_flags,
                  f"-I{workdir}", f"-I{runtime / 'include'}", f"-I{board}", *map(str, sources),
                  "-nostartfiles", "--specs=nosys.specs", f"-T{board / target.linker_script}",
                  "-Wl,--gc-sections", "-o", str(elf), "-lm"])
    return elf


def flags_for(target: Target) -> list:
    return [*STRICT_FLAGS, *OPT_FLAGS, *target.cpu_flags]


def word_layout(tensors):
    """Each tensor's start in 32-bit words of the harness buffers, and the total words."""
    rows, word = [], 0
    for tensor in tensors:
        rows.append(dict(word=word, ctype=tensor.ctype, dtype=tensor.dtype, size=tensor.size))
        word += -(-tensor.nbytes // 4)
    return rows, max(word, 1)


def _pack(arrays, tensors, count):
    """Per sample, every tensor's bytes padded to a multiple of 4."""
    parts = []
    for array, tensor in zip(arrays, tensors):
        flat = np.ascontiguousarray(array.reshape(count, -1).astype(np.dtype(tensor.dtype).newbyteorder("<")))
        raw = flat.view(np.uint8).reshape(count, -1)
        pad = -raw.shape[1] % 4
        parts.append(np.pad(raw, ((0, 0), (0, pad))))
    return np.concatenate(parts, axis=1) if parts else np.zeros((count, 4), np.uint8)


def memory_figures(elf: Path) -> dict:
    """flash = text + rodata + data; ram = data + bss (the stack region is reported apart)."""
    result = subprocess.run([_tool("arm-none-eabi-size"), "-A", str(elf)], capture_output=True,
                            text=True, check=True)
    sections = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
            sections[parts[0]] = int(parts[1])
    flash = sections.get(".text", 0) + sections.get(".ARM.exidx", 0) + sections.get(".data", 0)
    ram = sections.get(".data", 0) + sections.get(".bss", 0)
    return dict(flash_bytes=flash, ram_bytes=ram)


def run_firmware(elf: Path, target: Target, arrays: list, inputs, outputs, timeout: float = 120.0):
    """Run every sample; returns (outputs per tensor (N, size), instructions (N,), stack bytes)."""
    qemu = _tool("qemu-system-arm")
    workdir = elf.parent
    count = arrays[0].shape[0] if arrays else 1
    packed = _pack(arrays, inputs, count)
    (workdir / "eo_in.bin").write_bytes(struct.pack("<I", count) + packed.tobytes())
    out_path = workdir / "eo_out.bin"
    out_path.unlink(missing_ok=True)
    args = [qemu, "-machine", target.machine, "-nographic", "-monitor", "none", "-serial", "none",
            "-semihosting-config", "enable=on,target=native",
            "-icount", f"shift={ICOUNT_SHIFT},align=off,sleep=off", "-kernel", str(elf)]
    try:
        result = subprocess.run(args, cwd=workdir, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise QemuError(f"the {target.name} run did not finish within {timeout:.0f} s and was "
                        "killed (a hang in the generated code or the model is too slow)") from None
    if result.returncode != 0:
        detail = (result.stderr + result.stdout).strip()[-2000:]
        raise QemuError(f"the {target.name} run failed (exit code {result.returncode}):\n{detail}")
    return _parse_results(out_path.read_bytes(), count, outputs, target.timer_ns_per_tick)


def _parse_results(data, count, tensors, ns_per_tick):
    layout, words = word_layout(tensors)
    per_sample = words * 4 + 4
    if len(data) != count * per_sample + 4:
        raise QemuError(f"the emulated run wrote {len(data)} bytes of results, expected "
                        f"{count * per_sample + 4}")
    body = np.frombuffer(data[:-4], dtype=np.uint8).reshape(count, per_sample)
    ticks = body[:, -4:].copy().view("<u4")[:, 0].astype(np.int64)
    instructions = np.rint(ticks * ns_per_tick / 2 ** ICOUNT_SHIFT).astype(np.int64)
    outputs = []
    for row in layout:
        dtype = np.dtype(row["dtype"]).newbyteorder("<")
        start = row["word"] * 4
        raw = body[:, start:start + row["size"] * dtype.itemsize].copy()
        outputs.append(raw.view(dtype).astype(row["dtype"]))
    stack = struct.unpack("<I", data[-4:])[0]
    return outputs, instructions, stack


class QemuModel(Workspace):
    """A model cross-compiled for one emulated target."""

    def __init__(self, generated, target_name: str, **build_options):
        self.generated = generated
        self.target = get_target(target_name)
        super().__init__("edgeopt-qemu-")
        with self.removed_on_error():
            self.elf = build_firmware(generated, self.target, self.workdir, **build_options)

    def run(self, inputs: dict, timeout: float = 120.0):
        """Returns ({output name: (N, *shape)}, report dict)."""
        arrays = prepare_inputs(self.generated, inputs)
        outputs, instructions, stack = run_firmware(
            self.elf, self.target, arrays, self.generated.inputs, self.generated.outputs, timeout)
        count = instructions.shape[0]
        result = {t.name: o.reshape((count,) + t.shape) for t, o in zip(self.generated.outputs, outputs)}
        report = dict(
            target=self.target.name, machine=self.target.machine, core=self.target.core,
            compiler="arm-none-eabi-gcc", compiler_flags=flags_for(self.target),
            samples=int(count),
            instructions_per_inference=dict(
                min=int(instructions.min()), median=int(np.median(instructions)),
                max=int(instructions.max())),
            **memory_figures(self.elf),
            stack_bytes=int(stack),
            arena_bytes=self.generated.arena_bytes,
            weights_bytes=self.generated.weight_bytes,
        )
        return result, report
