"""The simulated service's wire behaviour: a classified request in, status + headers + body out.

Requests are checked with the same schemas as everywhere else (``validate_request``); the
answers have the service's shape: ``x-amzn-RequestId``, ``Content-Type: application/json``,
``Date``, error type in ``x-amzn-ErrorType`` and ``{"Code", "Message"}`` bodies.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate
from functools import lru_cache
from typing import Any

from chime_tap.api.hosts import LEGACY, HostPolicy
from chime_tap.api.operations import Route, is_chime_path
from chime_tap.api.validation import parse_json_body, query_instance, validate_request
from chime_tap.simulator.store import SessionStore, SimError, bad_request

# The largest page each namespace allows (ListProxySessions max-results), also the default.
PAGE_LIMIT = {LEGACY: 99}
DEFAULT_PAGE_LIMIT = 100

REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class SimResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def reason(self) -> str:
        return REASONS.get(self.status, "")


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


@lru_cache(maxsize=4)
def _http_date(second: int) -> str:
    return formatdate(second, usegmt=True)


def _headers(now: float, body: bytes, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    headers = {"x-amzn-RequestId": str(uuid.uuid4())}
    if body:
        headers["Content-Type"] = "application/json"
    headers["Content-Length"] = str(len(body))
    headers["Date"] = _http_date(int(now))
    headers["Connection"] = "keep-alive"
    if extra:
        headers.update(extra)
    return headers


def success(status: int, doc: Any, now: float) -> SimResponse:
    body = b"" if doc is None else _dumps(doc)
    return SimResponse(status, _headers(now, body), body)


def error_response(error: SimError, now: float) -> SimResponse:
    body = _dumps({"Code": error.code, "Message": error.message})
    return SimResponse(
        error.status, _headers(now, body, {"x-amzn-ErrorType": error.error_type}), body
    )


def front_door_error(status: int, error_type: str, message: str, now: float) -> SimResponse:
    """An error of the AWS front door (no such route, ...): ``{"message": ...}``."""
    body = _dumps({"message": message})
    return SimResponse(status, _headers(now, body, {"x-amzn-ErrorType": error_type}), body)


def describe_violations(violations) -> str:
    n = len(violations)
    detail = "; ".join(str(v) for v in violations)
    return f"{n} validation error{'s' if n != 1 else ''} detected: {detail}"


def answer(
    store: SessionStore,
    route: Route,
    *,
    query: Mapping[str, Any] | None,
    body: bytes | None,
    now: float,
) -> SimResponse:
    """What the service answers to one proxy-session call, given the store's state at ``now``."""
    try:
        return success(
            route.operation.success_status, _call(store, route, query or {}, body, now), now
        )
    except SimError as e:
        return error_response(e, now)


def _call(
    store: SessionStore, route: Route, query: Mapping[str, Any], body: bytes | None, now: float
) -> Any:
    violations = validate_request(route, query=query, body=body)
    if violations:
        raise bad_request(describe_violations(violations))
    name, namespace = route.name, route.namespace
    connector = route.voice_connector_id or ""
    session_id = route.proxy_session_id or ""
    if name == "CreateProxySession":
        return {"ProxySession": store.create(namespace, connector, _json(body), now)}
    if name == "GetProxySession":
        return {"ProxySession": store.get(namespace, connector, session_id, now)}
    if name == "UpdateProxySession":
        return {"ProxySession": store.update(namespace, connector, session_id, _json(body), now)}
    if name == "DeleteProxySession":
        store.delete(namespace, connector, session_id, now)
        return None
    q, _ = query_instance(query)
    limit = PAGE_LIMIT.get(namespace, DEFAULT_PAGE_LIMIT)
    sessions, token = store.list(
        namespace,
        connector,
        now,
        status=q.get("status"),
        max_results=q.get("max-results", limit),
        next_token=q.get("next-token") or None,
    )
    return {"NextToken": token, "ProxySessions": sessions}


def _json(body: bytes | None) -> dict[str, Any]:
    parsed, _ = parse_json_body(body)
    return parsed  # validated already: an object


def not_a_session_call(
    hosts: HostPolicy,
    host: str,
    port: int | None,
    method: str,
    path: str,
    *,
    offline: bool,
    now: float,
) -> SimResponse | None:
    """The answer to a request that is no proxy-session call; None: let it go upstream.

    On a Chime host the front door answers 404 (no such route); any other host gets a 502
    while the simulator is offline.
    """
    if hosts.namespace_of(host, port) is not None:
        what = "method not allowed" if is_chime_path(path) else "no such operation"
        message = f"{what}: {method} {path.split('?')[0]}"
        return front_door_error(404, "UnknownOperationException", message, now)
    if not offline:
        return None
    message = (
        f"chime-tap simulator: {host} is not a Chime host and the simulator never goes upstream "
        "(add it with --hosts / chime_hosts)"
    )
    body = message.encode()
    return SimResponse(502, {"Content-Type": "text/plain", "Content-Length": str(len(body))}, body)
