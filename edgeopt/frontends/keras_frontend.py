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
from edgeopt.frontends.keras_layers import (
    ACTIVATIONS, LAYERS, RECURRENT_NOT_YET, SUPPORTED_ACTIVATIONS, activation_name,
)
from edgeopt.ir import Graph, Node, Tensor

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
        if _class_problem(kind):
            self.problems.append((kind, name, _class_problem(kind)))
            return None
        if config.get("data_format", "channels_last") != "channels_last":
            self.problems.append((kind, name, "only data_format channels_last is supported"))
            return None
        try:
            return LAYERS[kind](self, name, config, inputs, self.weights.get(name, {}))
        except UnsupportedError as exc:
            self.problems.append((kind, name, str(exc)))
        except (AttributeError, KeyError, TypeError, ValueError, IndexError, OverflowError) as exc:
            self.problems.append((kind, name, f"unexpected config or weights ({type(exc).__name__}: {exc})"))
        return None

    def check(self, layer):
        """What can be told of a layer without its inputs: its class and its activation."""
        kind, name = layer.get("class_name"), _name(layer)
        activation = activation_name(layer.get("config", {}).get("activation"))
        if _class_problem(kind):
            self.problems.append((kind, name, _class_problem(kind)))
        elif activation not in SUPPORTED_ACTIVATIONS:
            self.problems.append((kind, name, f"activation {activation!r} is not supported"))

    def activation(self, layer, x, activation, out):
        """Keras activation by name onto x; the result is named out."""
        activation = activation_name(activation)
        if activation == "linear":
            return self.node(layer, "Identity", [x], out)
        if activation in ("swish", "silu"):
            gate = self.node(layer, "Sigmoid", [x], f"{out}/gate")
            return self.node(layer, "Mul", [x, gate], out)
        if activation == "softmax":
            return self.node(layer, "Softmax", [x], out, {"axis": -1})
        if activation not in ACTIVATIONS:
            raise UnsupportedError(f"activation {activation!r} is not supported")
        op_type, attrs = ACTIVATIONS[activation]
        if activation == "hard_sigmoid" and self.keras3:  # Keras 3: relu6(x + 3) / 6
            attrs = {"alpha": 1.0 / 6.0, "beta": 0.5}
        return self.node(layer, op_type, [x], out, attrs)


def _class_problem(kind):
    if kind in RECURRENT_NOT_YET:
        return "recurrent layers are not supported yet"
    return None if kind in LAYERS else "layer not supported"


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
