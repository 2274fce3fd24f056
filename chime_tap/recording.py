"""What the recorder does with one proxy-session call, as plain functions: data in, data out.

Which call it is, when, who answered it, the log line, the mitmweb comment, the metadata kept
with the interaction, and the 400 enforce mode answers with. ``addons/record.py`` wires these
to mitmproxy's flows; nothing here knows mitmproxy.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs

from chime_tap.api.hosts import HostPolicy
from chime_tap.api.operations import Route, classify_path, is_proxy_session_attempt
from chime_tap.api.validation import Violation, validate_request, validate_response
from chime_tap.calllog import one_line, outcome, violations_text, what_call
from chime_tap.cassettes.format import NO_RESPONSE_STATUS, Interaction, make_interaction
from chime_tap.cassettes.phones import CallPhones, redact_phone_numbers_in_uri
from chime_tap.cassettes.writer import CassetteWriter, check_recordable
from chime_tap.errors import CassetteError
from chime_tap.simulator.control import CONTROL_HOST
from chime_tap.wire import DECODED_BODY_LIMIT, authority, decode_fields, header_lists

NO_RESPONSE = NO_RESPONSE_STATUS  # status code of a call that got no response
# Who answered a call (``chime_tap.answered_by``): the server, chime-tap's enforce mode,
# another addon (e.g. the simulator), or nobody (the call failed).
UPSTREAM, RECORDER, ADDON, NOBODY = "upstream", "chime-tap", "addon", "none"


class Call:
    """What the recorder knows about one call."""

    __slots__ = (
        "answered_by",
        "authority",
        "control",
        "extra",
        "from_server",
        "namespace",
        "recorded",
        "recorder",
        "request_violations",
        "route",
    )

    def __init__(self, route: Route | None, namespace: str | None) -> None:
        self.route = route
        self.namespace = namespace  # None: not a Chime host
        self.request_violations: list[Violation] | None = None  # None: not checked yet
        self.answered_by: str | None = None
        self.authority: str | None = None  # the Host header the client sent
        self.from_server = False  # set by responseheaders: a server sent the response
        self.recorded = False
        self.extra: list[Violation] = []  # e.g. "not a proxy-session call"
        self.control = False  # a call to the simulator's control endpoint (its clock, a reset)
        self.recorder: object = None  # the recorder that keeps this call (addons/record.py)

    @property
    def operation(self) -> str | None:
        return self.route.name if self.route else None


def describe(method: str, host: str, path: str, port: int | None, hosts: HostPolicy) -> Call | None:
    """Classify a request: a Call for a proxy-session call on a Chime host, else None.

    A request under the proxy-session paths that matches no operation (a wrong method, extra
    segments) is a Call with no route and a violation; a call to the simulator's control
    endpoint is a Call marked ``control`` (recorded as what it is: it moved the clock, or reset
    the sessions, between the calls around it); anything else, including the other APIs a
    Chime host serves, is other traffic.
    """
    if host.partition(":")[0].lower() == CONTROL_HOST:
        call = Call(None, None)
        call.control = True
        return call
    namespace = hosts.namespace_of(host, port)
    if namespace is None:
        return None
    route = classify_path(method, path, namespace)
    if route is None and not is_proxy_session_attempt(path):
        return None
    call = Call(route, namespace)
    if route is None:
        bare = path.split("?", 1)[0]
        call.extra.append(Violation(None, "path", "", f"not a proxy-session call: {method} {bare}"))
    return call


def client_url(scheme: str, authority: str | None, host: str, port: int, path: str) -> str:
    """The URL as the client addressed it: its Host header (or :authority), else host and port.

    Cheaper than mitmproxy's ``pretty_url``, which parses and rebuilds the authority per flow.
    """
    default = ":443" if scheme == "https" else ":80"
    if authority:
        if authority.endswith(default):
            authority = authority[: -len(default)]
    else:
        shown = f"[{host}]" if ":" in host else host
        authority = shown if f":{port}" == default else f"{shown}:{port}"
    return f"{scheme}://{authority}{path}"


def query_of(path: str) -> dict[str, list[str]]:
    """The query parameters of a request path, name -> values."""
    _, sep, query = path.partition("?")
    return parse_qs(query, keep_blank_values=True) if sep else {}


def iso_utc(timestamp: float) -> str:
    """``2026-01-02T03:04:05.678Z``."""
    # As datetime does it: round to the microsecond, then isoformat truncates to milliseconds.
    frac, whole = _modf(timestamp)
    micros = round(frac * 1e6)
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    elif micros < 0:
        whole, micros = whole - 1, micros + 1_000_000
    prefix = _SECOND_PREFIX.get(whole)  # a whole float finds its int key: equal, same hash
    if prefix is None:  # once per second of traffic, not once per call
        seconds = int(whole)
        _SECOND_PREFIX.clear()
        prefix = _SECOND_PREFIX[seconds] = datetime.fromtimestamp(seconds, UTC).strftime(
            "%Y-%m-%dT%H:%M:%S"
        )
    return prefix + _MILLIS[micros // 1000]


_modf = math.modf
_SECOND_PREFIX: dict[int, str] = {}
# ".000Z" to ".999Z": the milliseconds' ending, looked up rather than formatted on every call.
_MILLIS = tuple(f".{ms:03d}Z" for ms in range(1000))


def enforce_answer(violations: list[Violation]) -> tuple[int, dict[str, str], bytes]:
    """The 400 BadRequestException the service would send, naming what is wrong with the request."""
    op = violations[0].operation or "request"
    problems = "; ".join(str(v) for v in violations)
    message = f"chime-tap enforce: invalid {op} request: {problems}"
    body = json.dumps({"Code": "BadRequest", "Message": message}).encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "x-amzn-ErrorType": "BadRequestException",
        "x-amzn-RequestId": str(uuid.uuid4()),
    }
    return 400, headers, body


# mitmproxy's own demand for credentials (its proxyauth option): 407 with Proxy-Authenticate in
# a forward proxy, 401 with WWW-Authenticate in reverse mode, in mitmproxy's realm.
PROXY_AUTH_CHALLENGES = {407: b"proxy-authenticate", 401: b"www-authenticate"}
PROXY_AUTH_REALM = b'Basic realm="mitmproxy"'


def proxy_auth_challenge(
    status: int, header_fields: Iterable[tuple[bytes, bytes]], answered_by: str
) -> bool:
    """Whether an answer is the proxy's demand for the client's proxy credentials
    (``--set proxyauth=...``), not the service's: no server sent it, and it is mitmproxy's
    challenge. The request never left the proxy, so there is no call to record."""
    name = PROXY_AUTH_CHALLENGES.get(status)
    if name is None or answered_by == UPSTREAM:
        return False
    return any(k.lower() == name and v == PROXY_AUTH_REALM for k, v in header_fields)


# What became of a request the proxy's own authentication refused, as each command's line
# and exit summary say it.
RECORD_AUTH_OUTCOME = "not sent on, not recorded"
REPLAY_AUTH_OUTCOME = "not answered from the cassette"
SIMULATE_AUTH_OUTCOME = "not answered by the simulator"


def proxy_auth_refused_line(what: str, outcome: str = RECORD_AUTH_OUTCOME) -> str:
    """The log line of a request the proxy's own authentication refused (``what``: its method
    and target; ``outcome``: what the command did not do with it)."""
    return (
        f"{what}: refused by the proxy's own authentication (proxyauth: no or wrong user and "
        f"password in the client's proxy URL); {outcome}"
    )


def proxy_auth_refusal(
    req: Any, resp: Any, outcome: str, answered_by: str = ADDON, redact_phones: bool = False
) -> str | None:
    """The log line of a request, or an HTTPS client's CONNECT, that the proxy's own
    authentication refused (``req``, ``resp``: the flow's request and answer, as mitmproxy
    holds them); None for any other answer. ``answered_by``: who sent ``resp`` (a server's 407
    is its answer, not a refusal); ``redact_phones``: its path as :func:`said_path` says it."""
    if resp is None or not proxy_auth_challenge(resp.status_code, resp.headers.fields, answered_by):
        return None
    if req.method == "CONNECT":  # its target is the authority it asked for
        what = f"CONNECT {authority(req.host, req.port)}"
    else:
        what = f"{req.method} {said_path(req.path.split('?', 1)[0], redact_phones)}"
    return proxy_auth_refused_line(what, outcome)


class AuthRefusals:
    """The requests the proxy's own authentication refused, counted for a command's summary
    (``outcome``: what the command did not do with them, as its lines say)."""

    def __init__(self, outcome: str) -> None:
        self.outcome = outcome
        self.count = 0

    def seen(
        self, req: Any, resp: Any, answered_by: str = ADDON, redact_phones: bool = False
    ) -> str | None:
        """The line to log if the flow (``req``, ``resp``) is such a refusal, counted; else None."""
        line = proxy_auth_refusal(req, resp, self.outcome, answered_by, redact_phones)
        self.count += line is not None
        return line


NOT_RECORDED_STATUS = 507  # Insufficient Storage: what strict recording answers instead
NOT_RECORDED_ERROR_TYPE = "ChimeTapNotRecorded"


def not_recorded_answer(what: str, reason: str) -> tuple[int, dict[str, str], bytes]:
    """Strict recording's answer to a call the cassette could not take (the service did get it)."""
    message = (
        f"chime-tap record: {what} was not recorded ({reason}), so its answer is withheld "
        "(--strict-recording); the service did receive the call"
    )
    body = json.dumps({"Code": NOT_RECORDED_ERROR_TYPE, "Message": message}).encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "x-amzn-ErrorType": NOT_RECORDED_ERROR_TYPE,
        "x-chime-tap-record": "not-recorded",
    }
    return NOT_RECORDED_STATUS, headers, body


