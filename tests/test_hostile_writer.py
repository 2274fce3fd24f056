"""The cassette writer against torn tails, replaced paths, special files and loose modes.

A torn tail: a kill during a large ``pwrite`` leaves a partial last interaction. The next writer
moves it to ``<name>.torn``, keeps every whole interaction and appends after them; no reader
takes the torn one for a whole one. A replaced path: another program renames a file over the
cassette (or deletes it) while a recorder appends; the recorder moves to the new file and keeps
what it had written aside, never writing into the void.
"""

from __future__ import annotations

import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from vcr.persisters.filesystem import FilesystemPersister
from vcr.serialize import serialize
from vcr.serializers import jsonserializer, yamlserializer

from chime_tap.cassettes.format import make_interaction
from chime_tap.cassettes.reader import load_cassette
from chime_tap.cassettes.writer import CassetteWriter
from chime_tap.errors import CassetteError

SERIALIZERS = {"yaml": yamlserializer, "json": jsonserializer}
SEED = int(os.environ.get("CHIME_TAP_KILL_SEED", "20261201"))


def item(i: int, body: bytes = b"", fmt: str = "yaml") -> dict[str, Any]:
    return make_interaction(
        method="GET",
        uri=f"http://127.0.0.1:9/voice-connectors/c/proxy-sessions/s{i}",
        request_headers={"Host": ["127.0.0.1:9"]},
        request_body=None,
        status=200,
        reason="OK",
        response_headers={"Content-Type": ["application/json"]},
        response_body=body or f'{{"ProxySessionId": "s{i}", "pad": "{"x" * 40}"}}'.encode(),
        fmt=fmt,
    )


def vcrpy_uris(path: Path) -> list[str]:
    fmt = "json" if path.suffix == ".json" else "yaml"
    requests, _ = FilesystemPersister.load_cassette(path, SERIALIZERS[fmt])
    return [r.uri for r in requests]


def uris(n: list[int]) -> list[str]:
    return [f"http://127.0.0.1:9/voice-connectors/c/proxy-sessions/s{i}" for i in n]


# --- a torn tail, at every byte of the last append ---------------------------------------------


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_a_tail_torn_at_any_byte_is_moved_aside_and_the_rest_kept(tmp_path: Path, fmt) -> None:
    """Every prefix of the last append's pwrite, over the bytes it overwrote, as a kill leaves it."""
    path = tmp_path / f"c.{fmt}"
    with CassetteWriter(path) as w:
        w.append(item(0, fmt=fmt))
        w.append(item(1, fmt=fmt))
        offset = path.stat().st_size - len(w._tail)
    before = path.read_bytes()
    with CassetteWriter(path) as w:
        w.append(item(2, fmt=fmt))
    after = path.read_bytes()
    written = after[offset:]
    # Where the appended interaction's own text ends (its end mark; JSON: its closing brace):
    # from there on it is whole, whatever of the closing bytes is missing.
    mark = b"  chime_tap_end: true" if fmt == "yaml" else b"}\n]}"
    item_end = written.rindex(mark) + (len(mark) if fmt == "yaml" else 1)
    torn_seen = 0
    for k in range(len(written) + 1):
        state = before[:offset] + written[:k] + before[offset + k :]
        trial = tmp_path / f"t{k}.{fmt}"
        trial.write_bytes(state)
        notices: list[str] = []
        with CassetteWriter(trial, on_notice=notices.append) as w:
            kept = w.count
            w.append(item(9, fmt=fmt))
        whole = 3 if k >= item_end else 2
        assert kept == whole, (k, notices)
        aside = trial.with_name(trial.name + ".torn")
        if notices:
            torn_seen += 1
            assert notices == [
                f"{trial}: the last interaction was torn (cut off mid-write, "
                f"{aside.stat().st_size:,} bytes): moved to {aside}; {whole} whole interaction(s) kept"
            ]
            assert stat.S_IMODE(aside.stat().st_mode) == 0o600
        else:
            assert not aside.exists()
        expected = uris([0, 1, 2, 9] if whole == 3 else [0, 1, 9])
        assert vcrpy_uris(trial) == expected, k
        assert [i["request"]["uri"] for i in load_cassette(trial)["interactions"]] == expected
        trial.unlink()
        aside.unlink(missing_ok=True)
    assert torn_seen >= len(written) - 4  # a few prefixes leave the file as it was


