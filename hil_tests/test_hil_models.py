"""Models on the board match the host simulator: float within tolerance, int8 bit for bit."""
from pathlib import Path

import numpy as np
import pytest

import models
from edgeopt.pipeline import compile_file
from edgeopt.simulator.host import HostRunner

TFLM = Path(__file__).resolve().parent.parent / "tests" / "data" / "models" / "tflm"
NN4MC = TFLM.parent / "nn4mc"


def seeded(artifact, samples, seed=0):
    rng = np.random.default_rng(seed)
    return {t.name: rng.integers(-128, 128, (samples,) + t.shape).astype(np.int8) if t.dtype == "int8"
            else rng.standard_normal((samples,) + t.shape).astype(np.float32) for t in artifact.inputs}


def check_on_board(boards, artifact, samples=24):
    inputs = seeded(artifact, samples)
    with boards.open(artifact) as board:
        got = board.run(inputs)
        cost, unit = board.cost_per_call(inputs)
    with HostRunner(artifact) as host:
        expected = host.run(inputs)
    for spec in artifact.outputs:
        if spec.dtype == "int8":
            np.testing.assert_array_equal(got[spec.name], expected[spec.name])
        else:
            np.testing.assert_allclose(got[spec.name], expected[spec.name], rtol=1e-4, atol=1e-5)
    assert cost > 0
    return cost, unit


@pytest.mark.parametrize("builder", [models.mlp, models.cnn1d, models.depthwise_separable],
                         ids=lambda b: b.__name__)
def test_onnx_model_matches_the_host(boards, tmp_path, builder):
    artifact = compile_file(models.save(builder(), tmp_path / f"{builder.__name__}.onnx"))
    check_on_board(boards, artifact)


@pytest.mark.parametrize("model", ["hello_world_int8.tflite", "micro_speech_quantized.tflite"])
def test_tflite_int8_is_bit_exact(boards, model):
    check_on_board(boards, compile_file(TFLM / model), samples=8)


def test_a_recurrent_stream_steps_like_the_host(boards):
    """--stream: one RUN per time step, the state carried on the board between RUNs; RESET
    starts the stream again, reset=False continues it, as on the host."""
    artifact = compile_file(NN4MC / "forward_kinematics_jan_10_2022.hdf5", stream=True)
    first, more = seeded(artifact, 12, seed=1), seeded(artifact, 6, seed=2)
    with boards.open(artifact) as board:
        got = [board.run(first), board.run(more, reset=False)]
    with HostRunner(artifact) as host:
        expected = [host.run(first), host.run(more, reset=False)]
    for board_run, host_run in zip(got, expected):
        np.testing.assert_allclose(board_run["dense"], host_run["dense"], rtol=1e-4, atol=1e-5)


def test_the_board_runs_what_it_reports(boards, tmp_path):
    """INFO names the artifact; a runner for another artifact is told to reflash."""
    from edgeopt.hil.runner import ArtifactMismatch, SerialRunner

    artifact = compile_file(models.save(models.mlp(), tmp_path / "mlp.onnx"))
    if not boards.emulated():
        pytest.skip("needs an emulated board to start with other firmware")
    other = compile_file(models.save(models.mlp(seed=5), tmp_path / "other.onnx"))
    with boards.open(artifact) as board:
        assert board.info["artifact"] == artifact.digest and board.info["name"] == artifact.name
        assert board.info["inputs"] == [[t.name, t.dtype, list(t.shape)] for t in artifact.inputs]
        url = board.link.url
        board.link.close()
        with pytest.raises(ArtifactMismatch, match="reflash with: edgeopt compile"):
            SerialRunner(other, url=url)


def test_given_artifact_on_a_real_board(boards, given_artifact):
    """With --artifact, the board already flashed with it (a real board, a farm's place)."""
    if given_artifact is None:
        pytest.skip("pass --artifact MODEL with a board flashed with its firmware")
    if boards.emulated():
        pytest.skip("emulated boards are started with each test's own firmware")
    check_on_board(boards, given_artifact)


@pytest.mark.requires_hardware
def test_real_board_cycles_are_reported(boards, given_artifact):
    artifact = given_artifact or pytest.skip("pass --artifact")
    cost, unit = check_on_board(boards, artifact, samples=4)
    assert unit in ("cycles", "us")
