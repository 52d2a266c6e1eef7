"""Keras .h5 / .hdf5 -> IR, with h5py alone (no TensorFlow at compile time).

Reads the model_config JSON and the model_weights group that Keras 2 (weight names with
":0", nn4mc's files) and Keras 3's legacy h5 writer both write. Tensors between layers keep
Keras's channels-last layout; convolutions and pools run in the IR's channels-first form
between transposes that cancel from one layer to the next (passes.cancel_transposes).
Inputs are named by their Input layer, outputs by the layer that produces them."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from edgeopt.errors import ModelLoadError, ShapeError, UnsupportedError, unsupported_summary
from edgeopt.ir import Graph, Node, Tensor

RECURRENT = {"ConvLSTM1D", "ConvLSTM2D", "TimeDistributed", "CuDNNGRU", "CuDNNLSTM"}
IDENTITY = {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise", "GaussianDropout",
            "AlphaDropout", "ActivityRegularization"}


def load_keras(path: Path, input_shapes: dict) -> Graph:
    try:
        import h5py
    except ImportError:
        raise ModelLoadError("reading Keras .h5 files needs h5py: pip install h5py") from None
    data = path.read_bytes()
    try:
        with h5py.File(path, "r") as f:
            config = _model_config(f, path)
            weights = _weights(f)
            version = str(_text(f.attrs.get("keras_version", "2")))
    except ModelLoadError:
        raise
    except OSError as exc:
        raise ModelLoadError(f"{path}: not an HDF5 file h5py can read ({exc}); pass a model saved with "
                             "model.save('model.h5')") from None
    except Exception as exc:  # h5py raises KeyError/TypeError/ValueError on damaged groups
        raise ModelLoadError(f"{path}: damaged Keras file ({type(exc).__name__}: {exc}); save the model "
                             "again") from None
    builder = _Builder(path, version.startswith("3"), weights, input_shapes)
    try:
        graph = builder.build(config)
    except (AttributeError, TypeError, KeyError, ValueError, IndexError) as exc:
        raise ModelLoadError(f"{path}: malformed model_config ({type(exc).__name__}: {exc}); save the model "
                             "again with model.save('model.h5')") from None
    graph.metadata["source_sha256"] = hashlib.sha256(data).hexdigest()
    graph.metadata["source_name"] = path.name
    return graph


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _model_config(f, path):
    raw = f.attrs.get("model_config")
    if raw is None:
        raise ModelLoadError(f"{path}: the file holds weights only (no model_config); save the whole "
                             "model with model.save('model.h5'), not model.save_weights()")
    try:
        config = json.loads(_text(raw))
    except (TypeError, ValueError) as exc:
        raise ModelLoadError(f"{path}: model_config is not valid JSON ({exc})") from None
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        raise ModelLoadError(f"{path}: model_config has no model (class_name/config)")
    return config


def _weights(f):
    """{layer name: {weight base name ("kernel", "bias", ...): array}}; a Bidirectional
    layer's as "forward/kernel", "backward/kernel", ..."""
    group = f["model_weights"] if "model_weights" in f else f
    result = {}
    for layer in group:
        names = [_text(n) for n in group[layer].attrs.get("weight_names", [])]
        result[layer] = {}
        for n in names:
            parts = n.split("/")
            side = next((p.split("_")[0] for p in parts[:-1] if p.startswith(("forward_", "backward_"))), None)
            key = parts[-1].split(":")[0]
            result[layer][f"{side}/{key}" if side else key] = np.asarray(group[layer][n])
    return result


