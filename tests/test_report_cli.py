"""`chime-tap report`: formats, filters, skipped inputs, exit codes 0/1/2.

Run in this process through ``chime_tap.cli.main`` (same argv, same stdout, stderr and exit
code); a real ``python -m chime_tap report`` subprocess where the process itself is what is
checked: one JSON report, inputs that once crashed the interpreter, and the progress bar on a
real terminal.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "cassettes" / "reference-examples.yaml"


def report_process(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m chime_tap report ARGS`` as a real subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "chime_tap", "report", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


@pytest.fixture
def report(
    cli: Callable[..., subprocess.CompletedProcess[str]],
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``chime-tap report ARGS`` in this process: its exit code, stdout and stderr."""
    return lambda *args: cli("report", *args)


def test_reference_examples_json_counts_exactly_get_200_and_update_201():
    done = report_process(REFERENCE, "--format", "json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["interactions"] == 2
    assert doc["status_codes"] == {"GetProxySession": {"200": 1}, "UpdateProxySession": {"201": 1}}
    assert doc["errors"] == []
    assert doc["violations"] == []
    assert doc["time_range"]["start"] == "2020-04-15T16:11:50.000+00:00"
    assert doc["time_range"]["end"] == "2020-04-15T16:15:17.000+00:00"
    (session,) = doc["sessions"]
    assert session["proxy_session_id"] == "123a4bc5-67d8-901e-2f3g-h4ghjk56789l"
    assert session["calls"] == 2
    assert session["final_status"] == "Open"
    assert session["expiry_minutes"] == 60
    for key in (
        "interactions",
        "status_codes",
        "errors",
        "latency_ms",
        "time_range",
        "sessions",
        "violations",
    ):
        assert key in doc


def test_text_report_names_both_operations(report):
    done = report(REFERENCE)
    assert done.returncode == 0, done.stderr
    assert "GetProxySession" in done.stdout and "UpdateProxySession" in done.stdout
    assert "2 interaction(s)" in done.stdout
    assert "\x1b" not in done.stderr  # no progress bar when stderr is not a terminal


def test_bad_inputs_are_named_and_skipped_while_the_rest_is_reported(tmp_path, report):
    not_cassette = tmp_path / "notes.yaml"
    not_cassette.write_text("hello: world\n")
    truncated = tmp_path / "cut.yaml"
    truncated.write_bytes(REFERENCE.read_bytes()[:900])
    missing = tmp_path / "missing.json"
    done = report(REFERENCE, not_cassette, truncated, missing, "--format", "json")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    warnings = done.stderr.strip().splitlines()
    assert len(warnings) == 3
    for path, line in zip((not_cassette, truncated, missing), warnings, strict=True):
        assert str(path) in line
    assert json.loads(done.stdout)["interactions"] == 2


def test_crafted_inputs_are_skipped_in_one_line_each_and_the_rest_reported(tmp_path):
    """Inputs that used to end the whole report: SIGSEGV in libyaml, RecursionError in json,
    OverflowError on a HAR status of 1e999; and a python tag, named as validate names it."""
    deep_yaml = tmp_path / "deep.yaml"
    deep_yaml.write_bytes(b"version: 1\ninteractions: " + b"[" * 100_000 + b"]" * 100_000)
    deep_json = tmp_path / "deep.json"
    deep_json.write_bytes(
        b'{"version": 1, "interactions": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    )
    infinite = tmp_path / "infinite.har"
    infinite.write_bytes(
        b'{"log": {"entries": [{"request": {"method": "GET", "url": "https://voice-chime.us-east-1.amazonaws.com'
        b'/voice-connectors/vc/proxy-sessions/s1", "headers": []}, "response": {"status": 1e999}}]}}'
    )
    tagged = tmp_path / "tagged.yaml"
    tagged.write_bytes(b"version: 1\ninteractions: !!python/object/apply:os.system ['true']\n")
    bad = (deep_yaml, deep_json, infinite, tagged)
    done = report_process(REFERENCE, *bad, "--format", "json", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    warnings = done.stderr.strip().splitlines()
    assert len(warnings) == len(bad)
    for path, line, why in zip(
        bad,
        warnings,
        ("nested too deeply", "nested too deeply", "no numeric status", "refused YAML"),
        strict=True,
    ):
        assert line.startswith(f"chime-tap: warning: skipped {path}: ") and why in line
    assert "safe loader" in warnings[3]
    assert json.loads(done.stdout)["interactions"] == 2
    only_bad = report_process(*bad, cwd=tmp_path)
    assert only_bad.returncode == 2 and "Traceback" not in only_bad.stderr


def test_nothing_readable_exits_2(tmp_path, report):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 4)
    done = report(junk)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert str(junk) in done.stderr


def test_empty_inputs_give_an_empty_report(tmp_path, report):
    empty_cassette = tmp_path / "empty.yaml"
    empty_cassette.write_text("version: 1\ninteractions: []\n")
    empty_capture = tmp_path / "empty.flows"
    empty_capture.write_bytes(b"")
    done = report(empty_cassette, empty_capture, "--format", "json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["interactions"] == 0
    assert (
        doc["status_codes"] == {} and doc["sessions"] == [] and doc["time_range"]["start"] is None
    )
    for fmt in ("text", "markdown"):
        assert report(empty_cassette, "--format", fmt).returncode == 0


def test_filters_by_operation_and_time(report):
    done = report(REFERENCE, "--format", "json", "--operation", "UpdateProxySession")
    assert json.loads(done.stdout)["status_codes"] == {"UpdateProxySession": {"201": 1}}
    done = report(REFERENCE, "--format", "json", "--since", "2020-04-15T16:12:00Z")
    assert json.loads(done.stdout)["status_codes"] == {"UpdateProxySession": {"201": 1}}
    done = report(REFERENCE, "--format", "json", "--until", "2020-04-15T16:12:00")
    assert json.loads(done.stdout)["status_codes"] == {"GetProxySession": {"200": 1}}


def test_filters_that_keep_nothing_say_so_and_filters_that_keep_something_say_nothing(report):
    """An empty report from non-empty inputs names the filters that left nothing (else it
    reads like inputs without calls); still exit 0: an empty range is an answer."""
    done = report(REFERENCE, "--format", "json", "--since", "2020-04-16", "--operation",
                  "GetProxySession,UpdateProxySession")  # fmt: skip
    assert (done.returncode, json.loads(done.stdout)["interactions"]) == (0, 0)
    assert done.stderr == (
        "chime-tap: warning: none of the 2 interaction(s) read matches --since 2020-04-16 "
        "--operation GetProxySession,UpdateProxySession: the report is empty\n"
    )
    done = report(REFERENCE, "--operation", "DeleteProxySession", "--until", "2021-01-01")
    assert done.returncode == 0
    assert done.stderr == (
        "chime-tap: warning: none of the 2 interaction(s) read matches --until 2021-01-01 "
        "--operation DeleteProxySession: the report is empty\n"
    )
    done = report(REFERENCE, "--format", "json", "--since", "2020-04-15T16:12:00Z")
    assert (json.loads(done.stdout)["interactions"], done.stderr) == (1, "")


def test_bad_arguments_are_one_line_usage_errors(report):
    for args in (
        ["--since", "yesterday-ish"],
        ["--operation", "FooProxySession"],
        ["--hosts", "h:99999"],
        ["--since", "2026-12-03", "--until", "2026-12-01"],  # backwards: nothing could be in it
        ["--since", "2026-12-01T10:00:00Z", "--until", "2026-12-01T11:00:00+01:00"],  # empty
    ):
        done = report(REFERENCE, *args)
        assert done.returncode == 2
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "Traceback" not in done.stderr
        assert args[0] in done.stderr


def test_parquet_and_html_go_to_a_default_file_and_say_where(tmp_path, report, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default file goes to the current directory
    done = report(REFERENCE, "--format", "parquet")
    assert done.returncode == 0, done.stderr
    written = tmp_path / "chime-tap-report.parquet"
    assert str(written.name) in done.stderr
    frame = pd.read_parquet(written)
    assert sorted(frame["operation"].astype(str)) == ["GetProxySession", "UpdateProxySession"]
    assert frame["status"].dtype == "int16"
    done = report(REFERENCE, "--format", "csv", "--out", tmp_path / "frame.csv")
    assert done.returncode == 0, done.stderr
    assert len(pd.read_csv(tmp_path / "frame.csv")) == 2


def test_unwritable_out_is_a_one_line_error(tmp_path, report):
    done = report(REFERENCE, "--format", "json", "--out", tmp_path / "no" / "such" / "dir.json")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_progress_bar_only_on_a_terminal(tmp_path, report):
    big = tmp_path / "big.json"
    doc = {"version": 1, "interactions": []}
    doc["interactions"] = yaml.safe_load(REFERENCE.read_bytes())["interactions"] * 2000
    big.write_text(json.dumps(doc))
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "chime_tap", "report", str(big), "--format", "json"],
        stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(slave)
    poller = select.poll()
    poller.register(master, select.POLLIN)
    seen = b""
    for _ in range(600):  # bounded: at most 600 reads of the terminal
        if poller.poll(500):  # poll, not select: a busy test process may hold fds past 1024
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    out, _ = proc.communicate(timeout=120)
    os.close(master)
    assert proc.returncode == 0
    assert json.loads(out)["interactions"] == 4000
    assert b"loading [" in seen and b"100%" in seen
    # and not when stderr is a pipe
    done = report(big, "--format", "json")
    assert done.returncode == 0 and "loading" not in done.stderr


# --- where the report goes: --out's extension, stdout ------------------------------------------


@pytest.mark.parametrize(
    ("name", "looks_like"),
    [
        ("r.html", "<!DOCTYPE html>"),
        ("r.HTM", "<!DOCTYPE html>"),
        ("r.md", "# chime-tap traffic report"),
        ("r.txt", "chime-tap traffic report\n"),
        ("r.json", "{"),
        ("r.csv", "source,index,recorded_at,"),
        ("r.log", "chime-tap traffic report\n"),  # no format of its own: text
    ],
)
def test_out_takes_the_format_from_its_extension(tmp_path, report, name, looks_like):
    out = tmp_path / name
    done = report(REFERENCE, "--out", out)
    assert done.returncode == 0, done.stderr
    assert out.read_text().startswith(looks_like)
    assert done.stdout == ""
    fmt = {"r.html": "html", "r.HTM": "html", "r.md": "markdown", "r.json": "json", "r.csv": "csv"}
    assert done.stderr.startswith(f"chime-tap: {fmt.get(name, 'text')} report of 2 interaction(s)")


def test_out_parquet_by_extension(tmp_path, report):
    done = report(REFERENCE, "--out", tmp_path / "calls.parquet")
    assert done.returncode == 0, done.stderr
    assert len(pd.read_parquet(tmp_path / "calls.parquet")) == 2


def test_an_extension_that_contradicts_format_is_refused(tmp_path, report):
    done = report(REFERENCE, "--format", "text", "--out", tmp_path / "r.html")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"chime-tap: --out {tmp_path / 'r.html'}: the extension .html means --format html, not --format text"
    ]
    assert not (tmp_path / "r.html").exists()
    agreeing = report(REFERENCE, "--format", "html", "--out", tmp_path / "r.html")
    assert agreeing.returncode == 0 and (tmp_path / "r.html").exists()


@pytest.mark.parametrize("fmt", ["text", "markdown", "html", "json", "csv"])
def test_out_dash_is_stdout(tmp_path, report, monkeypatch, fmt):
    monkeypatch.chdir(tmp_path)
    done = report(REFERENCE, "--format", fmt, "--out", "-")
    assert done.returncode == 0, done.stderr
    assert done.stdout and done.stderr == ""
    assert list(tmp_path.iterdir()) == []  # no file named "-"


def test_out_dash_refuses_binary_parquet_in_one_line(tmp_path, report, monkeypatch):
    monkeypatch.chdir(tmp_path)
    done = report(REFERENCE, "--format", "parquet", "--out", "-")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "chime-tap: --out -: parquet is binary; write it to a file (--out FILE.parquet)"
    ]
    assert done.stdout == "" and list(tmp_path.iterdir()) == []


# --- report and validate read the same inputs, and agree on what is unusable --------------------


def test_an_empty_file_named_as_a_cassette_is_unusable_for_report_and_validate(tmp_path, cli):
    for name in ("empty.yaml", "empty.json", "empty.har", "blank.yml"):
        path = tmp_path / name
        path.write_text("" if name != "blank.yml" else "  \n\n")
        claimed = "a HAR" if name.endswith(".har") else "a cassette"
        line = f"chime-tap: {path}: empty file, not {claimed}"
        validated = cli("validate", path)
        assert (validated.returncode, validated.stderr.splitlines()[0]) == (2, line)
        reported = cli("report", path)
        assert reported.returncode == 2 and reported.stdout == ""
        assert reported.stderr.splitlines() == [
            f"chime-tap: warning: skipped {path}: empty file, not {claimed}",
            "chime-tap: no input could be read (1 skipped)",
        ]


def test_an_empty_mitmproxy_capture_is_no_traffic_for_both(tmp_path, cli):
    """``mitmdump -w flows`` with no traffic leaves an empty file: read as zero interactions."""
    capture = tmp_path / "flows"
    capture.write_bytes(b"")
    reported = cli("report", capture, "--format", "json")
    assert reported.returncode == 0 and json.loads(reported.stdout)["interactions"] == 0
    validated = cli("validate", capture)
    assert validated.returncode == 0
    assert validated.stderr == "0 proxy-session interaction(s) checked in 1 input(s): OK\n"
