"""The proxy-session operation catalogue: the one place the API's routes are written down.

Everything that needs to know what a call *is* (the recorder, the validator, the simulator,
replay and the reports) asks :func:`classify` or reads :data:`OPERATIONS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from chime_tap.api.hosts import DEFAULT_HOSTS, NAMESPACES, VOICE, HostPolicy

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
    # unquote looks for "%" only once called: the usual id, which has none, is kept without a call.
    params = {"voiceConnectorId": unquote(connector) if "%" in connector else connector}
    if session is not None:
        params["proxySessionId"] = unquote(session) if "%" in session else session
    return Route(op, namespace, params)


def route_of(
    method: str,
    uri: str,
    hosts: HostPolicy = DEFAULT_HOSTS,
    *,
    namespace: Any = None,
    host: str | None = None,
) -> Route | None:
    """Name a recorded call from its method and URI: the one rule every reader follows.

    ``namespace`` is what the recorder noted when it saw the call (``chime_tap.namespace``). It
    was told then which hosts serve the API, so its note decides first; otherwise the URI's
    host does, by ``hosts`` (``host``: the Host header, for a URI without one).
    """
    try:
        parts = urlsplit(uri)
    except ValueError:  # e.g. an unclosed IPv6 bracket: not a call anyone can name
        return None
    path = parts.path or "/"
    if namespace in NAMESPACES:
        route = classify_path(method, path, namespace)
        if route is not None:
            return route
    return classify(method, parts.netloc or host or "", path, hosts)


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
