"""Recorded proxy-session calls in the form ``chime-tap diff`` compares: what a call means, not its bytes.

Two recordings of the same workload differ in what the service makes up on each run: session
ids, NextTokens, timestamps, request ids, signatures, dates. Here each call is reduced to what
should be the same when the behaviour is the same:

- session ids become labels. Sessions are lined up by the Create calls that made them: Creates
  pair by normalized request in order of creation, then the Creates left over pair in order of
  creation; a paired session is ``ps-N`` on both sides (N: its place among the baseline's
  Creates), one only the candidate made is ``ps-BN`` (its place among the candidate's). The
  label replaces the id in paths, bodies, List items, error messages and violation messages.
- NextTokens become ``token-N`` on each side, N the order in which the side's List answers
  issued them, in responses and in the ``next-token`` of the requests that send them back.
- in an object with a ``CreatedTimestamp`` (a ProxySession, a List item), every other
  ``...Timestamp`` becomes its distance from that creation (:class:`Delta`), and the creation
  time itself only says that there is one (:data:`STAMP`). A timestamp without a creation
  beside it is :data:`STAMP` too.
- violations are found anew on both sides with today's schemas (not the recorder's notes).
- headers are not compared, so signatures, dates and request ids never count; the error type
  comes from ``x-amzn-ErrorType`` or the body's ``Code``.

Pure functions of :class:`~chime_tap.cassettes.format.Interaction` lists: no files, no output.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from chime_tap import jsondoc
from chime_tap.api.hosts import DEFAULT_HOSTS, HostPolicy
from chime_tap.api.operations import Route, error_type_from_header
from chime_tap.api.validation import (
    REQUEST_BODY,
    RESPONSE_BODY,
    route_of_interaction,
    validate_exchange,
)
from chime_tap.api.validation import Violation as ApiViolation
from chime_tap.cassettes.format import Interaction
from chime_tap.matching import normalize_body, normalize_query

CREATE = "CreateProxySession"
LIST = "ListProxySessions"
CREATED = "CreatedTimestamp"
UPDATED = "UpdatedTimestamp"
NEXT_TOKEN_PARAM = "next-token"
# Words of an error or violation message that may be an id or a token (UUIDs, base64url).
_WORD = re.compile(r"[A-Za-z0-9_+=-]+")


@dataclass(frozen=True)
class Delta:
    """A timestamp, as seconds after the creation of the object that holds it (rounded to the
    millisecond). ``member``: the timestamp's name, for how it is said; never compared."""

    seconds: float
    member: str = field(default="", compare=False)

    def __str__(self) -> str:
        """``never updated (equal to CreatedTimestamp)``, ``updated 0.011 s after
        CreatedTimestamp``, ``2.000 s before CreatedTimestamp``: what the diff's rule tells
        apart (at, before or after the creation) said first, then the distance."""
        s = self.seconds
        where = f"{abs(s):.3f} s {'after' if s > 0 else 'before'} {CREATED}" if s else None
        if self.member == UPDATED:
            return f"updated {where}" if where else f"never updated (equal to {CREATED})"
        return where or f"equal to {CREATED}"


class _Stamp:
    """A timestamp whose value is not compared: there is one, and that is all."""

    def __repr__(self) -> str:
        return "STAMP"

    def __str__(self) -> str:
        return "a timestamp"


STAMP = _Stamp()


@dataclass(frozen=True)
class Violation:
    """A schema violation as diff compares it: the part, the pointer, the words (ids labelled)."""

    part: str
    pointer: str
    text: str  # str(Violation) of chime_tap.api.validation, with ids labelled


