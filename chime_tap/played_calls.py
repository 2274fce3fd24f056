"""What a test did: the calls its cassette replayed or recorded, and assertions about them.

The pytest plugin's ``chime_calls`` fixture is a :class:`Calls` over the test's cassette::

    chime_calls.assert_called("GetProxySession", times=2, ProxySessionId="ps-1")
    chime_calls.assert_order(["CreateProxySession", "UpdateProxySession", "DeleteProxySession"])
    chime_calls.assert_all_played()

Parameters are named as the API model (and boto3) names them: ``VoiceConnectorId`` and
``ProxySessionId`` from the path, ``Status``, ``NextToken``, ``MaxResults`` from the query (as
the strings the URL carries), and the JSON body's top-level members (``Capabilities``, ...).
Operations are named either way: ``GetProxySession`` or ``get_proxy_session``. A parameter name
the operation does not have (and no call of it in the test carries) is refused with a ValueError,
so a misspelled name cannot match nothing and let ``times=0`` pass.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from chime_tap.api.hosts import VOICE
from chime_tap.api.operations import OPERATIONS, Operation, classify_path
from chime_tap.api.schemas import document

__all__ = [
    "RECORDED",
    "REPLAYED",
    "Call",
    "Calls",
    "call_of",
    "operation_name",
    "parameter_names",
]

REPLAYED = "replayed"
RECORDED = "recorded"
_SNAKE = {name.lower(): name for name in OPERATIONS}


@dataclass(frozen=True)
class Call:
    """One call a test made: what it called, with which parameters, and what it got."""

    operation: str | None  # None: not a proxy-session call
    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    status: int | None = None
    source: str = REPLAYED  # replayed from the cassette, or recorded (sent to the service)
    interaction: str = ""  # "name.yaml #3": the recorded interaction that answered it

    def describe(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in sorted(self.params.items()))
        what = self.operation or f"{self.method} {self.path}"
        return f"{what}({shown}) -> {self.status} [{self.source} {self.interaction}]".rstrip()


def _json_members(body: Any) -> dict[str, Any]:
    if isinstance(body, bytes | bytearray):
        body = bytes(body).decode("utf-8", "replace")
    if not isinstance(body, str) or not body.strip():
        return {}
    try:
        doc = json.loads(body)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _route_members(op: Operation) -> dict[str, str]:
    """Wire name -> model name of the operation's path and query parameters."""
    return {p.wire_name: p.member for p in (*op.path_params, *op.query_params)}


def _body_members(schema_name: str | None) -> list[str]:
    """The top-level members the request body's JSON Schema defines (none without a body)."""
    return list(document()["$defs"][schema_name]["properties"]) if schema_name else []


def parameter_names(operation: str) -> tuple[str, ...]:
    """The parameters a call of ``operation`` carries (see :func:`call_of`), in catalogue order.

    The route's path and query parameters by their model names, then the request body's members
    as its JSON Schema defines them. Both namespaces share them: same routes, same schemas' names.
    """
    op = OPERATIONS[operation_name(operation)]
    route = list(dict.fromkeys(_route_members(op).values()))
    return (*route, *(n for n in _body_members(op.request_schema) if n not in route))


def call_of(
    method: str,
    uri: str,
    body: Any,
    status: int | None,
    source: str = REPLAYED,
    interaction: str = "",
) -> Call:
    """The :class:`Call` a request (method, absolute URI, body) and its status make."""
    url = urlsplit(uri)
    path = url.path or "/"
    route = classify_path(method, path, VOICE)
    if route is None:
        return Call(None, method.upper(), path, {}, status, source, interaction)
    op = route.operation
    params: dict[str, Any] = {}
    members = _route_members(op)
    for wire, value in route.path_params.items():
        params[members.get(wire, wire)] = value
    for wire, value in parse_qsl(url.query, keep_blank_values=True):
        if wire in members:
            params[members[wire]] = unquote(value)
    params.update(_json_members(body))
    return Call(op.name, method.upper(), path, params, status, source, interaction)


def operation_name(name: str) -> str:
    """``GetProxySession`` from itself or ``get_proxy_session``; ValueError naming the five."""
    found = name if name in OPERATIONS else _SNAKE.get(str(name).replace("_", "").lower())
    if found is None:
        raise ValueError(f"unknown operation {name!r}: one of {', '.join(OPERATIONS)}")
    return found


