"""The operation catalogue: five operations in two namespaces, and classify()."""

from __future__ import annotations

import pytest

from chime_tap.api.hosts import LEGACY, VOICE, HostPolicy, HostRule, parse_host_rule
from chime_tap.api.operations import (
    DOCUMENTED_ERRORS,
    FRONT_DOOR_ERRORS,
    OPERATIONS,
    classify,
    classify_path,
    error_type_from_header,
    is_chime_path,
)

CONNECTOR = "abcdef1ghij2klmno3pqr4"
SESSION = "123a4bc5-67d8-901e-2f3g-h4ghjk56789l"
COLLECTION = f"/voice-connectors/{CONNECTOR}/proxy-sessions"
ITEM = f"{COLLECTION}/{SESSION}"

HOSTS = [
    ("service.chime.aws.amazon.com", LEGACY),
    ("chime.us-east-1.amazonaws.com", LEGACY),
    ("voice-chime.us-east-1.amazonaws.com", VOICE),
    ("voice-chime.eu-central-1.amazonaws.com", VOICE),
    ("voice-chime-fips.us-gov-west-1.amazonaws.com", VOICE),
]
ROUTES = [
    ("POST", COLLECTION, "CreateProxySession"),
    ("GET", COLLECTION, "ListProxySessions"),
    ("GET", ITEM, "GetProxySession"),
    ("POST", ITEM, "UpdateProxySession"),
    ("DELETE", ITEM, "DeleteProxySession"),
]


def test_catalogue_has_the_five_documented_operations() -> None:
    table = {
        (op.name, op.method, op.path_template, op.success_status) for op in OPERATIONS.values()
    }
    assert table == {
        ("CreateProxySession", "POST", "/voice-connectors/{voiceConnectorId}/proxy-sessions", 201),
        ("ListProxySessions", "GET", "/voice-connectors/{voiceConnectorId}/proxy-sessions", 200),
        (
            "GetProxySession",
            "GET",
            "/voice-connectors/{voiceConnectorId}/proxy-sessions/{proxySessionId}",
            200,
        ),
        (
            "UpdateProxySession",
            "POST",
            "/voice-connectors/{voiceConnectorId}/proxy-sessions/{proxySessionId}",
            201,
        ),
        (
            "DeleteProxySession",
            "DELETE",
            "/voice-connectors/{voiceConnectorId}/proxy-sessions/{proxySessionId}",
            204,
        ),
    }


def test_every_operation_documents_the_seven_errors() -> None:
    assert DOCUMENTED_ERRORS == {
        "BadRequestException": 400,
        "UnauthorizedClientException": 401,
        "ForbiddenException": 403,
        "NotFoundException": 404,
        "ThrottledClientException": 429,
        "ServiceFailureException": 500,
        "ServiceUnavailableException": 503,
    }
    for op in OPERATIONS.values():
        assert set(op.errors) == set(DOCUMENTED_ERRORS)
    assert not set(FRONT_DOOR_ERRORS) & set(DOCUMENTED_ERRORS)


def test_schema_names_per_part_and_namespace() -> None:
    get, lst = OPERATIONS["GetProxySession"], OPERATIONS["ListProxySessions"]
    assert get.path_schema(LEGACY) == "SessionPathLegacy"
    assert get.path_schema(VOICE) == "SessionPathVoice"
    assert lst.path_schema(VOICE) == "ConnectorPathVoice"
    assert lst.query_schema(LEGACY) == "ListQueryLegacy"
    assert get.query_schema(VOICE) == "NoQuery"
    assert OPERATIONS["DeleteProxySession"].response_schema is None
    assert OPERATIONS["UpdateProxySession"].request_schema == "UpdateProxySessionRequest"


def test_path_for_fills_the_template() -> None:
    op = OPERATIONS["GetProxySession"]
    assert op.path_for(voiceConnectorId=CONNECTOR, proxySessionId=SESSION) == ITEM


