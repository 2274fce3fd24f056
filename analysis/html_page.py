"""The report as one self-contained HTML page: tables, and charts as PNG data: URIs (no network)."""

from __future__ import annotations

import base64
from typing import Any

from chime_tap.analysis import charts
from chime_tap.analysis.rendering import (
    BASELINE_TITLE,
    TITLES,
    baseline_section,
    clipped,
    escape,
    headline,
    section_frames,
    section_notes,
    skew_lines,
    table_rows,
)

# Wide tables (the lifecycle table has 15 columns) scroll inside the page, not off it; long
# texts (error messages, violations) wrap inside their cell.
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
.table-scroll { max-width: 100%; overflow-x: auto; margin: 0.5em 0 1.5em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
td { max-width: 40em; overflow-wrap: anywhere; }
th { background: #f2f2f2; white-space: nowrap; }
.warning { color: #b00020; font-weight: bold; }
img { max-width: 100%; display: block; margin: 0.5em 0 1.5em; }
"""


def _img(png: bytes | None, alt: str) -> str:
    if png is None:  # a section with no data says so once, under its table
        return ""
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def _table(header: list[str], cells: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in cells
    )
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="table-scroll">{table}</div>'


def render_html(summary: dict[str, Any]) -> str:
    """The whole page as a string; charts need the frame-level data in the summary."""
    frames = section_frames(summary)
    notes = section_notes(summary)
    figures = {
        "traffic": _img(charts.status_over_time(summary["traffic"]), "status codes over time"),
        "latency_ms": _img(
            charts.latency_distribution(summary["latency_ms"]), "latency distribution per operation"
        ),
        "errors": _img(charts.error_breakdown(summary["errors"]), "error breakdown"),
    }
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>chime-tap traffic report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>chime-tap traffic report</h1>",
        f"<p>{escape(headline(summary))}</p>",
    ]
    for key, title in TITLES.items():
        parts.append(f"<h2>{escape(title)}</h2>")
        if key == "clock_skew":
            for line in skew_lines(summary[key]) + notes[key]:
                cls = ' class="warning"' if line.startswith("WARNING") else ""
                parts.append(f"<p{cls}>{escape(line)}</p>")
            continue
        frame, index = frames[key]
        if key == "traffic":
            frame = frame.loc[frame.sum(axis=1).gt(0)] if not frame.empty else frame
        if frame.empty:
            parts.append("<p>(none)</p>")
        else:
            parts.append(figures.get(key, ""))
            frame, note = clipped(frame)
            parts.append(_table(*table_rows(frame, index=index)))
            if note:
                parts.append(f"<p>{escape(note)}</p>")
        parts += [f"<p>{escape(line)}</p>" for line in notes.get(key, [])]
    baseline = baseline_section(summary)
    if baseline is not None:  # traffic recorded in spy mode (record --compare-to)
        lines, frame = baseline
        parts.append(f"<h2>{escape(BASELINE_TITLE)}</h2>")
        parts += [f"<p>{escape(line)}</p>" for line in lines]
        if not frame.empty:
            frame, note = clipped(frame)
            parts.append(_table(*table_rows(frame, index=False)))
            parts += [f"<p>{escape(note)}</p>"] if note else []
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
