"""hil_tests against the other emulated targets (the main run takes qemu-cortex-m4): the
model tests, over each board's UART."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(not shutil.which("qemu-system-arm"), reason="qemu-system-arm not installed")
@pytest.mark.parametrize("target", ["qemu-cortex-m3", "qemu-cortex-m7", "qemu-cortex-m33", "qemu-ast1030"])
def test_hil_suite_on(target):
    result = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "hil_tests" / "test_hil_models.py"), "-q",
                             "-p", "no:cacheprovider", "--target", target, "-k", "mlp or int8 or reports"],
                            cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
