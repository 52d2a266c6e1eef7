"""Write a complete PlatformIO project for any artifact (model or solver) and target board."""
from __future__ import annotations

import hashlib
import json

import numpy as np

from edgeopt import __version__
from edgeopt.artifact import packed_offsets
from edgeopt.budget import check_budget
from edgeopt.codegen.literals import f32
from edgeopt.codegen.names import ini_comment
from edgeopt.codegen.render import make_environment
from edgeopt.pipeline import runtime_files, write_files
from edgeopt.platformio.runtime_vectors import runtime_vectors
from edgeopt.resources import resource_dir
from edgeopt.targets import Target, qemu_command


def _buffers(tensors, prefix):
    """A typed view of each input/output in the packed entry point's buffers."""
    return [dict(name=f"{prefix}{i}", ctype=t.ctype, size=t.size, offset=offset,
                 exact=t.dtype != "float32")
            for i, (t, offset) in enumerate(zip(tensors, packed_offsets(tensors)))]


def harness_context(artifact, target) -> dict:
    """What the firmware mains (src/main.c, src/main.cpp, the HIL firmware) render from."""
    from edgeopt.hil.protocol import info_text, max_batch

    return dict(version=__version__, board=target, prefix=artifact.name,
                inputs=_buffers(artifact.inputs, "input"), outputs=_buffers(artifact.outputs, "output"),
                input_bytes=artifact.input_bytes, output_bytes=artifact.output_bytes,
                info=info_text(artifact, target), max_batch=max_batch(artifact))


def _rows(samples, buffer):
    """Per sample, the C initializer of one buffer."""
    if buffer["exact"]:
        return [", ".join(str(int(v)) for v in row) for row in samples]
    return [", ".join(f32(v) for v in row) for row in np.asarray(samples, np.float32)]


def _json(data) -> str:
    return json.dumps(data, indent=2, ensure_ascii=True) + "\n"


def project_files(artifact, target: Target, vectors=None, rtol=1e-4, atol=1e-5) -> dict:
    """{relative path: text} of the project. vectors = (inputs, expected): per input and
    output of the artifact, its (N, size) samples, for the on-target tests of emulated boards."""
    env = make_environment()
    board_id = target.platformio_board
    context = dict(harness_context(artifact, target), source=ini_comment(artifact.source or artifact.name),
                   env_name=board_id, reference="onnxruntime (TFLM for .tflite)" if artifact.kind == "model"
                   else "the host simulator (the same C built for the host)")
    name = artifact.name
    files = {f"lib/{name}/{file_name}": text for file_name, text in artifact.files.items()}
    files[f"lib/{name}/library.json"] = _json({
        "name": name, "version": __version__,
        "description": f"edgeopt-generated C for {artifact.source or name}",
        "frameworks": "*", "platforms": "*", "dependencies": [{"name": "edgeopt_runtime"}]})
    for rel, text in runtime_files().items():
        files[f"lib/edgeopt_runtime/{rel}"] = text
    if not target.emulated:
        files["platformio.ini"] = env.get_template("project/platformio.ini.j2").render(**context)
        files["src/main.cpp"] = env.get_template("project/main_arduino.cpp.j2").render(**context)
        return files
    files["src/main.c"] = env.get_template("project/main_qemu.c.j2").render(**context)
    firmware = resource_dir("firmware")
    platform = {}
    for folder, into in (("platformio/edgeoptqemu", ""), ("qemu", "board/")):
        for path in sorted((firmware / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                platform[into + str(path.relative_to(firmware / folder))] = path.read_text()
    platform[f"boards/{board_id}.json"] = _json(target.platformio_board_json())
    # PlatformIO reuses an installed platform with the same URI across projects: a folder
    # named by content keeps projects with different copies apart.
    digest = hashlib.sha256(json.dumps(platform, sort_keys=True).encode()).hexdigest()[:10]
    platform_name = f"edgeoptqemu{digest}"
    platform["platform.json"] = _json({
        "name": platform_name, "title": "edgeopt emulated Cortex-M (QEMU)",
        "description": f"Offline PlatformIO dev-platform written by edgeopt {__version__}: builds with "
                       "the system arm-none-eabi-gcc and runs firmware in qemu-system-arm. The name "
                       "carries a hash of its files, so projects with different copies never share one.",
        "version": __version__, "engines": {"platformio": "^6"}, "license": "MIT",
        "frameworks": {}, "packages": {}})
    platform["platform.py"] = env.get_template("project/platform.py.j2").render(platform_name=platform_name)
    files.update({f".edgeopt/platform-{digest}/{rel}": text for rel, text in platform.items()})
    files["platformio.ini"] = env.get_template("project/platformio.ini.j2").render(
        platform_dir=f".edgeopt/platform-{digest}",
        test_command=qemu_command(target, "${platformio.build_dir}/${this.__env__}/firmware.elf",
                                  console=True), **context)
    platformio_dir = firmware / "platformio"
    files["test/test_custom_runner.py"] = (platformio_dir / "test_custom_runner.py").read_text()
    files[f"test/test_{name}/eo_test.h"] = (platformio_dir / "eo_test.h").read_text()
    files["test/test_runtime/eo_test.h"] = files[f"test/test_{name}/eo_test.h"]
    files["test/test_runtime/test_main.c"] = env.get_template("project/test_runtime.c.j2").render(
        version=__version__, vectors=runtime_vectors())
    if vectors is not None:
        sample_inputs, expected = vectors
        for buffer, samples in zip(context["inputs"], sample_inputs):
            buffer["rows"] = _rows(samples, buffer)
        for buffer, samples in zip(context["outputs"], expected):
            buffer["rows"] = _rows(samples, buffer)
        files[f"test/test_{name}/test_main.c"] = env.get_template("project/test_main.c.j2").render(
            samples=len(sample_inputs[0]), rtol=rtol, atol=atol, **context)
    return files


def write_project(artifact, out_dir, target: Target, vectors=None) -> dict:
    """Check the artifact fits the board, then write the project (all or nothing)."""
    budget = check_budget(artifact, target)
    write_files(project_files(artifact, target, vectors), out_dir)
    return dict(board=target.platformio_board, **budget)
