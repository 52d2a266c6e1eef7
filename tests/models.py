"""Builders for PyTorch-style ONNX exports used by the tests and benchmarks.

They reproduce what torch.onnx.export emits for common layers: Gemm(transB=1) for
Linear, Conv + BatchNormalization, Clip(min, max inputs) for ReLU6, the
Shape -> Gather -> Unsqueeze -> Concat -> Reshape chain for `x.view(x.size(0), -1)`,
and local functions (newer exporters)."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class GraphBuilder:
    def __init__(self, seed=0, opset=14):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.opset = [], [], opset
        self.count = 0

    def name(self, prefix):
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, array, prefix="c"):
        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op, inputs, prefix=None, outputs=1, **attrs):
        name = self.name(prefix or op.lower())
        outs = [f"{name}_out{i}" if outputs > 1 else f"{name}_out" for i in range(outputs)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=name, **attrs))
        return outs[0] if outputs == 1 else outs

    def linear(self, x, n_in, n_out):
        w = self.const((self.rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(np.float32), "weight")
        b = self.const((0.1 * self.rng.standard_normal(n_out)).astype(np.float32), "bias")
        return self.node("Gemm", [x, w, b], "linear", alpha=1.0, beta=1.0, transB=1)

    def conv(self, x, c_in, c_out, kernel, bias=True, **attrs):
        groups = attrs.get("group", 1)
        shape = (c_out, c_in // groups) + tuple(kernel)
        fan_in = np.prod(shape[1:])
        w = self.const((self.rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32), "weight")
        inputs = [x, w]
        if bias:
            inputs.append(self.const((0.1 * self.rng.standard_normal(c_out)).astype(np.float32), "bias"))
        return self.node("Conv", inputs, "conv", kernel_shape=list(kernel), **attrs)

    def batchnorm(self, x, channels):
        r = self.rng
        params = [1 + 0.2 * r.standard_normal(channels), 0.1 * r.standard_normal(channels),
                  0.1 * r.standard_normal(channels), 0.5 + r.random(channels)]
        names = [self.const(p.astype(np.float32), n) for p, n in zip(params, ("gamma", "beta", "mean", "var"))]
        return self.node("BatchNormalization", [x] + names, "bn", epsilon=1e-5)

    def relu6(self, x):
        return self.node("Clip", [x, self.const(np.float32(0.0), "min"), self.const(np.float32(6.0), "max")], "relu6")

    def torch_flatten(self, x):
        """What torch exports for x.view(x.size(0), -1)."""
        shape = self.node("Shape", [x])
        batch = self.node("Gather", [shape, self.const(np.int64(0), "idx")], axis=0)
        batch = self.node("Unsqueeze", [batch, self.const(np.array([0], np.int64), "axes")])
        target = self.node("Concat", [batch, self.const(np.array([-1], np.int64), "minus_one")], axis=0)
        return self.node("Reshape", [x, target])

    def model(self, inputs, outputs, functions=()):
        graph = helper.make_graph(
            self.nodes, "model",
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, []) for n in outputs],
            self.inits,
        )
        imports = [helper.make_opsetid("", self.opset)] + [
            helper.make_opsetid(f.domain, 1) for f in functions]
        model = helper.make_model(graph, opset_imports=imports, functions=list(functions))
        model.ir_version = 8
        return model


def mlp(seed=0, sizes=(4, 64, 64, 6), activation="Tanh"):
    b = GraphBuilder(seed)
    x = "x"
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        x = b.linear(x, n_in, n_out)
        if i < len(sizes) - 2:
            x = b.node(activation, [x])
    return b.model([("x", ["batch", sizes[0]])], [x])


def odd_dense(seed=0):
    """Dense layers off the kernels' fast shapes: 7 and 23 inputs (not multiples of 4),
    23 outputs (two blocks of 8, then seven plain rows: four in one pass and three alone),
    three rows, a MatMul without bias."""
    b = GraphBuilder(seed)
    x = b.node("Tanh", [b.linear("x", 7, 23)])
    w = b.const((b.rng.standard_normal((23, 10)) / np.sqrt(23)).astype(np.float32), "weight")
    return b.model([("x", [3, 7])], [b.node("MatMul", [x, w])])


def cnn1d(seed=0, length=64, channels=3, classes=4):
    b = GraphBuilder(seed)
    x = b.node("Relu", [b.conv("x", channels, 8, (5,), pads=[2, 2])])
    x = b.node("MaxPool", [x], kernel_shape=[2], strides=[2])
    x = b.node("Relu", [b.batchnorm(b.conv(x, 8, 16, (3,), bias=False), 16)])
    x = b.node("AveragePool", [x], kernel_shape=[2], strides=[2])
    x = b.torch_flatten(x)
    x = b.linear(x, 16 * (length // 2 - 2) // 2, classes)
    return b.model([("x", [1, channels, length])], [x])


def lenet(seed=0):
    b = GraphBuilder(seed)
    x = b.node("Relu", [b.batchnorm(b.conv("x", 1, 6, (5, 5), pads=[2, 2, 2, 2]), 6)])
    x = b.node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = b.node("Relu", [b.batchnorm(b.conv(x, 6, 16, (5, 5)), 16)])
    x = b.node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = b.torch_flatten(x)
    x = b.node("Relu", [b.linear(x, 16 * 5 * 5, 120)])
    x = b.node("Relu", [b.linear(x, 120, 84)])
    x = b.node("LogSoftmax", [b.linear(x, 84, 10)], axis=1)
    return b.model([("x", ["N", 1, 28, 28])], [x])


def depthwise_separable(seed=0):
    """Stem conv, a depthwise-separable block with a residual Add, a Concat of two branches."""
    b = GraphBuilder(seed)
    stem = b.relu6(b.batchnorm(b.conv("x", 3, 16, (3, 3), pads=[1, 1, 1, 1], strides=[2, 2], bias=False), 16))
    dw = b.node("Relu", [b.batchnorm(b.conv(stem, 16, 16, (3, 3), pads=[1, 1, 1, 1], group=16, bias=False), 16)])
    pw = b.batchnorm(b.conv(dw, 16, 16, (1, 1), bias=False), 16)
    res = b.node("Add", [pw, stem])
    branch = b.node("HardSwish", [b.conv(res, 16, 8, (1, 1))])
    pooled = b.node("MaxPool", [res], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])
    cat = b.node("Concat", [pooled, branch], axis=1)
    gap = b.node("GlobalAveragePool", [cat])
    x = b.linear(b.node("Flatten", [gap], axis=1), 24, 5)
    return b.model([("x", [1, 3, 16, 16])], [x])


def with_local_function(seed=0):
    """A model whose activation is a local function (as newer PyTorch exporters emit)."""
    b = GraphBuilder(seed)
    fn = helper.make_function(
        "custom.blocks", "ScaledSigmoid", ["X"], ["Y"],
        [helper.make_node("Sigmoid", ["X"], ["s"]),
         helper.make_node("Mul", ["X", "s"], ["Y"])],
        opset_imports=[helper.make_opsetid("", 13)],
    )
    x = b.linear("x", 8, 16)
    name = b.name("silu")
    b.nodes.append(helper.make_node("ScaledSigmoid", [x], [name], domain="custom.blocks", name=name))
    y = b.linear(name, 16, 3)
    return b.model([("x", [1, 8])], [y], functions=[fn])


def save(model, path):
    onnx.save(model, str(path))
    return path
