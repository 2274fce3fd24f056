"""The schema document: a valid Draft 2020-12 schema, and in step with the SDK Voice service model.

The drift check walks botocore's ``chime-sdk-voice`` model (the shapes of each operation's input
and output) next to our schemas and lists every difference in enums, required members,
patterns, ranges and lengths. The differences that are on purpose (the wire over the docs, or
the legacy namespace sharing a shape) are listed in KNOWN_DIFFERENCES with their reason; any
other difference fails, so a model change or a schema typo is caught.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import botocore.session
import jsonschema
import pytest

from chime_tap.api import schemas
from chime_tap.api.hosts import LEGACY, VOICE
from chime_tap.api.operations import DOCUMENTED_ERRORS, OPERATIONS

SEEDS = Path(__file__).resolve().parent / "data" / "seeds"  # the reference pages
# Our spelling of ECMA's \S (explicit, so Python's re and jsonschema-rs read it the same way).
NON_SPACE = r"[^\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"

# (where, what) -> why. "where" is a dotted path from the operation or shape being compared.
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {
    # The wire always sends the wrapper member; a body without it is not an answer.
    ("CreateProxySession.output", "required"): "the wire always sends ProxySession",
    ("GetProxySession.output", "required"): "the wire always sends ProxySession",
    ("UpdateProxySession.output", "required"): "the wire always sends ProxySession",
    ("ListProxySessions.output", "required"): "the wire always sends ProxySessions",
}


@pytest.fixture(scope="module")
def model() -> dict[str, Any]:
    return botocore.session.get_session().get_service_data("chime-sdk-voice")


def _defs() -> dict[str, Any]:
    return schemas.document()["$defs"]


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    """The schema a node stands for. Properties beside a ``$ref`` override the target's (a
    namespace's variant of a shape); a node checked by ``if``/``then`` stands for its ``then``
    (the ``if`` only lets null through)."""
    while True:
        if "then" in node:
            node = node["then"]
        elif "$ref" in node:
            target = _defs()[node["$ref"].rsplit("/", 1)[-1]]
            if "properties" in node:
                props = {**target.get("properties", {}), **node["properties"]}
                target = {**target, "properties": props}
            node = target
        else:
            return node


def normalize_pattern(pattern: str) -> str:
    """One spelling for a model pattern and ours: no anchors, [0-9] for \\d, {n} for {n,n}, \\S."""
    pattern = pattern.replace("$(?!\\n)", "$").replace(NON_SPACE, ".*\\S.*")
    pattern = pattern.replace("\\d", "[0-9]")
    pattern = re.sub(r"\{(\d+),\1\}", r"{\1}", pattern)
    pattern = re.sub(r"(^|\|)\^", r"\1", pattern)
    return re.sub(r"\$(\||$)", r"\1", pattern)


def _types(node: dict[str, Any]) -> set[str]:
    t = node.get("type", [])
    return ({t} if isinstance(t, str) else set(t)) - {"null"}


def compare_shape(
    model: dict[str, Any], shape_name: str, node: dict[str, Any], where: str
) -> list[tuple[str, str, str]]:
    """(where, keyword, detail) for every way ``node`` differs from the model shape."""
    shape = model["shapes"][shape_name]
    node = _resolve(node)
    diffs: list[tuple[str, str, str]] = []

    def differ(keyword: str, theirs: Any, ours: Any) -> None:
        if theirs != ours:
            diffs.append((where, keyword, f"model {theirs!r}, schema {ours!r}"))

    kind = shape["type"]
    if kind == "string":
        differ("type", {"string"}, _types(node))
        ours_enum = [v for v in node.get("enum", []) if v is not None] or None
        differ("enum", shape.get("enum"), ours_enum)
        theirs = normalize_pattern(shape["pattern"]) if "pattern" in shape else None
        ours = normalize_pattern(node["pattern"]) if "pattern" in node else None
        differ("pattern", theirs, ours)
        differ("minLength", shape.get("min"), node.get("minLength"))
        differ("maxLength", shape.get("max"), node.get("maxLength"))
    elif kind == "integer":
        differ("type", {"integer"}, _types(node))
        differ("minimum", shape.get("min"), node.get("minimum"))
        differ("maximum", shape.get("max"), node.get("maximum"))
    elif kind == "timestamp":
        # The wire (and the model's timestampFormat) sends ISO 8601 strings.
        differ("timestampFormat", "iso8601", shape.get("timestampFormat"))
        differ("type", {"string"}, _types(node))
        differ("pattern", _defs()["Iso8601Timestamp"]["pattern"], node.get("pattern"))
    elif kind == "list":
        differ("type", {"array"}, _types(node))
        differ("minItems", shape.get("min"), node.get("minItems"))
        differ("maxItems", shape.get("max"), node.get("maxItems"))
        diffs += compare_shape(model, shape["member"]["shape"], node.get("items", {}), f"{where}[]")
    elif kind == "structure":
        # Members are located under the shape's own name, whatever wraps it.
        diffs += compare_members(model, shape_name, set(shape["members"]), node, shape_name)
    else:  # pragma: no cover - the proxy-session shapes use no other kinds
        diffs.append((where, "type", f"unhandled model type {kind}"))
    return diffs


def compare_members(
    model: dict[str, Any],
    shape_name: str,
    members: set[str],
    node: dict[str, Any],
    where: str,
    wire_names: bool = False,
) -> list[tuple[str, str, str]]:
    """Compare the given members of a structure shape with an object schema's properties."""
    shape = model["shapes"][shape_name]
    node = _resolve(node)
    diffs: list[tuple[str, str, str]] = []

    def name_of(member: str) -> str:
        return shape["members"][member].get("locationName", member) if wire_names else member

    props = node.get("properties", {})
    if "object" not in _types(node):
        diffs.append((where, "type", f"model structure, schema {node.get('type')!r}"))
    expected = sorted(name_of(m) for m in members)
    if sorted(props) != expected:
        diffs.append((where, "properties", f"model {expected}, schema {sorted(props)}"))
    required = sorted(name_of(m) for m in shape.get("required", []) if m in members)
    if sorted(node.get("required", [])) != required:
        diffs.append(
            (where, "required", f"model {required}, schema {sorted(node.get('required', []))}")
        )
    for member in sorted(members):
        if name_of(member) in props:
            member_shape = shape["members"][member]["shape"]
            diffs += compare_shape(model, member_shape, props[name_of(member)], f"{where}.{member}")
    return diffs


