"""Keras .h5 files (tests/data/models/keras, written by Keras 3's legacy h5 writer and by
Keras 2 through tf_keras; nn4mc's own files in ../nn4mc) against the outputs Keras itself
computed for them (stored beside them by make_models.py), on the host and an emulated
Cortex-M4 (every nn4mc model among them: GRU, LSTM, Conv1D -> GRU -> two Dense heads);
unsupported layers listed by class and layer name; damaged files rejected."""
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from edgeopt.pipeline import compile_model
from targets import run_on

DATA = Path(__file__).resolve().parent / "data" / "models"
KERAS = DATA / "keras"
FILES = sorted(p.name for p in KERAS.glob("*.h5")) + sorted(p.name for p in (DATA / "nn4mc").glob("*.hdf5"))
TARGETS = ["host", pytest.param("qemu-cortex-m4", marks=pytest.mark.skipif(
    not shutil.which("qemu-system-arm"), reason="qemu-system-arm not installed"))]


def _paths(name):
    if name.endswith(".hdf5"):
        return DATA / "nn4mc" / name, KERAS / f"nn4mc_{Path(name).stem}.npz"
    return KERAS / name, KERAS / f"{name}.npz"


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", FILES)
def test_matches_keras(name, target):
    path, expected_path = _paths(name)
    expected = np.load(expected_path)
    generated = compile_model(path)
    inputs = {t.name: expected[t.name].reshape((-1,) + tuple(t.shape)) for t in generated.inputs}
    outputs = run_on(target, path, generated, inputs)
    assert set(outputs) == set(expected.files) - set(inputs)  # outputs keyed by their layers' names
    for key, value in outputs.items():
        np.testing.assert_allclose(value.reshape(expected[key].shape), expected[key], rtol=1e-5, atol=1e-5)


def test_inputs_and_outputs_are_named_by_their_layers():
    generated = compile_model(KERAS / "branches_keras3.h5")
    assert [t.name for t in generated.inputs] == ["features", "patch"]
    assert [t.name for t in generated.outputs] == ["head_a", "head_b"]


def test_every_nn4mc_model_is_covered():
    assert len([name for name in FILES if name.endswith(".hdf5")]) == 6


def test_unsupported_recurrent_options_are_named(run_cli, tmp_path):
    import json

    path = tmp_path / "stateful.h5"
    shutil.copy(KERAS / "recurrent_keras3.h5", path)
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        gru = next(layer for layer in config["config"]["layers"] if layer["class_name"] == "GRU")
        gru["config"]["stateful"] = True
        f.attrs["model_config"] = json.dumps(config)
    code, _, err = run_cli("compile", path, "-o", tmp_path / "out")
    assert code == 2 and "Traceback" not in err and "stateful" in err and f"'{gru['name']}'" in err


def test_every_unsupported_layer_is_listed_at_once(run_cli, tmp_path):
    import json

    path = tmp_path / "edited.h5"
    shutil.copy(KERAS / "cnn1d_keras3.h5", path)
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        layers = config["config"]["layers"]
        layers[1]["class_name"] = "Lambda"
        layers[-1]["config"]["activation"] = "gelu"
        f.attrs["model_config"] = json.dumps(config)
    code, _, err = run_cli("compile", path, "-o", tmp_path / "out")
    assert code == 2 and "Traceback" not in err
    assert "Lambda" in err and f"'{layers[1]['name']}'" in err and "gelu" in err and f"'{layers[-1]['name']}'" in err


@pytest.mark.parametrize("damage", ["weights_only", "not_hdf5", "bad_json"])
def test_damaged_files_get_a_clear_error(run_cli, tmp_path, damage):
    path = tmp_path / "model.h5"
    if damage == "not_hdf5":
        path.write_bytes(b"\x89HDF\r\n" + bytes(200))
    else:
        shutil.copy(KERAS / "cnn1d_keras2.h5", path)
        with h5py.File(path, "r+") as f:
            if damage == "weights_only":
                del f.attrs["model_config"]
            else:
                f.attrs["model_config"] = "{not json"
    code, _, err = run_cli("compile", path, "-o", tmp_path / "out")
    assert code == 2 and "Traceback" not in err and "model.h5" in err