@dataclass
class Call:
    """One proxy-session call, reduced to what it means (see the module docstring)."""

    source: str
    index: int  # the interaction's number in its file, from 0
    operation: str
    namespace: str
    method: str
    path: str  # session ids labelled
    query: tuple[tuple[str, str], ...]  # sorted, signing parameters left out, tokens labelled
    request: str | bytes  # canonical JSON text (labelled, ignored members left out), or bytes
    status: int
    error_type: str | None
    error_message: str | None
    response: Any  # canonical JSON document; bytes when not JSON; None when empty
    violations: frozenset[Violation]
    latency_ms: float | None

    @property
    def key(self) -> tuple:
        """What pairs two calls: the operation and the normalized request."""
        return (self.operation, self.method, self.path, self.query, self.request)

    @property
    def is_error(self) -> bool:
        return self.status >= 400 or self.status == 0

    def describe(self, limit: int = 80) -> str:
        """``POST /voice-connectors/c/proxy-sessions/ps-1 {"Capabilities":["SMS"]}``: the call
        in one line, its request body clipped to ``limit`` characters."""
        query = "&".join(f"{k}={v}" for k, v in self.query)
        text = f"{self.method} {self.path}" + (f"?{query}" if query else "")
        body = self.request if isinstance(self.request, str) else f"({len(self.request)} bytes)"
        if self.request:
            text += " " + (body if len(body) <= limit else body[: limit - 3] + "...")
        return text


@dataclass
class _Raw:
    """A call as read, before ids are labelled (labelling needs both sides)."""

    interaction: Interaction
    source: str
    operation: str
    namespace: str
    connector: str | None
    session: str | None
    query: tuple[tuple[str, str], ...]
    violations: list[ApiViolation]
    latency_ms: float | None
    response: Any = None  # the response body parsed (jsondoc.MISSING: empty or not JSON)
    created: str | None = None  # the session id a successful Create made
    issued: str | None = None  # the NextToken a successful List issued

    @property
    def create_key(self) -> tuple:
        body = normalize_body(self.interaction.request_body)
        return (self.connector, self.namespace, self.query, body)


@dataclass
class Side:
    """One side's calls as read: proxy-session calls in recorded order, and a count of the rest."""

    calls: list[_Raw] = field(default_factory=list)
    other: int = 0  # interactions that are no proxy-session call (other hosts, simulator controls)


def read_side(
    recordings: Iterable[tuple[str, Sequence[Interaction]]], hosts: HostPolicy = DEFAULT_HOSTS
) -> Side:
    """The proxy-session calls of ``(source, interactions)`` recordings, in order."""
    side = Side()
    for source, interactions in recordings:
        for interaction in interactions:
            raw = read_call(interaction, source, hosts)
            if raw is None:
                side.other += 1
            else:
                side.calls.append(raw)
    return side


def read_call(
    interaction: Interaction,
    source: str,
    hosts: HostPolicy = DEFAULT_HOSTS,
    violations: Sequence[ApiViolation] | None = None,
    route: Route | None = None,
    parsed: Any = None,
) -> _Raw | None:
    """One interaction as read for comparing, or None when it is no proxy-session call.

    ``route``: the operation it calls, when the caller knows it already. ``parsed``: its
    response body as read here (``_Raw.response``) when the caller has read the same bytes
    before (spy mode); None: read here.

    ``violations``: the call's, when the caller has just found them (the recorder); otherwise
    they are found now, with today's schemas, on both sides alike. Not the recorder's notes: a
    cassette recorded by an older chime-tap (or by vcrpy, which notes nothing) would then differ
    from a new one by its schemas rather than its traffic, and a hand-edited answer would keep
    the notes of the answer it replaced.
    """
    route = route or route_of_interaction(interaction, hosts)
    if route is None:
        return None
    split = urlsplit(interaction.uri)
    if violations is None:
        violations = violations_of(interaction, route, split.query)
    raw = _Raw(
        interaction=interaction,
        source=source,
        operation=route.name,
        namespace=route.namespace,
        connector=route.voice_connector_id,
        session=route.proxy_session_id,
        query=normalize_query(split.query),
        violations=list(violations),
        latency_ms=_finite(interaction.meta.get("duration_ms")),
    )
    # Parsed once: labelling reads Creates' and Lists' answers; canonical_calls reads them all.
    raw.response = doc = _parse(interaction.response_body) if parsed is None else parsed
    if 200 <= interaction.status < 300 and isinstance(doc, dict):
        if raw.operation == CREATE:
            session = doc.get("ProxySession")
            if isinstance(session, dict) and isinstance(session.get("ProxySessionId"), str):
                raw.created = session["ProxySessionId"]
        elif raw.operation == LIST and isinstance(doc.get("NextToken"), str):
            raw.issued = doc["NextToken"]
    return raw