@pytest.mark.parametrize(("host", "namespace"), HOSTS)
@pytest.mark.parametrize(("method", "path", "name"), ROUTES)
def test_classify_names_every_operation_in_every_namespace(
    host: str, namespace: str, method: str, path: str, name: str
) -> None:
    route = classify(method, host, path)
    assert route is not None
    assert (route.name, route.namespace) == (name, namespace)
    assert route.voice_connector_id == CONNECTOR
    expected_session = SESSION if path == ITEM else None
    assert route.proxy_session_id == expected_session
    assert route.operation is OPERATIONS[name]


@pytest.mark.parametrize(
    ("method", "host", "path"),
    [
        ("GET", "example.com", ITEM),  # not a Chime host
        ("GET", "s3.us-east-1.amazonaws.com", ITEM),
        ("GET", "voice-chime.us-east-1.amazonaws.com.evil.test", ITEM),
        ("PUT", "voice-chime.us-east-1.amazonaws.com", ITEM),  # no such method on the route
        ("DELETE", "voice-chime.us-east-1.amazonaws.com", COLLECTION),
        ("PATCH", "voice-chime.us-east-1.amazonaws.com", COLLECTION),
        ("GET", "voice-chime.us-east-1.amazonaws.com", "/voice-connectors"),
        ("GET", "voice-chime.us-east-1.amazonaws.com", f"/voice-connectors/{CONNECTOR}"),
        ("GET", "voice-chime.us-east-1.amazonaws.com", f"{ITEM}/participants"),
        ("GET", "voice-chime.us-east-1.amazonaws.com", "/voice-connectors//proxy-sessions"),
        ("GET", "voice-chime.us-east-1.amazonaws.com", f"/v1{ITEM}"),
    ],
)
def test_classify_returns_none_for_anything_else(method: str, host: str, path: str) -> None:
    assert classify(method, host, path) is None


def test_classify_tolerates_case_ports_queries_and_trailing_slash() -> None:
    route = classify("get", "Voice-Chime.US-East-1.amazonaws.com:443", f"{ITEM}/?x=1")
    assert route is not None and route.name == "GetProxySession"
    assert route.proxy_session_id == SESSION
    route = classify("GET", "voice-chime.us-east-1.amazonaws.com", f"{COLLECTION}?status=Open")
    assert route is not None and route.name == "ListProxySessions"


def test_classify_percent_decodes_path_parameters() -> None:
    route = classify(
        "GET", "service.chime.aws.amazon.com", "/voice-connectors/my%20vc/proxy-sessions/a%2Fb"
    )
    assert route is not None
    assert route.path_params == {"voiceConnectorId": "my vc", "proxySessionId": "a/b"}


def test_classify_path_trusts_the_given_namespace() -> None:
    route = classify_path("DELETE", ITEM, LEGACY)
    assert route is not None and (route.name, route.namespace) == ("DeleteProxySession", LEGACY)
    assert is_chime_path(ITEM) and is_chime_path(COLLECTION + "?a=b")
    assert not is_chime_path("/meetings")


def test_loopback_host_is_a_chime_host_only_when_configured() -> None:
    assert classify("GET", "127.0.0.1:9000", ITEM) is None
    hosts = HostPolicy(["127.0.0.1:9000"])
    route = classify("GET", "127.0.0.1:9000", ITEM, hosts)
    assert route is not None and route.namespace == VOICE
    # A port given separately (mitmproxy's flow.request.port) counts too.
    assert classify("GET", "127.0.0.1", ITEM, hosts, port=9000) is not None
    assert classify("GET", "127.0.0.1:9001", ITEM, hosts) is None
    # AWS hosts still count alongside the extra ones, unless turned off.
    assert classify("GET", "chime.us-east-1.amazonaws.com", ITEM, hosts) is not None
    only = HostPolicy(["127.0.0.1=legacy"], aws_hosts=False)
    assert classify("GET", "chime.us-east-1.amazonaws.com", ITEM, only) is None
    route = classify("GET", "127.0.0.1:1234", ITEM, only)
    assert route is not None and route.namespace == LEGACY


