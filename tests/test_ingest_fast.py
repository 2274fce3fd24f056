"""Ingest's reader (``analysis/ingest_table.py``) against the report's: ``read_table(path)`` is
``to_table(load_file(path, ids=True))`` (the path ingest took before it), the same table, ids
included, or the same one-line error, on every input the tests hold and on cassettes written by
the recorder's own writer with content chosen to trip a second reader.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import fleet_gen
from chime_tap.analysis import ingest_table
from chime_tap.analysis.load import _AMZ_DATE, _HTTP_DATE, _to_utc, load_file
from chime_tap.api.hosts import HostPolicy
from chime_tap.cassettes.format import JSON_HEAD, make_interaction
from chime_tap.cassettes.writer import CassetteWriter
from chime_tap.dataset.schema import SCHEMA, to_table
from chime_tap.errors import InputError
from support.corpus import CORPUS, ROOT, corpus_id


def old_path(path: Path) -> pa.Table | str:
    try:
        return to_table(load_file(path, ids=True))
    except InputError as e:
        return f"InputError: {e}"


def new_path(path: Path) -> pa.Table | str:
    try:
        return ingest_table.read_table(path)
    except InputError as e:
        return f"InputError: {e}"


def assert_same(path: Path) -> pa.Table | str:
    old, new = old_path(path), new_path(path)
    if isinstance(old, str) or isinstance(new, str):
        assert new == old
        return new
    assert new.schema == SCHEMA
    for name in SCHEMA.names:  # column by column: a difference names its column
        assert new.column(name).equals(old.column(name)), name
    return new


def fast(path: Path) -> pa.Table | None:
    """What the writer's-layout reader makes of ``path`` alone (None: it declines)."""
    return ingest_table._writers_json(path, ingest_table.DEFAULT_HOSTS)


@pytest.mark.parametrize("path", CORPUS, ids=corpus_id)
def test_every_input_of_the_tests_reads_as_the_report_reads_it(path):
    assert_same(path)


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_generated_fleet_reads_as_the_report_reads_it(tmp_path, fmt):
    paths, truth = fleet_gen.write_cassettes(
        tmp_path, recorders=2, days=2, per_day=150, fmt=fmt, seed=7
    )
    rows = sum(len(assert_same(p)) for p in paths)
    assert rows == truth.interactions
    if fmt == "json":  # the writer's layout: read a line at a time, not by the general path
        assert all(fast(p) is not None for p in paths)


def test_generated_json_is_what_the_recorders_writer_writes(tmp_path):
    """fleet_gen's JSON is byte for byte what CassetteWriter leaves for the same interactions."""
    calls = fleet_gen.calls(np.random.default_rng(3), 40, 0)
    generated = fleet_gen.cassette_text(calls, "ci0001", "json")
    path = tmp_path / "written.json"
    with CassetteWriter(path) as writer:
        for item in json.loads(generated)["interactions"]:
            writer.append(item)
    assert path.read_text() == generated


def _item(**kw):
    base = {
        "method": "GET",
        "uri": "https://voice-chime.us-east-1.amazonaws.com/voice-connectors/vc1/proxy-sessions/s1",
        "request_headers": {"X-Amz-Date": ["20261001T000126Z"], "User-Agent": ["boto3"]},
        "request_body": None,
        "status": 200,
        "reason": "OK",
        "response_headers": {"Date": ["Thu, 01 Oct 2026 00:01:26 GMT"]},
        "response_body": json.dumps({"ProxySession": _session("s1")}),
        "meta": _meta("GetProxySession"),
    }
    base.update(kw)
    return make_interaction(fmt="json", **base)


def _meta(operation, namespace="voice", **extra):
    return {
        "recorded_at": "2026-10-01T00:01:26.433Z",
        "duration_ms": 41.5,
        "operation": operation,
        "namespace": namespace,
        "violations": [],
        "answered_by": "upstream",
        **extra,
    }


def _session(sid, **extra):
    return {
        "ProxySessionId": sid,
        "Status": "Open",
        "Capabilities": ["Voice", "SMS"],
        "ExpiryMinutes": 60,
        "CreatedTimestamp": "2026-10-01T00:00:00.000Z",
        "UpdatedTimestamp": "2026-10-01T00:01:26.433Z",
        **extra,
    }


