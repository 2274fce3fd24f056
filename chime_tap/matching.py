"""Request matching for replay: the one definition of "this request was recorded".

The vcrpy configuration (``chime_tap.vcr_config``) and the proxy replay (``addons/replay.py``)
both use what is here: the normalizers that build a match key (method, host, path, query, JSON
body), the vcrpy-shaped matchers built on them, and :class:`RequestIndex`, which finds a
recorded interaction by key in one dict lookup instead of a scan.

What changes on every SigV4-signed call (``Authorization``, ``X-Amz-Date``, the security token,
botocore's ``amz-sdk-*`` headers, ``User-Agent``, presigned query parameters) is never part of
a key, so a replayed call matches although every signature and date differs.

A miss names the recorded request closest to it by one rule, :func:`closest_requests`, which
the proxy's 599 answer and the pytest plugin's failure both follow, so both name the same one.

A recorded call that got no response (status 0: see :func:`chime_tap.cassettes.format.is_unanswered`) is never served:
it stays in the cassette and in reports, but it is not a match and not a "closest" candidate.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

from chime_tap.api.hosts import VOICE
from chime_tap.api.operations import classify_path
from chime_tap.cassettes.phones import redact_phone_numbers_in_body
from chime_tap.cassettes.reader import plain_origin
from chime_tap.jsondoc import MISSING, count_differences, json_difference

# Headers that differ on every signed call, or that the transport owns. Compared lower-case.
VOLATILE_HEADERS = frozenset(
    {
        "authorization",
        "x-amz-date",
        "x-amz-security-token",
        "amz-sdk-invocation-id",
        "amz-sdk-request",
        "user-agent",
        "x-amz-user-agent",
        "x-amz-content-sha256",
        "content-length",
        "host",
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "te",
        "transfer-encoding",
        "expect",
    }
)
# SigV4 query authentication (presigned URLs): new on every signature. Compared lower-case.
SIGNING_QUERY_PARAMS = frozenset(
    {
        "x-amz-algorithm",
        "x-amz-credential",
        "x-amz-date",
        "x-amz-expires",
        "x-amz-signedheaders",
        "x-amz-signature",
        "x-amz-security-token",
    }
)
_DEFAULT_PORTS = {"https": 443, "http": 80}


# --- normalizers: the parts of a match key ---------------------------------------------------


def normalize_method(method: str | bytes) -> str:
    if isinstance(method, bytes):
        method = method.decode("ascii", "replace")
    return method.upper()


def normalize_authority(scheme: str, host: str, port: int | None) -> str:
    """``host:port`` with the host lower-case and the port filled in from the scheme."""
    scheme = scheme.lower()
    return f"{host.lower().strip('[]')}:{port or _DEFAULT_PORTS.get(scheme, 0)}"


def normalize_path(path: str) -> str:
    """An empty path is "/" (RFC 3986 section 6.2.3)."""
    return path or "/"


def normalize_query(query: str) -> tuple[tuple[str, str], ...]:
    """Sorted (name, value) pairs, without SigV4 query-authentication parameters."""
    if not query:
        return ()
    return tuple(
        sorted(
            (k, v)
            for k, v in parse_qsl(query, keep_blank_values=True)
            if k.lower() not in SIGNING_QUERY_PARAMS
        )
    )


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, bytearray | memoryview):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8", "surrogateescape")
    return str(body).encode("utf-8")


def normalize_body(body: Any) -> str | bytes:
    """A JSON body as canonical text (sorted keys, no whitespace); any other body as bytes."""
    if body is None:
        return b""
    data = _body_bytes(body)
    stripped = data.lstrip()
    if stripped[:1] in (b"{", b"["):
        try:
            doc = json.loads(data)
            return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        except (ValueError, RecursionError):  # not JSON, or nested too deeply to rebuild
            return data
    return data


def body_variants(body: Any) -> tuple[str | bytes, ...]:
    """The keys a live request's body may be recorded under: as sent, and with phones pseudonymized.

    A cassette recorded with phone redaction holds pseudonyms where the client sends real
    numbers; the second variant (computed by the recorder's own scrubbing) still finds it.
    """
    canonical = normalize_body(body)
    if not isinstance(canonical, str):
        return (canonical,)
    redacted = redact_phone_numbers_in_body(canonical)
    if redacted is None or redacted == canonical:
        return (canonical,)
    return (canonical, normalize_body(redacted))


def significant_headers(headers: Any) -> tuple[tuple[str, str], ...]:
    """Headers that say something about the call: lower-case names, volatile ones left out."""
    if not headers:
        return ()
    items = headers.items() if hasattr(headers, "items") else headers
    out = []
    for name, value in items:
        name = name.decode("latin-1") if isinstance(name, bytes) else str(name)
        lowered = name.lower()
        if lowered in VOLATILE_HEADERS:
            continue
        values = value if isinstance(value, list | tuple) else [value]
        out.extend(
            (lowered, v.decode("latin-1") if isinstance(v, bytes) else str(v)) for v in values
        )
    return tuple(sorted(out))


# --- match keys ------------------------------------------------------------------------------


# slots: a replayed day holds a million of them. Not frozen, though never changed: a frozen
# dataclass sets each field through object.__setattr__, four times the cost of building one
# (a second of a million-interaction start); equal and hashable by value all the same.
@dataclass(slots=True, unsafe_hash=True)
class RequestParts:
    """A request reduced to what matching looks at (never changed once built)."""

    method: str
    authority: str
    path: str
    query: tuple[tuple[str, str], ...]
    body: str | bytes
    raw_body: Any = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> tuple:
        return (self.method, self.authority, self.path, self.query, self.body)

    def live_keys(self) -> list[tuple]:
        """The key, then the key with phone numbers pseudonymized if that differs."""
        head = (self.method, self.authority, self.path, self.query)
        return [
            (*head, b)
            for b in body_variants(self.raw_body if self.raw_body is not None else self.body)
        ]


def parts_from_uri(method: str | bytes, uri: str, body: Any) -> RequestParts:
    """The match parts of a request given as method, absolute URI and body."""
    origin = plain_origin(uri) if isinstance(uri, str) else None
    if origin is not None:
        return parts_at_origin(method, origin, uri, body)
    u = urlsplit(uri)
    try:
        port = u.port
    except ValueError:
        port = None
    authority = normalize_authority(u.scheme, u.hostname or "", port)
    return RequestParts(
        normalize_method(method),
        authority,
        normalize_path(u.path),
        normalize_query(u.query),
        normalize_body(body),
        body,
    )


def parts_at_origin(method: str | bytes, origin: str, uri: str, body: Any) -> RequestParts:
    """:func:`parts_from_uri` of a URI whose :func:`plain_origin` is ``origin``, known already."""
    # What urlsplit would say, without splitting the origin again for every request: a
    # cassette holds a handful of origins and a million paths.
    path, _, query = uri[len(origin) :].partition("#")[0].partition("?")
    return RequestParts(
        method.upper() if type(method) is str else normalize_method(method),
        _origin_authority(origin),
        path or "/",  # the normalizers, without a call each for what needs none
        normalize_query(query) if query else (),
        b"" if body is None else normalize_body(body),
        body,
    )


@functools.lru_cache(maxsize=1024)
def _origin_authority(origin: str) -> str:
    u = urlsplit(origin)
    try:
        port = u.port
    except ValueError:
        port = None
    return normalize_authority(u.scheme, u.hostname or "", port)


def parts_from_target(
    method: str, scheme: str, host: str, port: int | None, target: str, body: Any
) -> RequestParts:
    """The match parts of a request given as a proxy sees it: scheme, host, port, request target."""
    path, _, query = target.partition("?")
    return RequestParts(
        normalize_method(method),
        normalize_authority(scheme, host, port),
        normalize_path(path),
        normalize_query(query),
        normalize_body(body),
        body,
    )


def parts_of(request: Any) -> RequestParts:
    """The match parts of a vcrpy Request (or anything with method, uri and body)."""
    body = getattr(request, "body", None)
    if hasattr(body, "read") or (
        body is not None and not isinstance(body, bytes | str | bytearray)
    ):
        from vcr.util import read_body

        body = read_body(request)
    return parts_from_uri(request.method, request.uri, body)


# --- JSON differences ------------------------------------------------------------------------


def _shown(value: Any) -> str:
    if value is MISSING:
        return "missing"
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, bytes) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def describe_body_difference(this: Any, recorded: Any) -> str:
    """What differs between two bodies, with a JSON pointer when both are JSON.

    When the recording's phone numbers were pseudonymized, the request is compared
    pseudonymized too, so the pointer lands on what really differs.
    """
    b = normalize_body(recorded)
    variants = [v for v in body_variants(this) if isinstance(v, str)]
    if variants and isinstance(b, str):
        doc_b = json.loads(b)
        docs = [json.loads(v) for v in variants]
        best = min(range(len(docs)), key=lambda i: count_differences(docs[i], doc_b))
        found = json_difference(docs[best], doc_b)
        if found:
            pointer, va, vb = found
            note = " (phone numbers pseudonymized, as recorded)" if best else ""
            return (
                f"body differs at {pointer}: this request {_shown(va)}, recorded {_shown(vb)}{note}"
            )
    a = normalize_body(this)
    la, lb = len(_body_bytes(this)), len(_body_bytes(recorded))
    kind = "JSON" if isinstance(a, str) else "non-JSON"
    other = "JSON" if isinstance(b, str) else "non-JSON"
    return f"body differs: this request {kind} ({la} bytes), recorded {other} ({lb} bytes)"


# --- matchers: vcrpy's shape, name(r1, r2) -> None or AssertionError -------------------------
# r1 is the request being matched, r2 the recorded one (the order vcrpy calls them in).
# Each carries ``key(request)``, the hashable it compares, so an index can look it up.


Matcher = Callable[[Any, Any], None]
Part = Callable[[RequestParts, Any], Hashable]


def _keyed(part: Part, live_parts: Callable[[RequestParts, Any], Sequence[Hashable]] | None = None):
    """Attach ``part(parts, request)``: the hashable the matcher compares, for index lookups.

    ``live_parts`` gives the values a live request may be recorded under (default: ``part``).
    """

    def wrap(fn: Matcher) -> Matcher:
        fn.part = part  # type: ignore[attr-defined]
        fn.live_parts = live_parts or (lambda p, r: (part(p, r),))  # type: ignore[attr-defined]
        return fn

    return wrap


@_keyed(lambda p, r: p.method)
def chime_method(r1: Any, r2: Any) -> None:
    """The HTTP method, case-insensitive."""
    a, b = normalize_method(r1.method), normalize_method(r2.method)
    if a != b:
        raise AssertionError(f"method: this request {a}, recorded {b}")


@_keyed(lambda p, r: p.authority)
def chime_host(r1: Any, r2: Any) -> None:
    """Host and port (the scheme's default port filled in)."""
    a, b = parts_of(r1).authority, parts_of(r2).authority
    if a != b:
        raise AssertionError(f"host: this request {a}, recorded {b}")


@_keyed(lambda p, r: p.path)
def chime_path(r1: Any, r2: Any) -> None:
    """The path, exactly (the ids in it are what tells calls apart)."""
    a, b = parts_of(r1).path, parts_of(r2).path
    if a != b:
        raise AssertionError(f"path: this request {a}, recorded {b}")


@_keyed(lambda p, r: p.query)
def chime_query(r1: Any, r2: Any) -> None:
    """Query parameters in any order, without SigV4 presigning parameters."""
    a, b = parts_of(r1).query, parts_of(r2).query
    if a != b:
        only_a = sorted(set(a) - set(b))
        only_b = sorted(set(b) - set(a))
        raise AssertionError(
            f"query: this request has {only_a or 'nothing more'}, recorded has {only_b or 'nothing more'}"
        )


@_keyed(lambda p, r: p.body, lambda p, r: body_variants(p.raw_body))
def json_body(r1: Any, r2: Any) -> None:
    """JSON bodies compared as data (key order and whitespace don't matter); others byte for byte.

    A recorded body whose phone numbers were pseudonymized matches the request with the real ones.
    """
    p1, p2 = parts_of(r1), parts_of(r2)
    if p2.body in body_variants(p1.raw_body):
        return
    raise AssertionError(describe_body_difference(p1.raw_body, p2.raw_body))


@_keyed(lambda p, r: significant_headers(r.headers))
def signed_headers(r1: Any, r2: Any) -> None:
    """Headers, minus what SigV4 and botocore change on every call (Authorization, X-Amz-Date, ...)."""
    a, b = dict(significant_headers(r1.headers)), dict(significant_headers(r2.headers))
    if a != b:
        names = sorted(n for n in set(a) | set(b) if a.get(n) != b.get(n))
        shown = ", ".join(
            f"{n} (this request {a.get(n, 'missing')!r}, recorded {b.get(n, 'missing')!r})"
            for n in names[:3]
        )
        raise AssertionError(f"headers differ: {shown}")


# Registered by name on the vcrpy configuration, as VCR.register_matcher does.
MATCHERS: dict[str, Matcher] = {
    "chime_method": chime_method,
    "chime_host": chime_host,
    "chime_path": chime_path,
    "chime_query": chime_query,
    "json_body": json_body,
    "signed_headers": signed_headers,
}
DEFAULT_MATCH_ON = ("chime_method", "chime_host", "chime_path", "chime_query", "json_body")


def check_match_on(names: Iterable[str], known: Iterable[str]) -> tuple[str, ...]:
    """``names`` as a tuple; ValueError listing the valid names if one is unknown."""
    names = (names,) if isinstance(names, str) else tuple(names)
    valid = sorted(set(known))
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise ValueError(
            f"unknown matcher(s) {', '.join(map(repr, unknown))} in match_on; valid: {', '.join(valid)}"
        )
    return names


def matcher_results(r1: Any, r2: Any, matchers: Iterable[Matcher]) -> list[tuple[str, str]]:
    """(matcher name, what differs) for every matcher that fails; empty when all match."""
    failed = []
    for m in matchers:
        try:
            m(r1, r2)
        except AssertionError as e:
            failed.append((getattr(m, "__name__", repr(m)), str(e)))
    return failed


# --- the closest recorded request: one rule for every replay ---------------------------------

MAX_CLOSEST_SCAN = 2000  # recorded requests compared when explaining a miss (a miss only)


@functools.lru_cache(maxsize=1 << 16)
def operation_of(method: str, path: str) -> str | None:
    """The proxy-session operation ``method path`` calls, or None (the name is the same in both namespaces)."""
    route = classify_path(method, path, VOICE)
    return route.name if route is not None else None


class Closest(NamedTuple):
    """A recorded request close to a miss: its number, and (matcher name, what differs) per failed matcher."""

    number: int
    failed: list[tuple[str, str]]


def _differs(
    matcher: Matcher, request: Any, live: RequestParts
) -> Callable[[RequestParts, Any], bool]:
    """``differs(parts, recorded)``: whether ``matcher`` fails ``request`` against a recorded one.

    A keyed matcher compares its part, as the index does (no re-parsing per candidate); any
    other matcher is called.
    """
    part = getattr(matcher, "part", None)
    if part is None:

        def differs(parts: RequestParts, recorded: Any) -> bool:
            try:
                matcher(request, recorded)
            except AssertionError:
                return True
            return False

        return differs
    accepted = set(matcher.live_parts(live, request))  # type: ignore[attr-defined]
    return lambda parts, recorded: part(parts, recorded) not in accepted


def closest_requests(
    request: Any,
    candidates: Iterable[tuple[int, RequestParts]],
    recorded: Callable[[int], Any],
    matchers: Sequence[Matcher],
    *,
    most: int | None = None,
) -> list[Closest]:
    """The recorded requests closest to the missed ``request``, best first: the one rule of "closest".

    The proxy's miss answer and the pytest plugin's failure both name what this returns first,
    so for the same cassette and request they name the same recorded interaction. The rule:

    1. the same operation as ``request`` (a missed GetProxySession is closest to a Get, never
       to a List), when any recorded request has it;
    2. then the fewest failing matchers;
    3. then the same path;
    4. then the earliest recorded.

    Returns the best one and every other tied with it on 1 and 2 (``most`` at most), each with
    what differs. ``candidates`` are (number, parts) in recorded order and ``recorded(n)`` is
    request n as vcrpy-shaped matchers read it. A failed call (status 0) is never a candidate:
    callers leave it out. At most MAX_CLOSEST_SCAN requests are compared, same path first.
    """
    live = parts_of(request)
    pool = list(candidates)
    operation = operation_of(live.method, live.path)
    if operation is not None:
        pool = [c for c in pool if operation_of(c[1].method, c[1].path) == operation] or pool
    pool.sort(key=lambda c: (c[1].path != live.path, c[0]))
    checks = [_differs(m, request, live) for m in matchers]
    scored = []
    for n, parts in pool[:MAX_CLOSEST_SCAN]:
        other = recorded(n)
        failures = sum(1 for differs in checks if differs(parts, other))
        scored.append((failures, parts.path != live.path, n, other))
    scored.sort(key=lambda s: s[:3])
    tied = [s for s in scored if s[0] == scored[0][0]][:most]
    return [Closest(n, matcher_results(request, other, matchers)) for _, _, n, other in tied]


# --- the index -------------------------------------------------------------------------------

EXHAUSTED_POLICIES = ("repeat", "fail")
DEFAULT_EXHAUSTED = "fail"  # a run that asks more than was recorded is not covered by it: say so


def check_exhausted(value: Any) -> str:
    """``value`` as one of :data:`EXHAUSTED_POLICIES`; ValueError listing them otherwise."""
    if value not in EXHAUSTED_POLICIES:
        raise ValueError(f"exhausted: {value!r} is not one of {', '.join(EXHAUSTED_POLICIES)}")
    return value


@dataclass
class Hit:
    entry: Any
    position: int  # 0-based: which of the identical recorded calls this is
    repeated: bool  # True when every recorded answer had been played and the last one repeats


@dataclass
class Exhausted:
    key: tuple
    count: int


class RequestIndex:
    """Recorded entries by match key; identical calls replay in recorded order.

    Lookup cost does not depend on how many entries there are: one dict lookup per key tried.
    When every recorded answer for a key has been played, the lookup says so
    (``exhausted="fail"``, the default) or the last answer repeats (``exhausted="repeat"``).
    """

    def __init__(self, exhausted: str = DEFAULT_EXHAUSTED) -> None:
        self.exhausted = check_exhausted(exhausted)
        self.entries: list[Any] = []
        self.parts: list[RequestParts] = []
        self._by_key: dict[tuple, list[int]] = {}
        self._played: dict[tuple, int] = {}
        # Recorded calls that got no response: never served, only named when explaining a miss.
        self._unanswered: dict[tuple, list[Any]] = {}

    def __len__(self) -> int:
        """How many recorded interactions can be served (failed calls not counted)."""
        return len(self.entries)

    def add(self, parts: RequestParts, entry: Any) -> int:
        n = len(self.entries)
        self.entries.append(entry)
        self.parts.append(parts)
        key = (parts.method, parts.authority, parts.path, parts.query, parts.body)  # parts.key
        self._by_key.setdefault(key, []).append(n)
        return n

    def add_unanswered(self, parts: RequestParts, entry: Any) -> None:
        """A recorded call that got no response: kept out of lookups and of ``closest``."""
        self._unanswered.setdefault(parts.key, []).append(entry)

    @property
    def unanswered(self) -> int:
        """How many recorded calls got no response (and are never served)."""
        return sum(len(entries) for entries in self._unanswered.values())

    def unanswered_for(self, parts: RequestParts) -> list[Any]:
        """The failed recordings of exactly this request (a dict lookup per key variant)."""
        found: list[Any] = []
        for key in parts.live_keys():
            found += self._unanswered.get(key, ())
        return found

    def lookup(self, parts: RequestParts) -> Hit | Exhausted | None:
        """The entry to answer ``parts`` with (and advance), Exhausted, or None for a miss."""
        keys = [parts.key]
        positions = self._by_key.get(parts.key)
        if positions is None:
            keys = parts.live_keys()[1:]
            for key in keys:
                positions = self._by_key.get(key)
                if positions is not None:
                    keys = [key]
                    break
            else:
                return None
        key = keys[0]
        played = self._played.get(key, 0)
        if played >= len(positions) and self.exhausted == "fail":
            return Exhausted(key, len(positions))
        self._played[key] = played + 1
        i = min(played, len(positions) - 1)
        return Hit(self.entries[positions[i]], i, played >= len(positions))

    def rewind(self) -> None:
        self._played.clear()

    def closest(
        self, request: Any, requests: Callable[[int], Any], matchers: Sequence[Matcher]
    ) -> Closest | None:
        """(entry number, failed matchers) of the recorded request closest to ``request``.

        ``requests(n)`` gives entry n as a vcrpy-like request; the rule is
        :func:`closest_requests`, the pytest plugin's too.
        """
        found = closest_requests(request, enumerate(self.parts), requests, matchers, most=1)
        return found[0] if found else None
