"""The compile pipeline: frontend -> passes -> codegen, and writing the results."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from edgeopt.codegen import generate
from edgeopt.codegen.names import C_KEYWORDS
from edgeopt.errors import EdgeoptError
from edgeopt.frontends import load_model
from edgeopt.ops import default_registry
from edgeopt.passes import optimize
from edgeopt.resources import runtime_dir


def default_name(model_path) -> str:
    stem = re.sub(r"[^A-Za-z0-9_]", "_", Path(model_path).stem).strip("_").lower() or "model"
    if stem[0].isdigit() or stem in C_KEYWORDS:
        stem = "model_" + stem
    return stem[:32]


def check_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,31}", name or "") or name in C_KEYWORDS:
        raise EdgeoptError(
            f"--name {name!r} is not usable as a C symbol prefix: use a letter followed by up to "
            "31 letters, digits or underscores (and not a C keyword)"
        )
    return name


def compile_model(model_path, name=None, input_shapes=None):
    name = check_name(name or default_name(model_path))
    registry = default_registry()
    graph = load_model(model_path, input_shapes or {})
    optimize(graph, registry)
    options = f"name={name}"
    if input_shapes:
        options += " input-shape " + " ".join(
            f"{k}={','.join(map(str, v))}" for k, v in sorted(input_shapes.items()))
    return generate(graph, registry, name, options)


def runtime_files() -> dict:
    """The C runtime's files, keyed by path relative to an edgeopt_runtime/ folder."""
    runtime = runtime_dir()
    return {str(path.relative_to(runtime)): path.read_text() for path in sorted(runtime.rglob("*"))
            if path.is_file() and path.suffix in (".c", ".h", ".json")}


def write_library(generated, out_dir, with_runtime=True) -> list:
    """Write the model's C files (and a copy of the runtime) atomically: all or nothing."""
    files = dict(generated.files)
    if with_runtime:
        files.update({str(Path("edgeopt_runtime") / rel): text for rel, text in runtime_files().items()})
    return write_files(files, out_dir)


def write_files(files: dict, out_dir) -> list:
    """Write {relative path: text} under out_dir through a staging folder: all or nothing."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".edgeopt-", dir=out_dir))
    written = []
    try:
        for rel, text in files.items():
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        for rel in files:
            final = out_dir / rel
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / rel, final)
            written.append(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written
