"""Typed errors. Stages raise them; the CLI renders them (exit code 2, no traceback)."""


class EdgeoptError(Exception):
    """Base of every error edgeopt reports to the user as a clear message."""

    exit_code = 2


class ModelLoadError(EdgeoptError):
    """The model file cannot be read: missing, truncated, corrupt, not a model."""


class UnsupportedError(EdgeoptError):
    """The model uses ops, attributes or types edgeopt does not support."""


class ShapeError(EdgeoptError):
    """Shapes cannot be resolved or do not agree."""


class ToolchainError(EdgeoptError):
    """A compiler or emulator is missing or failed."""


class InputDataError(EdgeoptError):
    """User-supplied input data (npz) does not match the model."""


class MismatchError(EdgeoptError):
    """Simulated outputs differ from the reference beyond tolerance."""

    exit_code = 1


def unsupported_summary(problems):
    """Render a list of (op_type, node_name, reason) as one message listing all at once."""
    by_op = {}
    for op_type, node_name, reason in problems:
        by_op.setdefault((op_type, reason), []).append(node_name)
    lines = [f"the model uses {len(problems)} node(s) edgeopt cannot compile:"]
    for (op_type, reason), names in sorted(by_op.items()):
        shown = ", ".join(repr(n) for n in names[:8])
        more = f" and {len(names) - 8} more" if len(names) > 8 else ""
        lines.append(f"  {op_type}: {reason} (nodes {shown}{more})")
    lines.append("See the supported-ops table in the README; re-export the model without these ops "
                 "or open an issue naming the op.")
    return "\n".join(lines)
