"""Solver config files (TOML): reading and the validation helpers every solver kind's schema
uses, so that errors always name the file, the key, what was expected and what was found."""
from __future__ import annotations

import math
from pathlib import Path

from edgeopt.errors import EdgeoptError

INT32_MAX = 2 ** 31 - 1


class ConfigError(EdgeoptError):
    """A solver config file is missing, unreadable or invalid."""


def load_toml(path: Path) -> dict:
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder; pass the solver's .toml config file") from None
    except (UnicodeDecodeError, OSError) as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


class ConfigReader:
    """Typed access to a parsed config; every failure names file, [section] key, expected
    and found."""

    def __init__(self, path, data):
        self.path, self.data = Path(path), data

    def fail(self, section, key, expected, found):
        shown = f'"{found}"' if isinstance(found, str) else repr(found)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        raise ConfigError(f"{self.path}: [{section}] {key} must be {expected}; found {shown}")

    def table(self, section) -> dict:
        table = self.data.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{self.path}: [{section}] must be a table")
        return table

    def get(self, section, key, default=...):
        table = self.table(section)
        if key not in table:
            if default is ...:
                raise ConfigError(f"{self.path}: missing key [{section}] {key}")
            return default
        return table[key]

    def integer(self, section, key, minimum, default=..., maximum=INT32_MAX):
        value = self.get(section, key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            self.fail(section, key, f"an integer from {minimum} to {maximum:,}", value)
        return value

    def number(self, section, key, default=..., minimum=None, positive=False):
        value = self.get(section, key, default)
        if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                or not math.isfinite(float(_float32(value)))):
            self.fail(section, key, "a finite number (float32 range)", value)
        if positive and value <= 0:
            self.fail(section, key, "a positive number", value)
        if minimum is not None and value < minimum:
            self.fail(section, key, f"a number >= {minimum}", value)
        return float(value)

    def vector(self, section, key, length, default=..., positive=False):
        value = self.get(section, key, default)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value] * length  # a scalar applies to every component
        if (not isinstance(value, list) or len(value) != length
                or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                       or not math.isfinite(float(_float32(v))) for v in value)):
            self.fail(section, key, f"a list of {length} finite numbers (or one number)", value)
        if positive and any(v < 0 for v in value):
            self.fail(section, key, "non-negative weights", value)
        return tuple(float(v) for v in value)

    def choice(self, section, key, options, default=...):
        value = self.get(section, key, default)
        if value not in options:
            self.fail(section, key, " or ".join(f'"{o}"' for o in options), value)
        return value

    def model_path(self, section="model", key="path") -> Path:
        model = self.get(section, key)
        if not isinstance(model, str):
            self.fail(section, key, "a path string (relative to the config)", model)
        model_path = (self.path.parent / model).resolve()
        if not model_path.is_file():
            raise ConfigError(f"{self.path}: [{section}] {key}: {model_path} does not exist")
        return model_path


def solver_name(read: ConfigReader, override=None, default="solver") -> str:
    """The C prefix: --name, else [solver] name; a valid identifier that is not reserved."""
    from edgeopt.codegen.names import check_prefix

    name = override or read.get("solver", "name", default)
    try:
        return check_prefix(name, "--name" if override else "[solver] name")
    except ValueError as exc:
        if override:
            raise ConfigError(str(exc)) from None
        read.fail("solver", "name", "a C identifier of at most 32 characters that is not reserved "
                  "(a keyword, a standard library name, eo/EO_...)", name)


def _float32(value):
    import numpy as np

    with np.errstate(over="ignore"):
        return np.float32(value)