def limit_error(error: str, limit: str | None, status: int | None = None) -> str:
    """mitmproxy's error for a body past ``body_size_limit``, naming the limit and what the
    server had answered before its body ran over; any other error as it is."""
    if "body_size_limit" not in error or not limit:
        return error
    answered = f"; the server had answered {status}" if status else ""
    return f"{error.rstrip('.')} ({limit}){answered}"


def streamed_note(part: str, size: int | None, threshold: str | None) -> str:
    """The body note of a body passed on as it came and never held (``stream_large_bodies``)."""
    to = "the client" if part == "response" else "the server"
    held = f"{size:,} bytes" if size is not None else "its size unknown"
    return (
        f"{part} body streamed to {to} and not kept ({held}; over stream_large_bodies={threshold})"
    )


VIOLATION_MARK = ":warning:"  # mitmweb's marks (emoji shortcodes) of a recorded call
FAILURE_MARK = ":x:"
DIFFERENCE_MARK = ":mag:"  # spy mode: the answer differs from the baseline's


def mark_for(
    violations: Sequence[Violation], failed: bool, body_note: str | None, differs: bool = False
) -> str | None:
    """The mark mitmweb shows on a recorded call, the gravest first: it failed, something is
    wrong with it (a violation, a body not kept whole), its answer differs from spy mode's
    baseline; None: nothing to flag."""
    if failed:
        return FAILURE_MARK
    if violations or body_note:
        return VIOLATION_MARK
    return DIFFERENCE_MARK if differs else None


