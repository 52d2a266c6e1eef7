"""TFLite operators -> IR nodes: one converter per builtin operator, in the CONVERTERS
table the frontend (tflite_frontend) dispatches on. Float ops map to the ONNX-like IR ops,
int8 ops to the quantized IR ops (prefixed "Q"); layout-sensitive ops are added op by op."""
import numpy as np

from edgeopt.errors import UnsupportedError
from edgeopt.ir import Node, Tensor


def _options(op, cls):
    table = op.BuiltinOptions()
    if table is None:
        return None
    options = cls()
    options.Init(table.Bytes, table.Pos)
    return options


# fused activation code -> float IR activation node (op_type, attrs, extra constant inputs)
_FUSED = {0: None, 1: ("Relu", {}), 2: ("Clip", {"min": -1.0, "max": 1.0}),
          3: ("Clip", {"min": 0.0, "max": 6.0}), 4: ("Tanh", {})}
_FUSED_NAMES = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}


def _float_activation(code, name, src, dst):
    if code not in _FUSED:
        raise UnsupportedError(f"fused activation {_FUSED_NAMES.get(code, code)} is not supported")
    if _FUSED[code] is None:
        return []
    op_type, attrs = _FUSED[code]
    return [Node(f"{name}_act", op_type, [src], [dst], dict(attrs), [name])]


def _fully_connected(op, ins, outs, tensors, name):
    import tflite

    options = _options(op, tflite.FullyConnectedOptions)
    activation = options.FusedActivationFunction() if options else 0
    if options is not None and options.WeightsFormat() != 0:
        raise UnsupportedError("shuffled weights formats are not supported")
    x, w = ins[0], ins[1]
    bias = ins[2] if len(ins) > 2 else ""
    out = outs[0]
    dtype = tensors[x].dtype
    if dtype == "int8":
        if tensors[w].dtype != "int8" or tensors[w].data is None:
            raise UnsupportedError("int8 fully-connected layers need constant int8 weights")
        if activation not in (0, 1, 2, 3):
            raise UnsupportedError(f"fused activation {_FUSED_NAMES.get(activation, activation)} on int8")
        return [Node(name, "QFullyConnected", [x, w, bias], [out],
                     {"fused_activation": _FUSED_NAMES[activation]}, [name])]
    if dtype != "float32":
        raise UnsupportedError(f"{dtype} fully-connected layers are not supported")
    pre = f"{name}/pre_activation" if _FUSED.get(activation) else out
    if tensors[w].dtype == "int8" and tensors[w].data is not None:  # dynamic range: TFLite's hybrid kernel
        asymmetric = bool(options.AsymmetricQuantizeInputs()) if options is not None else False
        return ([Node(name, "HybridFullyConnected", [x, w, bias], [pre], {"asymmetric": int(asymmetric)}, [name])]
                + _float_activation(activation, name, pre, out))
    nodes = []
    in_features = tensors[w].shape[1]
    flat = x
    if len(tensors[x].shape) != 2:
        flat = f"{name}/flat"
        shape_name = f"{name}/flat_shape"
        tensors[shape_name] = Tensor(shape_name, "int64", (2,), np.array([-1, in_features], np.int64))
        nodes.append(Node(f"{name}_flatten", "Reshape", [x, shape_name], [flat], {}, [name]))
    nodes.append(Node(name, "Gemm", [flat, w, bias] if bias else [flat, w], [pre], {"transB": 1}, [name]))
    nodes += _float_activation(activation, name, pre, out)
    if options is not None and options.KeepNumDims() and len(tensors[x].shape) != 2:
        raise UnsupportedError("keep_num_dims with a rank > 2 input is not supported")
    return nodes


def _reshape(op, ins, outs, tensors, name):
    shape_name = f"{name}/shape"
    target = tensors[outs[0]].shape
    tensors[shape_name] = Tensor(shape_name, "int64", (len(target),), np.array(target, np.int64))
    return [Node(name, "Reshape", [ins[0], shape_name], [outs[0]], {}, [name])]


