"""Replay of a captured day: a big JSON cassette's interactions checked when first played.

A JSON cassette in the writer's layout over ``reader.DEFER_CHECKS_BYTES`` is indexed by the proxy
replay from each line's request alone (method, uri, body, read by one pattern, and its status:
answered or not); the rest of a line is checked at its first play, and a line that is no
interaction a reader can use is answered 599 (``x-chime-tap-replay: unreadable``) with the line
every reader says of it. What is proved here:

- the pattern takes from a line exactly what ``json.loads`` reads whenever the line is checked
  good later (writer-written lines, crafted ones, and a bounded fuzz of mutated lines), and a
  line it does not take is checked whole at start, as before;
- ``check_line`` refuses what the whole reader refuses, with its words and the interaction's
  number;
- over the cassettes of the test corpus, written in the writer's JSON layout, the proxy answers
  every request (hits, repeats, misses) byte for byte as the eager path does; where the eager
  path refuses a cassette at start, the deferred one refuses it alike or flags the interaction
  it names, with its problem, when it is played;
- a real ``chime-tap replay`` on a cassette over the threshold answers a broken line with the
  one-line 599 and goes on answering the rest.
"""

from __future__ import annotations

import http.client as http_client
import json
import random
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from mitmproxy import exceptions, http
from mitmproxy.test import taddons, tflow

import chime_tap.cassettes.reader as reader
from chime_tap.addons.replay import ReplayServer
from chime_tap.cassettes.format import END_KEY, JSON_HEAD, LAYOUT_KEY, is_unanswered
from chime_tap.cassettes.reader import (
    DeferredRequest,
    check_line,
    line_request,
    parse_cassette,
    parse_document,
    plain_origin,
)
from chime_tap.errors import CassetteError
from chime_tap.playback import build_index
from support.procs import CONNECTOR

ROOT = Path(__file__).resolve().parent.parent
HOST = "voice-chime.us-east-1.amazonaws.com"
SESSIONS = f"https://{HOST}/voice-connectors/{CONNECTOR}/proxy-sessions"


def dump_line(item: Any) -> bytes:
    """One interaction as the writer puts it on its line (cassettes.writer._dump_json_item)."""
    return json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def writers_layout(path: Path, lines: list[bytes]) -> Path:
    """A cassette in the writer's JSON layout: its head, one interaction a line, then ``]}``."""
    body = b",\n".join(lines) + b"\n" if lines else b""
    path.write_bytes(JSON_HEAD + body + b"]}\n")
    return path


def item(
    method: str = "GET",
    uri: str = f"{SESSIONS}/s1",
    body: Any = None,
    status: int = 200,
    *,
    request_headers: Any = None,
    response_headers: Any = None,
    answer: Any = '{"ProxySession":{"ProxySessionId":"s1"}}',
    meta: Any = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "request": {
            "method": method,
            "uri": uri,
            "body": body,
            "headers": {"Host": [HOST], "X-Amz-Date": ["20260101T000000Z"]}
            if request_headers is None
            else request_headers,
        },
        "response": {
            "status": {"code": status, "message": "OK"},
            "headers": {"Content-Type": ["application/json"]}
            if response_headers is None
            else response_headers,
            "body": {"string": answer},
        },
    }
    if meta is not None:
        out["chime_tap"] = meta
    return out


@pytest.fixture
def deferred(monkeypatch):
    """Every JSON cassette in the writer's layout is big enough to have its checks deferred."""
    monkeypatch.setattr(reader, "DEFER_CHECKS_BYTES", 0)


# --- the pattern: what it takes is what json.loads reads -------------------------------------

