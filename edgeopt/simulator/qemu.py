"""Cortex-M emulation: cross-compile any artifact with a harness around its packed entry
point, run it in qemu-system-arm under -icount, and report outputs, exact instruction counts
and memory."""
from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np

from edgeopt.artifact import check_inputs, pack, unpack
from edgeopt.codegen.render import make_environment
from edgeopt.errors import EdgeoptError, ToolchainError
from edgeopt.pipeline import write_library
from edgeopt.resources import resource_dir
from edgeopt.simulator.toolchain import STRICT_FLAGS, Workspace, run_compiler
from edgeopt.targets import ICOUNT_SHIFT, Target, get_target, qemu_command

INSTALL_HINT = ("install it with: apt-get install -y --no-install-recommends "
                "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm")

OPT_FLAGS = ("-O2", "-ffp-contract=fast", "-ffunction-sections", "-fdata-sections")


class QemuError(EdgeoptError):
    """The emulated run faulted, hung or failed."""


def tool(name):
    path = shutil.which(name)
    if not path:
        raise ToolchainError(f"{name} not found; {INSTALL_HINT}")
    return path


def flags_for(target: Target) -> list:
    return [*STRICT_FLAGS, *OPT_FLAGS, *target.cpu_flags]


def board_sources(target: Target) -> tuple:
    """(include folder, sources, linker script) of the emulated board support."""
    board = resource_dir("firmware") / "qemu"
    return board, [board / "eo_qemu.c", board / "eo_qemu_board.c"], board / target.linker_script


def cross_compile(workdir: Path, sources, target: Target, warning_flags=STRICT_FLAGS,
                  extra_flags=(), output="firmware.elf") -> Path:
    """Link sources with the runtime in workdir/edgeopt_runtime for an emulated target."""
    board, board_c, linker_script = board_sources(target)
    runtime = workdir / "edgeopt_runtime"
    elf = workdir / output
    run_compiler([tool("arm-none-eabi-gcc"), *warning_flags, *OPT_FLAGS, *target.cpu_flags,
                  *target.board_flags, *extra_flags, f"-I{workdir}", f"-I{runtime / 'include'}",
                  f"-I{board}", *map(str, sources), *map(str, board_c),
                  *map(str, sorted((runtime / "src").glob("*.c"))), "-nostartfiles",
                  "--specs=nosys.specs", f"-T{linker_script}", "-Wl,--gc-sections", "-o", str(elf), "-lm"])
    return elf


def build_firmware(artifact, target: Target, workdir: Path, warning_flags=STRICT_FLAGS,
                   extra_flags=()) -> Path:
    """Cross-compile the artifact + runtime + the semihosting harness into workdir/firmware.elf."""
    write_library(artifact, workdir)
    harness = make_environment().get_template("qemu/main.c.j2").render(
        prefix=artifact.name, input_words=artifact.input_bytes // 4,
        output_words=artifact.output_bytes // 4, input_file="eo_in.bin", output_file="eo_out.bin")
    (workdir / "eo_main.c").write_text(harness)
    sources = [workdir / n for n in sorted(artifact.files) if n.endswith(".c")] + [workdir / "eo_main.c"]
    return cross_compile(workdir, sources, target, warning_flags, extra_flags)


def memory_figures(elf: Path) -> dict:
    """flash = text + rodata + data; ram = data + bss (the stack region is reported apart)."""
    sections = section_sizes(elf)
    flash = sections.get(".text", 0) + sections.get(".ARM.exidx", 0) + sections.get(".data", 0)
    ram = sections.get(".data", 0) + sections.get(".bss", 0)
    return dict(flash_bytes=flash, ram_bytes=ram)


def section_sizes(elf: Path) -> dict:
    result = subprocess.run([tool("arm-none-eabi-size"), "-A", str(elf)], capture_output=True,
                            text=True, check=True)
    sections = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
            sections[parts[0]] = int(parts[1])
    return sections


def run_firmware(elf: Path, target: Target, packed: np.ndarray, output_bytes: int, timeout: float = 120.0):
    """Run every sample (a row of packed input bytes); returns (packed outputs (N, bytes),
    instructions (N,), stack bytes)."""
    workdir = elf.parent
    count = packed.shape[0]
    (workdir / "eo_in.bin").write_bytes(struct.pack("<I", count) + packed.tobytes())
    out_path = workdir / "eo_out.bin"
    out_path.unlink(missing_ok=True)
    try:
        result = subprocess.run(qemu_command(target, str(elf), qemu=tool("qemu-system-arm")), cwd=workdir,
                                capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise QemuError(f"the {target.name} run did not finish within {timeout:.0f} s and was "
                        "killed (a hang in the generated code or the model is too slow)") from None
    if result.returncode != 0:
        detail = (result.stderr + result.stdout).strip()[-2000:]
        raise QemuError(f"the {target.name} run failed (exit code {result.returncode}):\n{detail}")
    data = out_path.read_bytes()
    per_sample = output_bytes + 4
    if len(data) != count * per_sample + 4:
        raise QemuError(f"the emulated run wrote {len(data)} bytes of results, expected "
                        f"{count * per_sample + 4}")
    body = np.frombuffer(data[:-4], dtype=np.uint8).reshape(count, per_sample)
    ticks = body[:, -4:].copy().view("<u4")[:, 0].astype(np.int64)
    instructions = np.rint(ticks * target.timer_ns_per_tick / 2 ** ICOUNT_SHIFT).astype(np.int64)
    return body[:, :output_bytes], instructions, struct.unpack("<I", data[-4:])[0]


class QemuRunner(Workspace):
    """Any artifact cross-compiled for one emulated target: each run() starts QEMU once,
    resets the artifact and calls its packed entry point once per sample, in order."""

    def __init__(self, artifact, target_name: str, **build_options):
        self.artifact = artifact
        self.target = get_target(target_name, emulated=True)
        super().__init__("edgeopt-qemu-")
        with self.removed_on_error():
            self.elf = build_firmware(artifact, self.target, self.workdir, **build_options)

    def run(self, inputs: dict, timeout: float = 120.0):
        """Returns ({output name: (N, *shape)}, report dict)."""
        packed = pack(self.artifact.inputs, check_inputs(self.artifact, inputs))
        raw, instructions, stack = run_firmware(self.elf, self.target, packed, self.artifact.output_bytes,
                                                timeout)
        report = dict(
            target=self.target.name, machine=self.target.qemu_machine, core=self.target.core,
            compiler="arm-none-eabi-gcc", compiler_flags=flags_for(self.target),
            samples=int(instructions.shape[0]),
            instructions_per_call=dict(
                min=int(instructions.min()), median=int(np.median(instructions)),
                max=int(instructions.max())),
            **memory_figures(self.elf),
            stack_bytes=int(stack),
            arena_bytes=self.artifact.memory.arena,
            static_ram_bytes=self.artifact.memory.static_ram,
            weights_bytes=self.artifact.memory.weights_on(self.target.dsp),
        )
        return unpack(self.artifact.outputs, raw), report