def _quantize(op, ins, outs, tensors, name):
    if tensors[ins[0]].dtype == "int8" and tensors[outs[0]].dtype == "int8":  # requantization
        return [Node(name, "QRequantize", [ins[0]], [outs[0]], {}, [name])]
    if tensors[ins[0]].dtype != "float32" or tensors[outs[0]].dtype != "int8":
        raise UnsupportedError(f"QUANTIZE {tensors[ins[0]].dtype} -> {tensors[outs[0]].dtype} is not "
                               "supported (float32 -> int8 and int8 -> int8 are)")
    return [Node(name, "QQuantize", [ins[0]], [outs[0]], {}, [name])]


def _dequantize(op, ins, outs, tensors, name):
    if tensors[ins[0]].dtype != "int8" or tensors[outs[0]].dtype != "float32":
        raise UnsupportedError("only int8 -> float32 DEQUANTIZE is supported")
    return [Node(name, "QDequantize", [ins[0]], [outs[0]], {}, [name])]


_PADDING = {0: "SAME", 1: "VALID"}


def _int8_only(tensors, ins, what):
    if tensors[ins[0]].dtype != "int8":
        raise UnsupportedError(f"{tensors[ins[0]].dtype} {what} is not supported yet (int8 is)")


def _fused_int8(code):
    if code not in (0, 1, 2, 3):
        raise UnsupportedError(f"fused activation {_FUSED_NAMES.get(code, code)} on int8")
    return _FUSED_NAMES[code]


_AUTO_PAD = {0: "SAME_UPPER", 1: "VALID"}  # TFLite SAME puts the extra pad at the end


def _float_nhwc(name, x, out, op_type, inputs_after_x, attrs, activation):
    """Float NHWC tensors meet the NCHW float kernels through transposes; consecutive
    pairs cancel (passes.cancel_transposes)."""
    inside = f"{name}/nchw"
    nodes = [Node(f"{name}_to_nchw", "Transpose", [x], [inside], {"perm": [0, 3, 1, 2]}, [name])]
    result = f"{name}/nchw_out"
    pre = f"{name}/pre_activation" if _FUSED.get(activation) else result
    nodes.append(Node(name, op_type, [inside] + inputs_after_x, [pre], attrs, [name]))
    nodes += _float_activation(activation, name, pre, result)
    nodes.append(Node(f"{name}_to_nhwc", "Transpose", [result], [out], {"perm": [0, 2, 3, 1]}, [name]))
    return nodes


def _float_conv(op, ins, outs, tensors, name, depthwise, options):
    w = tensors[ins[1]].data
    if w is None:
        raise UnsupportedError("the filter must be a constant")
    in_c = tensors[ins[0]].shape[3]
    if depthwise:  # [1, H, W, C*m] -> [C*m, 1, H, W], one group per input channel
        weights, group = np.ascontiguousarray(w[0].transpose(2, 0, 1)[:, None]), in_c
    else:  # OHWI -> OIHW
        weights, group = np.ascontiguousarray(w.transpose(0, 3, 1, 2)), in_c // w.shape[3]
    w_name = f"{name}/oihw"
    tensors[w_name] = Tensor(w_name, "float32", weights.shape, weights.astype(np.float32))
    attrs = dict(strides=[options.StrideH(), options.StrideW()],
                 dilations=[options.DilationHFactor(), options.DilationWFactor()],
                 auto_pad=_AUTO_PAD[options.Padding()], group=group, kernel_shape=list(weights.shape[2:]))
    extra = [w_name] + ([ins[2]] if len(ins) > 2 and ins[2] else [])
    return _float_nhwc(name, ins[0], outs[0], "Conv", extra, attrs, options.FusedActivationFunction())


