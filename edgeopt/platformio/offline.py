"""Make PlatformIO work without its registry: the tool-scons core package built from
the PyPI scons package, and settings that stop telemetry and update checks."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from edgeopt.errors import ToolchainError

# The core's requirement is "~4.41101.0" (PlatformIO 6.2).
TOOL_SCONS_VERSION = "4.41101.0"

OFFLINE_ENV = {
    "PLATFORMIO_SETTING_ENABLE_TELEMETRY": "no",
    "PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL": "36500",
    "PLATFORMIO_DISABLE_UPGRADE_CHECK": "true",  # else the weekly check stalls ~61 s offline
}

SCONS_LAUNCHER = '''"""tool-scons launcher written by edgeopt from the PyPI scons package."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import SCons.Script  # noqa: E402

SCons.Script.main()
'''


def core_dir() -> Path:
    return Path(os.environ.get("PLATFORMIO_CORE_DIR") or Path.home() / ".platformio")


def pio_env() -> dict:
    env = dict(os.environ)
    env.update(OFFLINE_ENV)
    return env


def pio_command() -> list:
    exe = shutil.which("pio") or shutil.which("platformio")
    if exe:
        return [exe]
    if importlib.util.find_spec("platformio") is None:
        raise ToolchainError("PlatformIO is not installed: pip install platformio")
    return [sys.executable, "-m", "platformio"]


def prepare_offline() -> Path:
    """Install tool-scons into the PlatformIO core dir (idempotent); returns its path."""
    try:
        import SCons
    except ImportError:
        raise ToolchainError("the scons package is missing: pip install scons") from None
    target = core_dir() / "packages" / "tool-scons"
    marker = target / ".piopm"
    if marker.is_file() and (target / "SCons").is_dir():
        return target
    staging = target.with_name("tool-scons.edgeopt-tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shutil.copytree(Path(SCons.__file__).parent, staging / "SCons",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (staging / "scons.py").write_text(SCONS_LAUNCHER)
    (staging / "package.json").write_text(json.dumps({
        "name": "tool-scons", "version": TOOL_SCONS_VERSION,
        "description": f"SCons {SCons.__version__} from PyPI, packaged by edgeopt for offline use",
    }, indent=2))
    (staging / ".piopm").write_text(json.dumps({
        "type": "tool", "name": "tool-scons", "version": TOOL_SCONS_VERSION,
        "spec": {"owner": "platformio", "id": None, "name": "tool-scons", "requirements": None,
                 "uri": None},
    }))
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def run_pio(args, cwd=None, timeout=900, check=True):
    """Run the pio CLI offline; returns the CompletedProcess."""
    prepare_offline()
    try:
        result = subprocess.run(pio_command() + list(args), cwd=cwd, env=pio_env(),
                                capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ToolchainError(f"`pio {' '.join(args)}` timed out after {timeout} s") from None
    if check and result.returncode != 0:
        tail = (result.stdout + result.stderr).strip()[-3000:]
        raise ToolchainError(f"`pio {' '.join(args)}` failed (exit code {result.returncode}):\n{tail}")
    return result
