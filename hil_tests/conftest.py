"""The hil_tests plugin: one suite against an emulated board, a real one on a serial port, or
a labgrid board farm's place.

    pytest hil_tests                                   # qemu-cortex-m4 (the default)
    pytest hil_tests --target qemu-cortex-m33
    pytest hil_tests --target serial:/dev/ttyACM0 --board nucleo_f446re   # builds, flashes, runs
    pytest hil_tests --target serial:/dev/ttyACM0 --artifact model.onnx   # a board already flashed
    pytest hil_tests --lg-env farm.yaml --artifact model.onnx [-n 2]      # labgrid places
    pytest hil_tests --build-only                       # build every firmware, run nothing

Fixtures chain: the artifact -> the firmware (built; flashed with --board) -> a connected
SerialRunner. The target is in every test id; tests that need a real board are marked
requires_hardware and skip without one."""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the model builders the unit tests use

# labgrid resolves `!template $LG_PLACE` when its plugin loads the --lg-env file, before any
# fixture runs: with pytest-xdist, each worker takes its own place from LG_PLACES.
# (the controller process takes the first, for labgrid to load the file there too).
if os.environ.get("LG_PLACES"):
    _places = os.environ["LG_PLACES"].split(",")
    _worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").lstrip("gw"))
    os.environ["LG_PLACE"] = _places[_worker % len(_places)]


def pytest_addoption(parser):
    group = parser.getgroup("edgeopt hil")
    group.addoption("--target", default="qemu-cortex-m4",
                    help="qemu-cortex-m3|m4|m7|m33, qemu-ast1030 (emulated), or serial:URL (a real board)")
    group.addoption("--board", help="with serial:URL, the PlatformIO board to build and flash first")
    group.addoption("--artifact", help="model or config the connected board already runs (serial or labgrid)")
    group.addoption("--build-only", action="store_true", help="build the firmware, run nothing")
    group.addoption("--hil-timeout", type=float, default=1.0, help="seconds per try on the link")
    if "labgrid" not in sys.modules and not _has_labgrid():
        group.addoption("--lg-env", help="labgrid environment (install labgrid to use it)")


def _has_labgrid():
    import importlib.util

    return importlib.util.find_spec("labgrid") is not None


def pytest_configure(config):
    config.addinivalue_line("markers", "requires_hardware: needs a real board (--target serial:URL or --lg-env)")


def _where(config):
    """The target in test ids: the same on every xdist worker, each on its own labgrid place."""
    if config.getoption("lg_env", None):
        return "labgrid"
    return config.getoption("target")


def pytest_generate_tests(metafunc):
    if "hil_target" in metafunc.fixturenames:
        where = _where(metafunc.config)
        metafunc.parametrize("hil_target", [where], ids=[where], scope="session")


def pytest_collection_modifyitems(config, items):
    real = not _where(config).startswith("qemu-")
    for item in items:
        if "requires_hardware" in item.keywords and not real:
            item.add_marker(pytest.mark.skip(reason="needs a real board: pass --target serial:/dev/ttyACM0 "
                                                    "(or --lg-env with a place)"))


class Boards:
    """Connects artifacts to the selected target."""

    def __init__(self, config, where, tmp):
        self.config, self.where, self.tmp = config, where, tmp
        self.timeout = config.getoption("hil_timeout")

    def emulated(self):
        return self.where.startswith("qemu-")

    def url(self):
        if self.where.startswith("serial:"):
            return self.where[len("serial:"):]
        return _labgrid_url(self.config)

    def open(self, artifact, **options):
        from edgeopt.hil.runner import SerialRunner

        if self.config.getoption("build_only"):
            self._build(artifact)
            pytest.skip("--build-only: firmware built")
        if self.emulated():
            return SerialRunner(artifact, target=self.where, timeout=self.timeout, **options)
        board = self.config.getoption("board")
        if board:
            self._flash(artifact, board)
        runner = None
        try:
            runner = SerialRunner(artifact, url=self.url(), timeout=self.timeout, **options)
        except Exception as exc:  # the board runs other firmware: this test is not for it
            from edgeopt.hil.runner import ArtifactMismatch

            if isinstance(exc, ArtifactMismatch):
                pytest.skip(str(exc))
            raise
        return runner

    def _build(self, artifact):
        if self.emulated():
            from edgeopt.hil.board import build_hil_firmware
            from edgeopt.targets import get_target

            folder = self.tmp / artifact.name
            folder.mkdir(parents=True, exist_ok=True)
            build_hil_firmware(artifact, get_target(self.where), folder)
        else:
            self._flash(artifact, self.config.getoption("board"), upload=False)

    def _flash(self, artifact, board, upload=True):
        from edgeopt.platformio.offline import run_pio
        from edgeopt.platformio.project import write_project
        from edgeopt.targets import get_target

        if not board:
            pytest.skip("pass --board to build the firmware of a real board")
        project = self.tmp / f"fw-{artifact.name}"
        write_project(artifact, project, get_target(board))
        command = ["run", "-d", str(project)] + (["-t", "upload", "--upload-port", self.url()] if upload else [])
        run_pio(command)


def _labgrid_url(config):
    """The serial port (NetworkSerialPort) of the place labgrid's environment names."""
    from labgrid import Environment
    from labgrid.resource import NetworkSerialPort

    environment = Environment(config.getoption("lg_env"))
    resource = environment.get_target().get_resource(NetworkSerialPort, wait_avail=True)
    return f"socket://{resource.host}:{resource.port}"


@pytest.fixture(scope="session")
def boards(request, hil_target, tmp_path_factory):
    if hil_target == "labgrid" and os.environ.get("LG_PLACE"):
        import subprocess

        # this worker's place: acquired for the session, released at its end
        subprocess.run(["labgrid-client", "-p", os.environ["LG_PLACE"], "acquire"], check=True)
        yield Boards(request.config, hil_target, tmp_path_factory.mktemp("hil"))
        subprocess.run(["labgrid-client", "-p", os.environ["LG_PLACE"], "release"], check=False)
        return
    yield Boards(request.config, hil_target, tmp_path_factory.mktemp("hil"))


@pytest.fixture(scope="session")
def given_artifact(request):
    """The artifact the connected board already runs (serial or labgrid), if named."""
    path = request.config.getoption("artifact")
    if not path:
        return None
    from edgeopt.pipeline import compile_file

    return compile_file(path)
