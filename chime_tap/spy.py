"""Spy mode: each live call compared with its counterpart in a baseline recording.

``chime-tap record --compare-to BASELINE`` forwards every call as usual; for each proxy-session
call it answers, :meth:`Spy.compare` finds the recorded counterpart and says what differs, by
the rules of ``chime-tap diff`` (:mod:`chime_tap.semantic_diff`):

- the counterpart is found as replay finds an answer (:class:`~chime_tap.matching.RequestIndex`,
  identical calls in recorded order), after the live request's session id and NextToken are
  put back to the baseline's: a session created live is the baseline's session created by the
  counterpart of its Create (so sessions line up in order of creation), a NextToken a live
  List issued is the one its counterpart issued. A call no recorded request matches is compared
  with the closest one not compared yet, by replay's rule (:func:`~chime_tap.matching.closest_requests`),
  and what differs in the request is said too; a call whose every recorded counterpart was
  compared already, or whose closest recorded request is another operation, has none.
- both answers are reduced as diff reduces them (:func:`~chime_tap.diff_calls.canonical_call`):
  session ids and tokens labelled, timestamps as distances from their session's creation,
  headers (signatures, dates, request ids) never compared; then compared by
  :func:`~chime_tap.semantic_diff.call_differences`. An answer is read and reduced once for
  the same bytes and the same labels of the ids in it, on either side (:class:`_Answer`).

Nothing here touches the wire or knows mitmproxy: ``addons/record.py`` hands in each finished
call as an :class:`~chime_tap.cassettes.format.Interaction` and writes the result to the flow.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from chime_tap import jsondoc
from chime_tap.api.hosts import DEFAULT_HOSTS, HostPolicy
from chime_tap.api.operations import Route
from chime_tap.api.validation import Violation
from chime_tap.cassettes.format import META_KEY, Interaction
from chime_tap.cassettes.memo import remember
from chime_tap.diff_calls import NEXT_TOKEN_PARAM, canonical_call, canonical_response, read_call
from chime_tap.matching import (
    DEFAULT_MATCH_ON,
    MATCHERS,
    Exhausted,
    Hit,
    closest_requests,
    operation_of,
    parts_from_uri,
)
from chime_tap.playback import Entry, build_index
from chime_tap.semantic_diff import DEFAULT_TIME_TOLERANCE, Difference, call_differences
from chime_tap.wire import header_lists

NO_COUNTERPART = "no recorded counterpart"
REQUEST_DIFFERS = "request differs"  # compared with the closest recorded request, not a match
EXACT, CLOSEST, NONE = "exact", "closest", "none"  # how the counterpart was found
SHOWN_ON_LINE = 3  # differences named on a call's log line; the rest are counted
SHOWN_NOT_COMPARED = 3  # baseline calls left uncompared named by the exit summary
KEPT_ANSWERS = 1024  # answers kept as diff compares them (Spy._response), by body
KEPT_BODY = 4096  # bytes: a longer body's answer is not kept (nor its body hashed for it)


@dataclass
class Comparison:
    """One live call against the baseline: its counterpart and what differs."""

    baseline: str | None  # the counterpart: "base.yaml #12"; None when there is none
    match: str  # EXACT, CLOSEST or NONE
    differences: list[Difference] = field(default_factory=list)

    @property
    def differs(self) -> bool:
        return bool(self.differences)

    def meta(self) -> dict[str, Any]:
        """What the interaction's metadata keeps: ``baseline`` and ``differences``."""
        return {
            "baseline": {"interaction": self.baseline, "match": self.match},
            "differences": [
                {"kind": d.kind, "what": d.what, "baseline": d.value_a, "live": d.value_b}
                for d in self.differences
            ],
        }

    def summary(self) -> str:
        """What the call's log line says: the counterpart, and the first differences."""
        if self.baseline is None:
            return f"{NO_COUNTERPART} in the baseline" + (
                f" ({self.differences[0].what})" if self.differences[0].what else ""
            )
        where = self.baseline + (" (closest)" if self.match == CLOSEST else "")
        if not self.differences:
            return f"as baseline {where}"
        shown = "; ".join(_shown(d) for d in self.differences[:SHOWN_ON_LINE])
        more = len(self.differences) - SHOWN_ON_LINE
        rest = f"; and {more} more" if more > 0 else ""
        return f"{len(self.differences)} difference(s) from baseline {where}: {shown}{rest}"

    def comment(self) -> list[str]:
        """The lines mitmweb's comment gains: the counterpart, then one line per difference."""
        if self.baseline is None:
            return [self.summary()]
        head = f"baseline {self.baseline}" + (" (closest)" if self.match == CLOSEST else "")
        if not self.differences:
            return [f"{head}: no difference"]
        return [f"{head}: {len(self.differences)} difference(s)"] + [
            f"~ {_shown(d)}" for d in self.differences
        ]


