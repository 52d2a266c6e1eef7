"""TFLite -> IR, reading the flatbuffer through the `tflite` schema package.

This module reads the tensors (types, shapes, constants, quantization) and dispatches each
operator to its converter in tflite_operators."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from edgeopt.errors import ModelLoadError, ShapeError, UnsupportedError, unsupported_summary
from edgeopt.frontends.tflite_operators import CONVERTERS, HYBRID_OPS
from edgeopt.ir import Graph, Quantization, Tensor

_DTYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "bool", 7: "int16",
           9: "int8", 10: "float64"}


def _builtin_names():
    import tflite

    return {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}


def load_tflite(path: Path, input_shapes: dict) -> Graph:
    data = path.read_bytes()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelLoadError(f"{path}: not a TFLite model (no TFL3 flatbuffer identifier); "
                             "pass a .tflite file written by the TensorFlow Lite converter")
    try:
        graph = _convert(data, path, input_shapes)
    except (ModelLoadError, UnsupportedError, ShapeError):
        raise
    except Exception as exc:  # flatbuffers raise IndexError/struct.error on corrupt offsets
        raise ModelLoadError(f"{path}: corrupt TFLite flatbuffer ({type(exc).__name__}: {exc}); "
                             "the file may be truncated: convert the model again") from None
    graph.metadata["source_sha256"] = hashlib.sha256(data).hexdigest()
    graph.metadata["source_name"] = path.name
    return graph


def _convert(data, path, input_shapes):
    import tflite

    model = tflite.Model.GetRootAsModel(data, 0)
    if model.SubgraphsLength() < 1:
        raise ModelLoadError(f"{path}: the model has no subgraph")
    g = model.Subgraphs(0)
    names = _builtin_names()
    tensors, tensor_names = {}, []
    for index in range(g.TensorsLength()):
        t = g.Tensors(index)
        name = (t.Name() or b"").decode("utf-8", "replace") or f"tensor_{index}"
        if name in tensors:
            name = f"{name}#{index}"
        tensor_names.append(name)
        dtype = _DTYPES.get(t.Type())
        if dtype is None:
            raise UnsupportedError(f"{path}: tensor {name!r} has unsupported type code {t.Type()}")
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        buffer = model.Buffers(t.Buffer()) if t.Buffer() < model.BuffersLength() else None
        array = None
        if buffer is not None and buffer.DataLength():
            array = np.frombuffer(buffer.DataAsNumpy().tobytes(), np.dtype(dtype).newbyteorder("<"))
            array = array.astype(dtype).reshape(shape)
        tensors[name] = Tensor(name, dtype, shape, array, _quantization(t, name, dtype, path))
    inputs = [tensor_names[g.Inputs(i)] for i in range(g.InputsLength())]
    outputs = [tensor_names[g.Outputs(i)] for i in range(g.OutputsLength())]
    for name in inputs:
        tensors[name].shape = _input_shape(g, tensor_names, name, tensors[name].shape, input_shapes)
    nodes, problems = [], []
    for index in range(g.OperatorsLength()):
        op = g.Operators(index)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        op_name = names.get(builtin, f"BUILTIN_{builtin}")
        if op_name == "CUSTOM":
            op_name = f"CUSTOM:{(code.CustomCode() or b'?').decode('utf-8', 'replace')}"
        ins = [tensor_names[i] if i >= 0 else "" for i in op.InputsAsNumpy()] if op.InputsLength() else []
        outs = [tensor_names[i] for i in op.OutputsAsNumpy()] if op.OutputsLength() else []
        if op_name not in HYBRID_OPS:
            ins = _dequantized_weights(ins, tensors)
        converter = CONVERTERS.get(op_name)
        if converter is None:
            problems.append((op_name, f"#{index}", "op not supported"))
            continue
        try:
            nodes.extend(converter(op, ins, outs, tensors, f"{op_name.lower()}_{index}"))
        except UnsupportedError as exc:
            problems.append((op_name, f"#{index}", str(exc)))
    if problems:
        raise UnsupportedError(unsupported_summary(problems).replace("(nodes ", "(operators "))
    runtime_inputs = [n for n in inputs if not tensors[n].is_constant]
    return Graph(path.stem, tensors, nodes, runtime_inputs, outputs, opset=13)


def _dequantized_weights(ins, tensors):
    """Dynamic-range ("hybrid") files give float ops int8 constant weights. TFLM has no hybrid
    kernels; the ops in HYBRID_OPS run TFLite's (inputs quantized on the fly), the others as
    float ops on the dequantized weights (see the README)."""
    if not ins or not ins[0] or tensors[ins[0]].dtype != "float32":
        return ins
    result = list(ins)
    for i, name in enumerate(ins[1:], 1):
        tensor = tensors.get(name) if name else None
        if tensor is None or tensor.data is None or tensor.dtype != "int8" or tensor.quant is None:
            continue
        q = tensor.quant
        shape = [1] * tensor.data.ndim
        if q.per_channel:
            shape[q.axis] = len(q.scales)
        scales = np.asarray(q.scales, np.float64).reshape(shape)
        zero_points = np.asarray(q.zero_points, np.float64)
        zero_points = zero_points.reshape(shape) if zero_points.size > 1 else zero_points.reshape(())
        values = ((tensor.data.astype(np.float64) - zero_points) * scales).astype(np.float32)
        result[i] = f"{name}/dequantized"
        tensors[result[i]] = Tensor(result[i], "float32", tensor.shape, values)
    return result


_ZERO_POINT_RANGE = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}


def _quantization(t, name, dtype, path):
    """The tensor's affine quantization, checked: scales finite and positive, zero points in
    the type's range."""
    q = t.Quantization()
    if q is None or q.ScaleLength() == 0:
        return None
    scales = tuple(float(s) for s in q.ScaleAsNumpy())
    zero_points = tuple(int(z) for z in q.ZeroPointAsNumpy()) if q.ZeroPointLength() else (0,) * len(scales)
    bad = [s for s in scales if not (np.isfinite(s) and s > 0)]
    if bad:
        raise UnsupportedError(f"{path}: tensor {name!r} has quantization scale {bad[0]}; scales must be "
                               "finite and positive: convert the model again")
    low, high = _ZERO_POINT_RANGE.get(dtype, (-2 ** 31, 2 ** 31 - 1))
    if len(zero_points) not in (1, len(scales)) or any(not low <= z <= high for z in zero_points):
        raise UnsupportedError(f"{path}: tensor {name!r} ({dtype}) has zero points {zero_points[:4]}; they "
                               f"must be one per scale, in [{low}, {high}]")
    return Quantization(scales, zero_points, int(q.QuantizedDimension()))


def _input_shape(g, tensor_names, name, shape, overrides):
    if name in overrides:
        return tuple(int(d) for d in overrides[name])
    index = tensor_names.index(name)
    t = g.Tensors(index)
    if t.ShapeSignatureLength():
        signature = [int(d) for d in t.ShapeSignatureAsNumpy()]
        if -1 in signature[1:]:
            raise ShapeError(f"input {name!r} has dynamic dimensions {signature}; pass "
                             f"--input-shape {name}=" + ",".join("1" if d < 0 else str(d) for d in signature))
        return tuple(1 if d < 0 else d for d in signature)
    return shape
