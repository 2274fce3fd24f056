"""Serve recorded responses from vcrpy cassettes to any client that uses this proxy.

    mitmdump -s addons/replay.py --set chime_replay_cassettes=cassettes/lifecycle.yaml

Requests are matched as the vcrpy configuration matches them (``addons/matching.py``: method,
host, path, query, JSON body; never signatures or dates), by index, so the cost of a lookup
does not grow with the cassette. Identical calls replay in recorded order, then the last one
repeats (``chime_replay_exhausted=fail`` answers an error instead). A request with no match is
answered with status 599 and ``x-chime-tap-replay: miss``, naming the closest recorded request
and what differs; with ``chime_replay_on_miss=forward`` it goes upstream and is recorded.

A recorded call that got no response (status 0, ``answered_by: none``: the recorder's record of
a refused, reset or timed-out call) is never served: a client that retried gets the answer its
retry got. A miss on a request recorded only that way says so.
"""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mitmproxy import command, ctx, exceptions, http

from chime_tap.addons.options import HOSTS, add_hosts_option, host_policy
from chime_tap.api.hosts import DEFAULT_HOSTS, HostPolicy
from chime_tap.api.operations import classify
from chime_tap.cassettes.format import META_KEY, is_unanswered, make_interaction
from chime_tap.cassettes.reader import load_for_replay
from chime_tap.cassettes.writer import CassetteWriter
from chime_tap.errors import ChimeTapError
from chime_tap.matching import (
    DEFAULT_MATCH_ON,
    EXHAUSTED_POLICIES,
    MATCHERS,
    Exhausted,
    RequestIndex,
    RequestParts,
    parts_from_target,
    parts_from_uri,
)
from chime_tap.wire import decode_body, headers_dict

logger = logging.getLogger(__name__)

ON_MISS = ("error", "forward")
MISS_STATUS = 599  # no service answers 599: a replay miss cannot pass for the service's error
REPLAY_HEADER = "x-chime-tap-replay"
MISS_ERROR_TYPE = "ChimeTapReplayMiss"
EXHAUSTED_ERROR_TYPE = "ChimeTapReplayExhausted"
OFFLINE_OPTIONS = {"upstream_cert": False, "connection_strategy": "lazy"}
# Framing headers are the transport's: the replayed body gets its own Content-Length.
_DROPPED_RESPONSE_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive"}
)


class Entry:
    """One recorded interaction in the index: where it came from and its vcrpy dict."""

    # A plain class, not a dataclass: `mitmdump -s` runs this file outside sys.modules,
    # where @dataclass cannot resolve the module's annotations.
    __slots__ = ("cassette", "item", "number", "prepared")

    def __init__(self, cassette: str, number: int, item: dict[str, Any]) -> None:
        self.cassette = cassette
        self.number = number  # position in its cassette
        self.item = item
        self.prepared: tuple[int, bytes, list[tuple[bytes, bytes]]] | None = None

    @property
    def label(self) -> str:
        return f"{Path(self.cassette).name} #{self.number}"

    def request_line(self) -> str:
        req = self.item["request"]
        return f"{str(req.get('method', '')).upper()} {req.get('uri', '')}"


def build_index(paths: Sequence[str], exhausted: str = "repeat") -> RequestIndex:
    """An index over every interaction of the cassettes, in order; CassetteError if one is bad.

    Calls recorded with no response are set aside (``index.unanswered``), never served.
    """
    index = RequestIndex(exhausted)
    for path in paths:
        doc = load_for_replay(path)
        for n, item in enumerate(doc["interactions"]):
            req = item["request"]
            body = req.get("body")
            if isinstance(body, dict):  # some writers nest the request body
                body = body.get("string")
            parts = parts_from_uri(req["method"], req["uri"], body)
            if is_unanswered(item["response"]):
                index.add_unanswered(parts, Entry(str(path), n, item))
            else:
                index.add(parts, Entry(str(path), n, item))
    return index


def _prepare(item: dict[str, Any]) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """(status, body, header fields) of a recorded response, straight from the vcrpy dict."""
    response = item["response"]
    body = response.get("body")
    content = body.get("string") if isinstance(body, dict) else body
    if isinstance(content, str):
        content = content.encode("utf-8", "surrogateescape")
    headers = []
    raw = response.get("headers")
    for name, values in raw.items() if isinstance(raw, dict) else ():
        if str(name).lower() in _DROPPED_RESPONSE_HEADERS:
            continue
        for value in values if isinstance(values, list) else [values]:
            headers.append(
                (str(name).encode("latin-1"), str(value).encode("utf-8", "surrogateescape"))
            )
    headers.append((REPLAY_HEADER.encode(), b"hit"))
    return int(response["status"]["code"]), content or b"", headers


