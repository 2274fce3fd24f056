"""Recorded traffic as one tidy pandas DataFrame, and the reports built from it.

Installed as ``chime_tap.analysis``::

    from chime_tap.analysis import load_frame, summarize, render, export

    frame = load_frame(["cassettes/demo.yaml", "flows.mitm", "traffic.har"])
    print(render(summarize(frame), "text"))
"""

from chime_tap.analysis.load import COLUMNS, load_file, load_frame
from chime_tap.analysis.render import export, render, to_jsonable
from chime_tap.analysis.summaries import select, summarize

__all__ = [
    "COLUMNS",
    "export",
    "load_file",
    "load_frame",
    "render",
    "select",
    "summarize",
    "to_jsonable",
]