def _shown(difference: Difference) -> str:
    if difference.kind == REQUEST_DIFFERS:
        return f"request: {difference.what}"
    return str(difference)


class _Request:
    """A request as vcrpy-shaped matchers read it."""

    __slots__ = ("body", "headers", "method", "uri")

    def __init__(self, method: str, uri: str, body: Any, headers: Any = None) -> None:
        self.method, self.uri, self.body, self.headers = method, uri, body, headers or {}


def _label(entry: Entry) -> str:
    """``base.yaml #12`` (Entry.label, without building a Path per call)."""
    return f"{os.path.basename(entry.cassette)} #{entry.number}"


def _view(entry: Entry) -> Interaction:
    """A recorded interaction as diff reads it: what it compares (never request headers)."""
    item = entry.item
    req, resp = item["request"], item["response"]
    body = resp.get("body")
    meta = item.get(META_KEY)
    return Interaction(
        index=entry.number,
        method=str(req.get("method", "")).upper(),
        uri=str(req.get("uri", "")),
        request_headers={},
        request_body=_bytes(_request_body_of(req)),
        status=int((resp.get("status") or {}).get("code", 0)),
        reason="",
        response_headers=header_lists(resp.get("headers")),
        response_body=_bytes(body.get("string") if isinstance(body, dict) else body),
        meta=meta if isinstance(meta, dict) else {},
    )


def _request_body_of(req: dict[str, Any]) -> Any:
    body = req.get("body")
    return body.get("string") if isinstance(body, dict) else body  # some writers nest it


def _bytes(value: Any) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "surrogateescape")


def _recorded_request(entry: Entry) -> _Request:
    req = entry.item["request"]
    return _Request(str(req["method"]), str(req["uri"]), _request_body_of(req), req.get("headers"))


class _Answer:
    """An answer's body as read and as diff compares it, kept for the next answer of the same
    bytes (a Get of a session that did not change; the baseline's answer and the live one).

    The body is read (``read_call``) the same whatever else the call says; it is reduced
    here from the second time the bytes come (once only, most bodies differ). Its reduction
    (``canonical_response``) is a function of the body and of the labels it asks for: those
    it asked for last are kept with what they said, and it is reused only while they still
    say the same (an id labelled since, or on the other side, has it reduced again). What is
    kept is shared, never changed: nothing that reads or compares it writes to it.
    """

    __slots__ = ("asked", "parsed", "reduced", "said")

    def __init__(self, parsed: Any) -> None:
        self.parsed = parsed
        self.asked: tuple[str, ...] | None = None  # None: not reduced yet
        self.said: tuple[str | None, ...] = ()
        self.reduced: Any = None


def _keepable(body: bytes | None) -> bool:
    return body is None or (type(body) is bytes and len(body) <= KEPT_BODY)