def _conv(op, ins, outs, tensors, name, depthwise=False):
    import tflite

    options = _options(op, tflite.DepthwiseConv2DOptions if depthwise else tflite.Conv2DOptions)
    w = tensors[ins[1]]
    if tensors[ins[0]].dtype == "float32" and w.dtype == "int8" and w.data is not None:
        if w.quant is None or not w.quant.per_channel or any(z != 0 for z in w.quant.zero_points):
            raise UnsupportedError("dynamic-range convolutions need per-channel symmetric int8 weights (TFLite's)")
        attrs = dict(padding=_PADDING[options.Padding()], stride_h=options.StrideH(), stride_w=options.StrideW(),
                     dilation_h=options.DilationHFactor(), dilation_w=options.DilationWFactor())
        code = options.FusedActivationFunction()
        pre = f"{name}/pre_activation" if _FUSED.get(code) else outs[0]
        bias = ins[2] if len(ins) > 2 else ""
        return ([Node(name, "HybridDepthwiseConv2D" if depthwise else "HybridConv2D", [ins[0], ins[1], bias], [pre],
                      attrs, [name])] + _float_activation(code, name, pre, outs[0]))
    if tensors[ins[0]].dtype == "float32":
        return _float_conv(op, ins, outs, tensors, name, depthwise, options)
    _int8_only(tensors, ins, "DEPTHWISE_CONV_2D" if depthwise else "CONV_2D")
    if tensors[ins[1]].data is None:
        raise UnsupportedError("the filter must be a constant")
    attrs = dict(padding=_PADDING[options.Padding()], stride_h=options.StrideH(), stride_w=options.StrideW(),
                 dilation_h=options.DilationHFactor(), dilation_w=options.DilationWFactor(),
                 fused_activation=_fused_int8(options.FusedActivationFunction()))
    bias = ins[2] if len(ins) > 2 else ""
    return [Node(name, "QDepthwiseConv2D" if depthwise else "QConv2D", [ins[0], ins[1], bias], [outs[0]],
                 attrs, [name])]


def _pool(kind):
    def convert(op, ins, outs, tensors, name):
        import tflite

        options = _options(op, tflite.Pool2DOptions)
        if tensors[ins[0]].dtype == "float32":
            attrs = dict(kernel_shape=[options.FilterHeight(), options.FilterWidth()],
                         strides=[options.StrideH(), options.StrideW()],
                         auto_pad=_AUTO_PAD[options.Padding()])
            op_type = "AveragePool" if kind == "AVERAGE" else "MaxPool"
            return _float_nhwc(name, ins[0], outs[0], op_type, [], attrs,
                               options.FusedActivationFunction())
        _int8_only(tensors, ins, f"{kind}_POOL_2D")
        attrs = dict(padding=_PADDING[options.Padding()], stride_h=options.StrideH(),
                     stride_w=options.StrideW(), filter_h=options.FilterHeight(),
                     filter_w=options.FilterWidth(),
                     fused_activation=_fused_int8(options.FusedActivationFunction()))
        op_type = "QAveragePool2D" if kind == "AVERAGE" else "QMaxPool2D"
        return [Node(name, op_type, [ins[0]], [outs[0]], attrs, [name])]
    return convert


def _pad(op, ins, outs, tensors, name):
    paddings = tensors[ins[1]].data
    if paddings is None or (len(ins) > 2 and ins[2]):
        raise UnsupportedError("PAD needs constant paddings and the default value")
    paddings = np.asarray(paddings).reshape(-1, 2)
    pads = [int(v) for v in paddings[:, 0]] + [int(v) for v in paddings[:, 1]]
    if tensors[ins[0]].dtype == "float32":
        return [Node(name, "Pad", [ins[0]], [outs[0]], {"pads": pads, "mode": "constant"}, [name])]
    _int8_only(tensors, ins, "PAD")
    return [Node(name, "QPad", [ins[0]], [outs[0]], {"pads": pads}, [name])]


