"""Host C compiler discovery and invocation."""
import os
import shutil
import subprocess

from edgeopt.errors import ToolchainError

STRICT_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-Wdouble-promotion", "-Wconversion"]
# Contracting a*b+c into FMA is what the Cortex-M builds do too; it stays within tolerance.
HOST_OPT_FLAGS = ["-O2", "-ffp-contract=fast"]


def host_cc() -> str:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc or not shutil.which(cc):
        raise ToolchainError(
            "no host C compiler found (looked for $CC, cc, gcc, clang); install one, e.g. "
            "`apt-get install -y gcc` on Debian/Ubuntu"
        )
    return cc


def run_compiler(args, cwd=None):
    try:
        result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise ToolchainError(f"the C compiler timed out: {' '.join(args[:3])} ...") from None
    if result.returncode != 0:
        raise ToolchainError(
            "the generated C failed to compile; this is an edgeopt bug, please report it with "
            f"the model.\n$ {' '.join(args)}\n{result.stderr.strip()[-4000:]}"
        )
    return result
