"""Keras layers -> IR nodes: one converter per layer class, in the LAYERS table the frontend's
builder (keras_frontend) calls with (builder, layer name, config, input tensor names,
weights); and the Keras activations."""
import numpy as np

from edgeopt.errors import UnsupportedError
from edgeopt.ir import Node

RECURRENT_NOT_YET = {"ConvLSTM1D", "ConvLSTM2D", "TimeDistributed", "CuDNNGRU", "CuDNNLSTM"}
IDENTITY = {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise", "GaussianDropout",
            "AlphaDropout", "ActivityRegularization"}


def activation_name(activation):
    if isinstance(activation, dict):  # a serialized activation object
        activation = activation.get("config", {}).get("name") or activation.get("class_name", "")
    return str(activation or "linear").lower()


ACTIVATIONS = {
    "relu": ("Relu", {}), "relu6": ("Clip", {"min": 0.0, "max": 6.0}), "sigmoid": ("Sigmoid", {}),
    "tanh": ("Tanh", {}), "elu": ("Elu", {"alpha": 1.0}), "selu": ("Selu", {}),
    "leaky_relu": ("LeakyRelu", {"alpha": 0.2}), "hard_sigmoid": ("HardSigmoid", {"alpha": 0.2, "beta": 0.5}),
    "hard_swish": ("HardSwish", {}), "hard_silu": ("HardSwish", {}),
}
# ACTIVATIONS are one IR op each; the builder composes the rest
SUPPORTED_ACTIVATIONS = set(ACTIVATIONS) | {"linear", "swish", "silu", "softmax"}


# ---- layers: (builder, layer name, config, input tensor names, weights) -> output tensor name ----

def _tuple(value, count):
    values = list(value) if isinstance(value, (list, tuple)) else [value] * count
    if len(values) != count:
        raise UnsupportedError(f"expected {count} values, found {values}")
    return [int(v) for v in values]


def _dense(b, name, config, inputs, weights):
    kernel = b.const(f"{name}/kernel", weights["kernel"].astype(np.float32))
    bias = b.const(f"{name}/bias", weights["bias"].astype(np.float32)) if config.get("use_bias", True) else None
    if b.rank[inputs[0]] == 2:  # the dense kernel with its bias; MatMul + Add on other ranks
        y = b.node(name, "Gemm", [inputs[0], kernel] + ([bias] if bias else []), f"{name}/gemm")
    else:
        y = b.node(name, "MatMul", [inputs[0], kernel], f"{name}/matmul")
        if bias:
            y = b.node(name, "Add", [y, bias], f"{name}/biased")
    return b.activation(name, y, config.get("activation"), name)


def _channels_first(b, name, x, spatial):
    return b.node(name, "Transpose", [x], f"{name}/ncx", {"perm": [0, spatial + 1] + list(range(1, spatial + 1))})


def _channels_last(b, name, x, spatial, out):
    return b.node(name, "Transpose", [x], out, {"perm": [0] + list(range(2, spatial + 2)) + [1]})


def _window_attrs(config, spatial, kernel, strides_key="strides"):
    dilation = _tuple(config.get("dilation_rate", 1), spatial)
    strides = _tuple(config.get(strides_key) or kernel, spatial)
    padding = config.get("padding", "valid")
    attrs = dict(kernel_shape=kernel, strides=strides)
    if padding == "valid":
        attrs["auto_pad"] = "VALID"
    elif padding == "same":
        attrs["auto_pad"] = "SAME_UPPER"  # TensorFlow puts the odd pad at the end
    elif padding == "causal" and spatial == 1:
        attrs["pads"] = [dilation[0] * (kernel[0] - 1), 0]
    else:
        raise UnsupportedError(f"padding {padding!r}")
    return attrs, dilation