TAKEN = {
    "a GET": item(),
    "a POST with a JSON body, escapes, unicode": item(
        "POST", SESSIONS, json.dumps({"Name": 'q"\\ caf\u00e9 \u2603', "n": [1]}), 201
    ),
    "a body that is no JSON": item("PUT", f"{SESSIONS}/s1", "a=1&b=\\x00\t"),
    "an empty body": item("POST", SESSIONS, ""),
    "query, fragment, port, userinfo": item(uri=f"http://u:p@{HOST}:8443/a/b?z=1&a=%20#frag"),
    "no request headers": item(request_headers={}),
    "escapes in header values": item(request_headers={"X-A": ['say "hi"\\'], "B": []}),
    "unicode in a header": item(request_headers={"X-A": ["caf\u00e9"]}),
    "a 599 with metadata": item(status=599, meta={"nested": {"response": {"status": {}}}}),
    "a header that is no list": item(request_headers={"X-A": "v", "N": 7}),
    "a broken answer": item(answer=42),
}
CHECKED_AT_START = {
    "a call that got no response": item(status=0, answer=""),
    "a status under 100": item(status=42),
    "a lower-case method": item("get"),
    "a uri with unicode": item(uri=f"{SESSIONS}/caf\u00e9"),
    "a uri with an escaped slash": item(uri=f"{SESSIONS}/a\\/b"),
    "a bad port": item(uri=f"https://{HOST}:99999/a"),
    "a header value with a brace": item(request_headers={"X-A": ["{"]}),
    "a nested request header": item(request_headers={"X-A": [{"a": 1}]}),
    "a nested request body": item(body={"string": "x"}),
    "request keys in another order": {
        "request": {"uri": f"{SESSIONS}/s1", "method": "GET", "body": None, "headers": {}},
        "response": item()["response"],
    },
    "metadata before the response": {
        "request": item()["request"],
        "chime_tap": {"response": {"status": {"code": 0}}},
        "response": item()["response"],
    },
}


@pytest.mark.parametrize("name", list(TAKEN))
def test_a_line_the_writer_wrote_is_taken_as_json_loads_reads_it(name: str) -> None:
    line = dump_line(TAKEN[name])
    got = reader._deferred_request(line)
    assert got is not None
    parsed = json.loads(line)
    request = parsed["request"]
    assert got == DeferredRequest(
        request["method"], plain_origin(request["uri"]), request["uri"], request["body"]
    )
    assert not is_unanswered(parsed["response"])
    assert line_request(line) == request
    if name == "a broken answer":
        with pytest.raises(CassetteError) as e:
            check_line(line, "c.json", 7)
        assert str(e.value) == "c.json: interaction 7: response body 42 is neither text nor bytes"
    else:
        assert check_line(line, "c.json", 7) == parsed


@pytest.mark.parametrize("name", list(CHECKED_AT_START))
def test_any_other_line_is_checked_whole_at_start(name: str) -> None:
    assert reader._deferred_request(dump_line(CHECKED_AT_START[name])) is None


