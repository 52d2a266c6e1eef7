"""On-device solvers described by a TOML config. Each kind is one package here (config schema,
compile to an Artifact, numpy reference, summary) with its C under templates/solvers/<kind>/;
the registry finds the packages by themselves, so adding a kind touches no other file."""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from edgeopt.solvers.config import ConfigError, ConfigReader, load_toml


@dataclass(frozen=True)
class SolverKind:
    name: str
    title: str
    # (ConfigReader, name override or None) -> Artifact
    compile: Callable
    # (Artifact) -> lines describing the compiled solver
    summary: Callable
    # (Artifact, {npz key: array}) -> {signature name: (N, ...)}: the npz contract of
    # `simulate` mapped onto the packed entry point's signature
    prepare_inputs: Callable = lambda artifact, arrays: arrays
    # (Artifact, {output: (N, ...)}) -> (the npz to write, a line describing the results)
    finish_outputs: Callable = lambda artifact, outputs: (outputs, "")
    # (Artifact, runner, plant spec, {npz}, steps, out path) -> a line: optional closed loop
    closed_loop: Optional[Callable] = None


def solver_kinds() -> dict:
    """{kind name: SolverKind} of every package in edgeopt/solvers/ that defines KIND."""
    kinds = {}
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.ispkg:
            kind = getattr(importlib.import_module(f"{__name__}.{module.name}"), "KIND", None)
            if isinstance(kind, SolverKind):
                kinds[kind.name] = kind
    return kinds


def kind_of(artifact) -> Optional[SolverKind]:
    """The solver kind an artifact was compiled by, or None for a model."""
    return solver_kinds().get(artifact.kind)


def compile_solver(config_path, name=None):
    """A solver config -> the Artifact of its kind."""
    reader = ConfigReader(config_path, load_toml(Path(config_path)))
    kinds = solver_kinds()
    kind = reader.get("solver", "kind")
    if kind not in kinds:
        reader.fail("solver", "kind", "one of " + ", ".join(f'"{k}"' for k in sorted(kinds)), kind)
    return kinds[kind].compile(reader, name)


__all__ = ["ConfigError", "SolverKind", "compile_solver", "kind_of", "solver_kinds"]