def test_a_torn_first_interaction_leaves_an_empty_cassette(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    with CassetteWriter(path) as w:
        w.append(item(0))
    data = path.read_bytes()
    path.write_bytes(data[:-40])
    with CassetteWriter(path) as w:
        assert w.count == 0
        assert w.notices[0].endswith("0 whole interaction(s) kept")
        w.append(item(1))
    assert vcrpy_uris(path) == uris([1])


def test_a_cassette_broken_in_the_middle_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    with CassetteWriter(path) as w:
        for i in range(3):
            w.append(item(i))
    data = path.read_bytes()
    broken = data.replace(b"method: GET", b"method: [GET", 1)
    path.write_bytes(broken)
    with pytest.raises(CassetteError, match="broken before its last interaction; left alone"):
        CassetteWriter(path)
    assert path.read_bytes() == broken
    assert not path.with_name("c.yaml.torn").exists()


# --- kill -9 during large appends ----------------------------------------------------------------

_APPENDER = textwrap.dedent(
    """
    import os, sys, time
    from chime_tap.cassettes.format import make_interaction
    real_pwrite = os.pwrite

    def pwrite(fd, data, offset):  # says when the big write starts, and how long it took
        if len(data) < 1 << 20:
            return real_pwrite(fd, data, offset)
        print("writing", flush=True)
        started = time.perf_counter()
        done = real_pwrite(fd, data, offset)
        print("written", time.perf_counter() - started, flush=True)
        return done

    os.pwrite = pwrite
    from chime_tap.cassettes.writer import CassetteWriter
    path, size, fmt = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    body = b"b" * size
    w = CassetteWriter(path)
    item = make_interaction(method="GET", uri="http://127.0.0.1:9/voice-connectors/c/proxy-sessions/big",
        request_headers={}, request_body=None, status=200, reason="OK", response_headers={},
        response_body=body, fmt=fmt)
    print("ready", flush=True)
    sys.stdin.readline()
    w.append(item)
    sys.stdin.readline()
    """
)
BIG = 50 * 1024 * 1024  # the bar: bodies of 50 MB at least
TRIALS = 20


@pytest.mark.slow
def test_kill_9_during_50_mb_appends_then_the_next_writer_opens_cleanly(tmp_path, figures) -> None:
    rng = random.Random(SEED)
    cost = None  # how long the big pwrite takes: the kills land anywhere in it
    torn = whole = 0
    for trial in range(TRIALS):
        fmt = ("yaml", "json")[trial % 2]
        path = tmp_path / f"k{trial}.{fmt}"
        with CassetteWriter(path) as w:
            w.append(item(0, fmt=fmt))
        child = subprocess.Popen(
            [sys.executable, "-c", _APPENDER, str(path), str(BIG), fmt],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None and child.stdin is not None
            assert child.stdout.readline().strip() == "ready"
            child.stdin.write("\n")
            child.stdin.flush()
            assert child.stdout.readline().strip() == "writing"
            if cost is None:  # the first trial measures the write, then is killed after it
                cost = float(child.stdout.readline().split()[1])
                delay = cost
            else:
                delay = rng.uniform(0, cost * 1.5)
                time.sleep(delay)
            child.send_signal(signal.SIGKILL)
            assert child.wait(60) == -signal.SIGKILL
        finally:
            child.kill()
            child.wait(60)
        notices: list[str] = []
        with CassetteWriter(path, on_notice=notices.append) as w:
            kept = w.count
            w.append(item(1, fmt=fmt))
        aside = path.with_name(path.name + ".torn")
        assert kept in (1, 2), (trial, kept)
        if notices:
            torn += 1
            assert aside.exists() and notices[0].endswith(f"{kept} whole interaction(s) kept")
            aside.unlink()
        whole += kept == 2
        got = vcrpy_uris(path)
        big = ["http://127.0.0.1:9/voice-connectors/c/proxy-sessions/big"]
        assert got == uris([0]) + (big if kept == 2 else []) + uris([1]), (trial, delay)
        if kept == 2:  # a whole big interaction is whole: every byte of its body
            body = FilesystemPersister.load_cassette(path, SERIALIZERS[fmt])[1][1]
            assert body["body"]["string"] == b"b" * BIG
        path.unlink()
    figures.append(
        f"kill -9 during 50 MiB appends: {TRIALS} trials, {torn} left a torn tail (moved aside), "
        f"{whole} had the big interaction whole, {TRIALS - torn - whole} had none of it; "
        f"every next writer opened cleanly and plain vcrpy loaded every whole interaction "
        f"(the big pwrite: {cost * 1000:.0f} ms; CHIME_TAP_KILL_SEED={SEED})"
    )
    assert torn >= 1  # the kills really landed inside writes


# --- a replaced or deleted path ------------------------------------------------------------------


def _replace_with_vcrpy_cassette(path: Path, n: int) -> None:
    """What the pytest plugin, git checkout or an editor does: write elsewhere, rename over."""
    fmt = "json" if path.suffix == ".json" else "yaml"
    requests, responses = [], []
    from vcr.request import Request

    for i in range(100, 100 + n):
        requests.append(Request("GET", uris([i])[0], None, {}))
        responses.append(
            {"status": {"code": 200, "message": "OK"}, "headers": {}, "body": {"string": b""}}
        )
    tmp = path.with_name("other-program.tmp")
    tmp.write_text(serialize({"requests": requests, "responses": responses}, SERIALIZERS[fmt]))
    os.replace(tmp, path)


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_a_cassette_replaced_by_rename_gets_the_next_appends(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"c.{fmt}"
    notices: list[str] = []
    with CassetteWriter(path, on_notice=notices.append) as w:
        w.append(item(0, fmt=fmt))
        w.append(item(1, fmt=fmt))
        _replace_with_vcrpy_cassette(path, 2)
        w.append(item(2, fmt=fmt))
        w.append(item(3, fmt=fmt))
        count = w.count
    assert vcrpy_uris(path) == uris([100, 101, 2, 3])  # was: 100, 101 (2 and 3 into the void)
    assert count == 4  # what the recorder reports is what the file holds
    aside = path.with_name(path.name + ".replaced")
    assert vcrpy_uris(aside) == uris([0, 1])
    assert notices == [
        f"{path}: replaced by another program while recording; the file as this recorder had it "
        f"(2 interaction(s)) is kept as {aside}; appending to the new file (2 interaction(s))"
    ]


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_a_cassette_renamed_away_keeps_what_it_had(tmp_path: Path, fmt: str) -> None:
    """The path is looked up after each write: the write that went to the file renamed away
    is taken back, byte for byte, and goes to the file the path names now."""
    path, moved = tmp_path / f"c.{fmt}", tmp_path / f"moved.{fmt}"
    with CassetteWriter(path) as w:
        w.append(item(0, fmt=fmt))
        w.append(item(1, fmt=fmt))
        before = path.read_bytes()
        os.rename(path, moved)
        w.append(item(2, fmt=fmt))
        w.append(item(3, fmt=fmt))
        assert w.count == 2
    assert moved.read_bytes() == before
    assert vcrpy_uris(path) == uris([2, 3])
    assert vcrpy_uris(path.with_name(path.name + ".replaced")) == uris([0, 1])


def test_a_deleted_cassette_is_created_again(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    with CassetteWriter(path) as w:
        w.append(item(0))
        path.unlink()
        w.append(item(1))
        assert w.count == 1
    assert vcrpy_uris(path) == uris([1])
    assert vcrpy_uris(path.with_name("c.yaml.replaced")) == uris([0])


# --- special files and modes ---------------------------------------------------------------------


def test_a_fifo_is_refused_not_opened_nor_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "c.yaml"
    os.mkfifo(fifo)
    with pytest.raises(CassetteError, match="is a FIFO \\(named pipe\\), not a regular file"):
        CassetteWriter(fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_symlinked_cassette_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    target = tmp_path / "real.yaml"
    _replace_with_vcrpy_cassette(target, 1)  # vcrpy's layout: rewritten once into ours
    link = tmp_path / "link.yaml"
    link.symlink_to(target)
    with CassetteWriter(link) as w:
        w.append(item(0))
    assert link.is_symlink()
    assert vcrpy_uris(target) == uris([100, 0])


def test_cassettes_are_0600_whatever_path_wrote_them(tmp_path: Path) -> None:
    """A cassette another tool wrote is rewritten once through a temporary file: that file was
    created 0666 less the umask (0644), and the rename gave the cassette that mode."""
    old = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh.yaml"
        with CassetteWriter(fresh) as w:
            w.append(item(0))
        rewritten = tmp_path / "vcrpy.yaml"
        _replace_with_vcrpy_cassette(rewritten, 1)
        assert stat.S_IMODE(rewritten.stat().st_mode) == 0o644  # as vcrpy left it
        with CassetteWriter(rewritten) as w:
            w.append(item(0))
    finally:
        os.umask(old)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    assert stat.S_IMODE(rewritten.stat().st_mode) == 0o600


def test_a_json_line_is_json_dumps_of_the_scrubbed_interaction(tmp_path: Path) -> None:
    """The writer's encoder, built once, writes what json.dumps(..., ensure_ascii=False,
    separators=(",", ":")) writes: non-ASCII as it is, escapes, floats, NaN and infinities."""
    import json

    from chime_tap.cassettes.scrub import scrub_interaction

    items = [
        item(0, fmt="json"),
        item(1, body='{"Name":"café \\u2028 \\"q\\" \\n"}'.encode(), fmt="json"),
    ]
    items[1]["chime_tap"] = {"duration_ms": 1.25, "x": [float("nan"), float("inf"), -0.0, 1e300]}
    path = tmp_path / "c.json"
    with CassetteWriter(path) as w:
        for i in items:
            w.append(i)
    lines = path.read_bytes().splitlines()[1:-1]
    assert [line.rstrip(b",") for line in lines] == [
        json.dumps(scrub_interaction(i), ensure_ascii=False, separators=(",", ":")).encode()
        for i in items
    ]
