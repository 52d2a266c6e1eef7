"""The compile pipeline: frontend -> passes -> codegen for models, the solver-kind registry for
configs; both give an Artifact. And writing artifacts to disk."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from edgeopt.budget import check_some_target_fits
from edgeopt.codegen import generate
from edgeopt.codegen.names import check_prefix, prefix_from_file
from edgeopt.errors import EdgeoptError
from edgeopt.frontends import load_model
from edgeopt.ops import default_registry
from edgeopt.passes import optimize
from edgeopt.passes.int8_weights import DEFAULT_SPARE_BYTES, choose_int8_weights
from edgeopt.passes.streaming import add_states, one_step_inputs
from edgeopt.resources import runtime_dir


def default_name(path) -> str:
    return prefix_from_file(Path(path).stem)


def check_name(name, what: str = "--name") -> str:
    try:
        return check_prefix(name, what)
    except ValueError as exc:
        raise EdgeoptError(str(exc)) from None


def is_solver_config(path) -> bool:
    return str(path).lower().endswith(".toml")


def compile_model(model_path, name=None, input_shapes=None, extensions=(), options=None, stream=False,
                  int8_weights="auto", spare_flash=DEFAULT_SPARE_BYTES):
    """A model file -> its Artifact. extensions: codegen extensions (e.g. a solver's model
    Jacobian); options: extra entries for the banner; stream: one time step per call
    (passes.streaming); int8_weights, spare_flash: the int8 weight layout on DSP cores and
    what auto may spend on int16 copies (passes.int8_weights)."""
    name = check_name(name or default_name(model_path))
    registry = default_registry()
    graph = load_model(model_path, input_shapes or {})
    if stream:
        one_step_inputs(graph)
    graph = optimize(graph, registry)
    if stream:
        add_states(graph, registry)
    choose_int8_weights(graph, registry, int8_weights, spare_flash)
    shown = dict(name=name, **(options or {}), **({"stream": "yes"} if stream else {}))
    if int8_weights != "auto":
        shown["int8-weights"] = int8_weights
    if input_shapes:
        shown["input-shape"] = ";".join(f"{k}={','.join(map(str, v))}" for k, v in sorted(input_shapes.items()))
    artifact = generate(graph, registry, name, shown, extensions=extensions)
    check_some_target_fits(artifact)
    return artifact


def compile_file(path, name=None, input_shapes=None, stream=False, int8_weights="auto",
                 spare_flash=DEFAULT_SPARE_BYTES):
    """Any input edgeopt compiles: a model file, or a solver config (.toml)."""
    if is_solver_config(path):
        from edgeopt.solvers import compile_solver

        if input_shapes or stream:
            raise EdgeoptError("--input-shape and --stream apply to model files; a solver config names its model")
        return compile_solver(path, name=name)
    return compile_model(path, name=name, input_shapes=input_shapes, stream=stream, int8_weights=int8_weights,
                         spare_flash=spare_flash)


def runtime_files() -> dict:
    """The C runtime's files, keyed by path relative to an edgeopt_runtime/ folder."""
    runtime = runtime_dir()
    return {str(path.relative_to(runtime)): path.read_text() for path in sorted(runtime.rglob("*"))
            if path.is_file() and path.suffix in (".c", ".h", ".json")}


def library_files(artifact, with_runtime=True) -> dict:
    files = dict(artifact.files)
    if with_runtime:
        files.update({str(Path("edgeopt_runtime") / rel): text for rel, text in runtime_files().items()})
    return files


def write_library(artifact, out_dir, with_runtime=True) -> list:
    """Write the artifact's C files (and a copy of the runtime): all or nothing."""
    return write_files(library_files(artifact, with_runtime), out_dir)


def check_writable(files, out_dir) -> None:
    """Fail before anything is written if out_dir or one of the files' folders is taken by a
    file, or a file's place by a folder."""
    out_dir = Path(out_dir)
    for parent in [out_dir, *out_dir.parents]:
        if parent.exists() and not parent.is_dir():
            raise EdgeoptError(f"cannot write to {out_dir}: {parent} is a file, not a folder; "
                               "choose another output folder")
    for rel in files:
        target = out_dir / rel
        for parent in list(target.parents)[:-1]:
            if parent.exists() and not parent.is_dir():
                raise EdgeoptError(f"cannot write {target}: {parent} is a file, not a folder; remove "
                                   "it or choose another output folder")
        if target.is_dir():
            raise EdgeoptError(f"cannot write {target}: a folder of that name is in the way")
    probe = next((p for p in [out_dir, *out_dir.parents] if p.exists()), None)
    if probe is not None and not os.access(probe, os.W_OK):
        raise EdgeoptError(f"cannot write to {out_dir}: {probe} is not writable")


def write_files(files: dict, out_dir) -> list:
    """Write {relative path: text} under out_dir through a staging folder: all or nothing.
    Files whose content is already there are left untouched (so `pio run` after compiling
    an unchanged model rebuilds nothing); returns the paths written."""
    out_dir = Path(out_dir)
    check_writable(files, out_dir)
    changed = {rel: text for rel, text in files.items() if not _same_content(out_dir / rel, text)}
    if not changed:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".edgeopt-", dir=out_dir))
    written = []
    try:
        for rel, text in changed.items():
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(text.encode("utf-8"))
        for rel in changed:
            final = out_dir / rel
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / rel, final)
            written.append(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


def _same_content(path: Path, text: str) -> bool:
    try:
        return path.is_file() and path.read_bytes() == text.encode("utf-8")
    except OSError:
        return False
