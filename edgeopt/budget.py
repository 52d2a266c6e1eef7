"""Does an artifact fit a target? Flash and RAM as the target's build really stores them."""
from __future__ import annotations

from edgeopt.errors import EdgeoptError
from edgeopt.targets import Target

CODE_ALLOWANCE = 16 * 1024  # kernels, startup and harness


def estimate(artifact, target: Target) -> dict:
    memory = artifact.memory
    weights = memory.weights_on(target.dsp)
    code = CODE_ALLOWANCE + target.framework_flash
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