def _conv_node(b, name, config, x, weight, bias, group, spatial, out, activation):
    kernel = list(weight.shape[2:])
    attrs, dilation = _window_attrs(config, spatial, kernel)
    attrs.update(dilations=dilation, group=group)
    inputs = [x, b.const(f"{name}/{out}_oix", np.ascontiguousarray(weight, np.float32))]
    if bias is not None:
        inputs.append(b.const(f"{name}/{out}_bias", bias.astype(np.float32)))
    y = b.node(name, "Conv", inputs, f"{name}/{out}_ncx", attrs)
    return b.activation(name, y, activation, f"{name}/{out}_act") if activation else y


def _conv(spatial):
    def convert(b, name, config, inputs, weights):
        kernel = weights["kernel"]  # (*k, in / groups, out) -> (out, in / groups, *k)
        weight = kernel.transpose([spatial + 1, spatial] + list(range(spatial)))
        x = _channels_first(b, name, inputs[0], spatial)
        bias = weights.get("bias") if config.get("use_bias", True) else None
        y = _conv_node(b, name, config, x, weight, bias, int(config.get("groups", 1)), spatial, "conv",
                       config.get("activation"))
        return _channels_last(b, name, y, spatial, name)
    return convert


def _depthwise_weight(kernel):
    """(kh, kw, in, multiplier) -> (in * multiplier, 1, kh, kw): output channel c * m + j."""
    kh, kw, channels, multiplier = kernel.shape
    return kernel.transpose(2, 3, 0, 1).reshape(channels * multiplier, 1, kh, kw), channels


def _depthwise(b, name, config, inputs, weights):
    weight, channels = _depthwise_weight(weights.get("depthwise_kernel", weights.get("kernel")))  # Keras 2, 3
    x = _channels_first(b, name, inputs[0], 2)
    bias = weights.get("bias") if config.get("use_bias", True) else None
    y = _conv_node(b, name, config, x, weight, bias, channels, 2, "depthwise", config.get("activation"))
    return _channels_last(b, name, y, 2, name)


def _separable(b, name, config, inputs, weights):
    weight, channels = _depthwise_weight(weights["depthwise_kernel"])
    x = _channels_first(b, name, inputs[0], 2)
    y = _conv_node(b, name, config, x, weight, None, channels, 2, "depthwise", None)
    pointwise = weights["pointwise_kernel"]  # (1, 1, in * m, out)
    bias = weights.get("bias") if config.get("use_bias", True) else None
    y = _conv_node(b, name, dict(padding="valid"), y, pointwise.transpose(3, 2, 0, 1), bias, 1, 2, "pointwise",
                   config.get("activation"))
    return _channels_last(b, name, y, 2, name)


def _pool(op_type, spatial):
    def convert(b, name, config, inputs, weights):
        kernel = _tuple(config.get("pool_size", 2), spatial)
        attrs, _ = _window_attrs(dict(config, dilation_rate=1), spatial, kernel)
        if op_type == "AveragePool":
            attrs["count_include_pad"] = 0  # TensorFlow averages over the valid inputs only
        y = b.node(name, op_type, [_channels_first(b, name, inputs[0], spatial)], f"{name}/pooled", attrs)
        return _channels_last(b, name, y, spatial, name)
    return convert


def _global_pool(op_type, spatial):
    def convert(b, name, config, inputs, weights):
        keep = int(bool(config.get("keepdims", False)))
        rank = b.rank[inputs[0]] - (0 if keep else spatial)
        return b.node(name, op_type, inputs[:1], name, {"axes": list(range(1, spatial + 1)), "keepdims": keep},
                      rank=rank)
    return convert


def _batchnorm(b, name, config, inputs, weights):
    axis = config.get("axis", -1)
    axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
    rank = b.rank[inputs[0]]
    if not isinstance(axis, int) or axis % rank != rank - 1:
        raise UnsupportedError(f"axis {axis}: only the last (channels) axis is supported")
    mean, variance = weights["moving_mean"], weights["moving_variance"]
    gamma = weights.get("gamma", np.ones_like(mean)) if config.get("scale", True) else np.ones_like(mean)
    beta = weights.get("beta", np.zeros_like(mean)) if config.get("center", True) else np.zeros_like(mean)
    scale = gamma / np.sqrt(variance.astype(np.float64) + float(config.get("epsilon", 1e-3)))
    y = b.node(name, "Mul", [inputs[0], b.const(f"{name}/scale", scale.astype(np.float32))], f"{name}/scaled")
    return b.node(name, "Add", [y, b.const(f"{name}/shift", (beta - mean * scale).astype(np.float32))], name)


