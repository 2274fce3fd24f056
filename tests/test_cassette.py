"""Cassettes: safe loading with one-line errors, and a writer that keeps vcrpy able to load the file."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from vcr.persisters.filesystem import FilesystemPersister
from vcr.request import Request
from vcr.serializers import jsonserializer, yamlserializer

from chime_tap.cassettes.format import META_KEY, Interaction, iter_interactions, make_interaction
from chime_tap.cassettes.reader import MAX_DEPTH, load_cassette, parse_cassette
from chime_tap.cassettes.writer import CassetteWriter
from chime_tap.errors import CassetteError
from support.procs import FAKE_ACCESS_KEY, FAKE_SESSION_TOKEN, SECRETS

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "cassettes" / "reference-examples.yaml"
SERIALIZERS = {"yaml": yamlserializer, "json": jsonserializer}
URI = "https://voice-chime.us-east-1.amazonaws.com/voice-connectors/abcdef1ghij2klmno3pqr4/proxy-sessions"


def vcrpy_load(path: Path) -> tuple[list[Any], list[Any]]:
    """Load exactly as vcrpy does when a test replays the cassette."""
    fmt = "json" if path.suffix == ".json" else "yaml"
    requests, responses, *_ = FilesystemPersister.load_cassette(path, SERIALIZERS[fmt])
    return requests, responses


def sample(i: int, *, fmt: str = "yaml", **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "method": "POST",
        "uri": f"{URI}/session-{i}",
        "request_headers": {
            "Authorization": [
                f"AWS4-HMAC-SHA256 Credential={FAKE_ACCESS_KEY}/20200415/us-east-1/chime/aws4_request"
            ],
            "X-Amz-Security-Token": [FAKE_SESSION_TOKEN],
            "Content-Type": ["application/json"],
        },
        "request_body": json.dumps({"Capabilities": ["Voice"], "ExpiryMinutes": i + 1}).encode(),
        "status": 201,
        "reason": "Created",
        "response_headers": {"Content-Type": ["application/json"]},
        "response_body": json.dumps(
            {"ProxySession": {"ProxySessionId": f"session-{i}", "Name": "caf\u00e9"}}
        ).encode(),
        "meta": {"operation": "UpdateProxySession", "index": i},
        "fmt": fmt,
    }
    fields.update(overrides)
    return make_interaction(**fields)


# --- loading --------------------------------------------------------------------------------------


def test_load_yaml_and_json(tmp_path: Path) -> None:
    doc = load_cassette(REFERENCE)
    as_json = tmp_path / "reference.json"
    as_json.write_text(json.dumps(doc))
    for loaded in (doc, load_cassette(as_json)):
        [get, update] = list(iter_interactions(loaded))
        assert (get.index, get.method, get.status, get.reason) == (0, "GET", 200, "OK")
        assert update.request_body == b'{"Capabilities": ["Voice"]}'
        assert update.header("content-type") == "application/json"
        assert update.header("Authorization", response=False) == "AUTHPARAMS"
        assert update.meta["operation"] == "UpdateProxySession"
        assert json.loads(get.response_body or b"")["ProxySession"]["Status"] == "Open"


def test_safe_loader_refuses_python_objects_without_running_them(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    path = tmp_path / "evil.yaml"
    path.write_text(
        "version: 1\ninteractions:\n"
        f"- request: !!python/object/apply:os.system ['touch {marker}']\n"
        "  response: {status: {code: 200}}\n"
    )
    with pytest.raises(CassetteError, match="safe loader") as caught:
        load_cassette(path)
    assert not marker.exists()
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)
    path.write_text("version: 1\ninteractions: !!python/object:subprocess.Popen {args: [true]}\n")
    with pytest.raises(CassetteError, match="safe loader"):
        load_cassette(path)


def test_harmless_python_string_tags_of_old_vcrpy_cassettes_load(tmp_path: Path) -> None:
    path = tmp_path / "old.yaml"
    path.write_text(
        "version: 1\ninteractions:\n"
        "- request: {method: GET, uri: !!python/unicode 'http://x/', body: !!python/str 'b', headers: {}}\n"
        "  response: {status: {code: 200, message: OK}, headers: {}, body: {string: ''}}\n"
    )
    [item] = list(iter_interactions(load_cassette(path)))
    assert (item.uri, item.request_body) == ("http://x/", b"b")


def _reference_cut_in_a_quoted_string() -> bytes:
    data = REFERENCE.read_bytes()
    return data[: data.index(b"string: '") + 40]


BAD_FILES = [
    ("empty.yaml", b"", "empty file"),
    ("blank.yaml", b"  \n\n", "empty file"),
    ("binary.yaml", bytes(range(256)) * 4, "binary"),
    ("truncated.yaml", _reference_cut_in_a_quoted_string(), "not valid YAML"),
    (
        "truncated.json",
        json.dumps(yaml.safe_load(REFERENCE.read_text())).encode()[:-30],
        "not valid JSON",
    ),
    ("version2.yaml", b"version: 2\ninteractions: []\n", "version 2 is not supported"),
    ("noversion.json", b'{"interactions": []}', "no 'version' key (vcrpy writes it last"),
    # vcrpy's own YAML cut after its last interaction, before the version it writes at the end
    (
        "cut-before-version.yaml",
        b"interactions:\n- request: {method: GET, uri: 'http://x/', body: null, headers: {}}\n"
        b"  response: {status: {code: 200, message: OK}, headers: {}, body: {string: ''}}\n",
        "was the file cut short?",
    ),
    ("nullversion.yaml", b"version: null\ninteractions: []\n", "version None is not supported"),
    (
        "extra.yaml",
        b"version: 1\ninteractions:\n- request: {method: GET, uri: 'http://x/', body: null, headers: {}, extra: 1}\n"
        b"  response: {status: {code: 200, message: OK}, headers: {}, body: {string: ''}}\n",
        "unknown key(s) in request: extra",
    ),
    ("list.yaml", b"- request: {}\n", "not a vcrpy cassette"),
    ("scalar.json", b'"cassette"', "not a vcrpy cassette"),
    ("notlist.yaml", b"version: 1\ninteractions: {a: 1}\n", "not a list"),
    (
        "noresponse.yaml",
        b"version: 1\ninteractions:\n- request: {method: GET, uri: 'http://x/'}\n",
        "no request/response",
    ),
    (
        "nostatus.yaml",
        b"version: 1\ninteractions:\n- request: {method: GET, uri: 'http://x/'}\n  response: {status: {message: OK}}\n",
        "without a status code",
    ),
    (
        "nouri.yaml",
        b"version: 1\ninteractions:\n- request: {method: GET}\n  response: {status: {code: 200}}\n",
        "without method or uri",
    ),
    ("tabs.yaml", b"version: 1\ninteractions:\n\t- x\n", "not valid YAML"),
    *(
        (f"status-{label}.yaml", b"version: 1\ninteractions:\n- request: {method: GET, uri: 'http://x/'}\n"
         b"  response: {status: {code: " + code + b"}}\n", needle)
        for label, code, needle in (
            ("true", b"true", "without a status code"),
            ("huge", b"1" + b"0" * 400, "status code 100000000000000000...0000000000000000000 is not an HTTP status"),
            ("negative", b"-200", "status code -200 is not an HTTP status"),
            ("1000", b"1000", "status code 1000 is not an HTTP status"),
        )
    ),
    ("version-deep.json", b'{"version": ' + b"[" * 50 + b"]" * 50 + b', "interactions": []}',
     "cassette version [[[[[[[...]]]]]]] is not supported"),
    ("bad-date.yaml", b"version: 1\nrecorded: 2020-02-30\ninteractions: []\n",
     "cannot be read (ValueError: day is out of range for month)"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "content", "needle"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_unusable_files_give_a_one_line_cassette_error(
    tmp_path: Path, name: str, content: bytes, needle: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CassetteError) as caught:
        load_cassette(path)
    message = str(caught.value)
    assert needle in message
    assert message.startswith(f"{path}: ")
    assert "\n" not in message


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(CassetteError, match="no such file"):
        load_cassette(tmp_path / "missing.yaml")
    with pytest.raises(CassetteError, match="is a directory"):
        load_cassette(tmp_path)


def test_parse_cassette_names_what_it_was_given() -> None:
    with pytest.raises(CassetteError, match=r"^upload: empty file"):
        parse_cassette(b"", "upload")


# --- nesting: libyaml's composer recurses in C and would take the process down -------------------


def _indented(levels: int) -> bytes:
    """``levels`` block mappings, each one space deeper: the most a line's indentation allows."""
    return b"".join(b" " * i + b"k:\n" for i in range(1, levels)) + b" " * levels + b"x\n"