def test_host_answers_are_remembered_within_a_bound_and_stay_right() -> None:
    hosts = HostPolicy(["127.0.0.1:9000=legacy"])
    asked = [(f"10.0.{i // 256}.{i % 256}", 9000) for i in range(600)]
    asked[::50] = [("127.0.0.1", 9000)] * len(asked[::50])
    asked[1::50] = [("voice-chime.us-east-1.amazonaws.com", None)] * len(asked[1::50])
    for host, port in asked * 2:
        fresh = HostPolicy(["127.0.0.1:9000=legacy"]).namespace_of(host, port)
        assert hosts.namespace_of(host, port) == fresh
        assert len(hosts._answers) <= HostPolicy._MAX_ANSWERS
    assert hosts.namespace_of("127.0.0.1", 9000) == LEGACY
    assert hosts.namespace_of("voice-chime.us-east-1.amazonaws.com") == VOICE
    assert hosts.namespace_of("10.0.0.1", 9000) is None


def test_any_host_rule() -> None:
    hosts = HostPolicy(["*=legacy"])
    route = classify("POST", "localhost:8080", COLLECTION, hosts)
    assert route is not None and route.namespace == LEGACY
    # A user rule wins over the built-in namespace of an AWS host.
    route = classify("POST", "voice-chime.us-east-1.amazonaws.com", COLLECTION, hosts)
    assert route is not None and route.namespace == LEGACY


@pytest.mark.parametrize(
    ("spec", "rule"),
    [
        ("127.0.0.1:9000", HostRule("127.0.0.1", 9000, VOICE)),
        ("LocalHost=Legacy", HostRule("localhost", None, LEGACY)),
        ("[::1]:8443=voice", HostRule("::1", 8443, VOICE)),
        ("*", HostRule("*", None, VOICE)),
        (" sim.test:80 = legacy ", HostRule("sim.test", 80, LEGACY)),
    ],
)
def test_parse_host_rule(spec: str, rule: HostRule) -> None:
    assert parse_host_rule(spec) == rule


def test_ipv6_host_with_port_in_the_host_string() -> None:
    hosts = HostPolicy(["[::1]:8443"])
    assert classify("GET", "[::1]:8443", ITEM, hosts) is not None
    assert classify("GET", "[::1]:8444", ITEM, hosts) is None


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("127.0.0.1:99999", "bad port"),
        ("127.0.0.1:http", "bad port"),
        ("127.0.0.1=sdk", "unknown namespace"),
        ("=voice", "empty host"),
        ("", "empty host"),
        # A URL is the easy mistake: it names the HOST:PORT to give instead.
        ("http://127.0.0.1:9000", "is a URL: give HOST\\[:PORT\\] \\(here '127.0.0.1:9000'\\)"),
        ("https://sim.test/path=legacy", "is a URL.*'sim.test'"),
        (":::bad", "bad IPv6 address"),
        ("[::1]x", "bad host"),
        ("[nope]:80", "bad IPv6 address"),
        ("foo bar", "bad host 'foo bar'"),
        ("x/y:80", "bad host 'x/y'"),
    ],
)
def test_parse_host_rule_refuses_bad_specs_with_the_reason(spec: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_host_rule(spec)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("NotFoundException", "NotFoundException"),
        (
            "NotFoundException:http://internal.amazon.com/coral/com.amazonaws.chime/",
            "NotFoundException",
        ),
        ("com.amazonaws.chime#BadRequestException", "BadRequestException"),
        (" ThrottledClientException ", "ThrottledClientException"),
        ("", None),
        (None, None),
    ],
)
def test_error_type_from_header(header: str | None, expected: str | None) -> None:
    assert error_type_from_header(header) == expected
