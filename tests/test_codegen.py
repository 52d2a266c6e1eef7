"""Properties of the generated C: strict warnings, no heap, determinism, safe names."""
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