def _whole_reader_says(line: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """(interaction, None) or (None, error) of a one-interaction cassette, read whole."""
    try:
        return parse_cassette(JSON_HEAD + line + b"\n]}\n", "c.json")["interactions"][0], None
    except CassetteError as e:
        return None, str(e)


def _agrees(line: bytes) -> bool:
    """Whether a line the pattern takes is judged at its first play as the whole reader judges
    it at start (the same interaction, or the same problem with the interaction's number), and
    what was taken is what the line holds. False when the pattern does not take it."""
    taken = reader._deferred_request(line)
    if taken is None:
        return False
    whole, error = _whole_reader_says(line)
    try:
        checked = check_line(line, "c.json", 0)
    except CassetteError as e:
        said = str(e)
        assert error is not None, (line, said)
        assert "\n" not in said and said.startswith("c.json: interaction 0: "), said
        if error.startswith("c.json: interaction 0: "):
            assert said == error
        elif error == "c.json: binary data, not a cassette":  # a NUL: the line is no JSON
            assert said.startswith("c.json: interaction 0: not valid JSON ("), said
        else:  # the whole reader's JSON error: the same words, its position aside
            assert error.startswith("c.json: not valid JSON ("), error
            assert said.startswith("c.json: interaction 0: not valid JSON ("), said
            if "duplicate key" in error:
                assert said == error.replace("c.json: ", "c.json: interaction 0: ", 1)
        return True
    assert error is None and checked == whole, (line, error)
    request = checked["request"]
    assert taken == DeferredRequest(
        request["method"], plain_origin(request["uri"]), request["uri"], request["body"]
    )
    assert not is_unanswered(checked["response"])
    assert line_request(line) == request
    return True


CRAFTED = {
    "a duplicate key in the response": (b'"code":200', b'"code":200,"code":0', "duplicate key"),
    "a second request": (b"}}}", b'}},"request":{"method":"DELETE"}}', "duplicate key"),
    "a duplicate request header": (b'"Host":', b'"X-Amz-Date":["x"],"Host":', "duplicate key"),
    "a nested response header": (b'["application/json"]', b'{"a":1}', "is not a header"),
    "an answer body that is a mapping": (b'"body":{"string":', b'"body":{"s":', "'string'"),
    "the response cut": (b'"headers":{"Content-Type"', b'"headers":{"Content-Type"}', "JSON"),
    "a status message that is a number": (b'"message":"OK"', b'"message":7', "is not text"),
    "metadata that is no mapping": (b"}}}", b'}},"chime_tap":[1]}', "is not a mapping"),
}


@pytest.mark.parametrize("name", list(CRAFTED))
def test_a_crafted_line_is_refused_at_its_first_play_as_the_whole_reader_refuses_it(
    name: str,
) -> None:
    old, new, problem = CRAFTED[name]
    line = dump_line(item())
    assert line.count(old) == 1
    line = line.replace(old, new)
    assert _agrees(line)
    with pytest.raises(CassetteError, match="c.json: interaction 0: .*" + re.escape(problem)):
        check_line(line, "c.json", 0)


FUZZ_BYTES = b'{}[]",:\\ 0a\x00\xc3'


def test_mutated_lines_are_taken_only_as_json_loads_reads_them() -> None:
    """A bounded fuzz: single-byte changes to writer lines; whatever the pattern takes agrees."""
    rng = random.Random(18)
    bases = [dump_line(TAKEN[name]) for name in TAKEN]
    taken = 0
    for _ in range(3000):
        line = bytearray(rng.choice(bases))
        at = rng.randrange(len(line))
        how = rng.randrange(3)
        if how == 0:
            line[at] = rng.choice(FUZZ_BYTES)
        elif how == 1:
            line.insert(at, rng.choice(FUZZ_BYTES))
        else:
            del line[at]
        taken += _agrees(bytes(line))
    assert taken > 1000  # most changes land after the request: deferred, then judged


# --- the corpus: the proxy answers as the eager path does ------------------------------------


def _corpus(tmp: Path) -> dict[str, list[bytes]]:
    """Each cassette of the test corpus whose document can be read, as the writer's JSON lines:
    the committed ones, the bad-input corpus, those the replay and cassette tests write, the
    benchmark's; and a few of our own (each kind TAKEN and CHECKED_AT_START lists)."""
    from test_cassette import _written_json
    from test_replay_addon import closest_rule_cassette
    from test_replay_addon import lifecycle as addon_lifecycle

    from bench.bench_replay import write_cassette as bench_cassette

    _written_json(tmp / "written.json", 6)
    files = [
        ROOT / "cassettes" / "reference-examples.yaml",
        ROOT / "tests" / "data" / "diff" / "recorded.yaml",
        *sorted((ROOT / "tests" / "data" / "bad-input" / "cassettes").iterdir()),
        addon_lifecycle(tmp / "lifecycle.yaml"),
        closest_rule_cassette(tmp / "closest.yaml"),
        tmp / "written.json",
        bench_cassette(tmp / "bench.json", 20),
    ]
    out: dict[str, list[bytes]] = {}
    for path in files:
        try:
            doc = parse_document(path.read_bytes(), str(path))
        except CassetteError:
            continue  # no document to write again (aliases, duplicate keys, not YAML...)
        items = doc.get("interactions") if isinstance(doc, dict) else None
        if not isinstance(items, list) or doc.get(LAYOUT_KEY) not in (None, True):
            continue
        for x in items:
            if isinstance(x, dict):
                x.pop(END_KEY, None)
        try:
            out[path.name] = [dump_line(x) for x in items]
        except (TypeError, ValueError):  # bytes bodies: no JSON cassette holds them
            continue
    for name, x in {**TAKEN, **CHECKED_AT_START}.items():
        out[name] = [dump_line(item(uri=f"{SESSIONS}/other")), dump_line(x), dump_line(x)]
    mixed = [dump_line(x) for x in TAKEN.values()] + [dump_line(x) for x in TAKEN.values()]
    out["every kind twice"] = mixed
    return out


def _corpus_once() -> dict[str, list[bytes]]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return _corpus(Path(tmp))


CORPUS = _corpus_once()


def test_the_corpus_holds_the_test_cassettes() -> None:
    names = {"reference-examples.yaml", "recorded.yaml", "response-body-int.yaml", "bench.json"}
    assert names | {"lifecycle.yaml", "closest.yaml", "written.json"} <= set(CORPUS)
    assert len(CORPUS["recorded.yaml"]) > 50 and len(CORPUS["bench.json"]) == 20


def _flow(method: str, uri: str, body: Any) -> http.HTTPFlow:
    u = urlsplit(uri)
    f = tflow.tflow()
    req = f.request
    req.method, req.scheme, req.host = method, u.scheme, u.hostname or ""
    req.port = u.port or (443 if u.scheme == "https" else 80)
    req.path = u.path + (f"?{u.query}" if u.query else "")
    req.headers.clear()
    req.headers["Host"] = req.host
    if isinstance(body, dict):
        body = body.get("string")
    req.content = body.encode("utf-8", "surrogateescape") if isinstance(body, str) else b""
    return f


def _requests(lines: list[bytes]) -> list[tuple[str, str, Any]]:
    """Every recorded request twice (first plays, then repeats), and a near miss of each."""
    calls = []
    for line in lines:
        try:
            request = json.loads(line)["request"]
            method, uri, body = str(request["method"]), str(request["uri"]), request.get("body")
            urlsplit(uri).port  # noqa: B018
        except Exception:
            continue  # no request a client could send
        calls.append((method, uri, body))
    misses = [(m, u.split("#")[0] + ("&" if "?" in u else "?") + "miss=1", b) for m, u, b in calls]
    return calls + calls + misses


def _answers(
    path: Path, calls: list[tuple[str, str, Any]], exhausted: str
) -> tuple[str | None, list[tuple[int, Any, bytes]], ReplayServer]:
    """(start error, each call's answer: status, header fields, body) from a ReplayServer."""
    addon = ReplayServer()
    with taddons.context(addon) as tctx:
        try:
            tctx.configure(
                addon, chime_replay_cassettes=[str(path)], chime_replay_exhausted=exhausted
            )
        except exceptions.OptionsError as e:
            return str(e), [], addon
        answers = []
        for method, uri, body in calls:
            f = _flow(method, uri, body)
            addon.request(f)
            assert f.response is not None
            answers.append((f.response.status_code, f.response.headers.fields, f.response.content))
    return None, answers, addon


@pytest.mark.parametrize("exhausted", ["fail", "repeat"])
@pytest.mark.parametrize("name", list(CORPUS))
def test_the_proxy_answers_every_request_of_the_corpus_as_the_eager_path_does(
    name: str, exhausted: str, tmp_path: Path, monkeypatch
) -> None:
    path = writers_layout(tmp_path / "c.json", CORPUS[name])
    calls = _requests(CORPUS[name])
    monkeypatch.setattr(reader, "DEFER_CHECKS_BYTES", 1 << 40)  # the eager path
    eager_error, eager, _ = _answers(path, calls, exhausted)
    monkeypatch.setattr(reader, "DEFER_CHECKS_BYTES", 0)
    error, answers, addon = _answers(path, calls, exhausted)
    if eager_error is None or error is not None:
        assert error == eager_error
        assert answers == eager
        assert addon.unreadable == 0
        return
    # Refused at start by the eager path, loaded by the deferred one: the interaction it names
    # is answered 599 with its problem when played; every other answer is what a cassette
    # without that interaction's problem gives.
    problem = eager_error.split(f"{path}: ", 1)[1]
    said = [
        json.loads(body)["message"]
        for status, fields, body in answers
        if (b"x-chime-tap-replay", b"unreadable") in fields
    ]
    assert said and addon.unreadable == len(said)
    if problem.startswith("interaction "):
        assert any(f"{path}: {problem} (replay checks" in s for s in said), (problem, said)
    else:
        assert problem.startswith("not valid JSON ("), problem
        assert any(": not valid JSON (" in s for s in said), said


def test_unreadable_answers_are_said_in_one_line_and_the_rest_is_served(
    deferred, tmp_path: Path, caplog
) -> None:
    lines = [dump_line(item(uri=f"{SESSIONS}/s{i}")) for i in range(3)]
    lines[1] = lines[1].replace(b'"message":"OK"', b'"message":["OK"]')
    path = writers_layout(tmp_path / "day.json", lines)
    addon = ReplayServer()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, chime_replay_cassettes=[str(path)])
        flows = [_flow("GET", f"{SESSIONS}/s{i}", None) for i in (1, 0, 2, 1)]
        for f in flows:
            addon.request(f)
    assert [f.response.status_code for f in flows] == [599, 200, 200, 599]
    first, last = flows[0], flows[3]
    assert first.response.headers["x-chime-tap-replay"] == "unreadable"
    assert first.response.headers["x-amzn-ErrorType"] == "ChimeTapReplayUnreadable"
    message = json.loads(first.response.content)["message"]
    assert message == (
        f"chime-tap replay: the recorded answer to GET {SESSIONS}/s1 (GetProxySession) cannot be "
        f"played: {path}: interaction 1: status message ['OK'] is not text (replay checks each "
        "interaction of a cassette this big when it is first played, not at start)"
    )
    assert first.marked and first.comment == "unreadable day.json #1"
    # exhausted=fail: the one recorded answer was asked for, so the second ask is exhausted
    assert last.response.headers["x-chime-tap-replay"] == "exhausted"
    assert (addon.hits, addon.misses, addon.unreadable, addon.exhausted) == (2, 2, 1, 1)
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert message in errors
    assert "Traceback" not in caplog.text
    # The exit summary tells the broken answer apart from a miss (nothing recorded).
    assert addon.summary() == (
        "chime-tap replay: 4 call(s) (2 2xx, 2 599 chime-tap); 2 hit(s), 0 miss(es), 1 exhausted, "
        "1 recorded answer(s) unreadable; 1 of 3 recorded interaction(s) never played."
    )


