"""Serve recorded responses from vcrpy cassettes to any client that uses this proxy.

    mitmdump -s addons/replay.py --set chime_replay_cassettes=cassettes/lifecycle.yaml

Requests are matched as the vcrpy configuration matches them (``chime_tap.matching``: method,
host, path, query, JSON body; never signatures or dates), by index, so the cost of a lookup
does not grow with the cassette. Identical calls replay in recorded order, then the last one
repeats (``chime_replay_exhausted=fail`` answers an error instead). A request with no match is
answered with status 599 and ``x-chime-tap-replay: miss``, naming the closest recorded request
and what differs; with ``chime_replay_on_miss=forward`` it goes upstream and is recorded.

A recorded call that got no response (status 0, ``answered_by: none``: the recorder's record of
a refused, reset or timed-out call) is never served: a client that retried gets the answer its
retry got. A miss on a request recorded only that way says so.

What answers what is decided in ``chime_tap.playback``; this addon hands it mitmproxy's flows.
"""

from __future__ import annotations

import gc
import logging

from mitmproxy import command, ctx, exceptions, http

from chime_tap import options
from chime_tap.api.hosts import DEFAULT_HOSTS, HostPolicy
from chime_tap.api.operations import classify
from chime_tap.cassettes.writer import CassetteWriter
from chime_tap.errors import ChimeTapError
from chime_tap.matching import Exhausted, RequestIndex, RequestParts, parts_from_target
from chime_tap.playback import (
    EXHAUSTED_ERROR_TYPE,
    MISS_ERROR_TYPE,
    MISS_STATUS,
    Entry,
    LiveRequest,
    build_index,
    error_answer,
    exhausted_message,
    explain_miss,
)
from chime_tap.recording import UPSTREAM, Exchange, elapsed_ms

logger = logging.getLogger(__name__)

FORWARDED = "chime_replay_forwarded"  # flow.metadata key of a miss sent upstream


def _body(req: http.Request) -> bytes | None:
    try:
        return req.content
    except ValueError:  # undecodable Content-Encoding
        return req.raw_content


def flow_parts(flow: http.HTTPFlow) -> RequestParts:
    """What matching looks at, and no more: this runs on every replayed request."""
    req = flow.request
    return parts_from_target(
        req.method, req.scheme, req.pretty_host, req.port, req.path, _body(req)
    )


def live_request(flow: http.HTTPFlow) -> LiveRequest:
    """The whole request, for explaining a miss."""
    req = flow.request
    return LiveRequest(
        req.method, req.scheme, req.pretty_host, req.port, req.path, req.pretty_url, _body(req),
        dict(req.headers.items()),
    )  # fmt: skip


def _response(status: int, headers: dict[str, str], body: bytes) -> http.Response:
    return http.Response.make(status, body, headers)


def forwarded_interaction(flow: http.HTTPFlow) -> dict:
    """A forwarded flow as a vcrpy interaction, converted as the recorder converts it."""
    req, resp = flow.request, flow.response
    assert resp is not None
    exchange = Exchange.decoded(
        (req.headers.fields, req.raw_content),
        resp.status_code,
        resp.reason,
        (resp.headers.fields, resp.raw_content),
        duration_ms=elapsed_ms(req.timestamp_start, resp.timestamp_end),
        answered_by=UPSTREAM,
    )
    meta = {"answered_by": UPSTREAM, "recorded_by": "chime-tap replay --on-miss forward"}
    return exchange.interaction(req.method, req.pretty_url, meta)


