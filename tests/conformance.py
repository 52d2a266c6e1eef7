"""Runs ONNX's own operator conformance cases through compile + host simulation.

`python tests/conformance.py` prints the per-op table recorded in the README.
"""
from __future__ import annotations

import collections
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

SUPPORTED_OPS = (
    "Gemm MatMul Add Sub Mul Div Conv MaxPool AveragePool GlobalAveragePool GlobalMaxPool "
    "ReduceMean ReduceMax ReduceSum BatchNormalization Relu LeakyRelu PRelu Sigmoid HardSigmoid "
    "HardSwish Tanh Elu Selu Clip Softmax LogSoftmax Flatten Reshape Squeeze Unsqueeze Transpose "
    "Concat Pad Identity Dropout Slice Split RNN GRU LSTM"
).split()


def load_cases():
    """{op: [case]} for single-node cases of supported ops."""
    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = load_model_tests(kind="node")
    by_op = collections.defaultdict(list)
    for case in cases:
        nodes = case.model.graph.node
        if len(nodes) == 1 and nodes[0].op_type in SUPPORTED_OPS:
            by_op[nodes[0].op_type].append(case)
    return by_op


# Inputs that real exports carry as constants and edgeopt requires constant (shapes, axes,
# pads, bounds, statistics): the harness freezes the case's values into initializers.
PARAMETER_INPUTS = {
    "Reshape": {1}, "Squeeze": {1}, "Unsqueeze": {1}, "ReduceMean": {1}, "ReduceMax": {1},
    "ReduceSum": {1}, "Pad": {1, 2, 3}, "Clip": {1, 2}, "Dropout": {1, 2},
    "BatchNormalization": {1, 2, 3, 4}, "Slice": {1, 2, 3, 4}, "Split": {1},
    "RNN": {1, 2, 3, 4}, "GRU": {1, 2, 3, 4}, "LSTM": {1, 2, 3, 4, 7},
}


def freeze_parameters(case):
    """(model, runtime input names, their data) with parameter inputs made initializers."""
    import onnx
    from onnx import numpy_helper

    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    graph = model.graph
    node = graph.node[0]
    frozen = {node.input[i] for i in PARAMETER_INPUTS.get(node.op_type, ()) if i < len(node.input)}
    init_names = {i.name for i in graph.initializer}
    runtime_inputs = [vi.name for vi in graph.input if vi.name not in init_names]
    values = dict(zip(runtime_inputs, case.data_sets[0][0]))
    keep = []
    for vi in graph.input:
        if vi.name in frozen and vi.name in values:
            graph.initializer.append(numpy_helper.from_array(np.asarray(values.pop(vi.name)), vi.name))
        else:
            keep.append(vi)
    del graph.input[:]
    graph.input.extend(keep)
    return model, values


def is_float32_case(model):
    graph = model.graph
    init_names = {i.name for i in graph.initializer}
    io = [vi for vi in list(graph.input) + list(graph.output) if vi.name not in init_names]
    return all(vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type == 1 for vi in io)


def run_case(case, workdir):
    """Returns (status, detail): status is 'pass', 'unsupported' or 'wrong'."""
    import onnx

    from edgeopt.errors import EdgeoptError
    from edgeopt.simulator.host import HostRunner
    from edgeopt.simulator.reference import compare

    path = Path(workdir) / f"{case.name}.onnx"
    frozen, values = freeze_parameters(case)
    onnx.save(frozen, str(path))
    graph = frozen.graph
    expected = case.data_sets[0][1]
    try:
        with HostRunner.build(path, name="m") as model:
            feed = {name: np.asarray(value)[None] for name, value in values.items()
                    if name in {t.name for t in model.artifact.inputs}}
            outputs = model.run(feed)
    except EdgeoptError as exc:
        lines = str(exc).splitlines()
        return "unsupported", (lines[1].strip() if len(lines) > 2 else lines[0])[:160]
    except Exception as exc:  # noqa: BLE001 - a crash is a finding, keep going
        return "crash", f"{type(exc).__name__}: {exc}"[:200]
    worst = []
    for vi, want in zip(graph.output, expected):
        got = outputs[vi.name][0]
        if got.shape != np.asarray(want).shape:
            return "wrong", f"output {vi.name} shape {got.shape} != {np.asarray(want).shape}"
        result = compare(got, want, rtol=max(case.rtol, 1e-4), atol=max(case.atol, 1e-5))
        if not result.ok:
            worst.append(f"{vi.name}: max abs err {result.max_abs:.3g}")
    return ("wrong", "; ".join(worst)) if worst else ("pass", "")


def run_all(ops=None):
    results = {}
    by_op = load_cases()
    with tempfile.TemporaryDirectory() as workdir:
        for op in ops or SUPPORTED_OPS:
            for case in by_op.get(op, []):
                float32 = is_float32_case(freeze_parameters(case)[0])
                status, detail = run_case(case, workdir)
                results[case.name] = (op, float32, status, detail)
    return results


def markdown_table(results):
    rows = collections.OrderedDict((op, [0, 0, 0, []]) for op in SUPPORTED_OPS)
    for name, (op, float32, status, detail) in sorted(results.items()):
        row = rows[op]
        if float32:
            row[1] += 1
            row[0] += status == "pass"
            if status != "pass":
                row[3].append(f"`{name}`: {detail}")
        else:
            row[2] += 1
    lines = ["| op | float32 cases passed | other dtypes (rejected with a clear error) | cases not passed and why |",
             "|---|---|---|---|"]
    for op, (passed, total, other, notes) in rows.items():
        lines.append(f"| {op} | {passed}/{total} | {other} | {'<br>'.join(notes)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    outcome = run_all(sys.argv[1:] or None)
    print(markdown_table(outcome))
    for name, (op, float32, status, detail) in sorted(outcome.items()):
        if status in ("wrong", "crash"):
            print("WRONG", name, detail)
