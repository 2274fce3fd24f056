"""Answering requests from recorded cassettes: the index, the answers, and what a miss says.

``addons/replay.py`` puts this behind the proxy; the vcrpy configuration replays in-process with
the same matchers (``chime_tap.matching``). A recorded call that got no response (status 0) is
never served: a client that retried gets the answer its retry got.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chime_tap.api.hosts import HostPolicy
from chime_tap.api.operations import classify
from chime_tap.cassettes.format import META_KEY, is_unanswered
from chime_tap.cassettes.reader import load_for_replay
from chime_tap.matching import (
    DEFAULT_EXHAUSTED,
    DEFAULT_MATCH_ON,
    MATCHERS,
    RequestIndex,
    RequestParts,
    operation_of,
    parts_from_target,
    parts_from_uri,
)

MISS_STATUS = 599  # no service answers 599: a replay miss cannot pass for the service's error
# How a user of the proxy lets identical calls repeat; the pytest plugin names its own keyword.
PROXY_REPEATS = "--exhausted repeat (option chime_replay_exhausted=repeat)"
REPLAY_HEADER = "x-chime-tap-replay"
MISS_ERROR_TYPE = "ChimeTapReplayMiss"
EXHAUSTED_ERROR_TYPE = "ChimeTapReplayExhausted"
# Framing headers are the transport's: the replayed body gets its own Content-Length.
_DROPPED_RESPONSE_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive"}
)

Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]  # status, body, header fields


class Entry:
    """One recorded interaction in the index: where it came from and its vcrpy dict."""

    __slots__ = ("cassette", "item", "number", "prepared")

    def __init__(self, cassette: str, number: int, item: dict[str, Any]) -> None:
        self.cassette = cassette
        self.number = number  # position in its cassette
        self.item = item
        self.prepared: Answer | None = None

    @property
    def label(self) -> str:
        return f"{Path(self.cassette).name} #{self.number}"

    def request_line(self) -> str:
        req = self.item["request"]
        return f"{str(req.get('method', '')).upper()} {req.get('uri', '')}"

    def answer(self) -> Answer:
        """The recorded response, converted on the first hit only: loading stays cheap."""
        if self.prepared is None:
            self.prepared = recorded_answer(self.item)
        return self.prepared


def _request_body(req: dict[str, Any]) -> Any:
    body = req.get("body")
    return body.get("string") if isinstance(body, dict) else body  # some writers nest it


def build_index(paths: Sequence[str], exhausted: str = DEFAULT_EXHAUSTED) -> RequestIndex:
    """An index over every interaction of the cassettes, in order; CassetteError if one is bad.

    Calls recorded with no response are set aside (``index.unanswered``), never served.
    """
    index = RequestIndex(exhausted)
    for path in paths:
        doc = load_for_replay(path)
        for n, item in enumerate(doc["interactions"]):
            req = item["request"]
            parts = parts_from_uri(req["method"], req["uri"], _request_body(req))
            if is_unanswered(item["response"]):
                index.add_unanswered(parts, Entry(str(path), n, item))
            else:
                index.add(parts, Entry(str(path), n, item))
    return index


def recorded_answer(item: dict[str, Any]) -> Answer:
    """(status, body, header fields) of a recorded response, marked as replayed."""
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


def error_answer(
    status: int, error_type: str, kind: str, message: str, **extra: Any
) -> tuple[int, dict[str, str], bytes]:
    """chime-tap's own error answer: its status, its headers, and a message a client prints."""
    body = json.dumps({"message": message, "Code": error_type, **extra}).encode()
    headers = {
        "Content-Type": "application/json",
        "x-amzn-ErrorType": error_type,
        REPLAY_HEADER: kind,
    }
    return status, headers, body


def call_line(method: str, url: str) -> str:
    """``METHOD URL (Operation)``: a call as a miss or exhausted message names it."""
    try:
        operation = operation_of(method.upper(), urlsplit(url).path or "/")
    except ValueError:  # an unparsable URL names no operation
        operation = None
    return f"{method} {url}" + (f" ({operation})" if operation else "")


def exhausted_message(count: int, method: str, url: str, allow: str = PROXY_REPEATS) -> str:
    """Every recorded answer to this call was played: name the call and how to let it repeat."""
    return (
        f"chime-tap replay: all {count} recorded answer(s) to {call_line(method, url)} were "
        f"already played (exhausted=fail); to repeat the last one instead, use {allow}"
    )


class LiveRequest:
    """A request the proxy received, with the attributes vcrpy-shaped matchers read."""

    __slots__ = ("body", "headers", "host", "method", "path", "port", "scheme", "uri")

    def __init__(
        self,
        method: str,
        scheme: str,
        host: str,
        port: int,
        path: str,
        uri: str,
        body: Any,
        headers: Any = None,
    ) -> None:
        self.method, self.scheme, self.host, self.port = method, scheme, host, port
        self.path, self.uri, self.body, self.headers = path, uri, body, headers or {}

    def parts(self) -> RequestParts:
        return parts_from_target(
            self.method, self.scheme, self.host, self.port, self.path, self.body
        )


class _Recorded:
    """A recorded request as vcrpy-shaped matchers read it."""

    __slots__ = ("body", "headers", "method", "uri")

    def __init__(self, entry: Entry) -> None:
        req = entry.item["request"]
        self.method, self.uri = str(req["method"]), str(req["uri"])
        self.body, self.headers = _request_body(req), req.get("headers") or {}


def explain_miss(
    index: RequestIndex, live: LiveRequest, hosts: HostPolicy
) -> tuple[str, dict[str, Any]]:
    """One line saying no recorded interaction matched, the closest one and what differs."""
    route = classify(live.method, live.host, live.path, hosts, live.port)
    what = f"{live.method} {live.uri}" + (f" ({route.name})" if route else "")
    matchers = [MATCHERS[name] for name in DEFAULT_MATCH_ON]
    closest = index.closest(live, lambda n: _Recorded(index.entries[n]), matchers)
    details: dict[str, Any] = {"request": f"{live.method} {live.uri}"}
    note = _unanswered_note(index, live, details)
    if closest is None:
        held = "hold no answered call" if index.unanswered else "are empty"
        return (
            f"chime-tap replay: no recorded interaction matches {what}; the cassettes {held}{note}",
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


def _unanswered_note(index: RequestIndex, live: LiveRequest, details: dict[str, Any]) -> str:
    """When this very call was recorded but got no response, say so (it is never replayed)."""
    failed_calls = index.unanswered_for(live.parts())
    if not failed_calls:
        return ""
    details["unanswered"] = [e.label for e in failed_calls]
    last = failed_calls[-1]
    meta = last.item.get(META_KEY)
    error = (meta.get("error") if isinstance(meta, dict) else None) or "status 0"
    more = f" (and {len(failed_calls) - 1} more)" if len(failed_calls) > 1 else ""
    return (
        f"; {last.label}{more} recorded this very call, but it got no response ({error}), "
        "and a call that failed is never replayed"
    )
