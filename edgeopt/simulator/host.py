"""Host simulator: build any artifact as a shared library with the host C compiler, load it
with ctypes and run batches of samples through its packed entry point in one C loop."""
from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from edgeopt.artifact import check_inputs, pack, unpack
from edgeopt.codegen.render import make_environment
from edgeopt.pipeline import compile_file, write_library
from edgeopt.resources import resource_dir, runtime_dir
from edgeopt.simulator.toolchain import (
    STRICT_FLAGS, Workspace, host_cc, host_flags, run_compiler, runtime_archive,
)


class HostRunner(Workspace):
    """An artifact compiled for the host and loaded in-process. Use as a context manager, or
    call close(). `library` is the ctypes handle for the artifact's native C API."""

    def __init__(self, artifact, trace=False, opt_flags=None):
        super().__init__("edgeopt-sim-")
        self.artifact = artifact
        self.traced = trace
        with self.removed_on_error():
            path = build_shared_library(artifact, self.workdir, trace, host_flags(opt_flags))
            self.library = ctypes.CDLL(str(path))
        run = self.library.eo_sim_run_batch
        run.restype = ctypes.c_int32
        run.argtypes = [ctypes.c_int32, ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p]

    @classmethod
    def build(cls, path, name=None, input_shapes=None, trace=False, opt_flags=None):
        """Compile a model file or solver config and load it."""
        return cls(compile_file(path, name=name, input_shapes=input_shapes), trace, opt_flags)

    def run(self, inputs: dict, reset: bool = True) -> dict:
        """inputs: {name: (N, *shape)} -> {output name: (N, *shape)}: one packed call per
        sample, in order, after NAME_reset() unless reset=False (to continue a stream)."""
        return self._run(inputs, None, reset)[0]

    def run_traced(self, inputs: dict):
        """Like run(), also returning every model step's output: {step index: (N, size)}."""
        if not self.traced:
            raise RuntimeError("build the runner with trace=True to capture per-layer outputs")
        samples = next(iter(inputs.values())).shape[0] if inputs else 1
        traces = {s.index: np.zeros((samples, s.size), np.float32) for s in self.artifact.steps}
        return self._run(inputs, traces, True)

    def _run(self, inputs, traces, reset):
        packed = pack(self.artifact.inputs, check_inputs(self.artifact, inputs))
        samples = packed.shape[0]
        outputs = np.zeros((samples, self.artifact.output_bytes), np.uint8)
        if traces is not None:
            steps = len(self.artifact.steps)
            targets = (ctypes.POINTER(ctypes.c_float) * max(steps, 1))(
                *[traces[i].ctypes.data_as(ctypes.POINTER(ctypes.c_float)) for i in range(steps)])
            self.library.eo_sim_set_trace(targets)
        status = self.library.eo_sim_run_batch(samples, int(reset), packed.ctypes.data, outputs.ctypes.data)
        if traces is not None:
            self.library.eo_sim_set_trace(None)
        if status != 0:
            raise RuntimeError(f"{self.artifact.entry} failed on sample {status - 1}")
        return unpack(self.artifact.outputs, outputs), traces


def build_shared_library(artifact, workdir: Path, trace: bool, opt_flags) -> Path:
    write_library(artifact, workdir, with_runtime=False)
    harness = make_environment().get_template("simulator/host_harness.c.j2").render(
        prefix=artifact.name, input_bytes=artifact.input_bytes, output_bytes=artifact.output_bytes)
    (workdir / "eo_sim_harness.c").write_text(harness)
    cc = host_cc()
    runtime_lib = runtime_archive(cc, [*STRICT_FLAGS, *opt_flags, "-fPIC"])
    args = [cc, *STRICT_FLAGS, *opt_flags, "-fPIC", "-shared",
            f"-I{runtime_dir() / 'include'}", f"-I{workdir}"]
    if trace:
        hook = resource_dir("templates") / "simulator" / "trace_hook.h"
        args += ["-DEO_SIM_TRACE", "-include", str(hook)]
    library = workdir / f"lib{artifact.name}.so"
    sources = [str(workdir / n) for n in sorted(artifact.files) if n.endswith(".c")]
    args += [*sources, str(workdir / "eo_sim_harness.c"), str(runtime_lib), "-o", str(library), "-lm"]
    run_compiler(args, cwd=workdir)
    return library