def response_for(entry: Entry) -> http.Response:
    """The recorded response as a mitmproxy response, marked as replayed."""
    if entry.prepared is None:  # converted on the first hit only: loading stays cheap
        entry.prepared = _prepare(entry.item)
    status, body, headers = entry.prepared
    return http.Response.make(status, body, headers)


def error_answer(
    status: int, error_type: str, kind: str, message: str, **extra: Any
) -> http.Response:
    """chime-tap's own error answer: its status, its header, and a message a client prints."""
    body = json.dumps({"message": message, "Code": error_type, **extra}).encode()
    return http.Response.make(
        status,
        body,
        {"Content-Type": "application/json", "x-amzn-ErrorType": error_type, REPLAY_HEADER: kind},
    )


def flow_parts(flow: http.HTTPFlow) -> RequestParts:
    req = flow.request
    try:
        body = req.content
    except ValueError:  # undecodable Content-Encoding
        body = req.raw_content
    return parts_from_target(req.method, req.scheme, req.pretty_host, req.port, req.path, body)


class _Req:
    """The attributes vcrpy-shaped matchers read, for a request that is not a vcrpy Request."""

    __slots__ = ("body", "headers", "method", "uri")

    def __init__(self, method: str, uri: str, body: Any, headers: Any) -> None:
        self.method, self.uri, self.body, self.headers = method, uri, body, headers


def _entry_request(entry: Entry) -> _Req:
    req = entry.item["request"]
    body = req.get("body")
    if isinstance(body, dict):
        body = body.get("string")
    return _Req(str(req["method"]), str(req["uri"]), body, req.get("headers") or {})


def explain_miss(
    index: RequestIndex, flow: http.HTTPFlow, hosts: HostPolicy
) -> tuple[str, dict[str, Any]]:
    """One line saying no recorded interaction matched, the closest one and what differs."""
    req = flow.request
    try:
        body = req.content
    except ValueError:
        body = req.raw_content
    live = _Req(req.method, req.pretty_url, body, {k: v for k, v in req.headers.items()})
    route = classify(req.method, req.pretty_host, req.path, hosts, req.port)
    what = f"{req.method} {req.pretty_url}" + (f" ({route.name})" if route else "")
    matchers = [MATCHERS[name] for name in DEFAULT_MATCH_ON]
    closest = index.closest(live, lambda n: _entry_request(index.entries[n]), matchers)
    details: dict[str, Any] = {"request": f"{req.method} {req.pretty_url}"}
    failed_calls = index.unanswered_for(flow_parts(flow))
    note = ""
    if failed_calls:
        details["unanswered"] = [e.label for e in failed_calls]
        last = failed_calls[-1]
        meta = last.item.get(META_KEY)
        error = (meta.get("error") if isinstance(meta, dict) else None) or "status 0"
        more = f" (and {len(failed_calls) - 1} more)" if len(failed_calls) > 1 else ""
        note = (
            f"; {last.label}{more} recorded this very call, but it got no response ({error}), "
            "and a call that failed is never replayed"
        )
    if closest is None:
        return (
            f"chime-tap replay: no recorded interaction matches {what}; the cassettes "
            f"{'hold no answered call' if index.unanswered else 'are empty'}{note}",
            details,
        )
    n, failed = closest
    entry = index.entries[n]
    differs = (
        "; ".join(f"{name}: {message}" for name, message in failed) or "nothing (already played)"
    )
    details["closest"] = {
        "interaction": entry.label,
        "request": entry.request_line(),
        "differs": dict(failed),
    }
    return (
        f"chime-tap replay: no recorded interaction matches {what}; closest is {entry.label} "
        f"({entry.request_line()}), which differs in {differs}{note}"
    ), details


