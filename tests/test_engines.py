"""FastEngine (jsonschema-rs) and ReferenceEngine (jsonschema) give identical verdicts.

The corpus in tests/data/validation-corpus/ holds one case per file: the ``$defs`` name it is
checked against, whether it is valid, a note saying why, and the instance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chime_tap.api import schemas
from chime_tap.api.hosts import NAMESPACES
from chime_tap.api.operations import OPERATIONS
from chime_tap.api.validation import FastEngine, ReferenceEngine

CORPUS_DIR = Path(__file__).parent / "data" / "validation-corpus"


def _load_corpus() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text("utf-8")) for p in sorted(CORPUS_DIR.glob("*.json"))}


CORPUS = _load_corpus()


@pytest.fixture(scope="module")
def fast() -> FastEngine:
    return FastEngine()


@pytest.fixture(scope="module")
def reference() -> ReferenceEngine:
    return ReferenceEngine()


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[-1]} if "$ref" in node else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


def _reachable(roots: set[str]) -> set[str]:
    defs = schemas.document()["$defs"]
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += _refs(defs[name])
    return seen


def test_corpus_is_big_and_well_formed() -> None:
    assert len(CORPUS) >= 40
    for name, case in CORPUS.items():
        assert set(case) == {"schema", "valid", "note", "instance"}, name
        assert case["schema"] in schemas.names(), name
        assert isinstance(case["valid"], bool) and case["note"], name


def test_corpus_covers_every_part_of_every_operation_valid_and_invalid() -> None:
    parts = {"ErrorBody", "FrontDoorErrorBody"}
    for op in OPERATIONS.values():
        parts |= {s for s in (op.request_schema, op.response_schema) if s}
        parts |= {op.response_schema_for(ns) for ns in NAMESPACES} - {None}
        parts |= {op.path_schema(ns) for ns in NAMESPACES} | {
            op.query_schema(ns) for ns in NAMESPACES
        }
    verdicts = {(c["schema"], c["valid"]) for c in CORPUS.values()}
    missing = sorted(
        f"{p} ({'valid' if v else 'invalid'})"
        for p in parts
        for v in (True, False)
        if (p, v) not in verdicts
    )
    assert not missing, f"corpus lacks cases for: {', '.join(missing)}"


def test_corpus_reaches_every_schema_definition() -> None:
    reached = _reachable({c["schema"] for c in CORPUS.values()})
    assert set(schemas.names()) - reached == set()


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_engines_agree_with_each_other_and_with_the_corpus(
    name: str, fast: FastEngine, reference: ReferenceEngine
) -> None:
    case = CORPUS[name]
    fast_errors = fast.errors(case["schema"], case["instance"])
    reference_errors = reference.errors(case["schema"], case["instance"])
    assert (not fast_errors) is case["valid"], (
        f"FastEngine on {name} ({case['note']}): {fast_errors}"
    )
    assert (not reference_errors) is case["valid"], (
        f"ReferenceEngine on {name} ({case['note']}): {reference_errors}"
    )
    assert fast.is_valid(case["schema"], case["instance"]) is case["valid"]
    assert reference.is_valid(case["schema"], case["instance"]) is case["valid"]
    # Same places flagged, and every message says something.
    assert {p for p, _ in fast_errors} == {p for p, _ in reference_errors}
    assert all(m.strip() for _, m in fast_errors + reference_errors)


@pytest.mark.parametrize(
    ("schema", "instance", "pointer"),
    [
        ("ProxySessionResponse", {"ProxySession": {"Status": "Active"}}, "/ProxySession/Status"),
        (
            "CreateProxySessionRequest",
            {"ParticipantPhoneNumbers": ["+12065550100", "02"], "Capabilities": ["Voice"]},
            "/ParticipantPhoneNumbers/1",
        ),
        ("UpdateProxySessionRequest", {"Capabilities": ["Voice", "Fax"]}, "/Capabilities/1"),
        (
            "ListProxySessionsResponse",
            {"ProxySessions": [{}, {"ExpiryMinutes": 0}]},
            "/ProxySessions/1/ExpiryMinutes",
        ),
    ],
)
def test_both_engines_point_at_the_offending_member(
    schema: str, instance: Any, pointer: str, fast: FastEngine, reference: ReferenceEngine
) -> None:
    assert [p for p, _ in fast.errors(schema, instance)] == [pointer]
    assert [p for p, _ in reference.errors(schema, instance)] == [pointer]


def test_unknown_schema_name_is_a_key_error(fast: FastEngine, reference: ReferenceEngine) -> None:
    for engine in (fast, reference):
        with pytest.raises(KeyError, match="NoSuchShape"):
            engine.errors("NoSuchShape", {})
