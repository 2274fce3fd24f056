"""Summaries rendered as terminal text, Markdown, a self-contained HTML page or JSON; the frame
exported as CSV or Parquet."""

from __future__ import annotations

import html
import json
import math
import os
from typing import Any

import numpy as np
import pandas as pd

from chime_tap.analysis.summaries import summarize

FORMATS = ("text", "markdown", "html", "json")
EXPORT_FORMATS = ("csv", "parquet")

# Section titles, in the order every renderer shows them.
TITLES = {
    "status_codes": "Status codes per operation",
    "errors": "Errors by type and message",
    "latency_ms": "Latency per operation (ms)",
    "traffic": "Traffic over time",
    "sessions": "Proxy-session lifecycles",
    "clock_skew": "Clock skew (X-Amz-Date minus Date)",
    "violations": "Schema violations",
}


def render(summary_or_frame: dict[str, Any] | pd.DataFrame, fmt: str = "text") -> str:
    """The report in ``fmt`` (text, markdown, html or json); a frame is summarized first."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r} (use one of: {', '.join(FORMATS)})")
    summary = (
        summarize(summary_or_frame)
        if isinstance(summary_or_frame, pd.DataFrame)
        else summary_or_frame
    )
    if fmt == "json":
        return json.dumps(to_jsonable(summary), indent=2) + "\n"
    if fmt == "html":
        from chime_tap.analysis.html_page import render_html

        return render_html(summary)
    return _render_tables(summary, markdown=fmt == "markdown")


def export(frame: pd.DataFrame, fmt: str, path: str | os.PathLike[str]) -> None:
    """Write the frame itself as CSV or Parquet."""
    if fmt == "csv":
        frame.to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
    elif fmt == "parquet":
        frame.to_parquet(path, index=False)
    else:
        raise ValueError(f"unknown export format {fmt!r} (use one of: {', '.join(EXPORT_FORMATS)})")


# --- JSON -------------------------------------------------------------------------------------


def _scalar(value: Any) -> Any:
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _scalar(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _codes(codes: pd.DataFrame) -> dict[str, dict[str, int]]:
    return {
        str(op): {str(code): int(n) for code, n in row.items() if n} for op, row in codes.iterrows()
    }


def _latencies(latency: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {str(op): {k: _scalar(v) for k, v in row.items()} for op, row in latency.iterrows()}


def _by_namespace(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per namespace (and OTHER for other traffic): interactions, status codes, errors, latency
    and the number of sessions, shaped as the report's totals are."""
    split = summary["by_namespace"]
    codes, errors, latency = split["status_codes"], split["errors"], split["latency_ms"]
    sessions = summary["sessions"]["namespace"].value_counts()

    def rows_of(table: pd.DataFrame, ns: str) -> pd.DataFrame:
        return (
            table.xs(ns, level="namespace")
            if ns in table.index.unique("namespace")
            else table.iloc[:0]
        )

    return {
        str(ns): {
            "interactions": int(count),
            "status_codes": _codes(rows_of(codes, ns)),
            "errors": _records(errors.loc[errors["namespace"].eq(ns)].drop(columns="namespace")),
            "latency_ms": _latencies(rows_of(latency, ns)),
            "sessions": int(sessions.get(ns, 0)),
        }
        for ns, count in split["interactions"].items()
    }


def to_jsonable(summary: dict[str, Any]) -> dict[str, Any]:
    """The summaries as plain JSON values: counts keyed by operation, timestamps as ISO 8601;
    ``by_namespace`` repeats the counts per namespace."""
    traffic = summary["traffic"]
    return {
        "interactions": int(summary["interactions"]),
        "time_range": _time_range_json(summary["time_range"]),
        "namespaces": list(summary["namespaces"]),
        "status_codes": _codes(summary["status_codes"]),
        "errors": _records(summary["errors"]),
        "latency_ms": _latencies(summary["latency_ms"]),
        "traffic": {
            "interval": traffic.attrs.get("interval"),
            "buckets": _records(traffic.reset_index()) if len(traffic) else [],
        },
        "sessions": _records(summary["sessions"]),
        "clock_skew": {
            k: _scalar(v) if not isinstance(v, list) else v
            for k, v in summary["clock_skew"].items()
        },
        "violations": _records(summary["violations"]),
        "timing_gaps": _records(summary["timing_gaps"]),
        "by_namespace": _by_namespace(summary),
        **(
            {"latency_quantiles": dict(summary["latency_quantiles"])}
            if summary.get("latency_quantiles")
            else {}
        ),
        **(
            {"differences_from_baseline": _baseline_json(summary["differences_from_baseline"])}
            if summary.get("differences_from_baseline")
            else {}
        ),
    }