class ReplayServer:
    """Answers requests from recorded cassettes; a miss gets an explicit error or goes upstream."""

    def __init__(self) -> None:
        self.hosts: HostPolicy = DEFAULT_HOSTS
        self.index = RequestIndex()
        self.cassettes: list[str] = []
        self.on_miss = "error"
        self.record_to = ""
        self.writer: CassetteWriter | None = None
        self.hits = 0
        self.misses = 0
        self.refused = 0  # upstream connections refused (a test asserts it stays 0)

    def load(self, loader) -> None:
        options.add_options(loader, (options.HOSTS, *options.REPLAY))

    def configure(self, updated: set[str]) -> None:
        error = exceptions.OptionsError
        if options.HOSTS.name in updated:
            self.hosts = options.HOSTS.value_of(ctx.options, error)
        if options.ON_MISS.name in updated:
            self.on_miss = options.ON_MISS.value_of(ctx.options, error)
        if options.EXHAUSTED.name in updated:
            options.EXHAUSTED.value_of(ctx.options, error)
        if updated & {options.REPLAY_CASSETTES.name, options.EXHAUSTED.name}:
            self._load_index()
        if options.RECORD_TO.name in updated:
            self.record_to = ctx.options.chime_replay_record_to
        if updated & {options.ON_MISS.name, *options.OFFLINE}:
            self._stay_offline()

    def _load_index(self) -> None:
        cassettes = list(ctx.options.chime_replay_cassettes)
        if not cassettes:  # mitmproxy's first pass, with the defaults: nothing to say yet
            self.index, self.cassettes = RequestIndex(ctx.options.chime_replay_exhausted), []
            return
        try:
            self.index = build_index(cassettes, ctx.options.chime_replay_exhausted)
        except ChimeTapError as e:
            raise exceptions.OptionsError(f"{options.REPLAY_CASSETTES.name}: {e}") from e
        self.cassettes = cassettes
        # The index lives as long as the proxy: keep the cyclic GC from walking it on every
        # full collection, which would make each request cost more in a big cassette.
        gc.freeze()
        failed = self.index.unanswered
        unanswered = f" ({failed} more recorded with no response, never replayed)" if failed else ""
        logger.info(
            f"replay: {len(self.index)} recorded interaction(s) from {len(cassettes)} cassette(s){unanswered}"
        )

    def running(self) -> None:
        self._stay_offline()

    def _stay_offline(self) -> None:
        # mitmproxy would otherwise connect upstream to sniff certificates or connect eagerly;
        # a replay answers from disk. Only a forwarded miss may open a connection.
        changes = options.offline_changes(ctx.options)
        if changes:
            ctx.options.update(**changes)

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        found = self.index.lookup(flow_parts(flow))
        if found is None:
            self._miss(flow)
        elif isinstance(found, Exhausted):
            self.misses += 1
            message = exhausted_message(found.count, flow.request.method, flow.request.pretty_url)
            logger.warning(message)
            flow.response = _response(
                *error_answer(MISS_STATUS, EXHAUSTED_ERROR_TYPE, "exhausted", message)
            )
        else:
            self.hits += 1
            status, body, headers = found.entry.answer()
            flow.response = http.Response.make(status, body, headers)
            repeated = " (repeated)" if found.repeated else ""
            flow.comment = f"replayed {found.entry.label}{repeated}"

    def _miss(self, flow: http.HTTPFlow) -> None:
        self.misses += 1
        if self.on_miss == "forward":
            logger.info(f"replay miss, forwarding: {flow.request.method} {flow.request.pretty_url}")
            flow.metadata[FORWARDED] = True
            return
        message, details = explain_miss(self.index, live_request(flow), self.hosts)
        logger.warning(message)
        flow.marked = ":warning:"
        flow.response = _response(
            *error_answer(MISS_STATUS, MISS_ERROR_TYPE, "miss", message, **details)
        )

    def response(self, flow: http.HTTPFlow) -> None:
        if not flow.metadata.get(FORWARDED) or flow.response is None:
            return
        req = flow.request
        if classify(req.method, req.pretty_host, req.path, self.hosts, req.port) is None:
            return  # only proxy-session calls are recorded
        try:
            writer = self._writer()
            item = forwarded_interaction(flow)
            writer.append(item)
        except ChimeTapError as e:
            logger.error(f"replay: could not record the forwarded call: {e}")
            return
        self.index.add(flow_parts(flow), Entry(str(writer.path), writer.count - 1, item))
        logger.info(f"replay: recorded {req.method} {req.pretty_url} to {writer.path}")

    def _writer(self) -> CassetteWriter:
        if self.writer is None:
            target = self.record_to or (self.cassettes[0] if self.cassettes else "")
            if not target:
                raise ChimeTapError("no cassette to record to (set chime_replay_record_to)")
            self.writer = CassetteWriter(target)
        return self.writer

    def server_connect(self, data) -> None:
        # The last line of defence: unless misses are forwarded, nothing leaves the machine.
        if self.on_miss != "forward":
            self.refused += 1
            data.server.error = (
                "chime-tap replay: upstream connections are disabled (chime_replay_on_miss=error)"
            )
            logger.warning(f"refused an upstream connection to {data.server.address}")

    def done(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    @command.command("chime.replay.rewind")
    def rewind(self) -> None:
        """Play every recorded answer again from the first one."""
        self.index.rewind()


addons = [ReplayServer()]
