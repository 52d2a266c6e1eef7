"""The host-simulator model tests again, with every generated library and the runtime built
under AddressSanitizer and UBSan (-fno-sanitize-recover=all: the first finding aborts)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgeopt.simulator.toolchain import host_cc

TESTS = Path(__file__).resolve().parent
SUITES = ["test_models.py", "test_codegen.py", "test_hostile.py", "test_conformance.py", "test_tflite.py",
          "test_tflite_ops.py", "test_recurrent.py", "test_streaming.py"]


def _runtime_library(name):
    path = subprocess.run([host_cc(), f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()
    return path if os.path.isabs(path) and os.path.exists(path) else None


def test_model_tests_run_clean_under_asan_and_ubsan(tmp_path):
    asan, cxx = _runtime_library("libasan.so"), _runtime_library("libstdc++.so")
    if not (asan and cxx):
        pytest.skip("the compiler has no AddressSanitizer runtime (libasan)")
    env = dict(os.environ, EDGEOPT_SANITIZE="1", ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
               UBSAN_OPTIONS="print_stacktrace=1", LD_PRELOAD=f"{asan} {cxx}",  # onnxruntime throws C++
               EDGEOPT_CACHE_DIR=str(tmp_path / "cache"))
    # the Cortex-M runs do not use the host build: leave them to the main run
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                             "-k", "not cortex and not qemu and not m3 and not m4", *SUITES],
                            cwd=TESTS, env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    assert " passed" in result.stdout
