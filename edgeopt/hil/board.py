"""Emulated boards for HIL: the PlatformIO project's firmware (the same main, link and
runtime) cross-compiled for a QEMU target and started with its UART on a local TCP port."""
from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from edgeopt.codegen.render import make_environment
from edgeopt.errors import ToolchainError
from edgeopt.pipeline import write_library
from edgeopt.platformio.project import harness_context
from edgeopt.simulator.qemu import cross_compile, tool
from edgeopt.simulator.toolchain import Workspace
from edgeopt.targets import get_target, qemu_command


def build_hil_firmware(artifact, target, workdir: Path) -> Path:
    write_library(artifact, workdir)
    main = make_environment().get_template("project/main_qemu.c.j2").render(**harness_context(artifact, target))
    (workdir / "eo_hil_main.c").write_text(main)
    sources = [workdir / n for n in sorted(artifact.files) if n.endswith(".c")] + [workdir / "eo_hil_main.c"]
    return cross_compile(workdir, sources, target, output="hil.elf")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class EmulatedBoard(Workspace):
    """QEMU running the HIL firmware; `url` is its UART (socket://127.0.0.1:PORT)."""

    def __init__(self, artifact, target_name: str, elf: Path = None):
        self.target = get_target(target_name, emulated=True)
        super().__init__("edgeopt-hil-")
        with self.removed_on_error():
            self.elf = elf or build_hil_firmware(artifact, self.target, self.workdir)
            self.port = free_port()
            self.process = subprocess.Popen(
                qemu_command(self.target, str(self.elf), serial_port=self.port, qemu=tool("qemu-system-arm")),
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            self._wait_listening()
        self.url = f"socket://127.0.0.1:{self.port}"

    def _wait_listening(self, seconds=10.0):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ToolchainError(f"QEMU exited at start: {self.process.stderr.read().decode()[-1000:]}")
            with socket.socket() as probe:  # QEMU listens once its UART socket exists
                if probe.connect_ex(("127.0.0.1", self.port)) != 0:
                    time.sleep(0.02)
                    continue
            return  # the probe connected and left: QEMU accepts the next connection (wait=on)
        raise ToolchainError(f"QEMU did not open its UART on port {self.port} within {seconds:.0f} s")

    def close(self):
        process = getattr(self, "process", None)
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
        super().close()
