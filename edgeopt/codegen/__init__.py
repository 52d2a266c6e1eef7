"""Lowering and C code generation from the optimized IR. Codegen runs nothing."""
from edgeopt.codegen.emit import GeneratedModel, generate

__all__ = ["GeneratedModel", "generate"]
