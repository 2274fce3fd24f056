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


HOSTILE = (
    "<script>alert(1)</script> <img src=x onerror=alert(2)> [click](javascript:alert(3)) "
    "![beacon](http://127.0.0.1:9/b.png) <http://127.0.0.1:9/autolink> a|b `code`"
)


def test_markdown_keeps_what_the_traffic_carries_inert(tmp_path):
    """What a cassette carries (an error message, a session id) reaches the Markdown report as
    text: a CommonMark renderer that passes raw HTML through makes no tag, link or image of it."""
    from markdown_it import MarkdownIt
    from test_analysis_summaries import T0, call

    doc = {"version": 1, "interactions": []}
    doc["interactions"].append(
        call(
            "GetProxySession",
            T0,
            sid="x<b>y</b>",
            status=404,
            error=("NotFoundException", "NotFound", HOSTILE),
        )
    )
    path = tmp_path / "x.json"
    path.write_text(json.dumps(doc))
    md = render(load_frame([path]), "markdown")
    page = MarkdownIt("commonmark", {"html": True}).enable("table").render(md)
    tags = parse(page)
    assert tags.images == [] and tags.urls == []
    assert not {"script", "img", "a", "b", "code"} & set(tags.tags), sorted(set(tags.tags))
    # ... and shown as written: the table cell holds the whole message, pipe and all
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "a|b `code`" in page
    assert page.count("<tr>") >= 2 and "onerror=alert(2)" in page


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

    from chime_tap.analysis.rendering import MAX_ROWS

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


# --- the HTML page's layout ----------------------------------------------------------------------


