"""The report's tables in a fixed order, its time range at a fixed precision, and its charts'
count axes in whole numbers.

Ties: two cassettes, given to `report` later day first, so a table kept in order of first
appearance would list the later day's rows first from the files and the earlier day's first
from a dataset (which is read day by day). Each count is written here from the cassettes'
contents, and so is the order: count descending, then the key columns.
"""

from __future__ import annotations

import json
from email.utils import format_datetime
from pathlib import Path

import pandas as pd
import pytest

from chime_tap.analysis import load_frame
from chime_tap.analysis.charts import error_figure, status_figure
from chime_tap.analysis.rendering import render
from chime_tap.analysis.summaries import summarize
from chime_tap.cli import main

CONNECTOR = "abcdef1ghij2klmno3pqr4"
VOICE = f"https://voice-chime.us-east-1.amazonaws.com/voice-connectors/{CONNECTOR}/proxy-sessions"
LEGACY = f"https://service.chime.aws.amazon.com/voice-connectors/{CONNECTOR}/proxy-sessions"
LATENCY_VCRPY = "from cassettes written by vcrpy, which keeps no timing"
LATENCY_META = "whose chime-tap metadata has no duration_ms"
SKEW_UNSIGNED = "without an X-Amz-Date (unsigned, or not recorded)"


def _get(base: str, sid: str, when: str, status: int, error: tuple[str, str, str] | None, meta):
    """A Get of ``sid`` answered ``status`` at ``when`` (ISO, UTC); ``error``: (type, code,
    message); ``meta``: chime-tap's metadata (recorded_at without duration_ms), or a vcrpy
    interaction with none."""
    stamp = pd.Timestamp(when)
    headers = {"Content-Type": ["application/json"], "Date": [format_datetime(stamp, usegmt=True)]}
    if error:
        headers["x-amzn-ErrorType"] = [error[0]]
        body = {"Code": error[1], "Message": error[2]}
    else:
        body = {"ProxySession": {"ProxySessionId": sid, "Status": "Open"}}
    item = {
        "request": {"method": "GET", "uri": f"{base}/{sid}", "body": None, "headers": {}},
        "response": {
            "status": {"code": status, "message": ""},
            "headers": headers,
            "body": {"string": json.dumps(body)},
        },
    }
    if meta:
        item["chime_tap"] = {"recorded_at": when.replace("+00:00", "Z")}
    return item


def _cassette(path: Path, items: list[dict]) -> Path:
    path.write_text(json.dumps({"version": 1, "interactions": items}))
    return path


@pytest.fixture
def later_then_earlier(tmp_path: Path) -> list[Path]:
    """2 voice calls recorded by chime-tap on 2 March (one throttled), then 2 legacy calls
    recorded by vcrpy on 1 March (one not found)."""
    throttled = ("ThrottledClientException", "Throttled", "slow down")
    missing = ("NotFoundException", "NotFound", "no session b")
    later = [
        _get(VOICE, "a", "2026-03-02T10:00:00.000+00:00", 429, throttled, meta=True),
        _get(VOICE, "x", "2026-03-02T10:00:01.000+00:00", 200, None, meta=True),
    ]
    earlier = [
        _get(LEGACY, "b", "2026-03-01T09:00:00+00:00", 404, missing, meta=False),
        _get(LEGACY, "y", "2026-03-01T09:00:01+00:00", 200, None, meta=False),
    ]
    return [
        _cassette(tmp_path / "later.json", later),
        _cassette(tmp_path / "earlier.json", earlier),
    ]


def _report(capsys, *args) -> dict:
    assert main(["report", *map(str, args), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_tied_counts_come_out_alike_from_files_and_from_a_dataset(
    later_then_earlier, tmp_path, capsys
):
    dataset = tmp_path / "ds"
    ingest = ["ingest", *map(str, later_then_earlier), "--into", str(dataset), "--workers", "1"]
    assert main(ingest) == 0
    capsys.readouterr()
    from_files = _report(capsys, *later_then_earlier)
    from_dataset = _report(capsys, dataset, "--engine", "local")

    expected_errors = [  # one each: by error type, NotFound before Throttled
        {"operation": "GetProxySession", "error_type": "NotFoundException",
         "error_message": "no session b", "status": 404, "count": 1},
        {"operation": "GetProxySession", "error_type": "ThrottledClientException",
         "error_message": "slow down", "status": 429, "count": 1},
    ]  # fmt: skip
    expected_gaps = [  # latency first; its two causes tie at 2, by cause
        {"measure": "latency", "count": 2, "cause": LATENCY_VCRPY},
        {"measure": "latency", "count": 2, "cause": LATENCY_META},
        {"measure": "clock skew", "count": 4, "cause": SKEW_UNSIGNED},
    ]
    for doc in (from_files, from_dataset):
        assert doc["errors"] == expected_errors
        assert doc["timing_gaps"] == expected_gaps
        assert list(doc["by_namespace"]) == ["legacy", "voice"]  # 2 each: by name
        assert [e["error_type"] for e in doc["by_namespace"]["voice"]["errors"]] == [
            "ThrottledClientException"
        ]
    for key in ("errors", "timing_gaps", "by_namespace", "violations", "status_codes"):
        assert from_files[key] == from_dataset[key], key


@pytest.mark.parametrize(
    ("first", "last", "shown"),
    [
        ("2026-12-02T08:44:55.000Z", "2026-12-02T08:45:01.250Z", ("08:44:55.000", "08:45:01.250")),
        ("2026-12-02T08:44:55.5Z", "2026-12-02T08:45:01Z", ("08:44:55.500", "08:45:01.000")),
    ],
    ids=["whole-second-start", "whole-second-end"],
)
def test_the_time_range_is_to_the_millisecond_in_every_format(tmp_path, first, last, shown):
    calls = [
        _get(VOICE, "x", first.replace("Z", "+00:00"), 200, None, meta=True),
        _get(VOICE, "y", last.replace("Z", "+00:00"), 200, None, meta=True),
    ]
    summary = summarize(load_frame([_cassette(tmp_path / "c.json", calls)]))
    line = f"2 interaction(s) from 2026-12-02 {shown[0]} to 2026-12-02 {shown[1]} UTC"
    assert line in render(summary, "text").splitlines()
    assert line in render(summary, "markdown").splitlines()
    assert f"<p>{line}</p>" in render(summary, "html")
    time_range = json.loads(render(summary, "json"))["time_range"]
    assert (time_range["start"], time_range["end"]) == (
        f"2026-12-02T{shown[0]}+00:00",
        f"2026-12-02T{shown[1]}+00:00",
    )


def _whole(ticks) -> bool:
    return all(float(t).is_integer() for t in ticks)


def test_count_axes_have_whole_number_ticks():
    errors = pd.DataFrame(
        {"operation": ["GetProxySession"], "error_type": ["NotFoundException"],
         "error_message": ["gone"], "status": [404], "count": [1]}
    )  # fmt: skip
    ticks = error_figure(errors).axes[0].get_xticks()
    assert _whole(ticks) and {0, 1} <= set(ticks), ticks
    traffic = pd.DataFrame(
        {"2xx": [1, 0], "4xx": [0, 1]},
        index=pd.date_range("2026-12-02 08:44:55", periods=2, freq="1s", tz="UTC", name="interval"),
    )
    traffic.attrs["interval"] = "1s"
    ticks = status_figure(traffic).axes[0].get_yticks()
    assert _whole(ticks) and {0, 1} <= set(ticks), ticks
