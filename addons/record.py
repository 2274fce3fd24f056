"""Record Chime proxy-session calls into a vcrpy cassette, checking each one as it passes.

    mitmdump -s addons/record.py --set chime_cassette=calls.yaml
    mitmweb -s addons/record.py --set chime_cassette=calls.yaml --set chime_enforce=true

Each call to a proxy-session route is validated (request, status, response), logged in one line,
marked in mitmweb when something is wrong, and appended to the cassette before its response
goes back to the client: once a client has its answer, the interaction is on disk.

Per-interaction metadata (key ``chime_tap``, which vcrpy ignores):

- ``recorded_at``: when the request started, ISO 8601 UTC; ``duration_ms``: until the response
  (or the failure); ``operation`` and ``namespace`` (None for a call that is not a proxy-session
  call); ``violations``: list of ``Violation.to_dict()``.
- ``answered_by``: ``upstream`` (the server answered), ``chime-tap`` (the recorder refused the
  request itself in enforce mode; the service never saw it), ``addon`` (another addon answered,
  e.g. the simulator) or ``none`` (nobody did: the call failed).
- ``error``: set only for failed calls. A failed call (connection refused, timeout, TLS error,
  reset, client gone) is recorded with status code **0** and message
  ``chime-tap: no response (<error>)``: vcrpy loads it, ``chime-tap validate`` checks only its
  request, and the reports count it as ``NoResponse``. The client itself got mitmproxy's 502.
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from mitmproxy import command, ctx, exceptions, http
from mitmproxy.log import LegacyLogEvents

from chime_tap.addons.options import HOSTS, add_hosts_option, host_policy
from chime_tap.api.hosts import DEFAULT_HOSTS, HostPolicy
from chime_tap.api.operations import Route, classify_path, is_proxy_session_attempt
from chime_tap.api.validation import Violation, validate_request, validate_response
from chime_tap.calllog import call_logger, skip_legacy_log_events
from chime_tap.cassettes.format import META_KEY, NO_RESPONSE_STATUS, make_interaction
from chime_tap.cassettes.writer import CassetteWriter
from chime_tap.errors import CassetteError
from chime_tap.wire import decode_body, headers_dict

logger = logging.getLogger(__name__)

CASSETTE = "chime_cassette"
ENFORCE = "chime_enforce"
REDACT_PHONES = "chime_redact_phones"
RECORD_ALL = "chime_record_all"

NO_RESPONSE = NO_RESPONSE_STATUS  # status code of a call that got no response (see above)
UPSTREAM, RECORDER, ADDON, NOBODY = "upstream", "chime-tap", "addon", "none"
VIOLATION_MARK = ":warning:"
FAILURE_MARK = ":x:"


class Call:
    """What the recorder knows about one flow.

    A plain class, not a dataclass: ``mitmdump -s`` loads this module outside ``sys.modules``,
    where dataclasses cannot resolve postponed annotations.
    """

    __slots__ = (
        "answered_by",
        "authority",
        "extra",
        "from_server",
        "namespace",
        "recorded",
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

    @property
    def operation(self) -> str | None:
        return self.route.name if self.route else None


# --- pure functions: data in, data out --------------------------------------------------------


def describe(method: str, host: str, path: str, port: int | None, hosts: HostPolicy) -> Call | None:
    """Classify a request: a Call for a proxy-session call on a Chime host, else None.

    A request under the proxy-session paths that matches no operation (a wrong method, extra
    segments) is a Call with no route and a violation; anything else, including the other APIs
    a Chime host serves, is other traffic.
    """
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


def host_header(req: http.Request) -> str | None:
    """``req.host_header`` (Host, or :authority in HTTP/2 and 3), read from the raw fields.

    Same value; the property looks the name up through a case-folding multidict on every call.
    """
    if req.is_http2 or req.is_http3:
        return req.host_header
    values = [value for name, value in req.headers.fields if name.lower() == b"host"]
    return b", ".join(values).decode("utf-8", "surrogateescape") if values else None


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
    frac, whole = math.modf(timestamp)
    micros = round(frac * 1e6)
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    elif micros < 0:
        whole, micros = whole - 1, micros + 1_000_000
    seconds, ms = int(whole), micros // 1000
    prefix = _SECOND_PREFIX.get(seconds)
    if prefix is None:  # once per second of traffic, not once per call
        _SECOND_PREFIX.clear()
        prefix = _SECOND_PREFIX[seconds] = datetime.fromtimestamp(seconds, UTC).strftime(
            "%Y-%m-%dT%H:%M:%S"
        )
    return f"{prefix}.{ms:03d}Z"


_SECOND_PREFIX: dict[int, str] = {}


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


def comment_for(call: Call, violations: list[Violation], error: str | None) -> str:
    """The flow comment mitmweb shows: the operation, then what is wrong, one line each."""
    lines = [call.operation or "not a proxy-session call"]
    if call.answered_by == RECORDER:
        lines[0] += " (refused by chime-tap enforce mode)"
    if error:
        lines.append(f"failed: {error}")
    lines += [f"- {v}" for v in violations]
    return "\n".join(lines)


def log_line(
    call: Call,
    method: str,
    path: str,
    status: int,
    duration_ms: float,
    violations: int,
    error: str | None,
) -> str:
    """One line per call: operation, ids, status, latency, violation count (never a header)."""
    route = call.route
    if route is None:
        what = f"not a proxy-session call: {method} {path.split('?', 1)[0]}"
    else:
        what = f"{route.name} connector={route.voice_connector_id}"
        if route.proxy_session_id is not None:
            what += f" session={route.proxy_session_id}"
    outcome = f"failed ({error})" if error else str(status)
    if call.answered_by == RECORDER:
        outcome += " (answered by chime-tap enforce)"
    return f"{what} -> {outcome} in {duration_ms:.1f} ms, {violations} violation(s)"


def recording_meta(
    *,
    started: float,
    duration_ms: float,
    call: Call | None,
    violations: list[Violation],
    answered_by: str,
    error: str | None,
) -> dict[str, Any]:
    """The per-interaction metadata kept under ``META_KEY`` (and in ``flow.metadata``)."""
    meta: dict[str, Any] = {
        "recorded_at": iso_utc(started),
        "duration_ms": round(duration_ms, 3),
        "operation": call.operation if call else None,
        "namespace": call.namespace if call else None,
        "violations": [v.to_dict() for v in violations],
        "answered_by": answered_by,
    }
    if error is not None:
        meta["error"] = error
    return meta


def open_cassette(path: str, redact_phones: bool) -> CassetteWriter:
    """Open (or create) a cassette for appending; CassetteError with a one-line reason if not."""
    p = Path(path).expanduser()
    if not p.parent.is_dir():
        raise CassetteError(f"{path}: directory {str(p.parent)!r} does not exist")
    if p.is_dir():
        raise CassetteError(f"{path}: is a directory, not a cassette")
    try:
        return CassetteWriter(p, redact_phones=redact_phones)
    except OSError as e:
        raise CassetteError(f"{path}: cannot open ({e.strerror or e})") from None


# --- the addon --------------------------------------------------------------------------------


class Recorder:
    """Validates, logs, marks and records proxy-session calls; optionally refuses invalid ones."""

    def __init__(self) -> None:
        self.hosts: HostPolicy = DEFAULT_HOSTS
        self.writer: CassetteWriter | None = None
        self.redact_phones = False
        self.record_all = False
        # mitmproxy offers each flow only to the hooks an addon has. Without enforce mode there
        # is nothing to do before the response, so there is no request hook (see configure).
        self.request: Callable[[http.HTTPFlow], None] | None = None
        self.recorded = 0
        self.with_violations = 0
        self.failed = 0
        self.lost = 0  # interactions that could not be written (disk full, ...)
        self.shut = False  # done() closed the cassette; the proxy is stopping
        # Per-flow state, off flow.metadata so saved flow files stay serializable.
        self._calls: weakref.WeakKeyDictionary[http.HTTPFlow, Call] = weakref.WeakKeyDictionary()
        self._from_server: weakref.WeakSet[http.HTTPFlow] = weakref.WeakSet()

    def load(self, loader) -> None:
        add_hosts_option(loader)
        loader.add_option(
            CASSETTE,
            str,
            "",
            "Cassette to append proxy-session calls to (vcrpy format; .json for JSON, YAML otherwise). Empty: validate and log only.",
        )
        loader.add_option(
            ENFORCE,
            bool,
            False,
            "Answer requests that fail validation with 400 BadRequestException instead of sending them to the service.",
        )
        loader.add_option(
            REDACT_PHONES,
            bool,
            False,
            "Replace phone numbers in the cassette by deterministic E.164 pseudonyms (the cassette still validates and replays).",
        )
        loader.add_option(
            RECORD_ALL,
            bool,
            False,
            "Record every flow, not only calls to Chime hosts.",
        )

    def configure(self, updated: set[str]) -> None:
        if HOSTS in updated:
            self.hosts = host_policy(ctx.options.chime_hosts)
        if ENFORCE in updated:
            self.request = self._refuse_invalid if ctx.options.chime_enforce else None
        if RECORD_ALL in updated:
            self.record_all = ctx.options.chime_record_all
        if REDACT_PHONES in updated:
            self.redact_phones = ctx.options.chime_redact_phones
            if self.writer is not None:
                self.writer.redact_phones = self.redact_phones
        if CASSETTE in updated:
            self._open(ctx.options.chime_cassette)

    def _open(self, path: str) -> None:
        if self.writer is not None and path and Path(path).expanduser() == self.writer.path:
            return
        writer = None
        if path:
            try:
                writer = open_cassette(path, self.redact_phones)
            except CassetteError as e:
                raise exceptions.OptionsError(f"{CASSETTE}: {e}") from e
        self.close()
        self.writer = writer
        if writer is not None:
            logger.info(f"recording to {writer.path} ({writer.count} interaction(s) already there)")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            logger.info(f"cassette {self.writer.path}: {self.writer.count} interaction(s)")
            self.writer = None

    def running(self) -> None:
        skip_legacy_log_events(LegacyLogEvents)

    def done(self) -> None:
        self.shut = self.writer is not None
        self.close()

    # --- hooks ----------------------------------------------------------------------------------

    def _refuse_invalid(self, flow: http.HTTPFlow) -> None:
        """The request hook, in enforce mode: answer an invalid request with the service's 400."""
        if flow.response or flow.error or not flow.live:
            return
        call = self._call(flow)
        if call is None or call.route is None:
            return
        violations = self._request_violations(flow, call)
        if violations:
            status, headers, body = enforce_answer(violations)
            flow.response = http.Response.make(status, body, headers)
            call.answered_by = RECORDER

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        # A server's response arrives here before its body (content None); mitmproxy also calls
        # this hook for an addon's answer, which already has its body.
        if flow.response is None or flow.response.raw_content is not None:
            return
        call = self._call(flow)
        if call is not None:
            call.from_server = True
        elif self.record_all:
            self._from_server.add(flow)

    def response(self, flow: http.HTTPFlow) -> None:
        if flow.response is None:
            return
        self._finish(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        if flow.error is None:
            return
        self._finish(flow)

    # --- the shared path ------------------------------------------------------------------------

    def _call(self, flow: http.HTTPFlow) -> Call | None:
        call = self._calls.get(flow)
        if call is None:
            req = flow.request
            authority = host_header(req)
            call = describe(req.method, authority or req.host, req.path, req.port, self.hosts)
            if call is None:
                return None
            call.authority = authority
            self._calls[flow] = call
        return call

    def _request_violations(
        self, flow: http.HTTPFlow, call: Call, body: bytes | None = None
    ) -> list[Violation]:
        """Checked once per call; ``body``: the request body already decoded, if it is at hand."""
        if call.request_violations is None:
            assert call.route is not None
            req = flow.request
            if body is None:
                body = req.get_content(strict=False)
            call.request_violations = validate_request(
                call.route, query=query_of(req.path), body=body
            )
        return call.request_violations

    def _finish(self, flow: http.HTTPFlow) -> None:
        call = self._call(flow)
        if call is None and not (self.record_all and self.writer is not None):
            return
        if call is not None and call.recorded:
            return
        req, resp = flow.request, flow.response
        error = flow.error.msg if flow.error else None
        failed = error is not None or resp is None
        end = (
            resp.timestamp_end
            if (resp is not None and not failed and resp.timestamp_end)
            else time.time()
        )
        duration_ms = max(0.0, (end - req.timestamp_start) * 1000.0)

        if failed or resp is None:
            status, reason, response_headers, response_body = (
                NO_RESPONSE,
                f"chime-tap: no response ({error})",
                {},
                b"",
            )
            answered_by = NOBODY
        else:
            status, reason = resp.status_code, resp.reason
            response_headers = headers_dict(resp.headers.fields)
            response_body, response_headers = decode_body(resp.raw_content, response_headers)
            if call is not None and call.answered_by == RECORDER:
                answered_by = RECORDER
            elif call.from_server if call is not None else flow in self._from_server:
                answered_by = UPSTREAM
            else:
                answered_by = ADDON

        # Decoded once: for the request check and for the cassette.
        request_headers = headers_dict(req.headers.fields)
        request_body, request_headers = decode_body(req.raw_content, request_headers)
        violations: list[Violation] = []
        if call is not None:
            call.recorded = True
            call.answered_by = answered_by
            violations = list(call.extra)
            if call.route is not None:
                violations += self._request_violations(flow, call, request_body)
                if not failed:
                    violations += validate_response(
                        call.route, status=status, body=response_body, headers=response_headers
                    )
            if violations:
                self.with_violations += 1
                flow.marked = VIOLATION_MARK
            if failed:
                self.failed += 1
                flow.marked = FAILURE_MARK
            flow.comment = comment_for(call, violations, error)
            line = log_line(call, req.method, req.path, status, duration_ms, len(violations), error)
            if violations or failed:
                call_logger.warning(line)
            else:
                call_logger.info(line)

        meta = recording_meta(
            started=req.timestamp_start,
            duration_ms=duration_ms,
            call=call,
            violations=violations,
            answered_by=answered_by,
            error=error,
        )
        flow.metadata[META_KEY] = meta  # saved flow files (-w, mitmweb) carry it too
        if self.writer is None:
            # mitmproxy still finishes flows in flight after done(): never forward an answer
            # the closed cassette cannot hold (the client sees its connection close instead).
            if self.shut and flow.killable:
                flow.kill()
                self.lost += 1
            return
        interaction = make_interaction(
            method=req.method,
            uri=client_url(
                req.scheme,
                call.authority if call is not None else host_header(req),
                req.host,
                req.port,
                req.path,
            ),
            request_headers=request_headers,
            request_body=request_body,
            status=status,
            reason=reason,
            response_headers=response_headers,
            response_body=response_body,
            meta=meta,
            fmt=self.writer.fmt,
        )
        try:
            self.writer.append(interaction)
        except (CassetteError, OSError) as e:
            self.lost += 1
            logger.error(f"not recorded: {req.method} {req.path.split('?', 1)[0]}: {e}")
            return
        self.recorded += 1

    @command.command("chime.record.stats")
    def stats(self) -> str:
        """What the recorder has done so far: cassette, calls recorded, with violations, failed."""
        where = str(self.writer.path) if self.writer else "(no cassette)"
        return f"{where}: {self.recorded} recorded, {self.with_violations} with violations, {self.failed} failed, {self.lost} not written"


addons = [Recorder()]