def _mean(op, ins, outs, tensors, name):
    import tflite

    axes = tensors[ins[1]].data
    if axes is None:
        raise UnsupportedError("MEAN needs constant axes")
    options = _options(op, tflite.ReducerOptions)
    attrs = {"axes": [int(a) for a in np.atleast_1d(axes)], "keepdims": int(options.KeepDims()) if options else 0}
    if tensors[ins[0]].dtype == "int8":
        return [Node(name, "QMean", [ins[0]], [outs[0]], attrs, [name])]
    if tensors[ins[0]].dtype != "float32":
        raise UnsupportedError(f"{tensors[ins[0]].dtype} MEAN is not supported")
    return [Node(name, "ReduceMean", [ins[0]], [outs[0]], attrs, [name])]


def _softmax(op, ins, outs, tensors, name):
    import tflite

    options = _options(op, tflite.SoftmaxOptions)
    if tensors[ins[0]].dtype == "float32":
        if options is not None and options.Beta() != 1.0:
            raise UnsupportedError("float SOFTMAX with beta != 1 is not supported")
        return [Node(name, "Softmax", [ins[0]], [outs[0]], {"axis": -1}, [name])]
    _int8_only(tensors, ins, "SOFTMAX")
    return [Node(name, "QSoftmax", [ins[0]], [outs[0]], {"beta": options.Beta() if options else 1.0}, [name])]


def _elementwise(kind):
    def convert(op, ins, outs, tensors, name):
        import tflite

        options = _options(op, getattr(tflite, f"{kind.capitalize()}Options"))
        code = options.FusedActivationFunction() if options else 0
        if tensors[ins[0]].dtype == "int8":
            if kind == "div":
                raise UnsupportedError("int8 DIV is not supported")
            return [Node(name, f"Q{kind.capitalize()}", ins[:2], outs[:1],
                         {"fused_activation": _fused_int8(code)}, [name])]
        if tensors[ins[0]].dtype in ("int32", "int64") and not code:
            # shape arithmetic: folded at compile time (no integer kernel at run time)
            return [Node(name, kind.capitalize(), ins[:2], outs[:1], {}, [name])]
        if tensors[ins[0]].dtype != "float32":
            raise UnsupportedError(f"{tensors[ins[0]].dtype} {kind.upper()} is not supported")
        pre = f"{name}/pre_activation" if _FUSED.get(code) else outs[0]
        return [Node(name, kind.capitalize(), ins[:2], [pre], {}, [name])] + _float_activation(code, name, pre, outs[0])
    return convert


def _activation(kind):
    def convert(op, ins, outs, tensors, name):
        if tensors[ins[0]].dtype == "int8":
            if kind == "LEAKY_RELU":
                import tflite

                alpha = float(_options(op, tflite.LeakyReluOptions).Alpha())
                return [Node(name, "QLeakyRelu", ins[:1], outs[:1], {"alpha": alpha}, [name])]
            if kind in ("LOGISTIC", "TANH", "HARD_SWISH"):
                op_type = {"LOGISTIC": "QLogistic", "TANH": "QTanh", "HARD_SWISH": "QHardSwish"}[kind]
                return [Node(name, op_type, ins[:1], outs[:1], {}, [name])]
            return [Node(name, "QRelu", ins[:1], outs[:1], {"fused_activation": kind}, [name])]
        attrs = {}
        if kind == "LEAKY_RELU":
            import tflite

            attrs["alpha"] = float(_options(op, tflite.LeakyReluOptions).Alpha())
        op_type, fixed = {"RELU": ("Relu", {}), "RELU6": ("Clip", {"min": 0.0, "max": 6.0}),
                          "TANH": ("Tanh", {}), "LOGISTIC": ("Sigmoid", {}),
                          "LEAKY_RELU": ("LeakyRelu", {}), "HARD_SWISH": ("HardSwish", {})}[kind]
        return [Node(name, op_type, ins[:1], outs[:1], {**fixed, **attrs}, [name])]
    return convert


