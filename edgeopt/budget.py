"""Does an artifact fit a target? Flash and RAM as the target's build really stores them:
the weights in the layout this core's build keeps (int16 copies on DSP cores), the runtime
kernels the artifact calls with everything they pull in at link time (firmware/code_sizes.json,
measured with arm-none-eabi-gcc by `python -m edgeopt.budget`), the artifact's own code, and
the board's startup and harness."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from edgeopt.errors import EdgeoptError
from edgeopt.resources import resource_dir
from edgeopt.targets import Target, load_targets

TABLE = "code_sizes.json"


def core_key(target: Target) -> str:
    return f"{target.cpu}+{target.fpu or 'soft'}"


def load_table() -> dict:
    path = resource_dir("firmware") / TABLE
    return json.loads(path.read_text()) if path.is_file() else {"cores": {}}


def estimate(artifact, target: Target, table=None) -> dict:
    table = load_table() if table is None else table
    memory = artifact.memory
    weights = memory.weights_on(target.dsp)
    core = table["cores"].get(core_key(target))
    if core is None:  # a core the table does not know: a generous allowance
        runtime, base = 16 * 1024, 0
    else:
        pulled = set()
        for function in memory.symbols_on(target.dsp):
            pulled.update(core["kernels"].get(function, ()))
        runtime, base = sum(core["symbols"][s] for s in pulled), core["base"]
    code = base + runtime + memory.own_code + target.framework_flash
    io_bytes = artifact.input_bytes + artifact.output_bytes
    ram = memory.static_ram + io_bytes + memory.stack + target.framework_ram
    return dict(flash_bytes=weights + code, ram_bytes=ram, weights_bytes=weights, code_bytes=code,
                io_bytes=io_bytes)


def check_budget(artifact, target: Target) -> dict:
    need = estimate(artifact, target)
    problems = []
    if need["flash_bytes"] > target.flash:
        problems.append(f"flash: needs about {need['flash_bytes']:,} B (weights {need['weights_bytes']:,} B "
                        f"as this core stores them + ~{need['code_bytes']:,} B code), the board has "
                        f"{target.flash:,} B")
    if need["ram_bytes"] > target.ram:
        problems.append(f"RAM: needs about {need['ram_bytes']:,} B (static {artifact.memory.static_ram:,} B + "
                        f"I/O buffers {need['io_bytes']:,} B + ~{artifact.memory.stack:,} B stack), the "
                        f"board has {target.ram:,} B")
    if problems:
        raise EdgeoptError(f"{artifact.name} does not fit {target.platformio_board} ({target.title}):\n  "
                           + "\n  ".join(problems) + "\nUse a smaller model or a board with more memory.")
    return dict(flash_bytes=need["flash_bytes"], ram_bytes=need["ram_bytes"])


def check_some_target_fits(artifact) -> None:
    """Refuse, before any file is written, an artifact no target could hold."""
    targets = load_targets().values()
    ram = artifact.memory.static_ram + artifact.input_bytes + artifact.output_bytes
    flash = artifact.memory.weights_on(dsp=False)
    largest_ram, largest_flash = max(t.ram for t in targets), max(t.flash for t in targets)
    if ram > largest_ram or flash > largest_flash:
        raise EdgeoptError(
            f"{artifact.source or artifact.name} needs {ram:,} B of RAM (static {artifact.memory.static_ram:,} B "
            f"+ I/O {artifact.input_bytes + artifact.output_bytes:,} B) and {flash:,} B of flash; the largest "
            f"target has {largest_ram:,} B of RAM and {largest_flash:,} B of flash (firmware/targets.json). "
            "Use a smaller model or smaller inputs.")


# ---- measuring the table (needs arm-none-eabi-gcc) ----

def runtime_functions() -> list:
    header = (resource_dir("firmware") / "edgeopt_runtime" / "include" / "eo_runtime.h").read_text()
    return sorted(set(re.findall(r"^[a-z][\w ]*?\**\b(eo_[a-z0-9_]+)\(", header, re.M)))


def _linked_symbols(elf) -> dict:
    """{name/size: size} of the code and constant data an ELF holds (not .bss). Symbols that
    overlap one already counted (aliases such as __aeabi_fadd = __addsf3, or entry points
    inside another routine, as __aeabi_fsub) count once, under the first."""
    out = subprocess.run(["arm-none-eabi-nm", "-S", "-n", "--defined-only", str(elf)], capture_output=True,
                         text=True, check=True).stdout
    symbols, end = {}, -1
    rows = sorted((int(p[0], 16), int(p[1], 16), p[3]) for p in (line.split() for line in out.splitlines())
                  if len(p) == 4 and p[2].lower() in "tdr")
    for address, size, name in rows:
        if address >= end:
            symbols[f"{name}/{size}"] = size
            end = address + size
        else:
            end = max(end, address + size)
    return symbols


def measure_core(target: Target, functions) -> dict:
    """Link the board's startup and harness alone (base), then once per runtime function with
    it as a root: the symbols each link adds are what that kernel costs in flash."""
    from edgeopt.codegen.render import make_environment
    from edgeopt.pipeline import write_library
    from edgeopt.simulator.qemu import OPT_FLAGS, board_sources, tool
    from edgeopt.simulator.toolchain import run_compiler

    cc = tool("arm-none-eabi-gcc")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_library(_StubArtifact(), work)
        (work / "main.c").write_text(make_environment().get_template("project/main_qemu.c.j2").render(
            version="", board=target, prefix="eo_stub", inputs=[], outputs=[], input_bytes=4, output_bytes=4,
            info="{}", max_batch=1))
        board, board_c, linker_script = board_sources(target)
        sources = [work / "stub.c", work / "main.c", *board_c, *sorted((work / "edgeopt_runtime" / "src").glob("*.c"))]
        objects = []
        for index, source in enumerate(sources):
            objects.append(str(work / f"{index}.o"))
            run_compiler([cc, "-std=c99", "-w", *OPT_FLAGS, *target.cpu_flags, *target.board_flags,
                          f"-I{work}", f"-I{work / 'edgeopt_runtime' / 'include'}", f"-I{board}", "-c",
                          str(source), "-o", objects[-1]])

        def link(*roots):
            elf = work / "out.elf"
            run_compiler([cc, *target.cpu_flags, *objects, "-nostartfiles", "--specs=nosys.specs",
                          f"-T{linker_script}", "-Wl,--gc-sections",
                          *(f"-Wl,--require-defined={r}" for r in roots), "-o", str(elf), "-lm"])
            return _linked_symbols(elf)

        base = link()
        kernels, symbols = {}, {}
        defined = subprocess.run(["arm-none-eabi-nm", "--defined-only", *objects], capture_output=True,
                                 text=True, check=True).stdout.split()
        for function in (f for f in functions if f in defined):  # DSP kernels exist on DSP cores
            added = {k: v for k, v in link(function).items() if k not in base}
            kernels[function] = sorted(added)
            symbols.update(added)
    return dict(base=sum(base.values()), kernels=kernels, symbols=dict(sorted(symbols.items())))


class _StubArtifact:
    """An artifact with no work: the harness and startup alone."""

    files = {"stub.c": '#include "eo_runtime.h"\n#include "eo_stub.h"\n'
                       "eo_status_t eo_stub_run(const void *in, void *out)\n{\n    (void)in;\n"
                       "    (void)out;\n    return EO_OK;\n}\n\nvoid eo_stub_reset(void)\n{\n}\n",
             "eo_stub.h": '#include "eo_runtime.h"\neo_status_t eo_stub_run(const void *in, void *out);\n'
                          "void eo_stub_reset(void);\n"}


def measure_table() -> dict:
    """Every core an emulated target has (the measurement links its startup code); boards
    with other cores get the generous allowance of estimate()."""
    emulated = {}
    for target in load_targets().values():
        if target.emulated:
            emulated.setdefault(core_key(target), target)
    functions = runtime_functions()
    cores = {key: measure_core(target, functions) for key, target in sorted(emulated.items())}
    version = subprocess.run(["arm-none-eabi-gcc", "-dumpversion"], capture_output=True, text=True).stdout.strip()
    return {"_comment": "Flash bytes of the runtime kernels per core, with what each pulls in at link "
                        "time (-O2, gc-sections). Regenerate with: python -m edgeopt.budget",
            "compiler": f"arm-none-eabi-gcc {version}", "cores": cores}


if __name__ == "__main__":
    table = measure_table()
    path = resource_dir("firmware") / TABLE
    path.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    print(f"wrote {path} ({', '.join(table['cores'])})", file=sys.stderr)