def comment_for(
    call: Call,
    violations: list[Violation],
    error: str | None,
    body_note: str | None = None,
    compared: Sequence[str] = (),
) -> str:
    """The flow comment mitmweb shows: the operation, then what is wrong, one line each, then
    spy mode's comparison with the baseline (``compared``)."""
    lines = [
        "simulator control call" if call.control else call.operation or "not a proxy-session call"
    ]
    if call.answered_by == RECORDER:
        lines[0] += " (refused by chime-tap enforce mode)"
    if error:
        lines.append(f"failed: {error}")
    if body_note:
        lines.append(body_note)
    if violations:
        lines += [f"- {v}" for v in violations]
    lines += compared
    return "\n".join(lines)


def log_line(
    call: Call,
    method: str,
    path: str,
    status: int,
    duration_ms: float,
    violations: Sequence[Violation],
    error: str | None,
    upstream: str | None = None,
    body_note: str | None = None,
    compared: str | None = None,
    phones: CallPhones | None = None,
) -> str:
    """One line per call: operation, ids, status, latency and what is wrong (never a header).

    The first violation goes on the line and the others under it, one each; a failed call
    names the upstream it was going to; a body kept as it came (or not kept) says so on the
    line, and so does spy mode's comparison with the baseline (``compared``). ``phones``: the
    path and the ids in it as the cassette's URI holds them (phone redaction; the rest of what
    the line says comes pseudonymized: :func:`said_about`).
    """
    # Once per call: the common case (a route, a status, no violation) is built inline.
    route = call.route
    if phones is not None:
        path = phones.uri(path)
    if call.control:
        what = f"simulator control: {method} {path}"
    elif route is None:
        what = what_call(None, method, path)
    else:
        connector, session = route.voice_connector_id, route.proxy_session_id
        if phones is not None:
            connector = phones.segment(connector) if connector is not None else None
            session = phones.segment(session) if session is not None else None
        what = f"{route.name} connector={connector}"
        if session is not None:
            what += f" session={session}"
    result = outcome(status, error, upstream) if error else str(status)
    if call.answered_by == RECORDER:
        result += " (answered by chime-tap enforce)"
    found = violations_text(violations) if violations else "0 violation(s)"
    for note in (body_note, compared):
        if note:
            first, newline, rest = found.partition("\n")
            found = f"{first}; {one_line(note)}{newline}{rest}"
    return f"{what} -> {result} in {duration_ms:.1f} ms, {found}"