def _concatenation(op, ins, outs, tensors, name):
    import tflite

    options = _options(op, tflite.ConcatenationOptions)
    axis, code = options.Axis(), options.FusedActivationFunction()
    if code:
        raise UnsupportedError("a fused activation on CONCATENATION is not supported")
    op_type = "QConcat" if tensors[ins[0]].dtype == "int8" else "Concat"
    return [Node(name, op_type, ins, outs[:1], {"axis": axis}, [name])]


def _same_quantization(tensors, x, y, what):
    qx, qy = tensors[x].quant, tensors[y].quant
    if tensors[x].dtype == "int8" and (qx is None or qy is None or qx.scales != qy.scales
                                       or qx.zero_points != qy.zero_points):
        raise UnsupportedError(f"int8 {what} with different input and output quantization")


def _strided_slice(op, ins, outs, tensors, name):
    import tflite

    options = _options(op, tflite.StridedSliceOptions)
    attrs = {}
    if options is not None:
        attrs = dict(begin_mask=options.BeginMask(), end_mask=options.EndMask(),
                     ellipsis_mask=options.EllipsisMask(), new_axis_mask=options.NewAxisMask(),
                     shrink_axis_mask=options.ShrinkAxisMask(), offset=bool(options.Offset()))
    _same_quantization(tensors, ins[0], outs[0], "STRIDED_SLICE")
    return [Node(name, "StridedSlice", ins[:4], outs[:1], attrs, [name])]


def _slice(op, ins, outs, tensors, name):
    """SLICE(begin, size) is ONNX Slice(starts = begin, ends = begin + size; size -1: to the end)."""
    begin, size = tensors[ins[1]].data, tensors[ins[2]].data
    if begin is None or size is None:
        raise UnsupportedError("SLICE needs constant begin and size")
    _same_quantization(tensors, ins[0], outs[0], "SLICE")
    begin, size = np.asarray(begin, np.int64).reshape(-1), np.asarray(size, np.int64).reshape(-1)
    ends = np.where(size < 0, np.iinfo(np.int64).max, begin + size)
    names = [f"{name}/starts", f"{name}/ends"]
    for key, value in zip(names, (begin, ends)):
        tensors[key] = Tensor(key, "int64", value.shape, value)
    return [Node(name, "Slice", [ins[0]] + names, outs[:1], {}, [name])]


def _transpose(op, ins, outs, tensors, name):
    perm = tensors[ins[1]].data
    if perm is None:
        raise UnsupportedError("TRANSPOSE needs a constant permutation")
    _same_quantization(tensors, ins[0], outs[0], "TRANSPOSE")
    return [Node(name, "Transpose", ins[:1], outs[:1], {"perm": [int(p) for p in np.reshape(perm, -1)]}, [name])]


def _split(op, ins, outs, tensors, name, sized=False):
    """SPLIT(axis, x) in equal parts; SPLIT_V(x, size_splits, axis)."""
    x, axis_name = (ins[0], ins[2]) if sized else (ins[1], ins[0])
    axis = tensors[axis_name].data
    sizes = tensors[ins[1]].data if sized else None
    if axis is None or (sized and sizes is None):
        raise UnsupportedError("SPLIT needs a constant axis (and SPLIT_V constant sizes)")
    for out in outs:
        _same_quantization(tensors, x, out, "SPLIT")
    attrs = {"axis": int(np.reshape(axis, -1)[0])}
    if sized:
        attrs["split"] = [int(v) for v in np.reshape(sizes, -1)]
    return [Node(name, "Split", [x], outs, attrs, [name])]


def _float_only(op_type, arity):
    """Float ops without fused activations or options: MAXIMUM, SQUARED_DIFFERENCE, RSQRT ..."""
    def convert(op, ins, outs, tensors, name):
        if tensors[ins[0]].dtype not in ("float32", "int32", "int64"):  # integers: shapes, folded
            raise UnsupportedError(f"{tensors[ins[0]].dtype} is not supported yet (float32 is)")
        return [Node(name, op_type, ins[:arity], outs[:1], {}, [name])]
    return convert


