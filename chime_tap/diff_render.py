"""A :class:`~chime_tap.semantic_diff.DiffResult` as text, Markdown, HTML or JSON."""

from __future__ import annotations

import html
import json

from chime_tap.semantic_diff import DiffResult, Finding, OperationDiff

FORMATS = ("text", "markdown", "html", "json")
_HEADER = [
    "operation", "calls A", "calls B", "paired", "differences",
    "p50 A ms", "p50 B ms", "p50 B/A", "p95 A ms", "p95 B ms", "p95 B/A", "latency",
]  # fmt: skip


def render(result: DiffResult, fmt: str = "text") -> str:
    """The result in ``fmt`` (one of :data:`FORMATS`), ending with a newline."""
    if fmt == "json":
        return json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n"
    if fmt == "html":
        return _html(result)
    if fmt in ("text", "markdown"):
        return _lines(result, markdown=fmt == "markdown")
    raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")


def verdict(result: DiffResult) -> str:
    """The last line: equivalent, or how many differences and where (see :func:`counted`)."""
    if result.equivalent:
        return "equivalent: no differences"
    return counted(result, files=len(result.files_only_a) + len(result.files_only_b))


def counted(of: DiffResult | OperationDiff, files: int = 0) -> str:
    """``28 difference(s) in 9 call(s)``: differences, and how many calls they are in (a call
    counts once however many things differ in it; a pair of calls is one call). A latency
    change or a file on one side only is no call's: ``30 difference(s): 28 in 9 call(s), 1
    latency change(s), 1 file(s) on one side only``."""
    total = f"{of.in_calls + of.latency_changes + files} difference(s)"
    in_calls = f"in {of.calls_differing} call(s)"
    others = [
        f"{n} {what}"
        for n, what in (
            (of.latency_changes, "latency change(s)"),
            (files, "file(s) on one side only"),
        )
        if n
    ]
    if not others:
        return f"{total} {in_calls}"
    if of.in_calls:
        others.insert(0, f"{of.in_calls} {in_calls}")
    return f"{total}: {', '.join(others)}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"x{value:.2f}"


def _summary_cells(op: OperationDiff) -> list[str]:
    lat = op.latency
    return [
        op.operation, str(op.calls_a), str(op.calls_b), str(op.paired), str(op.differences),
        _number(lat.p50_a if lat else None), _number(lat.p50_b if lat else None),
        _ratio(lat.ratio_p50 if lat else None),
        _number(lat.p95_a if lat else None), _number(lat.p95_b if lat else None),
        _ratio(lat.ratio_p95 if lat else None),
        ("CHANGED: " if lat and lat.changed else "") + (lat.verdict if lat else "-"),
    ]  # fmt: skip


def _side(name: str, compared: list[str], only: list[str], letter: str) -> str:
    """``baseline (A): FILES``: the files compared, then those on this side only."""
    line = f"{name} ({letter}): {', '.join(compared) or 'no file in both directories'}"
    if only:
        line += f"; only in {letter}, not compared: {', '.join(only)}"
    return line


def _settings(result: DiffResult) -> list[str]:
    test = result.latency_test
    lines = [
        _side("baseline", result.baseline, result.files_only_a, "A"),
        _side("candidate", result.candidate, result.files_only_b, "B"),
    ]
    if result.other_a or result.other_b:
        lines.append(
            f"not compared (no proxy-session call): {result.other_a} interaction(s) in A, "
            f"{result.other_b} in B"
        )
    if result.not_read:
        lines.append(f"files in the directories that are no recording, not read: {result.not_read}")
    lines.append(
        "ignored: " + (", ".join(result.ignore) if result.ignore else "nothing")
        + "; timestamps compared as distances from CreatedTimestamp: two differ when one is "
        "equal to it and the other not, one before it and the other after, or the distances "
        f"more than {result.time_tolerance_s:g} s apart"
    )  # fmt: skip
    if test:
        lines.append(
            f"latency: {test['test']}; a change needs p < {test['alpha']:g}, at least "
            f"{test['min_samples']} timed calls a side, and the p50 moved x{test['min_ratio']:g} "
            f"either way and by {test['min_shift_ms']:g} ms"
        )
    return lines


