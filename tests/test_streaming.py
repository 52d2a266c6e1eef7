"""--stream: a recurrent model compiled to one time step per call, its state carried in a
context (NAME_step) and by the packed entry point between calls (so the host simulator, QEMU
and the HIL runner step it the same way). Stepping through a sequence gives what the
whole-sequence build gives, at every step."""
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgeopt.errors import EdgeoptError
from edgeopt.pipeline import compile_model, write_library
from edgeopt.simulator.host import HostRunner
from edgeopt.simulator.toolchain import STRICT_FLAGS, host_cc
from targets import run_on
from test_recurrent import recurrent_model
from test_tflite import needs_qemu

NN4MC = Path(__file__).resolve().parent / "data" / "models" / "nn4mc"


@pytest.mark.parametrize("target", ["host", pytest.param("qemu-cortex-m4", marks=needs_qemu)])
@pytest.mark.parametrize("op", ["GRU", "LSTM", "RNN"])
def test_steps_give_the_whole_sequence(tmp_path, op, target):
    outputs = ("Y", "Y_h", "Y_c") if op == "LSTM" else ("Y", "Y_h")
    path = recurrent_model(tmp_path / "rnn.onnx", op, seq=6, batch=1, outputs=outputs)
    whole = compile_model(path)
    x = np.random.default_rng(5).uniform(-1, 1, (1, 6, 1, 3)).astype(np.float32)
    expected = run_on("host", path, whole, {"x": x})
    stream = compile_model(path, stream=True)
    assert [t.name for t in stream.inputs] == ["x"] and [t.name for t in stream.outputs] == list(outputs)
    steps = run_on(target, path, stream, {"x": x[0][:, None]})  # six samples: six time steps
    np.testing.assert_allclose(steps["Y"][:, 0], expected["Y"][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(steps["Y_h"][-1], expected["Y_h"][0], rtol=1e-5, atol=1e-6)


def test_nn4mc_forward_model_streams(tmp_path):
    """nn4mc's GRU forward model, trained on one-step sequences, carries its state when streamed."""
    path = NN4MC / "forward_kinematics_jan_10_2022.hdf5"
    stream = compile_model(path, stream=True)
    x = np.random.default_rng(1).uniform(-1, 1, (5,) + tuple(stream.inputs[0].shape)).astype(np.float32)
    with HostRunner(stream) as runner:
        first = runner.run({stream.inputs[0].name: x})
        again = runner.run({stream.inputs[0].name: x})  # reset between runs: the same outputs
        fresh = runner.run({stream.inputs[0].name: x[1:]})
    np.testing.assert_array_equal(first["dense"], again["dense"])
    assert not np.allclose(first["dense"][1:], fresh["dense"])  # the state matters


def test_contexts_are_independent_streams(tmp_path):
    path = recurrent_model(tmp_path / "rnn.onnx", "GRU", seq=1, batch=1, outputs=("Y",))
    write_library(compile_model(path, name="net", stream=True), tmp_path / "out")
    (tmp_path / "main.c").write_text("""
#include <stdio.h>
#include "net.h"
int main(void)
{
    net_stream_t a, b, c;
    float x[3] = {0.5f, -0.25f, 1.0f}, z[3] = {0}, ya[4], yb[4], yc[4];
    int t, i, same = 1;
    net_stream_reset(&a); net_stream_reset(&b); net_stream_reset(&c);
    for (t = 0; t < 4; ++t) {
        net_step(&a, x, ya);
        net_step(&c, z, yc);  /* another stream in between */
        net_step(&b, x, yb);
        for (i = 0; i < 4; ++i) same &= ya[i] == yb[i];
    }
    printf("%d %g\\n", same, (double)(ya[0] - yc[0]));
    return 0;
}
""")
    out = tmp_path / "out"
    runtime = out / "edgeopt_runtime"
    exe = tmp_path / "streams"
    subprocess.run([host_cc(), *STRICT_FLAGS, f"-I{out}", f"-I{runtime / 'include'}", str(tmp_path / "main.c"),
                    str(out / "net.c"), *map(str, sorted((runtime / "src").glob("*.c"))), "-o", str(exe), "-lm"],
                   check=True)
    same, difference = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    assert same == "1" and float(difference) != 0.0


def test_stream_needs_a_forward_recurrent_layer(tmp_path):
    with pytest.raises(EdgeoptError, match="recurrent layer"):
        compile_model(Path(__file__).resolve().parent / "data" / "models" / "keras" / "cnn1d_keras3.h5", stream=True)
    path = recurrent_model(tmp_path / "rnn.onnx", "GRU", direction="bidirectional")
    with pytest.raises(EdgeoptError, match="forward"):
        compile_model(path, stream=True)


def test_cli_streams_and_refuses_compare(run_cli, tmp_path):
    path = recurrent_model(tmp_path / "rnn.onnx", "GRU", seq=4, batch=1, outputs=("Y",))
    np.savez(tmp_path / "x.npz", x=np.random.default_rng(0).uniform(-1, 1, (4, 1, 1, 3)).astype(np.float32))
    code, _, err = run_cli("simulate", path, "--stream", "--inputs", tmp_path / "x.npz", "--outputs", tmp_path / "y.npz")
    assert code == 0, err
    assert np.load(tmp_path / "y.npz")["Y"].shape == (4, 1, 1, 1, 4)
    code, _, err = run_cli("simulate", path, "--stream", "--inputs", tmp_path / "x.npz", "--compare")
    assert code == 2 and "--stream" in err