def _binary_without_options(op_type):
    """MAXIMUM, MINIMUM, SQUARED_DIFFERENCE: float, or int8 as the Q op."""
    def convert(op, ins, outs, tensors, name):
        if tensors[ins[0]].dtype == "int8":
            return [Node(name, "Q" + {"Max": "Maximum", "Min": "Minimum"}.get(op_type, op_type), ins[:2], outs[:1],
                         {}, [name])]
        return _float_only(op_type, 2)(op, ins, outs, tensors, name)
    return convert


def _rsqrt(op, ins, outs, tensors, name):
    if tensors[ins[0]].dtype == "int8":
        return [Node(name, "QRsqrt", ins[:1], outs[:1], {}, [name])]
    return _float_only("Rsqrt", 1)(op, ins, outs, tensors, name)


def _gelu(op, ins, outs, tensors, name):
    import tflite

    options = _options(op, tflite.GeluOptions)
    approximate = bool(options.Approximate()) if options is not None else False
    if tensors[ins[0]].dtype == "int8":
        return [Node(name, "QGelu", ins[:1], outs[:1], {"approximate": int(approximate)}, [name])]
    return _float_only("GeluTanh" if approximate else "Gelu", 1)(op, ins, outs, tensors, name)


def _l2_normalization(op, ins, outs, tensors, name):
    import tflite

    options = _options(op, tflite.L2NormOptions)
    code = options.FusedActivationFunction() if options is not None else 0
    if tensors[ins[0]].dtype == "int8":
        if code:
            raise UnsupportedError("a fused activation on int8 L2_NORMALIZATION is not supported (TFLite has none)")
        return [Node(name, "QL2Normalization", ins[:1], outs[:1], {}, [name])]
    if tensors[ins[0]].dtype != "float32":
        raise UnsupportedError(f"{tensors[ins[0]].dtype} L2_NORMALIZATION is not supported (float32 and int8 are)")
    pre = f"{name}/pre_activation" if _FUSED.get(code) else outs[0]
    return [Node(name, "L2Normalization", ins[:1], [pre], {}, [name])] + _float_activation(code, name, pre, outs[0])


def _batch_matmul(op, ins, outs, tensors, name):
    """BATCH_MATMUL(x, y) with adj_x/adj_y: MatMul, the adjoint operands transposed first."""
    import tflite

    options = _options(op, tflite.BatchMatMulOptions)
    adjoints = (options.AdjX(), options.AdjY()) if options else (False, False)
    if tensors[ins[0]].dtype == "int8":
        return [Node(name, "QBatchMatMul", ins[:2], outs[:1], {"adj_x": int(adjoints[0]), "adj_y": int(adjoints[1])},
                     [name])]
    if tensors[ins[0]].dtype != "float32":
        raise UnsupportedError(f"{tensors[ins[0]].dtype} BATCH_MATMUL is not supported (float32 and int8 are)")
    nodes, operands = [], []
    for operand, adjoint in zip(ins[:2], adjoints):
        if adjoint:
            rank = len(tensors[operand].shape)
            perm = list(range(rank - 2)) + [rank - 1, rank - 2]
            nodes.append(Node(f"{name}_adjoint_{len(operands)}", "Transpose", [operand],
                              [f"{name}/adjoint_{len(operands)}"], {"perm": perm}, [name]))
            operand = f"{name}/adjoint_{len(operands)}"
        operands.append(operand)
    return nodes + [Node(name, "MatMul", operands, outs[:1], {}, [name])]


