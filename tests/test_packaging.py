"""The wheel carries templates/ and firmware/ so a non-editable install works."""
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_ships_templates_and_runtime(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, text=True)
    (wheel,) = tmp_path.glob("edgeopt-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {str(p.relative_to(ROOT)) for d in ("templates", "firmware") for p in (ROOT / d).rglob("*")
                if p.is_file()}
    assert expected, "nothing to ship?"
    missing = {p for p in expected if f"edgeopt/{p}" not in names}
    assert not missing
