"""Record Chime proxy-session calls into a vcrpy cassette, checking each one as it passes.

    mitmdump -s addons/record.py --set chime_cassette=calls.yaml
    mitmweb -s addons/record.py --set chime_cassette=calls.yaml --set chime_enforce=true

Each call to a proxy-session route is validated (request, status, response), logged in one line
(the first violation on it, any others on the lines under it), marked in mitmweb when something
is wrong, and appended to the cassette before its response goes back to the client: once a
client has its answer, the interaction is on disk. At exit, a summary of the calls.

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
  Over HTTPS this needs ``--set connection_strategy=lazy`` (``chime-tap record`` sets it): with
  mitmproxy's eager default, an upstream that cannot be reached fails the client's CONNECT,
  before any call exists to record.

A request the proxy's own authentication refuses (``--set proxyauth=...``: mitmproxy's 407)
never reached the service: it is not recorded, and the exit summary counts it. So does it count
the calls still in flight when the proxy stops (Ctrl+C while the service holds one): cut off
unanswered, not recorded.

What a call is and what is kept of it is decided in ``chime_tap.recording``; this addon hands
it mitmproxy's flows.
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mitmproxy import command, ctx, exceptions, hooks, http
from mitmproxy.log import LegacyLogEvents

from chime_tap import options
from chime_tap.api.hosts import DEFAULT_HOSTS, HostPolicy
from chime_tap.api.validation import Violation, validate_request
from chime_tap.calllog import log_call, record_summary, skip_legacy_log_events
from chime_tap.cassettes.format import META_KEY
from chime_tap.cassettes.writer import CassetteWriter
from chime_tap.errors import CassetteError
from chime_tap.recording import (
    ADDON,
    PROXY_AUTH_CHALLENGES,
    RECORD_AUTH_OUTCOME,
    RECORDER,
    UPSTREAM,
    VIOLATION_MARK,
    AuthRefusals,
    Call,
    Exchange,
    call_violations,
    client_url,
    describe,
    enforce_answer,
    flow_exchange,
    mark_for,
    not_recorded_answer,
    open_cassette,
    query_of,
    said_about,
    said_note,
    said_path,
    streamed_note,
)
from chime_tap.wire import DECODED_BODY_LIMIT, authority, decode_fields

if TYPE_CHECKING:  # spy mode's modules load only when it is on
    from chime_tap.spy import Comparison, Spy

logger = logging.getLogger(__name__)

# mitmproxy 11's hooks (hooks.all_hooks holds those of the modules imported so far).
MITMPROXY_HOOKS = (
    "add_log", "client_connected", "client_disconnected", "configure", "dns_error", "dns_request",
    "dns_response", "done", "error", "http_connect", "http_connect_error", "http_connect_upstream",
    "http_connected", "load", "next_layer", "quic_start_client", "quic_start_server", "request",
    "requestheaders", "response", "responseheaders", "running", "server_connect",
    "server_connect_error", "server_connected", "server_disconnected", "socks5_auth", "tcp_end",
    "tcp_error", "tcp_message", "tcp_start", "tls_clienthello", "tls_established_client",
    "tls_established_server", "tls_failed_client", "tls_failed_server", "tls_start_client",
    "tls_start_server", "udp_end", "udp_error", "udp_message", "udp_start", "update",
    "websocket_end", "websocket_message", "websocket_start",
)  # fmt: skip

IN_FLIGHT_LIMIT = 100_000  # flows held in flight before those no longer live are let go
CALL_ATTRIBUTE = "_chime_tap_call"  # a flow's Call (Recorder._call); never saved with the flow


def host_header(req: http.Request) -> str | None:
    """``req.host_header`` (Host, or :authority in HTTP/2 and 3), read from the raw fields.

    Same value; the property looks the name up through a case-folding multidict on every call.
    """
    if req.data.http_version in _AUTHORITY_VERSIONS:
        return req.host_header
    values = []
    for name, value in req.headers.fields:  # a loop, not a comprehension: no function call
        if name.lower() == b"host":
            values.append(value)
    return b", ".join(values).decode("utf-8", "surrogateescape") if values else None


# What Request.is_http2 and is_http3 compare the request's version with (one read, not two calls).
_AUTHORITY_VERSIONS = (b"HTTP/2.0", b"HTTP/3")


def _mitm_option(name: str) -> str | None:
    """A mitmproxy proxy option; None where no proxy server registered it (a test's context)."""
    return getattr(ctx.options, name, None)


def _content_length(headers: http.Headers) -> int | None:
    value = headers.get("content-length", "")
    return int(value) if value.isdigit() else None


class StreamCounter:
    """A response's ``stream``: passes each chunk on as it is, counting the bytes."""

    __slots__ = ("size",)

    def __init__(self) -> None:
        self.size = 0

    def __call__(self, data: bytes) -> bytes:
        self.size += len(data)
        return data


class Recorder:
    """Validates, logs, marks and records proxy-session calls; optionally refuses invalid ones."""

    def __init__(self) -> None:
        self.hosts: HostPolicy = DEFAULT_HOSTS
        self.writer: CassetteWriter | None = None
        self.redact_phones = False
        self.record_all = False
        self.decode_limit = DECODED_BODY_LIMIT
        # mitmproxy's options read per call, kept here: ctx.options costs microseconds a read.
        self.body_size_limit: str | None = None
        self.stream_large_bodies: str | None = None
        # The request hook (see configure): a request sent on is in flight until it finishes
        # (so the exit summary counts the calls Ctrl+C cut off); in enforce mode, an invalid
        # call is refused.
        self.request: Callable[[http.HTTPFlow], None] = self._sent
        self.strict = False  # chime_strict_recording: never answer what was not recorded
        self.spy: Spy | None = None  # chime_compare_to: spy mode's baseline
        self.recorded = 0
        self.with_violations = 0
        self.failed = 0
        self.controls = 0  # simulator control calls recorded
        self.others = 0  # other traffic recorded (--record-all)
        self.lost = 0  # answered, but could not be written (disk full, ...)
        self.refused = 0  # could not be written, so answered 507 instead (strict recording)
        self.dropped = 0  # still in flight when the cassette closed: cut off unanswered
        self.auth = AuthRefusals(RECORD_AUTH_OUTCOME)  # refused by the proxy's own auth
        self.tls_failed = 0  # clients' TLS handshakes that failed (most often: CA not trusted)
        self.statuses: dict[int, int] = {}  # proxy-session calls by status (0: no response)
        self.shut = False  # done() closed the cassette; the proxy is stopping
        self.started = False  # the running hook has run: the proxy listens
        self.stopped = False  # done() has run: the summary is said
        # Per-flow state, off flow.metadata so saved flow files stay serializable. A flow's Call
        # is an attribute of the flow object (CALL_ATTRIBUTE): read twice per call, it costs a
        # fraction of a weak dictionary's look-up, and goes with the flow as a weak key would.
        self._from_server: weakref.WeakSet[http.HTTPFlow] = weakref.WeakSet()
        self._streamed: weakref.WeakKeyDictionary[http.HTTPFlow, StreamCounter] = (
            weakref.WeakKeyDictionary()
        )
        # Flows past the request hook and not finished, by id: a dict's set and pop per flow
        # cost a fraction of a weak set's. Those done() finds are cut off, and kept (not counted
        # again if one finishes after done()).
        self._in_flight: dict[int, http.HTTPFlow] = {}
        self._cut_off: dict[int, http.HTTPFlow] = {}

    def load(self, loader) -> None:
        options.add_options(loader, (options.HOSTS, *options.RECORDER, options.DECODE_LIMIT))

    def configure(self, updated: set[str]) -> None:
        self.body_size_limit = _mitm_option("body_size_limit")
        self.stream_large_bodies = _mitm_option("stream_large_bodies")
        if options.HOSTS.name in updated:
            self.hosts = options.HOSTS.value_of(ctx.options, exceptions.OptionsError)
        if options.ENFORCE.name in updated:
            self.request = self._refuse_invalid if ctx.options.chime_enforce else self._sent
            if self is recorder:  # as a script, the module's hook is the one mitmproxy calls
                globals()["request"] = self.request
        if options.RECORD_ALL.name in updated:
            self.record_all = ctx.options.chime_record_all
        if options.STRICT_RECORDING.name in updated:
            self.strict = ctx.options.chime_strict_recording
        if options.DECODE_LIMIT.name in updated:
            self.decode_limit = options.DECODE_LIMIT.value_of(ctx.options, exceptions.OptionsError)
        if options.REDACT_PHONES.name in updated:
            self.redact_phones = ctx.options.chime_redact_phones
            if self.writer is not None:
                self.writer.redact_phones = self.redact_phones
        if options.COMPARE_TO.name in updated or (
            options.HOSTS.name in updated and self.spy is not None
        ):  # the baseline is read by the hosts that serve the API
            self.spy = self._spy(ctx.options.chime_compare_to)
        if options.CASSETTE.name in updated:
            self._open(ctx.options.chime_cassette)

    def _spy(self, path: str) -> Spy | None:
        if not path:
            return None
        from chime_tap.spy import Spy

        try:
            spy = Spy([path], self.hosts)
        except CassetteError as e:
            raise exceptions.OptionsError(f"{options.COMPARE_TO.name}: {e}") from e
        logger.info(spy.start_line())
        return spy

    def _open(self, path: str) -> None:
        if self.writer is not None and path and Path(path).expanduser() == self.writer.path:
            return
        writer = None
        if path:
            try:
                writer = open_cassette(path, self.redact_phones, on_notice=logger.warning)
            except CassetteError as e:
                raise exceptions.OptionsError(f"{options.CASSETTE.name}: {e}") from e
        self.close()
        self.writer = writer
        if self.started:  # else once the proxy listens: a proxy that cannot start records nothing
            self._say_where()

    def _say_where(self) -> None:
        if self.writer is not None:
            where = os.path.abspath(self.writer.path)
            logger.info(f"recording to {where} ({self.writer.count} interaction(s) already there)")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            if self.started:  # a proxy that never started (a bad option) recorded nothing
                logger.info(f"cassette {self.writer.path}: {self.writer.count} interaction(s)")
            self.writer = None

    def running(self) -> None:
        skip_legacy_log_events(LegacyLogEvents)
        if not self.started:
            self.started = True
            self._say_where()

    def done(self) -> None:
        self._count_cut_off()
        self.stopped = True
        self.shut = self.writer is not None
        logger.info(self.summary())
        if self.spy is not None:
            logger.info(self.spy.summary())
        if self.writer is not None:  # the summary said what it holds
            self.writer.close()
            self.writer = None

    def _count_cut_off(self) -> None:
        """The calls still in flight as the proxy stops (Ctrl+C while the service holds one):
        their clients get no answer and the cassette closes without them. Counted for the
        summary (classified now, as a finished call is: by its request as it was sent)."""
        for key, flow in self._in_flight.items():
            if self._call(flow) is not None or (self.record_all and self.writer is not None):
                self._cut_off[key] = flow
                self.dropped += 1
        self._in_flight.clear()

    def summary(self) -> str:
        """The paragraph printed at exit: calls by status class, violations, what was recorded."""
        return record_summary(
            self.statuses,
            with_violations=self.with_violations,
            recorded=self.recorded,
            lost=self.lost,
            cassette=os.path.abspath(self.writer.path) if self.writer else None,
            held=self.writer.count if self.writer else 0,
            refused=self.refused,
            dropped=self.dropped,
            controls=self.controls,
            others=self.others,
            tls_failed=self.tls_failed,
            auth_refused=self.auth.count,
        )

    # --- hooks ----------------------------------------------------------------------------------

    def _sent(self, flow: http.HTTPFlow) -> None:
        """The request hook: the request is on its way (unless an addon answers it), in flight
        until it finishes."""
        if not self.stopped:
            in_flight = self._in_flight
            if len(in_flight) >= IN_FLIGHT_LIMIT:  # flows that never finished: let them go
                for key in [k for k, f in in_flight.items() if not f.live]:
                    del in_flight[key]
            in_flight[id(flow)] = flow

    def _refuse_invalid(self, flow: http.HTTPFlow) -> None:
        """The request hook, in enforce mode: answer an invalid request with the service's 400."""
        self._sent(flow)
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
        else:
            return
        if flow.response.stream is True:  # stream_large_bodies: it will not be kept, but counted
            counter = StreamCounter()
            flow.response.stream = counter
            self._streamed[flow] = counter

    def response(self, flow: http.HTTPFlow) -> None:
        if flow.response is None:
            return
        self._finish(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        if flow.error is None:
            return
        self._finish(flow)

    def tls_failed_client(self, data: object) -> None:
        """A client's TLS handshake with the proxy failed: no call, but the exit summary counts
        it (a client that does not trust the proxy's CA otherwise leaves '0 call(s)')."""
        self.tls_failed += 1

    # --- the shared path: one finished flow -----------------------------------------------------

    def _call(self, flow: http.HTTPFlow) -> Call | None:
        call = getattr(flow, CALL_ATTRIBUTE, None)
        if call is None or call.recorder is not self:
            req = flow.request
            authority = host_header(req)
            call = describe(req.method, authority or req.host, req.path, req.port, self.hosts)
            if call is None:
                return None
            call.authority = authority
            call.recorder = self
            setattr(flow, CALL_ATTRIBUTE, call)
        return call

    def _request_violations(
        self, flow: http.HTTPFlow, call: Call, body: bytes | None = None, path: str | None = None
    ) -> list[Violation]:
        """Checked once per call; ``body`` (the request body already decoded) and ``path``: if
        they are at hand."""
        if call.request_violations is None:
            assert call.route is not None
            req = flow.request
            if body is None:  # bounded, and a coding that is no HTTP coding is kept as it came
                body = decode_fields(req.headers.fields, req.raw_content, self.decode_limit).body
            call.request_violations = validate_request(
                call.route, query=query_of(req.path if path is None else path), body=body
            )
        return call.request_violations

    def _finish(self, flow: http.HTTPFlow) -> None:
        self._in_flight.pop(id(flow), None)
        call = self._call(flow)
        if call is None and not (self.record_all and self.writer is not None):
            return
        if call is not None and call.recorded:
            return
        exchange = self._exchange(flow, call)
        if exchange.status in PROXY_AUTH_CHALLENGES and self._proxy_auth(flow, call, exchange):
            return
        req = flow.request
        # mitmproxy decodes a request's method and path from bytes on every read: read once.
        method, path = req.method, req.path
        authority = call.authority if call is not None else host_header(req)
        uri = client_url(req.scheme, authority, req.host, req.port, path)
        violations: list[Violation] = []
        compared = None
        if call is not None:
            violations = self._violations(flow, call, exchange, path)
            if self.spy is not None and call.route is not None:
                compared = self.spy.compare(exchange.view(method, uri), violations, call.route)
            self._report(flow, call, exchange, violations, method, path, compared)
        meta = exchange.meta(
            req.timestamp_start, call, violations, compared.meta() if compared is not None else None
        )
        if call is None and exchange.body_note:  # other traffic: no line, but marked in mitmweb
            flow.marked = VIOLATION_MARK
            flow.comment = said_note(exchange, self.redact_phones)
        flow.metadata[META_KEY] = meta  # saved flow files (-w, mitmweb) carry it too
        if self._write(flow, exchange, meta, method, uri) and call is None:
            self.others += 1  # other traffic (--record-all): no log line, named in the summary

    def _proxy_auth(self, flow: http.HTTPFlow, call: Call | None, exchange: Exchange) -> bool:
        """mitmproxy's own 407 (proxyauth): the request never left the proxy. Not a call of
        the service's, so not recorded; counted for the summary, and said."""
        line = self.auth.seen(flow.request, flow.response, exchange.answered_by, self.redact_phones)
        if line is None:
            return False
        if call is not None:
            call.recorded = True
        logger.warning(line)
        return True

    def http_connect(self, flow: http.HTTPFlow) -> None:
        """An HTTPS client's CONNECT, which the proxy's own authentication refused (mitmproxy's
        ProxyAuth answers before this hook): none of its calls reaches the proxy; counted for
        the summary, and said."""
        if line := self.auth.seen(flow.request, flow.response):
            logger.warning(line)

    def _exchange(self, flow: http.HTTPFlow, call: Call | None) -> Exchange:
        """When it happened, who answered, and both bodies decoded (once)."""
        req, resp = flow.request, flow.response
        exchange = flow_exchange(
            req,
            resp,
            flow.error.msg if flow.error else None,
            answered_by=self._answered_by(flow, call),
            limit=self.decode_limit,
            body_size_limit=self.body_size_limit,
        )
        if exchange.got_response and resp.stream:  # sent on as it came, never held
            counter = self._streamed.get(flow)
            size = counter.size if counter is not None else _content_length(resp.headers)
            exchange.add_note(streamed_note("response", size, self.stream_large_bodies))
        if req.stream:
            size = _content_length(req.headers)
            exchange.add_note(streamed_note("request", size, self.stream_large_bodies))
        return exchange

    def _answered_by(self, flow: http.HTTPFlow, call: Call | None) -> str:
        if call is not None and call.answered_by == RECORDER:
            return RECORDER
        from_server = call.from_server if call is not None else flow in self._from_server
        return UPSTREAM if from_server else ADDON

    def _violations(
        self, flow: http.HTTPFlow, call: Call, exchange: Exchange, path: str
    ) -> list[Violation]:
        """What is wrong with the call: its path, its request, and its response if it got one."""
        call.recorded = True
        call.answered_by = exchange.answered_by
        request = None
        if call.route is not None:  # checked once per call: enforce mode has it already
            request = self._request_violations(flow, call, exchange.request_body, path)
        return call_violations(call, exchange, path, request)

    def _report(
        self,
        flow: http.HTTPFlow,
        call: Call,
        exchange: Exchange,
        violations: list[Violation],
        method: str,
        path: str,
        compared: Comparison | None = None,
    ) -> None:
        """Counters, the mitmweb mark and comment, and the call's log line."""
        failed = not exchange.got_response
        differs = compared is not None and compared.differs
        mark = mark_for(violations, failed, exchange.body_note, differs)
        if mark is not None:
            flow.marked = mark
        req = flow.request
        status = exchange.status
        if call.control:  # not a proxy-session call: said, recorded, not counted as one
            self.controls += 1
        else:
            self.with_violations += bool(violations)
            self.failed += failed
            self.statuses[status] = self.statuses.get(status, 0) + 1
        upstream = authority(req.host, req.port) if failed else None
        line, flow.comment = said_about(
            call, method, path, exchange, violations, upstream, compared, self.redact_phones
        )
        problem = violations or failed or exchange.body_note or differs
        log_call(logging.WARNING if problem else logging.INFO, line)

    def _write(
        self, flow: http.HTTPFlow, exchange: Exchange, meta: dict, method: str, uri: str
    ) -> bool:
        """Append the interaction to the cassette before the client gets its answer; whether it
        was recorded."""
        if self.writer is None:
            # mitmproxy still finishes flows in flight after done(): never forward an answer
            # the closed cassette cannot hold (the client sees its connection close instead).
            if self.shut and flow.killable:
                flow.kill()
                if id(flow) not in self._cut_off:  # in flight at done(): counted then
                    self.dropped += 1
            return False
        interaction = exchange.interaction(method, uri, meta, self.writer.fmt)
        try:
            self.writer.append(interaction)
        except (CassetteError, OSError) as e:
            self._not_recorded(flow, e)
            return False
        self.recorded += 1
        return True

    def _not_recorded(self, flow: http.HTTPFlow, problem: Exception) -> None:
        """A call the cassette could not take: its client gets the answer anyway, or, with
        strict recording, chime-tap's 507 instead; counted either way, for the summary."""
        req = flow.request
        what = f"{req.method} {said_path(req.path.split('?', 1)[0], self.redact_phones)}"
        reason = problem.strerror if isinstance(problem, OSError) and problem.strerror else problem
        if self.strict and flow.response is not None and flow.error is None:
            self.refused += 1
            status, headers, body = not_recorded_answer(what, str(reason))
            flow.response = http.Response.make(status, body, headers)
            logger.error(f"not recorded, answered {status} instead: {what}: {reason}")
        else:
            self.lost += 1
            logger.error(f"not recorded (the client got its answer): {what}: {reason}")

    @command.command("chime.record.stats")
    def stats(self) -> str:
        """What the recorder has done so far: cassette, calls recorded, with violations, failed."""
        where = str(self.writer.path) if self.writer else "(no cassette)"
        return (
            f"{where}: {self.recorded} recorded, {self.with_violations} with violations, "
            f"{self.failed} failed, {self.lost + self.refused} not written"
        )


# As a script (mitmdump -s, mitmweb -s), this module is the addon. mitmproxy looks every hook
# of every flow up on it (eight per call), then walks into its ``addons``: the recorder's hooks
# are bound here, on the module, and ``addons`` is empty, one level less for mitmproxy to walk
# per hook (about 22,000 instructions per call). Every other hook name is bound to None, which
# mitmproxy passes over: a name a module lacks costs an AttributeError per look-up (Python 3.11
# formats its message), about 95,000 instructions per call. ``request`` follows chime_enforce
# (Recorder.configure): it notes the call in flight, and refuses an invalid one in enforce mode.
recorder = Recorder()
addons: list[object] = []
load = recorder.load
configure = options.script_configure(
    recorder.configure, lambda: recorder.started, exceptions.OptionsError, logger.error
)
running = recorder.running
done = recorder.done
request = recorder.request
responseheaders = recorder.responseheaders
response = recorder.response
error = recorder.error
tls_failed_client = recorder.tls_failed_client
http_connect = recorder.http_connect
stats = recorder.stats
# Not add_log: mitmproxy warns that it is deprecated about any addon that has the name at all.
UNBOUND_HOOKS = frozenset({"add_log"})
for _hook in {*hooks.all_hooks, *MITMPROXY_HOOKS} - UNBOUND_HOOKS:
    globals().setdefault(_hook, None)
del _hook
