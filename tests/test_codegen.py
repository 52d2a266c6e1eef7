"""Properties of the generated C: strict warnings, no heap, determinism, safe names."""
import re
import shutil
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import models
from edgeopt.pipeline import compile_model, write_library
from edgeopt.simulator.host import HostRunner
from edgeopt.simulator.reference import compare, run_reference
from edgeopt.simulator.toolchain import STRICT_FLAGS


def test_same_input_gives_byte_identical_output(tmp_path):
    path = models.save(models.depthwise_separable(), tmp_path / "m.onnx")
    first, second = compile_model(path), compile_model(path)
    assert first.files == second.files
    write_library(first, tmp_path / "a")
    write_library(second, tmp_path / "b")
    for rel in first.files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()


def _compile_objects(cc, out_dir, extra_flags=()):
    sources = sorted(out_dir.glob("*.c")) + sorted((out_dir / "edgeopt_runtime" / "src").glob("*.c"))
    objects = []
    for source in sources:
        obj = source.with_suffix(".o")
        subprocess.run([cc, *STRICT_FLAGS, "-O2", *extra_flags, f"-I{out_dir}",
                        f"-I{out_dir / 'edgeopt_runtime' / 'include'}", "-c", str(source), "-o", str(obj)],
                       check=True, capture_output=True, text=True)
        objects.append(obj)
    return objects


def _undefined_symbols(nm, objects):
    result = subprocess.run([nm, "-u", *map(str, objects)], check=True, capture_output=True, text=True)
    return {line.split()[-1] for line in result.stdout.splitlines() if line.strip() and ":" not in line}


@pytest.mark.parametrize("builder", [models.lenet, models.depthwise_separable], ids=lambda b: b.__name__)
def test_host_objects_compile_strict_and_use_no_heap(tmp_path, builder):
    write_library(compile_model(models.save(builder(), tmp_path / "m.onnx")), tmp_path / "out")
    undefined = _undefined_symbols("nm", _compile_objects("cc", tmp_path / "out"))
    assert not undefined & {"malloc", "free", "calloc", "realloc"}


@pytest.mark.skipif(not shutil.which("arm-none-eabi-gcc"), reason="arm-none-eabi-gcc not installed")
def test_cortex_m4_objects_compile_strict_and_use_no_heap(tmp_path):
    write_library(compile_model(models.save(models.lenet(), tmp_path / "m.onnx")), tmp_path / "out")
    flags = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
    objects = _compile_objects("arm-none-eabi-gcc", tmp_path / "out", flags)
    undefined = _undefined_symbols("arm-none-eabi-nm", objects)
    assert not undefined & {"malloc", "free", "calloc", "realloc"}


EVIL_NAMES = [
    "x */ int pwned = 1; /*",
    "line\nbreak\r\n#include <stdio.h>",
    'quote"s and \'single\' and \\ backslash??/',
    "#include <stdlib.h>",
    "int",
    "return",
    "a-b",
    "a_b",
    "a b",
    "arena",
    "9starts_with_digit",
    "ünïcödé",
    "n" * 10_000,
    "m" * 10_000,
]


