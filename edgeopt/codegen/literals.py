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


def c_string(text) -> str:
    """The body of a C string literal for any text: printable ASCII as is (quotes,
    backslashes and trigraph-forming question marks escaped), every other byte as octal."""
    out = []
    for byte in str(text).encode("utf-8"):
        char = chr(byte)
        if char in '"\\':
            out.append("\\" + char)
        elif char == "?":
            out.append("\\?")
        elif 32 <= byte < 127:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return "".join(out)


def c_ints(values, pad_to=None) -> str:
    values = [int(v) for v in values]
    if pad_to is not None:
        values = values + [0] * (pad_to - len(values))
    return "{" + ", ".join(str(v) for v in values) + "}"


C_TYPES = {"float32": "float", "float64": "double", "int8": "int8_t", "int16": "int16_t", "int32": "int32_t",
           "uint8": "uint8_t", "uint16": "uint16_t"}


def c_type(dtype) -> str:
    return C_TYPES[np.dtype(dtype).name]


def array_rows(array, per_line=8, indent="    ") -> str:
    """Initializer rows for a float32 or integer array."""
    flat = np.asarray(array).reshape(-1)
    if flat.dtype == np.float32:
        items = [f32(v) for v in flat]
    else:
        per_line = 16
        items = [str(int(v)) for v in flat]
    return "\n".join(indent + ", ".join(items[start:start + per_line]) + ","
                     for start in range(0, len(items), per_line))
