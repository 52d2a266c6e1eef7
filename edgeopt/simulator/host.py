"""Host simulator: build the generated C as a shared library, load it with ctypes and
run batches of samples in C."""
from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from edgeopt.codegen.render import make_environment
from edgeopt.errors import InputDataError
from edgeopt.pipeline import compile_model, write_library
from edgeopt.resources import resource_dir, runtime_dir
from edgeopt.simulator.toolchain import (
    HOST_OPT_FLAGS, STRICT_FLAGS, Workspace, host_cc, run_compiler, runtime_archive,
)



class HostModel(Workspace):
    """A compiled model loaded in-process. Use as a context manager, or call close()."""

    def __init__(self, generated, trace=False, opt_flags=None):
        super().__init__("edgeopt-sim-")
        self.generated = generated
        self.traced = trace
        with self.removed_on_error():
            library = build_shared_library(generated, self.workdir, trace, opt_flags or HOST_OPT_FLAGS)
            self._lib = ctypes.CDLL(str(library))
        self._lib.eo_sim_run_batch.restype = ctypes.c_int32
        self._lib.eo_sim_run_batch.argtypes = [ctypes.c_int32, ctypes.POINTER(ctypes.c_void_p),
                                                ctypes.POINTER(ctypes.c_void_p)]

    @classmethod
    def build(cls, model_path, name=None, input_shapes=None, trace=False, generated=None,
              opt_flags=None):
        generated = generated or compile_model(model_path, name=name, input_shapes=input_shapes)
        return cls(generated, trace, opt_flags)

    @property
    def input_names(self):
        return [t.name for t in self.generated.inputs]

    @property
    def output_names(self):
        return [t.name for t in self.generated.outputs]

    def run(self, inputs: dict) -> dict:
        """inputs: {input name: array (N, *input shape)} -> {output name: (N, *output shape)}."""
        return self._run(inputs, None)[0]

    def run_traced(self, inputs: dict):
        """Like run(), also returning every step's output: {step index: (N, size)}."""
        if not self.traced:
            raise RuntimeError("build the model with trace=True to capture per-layer outputs")
        samples = _batch_size(self.generated, inputs)
        traces = {s.index: np.zeros((samples, s.size), np.float32) for s in self.generated.steps}
        return self._run(inputs, traces)

    def _run(self, inputs, traces):
        arrays = prepare_inputs(self.generated, inputs)
        samples = arrays[0].shape[0] if arrays else _batch_size(self.generated, inputs)
        outputs = [np.zeros((samples,) + t.shape, t.dtype) for t in self.generated.outputs]
        in_ptrs = (ctypes.c_void_p * max(len(arrays), 1))(*[a.ctypes.data for a in arrays])
        out_ptrs = (ctypes.c_void_p * len(outputs))(*[o.ctypes.data for o in outputs])
        if traces is not None:
            steps = len(self.generated.steps)
            targets = (ctypes.POINTER(ctypes.c_float) * max(steps, 1))(
                *[traces[i].ctypes.data_as(ctypes.POINTER(ctypes.c_float)) for i in range(steps)])
            self._lib.eo_sim_set_trace(targets)
        status = self._lib.eo_sim_run_batch(samples, in_ptrs, out_ptrs)
        if traces is not None:
            self._lib.eo_sim_set_trace(None)
        if status != 0:
            raise RuntimeError(f"{self.generated.name}_invoke failed on sample {status - 1}")
        result = {t.name: o for t, o in zip(self.generated.outputs, outputs)}
        return result, traces


def _batch_size(generated, inputs):
    sizes = {np.asarray(v).shape[0] for v in inputs.values() if np.ndim(v) > 0}
    return sizes.pop() if len(sizes) == 1 else 1


def prepare_inputs(generated, inputs: dict) -> list:
    """Validate user arrays against the model's inputs; contiguous float32 copies."""
    expected = {t.name: t for t in generated.inputs}
    missing = [n for n in expected if n not in inputs]
    extra = [n for n in inputs if n not in expected]
    if missing or extra:
        wanted = ", ".join(f"{t.name!r} (N, {', '.join(map(str, t.shape))})" for t in generated.inputs)
        problem = f"missing {missing}" if missing else f"unknown {extra}"
        raise InputDataError(f"input arrays do not match the model ({problem}); it expects: {wanted}")
    arrays, count = [], None
    for tensor in generated.inputs:
        array = np.asarray(inputs[tensor.name])
        if array.shape[1:] != tensor.shape:
            raise InputDataError(
                f"input {tensor.name!r} has shape {array.shape}; expected (N, "
                f"{', '.join(map(str, tensor.shape))}) with N samples"
            )
        if count is not None and array.shape[0] != count:
            raise InputDataError(f"inputs have different sample counts ({count} and {array.shape[0]})")
        count = array.shape[0]
        if np.dtype(tensor.dtype).kind == "i":
            info = np.iinfo(tensor.dtype)
            if array.dtype.kind not in "iu" or array.min(initial=0) < info.min or array.max(initial=0) > info.max:
                raise InputDataError(f"input {tensor.name!r} is {tensor.dtype}: pass integer values "
                                     f"in [{info.min}, {info.max}] (got {array.dtype})")
        arrays.append(np.ascontiguousarray(array, tensor.dtype))
    return arrays


def build_shared_library(generated, workdir: Path, trace: bool, opt_flags) -> Path:
    write_library(generated, workdir, with_runtime=False)
    harness = make_environment().get_template("simulator/host_harness.c.j2").render(
        prefix=generated.name, inputs=generated.inputs, outputs=generated.outputs)
    (workdir / "eo_sim_harness.c").write_text(harness)
    cc = host_cc()
    runtime_lib = runtime_archive(cc, [*STRICT_FLAGS, *opt_flags, "-fPIC"])
    args = [cc, *STRICT_FLAGS, *opt_flags, "-fPIC", "-shared",
            f"-I{runtime_dir() / 'include'}", f"-I{workdir}"]
    if trace:
        hook = resource_dir("templates") / "simulator" / "trace_hook.h"
        args += ["-DEO_SIM_TRACE", "-include", str(hook)]
    library = workdir / f"lib{generated.name}.so"
    args += [str(workdir / f"{generated.name}.c"), str(workdir / "eo_sim_harness.c"),
             str(runtime_lib), "-o", str(library), "-lm"]
    run_compiler(args, cwd=workdir)
    return library
