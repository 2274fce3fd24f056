"""Renderers: the HTML page parsed (tables, PNG data: URIs, nothing fetched from the network),
Markdown and JSON shapes, CSV/Parquet export round trips."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from test_analysis_summaries import traffic_frame  # noqa: F401 - fixture

from chime_tap.analysis import COLUMNS, export, load_frame, render, summarize
from chime_tap.analysis.load import empty_frame

REFERENCE = Path(__file__).resolve().parent.parent / "cassettes" / "reference-examples.yaml"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.tags: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.images.append(attrs)
        for name in ("src", "href"):
            if attrs.get(name):
                self.urls.append(attrs[name])


def parse(page: str) -> Page:
    p = Page()
    p.feed(page)
    p.close()
    return p


def test_html_page_embeds_three_png_charts_and_the_tables(traffic_frame):  # noqa: F811
    summary = summarize(load_frame([traffic_frame[0]]))
    page = parse(render(summary, "html"))
    assert len(page.images) == 3
    alts = {img["alt"] for img in page.images}
    assert alts == {
        "status codes over time",
        "latency distribution per operation",
        "error breakdown",
    }
    for img in page.images:
        prefix = "data:image/png;base64,"
        assert img["src"].startswith(prefix)
        png = base64.b64decode(img["src"][len(prefix) :], validate=True)
        assert png.startswith(PNG_MAGIC) and len(png) > 1000
    assert (
        page.tags.count("table") == 6
    )  # status codes, errors, latency, traffic, sessions, violations
    # self-contained: the only URLs are the data: URIs of the charts
    assert all(u.startswith("data:") for u in page.urls)
    assert "<script" not in render(summary, "html")


def test_html_escapes_what_the_traffic_carries(tmp_path):
    doc = json.loads(json.dumps({"version": 1, "interactions": []}))
    from test_analysis_summaries import T0, call

    doc["interactions"].append(
        call(
            "GetProxySession",
            T0,
            sid="x",
            status=404,
            error=("NotFoundException", "NotFound", "<script>alert(1)</script>"),
        )
    )
    path = tmp_path / "x.json"
    path.write_text(json.dumps(doc))
    page = render(load_frame([path]), "html")
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_empty_frame_renders_in_every_format():
    frame = empty_frame()
    assert list(frame.columns) == list(COLUMNS)
    for fmt in ("text", "markdown", "html", "json"):
        assert render(frame, fmt)
    assert json.loads(render(frame, "json"))["interactions"] == 0
    assert parse(render(frame, "html")).images == []


def test_markdown_has_a_table_per_section():
    md = render(load_frame([REFERENCE]), "markdown")
    assert md.startswith("# chime-tap traffic report")
    assert "| GetProxySession | 1 | 0 |" in md
    assert "| UpdateProxySession | 0 | 1 |" in md


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="text, markdown, html, json"):
        render(empty_frame(), "pdf")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_round_trips_the_frame(tmp_path, traffic_frame, fmt):  # noqa: F811
    frame = load_frame([traffic_frame[0]])
    out = tmp_path / f"frame.{fmt}"
    export(frame, fmt, out)
    back = pd.read_parquet(out) if fmt == "parquet" else pd.read_csv(out)
    assert len(back) == len(frame) and list(back.columns) == list(frame.columns)
    assert back["status"].tolist() == frame["status"].tolist()
    if fmt == "parquet":
        assert back["recorded_at"].equals(frame["recorded_at"])
        assert isinstance(back["operation"].dtype, pd.CategoricalDtype)


def test_long_tables_are_clipped_in_text_but_complete_in_json(tmp_path):
    from test_analysis_summaries import T0, call, session_body

    from chime_tap.analysis.render import MAX_ROWS

    n = MAX_ROWS + 7
    items = [
        call(
            "GetProxySession",
            T0 + pd.Timedelta(seconds=i),
            sid=f"s{i}",
            status=200,
            body=session_body(f"s{i}"),
        )
        for i in range(n)
    ]
    path = tmp_path / "many.json"
    path.write_text(json.dumps({"version": 1, "interactions": items}))
    summary = summarize(load_frame([path]))
    assert "... and 7 more" in render(summary, "text")
    assert "... and 7 more" in render(summary, "html")
    assert len(json.loads(render(summary, "json"))["sessions"]) == n
