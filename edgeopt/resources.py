"""Locate templates/ and firmware/: inside the installed wheel, or at the repository top."""
from importlib import resources
from pathlib import Path


def resource_dir(name: str) -> Path:
    packaged = Path(str(resources.files("edgeopt"))) / name
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parent.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"edgeopt installation is missing its {name}/ folder")


def runtime_dir() -> Path:
    return resource_dir("firmware") / "edgeopt_runtime"
