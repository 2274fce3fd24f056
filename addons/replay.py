"""Serve recorded responses from vcrpy cassettes to any client that uses this proxy.

    mitmdump -s addons/replay.py --set chime_replay_cassettes=cassettes/lifecycle.yaml

Requests are matched as the vcrpy configuration matches them (``chime_tap.matching``: method,
host, path, query, JSON body; never signatures or dates), by index, so the cost of a lookup
does not grow with the cassette. Identical calls replay in recorded order; a call made more
often than recorded gets what ``chime_replay_exhausted`` says (``fail``: an error; ``repeat``:
the last answer again). A request with no match is answered with status 599 and
``x-chime-tap-replay: miss``, naming the closest recorded request and what differs; with
``chime_replay_on_miss=forward`` it goes upstream and is recorded, a call that gets no response
too (status 0, as the recorder keeps it). Each call is logged in one line; at exit, a summary.

``chime_replay_latency`` holds each answer back: ``recorded`` until the call has taken its
recorded ``duration_ms`` (``scale:F``: F times that). The wait is an ``await`` in the
``responseheaders`` hook, which mitmproxy runs as a task: other calls keep being answered.

A recorded call that got no response (status 0, ``answered_by: none``: the recorder's record of
a refused, reset or timed-out call) is never served: a client that retried gets the answer its
retry got. A miss on a request recorded only that way says so.

What answers what is decided in ``chime_tap.playback``; this addon hands it mitmproxy's flows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from mitmproxy import command, ctx, exceptions, http
from mitmproxy.log import LegacyLogEvents

from chime_tap import options
from chime_tap.api.hosts import DEFAULT_HOSTS, HostPolicy
from chime_tap.api.operations import classify
from chime_tap.api.validation import Violation
from chime_tap.calllog import (
    MISS_DETAIL,
    NO_RESPONSE,
    call_line,
    call_logger,
    exhausted_detail,
    forwarded_detail,
    hit_detail,
    outcome,
    replay_summary,
    skip_legacy_log_events,
    violations_text,
    what_call,
)
from chime_tap.cassettes.format import META_KEY
from chime_tap.cassettes.writer import CassetteWriter
from chime_tap.errors import ChimeTapError
from chime_tap.matching import Exhausted, RequestIndex, RequestParts, parts_from_target
from chime_tap.playback import (
    EXHAUSTED_ERROR_TYPE,
    MISS_ERROR_TYPE,
    MISS_STATUS,
    UNREADABLE_ERROR_TYPE,
    Entry,
    LiveRequest,
    build_lasting_index,
    cassette_names,
    error_answer,
    exhausted_message,
    explain_miss,
    oversized_answers,
    oversized_line,
    unreadable_message,
)
from chime_tap.recording import (
    FAILURE_MARK,
    REPLAY_AUTH_OUTCOME,
    UPSTREAM,
    VIOLATION_MARK,
    AuthRefusals,
    Call,
    as_kept,
    call_violations,
    check_record_target,
    comment_for,
    describe,
    elapsed_ms,
    flow_exchange,
    mark_for,
    not_recorded_answer,
    open_cassette,
    said_path,
)
from chime_tap.replay_latency import NO_LATENCY, delay_seconds, recorded_ms
from chime_tap.wire import DECODED_BODY_LIMIT, authority, decode_fields

logger = logging.getLogger(__name__)

FORWARDED = "chime_replay_forwarded"  # flow.metadata key of a miss sent upstream
ANSWER_AT = "chime_replay_answer_at"  # flow.metadata key: when (time.time()) to answer
HELD_LINE = "chime_replay_held_line"  # flow.metadata key: a held-back call's line, logged once sent
RECORDED_BY = "chime-tap replay --on-miss forward"  # chime_tap.recorded_by of a forwarded call


def _body(req: http.Request, limit: int) -> bytes | None:
    """The body as the recorder keeps it: decoded from its Content-Encoding up to ``limit``
    bytes; as it came past that, or for a coding that is no HTTP content coding (rot13, base64)."""
    if "content-encoding" not in req.headers:
        return req.raw_content
    return decode_fields(req.headers.fields, req.raw_content, limit).body


def flow_parts(flow: http.HTTPFlow, limit: int = DECODED_BODY_LIMIT) -> RequestParts:
    """What matching looks at, and no more: this runs on every replayed request."""
    req = flow.request
    return parts_from_target(
        req.method, req.scheme, req.pretty_host, req.port, req.path, _body(req, limit)
    )


def live_request(flow: http.HTTPFlow, limit: int = DECODED_BODY_LIMIT) -> LiveRequest:
    """The whole request, for explaining a miss."""
    req = flow.request
    return LiveRequest(
        req.method, req.scheme, req.pretty_host, req.port, req.path, req.pretty_url,
        _body(req, limit), dict(req.headers.items()),
    )  # fmt: skip


def _response(status: int, headers: dict[str, str], body: bytes) -> http.Response:
    return http.Response.make(status, body, headers)


def forwarded_interaction(
    flow: http.HTTPFlow,
    call: Call,
    limit: int = DECODED_BODY_LIMIT,
    body_size_limit: str | None = None,
    fmt: str = "yaml",
    redact_phones: bool = False,
) -> tuple[dict, dict, list[Violation]]:
    """A forwarded proxy-session call as ``record`` keeps it (``chime_tap.recording``):
    converted, validated, with the recorder's metadata plus ``recorded_by``. Returns the
    interaction (for a cassette of format ``fmt``), its metadata and its violations as the
    line may say them (with ``redact_phones``, as the cassette keeps them: pseudonyms).

    A call that got no response, or failed while its response came, is kept as the recorder
    keeps one (status 0, its error). ``call``: what :func:`chime_tap.recording.describe` says
    the request is. The flow gets the metadata and mitmweb's comment, as a recorded flow does.
    """
    req = flow.request
    exchange = flow_exchange(
        req,
        flow.response,
        flow.error.msg if flow.error else None,
        answered_by=UPSTREAM,
        limit=limit,
        body_size_limit=body_size_limit,
    )
    violations = call_violations(call, exchange, req.path)
    meta = exchange.meta(req.timestamp_start, call, violations)
    meta["recorded_by"] = RECORDED_BY
    flow.metadata[META_KEY] = meta  # saved flow files (-w, mitmweb) carry it, as record's do
    said = as_kept(exchange, violations, redact_phones)
    flow.comment = comment_for(call, said.violations, said.error, said.note)
    mark = mark_for(violations, not exchange.got_response, exchange.body_note)
    if mark is not None:  # flagged in mitmweb as record flags a call
        flow.marked = mark
    return exchange.interaction(req.method, req.pretty_url, meta, fmt), meta, said.violations


class ReplayServer:
    """Answers requests from recorded cassettes; a miss gets an explicit error or goes upstream."""

    def __init__(self, prebuilt: tuple[list[str], str, RequestIndex] | None = None) -> None:
        """``prebuilt``: (cassettes, exhausted, index), the index ``chime-tap replay`` built from
        its flags before starting mitmproxy (a bad cassette is refused without that wait); used
        when the options name the same cassettes, else the index is built as they are set."""
        self._prebuilt = prebuilt
        self.hosts: HostPolicy = DEFAULT_HOSTS
        self.index = RequestIndex()
        self.cassettes: list[str] = []
        self.names: dict[str, str] = {}  # a cassette's path -> its name in lines and answers
        self.on_miss = "error"
        self.record_to = ""
        self.redact_phones = False  # chime_redact_phones: forwarded calls recorded with pseudonyms
        self.decode_limit = DECODED_BODY_LIMIT
        self.latency = NO_LATENCY
        self.writer: CassetteWriter | None = None
        self.hits = 0
        self.misses = 0  # exhausted calls included, as a client sees both: no recorded answer
        self.exhausted = 0
        self.unreadable = 0  # counted in misses too; the summary says them apart
        self.forwarded = 0
        self.forward_failed = 0  # forwarded misses that got no response
        self.refused = 0  # upstream connections refused (a test asserts it stays 0)
        self._running = False  # the proxy listens: what loading found is said from then on
        self._unsaid: list[tuple[int, str]] = []  # until then, kept here
        self.auth = AuthRefusals(REPLAY_AUTH_OUTCOME)  # the proxy's own 407s (proxyauth)
        self.strict = False  # chime_strict_recording: a forwarded call not recorded gets 507
        self.not_recorded = 0  # forwarded calls answered, but the cassette could not take them
        self.withheld = 0  # forwarded calls the cassette could not take, answered 507 instead
        self.statuses: dict[int, int] = {}  # calls by the status they got (0: no response)
        self.loaded = 0  # interactions the index was built with
        self._played: set[Entry] = set()  # of those, the ones served at least once
        self._fresh: set[Entry] = set()  # recorded here from forwarded misses

    def load(self, loader) -> None:
        options.add_options(loader, (options.HOSTS, *options.REPLAY, options.DECODE_LIMIT))

    def configure(self, updated: set[str]) -> None:
        error = exceptions.OptionsError
        if options.HOSTS.name in updated:
            self.hosts = options.HOSTS.value_of(ctx.options, error)
        if options.ON_MISS.name in updated:
            self.on_miss = options.ON_MISS.value_of(ctx.options, error)
        if options.EXHAUSTED.name in updated:
            options.EXHAUSTED.value_of(ctx.options, error)
        if options.REPLAY_LATENCY.name in updated:
            self.latency = options.REPLAY_LATENCY.value_of(ctx.options, error)
        if options.DECODE_LIMIT.name in updated:
            self.decode_limit = options.DECODE_LIMIT.value_of(ctx.options, error)
        if options.STRICT_RECORDING.name in updated:
            self.strict = ctx.options.chime_strict_recording
        if options.REDACT_PHONES.name in updated:  # before the writer opens, and once it is open
            self.redact_phones = ctx.options.chime_redact_phones
            if self.writer is not None:
                self.writer.redact_phones = self.redact_phones
        if updated & {options.REPLAY_CASSETTES.name, options.EXHAUSTED.name}:
            self._load_index()
        if options.RECORD_TO.name in updated:
            self.record_to = ctx.options.chime_replay_record_to
        if updated & {options.ON_MISS.name, options.RECORD_TO.name, options.REPLAY_CASSETTES.name}:
            self._check_record_target()
        if updated & {options.ON_MISS.name, *options.OFFLINE}:
            self._stay_offline()

    def _load_index(self) -> None:
        # ~ as the CLI's paths take it (options.user_path): `--set chime_replay_cassettes=~/x`
        cassettes = [options.user_path(c) for c in ctx.options.chime_replay_cassettes]
        if not cassettes:  # mitmproxy's first pass, with the defaults: nothing to say yet
            self.index, self.cassettes = RequestIndex(ctx.options.chime_replay_exhausted), []
            self._count_from_here()
            return
        exhausted = ctx.options.chime_replay_exhausted
        prebuilt, self._prebuilt = self._prebuilt, None
        if prebuilt is not None and prebuilt[:2] == (cassettes, exhausted):
            self.index = prebuilt[2]
        else:
            try:
                self.index = build_lasting_index(cassettes, exhausted)
            except ChimeTapError as e:
                raise exceptions.OptionsError(f"{options.REPLAY_CASSETTES.name}: {e}") from e
        self.cassettes = cassettes
        self._count_from_here()
        self._name_cassettes()
        failed = self.index.unanswered
        unanswered = f" ({failed} more recorded with no response, never replayed)" if failed else ""
        said = [
            (
                logging.INFO,
                f"replay: {len(self.index)} recorded interaction(s) from {len(cassettes)} cassette(s){unanswered}",
            )
        ]
        oversized = oversized_answers(self.index)
        if oversized:
            said.append((logging.WARNING, oversized_line(oversized, names=self.names)))
        # Said once the proxy runs: one that cannot start (a bad option after this one) only
        # says why.
        self._unsaid = said
        if self._running:
            self._say_loaded()

    def _say_loaded(self) -> None:
        for level, line in self._unsaid:
            logger.log(level, line)
        self._unsaid = []

    def _count_from_here(self) -> None:
        """A new index: what was played is counted against it from now on."""
        self.loaded = len(self.index)
        self._played, self._fresh = set(), set()

    def _check_record_target(self) -> None:
        """With misses forwarded, the cassette they go to must take them: said at start, not at
        the first forwarded call. It is opened for appending then, as ``record`` opens its
        cassette, and so locked: a proxy that cannot record what it forwards (another recorder
        writes that cassette) does not start, and no recorder starts on it while this one runs."""
        if self.on_miss != "forward":
            self._close_writer()
            return
        option = options.RECORD_TO if self.record_to else options.REPLAY_CASSETTES
        target = self.record_to or (self.cassettes[0] if self.cassettes else "")
        if not target:
            raise exceptions.OptionsError(
                f"{options.RECORD_TO.name}: no cassette to record forwarded calls to"
            )
        if self.writer is not None and self.writer.path == Path(target).expanduser():
            return
        try:
            check_record_target(target)
            writer = open_cassette(target, self.redact_phones, on_notice=logger.warning)
        except ChimeTapError as e:
            raise exceptions.OptionsError(f"{option.name}: {e}") from e
        self._close_writer()
        self.writer = writer
        self._name_cassettes()

    def _name_cassettes(self) -> None:
        """Each cassette served, and the one forwarded calls go to, by as much of its path as
        tells it from the others (``chime_tap.playback.cassette_names``)."""
        recorded = [str(self.writer.path)] if self.writer is not None else []
        self.names = cassette_names([*self.cassettes, *recorded])

    def _close_writer(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def running(self) -> None:
        skip_legacy_log_events(LegacyLogEvents)
        self._running = True
        self._say_loaded()
        self._stay_offline()

    def _stay_offline(self) -> None:
        # mitmproxy would otherwise connect upstream to sniff certificates or connect eagerly;
        # a replay answers from disk. Only a forwarded miss may open a connection.
        changes = options.offline_changes(ctx.options)
        if changes:
            ctx.options.update(**changes)

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            # the proxy's own 407 (proxyauth) is set before this hook
            if flow.response is not None and (
                line := self.auth.seen(
                    flow.request, flow.response, redact_phones=self.redact_phones
                )
            ):
                logger.warning(line)
            return
        found = self.index.lookup(flow_parts(flow, self.decode_limit))
        if found is None:
            self._miss(flow)
        elif isinstance(found, Exhausted):
            self.misses += 1
            self.exhausted += 1
            message = exhausted_message(found.count, flow.request.method, flow.request.pretty_url)
            flow.response = _response(
                *error_answer(MISS_STATUS, EXHAUSTED_ERROR_TYPE, "exhausted", message)
            )
            self._log(flow, MISS_STATUS, exhausted_detail(found.count), logging.WARNING)
            logger.warning(message)
        else:
            entry = found.entry
            try:
                status, body, headers = entry.answer()
            except ChimeTapError as e:  # a big cassette's interaction, checked at its first play
                self._unreadable(flow, entry, str(e))
                return
            self.hits += 1
            self._played.add(entry)
            flow.response = http.Response.make(status, body, headers)
            label = entry.label(self.names)
            repeated = " (repeated)" if found.repeated else ""
            flow.comment = f"replayed {label}{repeated}"
            detail = hit_detail(label, found.repeated)
            if not self._hold_back(flow, entry, status, detail):
                self._log(flow, status, detail)

    def _unreadable(self, flow: http.HTTPFlow, entry: Entry, problem: str) -> None:
        """The recorded answer is no answer (a broken line of a big cassette): say which, as the
        start of a smaller cassette would have, and answer as a miss does."""
        self.misses += 1
        self.unreadable += 1
        req = flow.request
        message = unreadable_message(req.method, req.pretty_url, problem)
        flow.marked = FAILURE_MARK
        label = entry.label(self.names)
        flow.comment = f"unreadable {label}"
        flow.response = _response(
            *error_answer(MISS_STATUS, UNREADABLE_ERROR_TYPE, "unreadable", message)
        )
        self._log(flow, MISS_STATUS, f"unreadable {label}", logging.ERROR)
        logger.error(message)

    def _hold_back(self, flow: http.HTTPFlow, entry: Entry, status: int, detail: str) -> bool:
        """With a latency, say when the answer may leave (the call takes what it took live);
        whether it is held back. A held-back call's line waits for the answer to leave, so it
        says how long the client waited (``responseheaders``)."""
        if not self.latency.active:
            return False  # without reading the recorded answer again for its duration
        delay = delay_seconds(self.latency, recorded_ms(entry.item))
        if delay <= 0:
            return False
        flow.metadata[ANSWER_AT] = flow.request.timestamp_start + delay
        factor = self.latency.factor
        why = "recorded latency" if factor == 1 else f"recorded latency x{factor:g}"
        flow.metadata[HELD_LINE] = [status, detail, why]  # a list: saved flows stay serializable
        return True

    async def responseheaders(self, flow: http.HTTPFlow) -> None:
        answer_at = flow.metadata.pop(ANSWER_AT, None)
        if answer_at is None:
            return
        status, detail, why = flow.metadata.pop(HELD_LINE)
        held_from = time.time()
        try:  # awaited in a task of its own: the event loop goes on
            await asyncio.sleep(max(0.0, answer_at - held_from))
        finally:  # the whole time on the line, and how much of it was the hold
            held = elapsed_ms(held_from)
            self._log(flow, status, f"{detail}, held back {held:.1f} ms ({why})")

    def _miss(self, flow: http.HTTPFlow) -> None:
        self.misses += 1
        if self.on_miss == "forward":
            self.forwarded += 1
            flow.metadata[FORWARDED] = True
            return  # its line is logged once upstream answered, or failed to
        message, details = explain_miss(
            self.index, live_request(flow, self.decode_limit), self.hosts, self.names
        )
        flow.marked = VIOLATION_MARK
        flow.response = _response(
            *error_answer(MISS_STATUS, MISS_ERROR_TYPE, "miss", message, **details)
        )
        self._log(flow, MISS_STATUS, MISS_DETAIL, logging.WARNING)
        logger.warning(message)

    def _log(
        self,
        flow: http.HTTPFlow,
        status: int,
        detail: str,
        level: int = logging.INFO,
        error: str | None = None,
        duration_ms: float | None = None,
    ) -> None:
        """Count the call by its status and log its line; ``duration_ms``: the time the call
        took, when known (a forwarded call's, as recorded), else the time since it began."""
        self.statuses[status] = self.statuses.get(status, 0) + 1
        req = flow.request
        path = said_path(req.path, self.redact_phones)  # its ids too, as the cassette's URI
        route = classify(req.method, req.pretty_host, path, self.hosts, req.port)
        what = what_call(route, req.method, path, None if route else req.pretty_host)
        upstream = authority(req.host, req.port) if error is not None else None
        result = outcome(status, error, upstream)
        took = elapsed_ms(req.timestamp_start) if duration_ms is None else duration_ms
        call_logger.log(level, call_line(what, result, took, detail))

    def response(self, flow: http.HTTPFlow) -> None:
        if flow.response is None or not flow.metadata.pop(FORWARDED, False):
            return
        self._forwarded(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        if flow.error is None or not flow.metadata.pop(FORWARDED, False):
            return
        self._forwarded(flow)

    def _forwarded(self, flow: http.HTTPFlow) -> None:
        """A miss that went upstream: record what it got (or that it got nothing), log its line."""
        req, resp = flow.request, flow.response
        # As the recorder decides (recording.flow_exchange): an error fails the call, also one
        # that came while the response did (a body past body_size_limit).
        error = flow.error.msg if flow.error else (None if resp is not None else "no response")
        status = resp.status_code if error is None else NO_RESPONSE
        if error is not None:
            self.forward_failed += 1
        level = logging.INFO if error is None else logging.WARNING
        call = describe(req.method, req.pretty_host, req.path, req.port, self.hosts)
        if call is None or call.route is None:  # only proxy-session calls are recorded
            self._log(flow, status, forwarded_detail(None), level, error)
            return
        try:
            writer = self._writer()
            item, meta, violations = forwarded_interaction(
                flow,
                call,
                self.decode_limit,
                getattr(ctx.options, "body_size_limit", None),
                writer.fmt,
                self.redact_phones,
            )
            writer.append(item)
        except (ChimeTapError, OSError) as e:
            problem = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            if self.strict and resp is not None:  # never answer what the cassette lacks
                self.withheld += 1
                path = said_path(req.path.split("?", 1)[0], self.redact_phones)
                answer = not_recorded_answer(f"{req.method} {path}", problem)
                status, headers, body = answer
                flow.response = http.Response.make(status, body, headers)
                problem += f"; answered {status} instead"
            else:
                self.not_recorded += 1
            self._log(flow, status, forwarded_detail(None, problem), logging.ERROR, error)
            return
        entry = Entry(str(writer.path), writer.count - 1, item)
        if error is None:
            self.index.add(flow_parts(flow, self.decode_limit), entry)
            self._fresh.add(entry)
        else:  # never served, as a failed call the recorder recorded
            self.index.add_unanswered(flow_parts(flow, self.decode_limit), entry)
        detail = forwarded_detail(entry.label(self.names), error)
        if violations:  # checked as record checks them, and flagged as record flags them
            detail += f", {violations_text(violations)}"
            level = logging.WARNING
        self._log(flow, status, detail, level, error, meta["duration_ms"])

    def _writer(self) -> CassetteWriter:
        if self.writer is None:  # opened at start (see _check_record_target); closed by done()
            raise ChimeTapError("the cassette is closed: the proxy is stopping")
        return self.writer

    def server_connect(self, data) -> None:
        # The last line of defence: unless misses are forwarded, nothing leaves the machine.
        if self.on_miss != "forward":
            self.refused += 1
            data.server.error = (
                "chime-tap replay: upstream connections are disabled "
                "(misses are answered 599, never forwarded)"
            )
            logger.warning(f"refused an upstream connection to {data.server.address}")

    def done(self) -> None:
        logger.info(self.summary())
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def summary(self) -> str:
        """The paragraph printed at exit: calls by status class, hits, misses, what was unused."""
        played = len(self._played - self._fresh)
        return replay_summary(
            self.statuses,
            hits=self.hits,
            misses=self.misses - self.exhausted - self.unreadable,
            exhausted=self.exhausted,
            unreadable=self.unreadable,
            forwarded=self.forwarded,
            forward_failed=self.forward_failed,
            not_recorded=self.not_recorded,
            withheld=self.withheld,
            loaded=self.loaded,
            never_played=self.loaded - played,
            auth_refused=self.auth.count,
        )

    def http_connect(self, flow: http.HTTPFlow) -> None:
        """An HTTPS client's CONNECT, which the proxy's own authentication refused (mitmproxy's
        ProxyAuth answers before this hook): counted for the summary, and said."""
        if line := self.auth.seen(flow.request, flow.response, redact_phones=self.redact_phones):
            logger.warning(line)

    @command.command("chime.replay.rewind")
    def rewind(self) -> None:
        """Play every recorded answer again from the first one."""
        self.index.rewind()


_script = ReplayServer()  # as a mitmdump script: a bad value at start is one line
_script.configure = options.script_configure(  # type: ignore[method-assign]
    _script.configure, lambda: _script._running, exceptions.OptionsError, logger.error
)
addons = [_script]