def test_a_miss_explained_from_an_unreadable_line_names_its_request(
    deferred, tmp_path: Path
) -> None:
    """The closest recorded call of a miss is read from its request alone: a line whose answer
    (or whose request headers) are broken is still named, never a traceback."""
    line = dump_line(item(uri=f"{SESSIONS}/s1", request_headers={"X-A": ["v"]}))
    line = line.replace(b'["v"]', b'["v",]').replace(b'"code":200', b'"code":200,"code":201')
    assert reader._deferred_request(line) is not None
    path = writers_layout(tmp_path / "c.json", [line])
    index = build_index([str(path)], defer_checks=True)
    entry = index.entries[0]
    assert entry.request_line() == f"GET {SESSIONS}/s1"
    with pytest.raises(CassetteError, match="interaction 0: not valid JSON"):
        entry.answer()
    addon = ReplayServer()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, chime_replay_cassettes=[str(path)])
        f = _flow("GET", f"{SESSIONS}/s2", None)
        addon.request(f)
    assert f.response.status_code == 599
    assert "closest is c.json #0 (GET " in json.loads(f.response.content)["message"]


def test_a_deferred_line_is_read_again_when_played_and_a_changed_one_is_refused(
    deferred, tmp_path: Path
) -> None:
    """The lines are not kept: the descriptor read at start is, and each line is read again at
    play, checked against its CRC-32; a file replaced whole (as every chime-tap writer replaces
    one) is still read as it was at start."""
    lines = [dump_line(item(uri=f"{SESSIONS}/s{i}", answer=f"answer {i}")) for i in range(3)]
    path = writers_layout(tmp_path / "c.json", lines)
    index = build_index([str(path)], defer_checks=True)
    assert [type(e.line) for e in index.entries] == [reader.StoredLine] * 3
    assert [e.size for e in index.entries] == [len(line) for line in lines]
    replaced = writers_layout(tmp_path / "new.json", [dump_line(item(answer="other"))] * 3)
    replaced.replace(path)  # a new file at the path: the old one is what replay reads
    assert index.entries[0].answer()[1] == b"answer 0"
    with open(path, "wb"):  # the file now at the path emptied: replay reads the one it opened
        pass
    assert index.entries[1].answer()[1] == b"answer 1"
    # in place: the same file, its bytes changed under the index
    path2 = writers_layout(tmp_path / "d.json", lines)
    index2 = build_index([str(path2)], defer_checks=True)
    with open(path2, "r+b") as f:
        f.seek(len(JSON_HEAD) + len(lines[0]) + 2 + lines[1].index(b"answer 1"))
        f.write(b"ANSWER")
    assert index2.entries[0].answer()[1] == b"answer 0"
    with pytest.raises(CassetteError) as e:
        index2.entries[1].answer()
    assert str(e.value) == (
        f"{path2}: interaction 1: changed on disk since replay read it at start; restart replay "
        "to read the cassette again"
    )
    assert index2.entries[1].request_line() == " "  # a miss is still explained, naming nothing
    with open(path2, "r+b") as f:
        f.truncate(len(JSON_HEAD) + 10)
    with pytest.raises(CassetteError, match="interaction 2: changed on disk"):
        index2.entries[2].answer()


