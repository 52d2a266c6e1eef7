"""Fuzzing the CLI with hypothesis: mutated ONNX, TFLite and Keras files, mutated solver configs,
and generated graphs with hostile names and attributes. The property, for every input:
`edgeopt compile` ends with rc 0 and C that builds under the strict flags and runs clean
under AddressSanitizer/UBSan, or with rc 2 and a one-line-led message. Never rc 3, a
traceback or a hang. Inputs that ever broke it live in tests/fuzz/corpus/ and are replayed.

EDGEOPT_FUZZ_EXAMPLES sets the examples per strategy (default 25: about three minutes)."""
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

import models
from edgeopt.cli import main
from edgeopt.pipeline import write_library
from edgeopt.simulator.toolchain import SANITIZE_FLAGS, STRICT_FLAGS, host_cc

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "fuzz" / "corpus"
TFLM = HERE / "data" / "models" / "tflm"
EXAMPLE = HERE.parent / "examples" / "soft_actuator"
EXAMPLES = int(os.environ.get("EDGEOPT_FUZZ_EXAMPLES", "25"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
HAS_ASAN = bool(shutil.which("cc")) and os.path.isabs(
    subprocess.run(["cc", "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip())


def _seeds():
    work = Path(os.environ.get("TMPDIR", "/tmp")) / "edgeopt-fuzz-seeds"
    work.mkdir(exist_ok=True)
    onnx_seeds = [models.save(builder(), work / f"{builder.__name__}.onnx").read_bytes()
                  for builder in (models.mlp, models.cnn1d, models.depthwise_separable)]
    tflite_seeds = [(TFLM / name).read_bytes() for name in ("hello_world_int8.tflite", "hello_world_float.tflite")]
    tflite_seeds += [(TFLM.parent / "converter" / name).read_bytes()  # the converter's shape prelude, slicing
                     for name in ("cnn_int8.tflite", "slicing_float32.tflite")]
    return onnx_seeds, tflite_seeds


ONNX_SEEDS, TFLITE_SEEDS = _seeds()


def mutate(data: bytes, edits) -> bytes:
    out = bytearray(data)
    for kind, position, chunk in edits:
        at = position % max(len(out), 1)
        if kind == "flip" and out:
            out[at] ^= 1 << (position % 8)
        elif kind == "set" and out:
            out[at:at + len(chunk)] = chunk
        elif kind == "insert":
            out[at:at] = chunk
        elif kind == "delete":
            del out[at:at + 1 + position % 16]
        elif kind == "truncate":
            del out[at:]
    return bytes(out)


EDITS = st.lists(st.tuples(st.sampled_from(["flip", "flip", "set", "insert", "delete", "truncate"]),
                           st.integers(0, 2 ** 20), st.binary(min_size=1, max_size=8)), min_size=1, max_size=4)


def _build_and_run(out_dir: Path, artifact_name: str, header: str):
    """The compiled files with the runtime as one sanitized executable, run on three inputs."""
    upper, values = artifact_name.upper(), {}
    for line in header.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "#define" and parts[1] in (f"{upper}_RUN_INPUT_BYTES",
                                                                      f"{upper}_RUN_OUTPUT_BYTES"):
            values[parts[1]] = parts[2].rstrip("u")
    exe = out_dir / "fuzz_run"
    sources = [str(p) for p in sorted(out_dir.glob("*.c"))] + [str(HERE / "fuzz" / "harness.c")]
    sources += [str(p) for p in sorted((out_dir / "edgeopt_runtime" / "src").glob("*.c"))]
    build = subprocess.run([host_cc(), *STRICT_FLAGS, "-O1", *SANITIZE_FLAGS, f"-I{out_dir}",
                            f"-I{out_dir / 'edgeopt_runtime' / 'include'}", f'-DEO_HEADER="{artifact_name}.h"',
                            f"-DEO_RUN={artifact_name}_run", f"-DEO_RESET={artifact_name}_reset",
                            f"-DEO_IN={values[f'{upper}_RUN_INPUT_BYTES']}", f"-DEO_OUT={values[f'{upper}_RUN_OUTPUT_BYTES']}",
                            *sources, "-o", str(exe), "-lm"], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"))
    assert run.returncode == 0, run.stderr[-3000:]


def check(data: bytes, suffix: str, tmp: Path, capsys, name="fuzzed", sanitize=True):
    """The property; a failing input is saved into the corpus before the test fails."""
    digest = hashlib.sha256(data).hexdigest()[:12]
    work = tmp / digest
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    path = work / f"{name}{suffix}"
    path.write_bytes(data)
    if suffix == ".toml":  # a config names its model beside it
        shutil.copy(EXAMPLE / "forward.onnx", work / "forward.onnx")
    try:
        code = main(["compile", str(path), "-o", str(work / "out")])
        err = capsys.readouterr().err
        assert code in (0, 2), err
        if code == 2:
            assert err.startswith("edgeopt: error:") and "Traceback" not in err, err
            assert not (work / "out").exists() or not any((work / "out").rglob("*.c")), "half-written"
        elif sanitize and HAS_ASAN:
            headers = [p for p in (work / "out").glob("*.h")]
            artifact = min(headers, key=lambda p: len(p.stem)).stem  # the solver's beside its model's
            _build_and_run(work / "out", artifact, (work / "out" / f"{artifact}.h").read_text())
    except BaseException:
        CORPUS.mkdir(parents=True, exist_ok=True)
        (CORPUS / f"{digest}{suffix}").write_bytes(data)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


@FUZZ
@given(seed=st.integers(0, len(ONNX_SEEDS) - 1), edits=EDITS)
def test_mutated_onnx_files(tmp_path_factory, capsys, seed, edits):
    check(mutate(ONNX_SEEDS[seed], edits), ".onnx", tmp_path_factory.getbasetemp() / "onnx", capsys)


@FUZZ
@given(seed=st.integers(0, len(TFLITE_SEEDS) - 1), edits=EDITS)
def test_mutated_tflite_files(tmp_path_factory, capsys, seed, edits):
    check(mutate(TFLITE_SEEDS[seed], edits), ".tflite", tmp_path_factory.getbasetemp() / "tflite", capsys)


HOSTILE_VALUES = st.one_of(
    st.integers(-2 ** 63, 2 ** 63), st.sampled_from(["0", "-1", "2147483648", "1e39", "nan", "inf", "-inf",
                                                    '"eo"', '"main"', '"x\\ny"', "[]", "[1e39]", "{}", "true",
                                                    '"../../etc/passwd"', '"forward.onnx\\u0000"']),
    st.floats(allow_nan=False, allow_infinity=False).map(repr), st.text(max_size=12).map(lambda t: '"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"'))


@FUZZ
@given(line=st.integers(0, 40), value=HOSTILE_VALUES, drop=st.booleans())
def test_mutated_solver_configs(tmp_path_factory, capsys, line, value, drop):
    lines = (EXAMPLE / "mpc.toml").read_text().splitlines()
    assignments = [i for i, text in enumerate(lines) if "=" in text]
    target = assignments[line % len(assignments)]
    if drop:
        del lines[target]
    else:
        lines[target] = f"{lines[target].split('=')[0].strip()} = {value}"
    check("\n".join(lines).encode("utf-8", "replace"), ".toml", tmp_path_factory.getbasetemp() / "toml", capsys)


KERAS_SEEDS = [HERE / "data" / "models" / "keras" / name for name in ("cnn1d_keras2.h5", "recurrent_keras3.h5")]


@FUZZ
@given(seed=st.integers(0, len(KERAS_SEEDS) - 1), layer=st.integers(0, 40), key=st.integers(0, 40),
       value=HOSTILE_VALUES, rename=st.booleans())
def test_mutated_keras_configs(tmp_path_factory, capsys, seed, layer, key, value, rename):
    """One value of one layer's config replaced (or the layer renamed) with a hostile one."""
    import json

    import h5py

    work = tmp_path_factory.getbasetemp() / "keras-seeds"
    work.mkdir(exist_ok=True)
    path = work / f"{seed}-{layer}-{key}.h5"
    shutil.copy(KERAS_SEEDS[seed], path)
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        target = config["config"]["layers"][layer % len(config["config"]["layers"])]
        try:
            parsed = json.loads(value) if isinstance(value, str) else value
        except ValueError:
            parsed = value
        if rename:
            target["name"] = parsed if isinstance(parsed, str) else str(parsed)
        else:
            keys = sorted(target["config"])
            target["config"][keys[key % len(keys)]] = parsed
        f.attrs["model_config"] = json.dumps(config)
    check(path.read_bytes(), ".h5", tmp_path_factory.getbasetemp() / "keras", capsys)


NAMES = st.one_of(st.text(max_size=24), st.sampled_from(
    ["int", "NAN", "INFINITY", "EO_OK", "eo_relu_f32", "FUZZ_ARENA_SIZE", "fuzz_invoke", "errno", "*/", "#x",
     "a\nb", "\x00", "stdin", "M_PI", "INT8_MIN", "class", "__x", "9a", "x" * 300]))
ATTRIBUTE = st.one_of(st.integers(-2 ** 40, 2 ** 40), st.lists(st.integers(-2 ** 33, 2 ** 33), max_size=5),
                      st.floats(allow_nan=True), st.text(max_size=5))


@FUZZ
@given(names=st.lists(NAMES, min_size=4, max_size=4), op=st.sampled_from(["Conv", "MaxPool", "AveragePool", "Gemm"]),
       key=st.sampled_from(["strides", "pads", "dilations", "group", "kernel_shape", "alpha", "transB", "ceil_mode"]),
       value=ATTRIBUTE)
def test_generated_graphs_with_hostile_names_and_attributes(tmp_path_factory, capsys, names, op, key, value):
    x, w, y, node = names
    if len({x, w, y}) < 3 or "" in (x, w, y):
        return
    inits = []
    if op == "Conv":
        inits.append(numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), w))
        inputs, attrs, shape = [x, w], dict(kernel_shape=[3, 3]), [1, 1, 6, 6]
    elif op == "Gemm":
        inits.append(numpy_helper.from_array(np.ones((3, 4), np.float32), w))
        inputs, attrs, shape = [x, w], dict(transB=1), [1, 4]
    else:
        inputs, attrs, shape = [x], dict(kernel_shape=[2, 2]), [1, 1, 6, 6]
    attrs[key] = value
    try:
        proto = helper.make_node(op, inputs, [y], name=node, **attrs)
    except (TypeError, ValueError):
        return  # onnx itself cannot write this attribute
    graph = helper.make_graph([proto], "g", [helper.make_tensor_value_info(x, TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info(y, TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    check(model.SerializeToString(), ".onnx", tmp_path_factory.getbasetemp() / "graphs", capsys, name="fuzz")


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*")), ids=lambda p: p.name)
def test_regression_corpus(tmp_path, capsys, path):
    check(path.read_bytes(), path.suffix, tmp_path, capsys)


def test_harness_catches_undefined_behaviour(tmp_path):
    """The property can fail: a planted out-of-bounds write aborts the sanitized run."""
    if not HAS_ASAN:
        pytest.skip("no AddressSanitizer runtime")
    from edgeopt.pipeline import compile_file

    artifact = compile_file(models.save(models.mlp(), tmp_path / "mlp.onnx"), name="net")
    write_library(artifact, tmp_path / "out")
    source = tmp_path / "out" / "net.c"
    source.write_text(source.read_text().replace("    return EO_OK;\n}", "    linear_11_out[6] = 1.0f;\n    return EO_OK;\n}"))
    with pytest.raises(AssertionError, match="AddressSanitizer|runtime error"):
        _build_and_run(tmp_path / "out", "net", (tmp_path / "out" / "net.h").read_text())
