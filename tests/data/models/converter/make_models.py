"""Regenerate the converter-made TFLite files in this folder with TensorFlow's own converter.

    pip install tensorflow-cpu   # Keras 3 comes with it
    python tests/data/models/converter/make_models.py [MODEL ...]   # default: all

Four small Keras models (a dense layer in each holds more than 1,024 weights, the least the
converter quantizes in dynamic-range mode) (an MLP, a CNN with Flatten, a Conv1D model, a depthwise-separable
CNN), each written four ways: float32, dynamic-range (int8 weights, float activations),
full int8 with int8 input/output, and full int8 with float input/output (the converter adds
QUANTIZE/DEQUANTIZE); and a model that slices, transposes and splits tensors, in float32
and int8; and a CNN whose convolutions are large enough to be quantized in dynamic-range mode
(so the file runs TFLite's hybrid CONV_2D and DEPTHWISE_CONV_2D), dynamic-range only; and a
MobileNet block (a depthwise layer of stride 1 between two 1x1 layers) and the first
layers of a MobileNetV2 (widening 1x1 layers that one strided or 3x3 layer reads), full
int8. Each
model is seeded on its own; a few epochs on a seeded task make the activations realistic for
calibration."""
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

HERE = Path(__file__).resolve().parent
keras = tf.keras


def mlp():
    x = keras.Input((8,), name="features")
    h = keras.layers.Dense(64, activation="relu")(x)
    h = keras.layers.Dense(32, activation="tanh")(h)
    return keras.Model(x, keras.layers.Dense(3, activation="softmax", name="probs")(h), name="mlp")


def cnn():
    x = keras.Input((12, 12, 1), name="image")
    h = keras.layers.Conv2D(4, 3, activation="relu")(x)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(h)
    h = keras.layers.Flatten()(h)
    return keras.Model(x, keras.layers.Dense(5, activation="softmax", name="probs")(h), name="cnn")


def conv1d():
    x = keras.Input((32, 2), name="signal")
    h = keras.layers.Conv1D(6, 5, activation="relu")(x)
    h = keras.layers.MaxPooling1D(2)(h)
    h = keras.layers.Conv1D(12, 3, padding="same")(h)
    h = keras.layers.Flatten()(h)
    return keras.Model(x, keras.layers.Dense(8, name="value")(h), name="conv1d")


def depthwise():
    x = keras.Input((10, 10, 3), name="image")
    h = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, activation="relu")(x)
    h = keras.layers.Conv2D(16, 1, activation="relu6")(h)
    h = keras.layers.AveragePooling2D(2)(h)
    h = keras.layers.Flatten()(h)
    return keras.Model(x, keras.layers.Dense(4, name="logits")(h), name="depthwise")


def wide():
    """Convolutions with more than 1,024 weights each: hybrid in dynamic-range mode."""
    x = keras.Input((9, 9, 8), name="image")
    h = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(x)
    h = keras.layers.DepthwiseConv2D(3, depth_multiplier=4, activation="relu6")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(x, keras.layers.Dense(3, name="logits")(h), name="wide")


def separable():
    """A MobileNet block: a widening 1x1, a 3x3 depthwise of stride 1 ("same"), a narrowing
    1x1; the depthwise layer's input and output are the largest tensors."""
    x = keras.Input((16, 16, 4), name="image")
    h = keras.layers.Conv2D(16, 1, activation="relu6")(x)
    h = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu6")(h)
    h = keras.layers.Conv2D(8, 1, activation="relu6")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(x, keras.layers.Dense(4, name="logits")(h), name="separable")


def inverted():
    """The first layers of a MobileNetV2: a strided 3x3 stem, a widening 1x1 whose output only
    a strided 3x3 depthwise layer reads, a narrowing 1x1, a widening 1x1 again that only a 3x3
    convolution reads; the widened tensors are the largest (patch-based execution)."""
    x = keras.Input((32, 24, 3), name="image")
    h = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu6")(x)
    h = keras.layers.Conv2D(32, 1, activation="relu6")(h)
    h = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6")(h)
    h = keras.layers.Conv2D(8, 1)(h)
    h = keras.layers.Conv2D(24, 1, activation="relu6")(h)
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(x, keras.layers.Dense(4, name="logits")(h), name="inverted")


def slicing():
    """Strided slices, a transpose and a split on tensors (run-time data, not shapes)."""
    x = keras.Input((6, 8), name="frames")
    window = keras.layers.Lambda(lambda t: t[:, 1:5, ::-2])(x)  # negative stride
    swapped = keras.layers.Lambda(lambda t: tf.transpose(t, [0, 2, 1]))(window)
    last = keras.layers.Lambda(lambda t: t[..., -1])(swapped)  # ellipsis and a shrunk axis
    left, right = keras.layers.Lambda(lambda t: tf.split(t, 2, axis=1))(swapped)
    mixed = keras.layers.Concatenate()([keras.layers.Flatten()(right), last, keras.layers.Flatten()(left)])
    return keras.Model(x, keras.layers.Dense(4, name="score")(mixed), name="slicing")


def train(model, rng):
    shape = (256,) + tuple(model.input_shape[1:])
    x = rng.standard_normal(shape).astype(np.float32)
    outputs = model.output_shape[-1]
    labels = (np.abs(x.reshape(len(x), -1)).sum(axis=1) * 7).astype(int) % outputs
    target = np.eye(outputs, dtype=np.float32)[labels]
    model.compile("adam", "mse")
    model.fit(x, target, epochs=3, verbose=0)
    return x


def convert(model, calibration, mode):
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode.startswith("int8"):
        converter.representative_dataset = lambda: ([calibration[i:i + 1]] for i in range(100))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if mode == "int8":
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    return converter.convert()


def hybrid_reference(data, model, rng):
    """TFLM has no hybrid kernels, so the dynamic-range files' reference outputs come from
    TensorFlow's own interpreter, stored beside them."""
    interpreter = tf.lite.Interpreter(model_content=data)
    interpreter.allocate_tensors()
    (source,), (sink,) = interpreter.get_input_details(), interpreter.get_output_details()
    x = rng.standard_normal((16,) + tuple(model.input_shape[1:])).astype(np.float32)
    y = []
    for sample in x:
        interpreter.set_tensor(source["index"], sample[None])
        interpreter.invoke()
        y.append(interpreter.get_tensor(sink["index"])[0])
    np.savez(HERE / f"{model.name}_dynamic.npz", **{source["name"]: x, sink["name"]: np.stack(y)})


def main(names):
    models = (mlp, cnn, conv1d, depthwise, slicing, wide, separable, inverted)
    for seed, build in enumerate(models):
        if names and build.__name__ not in names:
            continue
        keras.utils.set_random_seed(seed)
        rng = np.random.default_rng(seed)
        model = build()
        calibration = train(model, rng)
        modes = {slicing: ("float32", "int8"), wide: ("dynamic",), separable: ("int8",), inverted: ("int8",)}.get(
            build, ("float32", "dynamic", "int8", "int8_float_io"))
        for mode in modes:
            data = convert(model, calibration, mode)
            (HERE / f"{model.name}_{mode}.tflite").write_bytes(data)
            if mode == "dynamic":
                hybrid_reference(data, model, rng)
    (HERE / "VERSIONS").write_text(f"tensorflow {tf.__version__}\nkeras {keras.__version__}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