VC = "https://voice-chime.us-east-1.amazonaws.com/voice-connectors/vc1/proxy-sessions"
LEGACY = "https://service.chime.aws.amazon.com/voice-connectors/vc1/proxy-sessions"
TRICKY = [
    _item(),
    _item(),  # the same call twice: told apart by how many came before
    _item(  # non-ASCII, escapes, a line separator, a backslash before a quote
        response_body=json.dumps(
            {"ProxySession": _session("s1", Name='é "q" \\" \u2028 \t ✓')}, ensure_ascii=False
        ),
        response_headers={"Date": ["Fri, 02 Oct 2026 10:00:00 GMT"], "X-Note": ["naïve ☃"]},
    ),
    _item(  # a Create with a body, answered 201
        method="POST",
        uri=VC,
        request_body=json.dumps({"Capabilities": ["Voice"], "ParticipantPhoneNumbers": ["+1206"]}),
        status=201,
        meta=_meta("CreateProxySession"),
    ),
    _item(  # a violation noted by the recorder, and an error answer
        method="POST",
        uri=VC,
        request_body='{"Capabilities":["Fax"]}',
        status=400,
        response_headers={"x-amzn-ErrorType": ["BadRequestException:http://internal/"]},
        response_body='{"Code":"BadRequest","Message":"1 validation error"}',
        meta=_meta(
            "CreateProxySession",
            violations=[
                {
                    "operation": "CreateProxySession",
                    "part": "request body",
                    "pointer": "/Capabilities/0",
                    "message": "'Fax' is not one of",
                }
            ],
        ),
    ),
    _item(  # no response at all
        status=0,
        reason="",
        response_headers={},
        response_body=None,
        meta=_meta("GetProxySession", answered_by="none", error="connection refused"),
    ),
    _item(  # the legacy namespace; a List naming sessions
        uri=LEGACY,
        response_body=json.dumps(
            {"ProxySessions": [_session("a%b\x1fc"), {"ProxySessionId": ""}, _session("s2")]}
        ),
        meta=_meta("ListProxySessions", namespace="legacy"),
    ),
    _item(method="DELETE", status=204, response_body="", meta=_meta("DeleteProxySession")),
    _item(response_body=b"\xff\xfe binary \x00", meta=_meta("GetProxySession", body_note="x")),
    _item(  # spy mode's differences; times the recorder never writes (left to pandas)
        request_headers={"X-Amz-Date": ["2026-10-01T00:01:26Z"]},
        response_headers={"Date": ["thu, 01 oct 2026 00:01:26 GMT"]},
        meta=_meta(
            "GetProxySession",
            recorded_at="2026-10-01T00:01:26Z",
            differences=[{"kind": "status", "what": "200\x1e→ 404"}, "odd"],
        ),
    ),
    _item(meta=None),  # vcrpy's own: no metadata, the route from the URI
    _item(  # another host (the API only where --hosts says so), no metadata
        uri="http://127.0.0.1:9/voice-connectors/vc9/proxy-sessions?x=1",
        request_headers={"Host": ["example"], "x-amz-date": ["20261001T000126Z"]},
        meta=None,
    ),
    _item(  # headers that differ only in case, an empty value list, a numeric value
        request_headers={"X-Amz-Date": [], "x-amz-date": ["20261001T000127Z"], "N": [27]},
        response_body="",
    ),
    _item(meta=_meta("GetProxySession", recorded_at=None, duration_ms=float("1e400"))),
]


@pytest.mark.parametrize("redact", [False, True], ids=["plain", "phones-redacted"])
def test_cassettes_the_writer_wrote_read_as_the_report_reads_them(tmp_path, redact):
    path = tmp_path / "recorded.json"
    with CassetteWriter(path, redact_phones=redact) as writer:
        for item in TRICKY:
            writer.append(item)
    assert path.read_bytes().startswith(JSON_HEAD)
    table = fast(path)
    assert table is not None and len(table) == len(TRICKY)
    assert assert_same(path).equals(table)