def _finding_lines(f: Finding) -> list[str]:
    what = f" {f.what}" if f.what else ""
    out = [f"{f.kind}{what}: {f.count} call(s)"]
    for e in f.examples:
        where = " / ".join(x for x in (f"A {e.a}" if e.a else "", f"B {e.b}" if e.b else "") if x)
        values = ""
        if e.value_a is not None or e.value_b is not None:
            values = f": {e.value_a if e.value_a is not None else '-'} -> "
            values += e.value_b if e.value_b is not None else "-"
        out.append(f"{where}  {e.call}{values}")
    if f.count > len(f.examples):
        out.append(f"... and {f.count - len(f.examples)} more")
    return out


def _lines(result: DiffResult, *, markdown: bool) -> str:
    out: list[str] = []
    if markdown:
        out += ["# chime-tap diff", ""] + [f"- {line}" for line in _settings(result)] + [""]
        out += _markdown_table(_HEADER, [_summary_cells(op) for op in result.operations])
    else:
        out += ["chime-tap diff"] + [f"  {line}" for line in _settings(result)] + [""]
        out += _text_table(_HEADER, [_summary_cells(op) for op in result.operations])
    for title, files in (("files only in A", result.files_only_a), ("files only in B", result.files_only_b)):  # fmt: skip
        if files:
            out += ["", f"## {title}" if markdown else f"{title}:"]
            out += [f"- {f}" if markdown else f"  {f}" for f in files]
    for op in result.operations:
        if not op.differences:
            continue
        out += ["", f"## {op.operation}: {counted(op)}" if markdown
                else f"{op.operation}: {counted(op)}"]  # fmt: skip
        for f in op.findings:
            first, *rest = _finding_lines(f)
            if markdown:
                out.append(f"- **{_md(first)}**")
                out += [f"  - `{_md(line)}`" for line in rest]
            else:
                out.append(f"  {first}")
                out += [f"    {line}" for line in rest]
        if op.latency and op.latency.changed:
            line = f"latency {op.latency.verdict}"
            out.append(f"- **{line}**" if markdown else f"  {line}")
    out += ["", verdict(result)]
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return text.replace("`", "'").replace("|", "\\|")


def _text_table(header: list[str], rows: list[list[str]]) -> list[str]:
    if not rows:
        return ["(no proxy-session calls on either side)"]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()
    return [line] + [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    if not rows:
        return ["(no proxy-session calls on either side)"]
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return out + ["| " + " | ".join(_md(c) for c in r) + " |" for r in rows]


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
td { max-width: 40em; overflow-wrap: anywhere; }
th { background: #f2f2f2; white-space: nowrap; }
.changed { color: #b00020; font-weight: bold; }
code { font-size: 0.95em; }
"""


def _html(result: DiffResult) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"><title>chime-tap diff</title>',
        f"<style>{_STYLE}</style></head><body>",
        "<h1>chime-tap diff</h1>",
        "<ul>" + "".join(f"<li>{e(line)}</li>" for line in _settings(result)) + "</ul>",
    ]
    rows = [_summary_cells(op) for op in result.operations]
    head = "".join(f"<th>{e(h)}</th>" for h in _HEADER)
    body = (
        "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows)
        or f'<tr><td colspan="{len(_HEADER)}">no proxy-session calls on either side</td></tr>'
    )
    parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    for title, files in (("Files only in A", result.files_only_a), ("Files only in B", result.files_only_b)):  # fmt: skip
        if files:
            parts.append(f"<h2>{e(title)}</h2><ul>")
            parts += [f"<li><code>{e(f)}</code></li>" for f in files]
            parts.append("</ul>")
    for op in result.operations:
        if not op.differences:
            continue
        parts.append(f"<h2>{e(op.operation)}: {e(counted(op))}</h2><ul>")
        for f in op.findings:
            first, *rest = _finding_lines(f)
            items = "".join(f"<li><code>{e(line)}</code></li>" for line in rest)
            parts.append(f'<li><span class="changed">{e(first)}</span><ul>{items}</ul></li>')
        if op.latency and op.latency.changed:
            parts.append(f'<li><span class="changed">latency {e(op.latency.verdict)}</span></li>')
        parts.append("</ul>")
    parts.append(f"<p><strong>{e(verdict(result))}</strong></p></body></html>")
    return "\n".join(parts) + "\n"