def _merge(op_type):
    def convert(b, name, config, inputs, weights):
        y = inputs[0]
        for index, x in enumerate(inputs[1:], 1):
            y = b.node(name, op_type, [y, x], name if index == len(inputs) - 1 else f"{name}/{index}")
        return y
    return convert


def _average(b, name, config, inputs, weights):
    total = _merge("Add")(b, f"{name}/sum", config, inputs, weights)
    return b.node(name, "Mul", [total, b.const(f"{name}/inverse", np.float32(1.0 / len(inputs)))], name)


def _concatenate(b, name, config, inputs, weights):
    return b.node(name, "Concat", inputs, name, {"axis": int(config.get("axis", -1))})


def _reshape(b, name, config, inputs, weights):
    target = [1] + [int(d) for d in config["target_shape"]]
    return b.node(name, "Reshape", [inputs[0], b.const(f"{name}/shape", np.array(target, np.int64))], name,
                  rank=len(target))


def _zero_padding(spatial):
    def convert(b, name, config, inputs, weights):
        padding = config.get("padding", 1)
        if spatial == 1:
            pairs = [_tuple(padding, 2)]
        elif isinstance(padding, (list, tuple)) and all(isinstance(p, (list, tuple)) for p in padding):
            pairs = [_tuple(p, 2) for p in padding]
        else:
            pairs = [[v, v] for v in _tuple(padding, 2)]
        begin, end = [0] + [p[0] for p in pairs] + [0], [0] + [p[1] for p in pairs] + [0]
        return b.node(name, "Pad", inputs[:1], name, {"pads": begin + end, "mode": "constant"})
    return convert


def _relu(b, name, config, inputs, weights):
    max_value = config.get("max_value")
    slope = float(config.get("negative_slope", 0.0) or 0.0)
    if float(config.get("threshold", 0.0) or 0.0) != 0.0 or (slope and max_value is not None):
        raise UnsupportedError("ReLU with a threshold, or with both a slope and a max_value")
    if slope:
        return b.node(name, "LeakyRelu", inputs[:1], name, {"alpha": slope})
    if max_value is not None:
        return b.node(name, "Clip", inputs[:1], name, {"min": 0.0, "max": float(max_value)})
    return b.node(name, "Relu", inputs[:1], name)


def _leaky_relu(b, name, config, inputs, weights):
    alpha = config.get("negative_slope", config.get("alpha", 0.3 if not b.keras3 else 0.2))
    return b.node(name, "LeakyRelu", inputs[:1], name, {"alpha": float(alpha)})


def _softmax(b, name, config, inputs, weights):
    axis = config.get("axis", -1)
    if isinstance(axis, list):
        if len(axis) != 1:
            raise UnsupportedError(f"softmax over several axes {axis}")
        axis = axis[0]
    return b.node(name, "Softmax", inputs[:1], name, {"axis": int(axis)})


# Keras gate blocks -> ONNX's: GRU z, r, h in both; LSTM i, f, c, o -> i, o, f, c
_GATE_ORDER = {"SimpleRNN": [0], "GRU": [0, 1, 2], "LSTM": [0, 3, 1, 2]}
_ONNX_CELL = {"SimpleRNN": "RNN", "GRU": "GRU", "LSTM": "LSTM"}


