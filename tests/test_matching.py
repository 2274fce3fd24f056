"""Matching rules and the request index, without a proxy: data in, data out."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vcr.request import Request

from chime_tap.cassettes.format import is_unanswered
from chime_tap.cassettes.phones import redact_phone_numbers_in_body
from chime_tap.jsondoc import json_difference
from chime_tap.matching import (
    DEFAULT_MATCH_ON,
    MATCHERS,
    Exhausted,
    Hit,
    RequestIndex,
    check_match_on,
    chime_host,
    chime_method,
    chime_path,
    chime_query,
    json_body,
    normalize_body,
    normalize_query,
    parts_from_target,
    parts_from_uri,
    signed_headers,
)

BASE = "https://voice-chime.us-east-1.amazonaws.com/voice-connectors/abcdef1ghij2klmno3pqr4/proxy-sessions"


def req(method="GET", uri=BASE + "/s1", body=None, headers=None) -> Request:
    return Request(method, uri, body, headers or {})


def test_json_body_ignores_key_order_and_whitespace():
    a = req("POST", body=b'{"Capabilities": ["Voice"], "ExpiryMinutes": 60}')
    b = req("POST", body=b'{\n  "ExpiryMinutes":60,"Capabilities":["Voice"]}')
    assert json_body(a, b) is None


def test_json_body_names_the_json_pointer_that_differs():
    a = req(
        "POST",
        body=json.dumps(
            {"ExpiryMinutes": 30, "GeoMatchParams": {"Country": "US", "AreaCode": "206"}}
        ),
    )
    b = req(
        "POST",
        body=json.dumps(
            {"ExpiryMinutes": 30, "GeoMatchParams": {"Country": "US", "AreaCode": "212"}}
        ),
    )
    with pytest.raises(
        AssertionError, match=r'at /GeoMatchParams/AreaCode: this request "206", recorded "212"'
    ):
        json_body(a, b)


def test_json_body_reports_a_missing_member_and_list_items():
    with pytest.raises(AssertionError, match=r"at /Name: this request missing, recorded \"x\""):
        json_body(req("POST", body="{}"), req("POST", body='{"Name": "x"}'))
    with pytest.raises(
        AssertionError, match=r'at /Capabilities/1: this request "SMS", recorded missing'
    ):
        json_body(
            req("POST", body='{"Capabilities": ["Voice", "SMS"]}'),
            req("POST", body='{"Capabilities": ["Voice"]}'),
        )


def test_json_body_compares_other_bodies_byte_for_byte():
    assert json_body(req(body=b"abc"), req(body="abc")) is None
    with pytest.raises(AssertionError, match="non-JSON"):
        json_body(req(body=b"abc"), req(body=b"abd"))
    # No body and an empty body are the same request.
    assert json_body(req(body=None), req(body=b"")) is None


def test_json_body_matches_a_recording_whose_phone_numbers_were_pseudonymized():
    real = json.dumps(
        {"ParticipantPhoneNumbers": ["+14015550101", "+14015550102"], "Capabilities": ["Voice"]}
    )
    recorded = redact_phone_numbers_in_body(real)
    assert recorded != real
    assert json_body(req("POST", body=real), req("POST", body=recorded)) is None
    # ... but not a different real number.
    other = real.replace("0102", "0103")
    with pytest.raises(AssertionError, match="/ParticipantPhoneNumbers/1"):
        json_body(req("POST", body=other), req("POST", body=recorded))


def test_signing_headers_and_query_parameters_never_decide_a_match():
    a = req(
        uri=BASE + "?status=Open&X-Amz-Date=20240101T000000Z&X-Amz-Signature=aaa",
        headers={
            "Authorization": "AWS4-HMAC-SHA256 Credential=A/1",
            "X-Amz-Date": "20240101T000000Z",
            "amz-sdk-invocation-id": "1",
            "amz-sdk-request": "attempt=1",
            "User-Agent": "boto3/1",
            "Accept": "application/json",
        },
    )
    b = req(
        uri=BASE + "?X-Amz-Signature=bbb&status=Open&X-Amz-Date=20250101T000000Z",
        headers={
            "authorization": "REDACTED",
            "x-amz-date": "20250101T000000Z",
            "amz-sdk-invocation-id": "2",
            "amz-sdk-request": "attempt=2",
            "user-agent": "aws-cli/1",
            "X-Amz-Security-Token": "t",
            "accept": "application/json",
        },
    )
    for name in DEFAULT_MATCH_ON:
        assert MATCHERS[name](a, b) is None, name
    assert signed_headers(a, b) is None
    c = req(headers={"Accept": "text/plain"})
    with pytest.raises(
        AssertionError, match=r"accept \(this request 'text/plain', recorded 'application/json'\)"
    ):
        signed_headers(c, b)


def test_each_matcher_says_what_differs():
    with pytest.raises(AssertionError, match="method: this request DELETE, recorded GET"):
        chime_method(req("delete"), req("GET"))
    with pytest.raises(
        AssertionError, match=r"host: this request voice-chime.us-west-2.amazonaws.com:443"
    ):
        chime_host(req(uri=BASE.replace("us-east-1", "us-west-2")), req())
    with pytest.raises(AssertionError, match=r"path: this request .*/s2, recorded .*/s1"):
        chime_path(req(uri=BASE + "/s2"), req())
    with pytest.raises(AssertionError, match=r"query: this request has \[\('status', 'Closed'\)\]"):
        chime_query(req(uri=BASE + "?status=Closed"), req(uri=BASE + "?status=Open"))
    # Ports: the scheme's default is filled in, an explicit other port differs.
    assert chime_host(req(uri="https://h.example:443/x"), req(uri="https://H.example/x")) is None
    with pytest.raises(AssertionError, match=r"h\.example:80"):
        chime_host(req(uri="http://h.example/x"), req(uri="https://h.example/x"))


def test_json_difference_escapes_pointer_tokens_and_tells_types_apart():
    assert json_difference({"a/b": {"~": 1}}, {"a/b": {"~": 2}}) == ("/a~1b/~0", 1, 2)
    assert json_difference({"n": 1}, {"n": 1.5})[0] == "/n"
    assert json_difference({"n": True}, {"n": 1}) == ("/n", True, 1)
    assert json_difference([1, 2], [1, 2]) is None


def test_normalizers():
    assert normalize_query("b=2&a=1&X-Amz-Credential=x&a=0") == (("a", "0"), ("a", "1"), ("b", "2"))
    assert normalize_body(b' {"b": 1, "a": [1, 2]} ') == '{"a":[1,2],"b":1}'
    assert normalize_body(b"{not json") == b"{not json"
    assert (
        parts_from_uri("get", BASE + "/s1?x=1", None).key
        == parts_from_target(
            "GET",
            "https",
            "VOICE-CHIME.us-east-1.amazonaws.com",
            443,
            "/voice-connectors/abcdef1ghij2klmno3pqr4/proxy-sessions/s1?x=1",
            b"",
        ).key
    )


def test_check_match_on_lists_the_valid_names():
    assert check_match_on(["chime_path"], MATCHERS) == ("chime_path",)
    with pytest.raises(
        ValueError, match=r"unknown matcher.*'bodyy'.*valid: chime_host, chime_method"
    ):
        check_match_on(["chime_path", "bodyy"], MATCHERS)


def _index(calls, exhausted="repeat") -> RequestIndex:
    index = RequestIndex(exhausted)
    for n, (method, uri, body) in enumerate(calls):
        index.add(parts_from_uri(method, uri, body), n)
    return index


def test_identical_calls_replay_in_recorded_order_then_the_last_repeats():
    index = _index(
        [("GET", BASE + "/s1", None), ("POST", BASE + "/s1", "{}"), ("GET", BASE + "/s1", None)]
    )
    get = parts_from_uri("GET", BASE + "/s1", None)
    found = [index.lookup(get) for _ in range(4)]
    assert [f.entry for f in found] == [0, 2, 2, 2]
    assert [f.repeated for f in found] == [False, False, True, True]
    index.rewind()
    assert index.lookup(get).entry == 0


def test_exhausted_fail_says_so_instead_of_repeating():
    index = _index([("GET", BASE + "/s1", None)], exhausted="fail")
    get = parts_from_uri("GET", BASE + "/s1", None)
    assert isinstance(index.lookup(get), Hit)
    assert index.lookup(get) == Exhausted(get.key, 1)
    with pytest.raises(ValueError, match="repeat, fail"):
        RequestIndex("sometimes")


def test_index_finds_pseudonymized_recordings_and_misses_others():
    real = json.dumps(
        {"ParticipantPhoneNumbers": ["+14015550101", "+14015550102"], "Capabilities": ["Voice"]}
    )
    index = _index([("POST", BASE, redact_phone_numbers_in_body(real))])
    assert index.lookup(parts_from_uri("POST", BASE, real)).entry == 0
    assert index.lookup(parts_from_uri("POST", BASE, real.replace("Voice", "SMS"))) is None


def test_closest_prefers_the_same_path_and_names_the_failed_matchers():
    calls = [("GET", BASE + f"/s{i}", None) for i in range(50)] + [
        ("POST", BASE + "/s7", '{"ExpiryMinutes": 60}')
    ]
    index = _index(calls)
    live = req("POST", BASE + "/s7", '{"ExpiryMinutes": 30}')
    n, failed = index.closest(
        live, lambda n: req(*calls[n]), [MATCHERS[m] for m in DEFAULT_MATCH_ON]
    )
    assert n == 50
    assert failed == [("json_body", "body differs at /ExpiryMinutes: this request 30, recorded 60")]


def test_a_failed_call_is_never_served_nor_closest_but_is_named_on_a_miss():
    assert is_unanswered({"status": {"code": 0, "message": "chime-tap: no response (reset)"}})
    assert not is_unanswered({"status": {"code": 200, "message": "OK"}})
    index = RequestIndex(exhausted="repeat")
    s1 = parts_from_uri("GET", BASE + "/s1", None)
    index.add_unanswered(s1, "s1 failed")
    assert index.lookup(s1) is None and len(index) == 0 and index.unanswered == 1
    index.add(parts_from_uri("GET", BASE + "/s2", None), "s2 answered")
    index.add(s1, "s1 retried")
    assert [index.lookup(s1).entry for _ in range(2)] == ["s1 retried", "s1 retried"]
    s3 = parts_from_uri("GET", BASE + "/s3", None)
    index.add_unanswered(s3, "s3 failed")
    assert index.lookup(s3) is None
    assert index.unanswered_for(s3) == ["s3 failed"] and index.unanswered_for(s1) == ["s1 failed"]
    entries = {0: req("GET", BASE + "/s2"), 1: req("GET", BASE + "/s1")}
    n, failed = index.closest(
        req("GET", BASE + "/s3"), entries.__getitem__, [MATCHERS[m] for m in DEFAULT_MATCH_ON]
    )
    assert index.entries[n] == "s2 answered" and [name for name, _ in failed] == ["chime_path"]


LEGACY_BASE = BASE.replace("voice-chime.us-east-1.amazonaws.com", "service.chime.aws.amazon.com")


def test_the_closest_rule_same_operation_then_fewest_failures_then_same_path_then_earliest():
    def closest_to(live, calls):
        index = _index(calls)
        found = index.closest(
            req(*live), lambda n: req(*calls[n]), [MATCHERS[m] for m in DEFAULT_MATCH_ON]
        )
        n, failed = found
        return n, [name for name, _ in failed]

    delete_s1 = ("DELETE", BASE + "/s1", None)
    get_s1 = ("GET", BASE + "/s1", None)
    # 1. The same operation first: a Get two matchers away beats a Delete one matcher away.
    assert closest_to(get_s1, [delete_s1, ("GET", LEGACY_BASE + "/s2", None)]) == (
        1,
        ["chime_host", "chime_path"],
    )
    # 2. Then the fewest failing matchers.
    assert closest_to(
        get_s1, [("GET", LEGACY_BASE + "/s2", None), ("GET", BASE + "/s3", None)]
    ) == (1, ["chime_path"])
    # 3. Then the same path: one matcher each, the one recorded on this path.
    assert closest_to(
        get_s1, [("GET", BASE + "/s3", None), ("GET", LEGACY_BASE + "/s1", None)]
    ) == (1, ["chime_host"])
    # 4. Then the earliest recorded.
    assert closest_to(get_s1, [("GET", BASE + "/s3", None), ("GET", BASE + "/s4", None)]) == (
        0,
        ["chime_path"],
    )
    # A request that is no proxy-session call has no operation: failures decide.
    other = ("GET", BASE.rsplit("/", 1)[0] + "/other", None)
    assert closest_to(other, [delete_s1, get_s1, ("GET", BASE, None)]) == (1, ["chime_path"])


def test_by_default_the_index_says_when_identical_calls_outnumber_the_recording():
    index = RequestIndex()
    assert index.exhausted == "fail"
    get = parts_from_uri("GET", BASE + "/s1", None)
    index.add(get, "only")
    assert index.lookup(get).entry == "only"
    assert index.lookup(get) == Exhausted(get.key, 1)


def test_a_body_nested_too_deeply_to_parse_matches_as_bytes() -> None:
    """A recorded 100,000-level JSON body (bad input the recorder kept) must not stop replay."""
    deep = b"[" * 100_000 + b"]" * 100_000
    assert normalize_body(deep) == deep
    assert normalize_body(b'{"b": 1, "a": [2]}') == '{"a":[2],"b":1}'


def _parts_by_urlsplit(uri: str) -> tuple:
    """What parts_from_uri said before it split origins once: urlsplit on every URI."""
    from urllib.parse import urlsplit

    from chime_tap.matching import normalize_authority, normalize_path, normalize_query

    u = urlsplit(uri)
    try:
        port = u.port
    except ValueError:
        port = None
    authority = normalize_authority(u.scheme, u.hostname or "", port)
    return authority, normalize_path(u.path), normalize_query(u.query)


@settings(max_examples=400, deadline=None)
@given(
    scheme=st.sampled_from(["http://", "https://", "HTTP://", "ftp://", " http://", "http:/"]),
    rest=st.lists(
        st.sampled_from([*"aZ09.-_:@[]/?#&=%+ \t\n\u00e9\u3002", "::1", ":8443", "\uff03"]),
        max_size=20,
    ).map("".join),
)
def test_parts_from_uri_splits_as_urlsplit_does(scheme: str, rest: str) -> None:
    uri = scheme + rest
    try:
        expected = _parts_by_urlsplit(uri)
    except ValueError:  # urlsplit refuses it (IPv6 brackets, NFKC): so does the fast path
        with pytest.raises(ValueError):
            parts_from_uri("GET", uri, None)
        return
    got = parts_from_uri("GET", uri, None)
    assert (got.authority, got.path, got.query) == expected