def test_an_empty_cassette_of_the_writer_reads_as_the_report_reads_it(tmp_path):
    path = tmp_path / "empty.json"
    CassetteWriter(path).close()
    assert len(fast(path)) == 0
    assert_same(path)


def _written_lines(tmp_path: Path) -> list[bytes]:
    path = tmp_path / "base.json"
    with CassetteWriter(path) as writer:
        for item in TRICKY[:4]:
            writer.append(item)
    return path.read_bytes()[len(JSON_HEAD) :].split(b",\n")


BROKEN = {
    "status-out-of-range": lambda line: line.replace(b'"code":200', b'"code":1200', 1),
    "duplicate-key": lambda line: line.replace(b'{"request":{', b'{"request":{"method":"PUT",', 1),
    "not-json": lambda line: line[:-5],
    "method-not-text": lambda line: line.replace(b'"method":"GET"', b'"method":7', 1),
    "extra-top-level-key": lambda line: line.replace(b"\n]}\n", b'\n],"log":{}}\n'),
    "meta-not-a-mapping": lambda line: line.replace(b'"chime_tap":{', b'"chime_tap":[{', 1).replace(
        b"}}", b"}]}", 1
    ),
}


@pytest.mark.parametrize("how", sorted(BROKEN))
@pytest.mark.parametrize("where", [0, 2, 3])
def test_a_broken_line_gives_the_reports_error(tmp_path, how, where):
    lines = _written_lines(tmp_path)
    lines[where] = BROKEN[how](lines[where])
    path = tmp_path / "broken.json"
    path.write_bytes(JSON_HEAD + b",\n".join(lines))
    assert_same(path)


def test_what_is_no_regular_file_is_refused_as_the_report_refuses_it(tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)  # opened for reading it would block: neither reader may
    assert "not a regular file" in assert_same(fifo)
    assert "is a directory" in assert_same(tmp_path)
    assert "no such file" in assert_same(tmp_path / "missing.json")


def test_a_file_that_leaves_the_layout_is_read_by_the_general_path(tmp_path):
    lines = _written_lines(tmp_path)
    path = tmp_path / "edited.json"
    path.write_bytes(JSON_HEAD + b",\n".join(lines[:2]) + b",\n\n" + b",\n".join(lines[2:]))
    assert fast(path) is None
    assert len(assert_same(path)) == 4


TIMES = {
    "ISO8601": [
        "2026-10-01T00:01:26.433Z", "2024-02-29T23:59:59.999Z", "2026-02-29T00:00:00.000Z",
        "2026-02-31T00:00:00.000Z", "2026-13-01T00:00:00.000Z", "2026-00-10T00:00:00.000Z",
        "2026-10-00T00:00:00.000Z", "2026-10-01T24:00:00.000Z", "2026-10-01T23:59:60.000Z",
        "1678-01-01T00:00:00.000Z", "2261-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999Z",
        "2026-10-01T00:01:26Z", "2026-10-01 00:01:26.433Z", "2026-10-01T00:01:26.433+01:00",
        "\uff12026-10-01T00:01:26.433Z", "2026-10-01T00:01:26.4335", "x" * 24, None, 12345,
        True, 1.5,
    ],
    _HTTP_DATE: [
        "Thu, 01 Oct 2026 00:01:26 GMT", "Fri, 01 Oct 2026 00:01:26 GMT",
        "thu, 01 oct 2026 00:01:26 GMT", "Tue, 31 Feb 2026 00:01:26 GMT",
        "Thu, 1 Oct 2026 00:01:26 GMT", "Sun, 29 Feb 2032 10:00:00 GMT",
        "Thu, 01 Oct 2026 00:01:26 UTC", "Thu, 01 Oct 2026 24:01:26 GMT", None,
    ],
    _AMZ_DATE: [
        "20261001T000126Z", "20260231T000126Z", "20261001T240000Z", "20261001T000126",
        "2026-10-01T00:01:26Z", "20240229T235959Z", None,
    ],
}  # fmt: skip