def _recurrent_activation(b, name):
    name = activation_name(name)
    kinds = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu", "hard_sigmoid": "HardSigmoid"}
    if name not in kinds:
        raise UnsupportedError(f"activation {name!r} in a recurrent layer (sigmoid, tanh, relu and "
                               "hard_sigmoid are supported)")
    alpha = (1.0 / 6.0 if b.keras3 else 0.2) if name == "hard_sigmoid" else None
    return kinds[name], alpha


def _cell(b, kind, config, weights):
    """One direction of a Keras recurrent layer as ONNX's W, R, B (each (1, ...)) and attributes."""
    for key in ("stateful", "return_state"):
        if config.get(key):
            raise UnsupportedError(f"{key}=True is not supported yet")
    if config.get("time_major"):
        raise UnsupportedError("time_major=True is not supported yet")
    hidden, order = int(config["units"]), _GATE_ORDER[kind]

    def gates(matrix):  # (rows, gates * hidden) -> ONNX (1, gates * hidden, rows)
        blocks = [matrix[..., g * hidden:(g + 1) * hidden] for g in order]
        return np.concatenate(blocks, axis=-1).T[None].astype(np.float32)

    w, r = gates(weights["kernel"]), gates(weights["recurrent_kernel"])
    bias = weights.get("bias") if config.get("use_bias", True) else None
    if bias is None:
        bias = np.zeros(2 * w.shape[1], np.float32)
    elif bias.ndim == 2:  # GRU reset_after: input and recurrent biases
        bias = np.concatenate([gates(bias[0][None])[0, :, 0], gates(bias[1][None])[0, :, 0]])
    else:
        bias = np.concatenate([gates(bias[None])[0, :, 0], np.zeros(w.shape[1], np.float32)])
    activation = _recurrent_activation(b, config.get("activation", "tanh"))
    if kind == "SimpleRNN":
        activations = [activation]
    else:
        gate = _recurrent_activation(b, config.get("recurrent_activation", "sigmoid"))
        activations = [gate, activation] + ([activation] if kind == "LSTM" else [])
    attrs = dict(hidden_size=hidden, layout=1, activations=[k for k, _ in activations])
    alphas = [a for _, a in activations if a is not None]
    if alphas:
        attrs.update(activation_alpha=alphas, activation_beta=[0.5] * len(alphas))
    if kind == "GRU":
        attrs["linear_before_reset"] = int(bool(config.get("reset_after", b.keras3)))
    return w, r, bias[None], attrs


def _recurrent_node(b, name, kind, inputs, cells, direction, return_sequences, reverse_steps):
    """The ONNX-style node for one or two directions' cells, and Keras's output from it."""
    (w, r, bias, attrs), directions = cells[0], len(cells)
    if directions == 2:
        w, r, bias = (np.concatenate([c[i] for c in cells]) for i in range(3))
        for key in ("activations", "activation_alpha", "activation_beta"):
            if key in attrs:
                attrs = dict(attrs, **{key: cells[0][3][key] + cells[1][3][key]})
    hidden = attrs["hidden_size"]
    outputs = [f"{name}/y", f"{name}/y_h"] + ([f"{name}/y_c"] if kind == "LSTM" else [])
    ins = [inputs[0], b.const(f"{name}/W", w), b.const(f"{name}/R", r), b.const(f"{name}/B", bias)]
    b.nodes.append(Node(name, _ONNX_CELL[kind], ins, outputs, dict(attrs, direction=direction), [name]))
    b.rank[outputs[0]], b.rank[outputs[1]] = 4, 3
    if return_sequences:
        y = outputs[0]
        if reverse_steps:  # go_backwards: Keras returns the steps in the order it ran them
            y = b.node(name, "Slice", [y, b.const(f"{name}/start", np.array([-1])),
                                       b.const(f"{name}/end", np.array([-2 ** 62])),
                                       b.const(f"{name}/axis", np.array([1])),
                                       b.const(f"{name}/step", np.array([-1]))], f"{name}/in_run_order")
        target = np.array([1, -1, directions * hidden], np.int64)  # Bidirectional: concatenated
        return b.node(name, "Reshape", [y, b.const(f"{name}/shape", target)], name, rank=3)
    target = np.array([1, directions * hidden], np.int64)
    return b.node(name, "Reshape", [outputs[1], b.const(f"{name}/shape", target)], name, rank=2)


