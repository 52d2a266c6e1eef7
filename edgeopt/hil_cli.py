"""`edgeopt hil run`: an artifact on a board (emulated, real, or a farm's) over the serial
link, compared with the host simulator, with a latency and cost report."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def add_parser(sub, tolerance, parse_input_shape):
    hil = sub.add_parser("hil", help="run an artifact on a board over the serial link (hardware in the loop)")
    actions = hil.add_subparsers(dest="hil_command", required=True)
    run = actions.add_parser("run", help="run samples on the board and compare with the host simulator")
    run.add_argument("model", help="model file or solver config: what the board's firmware was built from")
    run.add_argument("--name", help="C symbol prefix, as given to compile")
    run.add_argument("--input-shape", action="append", type=parse_input_shape, default=[], metavar="NAME=D0,D1,...")
    run.add_argument("--stream", action="store_true", help="recurrent models: one time step per RUN")
    where = run.add_mutually_exclusive_group(required=True)
    where.add_argument("--target", help="an emulated board edgeopt builds and starts (qemu-cortex-m4, qemu-ast1030, ...)")
    where.add_argument("--port", help="a running board: /dev/ttyACM0, socket://HOST:PORT, rfc2217://HOST:PORT")
    run.add_argument("--inputs", help="npz as for simulate (default: --samples seeded random samples)")
    run.add_argument("--samples", type=int, default=100)
    run.add_argument("--outputs", help="npz to write, as simulate writes")
    run.add_argument("--report", help="JSON file for the report")
    run.add_argument("--batch", type=int, help="samples per RUN frame (default: as many as the firmware takes)")
    run.add_argument("--timeout", type=float, default=1.0, help="seconds per try before a retry")
    run.add_argument("--rtol", type=tolerance, default=1e-4)
    run.add_argument("--atol", type=tolerance, default=1e-5)


def _seeded_inputs(artifact, samples):
    rng = np.random.default_rng(0)
    return {t.name: rng.integers(-128, 128, (samples,) + t.shape).astype(np.int8) if t.dtype == "int8"
            else (0.5 * rng.standard_normal((samples,) + t.shape)).astype(t.dtype) for t in artifact.inputs}


def _progress(done, total):
    if sys.stderr.isatty():
        filled = int(30 * done / max(total, 1))
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total}")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def mismatches(artifact, got, expected, rtol, atol) -> int:
    """Samples where any output differs from the host simulator's (integers exactly)."""
    bad = None
    for spec in artifact.outputs:
        a, b = np.asarray(got[spec.name]), np.asarray(expected[spec.name])
        a2, b2 = a.reshape(len(a), -1), b.reshape(len(b), -1)
        if np.dtype(spec.dtype).kind in "iu":
            wrong = np.any(a2 != b2, axis=1)
        else:
            wrong = ~np.all(np.isclose(a2, b2, rtol=rtol, atol=atol, equal_nan=True), axis=1)
        bad = wrong if bad is None else bad | wrong
    return int(bad.sum()) if bad is not None else 0


def run(args, load_npz, save_npz):
    from edgeopt.hil.runner import SerialRunner
    from edgeopt.pipeline import compile_file
    from edgeopt.simulator.host import HostRunner
    from edgeopt.solvers import kind_of

    artifact = compile_file(args.model, name=args.name, input_shapes=dict(args.input_shape), stream=args.stream)
    kind = kind_of(artifact)
    inputs = load_npz(args.inputs) if args.inputs else None
    if inputs is not None and kind is not None:
        inputs = kind.prepare_inputs(artifact, inputs)
    if inputs is None:
        inputs = _seeded_inputs(artifact, args.samples)
    with SerialRunner(artifact, url=args.port, target=args.target, timeout=args.timeout, progress=_progress,
                      batch=args.batch) as runner:
        outputs = runner.run(inputs)
        cost, unit = runner.cost_per_call(inputs)
        report = dict(runner.latency_report(), board=runner.info.get("target"), core=runner.info.get("core"),
                      artifact=artifact.digest, cost_per_call=cost, cost_unit=unit)
    with HostRunner(artifact) as host:
        expected = host.run(inputs)
    report["mismatches"] = mismatches(artifact, outputs, expected, args.rtol, args.atol)
    if args.outputs:
        save_npz(args.outputs, kind.finish_outputs(artifact, outputs)[0] if kind else outputs)
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
    print(f"board          {report['board']} ({report['core']}), artifact {artifact.digest}")
    print(f"samples        {report['samples']} in {report['round_trips']} round trips "
          f"({report['samples_per_round_trip']} per frame)")
    print(f"mismatches     {report['mismatches']} against the host simulator (rtol {args.rtol:g}, atol {args.atol:g})")
    print(f"latency        p50 {report['latency_ms_p50']:.2f} ms  p95 {report['latency_ms_p95']:.2f} ms per round trip")
    print(f"throughput     {report['throughput_per_s']:,.0f} samples/s")
    print(f"cost per call  {cost:,.0f} {unit} (measured on the board)")
    print(f"link           {report['link']['requests']} requests, {report['link']['retries']} retries, "
          f"{report['link']['corrupt']} corrupt and {report['link']['stale']} stale frames")
    return 1 if report["mismatches"] else 0