@pytest.mark.parametrize("fmt", sorted(TIMES))
def test_times_parse_as_pandas_parses_them(fmt):
    """The column-at-a-time parse of the usual spelling agrees with load._to_utc, the rule,
    on valid and impossible dates alike (a random sample of instants too)."""
    rng = np.random.default_rng(len(fmt))
    instants = rng.integers(-9 * 10**12, 9 * 10**12, size=300).astype("datetime64[ms]")
    spelled = {
        "ISO8601": [str(t) + "Z" for t in instants],
        _HTTP_DATE: [t.item().strftime(_HTTP_DATE) for t in instants.astype("datetime64[s]")],
        _AMZ_DATE: [t.item().strftime(_AMZ_DATE) for t in instants.astype("datetime64[s]")],
    }[fmt]
    values = TIMES[fmt] + spelled
    got = ingest_table._times(values, fmt)
    want = _to_utc(values, fmt).dt.as_unit("us").dt.tz_localize(None).to_numpy()
    assert np.array_equal(got, want, equal_nan=True)
    assert not np.isnat(got[len(TIMES[fmt]) :]).any()


def test_hosts_named_at_ingest_count_as_they_do_in_the_report(tmp_path):
    path = tmp_path / "recorded.json"
    with CassetteWriter(path) as writer:
        for item in TRICKY:
            writer.append(item)
    hosts = HostPolicy(["127.0.0.1:9=voice"])
    want = to_table(load_file(path, hosts=hosts, ids=True))
    assert ingest_table._writers_json(path, hosts).equals(want)
    assert ingest_table.read_table(path, hosts).equals(want)
    assert not want.equals(ingest_table.read_table(path))  # the policy changed something


# The ids the reader gave before ingest had a reader of its own (load_file at 183c649): ids
# must never change, or inputs ingested again would be stored twice.
PINNED_IDS = {
    "recorded.json": ("8221266eec875ad8", "38668f93a43db9c5ef123fc278a837fe"),  # TRICKY, written
    "reference-examples.yaml": ("35ade6607401d4f0", "d7c77ee23c0b0550ee7f65dbce1dd2d3"),
}


def test_interaction_ids_are_the_ones_ingest_always_gave(tmp_path):
    path = tmp_path / "recorded.json"
    with CassetteWriter(path) as writer:
        for item in TRICKY:
            writer.append(item)
    for source in (path, ROOT / "cassettes" / "reference-examples.yaml"):
        ids = ingest_table.read_table(source).column("interaction_id").to_pylist()
        digest = hashlib.sha256(" ".join(ids).encode()).hexdigest()[:16]
        assert (digest, ids[0]) == PINNED_IDS[source.name], source.name


def _meta_replaced(line: bytes, meta: bytes) -> bytes:
    return line[: line.index(b',"chime_tap":')] + meta + b"}"


