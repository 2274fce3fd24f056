"""The cassette writer's fast YAML emitter (the recorder's hot path): what it writes loads back
exactly, with libyaml and pure-Python PyYAML, and in vcrpy."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from chime_tap.cassettes import yaml_block
from chime_tap.cassettes.format import make_interaction
from chime_tap.cassettes.reader import load_cassette
from chime_tap.cassettes.writer import CassetteWriter
from chime_tap.cassettes.yaml_block import dump_item
from support.loadgen import vcr_load

LOADERS = (yaml.CSafeLoader, yaml.SafeLoader, yaml.CLoader)
TRICKY = [
    "yes", "No", "null", "NULL", "~", "y", "on", "Off", "true", "1e3", "0x1f", "1:20", "2020-01-01",
    ".inf", ".nan", "<<", "=", "", " lead", "trail ", "a: b", "#x", "- x", "? x", "!t", "&a", "*a",
    "%", "@", "`", "'", '"', "\\", "\x7f", "\x85", "\u2028", "\ufeff", "\t", "\n", "\r\n", "😀",
    "e\u0301", "\x00", "GET", "Content-Type", "application/json",
]  # fmt: skip
text = st.text(st.characters(blacklist_categories=("Cs",))) | st.sampled_from(TRICKY)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)
trees = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=25,
)


def loads(data: bytes, loader) -> object:
    return yaml.load(b"interactions:\n" + data, Loader=loader)["interactions"][0]


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(text, trees, min_size=1, max_size=5))
def test_round_trip_with_every_loader(item: dict) -> None:
    data = dump_item(item)
    for loader in LOADERS:
        assert loads(data, loader) == item


def test_tricky_strings_stay_strings() -> None:
    item = {s: s for s in TRICKY}
    data = dump_item(item)
    data.decode("ascii")  # everything outside ASCII is escaped
    for loader in LOADERS:
        assert loads(data, loader) == item


def test_floats_keep_their_type() -> None:
    item = {"a": 1e-05, "b": 1e16, "c": 0.5, "d": -2.0, "e": 3}
    for loader in LOADERS:
        got = loads(dump_item(item), loader)
        assert got == item and isinstance(got["a"], float) and isinstance(got["e"], int)


def test_what_it_cannot_write_goes_to_pyyaml() -> None:
    item = {"binary": b"\xff\x00", "inf": float("inf"), "text": "x"}
    got = loads(dump_item(item), yaml.CSafeLoader)
    assert got == item


def test_writer_output_loads_in_vcrpy(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    with CassetteWriter(path) as w:
        for i in range(3):
            w.append(
                make_interaction(
                    method="POST",
                    uri=f"https://voice-chime.us-east-1.amazonaws.com/voice-connectors/x/proxy-sessions?i={i}",
                    request_headers={"Content-Type": ["application/json"], "X-Empty": [""]},
                    request_body='{"Name": "yes", "ExpiryMinutes": 60}',
                    status=201,
                    reason="Created",
                    response_headers={"Content-Type": ["application/json"]},
                    response_body=b'{"ProxySession": {"Name": "caf\xc3\xa9 \xf0\x9f\x98\x80"}}',
                    meta={"duration_ms": 1e-05, "violations": [], "error": None},
                )
            )
    pairs = vcr_load(path)
    assert len(pairs) == 3
    request, response = pairs[2]
    assert request.uri.endswith("?i=2") and request.body == b'{"Name": "yes", "ExpiryMinutes": 60}'
    assert response["body"]["string"] == '{"ProxySession": {"Name": "café 😀"}}'.encode()
    assert load_cassette(path)["interactions"][0]["chime_tap"]["duration_ms"] == 1e-05


@settings(max_examples=300, deadline=None)
@given(
    recorded_at=text,
    duration_ms=st.floats(allow_nan=False, allow_infinity=False) | st.integers(),
    operation=st.none() | text,
    namespace=st.none() | text,
    violations=st.just([]) | st.lists(st.dictionaries(text, text, max_size=2), min_size=1),
    answered_by=text,
    body=text,
)
def test_interaction_template_writes_what_the_generic_walk_writes(**meta) -> None:
    """The recorder's usual interaction goes through templates (request, response, metadata);
    byte for byte they must say what the generic emitter says, and load back the same."""
    body = meta.pop("body")
    item = make_interaction(
        method="GET",
        uri="http://127.0.0.1:9000/voice-connectors/c/proxy-sessions/s?x=1",
        request_headers={"Host": ["127.0.0.1:9000"], "X-Amz-Date": ["20260101T000000Z"]},
        request_body=None,
        status=200,
        reason="OK",
        response_headers={"Content-Type": ["application/json"], "Set": ["a", "b"]},
        response_body=body.encode("utf-8"),
        meta=meta,
    )
    generic: list[str] | None = []
    try:
        yaml_block._seq([item], "", generic)
    except yaml_block._NotFast:  # e.g. a key over 1,000 characters: both walks leave it to PyYAML
        generic = None
    data = dump_item(item)
    if generic is not None:
        assert data.decode("utf-8") == "".join(generic)
    for loader in LOADERS:
        assert loads(data, loader) == item
