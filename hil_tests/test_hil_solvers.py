"""Solvers on the board: MPC and optimal-transport solutions equal the host simulator's, a
500-step closed loop with the plant on the host and the controller on the board tracks as well
as the host-only loop, and a corrupting link loses and duplicates nothing."""
import time
from pathlib import Path

import numpy as np
import pytest

from edgeopt.pipeline import compile_file
from edgeopt.simulator.host import HostRunner
from edgeopt.solvers import kind_of
from edgeopt.solvers.newton_mpc.closed_loop import load_plant, run_closed_loop
from edgeopt.solvers.sinkhorn_newton_sparse.reference import marginal_error, point_clouds

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "soft_actuator"


def test_mpc_solutions_match_the_host(boards):
    artifact = compile_file(EXAMPLE / "mpc.toml")
    rng = np.random.default_rng(0)
    inputs = kind_of(artifact).prepare_inputs(artifact, dict(
        x0=(0.3 * rng.standard_normal((12, 2))).astype(np.float32),
        r=(0.3 * rng.standard_normal((12, 2))).astype(np.float32),
        u_prev=np.zeros((12, 1), np.float32)))
    with boards.open(artifact) as board:
        got = board.run(inputs)
    with HostRunner(artifact) as host:
        expected = host.run(inputs)
    np.testing.assert_array_equal(got["status"], expected["status"])
    np.testing.assert_allclose(got["u"], expected["u"], rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(got["cost"], expected["cost"], rtol=1e-3, atol=1e-5)


SNS = """[solver]
kind = "sinkhorn_newton_sparse"
name = "ot"
[problem]
n = 10
m = 12
eta = 400.0
"""


def test_transport_plans_match_the_host(boards, tmp_path):
    """Sinkhorn-Newton-Sparse on rectangular point clouds: the board's plans meet the
    tolerance and equal the host build's to float32 rounding (the iteration paths may differ
    by a step: the two compilers round differently)."""
    (tmp_path / "ot.toml").write_text(SNS)
    artifact = compile_file(tmp_path / "ot.toml")
    problems = [point_clouds(10, 12, seed=seed) for seed in range(4)]
    inputs = {name: np.stack([p[k] for p in problems]).astype(np.float32) for k, name in enumerate("Crc")}
    with boards.open(artifact) as board:
        got = board.run(inputs)
        cost, _ = board.cost_per_call({k: v[:1] for k, v in inputs.items()})
    with HostRunner(artifact) as host:
        expected = host.run(inputs)
    np.testing.assert_array_equal(got["status"], 0)
    np.testing.assert_array_equal(expected["status"], 0)
    for k, (_, r, c) in enumerate(problems):
        assert marginal_error(got["P"][k], r, c) <= 1e-5
    np.testing.assert_allclose(got["P"], expected["P"], atol=2e-6)
    assert cost > 0


def test_closed_loop_of_500_steps(boards, record_property):
    """The plant (plant.py) on the host, the controller on the board, one RUN per step."""
    artifact = compile_file(EXAMPLE / "mpc.toml")
    plant = load_plant(f"{EXAMPLE / 'plant.py'}:step", artifact.details)
    with np.load(EXAMPLE / "reference.npz") as data:
        reference = {k: data[k] for k in data.files}
    with HostRunner(artifact) as host:
        alone = run_closed_loop(host, plant, reference, 500)
    with boards.open(artifact, batch=1) as board:
        begin = time.perf_counter()
        looped = run_closed_loop(board, plant, reference, 500)
        seconds = time.perf_counter() - begin
        report = board.latency_report()
    error = lambda t: float(np.sqrt(np.mean((t["y"][:, 0] - t["r"][:, 0]) ** 2)))  # noqa: E731
    assert abs(error(looped) - error(alone)) <= 0.05 * error(alone), (error(looped), error(alone))
    assert np.all(looped["status"] != 2)
    record_property("per_step_ms_p50", report["latency_ms_p50"])
    record_property("per_step_ms_p95", report["latency_ms_p95"])
    print(f"\nclosed loop on {boards.where}: 500 steps in {seconds:.2f} s, per step p50 "
          f"{report['latency_ms_p50']:.2f} ms, p95 {report['latency_ms_p95']:.2f} ms; RMS error "
          f"{error(looped):.4f} (host alone {error(alone):.4f})")


FW = """[solver]
kind = "fw_dictionary"
name = "stream"
[dictionary]
dim = 2
batch = 1
"""


def test_corrupted_link_answers_every_command_exactly_once(boards, tmp_path):
    """1,000 faults (flipped bits, dropped, duplicated and truncated bytes) between host and
    board. The dictionary learner counts its updates (t): a command run twice, or lost, would
    show; every answer must also equal the fault-free host simulation's."""
    from edgeopt.hil.runner import SerialRunner
    from fault_proxy import FaultProxy

    if not boards.emulated():
        pytest.skip("the proxy sits in front of an emulated board's socket")
    (tmp_path / "fw.toml").write_text(FW)
    artifact = compile_file(tmp_path / "fw.toml")
    rng = np.random.default_rng(1)
    samples = 600
    inputs = kind_of(artifact).prepare_inputs(artifact, {"Y": rng.standard_normal((samples, 2)).astype(np.float32)})
    from edgeopt.hil.board import EmulatedBoard, build_hil_firmware
    from edgeopt.targets import get_target

    elf = build_hil_firmware(artifact, get_target(boards.where), tmp_path)
    with SerialRunner(artifact, target=boards.where, elf=elf, batch=1) as clean:  # a clean link first
        expected = clean.run(inputs)
    with EmulatedBoard(artifact, boards.where, elf=elf) as board:
        proxy = FaultProxy(board.port, faults=1000, rate=0.035, seed=2)
        try:
            with SerialRunner(artifact, url=proxy.url, timeout=0.05, retries=100, batch=1) as runner:
                proxy.armed = True
                got = runner.run(inputs)
                counters = runner.link.counters
        finally:
            proxy.close()
    assert proxy.injected == 1000, proxy.counts
    np.testing.assert_array_equal(got["t"], np.arange(1, samples + 1))  # each update exactly once
    for name in got:  # bit for bit: no corrupted frame was taken for an answer
        np.testing.assert_array_equal(got[name], expected[name])
    print(f"\nfaults {proxy.counts}; link {counters}")