def said_about(
    call: Call,
    method: str,
    path: str,
    exchange: Exchange,
    violations: list[Violation],
    upstream: str | None = None,
    compared: Any = None,
    redact_phones: bool = False,
) -> tuple[str, str]:
    """A recorded call's log line and mitmweb comment (:func:`log_line`, :func:`comment_for`).

    ``compared``: spy mode's :class:`~chime_tap.spy.Comparison`, if any. With
    ``redact_phones`` every phone number in both is the pseudonym the cassette carries for it
    (never the real one: the log often ends up in CI output), found by the writer's rule from
    the same place (:class:`~chime_tap.cassettes.phones.CallPhones`).
    """
    phones, violations, error, note = as_kept(exchange, violations, redact_phones)
    if phones is not None and compared is not None:
        compared = _pseudonymized(compared, phones)
        compared.differences = [_pseudonymized(d, phones) for d in compared.differences]
    comment = comment_for(
        call, violations, error, note, compared.comment() if compared is not None else ()
    )
    line = log_line(
        call, method, path, exchange.status, exchange.duration_ms, violations, error,
        upstream, note, compared.summary() if compared is not None else None, phones,
    )  # fmt: skip
    return line, comment


class Kept(NamedTuple):
    """What a line or comment may quote of a call, as the cassette's metadata keeps it."""

    phones: CallPhones | None  # None: phone redaction is off, everything as it came
    violations: list[Violation]
    error: str | None
    note: str | None


def as_kept(exchange: Exchange, violations: list[Violation], redact_phones: bool) -> Kept:
    """A call's violations, error and body note as its cassette keeps them: with
    ``redact_phones`` each phone number is the pseudonym the writer puts there (never the real
    one: the log often ends up in CI output); without, as they are."""
    error, note = exchange.error, exchange.body_note
    if not redact_phones:
        return Kept(None, violations, error, note)
    phones = CallPhones(exchange.request_body, exchange.response_body)
    return Kept(
        phones,
        [_pseudonymized(v, phones) for v in violations],
        phones.text(error) if error else error,
        phones.text(note) if note else note,
    )


def _pseudonymized(record: Any, phones: CallPhones) -> Any:
    """A copy of a dataclass (a violation, a difference, a comparison) with each of its strings
    as the cassette's metadata holds it: the writer redacts every string there the same way."""
    changes = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if isinstance(value, str):
            changes[f.name] = phones.text(value)
    return dataclasses.replace(record, **changes)


def said_note(exchange: Exchange, redact_phones: bool = False) -> str | None:
    """The body note, as mitmweb's comment on other traffic says it (``--record-all``)."""
    return as_kept(exchange, [], redact_phones).note


def said_path(path: str, redact_phones: bool = False) -> str:
    """A request's path as a line that names the request says it: with phone redaction, as the
    cassette's URI holds it."""
    return redact_phone_numbers_in_uri(path) if redact_phones else path


def check_record_target(path: str) -> None:
    """Refuse, with a one-line CassetteError, a cassette that cannot be recorded into, before
    anything is recorded: its directory is missing, it is a directory, or it is broken (a
    broken cassette is never overwritten)."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise CassetteError(f"{path}: is a directory, not a cassette")
    if not p.parent.is_dir():
        raise CassetteError(f"{path}: directory {str(p.parent)!r} does not exist")
    check_recordable(p)  # a torn last interaction passes: the writer moves it aside


def recording_meta(
    *,
    started: float,
    duration_ms: float,
    call: Call | None,
    violations: list[Violation],
    answered_by: str,
    error: str | None,
    body_note: str | None = None,
    compared: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The per-interaction metadata kept under ``META_KEY`` (and in ``flow.metadata``).

    ``compared``: spy mode's ``baseline`` and ``differences`` (``chime_tap.spy.Comparison.meta``).

    A call with nothing to say about its bodies has no ``body_note`` key: its metadata is the
    one ``cassettes.yaml_block`` writes from a template.
    """
    meta: dict[str, Any] = {
        "recorded_at": iso_utc(started),
        "duration_ms": round(duration_ms, 3),
        "operation": call.operation if call else None,
        "namespace": call.namespace if call else None,
        "violations": [v.to_dict() for v in violations] if violations else [],
        "answered_by": answered_by,
    }
    if error is not None:
        meta["error"] = error
    if body_note:
        meta["body_note"] = body_note
    if call is not None and call.control:
        meta["control"] = True  # the simulator's control endpoint: not an API call
    if compared:
        meta.update(compared)
    return meta