class Layout(HTMLParser):
    """Each table's enclosing element, and each h2 section's paragraphs."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, dict]] = []
        self.table_parents: list[tuple[str, str | None]] = []
        self.sections: dict[str, list[str]] = {}
        self._section: str | None = None
        self._text: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            parent, parent_attrs = self.stack[-1]
            self.table_parents.append((parent, parent_attrs.get("class")))
        if tag in ("h2", "p"):
            self._text = []
        self.stack.append((tag, attrs))

    def handle_endtag(self, tag):
        self.stack.pop()
        if tag == "h2":
            self._section = "".join(self._text)
            self.sections[self._section] = []
        elif tag == "p" and self._section is not None:
            self.sections[self._section].append("".join(self._text))
        if tag in ("h2", "p"):
            self._text = None

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)


def layout(page: str) -> Layout:
    parsed = Layout()
    parsed.feed(page)
    parsed.close()
    return parsed


def test_html_tables_scroll_inside_the_page(traffic_frame):  # noqa: F811
    """The lifecycle table (15 columns) ran off a 1280-pixel page: every table now sits in a
    container that scrolls sideways within the page, and long cells wrap."""
    page = render(summarize(load_frame([traffic_frame[0]])), "html")
    parsed = layout(page)
    assert len(parsed.table_parents) == 6
    assert set(parsed.table_parents) == {("div", "table-scroll")}
    assert ".table-scroll { max-width: 100%; overflow-x: auto;" in page
    assert "overflow-wrap: anywhere" in page


def test_a_section_without_data_says_so_once():
    parsed = layout(render(empty_frame(), "html"))
    for title in ("Status codes per operation", "Errors by type and message",
                  "Latency per operation (ms)", "Traffic over time", "Proxy-session lifecycles",
                  "Schema violations"):  # fmt: skip
        assert parsed.sections[title] == ["(none)"], title
    assert "(no data for" not in render(empty_frame(), "html")


def test_a_sub_second_run_labels_its_time_axis_in_seconds(tmp_path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from test_analysis_summaries import T0, call

    from chime_tap.analysis.charts import status_figure
    from chime_tap.analysis.summaries import traffic

    at = [T0 + pd.Timedelta(milliseconds=ms) for ms in (100, 250, 900)]  # 0.8 s in all
    items = [call("ListProxySessions", t, status=200, body='{"ProxySessions": []}') for t in at]
    path = tmp_path / "quick.json"
    path.write_text(json.dumps({"version": 1, "interactions": items}))
    fig = status_figure(traffic(load_frame([path])))
    FigureCanvasAgg(fig).draw()
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["10:00:00"]
    assert ax.get_xlabel() == "time (UTC) on 2026-03-01"


@pytest.mark.parametrize(
    ("interval", "start", "end", "fmt"),
    [
        ("1s", "2026-03-01 10:00", "2026-03-01 10:00:30", "%H:%M:%S"),
        ("5min", "2026-03-01 10:00", "2026-03-01 14:00", "%H:%M"),
        ("1h", "2026-03-01 10:00", "2026-03-02 09:00", "%m-%d %H:%M"),
        ("1D", "2026-03-01", "2026-04-01", "%Y-%m-%d"),
    ],
)
def test_tick_labels_use_the_unit_of_the_interval(interval, start, end, fmt):
    from chime_tap.analysis.charts import time_format

    assert time_format(pd.Timestamp(start), pd.Timestamp(end), pd.Timedelta(interval)) == fmt


# --- legacy and SDK Voice apart -----------------------------------------------------------------


def _two_namespaces(tmp_path: Path) -> Path:
    from test_analysis_summaries import HOST, T0, call, session_body

    def legacy(item):
        item["request"]["uri"] = item["request"]["uri"].replace(
            HOST, "service.chime.aws.amazon.com"
        )
        item["chime_tap"]["namespace"] = "legacy"
        return item

    items = [
        call("CreateProxySession", T0, sid="v1", status=201, body=session_body("v1"), latency=10.0),
        call("GetProxySession", T0, sid="v1", status=404, latency=20.0,
             error=("NotFoundException", "NotFound", "gone")),
        legacy(call("CreateProxySession", T0, sid="l1", status=201, body=session_body("l1"), latency=30.0)),
        legacy(call("CreateProxySession", T0, status=429, latency=50.0,
                    error=("ThrottledClientException", "Throttled", "slow down"))),
    ]  # fmt: skip
    path = tmp_path / "both.json"
    path.write_text(json.dumps({"version": 1, "interactions": items}))
    return path


def test_text_report_breaks_tables_down_by_namespace_when_both_are_present(tmp_path):
    text = render(summarize(load_frame([_two_namespaces(tmp_path)])), "text")

    def section(title: str) -> list[str]:
        """The section's table: header, dashes, rows; runs of spaces as one."""
        body = text.split(f"{title}\n{'=' * len(title)}\n")[1]
        return [" ".join(line.split()) for line in body.lstrip("\n").split("\n\n")[0].splitlines()]

    assert section("Status codes per operation")[0].split() == [
        "namespace",
        "operation",
        "201",
        "404",
        "429",
    ]
    assert section("Status codes per operation")[2:] == [
        "legacy CreateProxySession 1 0 1",
        "voice CreateProxySession 1 0 0",
        "voice GetProxySession 0 1 0",
    ]
    assert section("Errors by type and message")[2:] == [
        "legacy CreateProxySession ThrottledClientException slow down 429 1",
        "voice GetProxySession NotFoundException gone 404 1",
    ]
    latency = [line.split()[:3] for line in section("Latency per operation (ms)")[2:]]
    assert latency == [["legacy", "CreateProxySession", "2"], ["voice", "CreateProxySession", "1"],
                       ["voice", "GetProxySession", "1"]]  # fmt: skip
    sessions = section("Proxy-session lifecycles")
    assert sessions[0].split()[:3] == ["voice_connector_id", "proxy_session_id", "namespace"]
    assert [line.split()[1:3] for line in sessions[2:]] == [["v1", "voice"], ["l1", "legacy"]]
    markdown = render(summarize(load_frame([_two_namespaces(tmp_path)])), "markdown")
    assert "| namespace | operation |" in markdown
    assert "<th>namespace</th><th>operation</th>" in render(
        load_frame([_two_namespaces(tmp_path)]), "html"
    )


def test_json_always_has_the_namespace_breakdown(tmp_path):
    doc = json.loads(render(load_frame([_two_namespaces(tmp_path)]), "json"))
    assert doc["namespaces"] == ["legacy", "voice"]
    assert doc["status_codes"] == {
        "CreateProxySession": {"201": 2, "429": 1},
        "GetProxySession": {"404": 1},
    }
    legacy, voice = doc["by_namespace"]["legacy"], doc["by_namespace"]["voice"]
    assert (legacy["interactions"], voice["interactions"]) == (2, 2)
    assert legacy["status_codes"] == {"CreateProxySession": {"201": 1, "429": 1}}
    assert voice["status_codes"] == {
        "CreateProxySession": {"201": 1},
        "GetProxySession": {"404": 1},
    }
    assert [e["error_type"] for e in legacy["errors"]] == ["ThrottledClientException"]
    assert legacy["latency_ms"]["CreateProxySession"]["max"] == 50.0
    assert (legacy["sessions"], voice["sessions"]) == (1, 1)
    one = json.loads(render(load_frame([REFERENCE]), "json"))
    assert one["namespaces"] == ["legacy"] and list(one["by_namespace"]) == ["legacy"]
    assert one["by_namespace"]["legacy"]["status_codes"] == one["status_codes"]


def test_one_namespace_needs_no_namespace_column():
    text = render(load_frame([REFERENCE]), "text")
    assert "namespace" not in text