def test_big_answer_headers_of_a_deferred_line_are_said_at_start(deferred, tmp_path: Path) -> None:
    from chime_tap.playback import oversized_answers

    big = {"X-Big": ["x" * 40_000]}
    lines = [
        dump_line(item()),
        dump_line(item(uri=f"{SESSIONS}/s2", response_headers=big)),
        dump_line(item(uri=f"{SESSIONS}/s3", response_headers=big, answer=42)),  # broken
    ]
    index = build_index([str(writers_layout(tmp_path / "c.json", lines))], defer_checks=True)
    found = oversized_answers(index)
    assert [(entry.number, size) for entry, size in found] == [(1, 40_005)]
    assert (
        oversized_answers(build_index([str(tmp_path / "c.json")], defer_checks=True), 10**6) == []
    )


def test_below_the_threshold_every_problem_is_said_at_start(tmp_path: Path) -> None:
    lines = [dump_line(item()), dump_line(item(answer=42))]
    path = writers_layout(tmp_path / "c.json", lines)
    with pytest.raises(CassetteError, match="interaction 1: response body 42"):
        build_index([str(path)], defer_checks=True)
    assert reader.DEFER_CHECKS_BYTES == 64 * 1024 * 1024


def test_other_callers_read_every_line_whole(deferred, tmp_path: Path) -> None:
    """replay_items without defer_checks (spy, the hostile-cassette readers): as before."""
    path = writers_layout(tmp_path / "c.json", [dump_line(item()), dump_line(item(answer=42))])
    with pytest.raises(CassetteError, match="interaction 1: response body 42"):
        list(reader.replay_items(path))
    with pytest.raises(CassetteError, match="interaction 1: response body 42"):
        build_index([str(path)])
    kinds = [type(x) for x, _ in reader.replay_items(path, defer_checks=True)]
    assert kinds == [DeferredRequest, DeferredRequest]


