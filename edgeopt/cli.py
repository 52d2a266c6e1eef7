"""The command line: parses options, calls the stages, renders results and errors."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgeopt import __version__
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


def _add_model_options(parser):
    parser.add_argument("model", help="model file (.onnx)")
    parser.add_argument("--name", help="C symbol prefix (default: from the file name)")
    parser.add_argument("--input-shape", action="append", type=_parse_input_shape, default=[],
                        metavar="NAME=D0,D1,...", help="fix an input's shape (repeatable)")


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
                      help="PlatformIO board for --platformio (default qemu_cortex_m4); see the README")

    flash = sub.add_parser("flash", help="build and upload a generated PlatformIO project")
    flash.add_argument("project", help="folder written by compile --platformio")
    flash.add_argument("--port", help="upload port, e.g. /dev/ttyACM0")

    sim = sub.add_parser("simulate", help="run the generated C on the host")
    _add_model_options(sim)
    sim.add_argument("--inputs", required=True, help="npz: one (N, *shape) array per model input")
    sim.add_argument("--outputs", help="npz to write: one (N, *shape) array per model output")
    sim.add_argument("--compare", action="store_true", help="compare with onnxruntime")
    sim.add_argument("--per-layer", action="store_true",
                     help="compare every layer with onnxruntime and name the first that diverges")
    sim.add_argument("--target", default="host",
                     help="host (default), or an emulated Cortex-M: qemu-cortex-m3, qemu-cortex-m4, "
                          "qemu-cortex-m7, qemu-cortex-m33")
    sim.add_argument("--report", help="JSON file for the emulated run's instruction counts and memory")
    sim.add_argument("--timeout", type=float, default=300.0, help="seconds before a QEMU run is killed")
    sim.add_argument("--closed-loop", action="store_true",
                     help="solver configs: run the controller against --plant for --steps steps")
    sim.add_argument("--plant", help="PLANT.onnx or FILE.py[:FUNCTION] with step(x, u) -> x")
    sim.add_argument("--steps", type=int, default=200)
    sim.add_argument("--rtol", type=float, default=1e-4)
    sim.add_argument("--atol", type=float, default=1e-5)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
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


def _is_solver_config(path):
    return str(path).lower().endswith(".toml")


def _compile(args):
    from edgeopt.pipeline import compile_model, write_library

    if _is_solver_config(args.model):
        return _compile_solver(args)

    generated = compile_model(args.model, name=args.name, input_shapes=dict(args.input_shape))
    if args.platformio:
        budget = _write_project(args, generated)
    if args.output or not args.platformio:
        output = args.output or "build/model"
        written = write_library(generated, output, with_runtime=not args.no_runtime)
        print(f"wrote {len(written)} files to {output}: " + ", ".join(sorted(generated.files))
              + ("" if args.no_runtime else ", edgeopt_runtime/"))
    print(_summary(generated))
    if args.platformio:
        print(f"wrote a PlatformIO project for {budget['board']} to {args.platformio} "
              f"(needs about {budget['flash_bytes']:,} B flash, {budget['ram_bytes']:,} B RAM); "
              f"build with: pio run -d {args.platformio}")
    return 0


def _compile_solver(args):
    from edgeopt.pipeline import runtime_files, write_files
    from edgeopt.solvers.newton_mpc import compile_solver

    if args.platformio:
        raise EdgeoptError("--platformio is not available for solver configs yet; use -o DIR and "
                           "add the files to your project")
    solver = compile_solver(args.model)
    output = args.output or "build/solver"
    files = dict(solver.files)
    if not args.no_runtime:
        files.update({f"edgeopt_runtime/{rel}": text for rel, text in runtime_files().items()})
    write_files(files, output)
    config = solver.config
    print(f"solver {config.name}: horizon {config.horizon} (control horizon {config.control_horizon}), "
          f"{config.state_dim} states, {config.control_dim} controls, {solver.output_dim} outputs, "
          f"{config.jacobian} model Jacobian")
    print(f"wrote {', '.join(sorted(solver.files))}{'' if args.no_runtime else ', edgeopt_runtime/'} "
          f"to {output}")
    return 0


def _simulate_solver(args):
    import json

    from edgeopt.solvers.newton_mpc import EmulatedSolver, HostSolver, compile_solver

    if args.compare or args.per_layer:
        raise EdgeoptError("--compare/--per-layer apply to models, not solver configs")
    inputs = _load_npz(args.inputs)
    solver = compile_solver(args.model)
    if args.closed_loop:
        return _closed_loop(args, solver, inputs)
    if args.target == "host":
        if args.report:
            raise EdgeoptError("--report needs an emulated --target (e.g. qemu-cortex-m4)")
        with HostSolver(solver) as host:
            outputs = host.solve(inputs)
    else:
        from edgeopt.simulator.qemu import get_target

        get_target(args.target)
        with EmulatedSolver(solver, args.target) as emulated:
            outputs, report = emulated.solve(inputs, timeout=args.timeout)
        print(_report_table(report).replace("instructions/inference", "instructions/solve"))
        if args.report:
            Path(args.report).parent.mkdir(parents=True, exist_ok=True)
            Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
    if args.outputs:
        _save_npz(args.outputs, outputs)
    status = outputs["status"]
    print(f"solved {status.size} problem(s): {int((status == 0).sum())} converged, "
          f"{int((status == 1).sum())} at the iteration cap, {int((status == 2).sum())} numerical "
          f"failures; iterations median {int(np.median(outputs['iterations']))}")
    return 0


def _closed_loop(args, solver, inputs):
    from edgeopt.solvers.closed_loop import load_plant, run_closed_loop, save_trajectory
    from edgeopt.solvers.newton_mpc import HostSolver

    if not args.plant or not args.outputs:
        raise EdgeoptError("--closed-loop needs --plant and --outputs (the trajectory file)")
    if args.target != "host" or args.steps < 1:
        raise EdgeoptError("--closed-loop runs on the host with --steps >= 1")
    plant = load_plant(args.plant, solver.config)
    with HostSolver(solver) as host:
        trajectory = run_closed_loop(host, plant, inputs, args.steps)
    written = save_trajectory(trajectory, args.outputs)
    error = trajectory["y"] - trajectory["r"]
    weights = np.asarray(solver.config.q) > 0
    rms = float(np.sqrt(np.mean(error[:, weights] ** 2)))
    print(f"closed loop: {args.steps} steps, RMS tracking error {rms:.4f} on the weighted outputs, "
          f"median {int(np.median(trajectory['iterations']))} iteration(s); wrote "
          + ", ".join(str(p) for p in written))
    return 0


def _write_project(args, generated):
    from edgeopt.platformio.project import board_info, write_project
    from edgeopt.simulator.reference import run_reference

    _, board = board_info(args.board)
    vectors = None
    if board["emulated"]:  # on-target tests compare with the reference on seeded inputs
        rng = np.random.default_rng(0)
        inputs = {t.name: rng.integers(-128, 128, (4,) + t.shape).astype(np.int8) if t.dtype == "int8"
                  else rng.standard_normal((4,) + t.shape).astype(np.float32) for t in generated.inputs}
        reference = run_reference(args.model, inputs)
        vectors = ([inputs[t.name].reshape(4, -1) for t in generated.inputs],
                   [reference[t.name].reshape(4, -1) for t in generated.outputs])
    budget = write_project(generated, args.platformio, args.board, vectors, source=Path(args.model).name)
    if board["emulated"]:
        from edgeopt.platformio.offline import prepare_offline

        prepare_offline()  # so that a plain `pio run` works without the registry
    return budget


def _flash(args):
    from edgeopt.platformio.offline import run_pio

    command = ["run", "-d", args.project, "-t", "upload"]
    if args.port:
        command += ["--upload-port", args.port]
    result = run_pio(command)
    print(result.stdout.strip()[-4000:])
    return 0


def _summary(generated):
    rows = [("#", "op", "node", "output shape")]
    for index, (op, node, shape) in enumerate(generated.layers):
        node = node if len(node) <= 32 else node[:29] + "..."
        rows.append((str(index), op, node.encode("unicode_escape").decode(), "x".join(map(str, shape))))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.append("")
    lines.append(f"layers: {len(generated.layers)}   parameters: {generated.parameters}   "
                 f"weights: {generated.weight_bytes} B   arena: {generated.arena_bytes} B "
                 f"(peak live tensors: {generated.peak_bytes} B)")
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
    from edgeopt.pipeline import compile_model
    from edgeopt.simulator.host import prepare_inputs

    if _is_solver_config(args.model):
        return _simulate_solver(args)
    inputs = _load_npz(args.inputs)
    generated = compile_model(args.model, name=args.name, input_shapes=dict(args.input_shape))
    prepare_inputs(generated, inputs)
    if args.target == "host":
        if args.report:
            raise EdgeoptError("--report needs an emulated --target (e.g. qemu-cortex-m4)")
        outputs, traces = _simulate_host(args, generated, inputs)
    else:
        if args.per_layer:
            raise EdgeoptError("--per-layer runs on the host only; drop --target to use it")
        outputs, traces = _simulate_qemu(args, generated, inputs), None
    if args.outputs:
        _save_npz(args.outputs, outputs)
    samples = next(iter(outputs.values())).shape[0]
    print(f"simulated {samples} sample(s) on {args.target}")
    if args.compare or args.per_layer:
        _compare(args, generated, inputs, outputs, traces)
    return 0


def _simulate_host(args, generated, inputs):
    from edgeopt.simulator.host import HostModel

    with HostModel.build(args.model, generated=generated, trace=args.per_layer) as model:
        if args.per_layer:
            return model.run_traced(inputs)
        return model.run(inputs), None


def _simulate_qemu(args, generated, inputs):
    import json

    from edgeopt.simulator.qemu import QemuModel, get_target

    get_target(args.target)
    with QemuModel(generated, args.target) as model:
        outputs, report = model.run(inputs, timeout=args.timeout)
    print(_report_table(report))
    if args.report:
        path = Path(args.report)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n")
    return outputs


def _report_table(report):
    counts = report["instructions_per_inference"]
    rows = [
        ("target", f"{report['target']} ({report['machine']}, {report['core']})"),
        ("instructions/inference", f"min {counts['min']:,}  median {counts['median']:,}  max {counts['max']:,}"),
        ("flash (text+rodata+data)", f"{report['flash_bytes']:,} B"),
        ("ram (data+bss)", f"{report['ram_bytes']:,} B"),
        ("stack high-water", f"{report['stack_bytes']:,} B"),
        ("arena / weights", f"{report['arena_bytes']:,} B / {report['weights_bytes']:,} B"),
        ("flags", " ".join(report["compiler_flags"])),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def _compare(args, generated, inputs, outputs, traces):
    from edgeopt.simulator.reference import compare, run_reference

    steps = generated.steps
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
        _report_layers(steps, traces, reference, args)
    if failed:
        raise MismatchError("simulated outputs differ from onnxruntime beyond the tolerance")


def _report_layers(steps, traces, reference, args):
    from edgeopt.simulator.reference import compare

    print("\nper layer (step, nodes, max abs err, max rel err):")
    first_bad = None
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
    else:
        print("every layer matches onnxruntime within tolerance")


_COMMANDS = {"compile": _compile, "simulate": _simulate, "flash": _flash}


if __name__ == "__main__":
    sys.exit(main())
