"""chime-tap prune: cutting interactions out of a cassette, byte for byte, and the command.

The property: whatever the cassette holds and in whichever layout it was written (chime-tap's
writer, vcrpy's YAML and JSON serializers), pruning keeps every played interaction, each one
byte-identical, in order, and the file parses to exactly those.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vcr.request import Request
from vcr.serialize import serialize
from vcr.serializers import jsonserializer, yamlserializer

from chime_tap.cassettes.format import make_interaction
from chime_tap.cassettes.reader import parse_cassette
from chime_tap.cassettes.writer import CassetteWriter
from chime_tap.errors import CassetteError
from chime_tap.process import chime_tap_argv
from chime_tap.prune import layout, without
from chime_tap.usage import Use, file_sha256, write_log

HOST = "https://voice-chime.us-east-1.amazonaws.com"
# Text that trips a line-based cutter: list dashes, keys, comments, quotes, newlines, non-ASCII.
TRICKY = st.text(
    alphabet=st.sampled_from(list("ab -:#'\"\n\t{}[],é😀\\")) | st.characters(codec="utf-8"),
    max_size=40,
)


def _item(n: int, text: str, status: int) -> dict:
    return make_interaction(
        method="POST",
        uri=f"{HOST}/voice-connectors/c/proxy-sessions/ps-{n}",
        request_headers={"Content-Type": ["application/json"], "X-Note": [text or "x"]},
        request_body=json.dumps({"Name": text}),
        status=status,
        reason="OK",
        response_headers={"Content-Type": ["application/json"]},
        response_body=text + "\n- interactions:\n",
        meta={"duration_ms": n, "note": text},
    )


def _write(items: list[dict], kind: str, directory: Path) -> bytes:
    if kind in ("writer.yaml", "writer.json"):
        path = directory / f"c-{os.getpid()}.{kind.split('.')[1]}"
        path.unlink(missing_ok=True)
        writer = CassetteWriter(path)
        for item in items:
            writer.append(item)
        writer.close()
        data = path.read_bytes()
        path.unlink()
        return data
    requests = [Request(i["request"]["method"], i["request"]["uri"], i["request"]["body"],
                        i["request"]["headers"]) for i in items]  # fmt: skip
    responses = [i["response"] for i in items]
    serializer = yamlserializer if kind == "vcrpy.yaml" else jsonserializer
    return serialize({"requests": requests, "responses": responses}, serializer).encode()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    texts=st.lists(TRICKY, min_size=1, max_size=8),
    kind=st.sampled_from(["writer.yaml", "writer.json", "vcrpy.yaml", "vcrpy.json"]),
    data=st.data(),
)
def test_pruning_never_loses_a_played_interaction_and_keeps_each_byte_for_byte(
    tmp_path, texts, kind, data
):
    items = [_item(n, t, 200 if n % 3 else 201) for n, t in enumerate(texts)]
    cassette = _write(items, kind, tmp_path)
    played = data.draw(st.sets(st.integers(0, len(items) - 1)), label="played")
    drop = [n for n in range(len(items)) if n not in played]

    out = without(cassette, drop)

    before = parse_cassette(cassette)["interactions"]
    after = parse_cassette(out)["interactions"]
    kept = sorted(played)
    assert after == [before[n] for n in kept]
    old, new = layout(cassette), layout(out)
    assert [out[a:b] for a, b in new.items] == [
        cassette[a:b] for a, b in (old.items[n] for n in kept)
    ]
    assert len(out) <= len(cassette)


def test_nothing_to_drop_leaves_the_bytes_alone_and_a_bad_position_is_refused():
    data = _write([_item(0, "a", 200), _item(1, "b", 200)], "vcrpy.yaml", Path("."))
    assert without(data, []) is data
    with pytest.raises(CassetteError, match=r"no interaction #5 \(it holds 2\)"):
        without(data, [5])


def test_a_cassette_whose_interactions_cannot_be_told_apart_is_refused():
    # A flow-style list: the interactions are not block entries the cutter can see.
    items = json.dumps([_item(0, "a", 200), _item(1, "b", 200)])
    data = f"version: 1\ninteractions: {items}\n".encode()
    assert len(parse_cassette(data)["interactions"]) == 2
    with pytest.raises(CassetteError, match="no block list under a top-level 'interactions:'"):
        without(data, [0])


# --- the command ---------------------------------------------------------------------------


def _prune(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        chime_tap_argv(["prune", *args]), capture_output=True, text=True, cwd=cwd, timeout=60
    )


def _cassette(tmp_path: Path, n: int = 5, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    writer = CassetteWriter(path)
    for i in range(n):
        writer.append(_item(i, f"v{i}", 200))
    writer.close()
    return path


def _log(tmp_path: Path, path: Path, played: list[int], passed: bool = True, **kw) -> Path:
    use = Use(
        cassette=str(path.resolve()),
        sha256=kw.pop("sha256", file_sha256(path)),
        interactions=kw.pop("interactions", 5),
        played=played,
        unanswered=kw.pop("unanswered", []),
        test="test_x.py::test_x",
        passed=passed,
    )
    log = tmp_path / "usage.json"
    write_log(log, "run-1", [use, *kw.pop("more", [])])
    return log


@pytest.mark.parametrize("name", ["c.yaml", "c.json"])
def test_prune_removes_what_was_never_played_atomically_with_a_backup(tmp_path, name):
    path = _cassette(tmp_path, name=name)
    original = path.read_bytes()
    spans = layout(original).items
    log = _log(tmp_path, path, played=[0, 3])

    done = _prune(str(path), "--unused-from", str(log))

    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        f"{path}: removed 3 of 5 interaction(s) never played (#1, #2, #4); "
        f"the old file is {path}.bak\n"
    )
    data = path.read_bytes()
    assert [data[a:b] for a, b in layout(data).items] == [
        original[a:b] for a, b in (spans[0], spans[3])
    ]
    assert (tmp_path / f"{name}.bak").read_bytes() == original
    assert oct(path.stat().st_mode & 0o777) == "0o600"  # as the writer left it
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, f"{name}.bak", "usage.json"])
    # The pruned cassette takes appends again.
    writer = CassetteWriter(path)
    writer.append(_item(9, "after", 200))
    writer.close()
    assert [
        i["chime_tap"]["duration_ms"] for i in parse_cassette(path.read_bytes())["interactions"]
    ] == [0, 3, 9]


def test_dry_run_says_what_it_would_remove_exits_1_and_changes_nothing(tmp_path):
    path = _cassette(tmp_path)
    before = path.read_bytes()
    done = _prune(
        str(path), "--unused-from", str(_log(tmp_path, path, played=[0, 1, 2, 3])), "--dry-run"
    )
    assert done.returncode == 1
    assert done.stdout == f"{path}: would remove 1 of 5 interaction(s) never played (#4)\n"
    assert path.read_bytes() == before and not (tmp_path / "c.yaml.bak").exists()


def test_a_call_recorded_with_no_response_is_kept_and_all_played_is_nothing_to_do(tmp_path):
    path = _cassette(tmp_path)
    log = _log(tmp_path, path, played=[0, 1, 3, 4], unanswered=[2])
    done = _prune(str(path), "--unused-from", str(log))
    assert done.returncode == 0
    assert done.stdout == f"{path}: every recorded interaction was played; nothing to remove\n"


def _refused(done: subprocess.CompletedProcess, text: str) -> None:
    assert done.returncode == 2, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("chime-tap: ") and text in lines[0], done.stderr


def test_prune_leaves_a_cassette_alone_when_it_cannot_be_sure(tmp_path):
    path = _cassette(tmp_path)
    before = path.read_bytes()
    other = _cassette(tmp_path, name="other.yaml")
    _refused(
        _prune(str(other), "--unused-from", str(_log(tmp_path, path, [0]))),
        "no test of the logged run used it",
    )
    _refused(
        _prune(str(path), "--unused-from", str(_log(tmp_path, path, [0], passed=False))),
        "test_x.py::test_x failed while using it",
    )
    _refused(
        _prune(str(path), "--unused-from", str(_log(tmp_path, path, [0], sha256="0" * 64))),
        "changed since the logged run",
    )
    again = Use(str(path.resolve()), "1" * 64, 5, [1], [], "test_y.py::test_y", True)
    _refused(
        _prune(str(path), "--unused-from", str(_log(tmp_path, path, [0], more=[again]))),
        "recorded again during the logged run",
    )
    assert path.read_bytes() == before
    # A recorder writing it holds its lock.
    log = _log(tmp_path, path, [0])
    writer = CassetteWriter(path)
    try:
        _refused(_prune(str(path), "--unused-from", str(log)), "a chime-tap recorder is writing it")
    finally:
        writer.close()
    assert path.read_bytes() == before


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    path = _cassette(tmp_path)
    _refused(_prune(str(path), "--unused-from", str(tmp_path / "nope.json")), "no such usage log")
    (tmp_path / "junk.json").write_text("{not json")
    _refused(
        _prune(str(path), "--unused-from", str(tmp_path / "junk.json")), "cannot read the usage log"
    )
    (tmp_path / "other.json").write_text('{"a": 1}')
    _refused(
        _prune(str(path), "--unused-from", str(tmp_path / "other.json")),
        "not a chime-tap usage log",
    )
    _refused(
        _prune(str(tmp_path / "missing.yaml"), "--unused-from", str(_log(tmp_path, path, [0]))),
        "no such cassette",
    )
    _refused(_prune(str(path), cwd=tmp_path), "no usage log found")
    bare = subprocess.run(chime_tap_argv(["prune"]), capture_output=True, text=True, timeout=60)
    assert bare.returncode == 2 and len(bare.stderr.strip().splitlines()) == 1


PARTIAL = """
import pytest
from support.procs import voice_client, CONNECTOR
from test_vcr_config import PHONES

