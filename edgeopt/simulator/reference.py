"""onnxruntime as the float reference: whole-model outputs and per-layer intermediates."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeopt.errors import EdgeoptError, ToolchainError


def onnx_session(model_bytes):
    try:
        import onnxruntime as ort
    except ImportError:
        raise ToolchainError("onnxruntime is needed as the reference: pip install onnxruntime") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def run_reference(model_path, inputs: dict, extra_outputs=()):
    """Run every sample (leading axis of each input) through the reference runtime one by
    one: onnxruntime for .onnx, TFLite's reference kernels for .tflite.

    Returns {name: (N, *shape)} for the model outputs and any requested intermediates (ONNX
    only: the TFLite runtimes expose none)."""
    if str(model_path).lower().endswith((".h5", ".hdf5")):
        raise EdgeoptError("there is no reference runtime for Keras files here (edgeopt reads them without "
                           "TensorFlow): compare against outputs saved from Keras (model.predict) instead, or "
                           "export the model to ONNX or TFLite and compare that")
    if str(model_path).lower().endswith(".tflite"):
        return run_tflite_reference(model_path, inputs)
    import onnx

    model = onnx.load(str(model_path))
    if extra_outputs:
        known = {o.name for o in model.graph.output}
        for name in extra_outputs:
            if name not in known:
                model.graph.output.append(onnx.ValueInfoProto(name=name))
    session = onnx_session(model.SerializeToString())
    names = [o.name for o in session.get_outputs()]
    samples = next(iter(inputs.values())).shape[0] if inputs else 1
    results = {name: [] for name in names}
    for i in range(samples):
        feed = {}
        for meta in session.get_inputs():
            feed[meta.name] = _as_type(inputs[meta.name][i], meta.type)
        for name, value in zip(names, session.run(names, feed)):
            results[name].append(np.asarray(value))
    return {name: np.stack(values) for name, values in results.items()}


def run_tflite_reference(model_path, inputs: dict):
    """The TFLM interpreter (PyPI tflite-micro), which microcontrollers run; else
    tflite-runtime with its reference kernels (BUILTIN_REF). Both follow TFLite's integer
    semantics; TFLite's optimized kernels and XNNPACK may differ by one step on int8."""
    samples = next(iter(inputs.values())).shape[0] if inputs else 1
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        runtime = None
    interpreter = None
    if runtime is not None:
        try:
            interpreter = runtime.Interpreter.from_file(str(model_path))
        except RuntimeError:  # ops TFLM lacks (e.g. SHAPE): tflite-runtime below
            interpreter = None
    if interpreter is not None:
        input_names, output_names = _tflite_io_names(model_path)
        results = [[] for _ in output_names]
        for i in range(samples):
            interpreter.reset()
            for index, name in enumerate(input_names):
                interpreter.set_input(np.asarray(inputs[name][i]), index)
            interpreter.invoke()
            for index, values in enumerate(results):
                values.append(interpreter.get_output(index).copy())
        return {name: np.stack(values) for name, values in zip(output_names, results)}
    try:
        from tflite_runtime.interpreter import Interpreter, OpResolverType
    except ImportError:
        raise ToolchainError("a TFLite reference is needed: pip install tflite-micro "
                             "(or tflite-runtime, which needs numpy<2)") from None
    interpreter = Interpreter(str(model_path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interpreter.allocate_tensors()
    ins, outs = interpreter.get_input_details(), interpreter.get_output_details()
    results = {o["name"]: [] for o in outs}
    for i in range(samples):
        for meta in ins:
            value = np.asarray(inputs[meta["name"]][i], meta["dtype"]).reshape(meta["shape"])
            interpreter.set_tensor(meta["index"], value)
        interpreter.invoke()
        for meta in outs:
            results[meta["name"]].append(interpreter.get_tensor(meta["index"]).copy())
    return {name: np.stack(values) for name, values in results.items()}


def _tflite_io_names(model_path):
    import tflite

    model = tflite.Model.GetRootAsModel(open(model_path, "rb").read(), 0)
    g = model.Subgraphs(0)
    name = lambda i: g.Tensors(i).Name().decode("utf-8", "replace")  # noqa: E731
    return ([name(g.Inputs(i)) for i in range(g.InputsLength())],
            [name(g.Outputs(i)) for i in range(g.OutputsLength())])


def _as_type(array, onnx_type):
    dtype = {"tensor(float)": np.float32, "tensor(double)": np.float64}.get(onnx_type, None)
    return np.ascontiguousarray(array, dtype) if dtype else array


@dataclass
class Comparison:
    name: str
    max_abs: float
    max_rel: float
    ok: bool


def compare(actual, expected, rtol, atol, name="") -> Comparison:
    """Within atol + rtol * |expected| elementwise; integer results must match exactly."""
    if np.asarray(expected).dtype.kind in "iu":
        rtol, atol = 0.0, 0.0
    actual = np.asarray(actual, np.float64).reshape(np.shape(expected))
    expected = np.asarray(expected, np.float64)
    with np.errstate(invalid="ignore"):
        same = (actual == expected) | (np.isnan(actual) & np.isnan(expected))
        diff = np.where(same, 0.0, np.abs(actual - expected))
        diff = np.where(np.isnan(diff), np.inf, diff)
        rel = diff / np.maximum(np.abs(expected), np.finfo(np.float32).tiny)
    ok = bool(np.all(same | (diff <= atol + rtol * np.abs(expected))))
    max_abs = float(np.max(diff)) if diff.size else 0.0
    max_rel = float(np.nanmax(rel)) if rel.size else 0.0
    return Comparison(name, max_abs, max_rel, ok)


def tflite_requantize(acc, multiplier, shift):
    """TFLite's MultiplyByQuantizedMultiplier in Python integers, from its gemmlowp
    definitions: the reference the runtime's eo_requantize is checked against."""
    def wrap32(v):
        return (v + 2 ** 31) % 2 ** 32 - 2 ** 31

    def high_mul(a, b):
        if a == b == -2 ** 31:
            return 2 ** 31 - 1
        ab = a * b
        total = ab + (2 ** 30 if ab >= 0 else 1 - 2 ** 30)
        return total // 2 ** 31 if total >= 0 else -((-total) // 2 ** 31)  # C division truncates

    def divide_by_pot(x, exponent):
        mask = (1 << exponent) - 1
        threshold = (mask >> 1) + (1 if x < 0 else 0)
        return (x >> exponent) + (1 if (x & mask) > threshold else 0)

    left, right = max(shift, 0), max(-shift, 0)
    return divide_by_pot(high_mul(wrap32(acc << left), multiplier), right)