def _time_range_json(time_range: dict[str, Any]) -> dict[str, Any]:
    """The time range with its two times always to the millisecond, as the other formats
    show them (``isoformat`` would drop the fraction of a whole second)."""
    return {
        k: v.isoformat(timespec="milliseconds") if isinstance(v, pd.Timestamp) else _scalar(v)
        for k, v in time_range.items()
    }


def _baseline_json(section: dict[str, Any]) -> dict[str, Any]:
    return {**section, "differences": _records(section["differences"])}


BASELINE_TITLE = "Differences from baseline"


def baseline_section(summary: dict[str, Any]) -> tuple[list[str], pd.DataFrame] | None:
    """Spy mode's section (traffic recorded with --compare-to only): its lines and its table."""
    section = summary.get("differences_from_baseline")
    if not section:
        return None
    lines = [
        f"{section['with_differences']} of {section['compared']} compared call(s) differ from "
        f"the baseline ({section['without_counterpart']} without a recorded counterpart)"
    ]
    return lines, section["differences"]


# --- text and Markdown ------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if isinstance(value, pd.Timestamp):
        text = value.strftime("%Y-%m-%d %H:%M:%S")
        return text + (f".{value.microsecond // 1000:03d}" if value.microsecond else "")
    value = _scalar(value)
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) < 1e6 else f"{value:.3g}"
    return str(value)


def table_rows(frame: pd.DataFrame, *, index: bool) -> tuple[list[str], list[list[str]]]:
    """Header and cells of a frame as strings (the index first when it carries labels)."""
    shown = frame.reset_index() if index else frame
    header = [str(c) for c in shown.columns]
    cells = [[_cell(v) for v in row] for row in shown.itertuples(index=False, name=None)]
    return header, cells


