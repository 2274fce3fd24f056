"""Spy mode's metadata (``baseline`` and ``differences`` after the recorder's) is written by the
writers' templates (cassettes/yaml_block.py, cassettes/json_block.py), not by the generic walk:
byte for byte what the walk writes, scrubbed as ``scrub_strings`` scrubs it, and it loads back
to the same data. So is a call with violations, an error or a body note."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from chime_tap.cassettes import json_block, yaml_block
from chime_tap.cassettes.format import make_interaction
from chime_tap.cassettes.scrub import REDACTED, scrub_interaction
from chime_tap.semantic_diff import Difference
from chime_tap.spy import CLOSEST, EXACT, NO_COUNTERPART, NONE, REQUEST_DIFFERS, Comparison

SECRET = "wJalrXUtnFEMIK7MDENGbPxRfiCYSECRETKEY"
# Strings scrub_text must blank: a credential field quoted as JSON, as a form, a presigned URL.
CREDENTIAL_TEXTS = [
    json.dumps({"SecretAccessKey": SECRET}),
    f"Action=AssumeRole&Signature={SECRET}&Version=2011-06-15",
    f"https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA%2Fx&X-Amz-Signature={SECRET}",
    f"password={SECRET}",
]
TRICKY = [
    "", " ", "yes", "No", "null", "~", "123", "1.5", "0x1F", "-", "- x", "a: b", "#x", "x #y",
    "'quoted'", '"double"', "line\nbreak", "tab\there", "\x7f", "café", "😀", "\u2028", "[1]",
    "{a: 1}", "@x", "`x", "%x", "!x", "&x", "*x", "|", ">", "?", "2026-01-02T03:04:05.678Z",
    '"Open"', "/ProxySession/Status", "base.yaml #12", "x" * 200,
]  # fmt: skip
LOADERS = [yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader)]

any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
text = any_text | st.sampled_from(TRICKY + CREDENTIAL_TEXTS)
number = st.integers() | st.floats(allow_nan=False, allow_infinity=False)
flat = st.none() | st.booleans() | number | text
nested = st.recursive(
    flat,
    # keys without credentials: scrub_strings scrubs a dict's values, not its keys
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
    max_leaves=6,
)
difference = st.fixed_dictionaries(
    {"kind": text, "what": text, "baseline": flat | nested, "live": flat | nested}
)
counterpart = st.fixed_dictionaries(
    {"interaction": st.none() | text, "match": st.sampled_from([EXACT, CLOSEST, NONE]) | text}
)
violation = st.fixed_dictionaries(
    {"operation": st.none() | text, "part": text, "pointer": text, "message": text}
)


def recorded(meta: dict[str, Any], fmt: str = "yaml") -> dict[str, Any]:
    """An interaction as the recorder hands it to the writer, with ``meta`` as its metadata."""
    return make_interaction(
        method="GET",
        uri="http://127.0.0.1:9000/voice-connectors/vc/proxy-sessions/ps-1",
        request_headers={"Host": ["127.0.0.1:9000"], "Authorization": [f"AWS4 {SECRET}"]},
        request_body=None,
        status=200,
        reason="OK",
        response_headers={"Content-Type": ["application/json"]},
        response_body=b'{"ProxySession": {"Status": "Open"}}',
        meta=meta,
        fmt=fmt,
    )


def spy_meta(compared: dict[str, Any], *, violations: Any = (), **between: Any) -> dict[str, Any]:
    """Metadata in recording.recording_meta's order: the recorder's six keys, then an error,
    a body note or control (``between``), then spy mode's ``compared``."""
    meta = {
        "recorded_at": "2026-01-02T03:04:05.678Z",
        "duration_ms": 12.345,
        "operation": "GetProxySession",
        "namespace": "voice",
        "violations": list(violations),
        "answered_by": "upstream",
    }
    return {**meta, **between, **compared}


class Generic(Exception):
    """The writer took the generic walk for the metadata."""


@pytest.fixture
def no_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Makes any use of the generic walk for the metadata raise: scrub_strings (what the walk
    scrubs metadata with) in either writer, and yaml_block._map at the metadata's indents."""
    real_map = yaml_block._map

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise Generic

    def map_(d: dict[str, Any], pad: str, out: list[str]) -> None:
        if pad in ("  ", "    "):  # the metadata's key, or one of its entries
            raise Generic
        real_map(d, pad, out)

    monkeypatch.setattr(yaml_block, "scrub_strings", refuse)
    monkeypatch.setattr(json_block, "scrub_strings", refuse)
    monkeypatch.setattr(yaml_block, "_map", map_)


def walked_yaml(item: dict[str, Any]) -> str:
    out: list[str] = []
    yaml_block._seq([item], "", out)
    return "".join(out)


