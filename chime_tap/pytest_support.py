"""What the pytest plugin needs besides hooks and fixtures: where a cassette lives, the marker."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = [
    "CASSETTE_SUFFIXES",
    "cassette_path",
    "marker_settings",
    "setup_problem",
    "swallowed_misses",
]

CASSETTE_SUFFIXES = (".yaml", ".yml", ".json")


def cassette_path(
    test_file: str | os.PathLike[str], cassette_dir: str, name: str | None, test_name: str
) -> Path:
    """Where a test's cassette lives: ``<test dir>/<cassette_dir>/<name>`` (``.yaml`` added if no suffix).

    Without a name: ``<cassette_dir>/<test module>/<test name>.yaml``.
    """
    base = Path(test_file).parent / cassette_dir
    if not name:
        name = f"{Path(test_file).stem}/{test_name.replace('/', '_')}"
    path = base / name
    if path.suffix.lower() not in CASSETTE_SUFFIXES:
        path = path.with_name(path.name + ".yaml")
    return path


def marker_settings(args: tuple, kwargs: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """(cassette name, vcr overrides) from ``@pytest.mark.chime_cassette(name, **overrides)``."""
    kwargs = dict(kwargs)
    if len(args) > 1:
        raise ValueError(f"chime_cassette takes one cassette name, got {len(args)}: {args!r}")
    name = args[0] if args else kwargs.pop("path", None)
    if name is not None and not isinstance(name, str | os.PathLike):
        raise ValueError(f"chime_cassette: the cassette name must be a string, got {name!r}")
    return (os.fspath(name) if name is not None else None), dict(kwargs)


def setup_problem(overrides: dict[str, Any], record_mode: str, path: Path) -> str | None:
    """Why a marked test cannot run in its cassette as asked (one line), or None."""
    if "record_mode" in overrides:
        return "chime_cassette: set the record mode with --chime-record-mode, not record_mode"
    if record_mode == "none" and not path.is_file():
        return f"chime_cassette: {path} does not exist; record it with --chime-record-mode=once"
    return None


def swallowed_misses(cassette: Any, passed: bool) -> str | None:
    """The failure of a test that passed though a request had no recorded match, or None."""
    missed = cassette.miss_report()
    if missed and passed:
        return f"chime_cassette: a request had no recorded match, though the test passed:\n{missed}"
    return None
