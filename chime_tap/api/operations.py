"""The proxy-session operation catalogue: the one place the API's routes are written down.

Everything that needs to know what a call *is* (the recorder, the validator, the simulator,
replay and the reports) asks :func:`classify` or reads :data:`OPERATIONS`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote

LEGACY = "legacy"
VOICE = "voice"
NAMESPACES = (LEGACY, VOICE)

# The error types every proxy-session operation documents, with their status codes.
DOCUMENTED_ERRORS: dict[str, int] = {
    "BadRequestException": 400,
    "UnauthorizedClientException": 401,
    "ForbiddenException": 403,
    "NotFoundException": 404,
    "ThrottledClientException": 429,
    "ServiceFailureException": 500,
    "ServiceUnavailableException": 503,
}

# Errors raised by the AWS front door before the service sees the call (signature, token,
# credentials). Their body is ``{"message": "..."}`` rather than ``{"Code", "Message"}``.
FRONT_DOOR_ERRORS: dict[str, int] = {
    "IncompleteSignatureException": 400,
    "InvalidSignatureException": 403,
    "SignatureDoesNotMatch": 403,
    "ExpiredTokenException": 403,
    "UnrecognizedClientException": 403,
    "InvalidClientTokenId": 403,
    "MissingAuthenticationTokenException": 403,
    "AccessDeniedException": 403,
    "ThrottlingException": 429,
}


@dataclass(frozen=True)
class Parameter:
    """A path or query parameter: its wire name and the model member it carries."""

    wire_name: str
    member: str
    required: bool


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    path_template: str
    success_status: int
    path_params: tuple[Parameter, ...]
    query_params: tuple[Parameter, ...] = ()
    # $defs names in the schema document (see chime_tap/api/schemas/); None means "no body". The
    # response's name is the legacy one; response_schema_for() gives each namespace's.
    request_schema: str | None = None
    response_schema: str | None = None
    errors: tuple[str, ...] = tuple(DOCUMENTED_ERRORS)

    @property
    def has_session_id(self) -> bool:
        return any(p.wire_name == "proxySessionId" for p in self.path_params)

    def path_schema(self, namespace: str) -> str:
        """The $defs name of this operation's path parameters in ``namespace``."""
        kind = "SessionPath" if self.has_session_id else "ConnectorPath"
        return kind + namespace.capitalize()

    def query_schema(self, namespace: str) -> str:
        """The $defs name of this operation's query parameters in ``namespace``."""
        return "ListQuery" + namespace.capitalize() if self.query_params else "NoQuery"

    def response_schema_for(self, namespace: str) -> str | None:
        """The $defs name of this operation's success body in ``namespace``; None: no body."""
        if self.response_schema is None:
            return None
        return self.response_schema + ("Voice" if namespace == VOICE else "")

    def path_for(self, **params: str) -> str:
        """Fill the path template, e.g. ``path_for(voiceConnectorId="abc")``."""
        return self.path_template.format(**params)


_CONNECTOR = Parameter("voiceConnectorId", "VoiceConnectorId", True)
_SESSION = Parameter("proxySessionId", "ProxySessionId", True)
_COLLECTION = "/voice-connectors/{voiceConnectorId}/proxy-sessions"
_ITEM = _COLLECTION + "/{proxySessionId}"

OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation(
            "CreateProxySession",
            "POST",
            _COLLECTION,
            201,
            (_CONNECTOR,),
            request_schema="CreateProxySessionRequest",
            response_schema="ProxySessionResponse",
        ),
        Operation(
            "ListProxySessions",
            "GET",
            _COLLECTION,
            200,
            (_CONNECTOR,),
            query_params=(
                Parameter("status", "Status", False),
                Parameter("next-token", "NextToken", False),
                Parameter("max-results", "MaxResults", False),
            ),
            response_schema="ListProxySessionsResponse",
        ),
        Operation(
            "GetProxySession",
            "GET",
            _ITEM,
            200,
            (_CONNECTOR, _SESSION),
            response_schema="ProxySessionResponse",
        ),
        Operation(
            "UpdateProxySession",
            "POST",
            _ITEM,
            201,
            (_CONNECTOR, _SESSION),
            request_schema="UpdateProxySessionRequest",
            response_schema="ProxySessionResponse",
        ),
        Operation(
            "DeleteProxySession",
            "DELETE",
            _ITEM,
            204,
            (_CONNECTOR, _SESSION),
        ),
    )
}

# (method, has proxySessionId) -> operation; the route table classify() consults.
_ROUTES: dict[tuple[str, bool], Operation] = {
    (op.method, op.has_session_id): op for op in OPERATIONS.values()
}
_PATH_RE = re.compile(r"^/voice-connectors/([^/]+)/proxy-sessions(?:/([^/]+))?/?$")


@dataclass(frozen=True)
class Route:
    """What a request is: which operation, in which namespace, with which path parameters."""

    operation: Operation
    namespace: str
    path_params: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.operation.name

    @property
    def voice_connector_id(self) -> str | None:
        return self.path_params.get("voiceConnectorId")

    @property
    def proxy_session_id(self) -> str | None:
        return self.path_params.get("proxySessionId")


# --- hosts ------------------------------------------------------------------------------------