def interaction_from_flow(flow: http.HTTPFlow) -> dict[str, Any]:
    """A forwarded flow as a vcrpy interaction, converted as the recorder converts (unscrubbed: CassetteWriter scrubs)."""
    req, resp = flow.request, flow.response
    assert resp is not None
    request_body, request_headers = decode_body(req.raw_content, headers_dict(req.headers.fields))
    response_body, response_headers = decode_body(
        resp.raw_content, headers_dict(resp.headers.fields)
    )
    return make_interaction(
        method=req.method,
        uri=req.pretty_url,
        request_headers=request_headers,
        request_body=request_body,
        status=resp.status_code,
        reason=resp.reason,
        response_headers=response_headers,
        response_body=response_body,
        meta={"answered_by": "upstream", "recorded_by": "chime-tap replay --on-miss forward"},
    )


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
        add_hosts_option(loader)
        loader.add_option(
            "chime_replay_cassettes",
            Sequence[str],
            [],
            "Replay: vcrpy cassettes (YAML, or JSON for *.json) to answer from, in order.",
        )
        loader.add_option(
            "chime_replay_on_miss",
            str,
            "error",
            f"Replay: what to do with a request no cassette holds: {' or '.join(ON_MISS)}.",
        )
        loader.add_option(
            "chime_replay_exhausted",
            str,
            "repeat",
            "Replay: once every recorded answer to a call was played: repeat the last one, or fail.",
        )
        loader.add_option(
            "chime_replay_record_to",
            str,
            "",
            "Replay: with on_miss=forward, the cassette forwarded calls are appended to (default: the first cassette).",
        )

    def configure(self, updated: set[str]) -> None:
        if HOSTS in updated:
            self.hosts = host_policy(ctx.options.chime_hosts)
        if "chime_replay_on_miss" in updated:
            value = ctx.options.chime_replay_on_miss
            if value not in ON_MISS:
                raise exceptions.OptionsError(
                    f"chime_replay_on_miss: {value!r} is not one of {', '.join(ON_MISS)}"
                )
            self.on_miss = value
        if (
            "chime_replay_exhausted" in updated
            and ctx.options.chime_replay_exhausted not in EXHAUSTED_POLICIES
        ):
            raise exceptions.OptionsError(
                f"chime_replay_exhausted: {ctx.options.chime_replay_exhausted!r} is not one of {', '.join(EXHAUSTED_POLICIES)}"
            )
        if updated & {"chime_replay_cassettes", "chime_replay_exhausted"}:
            try:
                self.index = build_index(
                    ctx.options.chime_replay_cassettes, ctx.options.chime_replay_exhausted
                )
            except ChimeTapError as e:
                raise exceptions.OptionsError(f"chime_replay_cassettes: {e}") from e
            self.cassettes = list(ctx.options.chime_replay_cassettes)
            # The index lives as long as the proxy: keep the cyclic GC from walking it on
            # every full collection, which would make each request cost more in a big cassette.
            gc.freeze()
            failed = (
                f" ({self.index.unanswered} more recorded with no response, never replayed)"
                if self.index.unanswered
                else ""
            )
            logger.info(
                f"replay: {len(self.index)} recorded interaction(s) from {len(self.cassettes)} cassette(s){failed}"
            )
        if "chime_replay_record_to" in updated:
            self.record_to = ctx.options.chime_replay_record_to
        if updated & {"chime_replay_on_miss", *OFFLINE_OPTIONS}:
            self._stay_offline()

    def running(self) -> None:
        self._stay_offline()

    def _stay_offline(self) -> None:
        # mitmproxy would otherwise connect upstream to sniff certificates or connect eagerly;
        # a replay answers from disk. Only a forwarded miss may open a connection.
        wrong = {
            k: v
            for k, v in OFFLINE_OPTIONS.items()
            if k in ctx.options and getattr(ctx.options, k) != v
        }
        if wrong:
            ctx.options.update(**wrong)

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        parts = flow_parts(flow)
        found = self.index.lookup(parts)
        if found is None:
            self._miss(flow)
        elif isinstance(found, Exhausted):
            self.misses += 1
            message = (
                f"chime-tap replay: all {found.count} recorded answer(s) to {flow.request.method} "
                f"{flow.request.pretty_url} were already played (exhausted=fail)"
            )
            logger.warning(message)
            flow.response = error_answer(MISS_STATUS, EXHAUSTED_ERROR_TYPE, "exhausted", message)
        else:
            self.hits += 1
            flow.response = response_for(found.entry)
            flow.comment = f"replayed {found.entry.label}" + (
                " (repeated)" if found.repeated else ""
            )

    def _miss(self, flow: http.HTTPFlow) -> None:
        self.misses += 1
        if self.on_miss == "forward":
            logger.info(f"replay miss, forwarding: {flow.request.method} {flow.request.pretty_url}")
            flow.metadata["chime_replay_forwarded"] = True
            return
        message, details = explain_miss(self.index, flow, self.hosts)
        logger.warning(message)
        flow.marked = ":warning:"
        flow.response = error_answer(MISS_STATUS, MISS_ERROR_TYPE, "miss", message, **details)

    def response(self, flow: http.HTTPFlow) -> None:
        if not flow.metadata.get("chime_replay_forwarded") or flow.response is None:
            return
        req = flow.request
        if classify(req.method, req.pretty_host, req.path, self.hosts, req.port) is None:
            return  # only proxy-session calls are recorded
        try:
            writer = self._writer()
            item = interaction_from_flow(flow)
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
