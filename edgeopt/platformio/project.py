"""Write a complete PlatformIO project for a compiled model and a board."""
from __future__ import annotations

import hashlib
import json

import numpy as np

from edgeopt import __version__
from edgeopt.codegen.literals import f32
from edgeopt.codegen.render import make_environment
from edgeopt.errors import EdgeoptError
from edgeopt.pipeline import runtime_files, write_files
from edgeopt.resources import resource_dir

# Allowances the budget check adds to what the compiler knows exactly (weights, arena).
CODE_ALLOWANCE = 16 * 1024  # kernels, startup and harness
STACK_ALLOWANCE = 2 * 1024


def load_boards() -> dict:
    table = json.loads((resource_dir("firmware") / "boards.json").read_text())
    return {name: dict(info, emulated=info.get("emulated", False)) for name, info in table.items()
            if not name.startswith("_")}


def board_info(name: str) -> tuple:
    """(PlatformIO board id, its table entry); accepts qemu-cortex-m4 for qemu_cortex_m4."""
    boards = load_boards()
    key = name.replace("-", "_")
    if key not in boards:
        raise EdgeoptError(f"unknown board {name!r}; edgeopt knows: {', '.join(sorted(boards))}")
    return key, boards[key]


def check_budget(generated, board_id: str, board: dict) -> dict:
    io_bytes = sum(t.size * _C_TYPES[t.dtype][1] for t in generated.inputs + generated.outputs)
    flash = generated.weight_bytes + CODE_ALLOWANCE
    ram = generated.arena_bytes + io_bytes + STACK_ALLOWANCE
    problems = []
    if flash > board["flash"]:
        problems.append(f"flash: needs about {flash:,} B (weights {generated.weight_bytes:,} B + "
                        f"~{CODE_ALLOWANCE:,} B code), the board has {board['flash']:,} B")
    if ram > board["ram"]:
        problems.append(f"RAM: needs about {ram:,} B (arena {generated.arena_bytes:,} B + I/O "
                        f"buffers {io_bytes:,} B + ~{STACK_ALLOWANCE:,} B stack), the board has "
                        f"{board['ram']:,} B")
    if problems:
        raise EdgeoptError(f"the model does not fit {board_id} ({board['name']}):\n  "
                           + "\n  ".join(problems)
                           + "\nUse a smaller model or a board with more memory.")
    return dict(flash_bytes=flash, ram_bytes=ram)


_C_TYPES = {"float32": ("float", 4), "int8": ("int8_t", 1)}  # C type, bytes


def _buffers(tensors, prefix):
    """One static buffer per model input/output, typed as the model's."""
    return [dict(name=f"{prefix}{i}", ctype=_C_TYPES[t.dtype][0], size=t.size, exact=t.dtype != "float32")
            for i, t in enumerate(tensors)]


def _rows(samples, buffer):
    """Per sample, the C initializer of one buffer."""
    if buffer["exact"]:
        return [", ".join(str(int(v)) for v in row) for row in samples]
    return [", ".join(f32(v) for v in row) for row in np.asarray(samples, np.float32)]


def project_files(generated, board_id: str, board: dict, vectors=None, source="model",
                  rtol=1e-4, atol=1e-5) -> dict:
    """{relative path: text} of the project. vectors = (inputs, expected): per model input
    and output, its (N, size) samples, for the on-target tests of emulated boards."""
    env = make_environment()
    context = dict(version=__version__, source=source, board=board, env_name=board_id,
                   prefix=generated.name, inputs=_buffers(generated.inputs, "input"),
                   outputs=_buffers(generated.outputs, "output"))
    files = {}
    name = generated.name
    for file_name, text in generated.files.items():
        files[f"lib/{name}/{file_name}"] = text
    files[f"lib/{name}/library.json"] = env.get_template("project/library.json.j2").render(**context)
    for rel, text in runtime_files().items():
        files[f"lib/edgeopt_runtime/{rel}"] = text
    if not board["emulated"]:
        files["platformio.ini"] = env.get_template("project/platformio.ini.j2").render(**context)
        files["src/main.cpp"] = env.get_template("project/main_arduino.cpp.j2").render(**context)
        return files
    files["src/main.c"] = env.get_template("project/main_qemu.c.j2").render(**context)
    firmware = resource_dir("firmware")
    platform = {}
    for folder, target in (("platformio/edgeoptqemu", ""), ("qemu", "board/")):
        for path in sorted((firmware / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                platform[target + str(path.relative_to(firmware / folder))] = path.read_text()
    # PlatformIO reuses an installed platform with the same URI across projects: a folder
    # named by content keeps projects with different copies apart.
    digest = hashlib.sha256(json.dumps(platform, sort_keys=True).encode()).hexdigest()[:10]
    for part in ("platform.json", "platform.py"):
        platform[part] = env.get_template(f"project/{part}.j2").render(
            platform_name=f"edgeoptqemu{digest}", **context)
    platform = {f".edgeopt/platform-{digest}/{rel}": text for rel, text in platform.items()}
    files["platformio.ini"] = env.get_template("project/platformio.ini.j2").render(
        platform_dir=f".edgeopt/platform-{digest}", **context)
    files.update(platform)
    platformio_dir = firmware / "platformio"
    files["test/test_custom_runner.py"] = (platformio_dir / "test_custom_runner.py").read_text()
    files[f"test/test_{name}/eo_test.h"] = (platformio_dir / "eo_test.h").read_text()
    if vectors is not None:
        sample_inputs, expected = vectors
        for buffer, samples in zip(context["inputs"], sample_inputs):
            buffer["rows"] = _rows(samples, buffer)
        for buffer, samples in zip(context["outputs"], expected):
            buffer["rows"] = _rows(samples, buffer)
        files[f"test/test_{name}/test_main.c"] = env.get_template("project/test_main.c.j2").render(
            samples=len(sample_inputs[0]), rtol=rtol, atol=atol, **context)
    return files


def write_project(generated, out_dir, board_name: str, vectors=None, source="model") -> dict:
    board_id, board = board_info(board_name)
    budget = check_budget(generated, board_id, board)
    write_files(project_files(generated, board_id, board, vectors, source), out_dir)
    return dict(board=board_id, **budget)
