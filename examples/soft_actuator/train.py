"""Train the example's forward model x_{k+1} = f(x_k, u_k) on simulated data (numpy,
Adam) and export it to forward.onnx as x + MLP(x, u).

    python examples/soft_actuator/train.py [OUT.onnx]
"""
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from plant import step

HERE = Path(__file__).resolve().parent
HIDDEN = 32


def collect(rng, episodes=120, length=100):
    inputs, targets = [], []
    for _ in range(episodes):
        x = rng.uniform([-0.8, -1.5], [0.8, 1.5]).astype(np.float32)
        u = rng.uniform(-1, 1, 1)
        for _ in range(length):
            if rng.random() < 0.15:
                u = rng.uniform(-1, 1, 1)
            nxt = step(x, u)
            inputs.append(np.concatenate([x, u]))
            targets.append(nxt - x)
            x = nxt
    return np.array(inputs, np.float32), np.array(targets, np.float32)


def init(rng, sizes):
    return [(rng.standard_normal((m, n)) / np.sqrt(n), np.zeros(m)) for n, m in zip(sizes, sizes[1:])]


def forward(params, z):
    activations = [z]
    for i, (w, b) in enumerate(params):
        a = activations[-1] @ w.T + b
        activations.append(np.tanh(a) if i < len(params) - 1 else a)
    return activations


def train(z, target, rng, steps=4000, lr=3e-3, batch=256):
    scale = np.abs(target).max(axis=0)
    params = init(rng, [3, HIDDEN, HIDDEN, 2])
    moments = [[np.zeros_like(p) for p in layer] for layer in params]
    squares = [[np.zeros_like(p) for p in layer] for layer in params]
    for t in range(1, steps + 1):
        idx = rng.integers(0, len(z), batch)
        acts = forward(params, z[idx])
        grad = 2 * (acts[-1] - target[idx] / scale) / batch
        for i in range(len(params) - 1, -1, -1):
            w, b = params[i]
            grads = (grad.T @ acts[i], grad.sum(axis=0))
            if i:
                grad = (grad @ w) * (1 - acts[i] ** 2)
            for j, g in enumerate(grads):
                moments[i][j] = 0.9 * moments[i][j] + 0.1 * g
                squares[i][j] = 0.999 * squares[i][j] + 0.001 * g * g
                update = lr * (moments[i][j] / (1 - 0.9 ** t)) / (np.sqrt(squares[i][j] / (1 - 0.999 ** t)) + 1e-8)
                params[i] = tuple(p - update if k == j else p for k, p in enumerate(params[i]))
    w, b = params[-1]
    params[-1] = (w * scale[:, None], b * scale)  # undo the target scaling
    return params


def export(params, path):
    inits, nodes, h = [], [], "z"
    keep = np.array([[1, 0, 0], [0, 1, 0]], np.float32)  # x = first two inputs
    inits.append(numpy_helper.from_array(keep, "select_state"))
    nodes.append(helper.make_node("Gemm", ["z", "select_state"], ["state"], transB=1, name="state"))
    for i, (w, b) in enumerate(params):
        inits += [numpy_helper.from_array(w.astype(np.float32), f"w{i}"),
                  numpy_helper.from_array(b.astype(np.float32), f"b{i}")]
        nodes.append(helper.make_node("Gemm", [h, f"w{i}", f"b{i}"], [f"a{i}"], transB=1, name=f"fc{i}"))
        h = f"a{i}"
        if i < len(params) - 1:
            nodes.append(helper.make_node("Tanh", [h], [f"h{i}"], name=f"tanh{i}"))
            h = f"h{i}"
    nodes.append(helper.make_node("Add", ["state", h], ["x_next"], name="residual"))
    graph = helper.make_graph(nodes, "soft_actuator_forward",
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info("x_next", TensorProto.FLOAT, [1, 2])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


def main(out_path=HERE / "forward.onnx"):
    rng = np.random.default_rng(0)
    z, target = collect(rng)
    params = train(z, target, rng)
    error = forward(params, z)[-1] - target
    rms = float(np.sqrt(np.mean(error ** 2)))
    print(f"trained on {len(z)} transitions; RMS one-step error {rms:.2e}")
    export(params, out_path)
    print(f"wrote {out_path}")
    return rms


if __name__ == "__main__":
    import sys

    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "forward.onnx")