def violations_of(interaction: Interaction, route: Route, query: str) -> list[ApiViolation]:
    """The call's violations under today's schemas (``query``: its URI's query string)."""
    return validate_exchange(
        route,
        query=parse_qs(query, keep_blank_values=True),
        request_body=interaction.request_body,
        # status 0: no response was seen (upstream failure); only the request is checked
        status=interaction.status or None,
        response_body=interaction.response_body,
        response_headers={k: v[0] for k, v in interaction.response_headers.items() if v},
    )


def _parse(body: bytes | None) -> Any:
    """A JSON body parsed; jsondoc.MISSING when empty or not JSON."""
    if not body or not body.strip():
        return jsondoc.MISSING
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # not JSON (or not UTF-8), or nested too deeply
        return jsondoc.MISSING


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


# --- labels: one name for the same session (or token) on both sides ---------------------------


def session_labels(a: Side, b: Side) -> tuple[dict[str, str], dict[str, str]]:
    """(labels of A's session ids, labels of B's): the Creates that made them, paired."""
    made_a = [c for c in a.calls if c.created is not None]
    made_b = [c for c in b.calls if c.created is not None]
    labels_a = {c.created: f"ps-{n}" for n, c in enumerate(made_a, 1)}
    labels_b: dict[str, str] = {}
    by_key: dict[tuple, deque[int]] = {}
    for j, c in enumerate(made_b):
        by_key.setdefault(c.create_key, deque()).append(j)
    used: set[int] = set()
    unpaired_a: list[int] = []
    for i, c in enumerate(made_a):  # first the Creates with the same request, in order
        queue = by_key.get(c.create_key)
        if queue:
            j = queue.popleft()
            used.add(j)
            labels_b[made_b[j].created] = labels_a[c.created]
        else:
            unpaired_a.append(i)
    rest_b = [j for j in range(len(made_b)) if j not in used]
    for i, j in zip(unpaired_a, rest_b, strict=False):  # then those left over, in order
        labels_b[made_b[j].created] = labels_a[made_a[i].created]
        used.add(j)
    for j in rest_b:
        if j not in used:
            labels_b[made_b[j].created] = f"ps-B{j + 1}"
    return labels_a, labels_b


def token_labels(side: Side) -> dict[str, str]:
    """``token-N`` for each NextToken the side's List answers issued, in order of issue."""
    labels: dict[str, str] = {}
    for c in side.calls:
        if c.issued is not None and c.issued not in labels:
            labels[c.issued] = f"token-{len(labels) + 1}"
    return labels


# --- canonical calls ----------------------------------------------------------------------------


def canonical_calls(
    side: Side,
    labels: dict[str, str],
    ignore: Sequence[jsondoc.PointerPattern] = (),
) -> list[Call]:
    """``side``'s calls with ``labels`` (session ids and tokens) applied, ids and times made
    comparable, and the ``ignore`` patterns' members left out of request bodies."""
    return [canonical_call(c, labels, ignore) for c in side.calls]


def canonical_call(
    raw: _Raw,
    labels: dict[str, str],
    ignore: Sequence[jsondoc.PointerPattern] = (),
    *,
    request: bool = True,
    response: Any = None,
) -> Call:
    """One call with ``labels`` applied (see :func:`canonical_calls`); ``raw`` is not changed.

    ``request=False``: the request body is left out (``""``), for a caller that paired the
    call already (spy mode): only what pairs calls reads it. ``response``: what
    :func:`canonical_response` gives for ``raw`` and ``labels``, when the caller has it
    already (spy mode keeps it by body: the same answer comes again); None: found here."""
    i = raw.interaction
    get = labels.get
    path = f"/voice-connectors/{raw.connector}/proxy-sessions"
    if raw.session is not None:
        path += "/" + get(raw.session, raw.session)
    query = raw.query
    if any(k == NEXT_TOKEN_PARAM for k, _ in query):
        query = tuple((k, get(v, v) if k == NEXT_TOKEN_PARAM else v) for k, v in query)
    key: str | bytes = ""
    request_doc = _parse(i.request_body) if request else None
    if request_doc is jsondoc.MISSING:
        key = normalize_body(i.request_body)
    elif request_doc is not None:
        doc = jsondoc.without(comparable(request_doc, get, stamps=False), ignore)
        key = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    error_type, message = _error(i, raw.response)
    if response is None:  # also what an empty body's is: found again, the same
        response = canonical_response(raw, get)
    return Call(
        source=raw.source,
        index=i.index,
        operation=raw.operation,
        namespace=raw.namespace,
        method=i.method,
        path=path,
        query=query,
        request=key,
        status=i.status,
        error_type=error_type,
        error_message=_words(message, labels) if message is not None else None,
        response=response,
        violations=frozenset(
            Violation(v.part, v.pointer, _words(str(v), labels))
            for v in raw.violations
            if not (v.part in (REQUEST_BODY, RESPONSE_BODY) and jsondoc.covered(v.pointer, ignore))
        ),
        latency_ms=raw.latency_ms,
    )


