"""The loader's two JSON steps in their faster forms against json's own, on every call the
tests' inputs make and on texts chosen to part them: a body read by ``load.json_loads`` (orjson
where it agrees) is what ``json.loads`` makes of it, and an interaction's id (the hash of its
parts as ``json.dumps(..., sort_keys=True, default=repr, ensure_ascii=False, allow_nan=True)``
writes them, see ``load._digest``) is the same as that text's hash.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math

import pytest

from bench import fleet_gen
from chime_tap.analysis import load
from chime_tap.errors import InputError
from support.corpus import CORPUS


def json_result(text):
    """What json.loads makes of ``text``: the value, or the kind of error it raises."""
    try:
        return ("value", json.loads(text))
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        return ("error", type(e).__name__)


FAST_LOADS, FAST_DIGEST = load.json_loads, load._digest  # before any test replaces them


def fast_result(text):
    try:
        return ("value", FAST_LOADS(text))
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        return ("error", type(e).__name__)


def same(a, b) -> bool:
    """Equal, with types (1 is not 1.0 nor True), NaN equal to NaN; walked without recursion
    (a text may nest deeper than the interpreter's limit)."""
    todo = [(a, b)]
    while todo:
        a, b = todo.pop()
        if type(a) is not type(b):
            return False
        if isinstance(a, dict):
            if list(a) != list(b):
                return False
            todo.extend((a[k], b[k]) for k in a)
        elif isinstance(a, list | tuple):
            if len(a) != len(b):
                return False
            todo.extend(zip(a, b, strict=True))
        elif isinstance(a, float) and math.isnan(a):
            if not math.isnan(b):
                return False
        elif a != b:
            return False
    return True


PARTING = [
    '{"a": 18446744073709551616}',  # past 64 bits: orjson makes it a float
    '{"a": -9223372036854775809}',
    '{"a": 9223372036854775807}',
    '{"ExpiryMinutes": 12345678901234567890123}',
    '{"a": NaN, "b": Infinity, "c": -Infinity}',
    '{"a": 1e400}',
    '{"a": "\\ud800"}',  # a lone surrogate, escaped
    '{"a": "\ud800"}',  # and raw, in a str
    '{"a": 1, "a": 2}',
    '{"a": "\x01"}',
    '  {"a": [1, 2.5, -0, -0.0, 1E5, 1e-7]}  ',
    '{"Message": "caf\u00e9 \u2603", "Code": "X"}',
    '"just a string"',
    "[1, 2]",
    "",
    "not json",
    '{"a": 1} trailing',
    "[" * 600 + "]" * 600,  # deeper than orjson's guard, not json's limit
    "[" * 1010 + "]" * 1010,  # deeper than json's limit, not orjson's (1,024)
    "[" * 2000 + "]" * 2000,  # deeper than both
    "{" + ", ".join(f'"k{i}": [[1]]' for i in range(400)) + "}",  # long, many brackets, shallow
]


@pytest.mark.parametrize("text", PARTING + [t.encode("utf-8", "surrogatepass") for t in PARTING])
def test_json_loads_reads_what_json_reads(text):
    expected = json_result(text)
    assert same(fast_result(text), expected)


@pytest.mark.parametrize(
    "data",
    [
        b'\xef\xbb\xbf{"a": 1}',  # a UTF-8 BOM, which json.loads takes from bytes
        '{"a": "\u00e9"}'.encode("utf-16"),
        '{"a": "\u00e9"}'.encode("utf-32-le"),
        b'{"a": "\xff"}',  # not UTF-8
        b'{"a": 1}\x00',
    ],
)
def test_json_loads_reads_bytes_as_json_reads_them(data):
    assert same(fast_result(data), json_result(data))


def reference_digest(*parts):
    text = json.dumps(parts, sort_keys=True, default=repr, ensure_ascii=False, allow_nan=True)
    return hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=16).digest()


def test_digest_is_the_hash_of_json_dumps_text():
    parts = (
        "GET", "https://h/x?y=1", {"b": "x", "a": [1, 2.5, math.nan, math.inf, -math.inf]},
        None, 200, {"\u00e9": "\udcff", "z": 10**30}, b"\x00bytes", {"m": {"y": None, "x": True}},
        math.nan, 1e16, 1e-05, -0.0, {"1": object.__name__},
    )  # fmt: skip
    assert FAST_DIGEST(*parts) == reference_digest(*parts)


@pytest.fixture
def checked_calls(monkeypatch):
    """Every body read and every id hashed while loading, compared with json's own as it goes
    (what differs is kept: an assertion raised inside the loader would be its one-line error)."""
    counts = {"bodies": 0, "digests": 0, "differ": []}

    def loads(text):
        counts["bodies"] += 1
        result = fast_result(text)
        if not same(result, json_result(text)):
            counts["differ"].append(text)
        return FAST_LOADS(text)

    def digest(*parts):
        counts["digests"] += 1
        found = FAST_DIGEST(*parts)
        if found != reference_digest(*parts):
            counts["differ"].append(parts)
        return found

    monkeypatch.setattr(load, "json_loads", loads)
    monkeypatch.setattr(load, "_digest", digest)
    return counts


def test_every_input_of_the_tests_reads_as_json_reads_it(checked_calls):
    for path in CORPUS:
        with contextlib.suppress(InputError):  # the same error either way: only calls counted
            load.load_file(path, ids=True)
    assert checked_calls["differ"] == []
    assert checked_calls["bodies"] > 50 and checked_calls["digests"] > 50


def test_a_fleets_cassettes_read_as_json_reads_them(checked_calls, tmp_path):
    paths, truth = fleet_gen.write_cassettes(tmp_path, recorders=2, days=2, per_day=300, seed=3)
    for path in paths:
        load.load_file(path, ids=True)
    assert checked_calls["differ"] == []
    assert checked_calls["digests"] == truth.interactions
    assert checked_calls["bodies"] > truth.interactions // 2
