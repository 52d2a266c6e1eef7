"""C literals that round-trip exactly."""
import math

import numpy as np


def f32(value) -> str:
    value = float(np.float32(value))
    if math.isnan(value):
        return "NAN"
    if math.isinf(value):
        return "INFINITY" if value > 0 else "-INFINITY"
    text = "%.9g" % value
    if "e" not in text and "." not in text:
        text += ".0"
    return text + "f"


def c_ints(values, pad_to=None) -> str:
    values = [int(v) for v in values]
    if pad_to is not None:
        values = values + [0] * (pad_to - len(values))
    return "{" + ", ".join(str(v) for v in values) + "}"


def f32_rows(array, per_line=8, indent="    ") -> str:
    flat = np.asarray(array, np.float32).reshape(-1)
    lines = []
    for start in range(0, len(flat), per_line):
        lines.append(indent + ", ".join(f32(v) for v in flat[start:start + per_line]) + ",")
    return "\n".join(lines)
