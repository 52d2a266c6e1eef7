"""Frontends turn model files into the IR. They never emit C."""
from pathlib import Path

from edgeopt.errors import ModelLoadError


def load_model(path, input_shapes=None):
    """Load a model file into an IR graph, choosing the frontend by file content/extension."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such file")
    if path.suffix.lower() == ".onnx" or path.suffix == "":
        from edgeopt.frontends.onnx_frontend import load_onnx

        return load_onnx(path, input_shapes or {})
    if path.suffix.lower() == ".tflite":
        from edgeopt.frontends.tflite_frontend import load_tflite

        return load_tflite(path, input_shapes or {})
    if path.suffix.lower() in (".h5", ".hdf5"):
        from edgeopt.frontends.keras_frontend import load_keras

        return load_keras(path, input_shapes or {})
    raise ModelLoadError(
        f"{path}: unknown model format '{path.suffix}'; edgeopt reads .onnx, .tflite and Keras .h5 models"
    )