# --- a real process on a cassette over the threshold -----------------------------------------


def test_chime_tap_replay_answers_a_broken_line_of_a_big_cassette_in_one_line(
    tmp_path: Path,
) -> None:
    from bench.bench_replay import session_id, write_big_json
    from support.procs import chime_tap

    size = reader.DEFER_CHECKS_BYTES // 1000 + 1000  # lines of about 1,090 bytes: over it
    path = write_big_json(tmp_path / "day.json", size)
    data = path.read_bytes()
    assert len(data) > reader.DEFER_CHECKS_BYTES
    broken = b'"x-amzn-RequestId":["req-5"]'
    assert data.count(broken) == 1
    path.write_bytes(data.replace(broken, b'"x-amzn-RequestId":[{"id":"req-5"}]'))
    del data
    with chime_tap(["replay", "--cassette", str(path)], confdir=tmp_path / "conf") as proxy:
        got = {}
        conn = http_client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
        for i in (5, 6, size - 1):
            conn.request(
                "GET", f"http://{HOST}/voice-connectors/{CONNECTOR}/proxy-sessions/{session_id(i)}"
            )
            response = conn.getresponse()
            got[i] = (response.status, response.getheader("x-chime-tap-replay"), response.read())
        conn.close()
    assert got[6][:2] == (200, "hit") and got[size - 1][:2] == (200, "hit")
    assert json.loads(got[6][2])["ProxySession"]["ProxySessionId"] == session_id(6)
    assert got[5][:2] == (599, "unreadable")
    message = json.loads(got[5][2])["message"]
    assert (
        f"{path}: interaction 5: response header 'x-amzn-RequestId': [{{'id': 'req-5'}}] is not "
        "a header" in message
    )
    output = proxy.output
    assert message in output
    assert "Traceback" not in output
    assert f"replay: {size} recorded interaction(s) from 1 cassette(s)" in output