def call_violations(
    call: Call, exchange: Exchange, path: str, request: list[Violation] | None = None
) -> list[Violation]:
    """What is wrong with a finished call: its path (``call.extra``), its request (``path``'s
    query and the decoded body), and the answer, if it got one. The one rule of ``record`` and
    of ``replay --on-miss forward``.

    ``request``: the request's violations, when the caller has them already (``record`` checks
    a request once, before it is sent in enforce mode); found here otherwise.
    """
    violations = list(call.extra)
    route = call.route
    if route is not None:
        if request is None:
            request = validate_request(route, query=query_of(path), body=exchange.request_body)
        violations += request
        if exchange.got_response:
            violations += validate_response(
                route,
                status=exchange.status,
                body=exchange.response_body,
                headers=exchange.response_headers,
            )
    return violations


def open_cassette(
    path: str, redact_phones: bool, on_notice: Callable[[str], None] | None = None
) -> CassetteWriter:
    """Open (or create) a cassette for appending; CassetteError with a one-line reason if not.

    ``on_notice`` gets the one line the writer says when it had to act on its own (a torn last
    interaction moved aside, a file replaced while recording), as it happens.
    """
    p = Path(path).expanduser()
    if not p.parent.is_dir():
        raise CassetteError(f"{path}: directory {str(p.parent)!r} does not exist")
    if p.is_dir():
        raise CassetteError(f"{path}: is a directory, not a cassette")
    try:
        return CassetteWriter(p, redact_phones=redact_phones, on_notice=on_notice)
    except OSError as e:
        raise CassetteError(f"{path}: cannot open ({e.strerror or e})") from None


def part_note(part: str, note: str | None) -> str | None:
    """A body note naming the message it is about: ``response body kept as received (...)``."""
    if not note:
        return None
    return note if note.startswith(part) else f"{part} {note}"


def elapsed_ms(started: float, ended: float | None = None) -> float:
    """Milliseconds from ``started`` to ``ended`` (now, when the call has no end), never negative."""
    return max(0.0, ((ended or time.time()) - started) * 1000.0)