def _recurrent(kind):
    def convert(b, name, config, inputs, weights):
        backwards = bool(config.get("go_backwards"))
        return _recurrent_node(b, name, kind, inputs, [_cell(b, kind, config, weights)],
                               "reverse" if backwards else "forward", config.get("return_sequences"), backwards)
    return convert


def _bidirectional(b, name, config, inputs, weights):
    inner = config["layer"]
    kind, inner_config = inner["class_name"], inner["config"]
    if kind not in _GATE_ORDER:
        raise UnsupportedError(f"Bidirectional around {kind!r} (SimpleRNN, GRU and LSTM are supported)")
    if config.get("merge_mode", "concat") != "concat":
        raise UnsupportedError(f"merge_mode {config.get('merge_mode')!r} (concat is supported)")
    backward = config.get("backward_layer")  # absent: the forward layer's backward copy
    backward_config = backward["config"] if backward else inner_config
    if inner_config.get("go_backwards") or (backward and not backward_config.get("go_backwards")):
        raise UnsupportedError("only a forward layer with its backward copy is supported")
    sides = [{key.split("/", 1)[1]: value for key, value in weights.items() if key.startswith(f"{side}/")}
             for side in ("forward", "backward")]
    cells = [_cell(b, kind, inner_config, sides[0]), _cell(b, kind, dict(backward_config, go_backwards=False), sides[1])]
    return _recurrent_node(b, name, kind, inputs, cells, "bidirectional", inner_config.get("return_sequences"), False)


LAYERS = {
    "Dense": _dense,
    "SimpleRNN": _recurrent("SimpleRNN"), "GRU": _recurrent("GRU"), "LSTM": _recurrent("LSTM"),
    "Bidirectional": _bidirectional,
    "Conv1D": _conv(1), "Conv2D": _conv(2),
    "DepthwiseConv2D": _depthwise, "SeparableConv2D": _separable,
    "MaxPooling1D": _pool("MaxPool", 1), "MaxPooling2D": _pool("MaxPool", 2),
    "MaxPool1D": _pool("MaxPool", 1), "MaxPool2D": _pool("MaxPool", 2),
    "AveragePooling1D": _pool("AveragePool", 1), "AveragePooling2D": _pool("AveragePool", 2),
    "AvgPool1D": _pool("AveragePool", 1), "AvgPool2D": _pool("AveragePool", 2),
    "GlobalAveragePooling1D": _global_pool("ReduceMean", 1), "GlobalAveragePooling2D": _global_pool("ReduceMean", 2),
    "GlobalMaxPooling1D": _global_pool("ReduceMax", 1), "GlobalMaxPooling2D": _global_pool("ReduceMax", 2),
    "Flatten": lambda b, name, config, inputs, weights: b.node(name, "Flatten", inputs[:1], name, {"axis": 1}, rank=2),
    "Reshape": _reshape,
    "Activation": lambda b, name, config, inputs, weights: b.activation(name, inputs[0], config.get("activation"), name),
    "ReLU": _relu, "LeakyReLU": _leaky_relu, "Softmax": _softmax,
    "ELU": lambda b, name, config, inputs, weights: b.node(name, "Elu", inputs[:1], name,
                                                           {"alpha": float(config.get("alpha", 1.0))}),
    "BatchNormalization": _batchnorm,
    "Add": _merge("Add"), "Subtract": _merge("Sub"), "Multiply": _merge("Mul"), "Average": _average,
    "Concatenate": _concatenate,
    "ZeroPadding1D": _zero_padding(1), "ZeroPadding2D": _zero_padding(2),
    **{kind: lambda b, name, config, inputs, weights: b.node(name, "Identity", inputs[:1], name)
       for kind in IDENTITY},
}
