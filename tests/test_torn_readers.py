"""Every reader says a cassette a kill cut off mid-interaction is torn, and how to recover it.

A kill during the writer's last append leaves a torn tail that, more often than not, does not
parse. The next ``chime-tap record`` moves that tail aside (``.torn``); every reader (validate,
report, replay, the pytest plugin, ingest) refuses the file with one line that says it is torn,
how many whole interactions come before the tail and how many bytes are torn, instead of
where the parser stopped. They decide as the writer does: any other broken file keeps the
parser's own words, and nothing on disk changes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from analysis.ingest_table import read_table
from analysis.load import load_file, read_interactions
from chime_tap.cassettes.format import make_interaction
from chime_tap.cassettes.reader import (
    load_cassette,
    load_for_replay,
    parse_cassette,
    replay_items,
)
from chime_tap.cassettes.writer import CassetteWriter, check_recordable
from chime_tap.errors import ChimeTapError
from chime_tap.playback import build_index
from chime_tap.vcr_config import chime_vcr

WHOLE = 2  # interactions appended before the one the kill cuts off


def _item(i: int, fmt: str) -> dict[str, Any]:
    return make_interaction(
        method="GET",
        uri=f"http://127.0.0.1:9/voice-connectors/c/proxy-sessions/s{i}",
        request_headers={"Host": ["127.0.0.1:9"]},
        request_body=None,
        status=200,
        reason="OK",
        response_headers={"Content-Type": ["application/json"]},
        response_body=f'{{"ProxySessionId": "s{i}", "pad": "{"x" * 200}"}}'.encode(),
        fmt=fmt,
    )


def _cut_cassette(path: Path, fmt: str) -> tuple[bytes, int]:
    """A cassette of WHOLE interactions and a third cut off inside its response body's quoted
    string (no parser reads that), as the writer's pwrite leaves it when killed there; and
    where the whole interactions end (the bytes the writer keeps)."""
    with CassetteWriter(path) as w:
        for i in range(WHOLE):
            w.append(_item(i, fmt))
    before = path.read_bytes()
    with CassetteWriter(path) as w:
        w.append(_item(WHOLE, fmt))
    after = path.read_bytes()
    whole_end = len(before) - (len(b"\n]}\n") if fmt == "json" else 0)
    cut = after.index(b"pad", whole_end) + 3
    path.write_bytes(after[:cut])
    return after[:cut], whole_end


def _torn_line(path: Path, torn_bytes: int) -> str:
    return (
        f"{path}: interaction {WHOLE} is torn (cut off while being written, e.g. by a kill): "
        f"{torn_bytes:,} torn byte(s) after {WHOLE} whole interaction(s); "
        "the next 'chime-tap record' on this cassette moves it aside"
    )


def _said(read: Callable[[Path], Any], path: Path) -> str:
    with pytest.raises(ChimeTapError) as info:
        read(path)
    return str(info.value)


def _vcrpy(path: Path) -> None:
    """As the pytest plugin loads a cassette: vcrpy through chime-tap's persister."""
    chime_vcr.use_cassette(str(path), record_mode="none").__enter__()