def _check_params(operation: str, params: dict[str, Any], calls: Iterable[Call]) -> None:
    """ValueError naming each of ``params`` that no call of ``operation`` can carry."""
    __tracebackhide__ = True  # pytest shows the test's line, not this helper's
    known = list(parameter_names(operation))
    if all(k in known for k in params):
        return
    known += sorted({k for c in calls for k in c.params if k not in known})
    unknown = [k for k in params if k not in known]
    if not unknown:
        return
    # Case and underscores aside first (ProxySessionID, proxy_session_id), then difflib's ratio.
    folded = {k.replace("_", "").lower(): k for k in known}

    def named(param: str) -> str:
        close = difflib.get_close_matches(param.replace("_", "").lower(), folded, n=1)
        return f"{param!r}" + (f" (did you mean {folded[close[0]]}?)" if close else "")

    which = "parameter" if len(unknown) == 1 else "parameters"
    raise ValueError(
        f"unknown {which} {', '.join(map(named, unknown))} of {operation}: "
        f"one of {', '.join(known)}"
    )


class Calls(Sequence[Call]):
    """The calls a test made, oldest first, read live from its cassette; with assertions."""

    def __init__(
        self, source: Callable[[], Iterable[Call]], unplayed: Callable[[], list[str]]
    ) -> None:
        self._source = source
        self._unplayed = unplayed

    @property
    def _calls(self) -> list[Call]:
        return list(self._source())

    def __getitem__(self, i):  # type: ignore[override]
        return self._calls[i]

    def __len__(self) -> int:
        return len(self._calls)

    def __repr__(self) -> str:
        return f"Calls({self._calls!r})"

    def of(self, operation: str, **params: Any) -> list[Call]:
        """The calls of ``operation`` whose parameters include ``params`` (equal values).

        ValueError for a parameter name the operation does not have, unless one of its calls here
        carries it (a body member outside the schema is still what the call sent).
        """
        __tracebackhide__ = True  # pytest shows the test's line, not this helper's
        name = operation_name(operation)
        calls = [c for c in self._calls if c.operation == name]
        _check_params(name, params, calls)
        return [
            c for c in calls if all(k in c.params and c.params[k] == v for k, v in params.items())
        ]

    def _listing(self) -> str:
        calls = self._calls
        if not calls:
            return "  (no calls)"
        return "\n".join(f"  {n}. {c.describe()}" for n, c in enumerate(calls, 1))

    def assert_called(self, operation: str, times: int | None = None, **params: Any) -> None:
        """``operation`` was called (exactly ``times`` times, if given) with ``params``."""
        __tracebackhide__ = True  # pytest shows the test's line, not this helper's
        if times is not None and (isinstance(times, bool) or not isinstance(times, int)):
            raise ValueError(f"times must be a whole number, got {times!r}")
        found = len(self.of(operation, **params))
        name = operation_name(operation)
        wanted = f"{times} time(s)" if times is not None else "at least once"
        if (times is None and found) or found == times:
            return
        shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
        raise AssertionError(
            f"expected {name}({shown}) called {wanted}, it was called {found} time(s); "
            f"the test's calls:\n{self._listing()}"
        )

    def assert_order(self, operations: Sequence[str]) -> None:
        """The calls include ``operations`` in this order (other calls may come between)."""
        __tracebackhide__ = True  # pytest shows the test's line, not this helper's
        if isinstance(operations, str):
            raise ValueError("assert_order takes a list of operations, not one string")
        names = [operation_name(o) for o in operations]
        made = [c.operation for c in self._calls]
        i = 0
        for op in made:
            if i < len(names) and op == names[i]:
                i += 1
        if i == len(names):
            return
        raise AssertionError(
            f"expected the calls in order {' -> '.join(names)}; {names[i]} is missing after "
            f"{' -> '.join(names[:i]) or 'the start'}; the test's calls:\n{self._listing()}"
        )

    def assert_all_played(self) -> None:
        """Every recorded interaction of the cassette (a failed call aside) was played."""
        __tracebackhide__ = True  # pytest shows the test's line, not this helper's
        unplayed = self._unplayed()
        if unplayed:
            raise AssertionError(
                f"{len(unplayed)} recorded interaction(s) never played: "
                + "; ".join(unplayed)
                + f"\nthe test's calls:\n{self._listing()}"
            )