def _members_by_location(model: dict[str, Any], shape_name: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {"uri": set(), "querystring": set(), "body": set()}
    for name, member in model["shapes"][shape_name]["members"].items():
        out[member.get("location", "body")].add(name)
    return out


def _unexpected(diffs: list[tuple[str, str, str]]) -> list[str]:
    return [f"{w} {k}: {d}" for w, k, d in diffs if (w, k) not in KNOWN_DIFFERENCES]


# --- the document itself ----------------------------------------------------------------------


def test_document_is_a_valid_draft_2020_12_schema() -> None:
    doc = schemas.document()
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(doc)
    assert jsonschema.validators.validator_for(doc) is jsonschema.Draft202012Validator


@pytest.mark.parametrize("name", schemas.names())
def test_every_definition_stands_alone_as_a_valid_schema(name: str) -> None:
    schema = schemas.schema_for(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$ref"] == f"#/$defs/{name}"


def test_schema_for_returns_a_fresh_copy_and_refuses_unknown_names() -> None:
    first = schemas.schema_for("Capability")
    first["$defs"]["Capability"]["enum"].append("Fax")
    assert schemas.schema_for("Capability")["$defs"]["Capability"]["enum"] == ["Voice", "SMS"]
    with pytest.raises(KeyError, match="NoSuchShape"):
        schemas.schema_for("NoSuchShape")


def test_catalogue_names_only_existing_definitions() -> None:
    names = set(schemas.names())
    for op in OPERATIONS.values():
        for ns in (LEGACY, VOICE):
            assert {op.path_schema(ns), op.query_schema(ns)} <= names
        responses = {op.response_schema_for(ns) for ns in (LEGACY, VOICE)} - {None}
        assert {s for s in (op.request_schema, op.response_schema) if s} | responses <= names


def test_patterns_read_the_same_in_python_and_ecma() -> None:
    """Python's re differs from ECMA 262 on \\d (any Unicode digit), $ (before a final newline), \\s."""

    def patterns(node: Any) -> list[str]:
        if isinstance(node, dict):
            own = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
            return own + [p for v in node.values() for p in patterns(v)]
        if isinstance(node, list):
            return [p for v in node for p in patterns(v)]
        return []

    found = patterns(schemas.document())
    assert len(found) >= 10
    for pattern in found:
        assert "\\d" not in pattern and "\\s" not in pattern and "\\S" not in pattern, pattern
        assert re.search(r"\$(?!\(\?!\\n\))", pattern) is None, f"bare $ in {pattern!r}"


# --- drift against the SDK Voice service model ------------------------------------------------


def test_normalize_pattern_maps_both_spellings_together() -> None:
    assert normalize_pattern("([a-z0-9]{21,22}|x)") == normalize_pattern(
        "^([a-z0-9]{21,22}|x)$(?!\\n)"
    )
    assert normalize_pattern("^$|^[A-Z]{2,2}$") == normalize_pattern("^$(?!\\n)|^[A-Z]{2}$(?!\\n)")
    assert normalize_pattern(".*\\S.*") == normalize_pattern(NON_SPACE)
    assert normalize_pattern("^\\+?[1-9]\\d{1,14}$") == normalize_pattern(
        "^\\+?[1-9][0-9]{1,14}$(?!\\n)"
    )
    assert normalize_pattern("^[A-Z]{2}$") != normalize_pattern("^[A-Z]{3}$")


def test_proxy_session_shape_matches_the_model(model: dict[str, Any]) -> None:
    """SDK Voice's ProxySession is the model's exactly."""
    diffs = compare_shape(model, "ProxySession", _defs()["ProxySessionVoice"], "ProxySession")
    assert diffs == []


def test_legacy_proxy_session_differs_only_by_its_connector_id_rule(model: dict[str, Any]) -> None:
    """The legacy namespace's ProxySession is the same shape with the reference page's looser
    VoiceConnectorId (1-128 characters, .*\\S.*); nothing else may drift."""
    diffs = compare_shape(model, "ProxySession", _defs()["ProxySession"], "ProxySession")
    assert {(w, k) for w, k, _ in diffs} == {
        ("ProxySession.VoiceConnectorId", "pattern"),
        ("ProxySession.VoiceConnectorId", "minLength"),
        ("ProxySession.VoiceConnectorId", "maxLength"),
    }
    legacy = _defs()["VoiceConnectorIdLegacy"]
    inline = _defs()["ProxySession"]["properties"]["VoiceConnectorId"]
    assert {k: inline[k] for k in ("pattern", "minLength", "maxLength")} == {
        k: legacy[k] for k in ("pattern", "minLength", "maxLength")
    }


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_operation_http_binding_matches_the_model(model: dict[str, Any], name: str) -> None:
    op, http = OPERATIONS[name], model["operations"][name]["http"]
    assert (op.method, op.path_template, op.success_status) == (
        http["method"],
        http["requestUri"],
        http["responseCode"],
    )


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_operation_errors_match_the_model(model: dict[str, Any], name: str) -> None:
    errors = [e["shape"] for e in model["operations"][name]["errors"]]
    assert sorted(errors) == sorted(OPERATIONS[name].errors)
    for error in errors:
        assert model["shapes"][error]["error"]["httpStatusCode"] == DOCUMENTED_ERRORS[error]


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_operation_input_matches_the_model(model: dict[str, Any], name: str) -> None:
    op = OPERATIONS[name]
    shape = model["operations"][name]["input"]["shape"]
    members = _members_by_location(model, shape)
    defs = _defs()
    diffs = compare_members(
        model, shape, members["uri"], defs[op.path_schema(VOICE)], f"{name}.path", wire_names=True
    )
    diffs += compare_members(
        model,
        shape,
        members["querystring"],
        defs[op.query_schema(VOICE)],
        f"{name}.query",
        wire_names=True,
    )
    if members["body"]:
        assert op.request_schema is not None
        body = defs[op.request_schema]
        assert body.get("additionalProperties") is False
        diffs += compare_members(model, shape, members["body"], body, f"{name}.body")
    else:
        assert op.request_schema is None
    assert _unexpected(diffs) == []
    # The catalogue's parameters are the model's, wire names and members alike.
    expected = {
        (m["locationName"], name_, name_ in model["shapes"][shape].get("required", []))
        for name_, m in model["shapes"][shape]["members"].items()
        if m.get("location") in ("uri", "querystring")
    }
    assert {
        (p.wire_name, p.member, p.required) for p in op.path_params + op.query_params
    } == expected


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_operation_output_matches_the_model(model: dict[str, Any], name: str) -> None:
    op = OPERATIONS[name]
    output = model["operations"][name].get("output")
    if output is None:
        assert op.response_schema is None
        return
    shape = output["shape"]
    assert op.response_schema is not None
    node = _defs()[op.response_schema_for(VOICE)]
    diffs = compare_members(
        model, shape, set(model["shapes"][shape]["members"]), node, f"{name}.output"
    )
    assert _unexpected(diffs) == []
    assert (f"{name}.output", "required") in {(w, k) for w, k, _ in diffs}


def test_drift_check_catches_a_schema_typo(
    model: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    defs = _defs()
    monkeypatch.setitem(defs["Capability"], "enum", ["Voice", "Sms"])
    monkeypatch.setitem(defs["PositiveInteger"], "minimum", 0)
    monkeypatch.setitem(defs["UpdateProxySessionRequest"], "required", [])
    diffs = compare_members(
        model,
        "UpdateProxySessionRequest",
        {"Capabilities", "ExpiryMinutes"},
        defs["UpdateProxySessionRequest"],
        "U",
    )
    assert {(w, k) for w, k, _ in diffs} == {
        ("U", "required"),
        ("U.Capabilities[]", "enum"),
        ("U.ExpiryMinutes", "minimum"),
    }


def test_drift_check_catches_a_model_change(model: dict[str, Any]) -> None:
    changed = {
        **model,
        "shapes": {**model["shapes"], "ResultMax": {"type": "integer", "min": 1, "max": 50}},
    }
    query = {"Status", "NextToken", "MaxResults"}
    assert (
        compare_members(
            model,
            "ListProxySessionsRequest",
            query,
            _defs()["ListQueryVoice"],
            "L",
            wire_names=True,
        )
        == []
    )
    diffs = compare_members(
        changed, "ListProxySessionsRequest", query, _defs()["ListQueryVoice"], "L", wire_names=True
    )
    assert diffs == [("L.MaxResults", "maximum", "model 50, schema 100")]


# --- the legacy namespace follows the reference pages -----------------------------------------


def test_legacy_path_ids_follow_the_reference_pages() -> None:
    for page in ("GetProxySession.txt", "UpdateProxySession.txt"):
        text = (SEEDS / page).read_text("utf-8")
        for param in ("voiceConnectorId", "proxySessionId"):
            block = re.split(rf"^(?:- )?{param}\n", text, maxsplit=1, flags=re.M)[1][:300]
            assert "Minimum length of 1. Maximum length of 128." in block
            assert ".*\\S.*" in block
    defs = _defs()
    for name in ("VoiceConnectorIdLegacy", "NonEmptyString128"):
        assert (defs[name]["minLength"], defs[name]["maxLength"]) == (1, 128)
        assert normalize_pattern(defs[name]["pattern"]) == ".*\\S.*"


def test_legacy_query_differs_from_voice_only_in_max_results() -> None:
    defs = _defs()
    legacy, voice = defs["ListQueryLegacy"]["properties"], defs["ListQueryVoice"]["properties"]
    assert set(legacy) == set(voice) == {"status", "next-token", "max-results"}
    assert legacy["max-results"]["maximum"] == 99 and voice["max-results"]["maximum"] == 100
    assert {k: v for k, v in legacy.items() if k != "max-results"} == {
        k: v for k, v in voice.items() if k != "max-results"
    }


def test_update_reference_page_body_members_and_capabilities() -> None:
    text = (SEEDS / "UpdateProxySession.txt").read_text("utf-8")
    assert "Voice | SMS" in text and "HTTP/1.1 201" in text
    update = _defs()["UpdateProxySessionRequest"]
    assert update["required"] == ["Capabilities"]
    assert set(update["properties"]) == {"Capabilities", "ExpiryMinutes"}
    assert _resolve(update["properties"]["ExpiryMinutes"])["minimum"] == 1


def test_error_body_matches_the_models_error_shapes(model: dict[str, Any]) -> None:
    legacy = botocore.session.get_session().get_service_data("chime")
    codes = _defs()["ErrorCode"]["enum"]
    # SDK Voice's list is the legacy one plus newer codes; ours is the union, in model order.
    assert set(legacy["shapes"]["ErrorCode"]["enum"]) <= set(model["shapes"]["ErrorCode"]["enum"])
    assert codes == model["shapes"]["ErrorCode"]["enum"]
    body = _defs()["ErrorBody"]
    for error in DOCUMENTED_ERRORS:
        members = legacy["shapes"][error]["members"]
        assert sorted(members) == sorted(body["properties"]) == sorted(body["required"])
        assert members["Code"]["shape"] == "ErrorCode"