# Lines a JSON parser other than json.loads, or a reader that trusts the writer's spelling,
# could take differently: each must read as the report reads it (the same row and id, or the
# same error). Applied to the second of four writer-written lines.
ODD_LINES = {
    "nan-latency": lambda line: line.replace(b'"duration_ms":41.5', b'"duration_ms":NaN'),
    "infinity-latency": lambda line: line.replace(b'"duration_ms":41.5', b'"duration_ms":Infinity'),
    "minus-infinity-latency": lambda line: line.replace(
        b'"duration_ms":41.5', b'"duration_ms":-Infinity'
    ),
    "big-int-latency": lambda line: line.replace(
        b'"duration_ms":41.5', b'"duration_ms":1' + b"0" * 400
    ),
    "int-latency": lambda line: line.replace(b'"duration_ms":41.5', b'"duration_ms":41'),
    "exponent-latency": lambda line: line.replace(b'"duration_ms":41.5', b'"duration_ms":4.15e1'),
    "float-status": lambda line: line.replace(b'"code":200', b'"code":200.0'),
    "overflowing-status": lambda line: line.replace(b'"code":200', b'"code":1e400'),
    "big-int-status": lambda line: line.replace(b'"code":200', b'"code":1' + b"0" * 400),
    "lone-high-surrogate-header": lambda line: line.replace(b'"boto3"', b'"\\ud800"'),
    "lone-high-surrogate-meta": lambda line: line.replace(b'"upstream"', b'"\\ud800"'),
    "lone-low-surrogate-meta": lambda line: line.replace(b'"upstream"', b'"\\udc80"'),
    "surrogate-pair-meta": lambda line: line.replace(b'"upstream"', b'"\\ud83d\\ude00"'),
    "not-utf8-header": lambda line: line.replace(b'"boto3"', b'"bot\xff3"'),
    "not-utf8-body": lambda line: line.replace(b'\\"Open\\"', b'\\"Op\xc3en\\"'),
    "escaped-slash-in-uri": lambda line: line.replace(b"proxy-sessions/s1", b"proxy-sessions\\/s1"),
    "unicode-escape-in-method": lambda line: line.replace(
        b'"method":"GET"', b'"method":"\\u0047ET"'
    ),
    "unicode-escape-in-body": lambda line: line.replace(b'\\"Open\\"', b'\\"\\u004fpen\\"'),
    "control-escape-upper-hex": lambda line: line.replace(b'"boto3"', b'"bo\\u001Fto3"'),
    "raw-control-character": lambda line: line.replace(b'"boto3"', b'"bo\x01to3"'),
    "raw-delete-and-line-separator": lambda line: line.replace(
        b'"boto3"', b'"bo\x7fto\xe2\x80\xa83"'
    ),
    "escaped-backslash-before-quote": lambda line: line.replace(b'"upstream"', b'"up\\\\"'),
    "key-like-text-in-a-string": lambda line: line.replace(b'"upstream"', b'"a\\":[\\"b"'),
    "null-in-metadata": lambda line: line.replace(
        b'"answered_by":"upstream"', b'"answered_by":null'
    ),
    "null-header": lambda line: line.replace(b'"User-Agent":["boto3"]', b'"User-Agent":null'),
    "empty-header": lambda line: line.replace(b'"User-Agent":["boto3"]', b'"User-Agent":[]'),
    "number-header": lambda line: line.replace(b'"User-Agent":["boto3"]', b'"User-Agent":[27]'),
    "header-in-two-cases": lambda line: line.replace(
        b'"User-Agent":["boto3"]', b'"User-Agent":["boto3"],"user-agent":["other"]'
    ),
    "header-in-two-cases-lower-first": lambda line: line.replace(
        b'"X-Amz-Date":["20261001T000126Z"]',
        b'"x-amz-date":["20261001T000127Z"],"X-Amz-Date":["20261001T000126Z"]',
    ),
    "duplicate-header": lambda line: line.replace(
        b'"User-Agent":["boto3"]', b'"User-Agent":["boto3"],"User-Agent":["x"]'
    ),
    "duplicate-metadata-key": lambda line: line.replace(
        b'"violations":[]', b'"violations":[],"violations":[]'
    ),
    "duplicate-top-level-key": lambda line: line.replace(
        b'{"request":', b'{"response":{},"request":', 1
    ),
    "deeply-nested-metadata": lambda line: line.replace(
        b'"violations":[]', b'"violations":[],"x":' + b"[" * 100_000 + b"]" * 100_000
    ),
    "violations-not-a-list": lambda line: line.replace(b'"violations":[]', b'"violations":{}'),
    "metadata-null": lambda line: _meta_replaced(line, b',"chime_tap":null'),
    "metadata-empty": lambda line: _meta_replaced(line, b',"chime_tap":{}'),
    "no-metadata": lambda line: _meta_replaced(line, b""),
    "space-after-a-colon": lambda line: line.replace(b'"method":"GET"', b'"method": "GET"'),
    "keys-in-another-order": lambda line: line.replace(
        b'"status":{"code":200,"message":"OK"}', b'"status":{"message":"OK","code":200}'
    ),
    "lower-case-method": lambda line: line.replace(b'"method":"GET"', b'"method":"get"'),
    # orjson reads an integer past 64 bits as a float (json: an int, hashed as one), and
    # nesting json refuses up to its own limit (1,024 levels): such lines are json's to read.
    "twenty-digit-latency": lambda line: line.replace(
        b'"duration_ms":41.5', b'"duration_ms":18446744073709551616'
    ),
    "int-below-minus-two-to-the-63-in-metadata": lambda line: line.replace(
        b'"violations":[]', b'"violations":[],"n":-9223372036854775809'
    ),
    "int-below-two-to-the-64-in-a-header": lambda line: line.replace(
        b'"User-Agent":["boto3"]', b'"User-Agent":[18446744073709551615]'
    ),
    "nested-600-deep": lambda line: line.replace(
        b'"violations":[]', b'"violations":[],"x":' + b"[" * 600 + b"]" * 600
    ),
    "nested-1000-deep": lambda line: line.replace(
        b'"violations":[]', b'"violations":[],"x":' + b"[" * 1000 + b"]" * 1000
    ),
    "nested-1023-deep-objects": lambda line: line.replace(
        b'"violations":[]', b'"violations":[],"x":' + b'{"a":' * 1023 + b"1" + b"}" * 1023
    ),
    "lone-low-surrogate-in-a-time": lambda line: line.replace(
        b'"recorded_at":"2026-10-01T00:01:26.433Z"',
        b'"recorded_at":"2026-10-01T00:01:26.433\\udc80"',
    ),
    "number-as-a-time": lambda line: line.replace(
        b'"recorded_at":"2026-10-01T00:01:26.433Z"', b'"recorded_at":1.5'
    ),
    "astral-character": lambda line: line.replace(b'"upstream"', '"up😀"'.encode()),
    "byte-order-mark-at-a-line-start": lambda line: b"\xef\xbb\xbf" + line,
    "a-line-in-utf-16": lambda line: line.decode().encode("utf-16-le"),
    "surrogate-in-utf-8": lambda line: line.replace(b'"upstream"', b'"up\xed\xa0\x80"'),
    "tab-and-return-between-tokens": lambda line: line.replace(
        b'"method":"GET"', b'"method"\t:\r"GET"'
    ),
}