def _text_table(header: list[str], cells: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


_MARKDOWN_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`[]|"})


def markdown_text(text: str) -> str:
    """Text from traffic, made inert in Markdown: HTML (a ``<script>``, an ``<img onerror>``)
    shows as text, and no link, image, code span or table cell starts inside it."""
    return html.escape(text, quote=False).translate(_MARKDOWN_SPECIAL)


def _markdown_table(header: list[str], cells: list[list[str]]) -> str:
    def esc(s: str) -> str:
        return markdown_text(s).replace("\n", "<br>")

    lines = ["| " + " | ".join(map(esc, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(esc, row)) + " |" for row in cells]
    return "\n".join(lines)


MAX_ROWS = 50  # rows a table section shows in text, Markdown and HTML; JSON and exports keep all


def clipped(frame: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """The first MAX_ROWS rows, and a note saying how many were left out."""
    if len(frame) <= MAX_ROWS:
        return frame, None
    left_out = len(frame) - MAX_ROWS
    return frame.head(
        MAX_ROWS
    ), f"... and {left_out} more (all of them in --format json, csv or parquet)"


def section_frames(summary: dict[str, Any]) -> dict[str, tuple[pd.DataFrame, bool]]:
    """Each table section's frame and whether its index is shown. With more than one namespace
    in the traffic, status codes, errors, latency and sessions are broken down by namespace."""
    split = len(summary["namespaces"]) > 1
    tables = summary["by_namespace"] if split else summary
    sessions = summary["sessions"]
    return {
        "status_codes": (tables["status_codes"], True),
        "errors": (tables["errors"], False),
        "latency_ms": (tables["latency_ms"], True),
        "traffic": (summary["traffic"], True),
        "sessions": (sessions if split else sessions.drop(columns="namespace"), False),
        "violations": (summary["violations"], False),
    }


def section_notes(summary: dict[str, Any]) -> dict[str, list[str]]:
    """Lines a section prints after its table: why timing is missing, what was left out."""
    notes: dict[str, list[str]] = {"latency_ms": [], "clock_skew": []}
    sketched = summary.get("latency_quantiles")
    if sketched:  # a dataset's report: say how far its quantiles may be off
        notes["latency_ms"].append(f"latency: {sketched['note']}")
    for row in summary["timing_gaps"].itertuples(index=False):
        if row.measure == "latency":
            notes["latency_ms"].append(
                f"latency: not recorded — {row.count} interaction(s) {row.cause}"
            )
        else:
            notes["clock_skew"].append(
                f"clock skew: not measured — {row.count} interaction(s) {row.cause}"
            )
    left_out = summary["clock_skew"].get("not_service_clock", 0)
    if left_out:
        notes["clock_skew"].append(
            f"clock skew: left out — {left_out} interaction(s) answered by chime-tap itself "
            "(the simulator, or enforce mode): their Date is chime-tap's clock, not the service's"
        )
    return notes


def instant(value: pd.Timestamp) -> str:
    """A time of the report's time range, always to the millisecond (a whole second too), so
    the range reads the same way whatever its times."""
    return f"{value:%Y-%m-%d %H:%M:%S}.{value.microsecond // 1000:03d}"


def headline(summary: dict[str, Any]) -> str:
    tr = summary["time_range"]
    span = (
        f" from {instant(tr['start'])} to {instant(tr['end'])} UTC"
        if tr["start"] is not None
        else ""
    )
    return f"{summary['interactions']} interaction(s){span}"


def skew_lines(skew: dict[str, Any]) -> list[str]:
    if not skew["count"]:
        return ["no calls answered by the service with both X-Amz-Date and Date"]
    lines = [
        f"{skew['count']} call(s): min {skew['min']:.1f} s, median {skew['p50']:.1f} s, "
        f"p95 {skew['p95']:.1f} s, max {skew['max']:.1f} s"
    ]
    if skew["warning"]:
        lines.append(f"WARNING: {skew['warning']}")
    return lines


def _render_tables(summary: dict[str, Any], *, markdown: bool) -> str:
    frames = section_frames(summary)
    notes = section_notes(summary)
    out = [
        "# chime-tap traffic report" if markdown else "chime-tap traffic report",
        "",
        markdown_text(headline(summary)) if markdown else headline(summary),
        "",
    ]
    for key, title in TITLES.items():
        if markdown:
            out.append(f"## {title}")
        else:
            out += [title, "=" * len(title)]
        out.append("")
        if key == "clock_skew":
            lines = skew_lines(summary[key]) + notes[key]
            out += [f"- {markdown_text(line)}" if markdown else line for line in lines]
        else:
            frame, index = frames[key]
            if key == "traffic" and frame.attrs.get("interval"):
                out += [
                    f"calls per {frame.attrs['interval']} (UTC; intervals without calls left out)",
                    "",
                ]
                frame = frame.loc[frame.sum(axis=1).gt(0)]
            if frame.empty:
                out.append("(none)")
            else:
                frame, note = clipped(frame)
                header, cells = table_rows(frame, index=index)
                out.append(
                    _markdown_table(header, cells) if markdown else _text_table(header, cells)
                )
                if note:
                    out += ["", note]
            if notes.get(key):
                out += [
                    "",
                    *(f"- {markdown_text(line)}" if markdown else line for line in notes[key]),
                ]
        out.append("")
    baseline = baseline_section(summary)
    if baseline is not None:
        lines, frame = baseline
        out += [
            f"## {BASELINE_TITLE}" if markdown else f"{BASELINE_TITLE}\n{'=' * len(BASELINE_TITLE)}"
        ]
        out += ["", *(f"- {markdown_text(line)}" if markdown else line for line in lines), ""]
        if not frame.empty:
            frame, note = clipped(frame)
            header, cells = table_rows(frame, index=False)
            out += [_markdown_table(header, cells) if markdown else _text_table(header, cells), ""]
            out += [note, ""] if note else []
    return "\n".join(out)


def escape(text: str) -> str:
    return html.escape(text, quote=True)