def _sequence_lstm(op, ins, outs, tensors, name):
    """UNIDIRECTIONAL_SEQUENCE_LSTM (float) as the IR's LSTM: TFLite's i, f, c, o weight tensors
    stacked in ONNX's i, o, f, c order; the state tensors start at zero on every call, as
    TFLM's do after a reset."""
    import tflite

    if tensors[ins[0]].dtype not in ("float32", "int8"):
        raise UnsupportedError(f"{tensors[ins[0]].dtype} UNIDIRECTIONAL_SEQUENCE_LSTM is not supported "
                               "(float32 and int8 are)")
    options = _options(op, tflite.UnidirectionalSequenceLSTMOptions)
    present = lambda index: index < len(ins) and bool(ins[index])  # noqa: E731
    missing = {"CIFG (no input gate)": not present(1), "peepholes": any(present(i) for i in (9, 10, 11)),
               "projection": present(16), "layer normalization": any(present(i) for i in range(20, 24)),
               "projection clipping": options is not None and options.ProjClip(),
               "an activation other than TANH": options is not None and options.FusedActivationFunction() != 4}
    problems = [what for what, found in missing.items() if found]
    if problems:
        raise UnsupportedError(", ".join(problems) + " not supported yet")
    order = (1, 4, 2, 3, 5, 8, 6, 7, 12, 15, 13, 14)  # i, o, f, c weights, recurrent weights, biases
    if not all(present(i) for i in order):
        raise UnsupportedError("every gate needs its weights, recurrent weights and bias")
    time_major = bool(options.TimeMajor()) if options is not None else False
    cell_clip = float(options.CellClip()) if options is not None else 0.0
    if tensors[ins[0]].dtype == "int8":
        return _sequence_lstm_s8(ins, outs, tensors, name, time_major, cell_clip)
    weights = [tensors[ins[i]].data for i in order]
    if any(w is None for w in weights):
        raise UnsupportedError("weights and biases must be constants")
    hidden = weights[0].shape[0]
    w = np.concatenate(weights[0:4])[None].astype(np.float32)
    r = np.concatenate(weights[4:8])[None].astype(np.float32)
    b = np.concatenate(list(weights[8:12]) + [np.zeros(4 * hidden, np.float32)])[None].astype(np.float32)
    for key, value in (("W", w), ("R", r), ("B", b)):
        tensors[f"{name}/{key}"] = Tensor(f"{name}/{key}", "float32", value.shape, value)
    sequence = f"{name}/y"
    shape_name = f"{name}/y_shape"
    target = tensors[outs[0]].shape
    tensors[shape_name] = Tensor(shape_name, "int64", (len(target),), np.array(target, np.int64))
    return [Node(name, "LSTM", [ins[0], f"{name}/W", f"{name}/R", f"{name}/B"], [sequence],
                 {"hidden_size": int(hidden), "layout": 0 if time_major else 1,
                  "cell_clip": cell_clip}, [name]),
            Node(f"{name}_squeeze", "Reshape", [sequence, shape_name], outs[:1], {}, [name])]


def _sequence_lstm_s8(ins, outs, tensors, name, time_major, cell_clip):
    """int8 UNIDIRECTIONAL_SEQUENCE_LSTM as QLstm: TFLite's inputs (x, the four input weights,
    the four recurrent weights, the four biases, in TFLite's i, f, c, o order) and the state
    tensors' quantization, which TFLM's integer kernel computes with."""
    weights = [ins[i] for i in (*range(1, 9), *range(12, 16))]
    if any(tensors[w].data is None for w in weights):
        raise UnsupportedError("weights and biases must be constants")
    states = [tensors[ins[i]] if len(ins) > i and ins[i] else None for i in (18, 19)]
    if any(s is None or s.quant is None for s in states) or states[1].dtype != "int16":
        raise UnsupportedError("int8 LSTM needs a quantized int8 hidden state and an int16 cell state")
    hidden, cell = (s.quant for s in states)
    return [Node(name, "QLstm", [ins[0]] + weights, outs[:1],
                 {"time_major": int(time_major), "cell_clip": cell_clip, "hidden_scale": float(hidden.scales[0]),
                  "hidden_zero_point": int(hidden.zero_points[0]), "cell_scale": float(cell.scales[0])}, [name])]


