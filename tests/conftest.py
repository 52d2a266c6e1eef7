import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture
def run_cli(capsys):
    """Run the edgeopt CLI in-process: returns (exit code, stdout, stderr)."""
    from edgeopt.cli import main

    def run(*args):
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run
