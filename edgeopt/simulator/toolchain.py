"""Host C compiler discovery and invocation."""
import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from edgeopt.errors import ToolchainError

STRICT_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-Wdouble-promotion", "-Wconversion"]
# Contracting a*b+c into FMA is what the Cortex-M builds do too; it stays within tolerance.
# -O3 lets GCC vectorize the kernels' contiguous inner loops on the host.
HOST_OPT_FLAGS = ["-O3", "-ffp-contract=fast", "-march=native"]
# EDGEOPT_SANITIZE=1 builds every host simulation with AddressSanitizer and UBSan, aborting
# on the first finding; the Python process then needs the ASan runtime preloaded
# (LD_PRELOAD=$(cc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0).
SANITIZE_FLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g"]


def host_flags(opt_flags=None) -> list:
    """The host build's optimization (and, under EDGEOPT_SANITIZE, sanitizer) flags."""
    flags = list(opt_flags or HOST_OPT_FLAGS)
    return flags + SANITIZE_FLAGS if os.environ.get("EDGEOPT_SANITIZE") else flags


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


def cache_dir() -> Path:
    root = os.environ.get("EDGEOPT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "edgeopt")
    return Path(root)


def runtime_archive(cc: str, flags: list, ar: str = "ar") -> Path:
    """The C runtime compiled once per (compiler, flags, sources) into a static archive."""
    from edgeopt.resources import runtime_dir

    runtime = runtime_dir()
    sources = sorted((runtime / "src").glob("*.c"))
    digest = hashlib.sha256()
    digest.update(" ".join([cc, *flags]).encode())
    for path in sources + sorted((runtime / "include").glob("*.h")):
        digest.update(path.name.encode() + path.read_bytes())
    target = cache_dir() / f"runtime-{digest.hexdigest()[:16]}" / "libeo_runtime.a"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        objects = []
        for source in sources:
            obj = Path(tmp) / (source.stem + ".o")
            run_compiler([cc, *flags, f"-I{runtime / 'include'}", "-c", str(source), "-o", str(obj)])
            objects.append(str(obj))
        staged = Path(tmp) / "libeo_runtime.a"
        run_compiler([shutil.which(ar) or ar, "rcs", str(staged), *objects])
        os.replace(staged, target)
    return target


class Workspace:
    """A temporary build folder owned by a compiled artifact; use the artifact as a context
    manager (or call close()) to remove it."""

    def __init__(self, prefix: str):
        self.workdir = Path(tempfile.mkdtemp(prefix=prefix))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        shutil.rmtree(self.workdir, ignore_errors=True)

    @contextlib.contextmanager
    def removed_on_error(self):
        try:
            yield
        except BaseException:
            self.close()
            raise