_DEFAULT_HOST_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^service\.chime\.aws\.amazon\.com$"), LEGACY),
    (re.compile(r"^chime\.[a-z0-9-]+\.amazonaws\.com$"), LEGACY),
    (re.compile(r"^voice-chime(-fips)?\.[a-z0-9-]+\.amazonaws\.com$"), VOICE),
)


@dataclass(frozen=True)
class HostRule:
    """One user-given host: ``HOST``, ``HOST:PORT``, ``*`` (any host), each optionally ``=NAMESPACE``."""

    host: str
    port: int | None
    namespace: str

    def matches(self, host: str, port: int | None) -> bool:
        if self.host != "*" and self.host != host:
            return False
        return self.port is None or self.port == port


def parse_host_rule(spec: str) -> HostRule:
    """Parse ``HOST[:PORT][=legacy|voice]``; raise ValueError with the reason."""
    text, _, namespace = spec.strip().partition("=")
    namespace = namespace.strip().lower() or VOICE
    if namespace not in NAMESPACES:
        raise ValueError(
            f"unknown namespace {namespace!r} in {spec!r} (use one of: {', '.join(NAMESPACES)})"
        )
    text = text.strip().lower()
    if not text:
        raise ValueError(f"empty host in {spec!r}")
    host, port = text, None
    if text.startswith("["):  # [::1]:8080
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":"):
            port = _parse_port(rest[1:], spec)
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = _parse_port(port_text, spec)
    return HostRule(host, port, namespace)


def _parse_port(text: str, spec: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"bad port {text!r} in {spec!r}")
    return int(text)


class HostPolicy:
    """Which hosts carry the Chime API: AWS's own hosts plus any the user adds.

    A policy does not change once built, so it remembers its answers: a proxy asks about the
    same few hosts on every flow.
    """

    _MAX_ANSWERS = 256  # hosts remembered; the memo starts over when full

    def __init__(self, extra: Iterable[HostRule | str] = (), *, aws_hosts: bool = True) -> None:
        self.rules = tuple(parse_host_rule(r) if isinstance(r, str) else r for r in extra)
        self.aws_hosts = aws_hosts
        self._answers: dict[tuple[str, int | None], str | None] = {}

    def namespace_of(self, host: str, port: int | None = None) -> str | None:
        """The namespace a host serves, or None when it is not a Chime host."""
        key = (host, port)
        if key in self._answers:
            return self._answers[key]
        if len(self._answers) >= self._MAX_ANSWERS:
            self._answers.clear()
        answer = self._answers[key] = self._namespace_of(host, port)
        return answer

    def _namespace_of(self, host: str, port: int | None) -> str | None:
        host, port = _split_host(host, port)
        for rule in self.rules:
            if rule.matches(host, port):
                return rule.namespace
        if self.aws_hosts:
            for pattern, namespace in _DEFAULT_HOST_RULES:
                if pattern.match(host):
                    return namespace
        return None

    def __repr__(self) -> str:
        return f"HostPolicy({list(self.rules)!r}, aws_hosts={self.aws_hosts})"


def _split_host(host: str, port: int | None) -> tuple[str, int | None]:
    host = host.strip().lower()
    if host.startswith("["):
        inner, _, rest = host[1:].partition("]")
        if rest.startswith(":") and rest[1:].isdigit():
            port = port or int(rest[1:])
        return inner, port
    if host.count(":") == 1:
        name, _, port_text = host.partition(":")
        if port_text.isdigit():
            return name, port or int(port_text)
    return host, port


DEFAULT_HOSTS = HostPolicy()


def classify(
    method: str,
    host: str,
    path: str,
    hosts: HostPolicy = DEFAULT_HOSTS,
    port: int | None = None,
) -> Route | None:
    """Name a request: the proxy-session operation it calls, or None when it is not one.

    ``path`` may carry a query string; it is ignored here. Path parameters are percent-decoded.
    """
    namespace = hosts.namespace_of(host, port)
    if namespace is None:
        return None
    return classify_path(method, path, namespace)


def classify_path(method: str, path: str, namespace: str) -> Route | None:
    """Name a request on a host already known to serve ``namespace``."""
    path = path.split("?", 1)[0]
    m = _PATH_RE.match(path)
    if m is None:
        return None
    connector, session = m.group(1), m.group(2)
    op = _ROUTES.get((method.upper(), session is not None))
    if op is None:
        return None
    params = {"voiceConnectorId": unquote(connector)}
    if session is not None:
        params["proxySessionId"] = unquote(session)
    return Route(op, namespace, params)


def is_chime_path(path: str) -> bool:
    """True when the path is under the proxy-session routes, whatever the method."""
    return _PATH_RE.match(path.split("?", 1)[0]) is not None


_ATTEMPT_RE = re.compile(r"^/voice-connectors/[^/?]+/proxy-sessions(?:[/?]|$)")


def is_proxy_session_attempt(path: str) -> bool:
    """True when the path is meant for the proxy-session API: under its prefix, well-formed or not.

    Other paths on a Chime host belong to other APIs (GetVoiceConnector, ...): not our calls.
    """
    return _ATTEMPT_RE.match(path) is not None


def error_type_from_header(value: str | None) -> str | None:
    """``x-amzn-ErrorType: NotFoundException:http://...`` -> ``NotFoundException``.

    A namespace prefix (``com.amazonaws.chime#NotFoundException``) is dropped, as botocore does.
    """
    if not value:
        return None
    return value.split(":", 1)[0].rsplit("#", 1)[-1].strip() or None