def _evil_model():
    """A chain of Relu/Add nodes whose node and tensor names are all hostile."""
    rng = np.random.default_rng(0)
    names = iter(EVIL_NAMES)
    x = next(names)
    nodes, inits = [], []
    current = x
    for index, name in enumerate(names):
        const = f"{name}_c{index}"
        inits.append(numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), const))
        nodes.append(helper.make_node("Add", [current, const], [name], name=name))
        current = name
    graph = helper.make_graph(nodes, "g */ evil", [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info(current, TensorProto.FLOAT, [1, 4])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_hostile_names_become_safe_identifiers_and_comments(tmp_path):
    path = tmp_path / "evil.onnx"
    onnx.save(_evil_model(), str(path))
    generated = compile_model(path, name="evil")
    source = generated.files["evil.c"] + generated.files["evil.h"]
    assert "pwned" not in source.replace("/*", "\0").split("\0")[0]  # nothing before the banner
    for line in source.splitlines():
        assert not line.lstrip().startswith("#include <stdio.h>")
        assert not line.lstrip().startswith("#include <stdlib.h>")
        assert len(line) < 400
        if "/*" in line or "*/" in line:
            body = line.split("/*", 1)[-1].rsplit("*/", 1)[0]
            assert "*/" not in body and "/*" not in body
    assert "??" not in source
    x = np.random.default_rng(1).standard_normal((5, 1, 4)).astype(np.float32)
    with HostRunner(generated) as model:  # compiles with -Werror
        (out_name, y), = model.run({EVIL_NAMES[0]: x}).items()
    reference = run_reference(path, {EVIL_NAMES[0]: x})
    assert compare(y, reference[out_name], 1e-4, 1e-5).ok


def test_unique_identifiers_after_sanitizing():
    from edgeopt.codegen.names import NamePool

    pool = NamePool()
    ids = [pool.unique(n) for n in EVIL_NAMES + EVIL_NAMES]
    assert len(set(ids)) == len(ids)
    assert all(i.isidentifier() and len(i) <= 48 for i in ids)
    assert "int" not in ids and "return" not in ids


def test_float_literals_round_trip():
    from edgeopt.codegen.literals import f32

    values = np.random.default_rng(0).standard_normal(1000).astype(np.float32) * 1e3
    values = np.concatenate([values, np.float32([1e-38, 3.4e38, -0.0, 0.1, 1 / 3])])
    for v in values:
        assert np.float32(float(f32(v)[:-1])) == v


def _template_locals():
    """Every identifier the C templates declare inside generated functions."""
    from edgeopt.resources import resource_dir

    found = set()
    for path in resource_dir("templates").rglob("*.j2"):
        text = path.read_text()
        found.update(re.findall(r"static const [\w ]+?\b(\w+)(?:\[[^\]]*\])? =", text))
        found.update(re.findall(r"^\s+(?:const )?\w+ \*?(?:const )?(\w+) = ", text, re.M))
        found.update(re.findall(r"^\s+int32_t ([\w, ]+);", text, re.M))
    names = {n.strip() for item in found for n in item.split(",")}
    names |= {"arena", "params", "shape", "pad", "multipliers", "shifts", "a_offsets", "b_offsets"}  # before eo_
    return sorted(n for n in names if n.isidentifier())


# Names that are C or C++ keywords, libc/libm macros and functions, runtime symbols, the
# model's own macros and the runners' symbols (issue: never C that breaks or misbehaves).
HOSTILE_IO_NAMES = sorted({
    "int", "return", "class", "new", "NAN", "INFINITY", "HUGE_VALF", "EO_OK", "INT8_MIN", "UINT32_MAX",
    "eo_sigmoid_f32", "EO_RUNTIME_H", "EO_RESTRICT", "MODEL_INPUT0_SIZE", "MODEL_ARENA_SIZE",
    "MODEL_EDGEOPT_H", "model_invoke", "model_run", "model_arena", "errno", "stdin", "memcpy",
    "expf", "sqrtf", "EDOM", "M_PI", "FLT_MAX", "PRId32", "size_t", "int8_t", "NULL", "main", "HIGH",
    "_reserved", "a__b", "in", "out", "z", "y", "jt",
})


def _many_io_model(names):
    """One input per name, summed, through Conv, Transpose, Pad, a batched MatMul of two run-time
    tensors and a ReduceMean, to outputs named like the inputs."""
    b = models.GraphBuilder(seed=3)
    total = None
    for name in names:
        total = name if total is None else b.node("Add", [total, name])
    h = b.conv(total, 2, 2, (3, 3), pads=[1, 1, 1, 1])
    t = b.node("Transpose", [h], perm=[0, 1, 3, 2])
    p = b.node("Pad", [t, b.const(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads")], mode="constant")
    m = b.node("MatMul", [p, b.node("Transpose", [p], perm=[0, 1, 3, 2])])
    r = b.node("ReduceMean", [m], axes=[3], keepdims=0)
    outputs = []
    for index, name in enumerate(names[:8]):
        outputs.append(b.node("Mul", [r, b.const(np.float32(index + 1))], prefix=f"o{index}"))
    model = b.model([(n, [1, 2, 4, 4]) for n in names], outputs)
    for out, name in zip(model.graph.output, names[:8]):  # outputs named like the inputs too
        for node in model.graph.node:
            node.output[:] = [f"{name}_" if o == out.name else o for o in node.output]
        out.name = f"{name}_"
    return model


@pytest.mark.parametrize("group", ["template_locals", "keywords", "standard_and_own"])
def test_names_equal_to_locals_keywords_and_macros_compile_and_run(tmp_path, group):
    from edgeopt.codegen.names import C_KEYWORDS

    names = {"template_locals": _template_locals(),
             "keywords": sorted(C_KEYWORDS)[:60],
             "standard_and_own": HOSTILE_IO_NAMES}[group]
    assert len(names) > 10
    path = tmp_path / "model.onnx"
    onnx.save(_many_io_model(names), str(path))
    generated = compile_model(path, name="model")
    rng = np.random.default_rng(0)
    inputs = {n: rng.standard_normal((3, 1, 2, 4, 4)).astype(np.float32) for n in names}
    with HostRunner(generated) as runner:  # builds under -Werror
        outputs = runner.run(inputs)
    reference = run_reference(path, inputs)
    for name, value in outputs.items():
        assert compare(value, reference[name], 1e-4, 1e-5).ok, name
    header = generated.files["model.h"]
    params = re.search(r"eo_status_t model_invoke\(([^)]*)\)", header).group(1)
    ordinary = {"in", "out", "z", "y", "jt", "_reserved", "a__b"}  # fine as they are, or sanitized
    for declared in re.findall(r"\*(\w+)", params):
        assert declared not in (set(HOSTILE_IO_NAMES) - ordinary) | set(C_KEYWORDS), declared


def test_tflite_tensors_named_like_template_locals(tmp_path):
    """An int8 fully-connected layer whose input is `multipliers` and output `shifts`."""
    import tflite

    from tflite_builder import Op, T, build, options

    rng = np.random.default_rng(2)
    tensors = [T("multipliers", "int8", (1, 16), scales=(0.05,), zero_points=(3,)),
               T("eo_params", "int8", (6, 16), rng.integers(-127, 128, (6, 16)).astype(np.int8),
                 scales=(0.01,), zero_points=(0,)),
               T("shifts", "int8", (1, 6), scales=(0.08,), zero_points=(-4,))]
    ops = [Op(tflite.BuiltinOperator.FULLY_CONNECTED, ["multipliers", "eo_params"], ["shifts"],
              options("FullyConnectedOptions", FusedActivationFunction=0))]
    path = tmp_path / "fc.tflite"
    path.write_bytes(build(tensors, ops, ["multipliers"], ["shifts"]))
    x = {"multipliers": rng.integers(-128, 128, (5, 1, 16)).astype(np.int8)}
    with HostRunner.build(path) as runner:
        np.testing.assert_array_equal(runner.run(x)["shifts"], run_reference(path, x)["shifts"])
