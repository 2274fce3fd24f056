"""The validation API: violations located by operation, part and JSON pointer."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chime_tap.api.hosts import LEGACY, VOICE, HostPolicy
from chime_tap.api.operations import OPERATIONS, Route, classify
from chime_tap.api.validation import (
    MAX_MESSAGE,
    PATH,
    QUERY,
    REQUEST_BODY,
    RESPONSE_BODY,
    STATUS,
    FastEngine,
    ReferenceEngine,
    Violation,
    _loads,
    _plain,
    clip,
    query_instance,
    validate_exchange,
    validate_interaction,
    validate_request,
    validate_response,
)
from chime_tap.cassettes.format import Interaction, iter_interactions, make_interaction
from chime_tap.cassettes.reader import load_cassette

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_CASSETTE = ROOT / "cassettes" / "reference-examples.yaml"
SEEDS = Path(__file__).resolve().parent / "data" / "seeds"  # the reference pages
CONNECTOR = "abcdef1ghij2klmno3pqr4"
SESSION_ID = "123a4bc5-67d8-901e-2f3g-h4ghjk56789l"
SESSION: dict[str, Any] = {
    "Capabilities": ["SMS", "Voice"],
    "CreatedTimestamp": "2020-04-15T16:10:10.288Z",
    "EndedTimestamp": None,
    "ExpiryMinutes": 60,
    "GeoMatchLevel": None,
    "GeoMatchParams": None,
    "Name": None,
    "NumberSelectionBehavior": None,
    "Participants": [
        {"PhoneNumber": "+12065550100", "ProxyPhoneNumber": "+19135550199"},
        {"PhoneNumber": "+14015550101", "ProxyPhoneNumber": "+19135550199"},
    ],
    "ProxySessionId": SESSION_ID,
    "Status": "Open",
    "UpdatedTimestamp": "2020-04-15T16:10:10.288Z",
    "VoiceConnectorId": CONNECTOR,
}
CREATE = {"ParticipantPhoneNumbers": ["+12065550100", "+14015550101"], "Capabilities": ["Voice"]}


def route(name: str, namespace: str = VOICE, connector: str = CONNECTOR) -> Route:
    op = OPERATIONS[name]
    params = {"voiceConnectorId": connector}
    if op.has_session_id:
        params["proxySessionId"] = SESSION_ID
    return Route(op, namespace, params)


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


def session_body(**changes: Any) -> bytes:
    return body({"ProxySession": {**SESSION, **changes}})


def where(violations: list[Violation]) -> list[tuple[str, str]]:
    return [(v.part, v.pointer) for v in violations]


# --- the documented samples are valid -----------------------------------------------------------


def test_reference_cassette_validates() -> None:
    interactions = list(iter_interactions(load_cassette(REFERENCE_CASSETTE)))
    assert len(interactions) == 2
    for interaction in interactions:
        found, violations = validate_interaction(interaction)
        assert found is not None and found.namespace == LEGACY
        assert violations == []
    assert [validate_interaction(i)[0].name for i in interactions] == [  # type: ignore[union-attr]
        "GetProxySession",
        "UpdateProxySession",
    ]


@pytest.mark.parametrize("page", ["GetProxySession", "UpdateProxySession"])
def test_reference_page_samples_are_not_flagged(page: str) -> None:
    """The samples straight from the reference pages: request line, body, status, response body."""
    text = " ".join((SEEDS / f"{page}.txt").read_text("utf-8").split())
    request = text.split("Sample Request", 1)[1].split("Sample Response", 1)[0]
    response = text.split("Sample Response", 1)[1]
    method, path = re.search(r"(GET|POST|DELETE) (/\S+) HTTP/1.1", request).groups()  # type: ignore[union-attr]
    host = re.search(r"Host: (\S+)", request).group(1)  # type: ignore[union-attr]
    request_body = request[request.index("{") :].strip() if "{" in request else None
    status = int(re.search(r"HTTP/1.1 (\d{3})", response).group(1))  # type: ignore[union-attr]
    response_body = response[response.index("{") : response.rindex("}") + 1]
    found = classify(method, host, path)
    assert found is not None and found.name == page
    violations = validate_exchange(
        found, request_body=request_body, status=status, response_body=response_body
    )
    assert violations == []


# --- each of the faults is caught --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "request_body", "pointer"),
    [
        ("UpdateProxySession", {"Capabilities": ["Voice", "Fax"]}, "/Capabilities/1"),
        ("CreateProxySession", {**CREATE, "Capabilities": ["Video"]}, "/Capabilities/0"),
        ("UpdateProxySession", {"Capabilities": ["Voice"], "ExpiryMinutes": 0}, "/ExpiryMinutes"),
        (
            "UpdateProxySession",
            {"Capabilities": ["Voice"], "ExpiryMinutes": "60"},
            "/ExpiryMinutes",
        ),
        ("CreateProxySession", {**CREATE, "ExpiryMinutes": 0}, "/ExpiryMinutes"),
        ("UpdateProxySession", {"ExpiryMinutes": 60}, ""),
        (
            "CreateProxySession",
            {**CREATE, "ParticipantPhoneNumbers": ["+12065550100", "(401) 555-0101"]},
            "/ParticipantPhoneNumbers/1",
        ),
        ("CreateProxySession", {**CREATE, "GeoMatchParams": {"Country": "US"}}, "/GeoMatchParams"),
        ("CreateProxySession", {**CREATE, "Name": "x" * 31}, "/Name"),
    ],
)
def test_request_body_faults_are_caught(name: str, request_body: Any, pointer: str) -> None:
    violations = validate_request(route(name), body=body(request_body))
    assert where(violations) == [(REQUEST_BODY, pointer)]
    assert violations[0].operation == name


def test_update_answered_200_is_a_status_violation() -> None:
    violations = validate_response(route("UpdateProxySession"), status=200, body=session_body())
    assert violations == [
        Violation(
            "UpdateProxySession", STATUS, "", "UpdateProxySession answers 201 on success, got 200"
        )
    ]


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"Status": "Active"}, "/ProxySession/Status"),
        (
            {"Participants": [{"PhoneNumber": "206-555-0100", "ProxyPhoneNumber": "+19135550199"}]},
            "/ProxySession/Participants/0/PhoneNumber",
        ),
        ({"Capabilities": ["Fax"]}, "/ProxySession/Capabilities/0"),
        ({"ExpiryMinutes": 0}, "/ProxySession/ExpiryMinutes"),
        ({"CreatedTimestamp": 1586967010}, "/ProxySession/CreatedTimestamp"),
    ],
)
def test_response_body_faults_are_caught(changes: dict[str, Any], pointer: str) -> None:
    violations = validate_response(
        route("GetProxySession"), status=200, body=session_body(**changes)
    )
    assert where(violations) == [(RESPONSE_BODY, pointer)]


@pytest.mark.parametrize(
    "error_body",
    [
        {"message": "Not Found"},  # the front-door shape for a service error
        {"Code": "NotFound"},
        {"Code": "Missing", "Message": "no such session"},
        ["NotFound"],
    ],
)
def test_error_body_of_the_wrong_shape_is_caught(error_body: Any) -> None:
    violations = validate_response(
        route("GetProxySession"),
        status=404,
        body=body(error_body),
        headers={"x-amzn-ErrorType": "NotFoundException:http://internal.amazon.com/"},
    )
    assert violations and {v.part for v in violations} == {RESPONSE_BODY}


# --- what a valid exchange may look like -------------------------------------------------------


def test_documented_error_with_documented_body_is_valid() -> None:
    for error_type, status, code in [
        ("NotFoundException", 404, "NotFound"),
        ("BadRequestException", 400, "BadRequest"),
        ("ThrottledClientException", 429, "Throttled"),
        ("ServiceUnavailableException", 503, "ServiceUnavailable"),
    ]:
        violations = validate_response(
            route("DeleteProxySession"),
            status=status,
            body=body({"Code": code, "Message": "m"}),
            headers={"X-Amzn-ErrorType": [f"{error_type}:"]},  # a vcrpy-style list works too
        )
        assert violations == [], error_type


def test_front_door_error_uses_its_own_body_shape() -> None:
    ok = validate_response(
        route("GetProxySession"),
        status=403,
        body=body({"message": "The security token included in the request is expired"}),
        headers={"x-amzn-errortype": "ExpiredTokenException"},
    )
    assert ok == []
    wrong = validate_response(
        route("GetProxySession"),
        status=403,
        body=body({"Code": "Forbidden", "Message": "expired"}),
        headers={"x-amzn-errortype": "ExpiredTokenException"},
    )
    assert where(wrong) == [(RESPONSE_BODY, "")]
    assert "message" in wrong[0].message


def test_undocumented_error_statuses_and_types_are_violations() -> None:
    teapot = validate_response(
        route("GetProxySession"), status=418, body=body({"Code": "BadRequest", "Message": "m"})
    )
    assert where(teapot) == [(STATUS, "")]
    assert "418" in teapot[0].message and "404 NotFoundException" in teapot[0].message
    unknown = validate_response(
        route("GetProxySession"),
        status=409,
        body=body({"Code": "Conflict", "Message": "m"}),
        headers={"x-amzn-ErrorType": "ConflictException"},
    )
    assert [v.part for v in unknown] == [STATUS, STATUS]
    mismatched = validate_response(
        route("GetProxySession"),
        status=500,
        body=body({"Code": "NotFound", "Message": "m"}),
        headers={"x-amzn-ErrorType": "NotFoundException"},
    )
    assert [v.message for v in mismatched] == ["NotFoundException comes with status 404, got 500"]


def test_error_body_missing_or_not_json() -> None:
    empty = validate_response(route("GetProxySession"), status=500, body=b"")
    assert where(empty) == [(RESPONSE_BODY, "")] and "empty" in empty[0].message
    html = validate_response(route("GetProxySession"), status=503, body=b"<html>busy</html>")
    assert where(html) == [(RESPONSE_BODY, "")] and "not valid JSON" in html[0].message


def test_delete_answers_204_with_no_body() -> None:
    assert validate_exchange(route("DeleteProxySession"), status=204, response_body=b"") == []
    wrong = validate_exchange(route("DeleteProxySession"), status=200, response_body=b"{}")
    assert where(wrong) == [(STATUS, ""), (RESPONSE_BODY, "")]


def test_success_bodies_must_be_there_and_be_json() -> None:
    assert where(validate_response(route("CreateProxySession"), status=201, body=None)) == [
        (RESPONSE_BODY, "")
    ]
    bad = validate_response(route("GetProxySession"), status=200, body=b'{"ProxySession": ')
    assert where(bad) == [(RESPONSE_BODY, "")] and "not valid JSON" in bad[0].message
    latin = validate_response(route("GetProxySession"), status=200, body=b"\xff\xfe")
    assert "not UTF-8" in latin[0].message


def test_list_response_and_query() -> None:
    ok = validate_exchange(
        route("ListProxySessions"),
        query={"status": ["Open"], "max-results": ["100"], "next-token": ["0042"]},
        status=200,
        response_body=body({"ProxySessions": [SESSION], "NextToken": None}),
    )
    assert ok == []
    legacy = validate_request(route("ListProxySessions", LEGACY), query={"max-results": ["100"]})
    assert where(legacy) == [(QUERY, "/max-results")]
    bad = validate_request(
        route("ListProxySessions"), query={"status": "Ended", "max-results": "ten"}
    )
    assert sorted(where(bad)) == [(QUERY, "/max-results"), (QUERY, "/status")]
    repeated = validate_request(route("ListProxySessions"), query={"status": ["Open", "Closed"]})
    assert where(repeated) == [(QUERY, "")] and "2 times" in repeated[0].message
    stray = validate_request(route("GetProxySession"), query={"status": "Open"})
    assert where(stray) == [(QUERY, "")]


def test_query_instance_converts_only_integer_parameters_and_drops_presigning() -> None:
    q, problems = query_instance(
        {"max-results": ["7"], "next-token": ["123"], "X-Amz-Signature": ["abc"], "status": "Open"}
    )
    assert q == {"max-results": 7, "next-token": "123", "status": "Open"}
    assert problems == []
    assert query_instance({"max-results": "7\n"})[0] == {"max-results": "7\n"}


def test_path_parameters_per_namespace() -> None:
    assert validate_request(route("GetProxySession", LEGACY, connector="My Connector")) == []
    voice = validate_request(route("GetProxySession", VOICE, connector="My Connector"))
    assert where(voice) == [(PATH, "/voiceConnectorId")]
    uuid = "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
    assert validate_request(route("GetProxySession", VOICE, connector=uuid)) == []


def test_request_bodies_where_none_or_one_is_due() -> None:
    assert where(validate_request(route("GetProxySession"), body=b"{}")) == [(REQUEST_BODY, "")]
    assert validate_request(route("DeleteProxySession"), body=b"") == []
    empty = validate_request(route("CreateProxySession"), body=None)
    assert where(empty) == [(REQUEST_BODY, "")] and "empty" in empty[0].message
    assert where(validate_request(route("UpdateProxySession"), body="{")) == [(REQUEST_BODY, "")]
    assert validate_request(route("UpdateProxySession"), body='{"Capabilities": []}') == []


def test_violation_reads_as_one_line_and_serialises() -> None:
    v = Violation(
        "UpdateProxySession", REQUEST_BODY, "/ExpiryMinutes", "0 is less than the minimum of 1"
    )
    assert str(v) == "request body /ExpiryMinutes: 0 is less than the minimum of 1"
    assert str(Violation("X", STATUS, "", "bad")) == "status: bad"
    assert v.to_dict() == {
        "operation": "UpdateProxySession",
        "part": REQUEST_BODY,
        "pointer": "/ExpiryMinutes",
        "message": "0 is less than the minimum of 1",
    }


def test_messages_say_what_is_wrong() -> None:
    [v] = validate_request(route("UpdateProxySession"), body=body({"Capabilities": ["Fax"]}))
    assert "Fax" in v.message and "Voice" in v.message
    [v] = validate_request(route("UpdateProxySession"), body=body({}))
    assert "Capabilities" in v.message and "required" in v.message


def test_reference_engine_finds_the_same_violations() -> None:
    cases = [
        (
            route("UpdateProxySession"),
            body({"Capabilities": ["Fax"], "ExpiryMinutes": 0}),
            200,
            session_body(Status="x"),
        ),
        (route("GetProxySession"), None, 404, body({"message": "no"})),
    ]
    for r, request_body, status, response_body in cases:
        fast = validate_exchange(
            r,
            request_body=request_body,
            status=status,
            response_body=response_body,
            engine=FastEngine(),
        )
        ref = validate_exchange(
            r,
            request_body=request_body,
            status=status,
            response_body=response_body,
            engine=ReferenceEngine(),
        )
        assert where(fast) == where(ref) and fast


# --- recorded interactions ------------------------------------------------------------------------


def interaction(**overrides: Any) -> Interaction:
    fields: dict[str, Any] = {
        "method": "POST",
        "uri": f"https://voice-chime.us-east-1.amazonaws.com/voice-connectors/{CONNECTOR}/proxy-sessions/{SESSION_ID}",
        "request_headers": {},
        "request_body": body({"Capabilities": ["Voice"]}),
        "status": 201,
        "reason": "Created",
        "response_headers": {"Content-Type": ["application/json"]},
        "response_body": session_body(),
    }
    meta = overrides.pop("meta", None)
    fields.update(overrides)
    return Interaction.from_dict(make_interaction(**fields, meta=meta))


def test_validate_interaction_checks_request_and_response() -> None:
    found, violations = validate_interaction(interaction())
    assert found is not None and found.name == "UpdateProxySession" and violations == []
    _, violations = validate_interaction(interaction(status=200))
    assert where(violations) == [(STATUS, "")]


def test_validate_interaction_skips_other_traffic() -> None:
    assert validate_interaction(interaction(uri="https://s3.amazonaws.com/bucket/key")) == (
        None,
        [],
    )
    assert validate_interaction(interaction(uri="http://[::1/broken")) == (None, [])


def test_validate_interaction_with_no_response_checks_the_request_only() -> None:
    _, violations = validate_interaction(interaction(status=0, request_body=body({})))
    assert where(violations) == [(REQUEST_BODY, "")]


def test_validate_interaction_on_a_configured_host_or_the_recorded_namespace() -> None:
    local = interaction(uri=f"http://127.0.0.1:9000/voice-connectors/{CONNECTOR}/proxy-sessions")
    assert validate_interaction(local) == (None, [])
    found, _ = validate_interaction(local, HostPolicy(["127.0.0.1:9000=legacy"]))
    assert found is not None and found.namespace == LEGACY
    noted = interaction(
        uri=f"http://127.0.0.1:9000/voice-connectors/{CONNECTOR}/proxy-sessions",
        method="GET",
        request_body=None,
        status=200,
        response_body=body({"ProxySessions": []}),
        meta={"namespace": "voice"},
    )
    found, violations = validate_interaction(noted)
    assert found is not None and (found.name, found.namespace) == ("ListProxySessions", VOICE)
    assert violations == []


def test_validate_interaction_reads_the_query_from_the_uri() -> None:
    listing = interaction(
        method="GET",
        uri=f"https://chime.us-east-1.amazonaws.com/voice-connectors/{CONNECTOR}/proxy-sessions?max-results=100&status=Open",
        request_body=None,
        status=200,
        response_body=body({"ProxySessions": []}),
    )
    _, violations = validate_interaction(listing)
    assert where(violations) == [(QUERY, "/max-results")]  # legacy host: 1-99


def test_messages_quoting_huge_values_are_clipped_keeping_the_verdict() -> None:
    """A 70 KB NextToken must not become a 70 KB log line and cassette entry."""
    token = "x" * 70_000
    (v,) = validate_response(
        route("ListProxySessions"),
        status=200,
        body=json.dumps({"ProxySessions": [], "NextToken": token}),
    )
    assert v.pointer == "/NextToken"
    assert len(v.message) <= MAX_MESSAGE
    assert v.message.endswith("is longer than 65535 characters")
    # the value is what is clipped, and the message says how long the value was
    assert (
        v.message
        == f'"{"x" * 39} ... {"x" * 11}" (70,000 characters) is longer than 65535 characters'
    )
    for n in (MAX_MESSAGE, MAX_MESSAGE + 1, 10_000):
        assert len(clip("m" * n)) <= MAX_MESSAGE
    assert clip("short") == "short"


def test_a_value_past_a_backtracking_limit_gets_a_verdict_from_both_engines() -> None:
    """2,000,000 characters against ``^$(?!\\n)|^[a-zA-Z0-9 ]{0,30}$(?!\\n)``: jsonschema-rs
    compiles it as ``$`` (linear engine), so it says what the reference engine says."""
    body = json.dumps(
        {
            "ParticipantPhoneNumbers": ["+12065550100", "+14015550101"],
            "Capabilities": ["Voice"],
            "Name": "a" * 2_000_000,
        }
    )
    clipped = f"{'a' * 39} ... {'a' * 11}"
    for engine, q in ((FastEngine(), '"'), (ReferenceEngine(), "'")):
        (v,) = validate_request(route("CreateProxySession"), body=body, engine=engine)
        assert (v.part, v.pointer) == (REQUEST_BODY, "/Name")
        assert v.message == (
            f"{q}{clipped}{q} (2,000,000 characters) does not match {q}^$|^[a-zA-Z0-9 ]{{0,30}}${q}"
        )


def test_a_regex_engine_error_is_said_in_words() -> None:
    """A pattern with a lookaround runs on jsonschema-rs's backtracking engine, which gives up
    on a long enough value (the schemas' own patterns did, before rust_spelling)."""
    import jsonschema_rs

    lookahead = {"type": "string", "pattern": "^$(?!\\n)|^[a-zA-Z0-9 ]{0,30}$(?!\\n)"}
    (e,) = jsonschema_rs.Draft202012Validator(lookahead).iter_errors("a" * 2_000_000)
    assert e.message.startswith("Error executing regex")
    assert _plain(e.message, e.instance) == (
        f"value too long to match against its pattern ({e.message})"
    )


@pytest.mark.parametrize(
    "engine", [FastEngine(), ReferenceEngine()], ids=["jsonschema-rs", "jsonschema"]
)
def test_messages_show_patterns_as_the_reference_pages_write_them(engine) -> None:
    """Not the schema's engine-neutral spelling: no ``$(?!\\n)``, no white-space class."""
    bad = {**CREATE, "ParticipantPhoneNumbers": ["+12065550100", "12-34"], "Name": "no_underscores"}
    found = validate_request(route("CreateProxySession"), body=body(bad), engine=engine)
    missing = validate_request(route("GetProxySession", LEGACY, connector=" "), engine=engine)
    quote = '"' if isinstance(engine, FastEngine) else "'"
    slash = "\\" if isinstance(engine, FastEngine) else "\\\\"  # repr() doubles it
    messages = sorted(v.message for v in found + missing)
    assert messages == sorted([
        f"{quote}12-34{quote} does not match {quote}^{slash}+?[1-9][0-9]{{1,14}}${quote}",
        f"{quote}no_underscores{quote} does not match {quote}^$|^[a-zA-Z0-9 ]{{0,30}}${quote}",
        f"{quote} {quote} does not match {quote}.*{slash}S.*{quote}",
    ])  # fmt: skip
    assert not any("(?!" in m or "u00a0" in m for m in messages)


@pytest.mark.parametrize(
    "engine", [FastEngine(), ReferenceEngine()], ids=["jsonschema-rs", "jsonschema"]
)
def test_a_clipped_value_says_its_own_length(engine) -> None:
    name = "n" * 355
    (v,) = validate_request(
        route("CreateProxySession"), body=body({**CREATE, "Name": name}), engine=engine
    )
    assert "(355 characters)" in v.message  # the value's length, not the whole message's
    assert v.message.endswith("does not match " + ('"^$|^[a-zA-Z0-9 ]{0,30}$"' if isinstance(engine, FastEngine)
                                                   else "'^$|^[a-zA-Z0-9 ]{0,30}$'"))  # fmt: skip
    numbers = [f"+1206555{i:04d}" for i in range(40)]  # an array too long to quote
    (v,) = validate_request(route("CreateProxySession"), body=body({**CREATE, "ParticipantPhoneNumbers": numbers}),
                            engine=engine)  # fmt: skip
    assert len(v.message) <= MAX_MESSAGE and "(40 items, " in v.message


def test_clip_without_the_value_says_how_much_of_the_message_was_left_out() -> None:
    clipped = clip("m" * 1000)
    assert len(clipped) <= MAX_MESSAGE
    left_out = int(
        re.search(r"\(([\d,]+) characters left out\)", clipped).group(1).replace(",", "")
    )
    assert left_out == 1000 - clipped.count("m")


def test_jsonschema_rs_compiles_every_pattern_without_a_lookaround() -> None:
    """rust_spelling leaves no ``(?`` in a pattern (each one then runs on jsonschema-rs's linear
    engine), changes patterns only, and only their end anchors."""
    from chime_tap.api import schemas
    from chime_tap.api.validation import rust_spelling

    found: list[str] = []

    def patterns(node: Any) -> Any:
        """``node`` without its patterns, which go to ``found`` in document order."""
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                found.append(node["pattern"])
            return {k: None if k == "pattern" else patterns(v) for k, v in node.items()}
        if isinstance(node, list):
            return [patterns(v) for v in node]
        return node

    document = schemas.document()
    rest, found_in_document = patterns(document), found
    found = []
    spelled = rust_spelling(document)
    assert patterns(spelled) == rest  # descriptions (which quote $(?!\\n)) and all else kept
    assert [p.replace("$(?!\\n)", "$") for p in found_in_document] == found
    assert len(found) > 10
    assert not [p for p in found if "(?" in p]
    data = {"const": {"pattern": "x$(?!\\n)"}, "enum": [{"pattern": "x$(?!\\n)"}]}
    assert rust_spelling({"properties": {"a": data}}) == {"properties": {"a": data}}


def _outcome(loads: Any, text: str) -> tuple[str, Any]:
    try:
        return "value", loads(text)
    except (ValueError, RecursionError) as e:
        return type(e).__name__, str(e)


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    value=_JSON_VALUES,
    before=st.sampled_from(["", " ", "\n", "\ufeff", "x", "\t "]),
    after=st.sampled_from(["", " ", "\r\n", "x", "}", ",1", "\x0b"]),
    cut=st.integers(min_value=0, max_value=3),
)
def test_loads_is_json_loads(value: Any, before: str, after: str, cut: int) -> None:
    """The same value, or the same error, as json.loads: on JSON with or without anything
    around it, and cut short."""
    text = before + json.dumps(value) + after
    for t in (text, text[: len(text) - cut]):
        assert _outcome(_loads, t) == _outcome(json.loads, t)


def test_loads_on_texts_json_loads_refuses() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    for text in ("", "  ", "{", '{"a":1} {"b":2}', "\ufeff{}", "NaN", "[1,]", deep):
        assert _outcome(_loads, text) == _outcome(json.loads, text)