@pytest.mark.chime_cassette("lifecycle.yaml")
def test_partial():
    client = voice_client(None)
    created = client.create_proxy_session(
        VoiceConnectorId=CONNECTOR, ParticipantPhoneNumbers=PHONES,
        Capabilities=["Voice", "SMS"], ExpiryMinutes=60, Name="demo")
    client.get_proxy_session(
        VoiceConnectorId=CONNECTOR, ProxySessionId=created["ProxySession"]["ProxySessionId"])
"""


def test_a_real_test_run_then_prune_with_no_bookkeeping(pytester, tmp_path_factory, monkeypatch):
    from test_vcr_config import record_lifecycle

    recorded, _ = record_lifecycle(tmp_path_factory.mktemp("recorded"))
    cassette = pytester.path / "cassettes" / "lifecycle.yaml"
    cassette.parent.mkdir()
    cassette.write_bytes(recorded.read_bytes())
    original = cassette.read_bytes()
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parent))
    pytester.makepyfile(test_partial=PARTIAL)
    pytester.runpytest_subprocess().assert_outcomes(passed=1)

    done = _prune("cassettes/lifecycle.yaml", cwd=pytester.path)  # the log found by itself

    assert done.returncode == 0, done.stderr
    assert "removed 5 of 7 interaction(s) never played (#2, #3, #4, #5, #6)" in done.stdout
    spans = layout(original).items
    assert cassette.read_bytes() == original[: spans[2][0]]  # #0 and #1, then nothing
    again = pytester.runpytest_subprocess()
    again.assert_outcomes(passed=1)
    assert "never played" not in again.stdout.str()


def test_a_second_prune_with_the_same_log_is_nothing_to_do_but_a_later_change_is_refused(tmp_path):
    path = _cassette(tmp_path)
    log = _log(tmp_path, path, played=[0, 3])
    assert _prune(str(path), "--unused-from", str(log)).returncode == 0
    pruned = path.read_bytes()

    again = _prune(str(path), "--unused-from", str(log))

    assert again.returncode == 0, again.stderr
    assert again.stdout == f"{path}: already pruned with this run's log; nothing to remove\n"
    assert path.read_bytes() == pruned
    # Appended to since: not what this log pruned, so left alone as any changed cassette.
    writer = CassetteWriter(path)
    writer.append(_item(9, "after", 200))
    writer.close()
    _refused(_prune(str(path), "--unused-from", str(log)), "changed since the logged run")
    # Nor when the backup is not the file the run logged.
    path.write_bytes(pruned)
    (tmp_path / "c.yaml.bak").write_bytes(pruned)
    _refused(_prune(str(path), "--unused-from", str(log)), "changed since the logged run")