@pytest.mark.parametrize("how", sorted(ODD_LINES))
def test_an_odd_line_reads_as_the_report_reads_it(tmp_path, how):
    lines = _written_lines(tmp_path)
    edited = ODD_LINES[how](lines[1])
    assert edited != lines[1]
    lines[1] = edited
    path = tmp_path / "odd.json"
    path.write_bytes(JSON_HEAD + b",\n".join(lines))
    assert_same(path)


ODD_FILES = {
    "byte-order-mark": lambda text: b"\xef\xbb\xbf" + text,
    "crlf-line-ends": lambda text: text.replace(b",\n", b",\r\n"),
    "trailing-comma": lambda text: text.replace(b"\n]}\n", b",\n]}\n"),
    "text-after-the-end": lambda text: text + b"x",
    "no-line-break-at-the-end": lambda text: text[:-1],
    "blank-line-at-the-end": lambda text: text + b"\n",
    "two-lines-on-one": lambda text: text.replace(b",\n", b",", 1),
}


@pytest.mark.parametrize("how", sorted(ODD_FILES))
def test_an_odd_file_reads_as_the_report_reads_it(tmp_path, how):
    path = tmp_path / "base.json"
    with CassetteWriter(path) as writer:
        for item in TRICKY[:4]:
            writer.append(item)
    path.write_bytes(ODD_FILES[how](path.read_bytes()))
    assert_same(path)


# JSON values where orjson and json could part: integers around 2**63 and 2**64 and far past,
# floats of every size (subnormal, huge, NaN, infinities), text with escapes, astral characters
# and lone surrogates, nesting.
_NUMBERS = st.integers(-(2**70), 2**70) | st.sampled_from([2**63, -(2**63) - 1, 2**64, 10**400])
_JSON = st.recursive(
    st.none() | st.booleans() | _NUMBERS | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(value=st.dictionaries(st.text(), _JSON, max_size=5), ascii_only=st.booleans())
def test_a_line_parses_as_json_parses_it(value, ascii_only):
    line = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    long_digits = ingest_table.has_long_digits(line)
    got = ingest_table._parse_line(line, long_digits)
    # repr: NaN is not equal to itself, and 1 == 1.0 == True
    assert repr(got) == repr(json.loads(line))
