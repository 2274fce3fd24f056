"""A file's routes are named once per distinct call (``_Rows.routes``): the rows are those of
naming every call afresh, on every input of the tests, a fleet's cassettes, and calls that share
a method and path but not what else the rule reads (the host, the recorder's notes).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bench import fleet_gen
from chime_tap.analysis import load
from chime_tap.cassettes.format import make_interaction
from chime_tap.errors import InputError
from support.corpus import CORPUS, corpus_id


class _Forgetful(dict):
    """A memo that never remembers: every call named afresh, as before the memo."""

    def get(self, key, default=None):
        hash(key)  # an unhashable key raises here as it would in a dict
        return default

    def __setitem__(self, key, value):
        pass


def rows(path: Path, memo: bool) -> pd.DataFrame | str:
    original = load._Rows.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if not memo:
            self.routes = _Forgetful()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(load._Rows, "__init__", init)
        try:
            return load.load_file(path, ids=True)
        except InputError as e:
            return str(e)


def assert_same(path: Path) -> None:
    fresh, memo = rows(path, memo=False), rows(path, memo=True)
    if isinstance(fresh, str) or isinstance(memo, str):
        assert memo == fresh
    else:
        pd.testing.assert_frame_equal(memo, fresh)


@pytest.mark.parametrize("path", CORPUS, ids=corpus_id)
def test_every_input_of_the_tests_gives_the_same_rows(path):
    assert_same(path)


def test_a_fleets_cassettes_give_the_same_rows(tmp_path):
    paths, _ = fleet_gen.write_cassettes(tmp_path, recorders=2, days=1, per_day=400, seed=11)
    for path in paths:
        assert_same(path)


def test_calls_alike_but_for_the_notes_or_the_host_are_named_each_by_its_own(tmp_path):
    session = "/voice-connectors/vc1/proxy-sessions/s1"
    notes = [
        {},
        {"namespace": "voice"},
        {"namespace": "legacy"},
        {"namespace": "nonsense"},
        {"operation": "DeleteProxySession"},
        {"operation": "NotAnOperation"},
        {"operation": ["a", "list"]},  # not hashable: named without the memo
        {"namespace": {"a": "mapping"}},
    ]
    hosts = ("voice-chime.us-east-1.amazonaws.com", "service.chime.aws.amazon.com", "example.com")
    items = [
        make_interaction(
            method="GET",
            uri=f"https://{host}{session}",
            request_headers={},
            request_body=None,
            status=200,
            reason="OK",
            response_headers={},
            response_body="{}",
            meta=meta or None,
            fmt="json",
        )
        for _ in range(2)
        for host in hosts
        for meta in notes
    ]
    path = tmp_path / "alike.json"
    path.write_text(json.dumps({"interactions": items, "version": 1}))
    frame = rows(path, memo=True)
    assert not isinstance(frame, str), frame
    assert frame["operation"].nunique(dropna=False) > 2
    assert frame["namespace"].nunique(dropna=False) > 2
    assert_same(path)


def test_calls_alike_but_for_the_host_header_are_named_each_by_its_own(tmp_path):
    """A HAR entry's URL without a host: the Host header names it."""
    hosts = ("voice-chime.us-east-1.amazonaws.com", "service.chime.aws.amazon.com", "example.com")
    entries = [
        {
            "startedDateTime": "2026-10-01T00:00:00.000Z",
            "time": 5,
            "request": {
                "method": "DELETE",
                "url": "/voice-connectors/vc1/proxy-sessions/s1",
                "headers": [{"name": "Host", "value": host}],
            },
            "response": {"status": 204, "headers": [], "content": {"text": ""}},
        }
        for _ in range(2)
        for host in hosts
    ]
    path = tmp_path / "hosts.har"
    path.write_text(json.dumps({"log": {"entries": entries}}))
    frame = rows(path, memo=True)
    assert not isinstance(frame, str), frame
    assert frame["namespace"].astype(object).where(frame["namespace"].notna(), None).tolist() == [
        "voice",
        "legacy",
        None,
        "voice",
        "legacy",
        None,
    ]
    assert_same(path)