class Exchange:
    """One finished call as the cassette keeps it: decoded bodies, status, timing, who answered."""

    __slots__ = (
        "answered_by",
        "body_note",
        "duration_ms",
        "error",
        "got_response",
        "reason",
        "request_body",
        "request_headers",
        "response_body",
        "response_headers",
        "status",
    )

    def __init__(
        self,
        *,
        request_headers: dict[str, list[str]],
        request_body: bytes | None,
        status: int,
        reason: str,
        response_headers: dict[str, list[str]],
        response_body: bytes | None,
        duration_ms: float,
        answered_by: str,
        error: str | None = None,
        body_note: str | None = None,
    ) -> None:
        self.request_headers, self.request_body = request_headers, request_body
        self.status, self.reason = status, reason
        self.response_headers, self.response_body = response_headers, response_body
        self.duration_ms, self.answered_by, self.error = duration_ms, answered_by, error
        self.got_response = answered_by != NOBODY  # read three times per call: no property
        self.body_note = body_note  # why a body is not kept decoded (or not kept at all)

    def meta(
        self,
        started: float,
        call: Call | None,
        violations: list[Violation],
        compared: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """This call's metadata (:func:`recording_meta`), as every proxy that records keeps it."""
        return recording_meta(
            started=started,
            duration_ms=self.duration_ms,
            call=call,
            violations=violations,
            answered_by=self.answered_by,
            error=self.error,
            body_note=self.body_note,
            compared=compared,
        )

    def add_note(self, note: str | None) -> None:
        """Say one more thing about the bodies (``body_note``), after what was said already."""
        if note:
            self.body_note = f"{self.body_note}; {note}" if self.body_note else note

    @classmethod
    def decoded(
        cls,
        request: tuple[Iterable[tuple[bytes, bytes]], bytes | None],
        status: int,
        reason: str,
        response: tuple[Iterable[tuple[bytes, bytes]], bytes | None],
        *,
        duration_ms: float,
        answered_by: str,
        limit: int = DECODED_BODY_LIMIT,
    ) -> Exchange:
        """A call that got a response, from each message's raw header fields and raw body.

        Each body is decoded from its Content-Encoding up to ``limit`` bytes; one that is not
        (a bomb, a coding that is no HTTP content coding, a body that does not decode) is kept
        as it came, with its Content-Encoding, and ``body_note`` says why.
        """
        req = decode_fields(*request, limit)
        resp = decode_fields(*response, limit)
        exchange = cls(
            request_headers=req.headers,
            request_body=req.body,
            status=status,
            reason=reason,
            response_headers=resp.headers,
            response_body=resp.body,
            duration_ms=duration_ms,
            answered_by=answered_by,
        )
        if req.note or resp.note:  # most calls have nothing to say about their bodies
            exchange.add_note(part_note("request", req.note))
            exchange.add_note(part_note("response", resp.note))
        return exchange

    @classmethod
    def failed(
        cls,
        error: str | None,
        duration_ms: float,
        request: tuple[Iterable[tuple[bytes, bytes]], bytes | None],
        limit: int = DECODED_BODY_LIMIT,
    ) -> Exchange:
        """A call that got no response: status 0, answered by nobody, the error as its reason.

        ``request``: its raw header fields and raw body, decoded as :meth:`decoded` does.
        """
        req = decode_fields(*request, limit)
        return cls(
            request_headers=req.headers,
            request_body=req.body,
            status=NO_RESPONSE,
            reason=f"chime-tap: no response ({error})",
            response_headers={},
            response_body=b"",
            duration_ms=duration_ms,
            answered_by=NOBODY,
            error=error,
            body_note=part_note("request", req.note),
        )

    def view(self, method: str, uri: str, duration_ms: float | None = None) -> Interaction:
        """This call as a recorded interaction reads, for spy mode: bodies not copied, and no
        request headers (nothing compares them: signatures, dates and ids change every call)."""
        return Interaction(
            index=0,
            method=method.upper(),
            uri=uri,
            request_headers={},
            request_body=self.request_body,
            status=self.status,
            reason=self.reason,
            response_headers=header_lists(self.response_headers),
            response_body=self.response_body,
            meta={"duration_ms": duration_ms if duration_ms is not None else self.duration_ms},
        )

    def interaction(
        self, method: str, uri: str, meta: dict[str, Any] | None, fmt: str = "yaml"
    ) -> dict[str, Any]:
        """The vcrpy interaction of this call (not yet scrubbed: the cassette writer scrubs)."""
        return make_interaction(
            method=method,
            uri=uri,
            request_headers=self.request_headers,
            request_body=self.request_body,
            status=self.status,
            reason=self.reason,
            response_headers=self.response_headers,
            response_body=self.response_body,
            meta=meta,
            fmt=fmt,
        )


def flow_exchange(
    request: Any,
    response: Any | None,
    error: str | None,
    *,
    answered_by: str,
    limit: int = DECODED_BODY_LIMIT,
    body_size_limit: str | None = None,
) -> Exchange:
    """A finished proxied call as an :class:`Exchange`, for every proxy that records one.

    ``request`` and ``response`` are mitmproxy's messages, read through their raw header
    fields, raw bodies and timestamps (mitmproxy is not imported here). A call with an error,
    a response begun included (a body past ``body_size_limit``: its limit is named), or with
    no response is a failed call; any other was answered by ``answered_by``.
    """
    if error is not None or response is None:
        if error is not None:
            error = limit_error(error, body_size_limit, response and response.status_code)
        return Exchange.failed(
            error,
            elapsed_ms(request.timestamp_start),
            (request.headers.fields, request.raw_content),
            limit,
        )
    return Exchange.decoded(
        (request.headers.fields, request.raw_content),
        response.status_code,
        response.reason,
        (response.headers.fields, response.raw_content),
        duration_ms=elapsed_ms(request.timestamp_start, response.timestamp_end),
        answered_by=answered_by,
        limit=limit,
    )