READERS: dict[str, Callable[[Path], Any]] = {
    "load_cassette": load_cassette,  # validate, report, diff, check
    "parse_cassette": lambda p: parse_cassette(p.read_bytes(), str(p)),
    "load_for_replay": load_for_replay,
    "replay_items": lambda p: list(replay_items(p)),
    "replay_items-deferred": lambda p: list(replay_items(p, defer_checks=True)),
    "replay-index": lambda p: build_index([str(p)]),
    "pytest-plugin": _vcrpy,
    "report-load_file": load_file,
    "diff-read_interactions": read_interactions,
    "ingest-read_table": read_table,
}


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_every_reader_says_a_cut_off_cassette_is_torn_and_leaves_it_as_it_is(
    tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / f"c.{fmt}"
    data, whole_end = _cut_cassette(path, fmt)
    with pytest.raises((yaml.YAMLError, ValueError)):  # the cut really leaves no document
        yaml.safe_load(data) if fmt == "yaml" else json.loads(data)
    expected = _torn_line(path, len(data) - whole_end)
    said = {name: _said(read, path) for name, read in READERS.items()}
    assert said == dict.fromkeys(READERS, expected)
    assert path.read_bytes() == data and [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_the_reader_counts_what_the_next_recorder_keeps_and_moves_aside(
    tmp_path: Path, fmt: str
) -> None:
    """The numbers in the reader's line are the writer's when it opens the same bytes."""
    path = tmp_path / f"c.{fmt}"
    data, whole_end = _cut_cassette(path, fmt)
    said = _said(load_cassette, path)
    check_recordable(path)  # what `chime-tap record` checks before it starts: it passes
    notices: list[str] = []
    with CassetteWriter(path, on_notice=notices.append) as w:
        kept = w.count
    aside = path.with_name(path.name + ".torn")
    assert kept == WHOLE and aside.read_bytes() == data[whole_end:]
    assert notices == [
        f"{path}: the last interaction was torn (cut off mid-write, {len(data) - whole_end:,} "
        f"bytes): moved to {aside}; {WHOLE} whole interaction(s) kept"
    ]
    assert said == _torn_line(path, aside.stat().st_size)
    assert len(load_cassette(path)["interactions"]) == WHOLE


def test_a_cut_that_still_parses_starts_with_the_same_words(tmp_path: Path) -> None:
    """Cut at a line's end, YAML parses; the shape check names the interaction the same way."""
    path = tmp_path / "c.yaml"
    data, whole_end = _cut_cassette(path, "yaml")
    path.write_bytes(data[: data.index(b"\n", whole_end) + 1])
    assert _said(load_cassette, path).startswith(
        f"{path}: interaction {WHOLE} is torn (cut off while being written, e.g. by a kill)"
    )


@pytest.mark.parametrize("tail", [b"\n]", b"\n", b",\n"], ids=["bracket", "newline", "comma"])
def test_a_json_cassette_cut_in_its_closing_bytes_says_its_end_is_torn(
    tmp_path: Path, tail: bytes
) -> None:
    """Every interaction whole, the kill in the write's last bytes: no interaction is torn."""
    path = tmp_path / "c.json"
    data, whole_end = _cut_cassette(path, "json")
    path.write_bytes(data[:whole_end] + tail)
    assert _said(load_cassette, path) == _torn_line(path, len(tail)).replace(
        f"interaction {WHOLE} is torn", "its end is torn"
    )
    with CassetteWriter(path) as w:
        assert w.count == WHOLE


def _damaged_first(data: bytes, fmt: str) -> bytes:
    """The first interaction damaged as well: more than the tail is wrong."""
    if fmt == "json":
        return data.replace(b'"method":"GET"', b'"method":"GET', 1)
    return data.replace(b"    method: GET\n", b"\tmethod: GET\n", 1)


# Broken, but not only by a cut at the end: the parser's words stand, as `chime-tap record`
# refuses each (or, not being the writer's layout, never calls it torn). (id, format, suffix,
# how the cut cassette is changed)
NOT_TORN: list[tuple[str, str, str, Callable[[bytes, str], bytes]]] = [
    ("damaged-before-the-tail", "yaml", "yaml", _damaged_first),
    ("damaged-before-the-tail", "json", "json", _damaged_first),
    ("not-the-writers-layout", "yaml", "yaml", lambda d, fmt: d.replace(b"\n", b" \n", 1)),
    ("not-the-writers-layout", "json", "json", lambda d, fmt: d.replace(b"\n", b" \n", 1)),
    ("lines-after-the-torn-one", "json", "json", lambda d, fmt: d + b"\n]}\njunk"),
    ("json-layout-named-yaml", "json", "yaml", lambda d, fmt: d),
]


@pytest.mark.parametrize(
    ("fmt", "suffix", "change"),
    [case[1:] for case in NOT_TORN],
    ids=[f"{case[0]}-{case[1]}" for case in NOT_TORN],
)
def test_a_file_broken_otherwise_keeps_the_parsers_words(
    tmp_path: Path, fmt: str, suffix: str, change: Callable[[bytes, str], bytes]
) -> None:
    data, _ = _cut_cassette(tmp_path / f"source.{fmt}", fmt)
    path = tmp_path / f"c.{suffix}"
    path.write_bytes(change(data, fmt))
    parser = "JSON" if fmt == "json" else "YAML"
    said = {name: _said(read, path) for name, read in READERS.items()}
    assert all(s.startswith(f"{path}: not valid {parser}") for s in said.values()), said
    with pytest.raises(ChimeTapError):  # and `chime-tap record` refuses it
        check_recordable(path)


def test_a_tail_nested_too_deeply_is_no_torn_one(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    data, whole_end = _cut_cassette(path, "json")
    path.write_bytes(data[:whole_end] + b",\n" + b"[" * 100_000)
    assert _said(load_cassette, path) == (
        f"{path}: nested too deeply (more than about 1000 levels); not a cassette"
    )


# --- as a user runs it ------------------------------------------------------------------------


def _chime_tap(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chime_tap", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_validate_and_replay_say_torn_in_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    data, whole_end = _cut_cassette(path, "yaml")
    said = _torn_line(path, len(data) - whole_end)
    for args, expected in (
        (["validate", path], f"chime-tap: {said}"),
        (["replay", "--cassette", path, "--listen-port", "0"], f"chime-tap: --cassette: {said}"),
    ):
        done = _chime_tap(*args, cwd=tmp_path)
        assert (done.returncode, done.stderr.splitlines()[0]) == (2, expected), args
    json_path = tmp_path / "t.json"
    data, whole_end = _cut_cassette(json_path, "json")
    done = _chime_tap("validate", json_path, cwd=tmp_path)
    expected = f"chime-tap: {_torn_line(json_path, len(data) - whole_end)}"
    assert (done.returncode, done.stderr.splitlines()[0]) == (2, expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.json", "t.yaml"]  # none moved
