"""Op handlers: one OpDef per op type (shape inference, folding, lowering)."""
from edgeopt.ops.registry import default_registry

__all__ = ["default_registry"]