class _Builder:
    def __init__(self, path, keras3, weights, input_shapes):
        self.path, self.keras3, self.weights, self.input_shapes = path, keras3, weights, input_shapes
        self.tensors, self.nodes, self.rank, self.problems = {}, [], {}, []

    # ---- graph pieces ----
    def const(self, name, array):
        array = np.asarray(array)
        self.tensors[name] = Tensor(name, array.dtype.name, array.shape, array)
        return name

    def node(self, layer, op_type, inputs, out, attrs=None, rank=None):
        self.nodes.append(Node(out.replace("/", "_"), op_type, list(inputs), [out], dict(attrs or {}), [layer]))
        self.rank[out] = self.rank[inputs[0]] if rank is None else rank
        return out

    # ---- the model ----
    def build(self, config):
        kind, body = config.get("class_name"), config["config"]
        layers = body.get("layers", [])
        if kind == "Sequential":
            inputs, outputs, previous = [], [], None
            for index, layer in enumerate(layers):
                if index == 0 and layer.get("class_name") != "InputLayer":
                    previous = self.input_layer(_input_config(layer, f"{_name(layer)}_input"))
                    inputs.append(previous)
                if layer.get("class_name") == "InputLayer":
                    previous = self.input_layer(layer["config"])
                    inputs.append(previous)
                    continue
                if previous is None and self.problems:
                    self.check(layer)  # downstream of an unsupported layer
                    continue
                previous = self.layer(layer, [previous])
            outputs = [previous] if previous else []
        elif kind in ("Functional", "Model"):
            produced = {}
            for layer in layers:
                if layer.get("class_name") == "InputLayer":
                    produced[_name(layer)] = self.input_layer(dict(layer["config"], name=_name(layer)))
                    continue
                sources = _inbound(layer)
                if sources is None:
                    self.problems.append((layer.get("class_name"), _name(layer), "shared layers (called more "
                                          "than once) are not supported"))
                    continue
                if any(produced.get(s) is None for s in sources):
                    self.check(layer)  # downstream of an unsupported layer
                    continue
                produced[_name(layer)] = self.layer(layer, [produced[s] for s in sources])
            inputs = [produced[n] for n in _endpoints(body.get("input_layers")) if n in produced]
            outputs = [produced.get(n) for n in _endpoints(body.get("output_layers"))]
        else:
            raise UnsupportedError(f"{self.path}: model class {kind!r}; edgeopt reads Sequential and "
                                   "functional Keras models")
        if self.problems:
            raise UnsupportedError(unsupported_summary(self.problems).replace("(nodes ", "(layers "))
        if not inputs or not outputs or None in outputs:
            raise ModelLoadError(f"{self.path}: the model has no inputs or outputs")
        return Graph(self.path.stem, self.tensors, self.nodes, inputs, outputs, opset=13)

    def input_layer(self, config):
        name = config["name"]
        shape = config.get("batch_shape") or config.get("batch_input_shape")
        if name in self.input_shapes:
            shape = list(self.input_shapes[name])
        elif not shape:
            raise ShapeError(f"Input layer {name!r} has no shape in the file")
        else:
            shape = [1] + list(shape[1:])
        if any(d is None or int(d) < 0 for d in shape):
            raise ShapeError(f"Input {name!r} has dynamic dimensions {shape}; pass --input-shape {name}="
                             + ",".join("1" if d is None else str(d) for d in shape))
        self.tensors[name] = Tensor(name, "float32", tuple(int(d) for d in shape))
        self.rank[name] = len(shape)
        return name

    def layer(self, layer, inputs):
        kind, name, config = layer.get("class_name"), _name(layer), layer.get("config", {})
        convert = _LAYERS.get(kind)
        if kind in RECURRENT:
            self.problems.append((kind, name, "recurrent layers are not supported yet"))
            return None
        if convert is None:
            self.problems.append((kind, name, "layer not supported"))
            return None
        if config.get("data_format", "channels_last") != "channels_last":
            self.problems.append((kind, name, "only data_format channels_last is supported"))
            return None
        try:
            return convert(self, name, config, inputs, self.weights.get(name, {}))
        except UnsupportedError as exc:
            self.problems.append((kind, name, str(exc)))
        except (AttributeError, KeyError, TypeError, ValueError, IndexError, OverflowError) as exc:
            self.problems.append((kind, name, f"unexpected config or weights ({type(exc).__name__}: {exc})"))
        return None

    def check(self, layer):
        """What can be told of a layer without its inputs: its class and its activation."""
        kind, name = layer.get("class_name"), _name(layer)
        activation = _activation_name(layer.get("config", {}).get("activation"))
        if kind in RECURRENT:
            self.problems.append((kind, name, "recurrent layers are not supported yet"))
        elif kind not in _LAYERS:
            self.problems.append((kind, name, "layer not supported"))
        elif activation not in _ACTIVATIONS and activation not in ("linear", "swish", "silu", "softmax"):
            self.problems.append((kind, name, f"activation {activation!r} is not supported"))

    def activation(self, layer, x, activation, out):
        """Keras activation by name onto x; the result is named out."""
        activation = _activation_name(activation)
        if activation == "linear":
            return self.node(layer, "Identity", [x], out)
        if activation in ("swish", "silu"):
            gate = self.node(layer, "Sigmoid", [x], f"{out}/gate")
            return self.node(layer, "Mul", [x, gate], out)
        if activation == "softmax":
            return self.node(layer, "Softmax", [x], out, {"axis": -1})
        if activation not in _ACTIVATIONS:
            raise UnsupportedError(f"activation {activation!r} is not supported")
        op_type, attrs = _ACTIVATIONS[activation]
        if activation == "hard_sigmoid" and self.keras3:  # Keras 3: relu6(x + 3) / 6
            attrs = {"alpha": 1.0 / 6.0, "beta": 0.5}
        return self.node(layer, op_type, [x], out, attrs)


def _activation_name(activation):
    if isinstance(activation, dict):  # a serialized activation object
        activation = activation.get("config", {}).get("name") or activation.get("class_name", "")
    return str(activation or "linear").lower()


def _name(layer):
    return layer.get("name") or layer.get("config", {}).get("name", "?")


def _input_config(layer, name):
    config = layer.get("config", {})
    return dict(name=name, batch_shape=config.get("batch_shape") or config.get("batch_input_shape"))


def _endpoints(spec):
    """input_layers/output_layers: [name, 0, 0] (Keras 3, one) or a list of those."""
    if not spec:
        return []
    if isinstance(spec[0], str):
        return [spec[0]]
    return [item[0] for item in spec]


def _inbound(layer):
    """The source layer names of a functional layer's single call, or None if it is shared."""
    nodes = layer.get("inbound_nodes", [])
    if len(nodes) != 1:
        return None if nodes else []
    call = nodes[0]
    if isinstance(call, dict):  # Keras 3: {"args": [tensor or [tensors]], "kwargs": {}}
        args = call.get("args", [])
        flat = args[0] if len(args) == 1 and isinstance(args[0], list) else args
        return [a["config"]["keras_history"][0] for a in flat if isinstance(a, dict) and "config" in a]
    return [source[0] for source in call]  # Keras 2: [[name, node, tensor, kwargs], ...]


_ACTIVATIONS = {
    "relu": ("Relu", {}), "relu6": ("Clip", {"min": 0.0, "max": 6.0}), "sigmoid": ("Sigmoid", {}),
    "tanh": ("Tanh", {}), "elu": ("Elu", {"alpha": 1.0}), "selu": ("Selu", {}),
    "leaky_relu": ("LeakyRelu", {"alpha": 0.2}), "hard_sigmoid": ("HardSigmoid", {"alpha": 0.2, "beta": 0.5}),
    "hard_swish": ("HardSwish", {}), "hard_silu": ("HardSwish", {}),
}


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
    name = _activation_name(name)
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


_LAYERS = {
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