def check(item: dict[str, Any]) -> None:
    """Both writers, scrubbed and not, against the generic walk; twice (the second time from
    the memos); and what is written loads back to the data."""
    scrubbed = scrub_interaction(item)
    want_yaml, want_scrubbed = walked_yaml(item), walked_yaml(scrubbed)
    want_json = json.dumps(scrubbed, ensure_ascii=False, separators=(",", ":"))
    for _ in range(2):
        out: list[str] = []
        assert yaml_block._interaction(item, out)  # the template, not a fallback
        assert "".join(out) == want_yaml
        out = []
        assert yaml_block._interaction(item, out, scrub=True)
        assert "".join(out) == want_scrubbed
        assert json_block._interaction(item) == want_json
        assert yaml_block.dump_item(item) == want_yaml.encode("ascii")
        assert yaml_block.dump_scrubbed_item(item) == want_scrubbed.encode("ascii")
        assert json_block.dump_scrubbed_item(item) == want_json.encode("utf-8")
    for loader in LOADERS:
        assert yaml.load(want_yaml, Loader=loader) == [item]
        assert yaml.load(want_scrubbed, Loader=loader) == [scrubbed]
    assert json.loads(want_json) == scrubbed
    assert SECRET not in want_scrubbed and SECRET not in want_json


def comparisons() -> list[Comparison]:
    return [
        Comparison("base.yaml #12", EXACT),
        Comparison("base.yaml #3", CLOSEST, [Difference(REQUEST_DIFFERS, "query 'x' differs")]),
        Comparison(None, NONE, [Difference(NO_COUNTERPART, "")]),
        Comparison(f"{CREDENTIAL_TEXTS[3]}.yaml #2", CLOSEST, []),  # a label to scrub too
        Comparison(None, NONE, [Difference(NO_COUNTERPART, "all 2 recorded answer(s) ...")]),
        Comparison(
            "spy 'old' #7.yaml",
            EXACT,
            [
                Difference("status", "", "204", "200"),
                Difference("value changed", "/ProxySession/Status", '"Open"', '"Closed"'),
                Difference("member removed", "/ProxySession/Name", '"café 😀"', None),
                Difference("member added", "/ProxySession/Note", None, CREDENTIAL_TEXTS[0]),
                Difference("value changed", "/X", CREDENTIAL_TEXTS[2], "yes"),
            ],
        ),
    ]


@pytest.mark.parametrize("compared", comparisons(), ids=lambda c: f"{c.match}-{len(c.differences)}")
def test_spy_modes_metadata_is_written_by_the_templates(compared: Comparison, no_walk) -> None:
    """Not a fallback: neither writer scrubs the metadata as a copy nor walks it."""
    for fmt in ("yaml", "json"):
        item = recorded(spy_meta(compared.meta()), fmt=fmt)
        assert yaml_block._interaction(item, [])
        assert yaml_block._interaction(item, [], scrub=True)
        assert json_block._interaction(item) is not None


@pytest.mark.parametrize("compared", comparisons(), ids=lambda c: f"{c.match}-{len(c.differences)}")
def test_spy_modes_metadata_is_written_as_the_walk_writes_it(compared: Comparison) -> None:
    check(recorded(spy_meta(compared.meta())))
    check(recorded(spy_meta(compared.meta()), fmt="json"))


def test_a_credential_in_a_difference_is_blanked() -> None:
    difference = Difference("value changed", "/A", CREDENTIAL_TEXTS[3], "x")
    item = recorded(spy_meta(Comparison("base.yaml #1", EXACT, [difference]).meta()))
    written = yaml_block.dump_scrubbed_item(item).decode()
    assert f"      baseline: 'password={REDACTED}'\n" in written and SECRET not in written
    line = json_block.dump_scrubbed_item(item).decode()
    assert f'"baseline":"password={REDACTED}"' in line and SECRET not in line
    check(item)


@settings(max_examples=300, deadline=None)
@given(counterpart=counterpart, differences=st.lists(difference, max_size=4))
def test_any_spy_metadata_is_written_as_the_walk_writes_it(counterpart, differences) -> None:
    check(recorded(spy_meta({"baseline": counterpart, "differences": differences})))


@settings(max_examples=300, deadline=None)
@given(
    counterpart=st.none() | counterpart | nested,
    differences=st.lists(difference | nested, max_size=3) | nested,
    violations=st.lists(violation | nested, max_size=2),
    between=st.dictionaries(st.sampled_from(["error", "body_note", "control"]), nested, max_size=2),
    spy=st.booleans(),
)
def test_metadata_of_any_shape_after_the_recorders_keys_is_written_as_the_walk_writes_it(
    counterpart, differences, violations, between, spy
) -> None:
    """Violations, an error, a body note, a baseline of another shape: each entry the template
    does not know is written by the walk alone, and the whole is still the walk's bytes."""
    compared = {"baseline": counterpart, "differences": differences} if spy else {}
    check(recorded(spy_meta(compared, violations=violations, **between)))


def test_a_call_with_violations_is_written_by_the_templates_but_its_violations(no_walk) -> None:
    """Only the violations entry goes through the walk (scrub_strings, _map); so the no_walk
    fixture makes it raise there, and nowhere else."""
    meta = spy_meta(Comparison("base.yaml #1", EXACT).meta())
    assert yaml_block._interaction(recorded(meta), [], scrub=True)
    meta["violations"] = [{"operation": None, "part": "request", "pointer": "", "message": "x"}]
    with pytest.raises(Generic):
        yaml_block._interaction(recorded(meta), [], scrub=True)
    with pytest.raises(Generic):
        json_block._interaction(recorded(meta))
