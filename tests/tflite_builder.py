"""Writes small TFLite flatbuffers (one subgraph) for single-op tests, with the `tflite`
schema package's builder functions. The TFLM interpreter then serves as the reference."""
from __future__ import annotations

from dataclasses import dataclass, field

import flatbuffers
import numpy as np
import tflite

_TYPES = {"float32": 0, "int32": 2, "int16": 7, "int8": 9}


@dataclass
class T:
    """A tensor: data (constant) or None, and quantization (scales, zero points, axis)."""

    name: str
    dtype: str
    shape: tuple
    data: np.ndarray = None
    scales: tuple = ()
    zero_points: tuple = ()
    axis: int = 0
    variable: bool = False  # a state tensor (LSTM): TFLM keeps it across steps


@dataclass
class Op:
    code: int  # tflite.BuiltinOperator.X
    inputs: list
    outputs: list
    options: object = None  # (options type, builder function b -> offset)
    extra: dict = field(default_factory=dict)


def _int_vector(b, start, values):
    start(b, len(values))
    for v in reversed(values):
        b.PrependInt32(int(v))
    return b.EndVector()


def build(tensors, ops, inputs, outputs) -> bytes:
    b = flatbuffers.Builder(4096)
    index = {t.name: i for i, t in enumerate(tensors)}
    buffers = []
    for t in tensors:  # buffer 0 stays empty, as converters write it
        if t.data is None:
            buffers.append(None)
            continue
        raw = np.ascontiguousarray(t.data.astype(np.dtype(t.dtype).newbyteorder("<"))).view(np.uint8).reshape(-1)
        b.StartVector(1, len(raw), 16)
        for byte in reversed(raw.tolist()):
            b.PrependUint8(byte)
        buffers.append(b.EndVector())
    buffer_offsets = []
    for data in [None] + buffers:
        tflite.BufferStart(b)
        if data is not None:
            tflite.BufferAddData(b, data)
        buffer_offsets.append(tflite.BufferEnd(b))
    tensor_offsets = []
    for i, t in enumerate(tensors):
        name = b.CreateString(t.name)
        shape = _int_vector(b, tflite.TensorStartShapeVector, t.shape)
        quant = None
        if t.scales:
            tflite.QuantizationParametersStartScaleVector(b, len(t.scales))
            for s in reversed(t.scales):
                b.PrependFloat32(float(s))
            scales = b.EndVector()
            tflite.QuantizationParametersStartZeroPointVector(b, len(t.zero_points))
            for z in reversed(t.zero_points):
                b.PrependInt64(int(z))
            zps = b.EndVector()
            tflite.QuantizationParametersStart(b)
            tflite.QuantizationParametersAddScale(b, scales)
            tflite.QuantizationParametersAddZeroPoint(b, zps)
            tflite.QuantizationParametersAddQuantizedDimension(b, t.axis)
            quant = tflite.QuantizationParametersEnd(b)
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape)
        tflite.TensorAddType(b, _TYPES[t.dtype])
        tflite.TensorAddBuffer(b, 0 if t.data is None else i + 1)
        tflite.TensorAddName(b, name)
        if quant is not None:
            tflite.TensorAddQuantization(b, quant)
        if t.variable:
            tflite.TensorAddIsVariable(b, True)
        tensor_offsets.append(tflite.TensorEnd(b))
    codes = sorted({op.code for op in ops})
    op_offsets = []
    for op in ops:
        ins = _int_vector(b, tflite.OperatorStartInputsVector, [index[n] if n else -1 for n in op.inputs])
        outs = _int_vector(b, tflite.OperatorStartOutputsVector, [index[n] for n in op.outputs])
        options = op.options[1](b) if op.options else None
        tflite.OperatorStart(b)
        tflite.OperatorAddOpcodeIndex(b, codes.index(op.code))
        tflite.OperatorAddInputs(b, ins)
        tflite.OperatorAddOutputs(b, outs)
        if options is not None:
            tflite.OperatorAddBuiltinOptionsType(b, op.options[0])
            tflite.OperatorAddBuiltinOptions(b, options)
        op_offsets.append(tflite.OperatorEnd(b))
    code_offsets = []
    for code in codes:
        tflite.OperatorCodeStart(b)
        tflite.OperatorCodeAddBuiltinCode(b, code)
        tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
        tflite.OperatorCodeAddVersion(b, 1)
        code_offsets.append(tflite.OperatorCodeEnd(b))

    def vector(start, offsets):
        start(b, len(offsets))
        for o in reversed(offsets):
            b.PrependUOffsetTRelative(o)
        return b.EndVector()

    tensors_vec = vector(tflite.SubGraphStartTensorsVector, tensor_offsets)
    ops_vec = vector(tflite.SubGraphStartOperatorsVector, op_offsets)
    in_vec = _int_vector(b, tflite.SubGraphStartInputsVector, [index[n] for n in inputs])
    out_vec = _int_vector(b, tflite.SubGraphStartOutputsVector, [index[n] for n in outputs])
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, tensors_vec)
    tflite.SubGraphAddInputs(b, in_vec)
    tflite.SubGraphAddOutputs(b, out_vec)
    tflite.SubGraphAddOperators(b, ops_vec)
    subgraph = tflite.SubGraphEnd(b)
    subgraphs = vector(tflite.ModelStartSubgraphsVector, [subgraph])
    codes_vec = vector(tflite.ModelStartOperatorCodesVector, code_offsets)
    buffers_vec = vector(tflite.ModelStartBuffersVector, buffer_offsets)
    description = b.CreateString("edgeopt test model")
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddOperatorCodes(b, codes_vec)
    tflite.ModelAddSubgraphs(b, subgraphs)
    tflite.ModelAddDescription(b, description)
    tflite.ModelAddBuffers(b, buffers_vec)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def options(kind, **fields):
    """(BuiltinOptions type, builder) for e.g. options("Conv2DOptions", Padding=0, StrideW=1)."""
    def make(b):
        getattr(tflite, f"{kind}Start")(b)
        for key, value in fields.items():
            getattr(tflite, f"{kind}Add{key}")(b, value)
        return getattr(tflite, f"{kind}End")(b)
    return getattr(tflite.BuiltinOptions, kind), make
