"""The command line: parses options, calls the stages, renders results and errors."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from edgeopt import __version__, hil_cli
from edgeopt.errors import EdgeoptError, InputDataError, MismatchError


def _parse_input_shape(text):
    name, sep, dims = text.rpartition("=")
    try:
        shape = tuple(int(d) for d in dims.split(","))
    except ValueError:
        shape = ()
    if not sep or not name or not shape:
        raise argparse.ArgumentTypeError(
            f"expected NAME=D0,D1,... (e.g. input=1,3,32,32), got {text!r}")
    return name, shape


def _tolerance(text):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def _add_model_options(parser):
    parser.add_argument("model", help="model file (.onnx, .tflite, Keras .h5) or solver config (.toml)")
    parser.add_argument("--name", help="C symbol prefix (default: from the file name)")
    parser.add_argument("--input-shape", action="append", type=_parse_input_shape, default=[],
                        metavar="NAME=D0,D1,...", help="fix an input's shape (repeatable)")
    parser.add_argument("--stream", action="store_true",
                        help="recurrent models: one time step per call, the state kept between calls")
    parser.add_argument("--int8-weights", choices=("auto", "compact", "expanded"), default="auto",
                        help="int8 weights on DSP cores: compact (int8 as stored), expanded (int16 "
                             "copies: faster, twice the flash) or auto (default: expanded where it "
                             "pays most, within 16 KiB or the board's free flash if less)")


def build_parser():
    parser = argparse.ArgumentParser(prog="edgeopt", description="Compile models to C for microcontrollers.")
    parser.add_argument("--version", action="version", version=f"edgeopt {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    comp = sub.add_parser("compile", help="generate a C library from a model")
    _add_model_options(comp)
    comp.add_argument("-o", "--output",
                      help="folder for the C library (default: build/model unless --platformio)")
    comp.add_argument("--no-runtime", action="store_true",
                      help="do not copy the edgeopt C runtime next to the model")
    comp.add_argument("--platformio", metavar="DIR", help="also write a PlatformIO project to DIR")
    comp.add_argument("--board", default="qemu_cortex_m4",
                      help="target board for --platformio (default qemu_cortex_m4): a target of "
                           "firmware/targets.json; see the README")

    flash = sub.add_parser("flash", help="build and upload a generated PlatformIO project")
    flash.add_argument("project", help="folder written by compile --platformio")
    flash.add_argument("--port", help="upload port, e.g. /dev/ttyACM0")

    hil_cli.add_parser(sub, _tolerance, _parse_input_shape)

    sim = sub.add_parser("simulate", help="run the generated C on the host")
    _add_model_options(sim)
    sim.add_argument("--inputs", required=True, help="npz: one (N, *shape) array per model input")
    sim.add_argument("--outputs", help="npz to write: one (N, *shape) array per model output")
    sim.add_argument("--compare", action="store_true",
                     help="compare with the reference runtime (onnxruntime; TFLM for .tflite)")
    sim.add_argument("--per-layer", action="store_true",
                     help="compare every layer with onnxruntime and name the first that diverges")
    sim.add_argument("--target", default="host",
                     help="host (default), or an emulated Cortex-M target of firmware/targets.json "
                          "(qemu-cortex-m3, -m4, -m7, -m33, qemu-ast1030)")
    sim.add_argument("--report", help="JSON file for the emulated run's instruction counts and memory")
    sim.add_argument("--timeout", type=float, default=300.0, help="seconds before a QEMU run is killed")
    sim.add_argument("--closed-loop", action="store_true",
                     help="solver configs: run the controller against --plant for --steps steps")
    sim.add_argument("--plant", help="PLANT.onnx or FILE.py[:FUNCTION] with step(x, u) -> x")
    sim.add_argument("--steps", type=int, default=200)
    sim.add_argument("--rtol", type=_tolerance, default=1e-4)
    sim.add_argument("--atol", type=_tolerance, default=1e-5)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            if not os.environ.get("EDGEOPT_DEBUG"):  # numpy's overflow notes are not messages for users:
                warnings.simplefilter("ignore", RuntimeWarning)  # the stages check what matters
            return _COMMANDS[args.command](args)
    except EdgeoptError as exc:
        print(f"edgeopt: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`
        return 0
    except Exception as exc:  # a bug: say so plainly, full trace only on request
        if os.environ.get("EDGEOPT_DEBUG"):
            raise
        print(f"edgeopt: internal error: {type(exc).__name__}: {exc}\n"
              "This is a bug in edgeopt; rerun with EDGEOPT_DEBUG=1 for a traceback and report it.",
              file=sys.stderr)
        return 3


def _compile_model_args(args, target=None):
    """The artifact the command line asks for. auto int8 weights spend the same 16 KiB on
    int16 copies with or without a board (so that `hil run` rebuilds the artifact a board
    runs), unless that leaves less than an eighth of the board's flash for the application:
    then only what a compact build leaves free up to there."""
    from edgeopt.budget import estimate
    from edgeopt.pipeline import compile_file

    options = dict(name=args.name, input_shapes=dict(args.input_shape), stream=args.stream)
    artifact = compile_file(args.model, int8_weights=args.int8_weights, **options)
    if target is None or args.int8_weights != "auto":
        return artifact
    usable = target.flash - target.flash // 8
    if estimate(artifact, target)["flash_bytes"] <= usable:  # its copies fit: the usual artifact
        return artifact
    compact = compile_file(args.model, int8_weights="compact", **options)
    return compile_file(args.model, spare_flash=max(usable - estimate(compact, target)["flash_bytes"], 0),
                        **options)


def _compile(args):
    from edgeopt.pipeline import write_library
    from edgeopt.targets import get_target

    target = get_target(args.board) if args.platformio else None
    artifact = _compile_model_args(args, target)
    if args.platformio:
        budget = _write_project(args, artifact, target)
    if args.output or not args.platformio:
        output = args.output or "build/model"
        written = write_library(artifact, output, with_runtime=not args.no_runtime)
        print(f"wrote {', '.join(sorted(artifact.files))}{'' if args.no_runtime else ', edgeopt_runtime/'} "
              f"to {output} ({len(written)} file(s) changed)")
    print(_summary(artifact))
    if args.platformio:
        print(f"wrote a PlatformIO project for {budget['board']} to {args.platformio} "
              f"(needs about {budget['flash_bytes']:,} B flash, {budget['ram_bytes']:,} B RAM); "
              f"build with: pio run -d {args.platformio}")
    return 0


def _write_project(args, artifact, target):
    from edgeopt.platformio.project import write_project

    vectors = _test_vectors(args.model, artifact) if target.emulated else None
    budget = write_project(artifact, args.platformio, target, vectors)
    if target.emulated:
        from edgeopt.platformio.offline import prepare_offline

        prepare_offline()  # so that a plain `pio run` works without the registry
    return budget


def _test_vectors(path, artifact, samples=4):
    """Seeded inputs and the outputs the on-target tests expect: the reference runtime's for
    models (onnxruntime, TFLM), the host simulator's for solvers (their reference is the
    same C, built for the host)."""
    from edgeopt.artifact import check_inputs
    from edgeopt.simulator.reference import run_reference

    rng = np.random.default_rng(0)
    inputs = {t.name: rng.integers(-128, 128, (samples,) + t.shape).astype(np.int8) if t.dtype == "int8"
              else (0.5 * rng.standard_normal((samples,) + t.shape)).astype(np.float32)
              for t in artifact.inputs}
    if artifact.kind == "model":
        expected = run_reference(path, inputs)
    else:
        from edgeopt.simulator.host import HostRunner

        with HostRunner(artifact) as runner:
            expected = runner.run(inputs)
    arrays = check_inputs(artifact, inputs)
    return ([a.reshape(samples, -1) for a in arrays],
            [np.asarray(expected[t.name]).reshape(samples, -1) for t in artifact.outputs])


def _flash(args):
    from edgeopt.platformio.offline import run_pio

    command = ["run", "-d", args.project, "-t", "upload"]
    if args.port:
        command += ["--upload-port", args.port]
    result = run_pio(command)
    print(result.stdout.strip()[-4000:])
    return 0


def _summary(artifact):
    from edgeopt.solvers import kind_of

    memory = artifact.memory
    below = [f"{artifact.in_place_layers} layer(s) in place"] if artifact.in_place_layers else []
    if artifact.windowed_layers:
        below.append(f"{artifact.windowed_layers} run a row at a time inside the next")
    in_place = f"; {', '.join(below)}, below the bound" if below else ""
    footer = (f"weights: {artifact.weight_bytes} B   arena: {memory.arena} B "
              f"(peak live tensors: {artifact.peak_bytes} B{in_place})   static RAM: {memory.static_ram} B")
    kind = kind_of(artifact)
    if kind is not None:
        return "\n".join(kind.summary(artifact) + [footer])
    rows = [("#", "op", "node", "output shape")]
    for index, (op, node, shape) in enumerate(artifact.layers):
        node = node if len(node) <= 32 else node[:29] + "..."
        rows.append((str(index), op, node.encode("unicode_escape").decode(), "x".join(map(str, shape))))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines += ["", f"layers: {len(artifact.layers)}   parameters: {artifact.parameters}   {footer}"]
    return "\n".join(lines)


def _load_npz(path):
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise InputDataError(f"{path}: no such file") from None
    except Exception as exc:
        raise InputDataError(f"{path}: not a readable .npz file ({exc})") from None


def _save_npz(path, arrays):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(suffix=".npz", dir=path.parent)
    os.close(handle)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _simulate(args):
    from edgeopt.solvers import kind_of

    inputs = _load_npz(args.inputs)
    if args.stream and (args.compare or args.per_layer):
        raise EdgeoptError("--compare/--per-layer check whole sequences against the reference runtime: drop "
                           "--stream for them (its samples are the time steps of one stream)")
    artifact = _compile_model_args(args)
    kind = kind_of(artifact)
    if args.closed_loop:  # its own npz contract: the reference trajectory
        return _closed_loop(args, artifact, kind, inputs)
    if kind is not None:
        if args.compare or args.per_layer:
            raise EdgeoptError("--compare/--per-layer apply to models, not solver configs")
        inputs = kind.prepare_inputs(artifact, inputs)
    if args.target == "host":
        if args.report:
            raise EdgeoptError("--report needs an emulated --target (e.g. qemu-cortex-m4)")
        outputs, traces = _simulate_host(args, artifact, inputs)
    else:
        if args.per_layer:
            raise EdgeoptError("--per-layer runs on the host only; drop --target to use it")
        outputs, traces = _simulate_qemu(args, artifact, inputs), None
    if kind is not None:
        outputs, line = kind.finish_outputs(artifact, outputs)
    else:
        line = f"simulated {next(iter(outputs.values())).shape[0]} sample(s) on {args.target}"
    if args.outputs:
        _save_npz(args.outputs, outputs)
    print(line)
    if args.compare or args.per_layer:
        _compare(args, artifact, inputs, outputs, traces)
    return 0


def _closed_loop(args, artifact, kind, inputs):
    from edgeopt.simulator.host import HostRunner

    if kind is None or kind.closed_loop is None:
        raise EdgeoptError("--closed-loop applies to controller configs (e.g. newton_mpc)")
    if not args.plant or not args.outputs:
        raise EdgeoptError("--closed-loop needs --plant and --outputs (the trajectory file)")
    if args.target != "host":
        raise EdgeoptError("--closed-loop runs on the host; on a board use `edgeopt hil`")
    with HostRunner(artifact) as runner:
        print(kind.closed_loop(artifact, runner, args.plant, inputs, args.steps, args.outputs))
    return 0


def _simulate_host(args, artifact, inputs):
    from edgeopt.simulator.host import HostRunner

    with HostRunner(artifact, trace=args.per_layer) as runner:
        if args.per_layer:
            return runner.run_traced(inputs)
        return runner.run(inputs), None


def _simulate_qemu(args, artifact, inputs):
    import json

    from edgeopt.simulator.qemu import QemuRunner

    with QemuRunner(artifact, args.target) as runner:
        outputs, report = runner.run(inputs, timeout=args.timeout)
    print(_report_table(report))
    if args.report:
        path = Path(args.report)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n")
    return outputs


def _report_table(report):
    counts = report["instructions_per_call"]
    rows = [
        ("target", f"{report['target']} ({report['machine']}, {report['core']})"),
        ("instructions/call", f"min {counts['min']:,}  median {counts['median']:,}  max {counts['max']:,}"),
        ("flash (text+rodata+data)", f"{report['flash_bytes']:,} B"),
        ("ram (data+bss)", f"{report['ram_bytes']:,} B"),
        ("stack high-water", f"{report['stack_bytes']:,} B"),
        ("arena / static RAM", f"{report['arena_bytes']:,} B / {report['static_ram_bytes']:,} B"),
        ("weights on this core", f"{report['weights_bytes']:,} B"),
        ("flags", " ".join(report["compiler_flags"])),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def _compare(args, artifact, inputs, outputs, traces):
    from edgeopt.simulator.reference import compare, run_reference

    steps = artifact.steps
    extra = [s.output for s in steps] if args.per_layer else []
    reference = run_reference(args.model, inputs, extra)
    failed = False
    print(f"{'output':<24} {'max abs err':>12} {'max rel err':>12}  within rtol={args.rtol:g} atol={args.atol:g}")
    for name, value in outputs.items():
        result = compare(value, reference[name], args.rtol, args.atol, name)
        failed |= not result.ok
        shown = name if len(name) <= 24 else name[:21] + "..."
        print(f"{shown:<24} {result.max_abs:>12.3e} {result.max_rel:>12.3e}  {'yes' if result.ok else 'NO'}")
    if args.per_layer:
        _report_layers(steps, traces, reference, args, _reference_name(args.model))
    if failed:
        raise MismatchError(f"simulated outputs differ from {_reference_name(args.model)} beyond the tolerance")


def _reference_name(model):
    return "the TFLite reference (TFLM)" if str(model).lower().endswith(".tflite") else "onnxruntime"


def _report_layers(steps, traces, reference, args, reference_name):
    from edgeopt.simulator.reference import compare

    print("\nper layer (step, nodes, max abs err, max rel err):")
    first_bad = None
    unseen = [step for step in steps if step.output not in reference]
    for step in steps:
        expected = reference.get(step.output)
        if expected is None:
            continue
        result = compare(traces[step.index], expected.reshape(expected.shape[0], -1), args.rtol, args.atol)
        nodes = ", ".join(step.sources)
        print(f"  [{step.index}] {step.op_type:<18} {nodes[:40]:<40} {result.max_abs:.3e} {result.max_rel:.3e}"
              f"{'' if result.ok else '  <-- diverges'}")
        if not result.ok and first_bad is None:
            first_bad = step
    if first_bad is not None:
        print(f"first divergence: step {first_bad.index}, node(s) {', '.join(first_bad.sources)} "
              f"({first_bad.op_type}) writing tensor {first_bad.output!r}")
    elif unseen:
        print(f"{len(unseen)} of {len(steps)} layers have no intermediate from {reference_name} to compare "
              f"(the TFLite runtimes expose only the model outputs); those compared match")
    else:
        print(f"every layer matches {reference_name} within tolerance")


def _hil(args):
    return hil_cli.run(args, _load_npz, _save_npz)


_COMMANDS = {"compile": _compile, "simulate": _simulate, "flash": _flash, "hil": _hil}


if __name__ == "__main__":
    sys.exit(main())
