"""hil_tests against a labgrid board farm on loopback: a coordinator, an exporter offering two
emulated boards' UARTs as NetworkSerialPort resources, two places, and the suite run on both
in parallel (pytest-xdist, one worker per place, each acquiring its own)."""
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import models
from edgeopt.hil.board import EmulatedBoard, build_hil_firmware, free_port
from edgeopt.pipeline import compile_file
from edgeopt.targets import get_target

pytest.importorskip("labgrid")
pytest.importorskip("xdist")
ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not (shutil.which("labgrid-coordinator") and shutil.which("qemu-system-arm")),
                                reason="labgrid's tools or qemu-system-arm not installed")


def wait_for(check, seconds=20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def listening(address):
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
        return True
    except OSError:
        return False


def test_hil_suite_on_two_labgrid_places(tmp_path):
    model = models.save(models.mlp(), tmp_path / "mlp.onnx")
    artifact = compile_file(model)
    elf = build_hil_firmware(artifact, get_target("qemu-cortex-m4"), tmp_path)
    coordinator = f"127.0.0.1:{free_port()}"
    env = dict(os.environ, LG_COORDINATOR=coordinator)
    processes, boards = [], []
    logs = {name: open(tmp_path / f"{name}.log", "w") for name in ("coordinator", "exporter")}
    try:
        boards = [EmulatedBoard(artifact, "qemu-cortex-m4", elf=elf) for _ in range(2)]
        processes.append(subprocess.Popen(["labgrid-coordinator", "--listen", coordinator], cwd=tmp_path,
                                          stdout=logs["coordinator"], stderr=subprocess.STDOUT))
        # the exporter gives up on a coordinator that is not listening yet
        assert wait_for(lambda: listening(coordinator), seconds=90), "the coordinator did not start: " + (
            tmp_path / "coordinator.log").read_text()[-1500:]
        exporter = tmp_path / "exporter.yaml"
        exporter.write_text("".join(f"board-{i}:\n  NetworkSerialPort:\n    host: 127.0.0.1\n    port: {b.port}\n"
                                    f"    protocol: raw\n" for i, b in enumerate(boards)))
        processes.append(subprocess.Popen(["labgrid-exporter", "--coordinator", coordinator, "--name", "edgeopt-farm",
                                           str(exporter)], cwd=tmp_path, env=env,
                                          stdout=logs["exporter"], stderr=subprocess.STDOUT))
        client = ["labgrid-client"]
        # a loaded machine takes a while to start both (they import much of labgrid and gRPC)
        registered = wait_for(lambda: "board-1" in subprocess.run(client + ["resources"], env=env, capture_output=True,
                                                                  text=True).stdout, seconds=90)
        assert registered, "the exporter did not register: " + "".join(
            f"\n{name}: {(tmp_path / f'{name}.log').read_text()[-1500:]}" for name in logs)
        for i in range(2):
            for command in (["create"], ["add-match", f"edgeopt-farm/board-{i}/*"]):
                subprocess.run(client + ["-p", f"farm{i}"] + command, env=env, check=True, capture_output=True)
        (tmp_path / "farm.yaml").write_text("targets:\n  main:\n    resources:\n      RemotePlace:\n"
                                            "        name: !template $LG_PLACE\n"
                                            f"options:\n  coordinator_address: {coordinator}\n")
        result = subprocess.run(
            [sys.executable, "-m", "pytest", str(ROOT / "hil_tests" / "test_hil_models.py"), "-n", "2", "--dist", "each",
             "-p", "no:cacheprovider", "--lg-env", str(tmp_path / "farm.yaml"), "--artifact", str(model),
             "-k", "given_artifact", "-v"],
            cwd=tmp_path, env=dict(env, LG_PLACES="farm0,farm1"), capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
        assert result.stdout.count("PASSED") == 2, result.stdout[-3000:]  # one run on each place
    finally:
        for process in processes:
            process.terminate()
        for board in boards:
            board.close()
        for log in logs.values():
            log.close()