def canonical_response(raw: _Raw, get: Callable[[str], str | None]) -> Any:
    """The call's answer as diff compares it: its JSON document :func:`comparable` with the
    labels ``get`` gives, the body's bytes when it is not JSON, None when it is empty."""
    if raw.response is jsondoc.MISSING:
        return raw.interaction.response_body or None
    return comparable(raw.response, get)


def _error(i: Interaction, doc: Any) -> tuple[str | None, str | None]:
    """(error type, message) of an error answer: ``x-amzn-ErrorType`` else the body's Code."""
    if not (i.status >= 400 or i.status == 0):
        return None, None
    body = doc if isinstance(doc, dict) else {}
    error_type = error_type_from_header(i.header("x-amzn-errortype"))
    error_type = error_type or _text(body.get("__type") or body.get("Code") or body.get("code"))
    message = _text(body.get("Message") or body.get("message"))
    if i.status == 0:
        error_type, message = error_type or "NoResponse", message or _text(i.meta.get("error"))
    return error_type, message


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _words(text: str, labels: dict[str, str]) -> str:
    """``text`` with every word that is a known id or token replaced by its label."""
    if not labels:
        return text
    return _WORD.sub(lambda m: labels.get(m.group(), m.group()), text)


def comparable(doc: Any, get: Any, *, stamps: bool = True) -> Any:
    """A copy of a parsed JSON document as diff compares it: strings that are known ids or
    tokens replaced by ``get(string)`` (their label), and with ``stamps``, timestamps in an
    object with a ``CreatedTimestamp`` as :class:`Delta` from it, any other as :data:`STAMP`."""
    cls = doc.__class__
    if cls is dict:
        out = {}
        created: float | None = None
        for k, v in doc.items():
            c = v.__class__
            if c is str:
                label = get(v)
                if label is not None:
                    out[k] = label
                    continue
                if stamps and k.__class__ is str and k.endswith("Timestamp"):
                    at = _instant(v)
                    if at is not None:
                        if created is None:
                            created = _instant(doc.get(CREATED))
                            created = math.nan if created is None else created
                        if k == CREATED or created != created:  # no creation beside it (NaN)
                            out[k] = STAMP
                        else:
                            out[k] = Delta(round(at - created, 3), k)
                        continue
                out[k] = v
            elif c is dict or c is list:
                out[k] = comparable(v, get, stamps=stamps)
            else:
                out[k] = v
        return out
    if cls is list:
        out_list = []
        for v in doc:
            c = v.__class__
            if c is str:
                out_list.append(get(v) or v)
            elif c is dict or c is list:
                out_list.append(comparable(v, get, stamps=stamps))
            else:
                out_list.append(v)
        return out_list
    if cls is str:
        return get(doc) or doc
    return doc


def _instant(value: Any) -> float | None:
    """Seconds since the epoch of an ISO 8601 timestamp; None for anything else."""
    if not isinstance(value, str) or len(value) < 10 or not value[:4].isdigit():
        return None
    return _parsed_instant(value)


@functools.lru_cache(maxsize=4096)  # a session's timestamps recur in every answer about it
def _parsed_instant(value: str) -> float | None:
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None
