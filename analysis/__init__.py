"""Recorded traffic as one tidy pandas DataFrame, and the reports built from it.

Installed as ``chime_tap.analysis``::

    from chime_tap.analysis import load_frame, summarize, render, export

    frame = load_frame(["cassettes/demo.yaml", "flows.mitm", "traffic.har"])
    print(render(summarize(frame), "text"))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Where each public name lives. They are imported on first use (PEP 562), so a command that only
# reads inputs (``validate``, ``check``, ``diff`` use chime_tap.analysis.load's readers) does not
# import pandas and the report modules at start-up.
_HOMES = {
    "COLUMNS": "load",
    "load_file": "load",
    "load_frame": "load",
    "export": "rendering",
    "render": "rendering",
    "to_jsonable": "rendering",
    "select": "summaries",
    "summarize": "summaries",
}
__all__ = [  # the names of _HOMES, spelled out for type checkers and linters
    "COLUMNS",
    "export",
    "load_file",
    "load_frame",
    "render",
    "select",
    "summarize",
    "to_jsonable",
]

if TYPE_CHECKING:
    from chime_tap.analysis.load import COLUMNS, load_file, load_frame
    from chime_tap.analysis.rendering import export, render, to_jsonable
    from chime_tap.analysis.summaries import select, summarize


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