TOO_DEEP = [
    ("flow-100k.yaml", b"version: 1\ninteractions: " + b"[" * 100_000 + b"]" * 100_000),
    ("flow-maps.yaml", b"version: 1\ninteractions: " + b"{a: " * 5000 + b"x" + b"}" * 5000),
    ("unclosed.yaml", b"version: 1\ninteractions: " + b"[" * 100_000),
    ("just-over.yaml", b"version: 1\ninteractions: " + b"[" * 1500 + b"]" * 1500),
    ("indented.yaml", b"version: 1\ninteractions: []\ndeep:\n" + _indented(1500)),
    ("compact.yaml", b"version: 1\ninteractions:\n" + b"- " * 1500 + b"x\n"),
    ("flow-100k.json", b'{"version": 1, "interactions": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    ("array-100k.json", b"[" * 100_000 + b"]" * 100_000),
]


@pytest.mark.parametrize(("name", "content"), TOO_DEEP, ids=[t[0] for t in TOO_DEEP])
def test_deep_nesting_is_refused_in_one_line(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CassetteError) as caught:
        load_cassette(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: nested too deeply") and "\n" not in message


@pytest.mark.parametrize(
    "extra",
    [
        b"deep: " + b"[" * 999 + b"]" * 999 + b"\n",
        b"deep:\n" + _indented(500),
        b"deep: " + b"[" * 500 + b"\n" + b"  x\n" + b"]" * 500 + b"\n",
    ],
    ids=["flow-999", "indented-500", "flow-lines-500"],
)
def test_nesting_up_to_the_limit_loads(extra: bytes) -> None:
    doc = parse_cassette(b"version: 1\ninteractions: []\n" + extra, "deep.yaml")
    assert doc["interactions"] == [] and doc["deep"]


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_brackets_inside_strings_are_not_nesting(tmp_path: Path, fmt: str) -> None:
    """What a recorder writes when a client sends a deeply nested JSON body: a string, not depth."""
    path = tmp_path / f"c.{fmt}"
    bomb = "[" * 100_000 + "]" * 100_000
    with CassetteWriter(path) as w:
        w.append(sample(0, fmt=fmt, request_body=bomb.encode(), response_body=b"{" * 5000))
        w.append(sample(1, fmt=fmt))
    [first, second] = list(iter_interactions(load_cassette(path)))
    assert first.request_body == bomb.encode() and second.status == 201
    vcrpy_requests, _ = vcrpy_load(path)
    assert len(vcrpy_requests) == 2


def test_nesting_hidden_from_the_quick_count_cannot_crash(tmp_path: Path) -> None:
    """5,000 levels behind brackets in quoted strings, on a 1 MiB thread stack: the libyaml of
    PyYAML 6.0.2 and older died of SIGSEGV here; the PyYAML chime-tap requires caps the depth
    itself, and chime-tap answers with one line."""
    unit = b"[" * 100 + b'"' + b"]" * 100 + b'", '
    path = tmp_path / "hidden.yaml"
    path.write_bytes(b"version: 1\ninteractions: " + unit * 50 + b"x" + b"]" * 5000 + b"\n")
    script = textwrap.dedent(
        f"""
        import threading
        from chime_tap.errors import CassetteError
        from chime_tap.cassettes.reader import parse_cassette
        data = open({str(path)!r}, "rb").read()
        def ours():
            try:
                parse_cassette(data, "hidden.yaml")
            except CassetteError as e:
                print(e)
        threading.stack_size(1 << 20)
        worker = threading.Thread(target=ours)
        worker.start()
        worker.join()
        """
    )
    run = [sys.executable, "-c", script]
    ours = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout.strip() in (
        "hidden.yaml: interaction 0 has no request/response mapping",  # libyaml parsed it all
        f"hidden.yaml: nested too deeply (more than about {MAX_DEPTH} levels); not a cassette",
    )


def test_whatever_a_parser_raises_becomes_one_line_naming_the_file() -> None:
    with pytest.raises(CassetteError, match=r"^bad.yaml: cannot be read \(ValueError: .*day"):
        parse_cassette(b"version: 1\nwhen: 2020-02-30\ninteractions: []\n", "bad.yaml")
    deep_version = b'{"version": ' + b"[" * 900 + b"]" * 900 + b', "interactions": []}'
    with pytest.raises(CassetteError) as caught:
        parse_cassette(deep_version, "v.json")
    assert str(caught.value).startswith("v.json: ") and "\n" not in str(caught.value)


# --- the interaction view -------------------------------------------------------------------------


def test_interaction_view_normalises_what_writers_differ_in() -> None:
    item = {
        "request": {
            "method": "post",
            "uri": URI,
            "body": {"string": "{}"},
            "headers": {"Content-Type": "application/json"},
        },
        "response": {
            "status": {"code": 404, "message": None},
            "headers": {"X-Amzn-ErrorType": ["NotFoundException:"], "x-amzn-errortype": ["again"]},
            "body": {"string": b"\xff"},
        },
        META_KEY: ["not", "a", "mapping"],
    }
    view = Interaction.from_dict(item, 7)
    assert (view.index, view.method, view.status, view.reason) == (7, "POST", 404, "")
    assert view.request_body == b"{}" and view.response_body == b"\xff"
    assert view.request_headers == {"content-type": ["application/json"]}
    assert view.response_headers["x-amzn-errortype"] == ["NotFoundException:", "again"]
    assert view.meta == {}


def test_make_interaction_keeps_bytes_in_yaml_and_text_in_json() -> None:
    yaml_item = make_interaction(
        method="get",
        uri=URI,
        request_headers={},
        request_body=None,
        status=200,
        reason="OK",
        response_headers={},
        response_body=b"\xff\xfe",
        fmt="yaml",
    )
    assert yaml_item["request"]["method"] == "GET" and yaml_item["request"]["body"] is None
    assert yaml_item["response"]["body"]["string"] == b"\xff\xfe"
    json_item = make_interaction(
        method="GET",
        uri=URI,
        request_headers={},
        request_body=b"",
        status=204,
        reason="",
        response_headers={},
        response_body=None,
        fmt="json",
    )
    assert json_item["response"]["body"]["string"] == ""
    assert META_KEY not in json_item


# --- the writer -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_every_append_leaves_a_cassette_plain_vcrpy_loads(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"rec.{fmt}"
    bodies = [
        None,
        b'{"Capabilities": ["Voice"]}',
        "unicode \u2603 body".encode(),
        b"\xff\xfe not utf-8" if fmt == "yaml" else b"plain",
    ]
    with CassetteWriter(path) as writer:
        assert vcrpy_load(path) == ([], [])  # loadable before the first append too
        for i, request_body in enumerate(bodies):
            writer.append(sample(i, fmt=fmt, request_body=request_body))
            assert writer.count == i + 1
            requests, responses = vcrpy_load(path)
            assert [r.uri for r in requests] == [f"{URI}/session-{k}" for k in range(i + 1)]
            assert requests[-1].body == request_body
            assert responses[-1]["status"]["code"] == 201
            assert len(load_cassette(path)["interactions"]) == i + 1
    data = path.read_bytes()
    assert not [s for s in SECRETS if s.encode() in data]
    assert [i.meta["index"] for i in iter_interactions(load_cassette(path))] == [0, 1, 2, 3]


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_appending_to_a_vcrpy_written_cassette_keeps_its_interactions(
    tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / f"vcrpy.{fmt}"
    old_requests = [
        Request("GET", f"{URI}?max-results={n}", None, {"Accept": "application/json"})
        for n in (1, 2)
    ]
    old_responses = [
        {
            "status": {"code": 200, "message": "OK"},
            "headers": {"Content-Type": ["application/json"]},
            "body": {"string": b'{"ProxySessions": []}'},
        }
        for _ in old_requests
    ]
    FilesystemPersister.save_cassette(
        path, {"requests": old_requests, "responses": old_responses}, SERIALIZERS[fmt]
    )
    with CassetteWriter(path) as writer:
        assert writer.count == 2
        writer.append(sample(9, fmt=fmt))
        writer.append(sample(10, fmt=fmt))
    requests, responses = vcrpy_load(path)
    assert [r.uri for r in requests] == [r.uri for r in old_requests] + [
        f"{URI}/session-9",
        f"{URI}/session-10",
    ]
    assert requests[0].headers == {"Accept": "application/json"}
    assert responses[1]["body"]["string"] == b'{"ProxySessions": []}'
    # Reopening our own layout appends in place, without rewriting what is there.
    before = path.read_bytes()
    with CassetteWriter(path) as writer:
        writer.append(sample(11, fmt=fmt))
    after = path.read_bytes()
    tail = 4 if fmt == "json" else 0  # JSON's closing "\n]}\n" is rewritten by the append
    assert after.startswith(before[: len(before) - tail])
    assert len(vcrpy_load(path)[0]) == 5


def test_writer_refuses_a_broken_cassette_and_leaves_it_alone(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_bytes(b"version: 1\ninteractions: [\n")
    with pytest.raises(CassetteError, match="not valid YAML"):
        CassetteWriter(path)
    assert path.read_bytes() == b"version: 1\ninteractions: [\n"


def test_second_writer_is_refused_while_the_first_holds_the_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.json"
    with CassetteWriter(path) as first:
        with pytest.raises(CassetteError, match="another chime-tap recorder"):
            CassetteWriter(path)
        first.append(sample(0, fmt="json"))
    with CassetteWriter(path) as second:  # free again once closed
        second.append(sample(1, fmt="json"))
    assert len(vcrpy_load(path)[0]) == 2


def test_append_after_close_is_an_error(tmp_path: Path) -> None:
    writer = CassetteWriter(tmp_path / "closed.yaml")
    writer.close()
    with pytest.raises(CassetteError, match="closed"):
        writer.append(sample(0))


def test_writer_redacts_phone_numbers_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "phones.yaml"
    with CassetteWriter(path, redact_phones=True) as writer:
        writer.append(
            sample(
                0,
                request_body=b'{"ParticipantPhoneNumbers": ["+12065550100", "+14015550101"], "Capabilities": []}',
            )
        )
    assert b"+12065550100" not in path.read_bytes()
    assert len(vcrpy_load(path)[0]) == 1


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_a_killed_recorder_leaves_a_loadable_cassette(tmp_path: Path, fmt: str) -> None:
    """The process dies without closing the writer: every finished append is in the file."""
    path = tmp_path / f"killed.{fmt}"
    script = textwrap.dedent(
        f"""
        import os
        from chime_tap.cassettes.writer import CassetteWriter
        from chime_tap.cassettes.format import make_interaction
        w = CassetteWriter({str(path)!r})
        for i in range(3):
            w.append(make_interaction(method="GET", uri="http://x/" + str(i), request_headers={{}},
                request_body=None, status=200, reason="OK", response_headers={{}},
                response_body=b"{{}}", fmt={fmt!r}))
        os._exit(9)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 9, result.stderr
    assert [r.uri for r in vcrpy_load(path)[0]] == ["http://x/0", "http://x/1", "http://x/2"]


# --- replay_items: the writer's JSON layout read a line at a time ---------------------------


def _written_json(path: Path, n: int) -> bytes:
    with CassetteWriter(path) as w:
        for i in range(n):
            w.append(
                make_interaction(
                    method="POST" if i % 2 else "GET",
                    uri=f"https://h.example:8443/p/{i}?b=2&a={i}",
                    request_headers={"Content-Type": ["application/json"]},
                    request_body=json.dumps({"i": i, "s": 'q"\\'}) if i % 2 else None,
                    status=200 + i,
                    reason="OK",
                    response_headers={"Content-Type": ["application/json"]},
                    # odd lines: an escaped backslash before a quote (the hook's path)
                    response_body=json.dumps(
                        {"n": i, "text": 'caf\u00e9 \\ " end' if i % 2 else "x"}
                    ),
                    meta={"operation": "X", "violations": [], "nested": {"a": [{"b": 1}]}},
                    fmt="json",
                )
            )
    return path.read_bytes()


def _nth(text: bytes, old: bytes, new: bytes, n: int) -> bytes:
    """``text`` with the n-th (0-based) occurrence of ``old`` replaced."""
    parts = text.split(old)
    return old.join(parts[: n + 1]) + new + old.join(parts[n + 1 :])


def _replay_said(path: Path) -> tuple[list, str | None]:
    """(items, error) from replay_items, and checks them against load_cassette's."""
    from chime_tap.cassettes.reader import replay_items

    try:
        got = list(replay_items(path))
    except CassetteError as e:
        with pytest.raises(CassetteError) as whole:
            load_cassette(path)
        assert str(e) == str(whole.value)  # the same line as every other reader
        return [], str(e)
    assert [item for item, _ in got] == load_cassette(path)["interactions"]
    for item, line in got:  # a kept line gives its dict back
        assert line is None or json.loads(line) == item
    return got, None


def test_replay_items_streams_the_writers_json_layout_and_gives_the_same_items(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.json"
    _written_json(path, 5)
    got, error = _replay_said(path)
    assert error is None and len(got) == 5
    assert all(line is not None for _, line in got)  # every line streamed
    empty = tmp_path / "empty.json"
    with CassetteWriter(empty):
        pass
    assert _replay_said(empty) == ([], None)


@pytest.mark.parametrize(
    ("change", "streamed", "error"),
    [
        # a duplicate key on line 3: json.loads would fold it; the whole reader refuses it
        (lambda t: t.replace(b'"code":202', b'"code":202,"code":500', 1), 2, "duplicate key"),
        # a duplicate key beside a shape problem: the whole reader's first complaint wins
        (
            lambda t: t.replace(b'"code":202', b'"code":"x","code":500', 1),
            2,
            "duplicate key",
        ),
        (lambda t: t.replace(b'"code":203', b'"code":"x"', 1), 3, "interaction 3: response"),
        (lambda t: t[:-30], 4, "interaction 4 is torn"),  # torn tail: the last line cut
        (lambda t: t.rstrip(b"\n")[:-2], 5, "its end is torn"),  # no closing ]}
        (lambda t: t + b"junk", 5, "not valid JSON"),
        # still valid JSON, no longer one interaction a line: read whole from there on
        (lambda t: _nth(t, b'{"request"', b'{\n"request"', 2), 2, None),
        (lambda t: t.replace(b"\n]}", b"\n ]\n}"), 5, None),
        (lambda t: t.replace(b'"method":"GET"', b'"method" :"GET"'), 0, None),
        (lambda t: t.replace(b"\\\\", b"\\\\\\\\"), 5, None),  # escaped backslashes: hook path
    ],
)
def test_replay_items_left_layout_reads_whole_and_says_what_every_reader_says(
    tmp_path: Path, change, streamed: int, error: str | None
) -> None:
    path = tmp_path / "c.json"
    path.write_bytes(change(_written_json(path, 5)))
    path.with_suffix(".json").chmod(0o600)
    got, said = _replay_said(path)
    if error is None:
        assert said is None and len(got) == 5
        assert sum(line is not None for _, line in got) == streamed
    else:
        assert said is not None and error in said, said


def test_replay_items_reads_no_huge_line_into_memory(tmp_path: Path, monkeypatch) -> None:
    """A file that starts like the writer's JSON but holds one endless line (a sparse file, a
    huge body) goes to the whole reader after MAX_STREAMED_LINE bytes, which refuses it by size."""
    import chime_tap.cassettes.reader as reader
    from chime_tap.cassettes.format import JSON_HEAD

    monkeypatch.setattr(reader, "MAX_STREAMED_LINE", 1000)
    path = tmp_path / "endless.json"
    with open(path, "wb") as f:
        f.write(JSON_HEAD)
        f.truncate(1 << 30)  # sparse: a gigabyte of zeros, no newline
    with pytest.raises(CassetteError, match="more than 512 MiB, the most chime-tap reads"):
        list(reader.replay_items(path))
    path.write_bytes(_written_json(tmp_path / "ok.json", 3))  # lines under the limit: streamed
    assert sum(line is not None for _, line in reader.replay_items(path)) == 3