class Spy:
    """Compares live calls with a baseline cassette; holds the ids it has lined up so far.

    ``paths``: the baseline cassettes (CassetteError if one cannot be read), read whole at start
    and kept in memory, each call parsed and checked once. Calls are compared in the order they
    finish, so a session's Create is compared before any call on it.
    """

    def __init__(
        self,
        paths: Sequence[str],
        hosts: HostPolicy = DEFAULT_HOSTS,
        *,
        ignore: Sequence[jsondoc.PointerPattern] = (),
        tolerance: float = DEFAULT_TIME_TOLERANCE,
    ) -> None:
        self.paths = [str(p) for p in paths]
        self.index = build_index(self.paths, exhausted="fail")
        self.hosts = hosts
        self.ignore = ignore
        self.tolerance = tolerance
        self.matchers = [MATCHERS[name] for name in DEFAULT_MATCH_ON]
        self.live_labels: dict[str, str] = {}  # a live session id or token -> its label
        self.base_labels: dict[str, str] = {}  # a baseline session id or token -> its label
        self.to_baseline: dict[str, str] = {}  # a live session id or token -> the baseline's
        self.sessions = 0  # sessions created live, in order: ps-1, ps-2, ...
        self.tokens = 0
        self._used: set[int] = set()  # index positions compared already
        self._position = {id(e): n for n, e in enumerate(self.index.entries)}
        # Each baseline call read once at start (its operation, its violations under today's
        # schemas, as the live calls are checked, its answer parsed): not per comparison.
        self._baseline = [read_call(_view(e), e.cassette, self.hosts) for e in self.index.entries]
        self._answers: dict[bytes | None, _Answer] = {}  # by body, the latest KEPT_ANSWERS
        self.compared = 0
        self.with_differences = 0
        self.unmatched = 0

    @property
    def name(self) -> str:
        return ", ".join(Path(p).name for p in self.paths)

    def compare(
        self,
        live: Interaction,
        violations: Sequence[Violation] | None = None,
        route: Route | None = None,
    ) -> Comparison | None:
        """``live`` against its counterpart; None when it is no proxy-session call.

        ``violations`` and ``route``: the live call's, when the caller has found them already.
        """
        kept = self._kept(live.response_body)
        parsed = kept.parsed if kept is not None else None
        raw_live = read_call(live, "live", self.hosts, violations, route, parsed)
        if raw_live is None:
            return None
        self.compared += 1
        position, match, request_differs = self._counterpart(live, raw_live)
        entry = self.index.entries[position] if position is not None else None
        raw_base = self._baseline[position] if position is not None else None
        if raw_base is None:  # nothing recorded, or what is recorded is no proxy-session call
            self._learn(raw_live, None)
            self.unmatched += 1
            self.with_differences += 1
            why = match if position is None else ""
            return Comparison(None, NONE, [Difference(NO_COUNTERPART, why)])
        self._used.add(position)
        self._learn(raw_live, raw_base)
        # paired already: only the answers and what is said about them are compared
        base = self._canonical(raw_base, self.base_labels)
        now = self._canonical(raw_live, self.live_labels)
        differences = [Difference(REQUEST_DIFFERS, m) for m in request_differs]
        differences += call_differences(base, now, ignore=self.ignore, tolerance=self.tolerance)
        self.with_differences += bool(differences)
        return Comparison(_label(entry), match, differences)  # type: ignore[arg-type]

    def start_line(self) -> str:
        """The line said at start: the baseline, the calls in it a live call can be compared
        with (its proxy-session calls, as the exit summary counts them), and how many other
        calls it holds (the simulator's control calls, other traffic), left out."""
        comparable = sum(raw is not None for raw in self._baseline)
        others = len(self._baseline) - comparable
        left_out = f"; {others} other call(s) left out" if others else ""
        return (
            f"spy mode: comparing every call with {', '.join(self.paths)} "
            f"({comparable} proxy-session call(s) recorded{left_out})"
        )

    def not_compared(self) -> list[int]:
        """The index positions of the baseline's proxy-session calls no live call was compared
        with so far (``diff`` counts each as a call only in A); each once, however many live
        calls it was compared with."""
        return [
            n for n, raw in enumerate(self._baseline) if raw is not None and n not in self._used
        ]

    def summary(self) -> str:
        """The line said at exit: the live calls compared and how they differed, then the
        baseline calls left without a live counterpart, the first few named."""
        left = self.not_compared()
        named = "; ".join(self._describe(n) for n in left[:SHOWN_NOT_COMPARED])
        more = len(left) - SHOWN_NOT_COMPARED
        named += f"; and {more} more" if more > 0 else ""
        return (
            f"spy: {self.compared} call(s) compared with baseline {self.name}: "
            f"{self.with_differences} with differences ({self.unmatched} without a recorded "
            f"counterpart); {len(left)} baseline call(s) no live call was compared with"
            + (f": {named}" if left else "")
        )

    def _describe(self, position: int) -> str:
        """``base.yaml #2 GET /voice-connectors/c/proxy-sessions/nope -> 404``."""
        recorded = self._baseline[position].interaction
        path = urlsplit(recorded.uri).path
        return (
            f"{_label(self.index.entries[position])} {recorded.method} {path} -> {recorded.status}"
        )

    # --- reducing a call as diff does ----------------------------------------------------------

    def _canonical(self, raw: Any, labels: dict[str, str]) -> Any:
        """``canonical_call`` of a paired call (no request), its answer from :meth:`_response`."""
        response = self._response(raw, labels)
        return canonical_call(raw, labels, self.ignore, request=False, response=response)

    def _response(self, raw: Any, labels: dict[str, str]) -> Any:
        """``canonical_response(raw, labels.get)``, kept by body (see :class:`_Answer`)."""
        body = raw.interaction.response_body
        kept = self._kept(body)
        if kept is None:  # bytes not seen lately: read once more, reduced if they come again
            if _keepable(body):
                remember(self._answers, body, _Answer(raw.response), KEPT_ANSWERS)
            return canonical_response(raw, labels.get)
        if kept.asked is not None and tuple(map(labels.get, kept.asked)) == kept.said:
            return kept.reduced
        get = labels.get
        asked: dict[str, None] = {}

        def asking(text: str) -> str | None:
            asked[text] = None
            return get(text)

        reduced = canonical_response(raw, asking)
        kept.asked = tuple(asked)
        kept.said = tuple(map(get, kept.asked))
        kept.reduced = reduced
        return reduced

    def _kept(self, body: bytes | None) -> _Answer | None:
        return self._answers.get(body) if _keepable(body) else None

    # --- finding the counterpart ---------------------------------------------------------------

    def _counterpart(self, live: Interaction, raw: Any) -> tuple[int | None, str, list[str]]:
        """(index position or None, how it was found or why there is none, request differences)."""
        uri = self._as_baseline(live.uri, raw)
        found = self.index.lookup(parts_from_uri(live.method, uri, live.request_body))
        if isinstance(found, Hit):
            return self._position[id(found.entry)], EXACT, []
        if isinstance(found, Exhausted):
            return (
                None,
                f"all {found.count} recorded answer(s) to this request compared already",
                [],
            )
        candidates = [(n, p) for n, p in enumerate(self.index.parts) if n not in self._used]
        request = _Request(live.method, uri, live.request_body)
        closest = closest_requests(
            request,
            candidates,
            lambda n: _recorded_request(self.index.entries[n]),
            self.matchers,
            most=1,
        )
        if not closest:
            return None, "", []
        n, failed = closest[0]
        parts = self.index.parts[n]
        if operation_of(parts.method, parts.path) != raw.operation:
            return None, "", []
        return n, CLOSEST, [message for _, message in failed]

    def _as_baseline(self, uri: str, raw: Any) -> str:
        """The live URI with its session id and NextToken put back to the baseline's."""
        session = self.to_baseline.get(raw.session) if raw.session is not None else None
        token = any(k == NEXT_TOKEN_PARAM and v in self.to_baseline for k, v in raw.query)
        if session is None and not token:
            return uri
        split = urlsplit(uri)
        path, query = split.path, split.query
        if session is not None:
            path = f"{path.rpartition('/')[0]}/{quote(session, safe='')}"
        if token:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode(
                [(k, self.to_baseline.get(v, v) if k == NEXT_TOKEN_PARAM else v) for k, v in pairs]
            )
        return urlunsplit(split._replace(path=path, query=query))

    def _learn(self, live: Any, base: Any) -> None:
        """Line up the session a live Create made, or the NextToken a live List issued, with
        its counterpart's: one label for both, and the way back to the baseline's id."""
        if live.created is not None and live.created not in self.live_labels:
            self.sessions += 1
            label = self.live_labels[live.created] = f"ps-{self.sessions}"
            made = base.created if base is not None else None
            if made is not None and made not in self.base_labels:
                self.base_labels[made] = label
                self.to_baseline[live.created] = made
        if live.issued is not None and live.issued not in self.live_labels:
            self.tokens += 1
            label = self.live_labels[live.issued] = f"token-{self.tokens}"
            issued = base.issued if base is not None else None
            if issued is not None and issued not in self.base_labels:
                self.base_labels[issued] = label
                self.to_baseline[live.issued] = issued
