"""hil_tests against the other emulated targets (the main run takes qemu-cortex-m4): the
model tests over each board's UART, and the whole suite on the AST1030, the other M4F board,
whose UART is the fast one."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODEL_TESTS = [str(ROOT / "hil_tests" / "test_hil_models.py"), "-k", "mlp or int8 or reports"]


@pytest.mark.skipif(not shutil.which("qemu-system-arm"), reason="qemu-system-arm not installed")
@pytest.mark.parametrize("target,selection", [
    *(pytest.param(target, MODEL_TESTS, id=f"{target}-models")
      for target in ("qemu-cortex-m3", "qemu-cortex-m7", "qemu-cortex-m33")),
    pytest.param("qemu-ast1030", [str(ROOT / "hil_tests")], id="qemu-ast1030-all"),
])
def test_hil_suite_on(target, selection):
    result = subprocess.run([sys.executable, "-m", "pytest", *selection, "-q", "-p", "no:cacheprovider",
                             "--target", target], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
