"""Lowering and C code generation from the optimized IR. Codegen runs nothing."""
from edgeopt.codegen.emit import Extension, generate

__all__ = ["Extension", "generate"]
