"""Regenerate the Keras .h5 files in this folder and the outputs Keras computes for them.

    pip install tensorflow-cpu tf-keras   # Keras 3, and Keras 2 as tf_keras
    python tests/data/models/keras/make_models.py

Each model is saved twice: by Keras 3's legacy h5 writer (`model.save("x.h5")`) and by
Keras 2 (tf_keras), whose weight names end in ":0". Beside each file, `<file>.npz` holds
seeded inputs (keyed by the Input layer's name) and Keras's own predictions (keyed by the
name of the layer that produces each output). The nn4mc models in ../nn4mc get their
expected outputs the same way."""
import os
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
NN4MC = HERE.parent / "nn4mc"


def models(keras):
    layers = keras.layers

    def cnn2d():
        x = keras.Input((12, 12, 2), name="image")
        h = layers.Conv2D(6, 3, padding="same", activation="relu")(x)
        h = layers.BatchNormalization()(h)
        h = layers.MaxPooling2D(2)(h)
        h = layers.DepthwiseConv2D(3, depth_multiplier=2, activation="relu6")(h)
        h = layers.SeparableConv2D(8, 3, padding="same", activation="elu")(h)
        h = layers.ZeroPadding2D(((1, 0), (0, 1)))(h)
        h = layers.AveragePooling2D(2, padding="same")(h)
        h = layers.Flatten()(h)
        h = layers.Dropout(0.3)(h)
        return keras.Model(x, layers.Dense(4, activation="softmax", name="probs")(h), name="cnn2d")

    def cnn1d():
        x = keras.Input((40, 3), name="signal")
        h = layers.Conv1D(8, 5, strides=2, activation="tanh")(x)
        h = layers.AveragePooling1D(2)(h)
        h = layers.Conv1D(6, 3, dilation_rate=2, padding="causal")(h)
        h = layers.LeakyReLU()(h)
        h = layers.MaxPooling1D(2, padding="same")(h)
        h = layers.GlobalAveragePooling1D()(h)
        return keras.Model(x, layers.Dense(2, name="value")(h), name="cnn1d")

    def branches():
        """Functional: two inputs, two outputs, Add and Concatenate, Reshape, global pooling."""
        a = keras.Input((16,), name="features")
        b = keras.Input((6, 6, 1), name="patch")
        ha = layers.Dense(12, activation="sigmoid")(a)
        ha = layers.Activation("hard_sigmoid")(ha)
        hb = layers.Conv2D(4, 3, activation="selu")(b)
        hb = layers.GlobalMaxPooling2D()(hb)
        hb = layers.Dense(12, activation="swish")(hb)
        joined = layers.Add()([ha, hb])
        both = layers.Concatenate()([joined, layers.ReLU(max_value=1.0)(ha)])
        grid = layers.Reshape((6, 4))(both)
        pooled = layers.GlobalAveragePooling1D()(grid)
        first = layers.Dense(3, name="head_a")(pooled)
        second = layers.Softmax(name="head_b")(layers.Dense(5)(both))
        return keras.Model([a, b], [first, second], name="branches")

    def recurrent():
        """GRU in both reset modes, an LSTM that runs backwards, a SimpleRNN, Bidirectional
        layers, sequences out."""
        x = keras.Input((7, 3), name="steps")
        a = layers.GRU(5, return_sequences=True)(x)
        b = layers.LSTM(4, return_sequences=True, go_backwards=True, recurrent_activation="hard_sigmoid")(a)
        c = layers.SimpleRNN(3, activation="relu")(b)
        d = layers.GRU(4, reset_after=False)(x)
        e = layers.Bidirectional(layers.GRU(3, return_sequences=True))(x)
        f = layers.Bidirectional(layers.LSTM(2))(e)
        joined = layers.Concatenate()([c, d, f])
        return keras.Model(x, [layers.Dense(2, name="out")(joined), b], name="recurrent")

    return [cnn2d(), cnn1d(), branches(), recurrent()]


def randomize_batchnorm(model, rng):
    """Fresh BatchNormalization layers are the identity; give them real statistics."""
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            n = layer.get_weights()[0].shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.3, n), rng.normal(0, 0.3, n),
                               rng.uniform(0.5, 2.0, n)])


def inputs_for(model, rng, samples=8):
    return {t.name.split(":")[0]: rng.standard_normal((samples,) + tuple(t.shape[1:])).astype(np.float32)
            for t in model.inputs}


def save_expected(model, path, rng):
    sources = [t._keras_history[0].name for t in model.inputs]
    x = dict(zip(sources, inputs_for(model, rng).values()))
    outputs = model.predict(list(x.values()), verbose=0)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    producers = [t._keras_history[0].name for t in model.outputs]
    np.savez(str(path) + ".npz", **x, **dict(zip(producers, outputs)))


def save_models(keras, suffix, rng):
    keras.utils.set_random_seed(0)
    for model in models(keras):
        randomize_batchnorm(model, rng)
        path = HERE / f"{model.name}_{suffix}.h5"
        model.save(path)
        save_expected(keras.models.load_model(path), path, rng)


def main():
    rng = np.random.default_rng(0)
    import tensorflow as tf

    keras = tf.keras  # Keras 3
    save_models(keras, "keras3", rng)
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tf_keras

    save_models(tf_keras, "keras2", rng)
    for path in sorted(NN4MC.glob("*.hdf5")):
        model = tf_keras.models.load_model(path, compile=False)
        save_expected(model, HERE / f"nn4mc_{path.stem}", rng)
    (HERE / "VERSIONS").write_text(f"tensorflow {tf.__version__}\nkeras {keras.__version__}\n"
                                   f"tf_keras {tf_keras.__version__}\n")


if __name__ == "__main__":
    main()