def _cast(op, ins, outs, tensors, name):
    from onnx import helper  # the IR's Cast takes ONNX element type codes

    to = helper.np_dtype_to_tensor_dtype(np.dtype(tensors[outs[0]].dtype))
    return [Node(name, "Cast", ins[:1], outs[:1], {"to": int(to)}, [name])]


def _unpack(op, ins, outs, tensors, name):
    import tflite

    axis = _options(op, tflite.UnpackOptions).Axis()
    return [Node(name, "Unpack", ins[:1], outs, {"axis": axis}, [name])]


def _shape_arithmetic(op_type):
    """Shape computations (SHAPE -> STRIDED_SLICE/GATHER -> PACK -> ..., the converter's
    dynamic-batch prelude): folded at compile time like any node whose inputs are known, or
    dropped when nothing needs them (RESHAPE uses its declared shape)."""
    def convert(op, ins, outs, tensors, name):
        import tflite

        attrs = {}
        if op_type == "Gather":
            attrs["axis"] = _options(op, tflite.GatherOptions).Axis()
        elif op_type == "Pack":
            attrs["axis"] = _options(op, tflite.PackOptions).Axis()
        elif op_type == "ReduceProd":
            attrs["keepdims"] = int(_options(op, tflite.ReducerOptions).KeepDims())
        return [Node(name, op_type, list(ins), outs[:1], attrs, [name])]
    return convert


# float ops with int8 weights that run TFLite's hybrid kernels (the rest: dequantized weights)
HYBRID_OPS = {"FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D"}

CONVERTERS = {
    "SHAPE": _shape_arithmetic("Shape"),
    "GATHER": _shape_arithmetic("Gather"),
    "PACK": _shape_arithmetic("Pack"),
    "REDUCE_PROD": _shape_arithmetic("ReduceProd"),
    "STRIDED_SLICE": _strided_slice,
    "SLICE": _slice,
    "TRANSPOSE": _transpose,
    "CAST": _cast,
    "MAXIMUM": _binary_without_options("Max"),
    "MINIMUM": _binary_without_options("Min"),
    "SQUARED_DIFFERENCE": _binary_without_options("SquaredDifference"),
    "RSQRT": _rsqrt,
    "GELU": _gelu,
    "L2_NORMALIZATION": _l2_normalization,
    "BATCH_MATMUL": _batch_matmul,
    "UNIDIRECTIONAL_SEQUENCE_LSTM": _sequence_lstm,
    "SPLIT": _split,
    "SPLIT_V": lambda *args: _split(*args, sized=True),
    "UNPACK": _unpack,
    "FILL": lambda op, ins, outs, tensors, name: [Node(name, "Expand", [ins[1], ins[0]], outs[:1], {}, [name])],
    "DIV": _elementwise("div"),
    "ADD": _elementwise("add"),
    "SUB": _elementwise("sub"),
    "MUL": _elementwise("mul"),
    "RELU": _activation("RELU"),
    "RELU6": _activation("RELU6"),
    "TANH": _activation("TANH"),
    "LOGISTIC": _activation("LOGISTIC"),
    "LEAKY_RELU": _activation("LEAKY_RELU"),
    "HARD_SWISH": _activation("HARD_SWISH"),
    "CONCATENATION": _concatenation,
    "SQUEEZE": lambda op, ins, outs, tensors, name: _reshape(op, ins[:1], outs, tensors, name),
    "EXPAND_DIMS": lambda op, ins, outs, tensors, name: _reshape(op, ins[:1], outs, tensors, name),
    "CONV_2D": _conv,
    "DEPTHWISE_CONV_2D": lambda *args: _conv(*args, depthwise=True),
    "AVERAGE_POOL_2D": _pool("AVERAGE"),
    "MAX_POOL_2D": _pool("MAX"),
    "PAD": _pad,
    "MEAN": _mean,
    "SOFTMAX": _softmax,
    "FULLY_CONNECTED": _fully_connected,
    "RESHAPE": _reshape,
    "QUANTIZE": _quantize,
    "DEQUANTIZE": _dequantize,
}
