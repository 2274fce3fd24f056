"""Answering requests from recorded cassettes: the index, the answers, and what a miss says.

``addons/replay.py`` puts this behind the proxy; the vcrpy configuration replays in-process with
the same matchers (``chime_tap.matching``). A recorded call that got no response (status 0) is
never served: a client that retried gets the answer its retry got.
"""

from __future__ import annotations

import gc
import json
import operator
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chime_tap.api.hosts import HostPolicy
from chime_tap.api.operations import classify
from chime_tap.cassettes.format import META_KEY, is_unanswered
from chime_tap.cassettes.reader import (
    DeferredRequest,
    StoredLine,
    check_line,
    line_request,
    replay_items,
)
from chime_tap.cassettes.scrub import scrub_uri
from chime_tap.errors import CassetteError
from chime_tap.matching import (
    DEFAULT_EXHAUSTED,
    DEFAULT_MATCH_ON,
    MATCHERS,
    RequestIndex,
    RequestParts,
    operation_of,
    parts_at_origin,
    parts_from_target,
    parts_from_uri,
)

MISS_STATUS = 599  # no service answers 599: a replay miss cannot pass for the service's error
# How a user of the proxy lets identical calls repeat; the pytest plugin names its own keyword.
PROXY_REPEATS = "--exhausted repeat (option chime_replay_exhausted=repeat)"
REPLAY_HEADER = "x-chime-tap-replay"
MISS_ERROR_TYPE = "ChimeTapReplayMiss"
EXHAUSTED_ERROR_TYPE = "ChimeTapReplayExhausted"
UNREADABLE_ERROR_TYPE = "ChimeTapReplayUnreadable"
# Framing headers are the transport's: the replayed body gets its own Content-Length.
_DROPPED_RESPONSE_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive"}
)

Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]  # status, body, header fields
# The most header bytes (names and values) a replayed answer carries. A real answer has well
# under 2 KB; HTTP/2 clients take 16-64 KiB (SETTINGS_MAX_HEADER_LIST_SIZE), and mitmproxy's
# HPACK encoder takes time that grows with the square of a header's size (1 MB: a minute of
# CPU, with the event loop stuck). Fields past this are left out of the answer, said at start.
MAX_ANSWER_HEADER_BYTES = 32 * 1024


class Entry:
    """One recorded interaction in the index: where it came from and its vcrpy dict.

    An interaction read from a line of a JSON cassette in the writer's layout is kept as that
    line and parsed again when needed (``item``), its answer not cached: a million parsed dicts
    would not fit in memory, and a parse costs a small part of a proxy round trip. In a
    cassette over ``reader.DEFER_CHECKS_BYTES`` replayed by the proxy, one whose check was
    deferred (``unchecked``: only its request was checked at start) is kept as where its line
    lies (``reader.StoredLine``), read again when needed and checked at its first use; ``item``
    raises CassetteError naming the cassette and the interaction, each time, if it is no
    interaction a reader can use.
    """

    __slots__ = ("_item", "cassette", "line", "number", "prepared", "size", "unchecked")

    def __init__(
        self,
        cassette: str,
        number: int,
        item: dict[str, Any] | None,
        line: bytes | StoredLine | None = None,
    ) -> None:
        self.cassette = cassette
        self.number = number  # position in its cassette
        self.line = line
        self._item = None if line is not None else item
        self.prepared: Answer | None = None
        self.unchecked = type(line) is StoredLine
        # the bytes of its line, None for an item read whole: which answers may carry big headers
        self.size = None if line is None else line.size if self.unchecked else len(line)  # type: ignore[union-attr]

    def _text(self) -> bytes:
        line = self.line
        return line if type(line) is bytes else line.read(self.number)  # type: ignore[union-attr,return-value]

    @property
    def item(self) -> dict[str, Any]:
        if self._item is not None:
            return self._item
        if self.unchecked:
            item = check_line(self._text(), self.cassette, self.number)
            self.unchecked = False
            return item
        return json.loads(self._text())

    @property
    def request(self) -> dict[str, Any]:
        """The recorded request; of an unchecked entry, without checking the rest of it (and as
        nothing, when its line can no longer be read: a miss is still explained)."""
        if type(self.line) is StoredLine:
            try:
                return line_request(self._text())
            except CassetteError:
                return {"method": "", "uri": ""}
        return self.item["request"]

    def label(self, names: Mapping[str, str] | None = None) -> str:
        """``sessions.yaml #3``: the cassette by the name ``names`` gives it (see
        :func:`cassette_names`), else by its file name."""
        name = names.get(self.cassette) if names else None
        return f"{name or Path(self.cassette).name} #{self.number}"

    def request_line(self) -> str:
        req = self.request
        return f"{str(req.get('method', '')).upper()} {req.get('uri', '')}"

    def answer(self) -> Answer:
        """The recorded response, converted on the first hit only: loading stays cheap."""
        if self.line is not None:
            return recorded_answer(self.item)
        if self.prepared is None:
            self.prepared = recorded_answer(self.item)
        return self.prepared


def cassette_names(paths: Iterable[str]) -> dict[str, str]:
    """Each cassette's name in replay's lines and answers, keyed by its path as given: the
    shortest trailing part of its path that none of the others ends with, so its file name
    when no other has that name (``sessions.yaml``), else as many of its folders as tell it
    apart (``newuser-proj/tests/cassettes/sessions.yaml``, ``main/tests/cassettes/...``).

    Paths are compared as the files they name (``~`` expanded, made absolute): the same file
    given twice, relative and absolute, is one cassette, with one name.
    """
    given = {str(p): Path(os.path.abspath(os.path.expanduser(p))).parts for p in paths}
    files = set(given.values())
    tails: dict[tuple[str, ...], tuple[str, ...]] = {}  # a file's parts -> its shortest tail
    unnamed = set(files)
    depth = 0
    while unnamed:  # two different absolute paths differ at the latest in their whole length
        depth += 1
        seen = Counter(parts[-depth:] for parts in files)
        for parts in list(unnamed):
            if seen[parts[-depth:]] == 1:
                tails[parts] = parts[-depth:]
                unnamed.discard(parts)
    return {path: os.path.join(*tails[parts]) for path, parts in given.items()}


def _request_body(req: dict[str, Any]) -> Any:
    body = req.get("body")
    return body.get("string") if isinstance(body, dict) else body  # some writers nest it


def build_index(
    paths: Sequence[str], exhausted: str = DEFAULT_EXHAUSTED, *, defer_checks: bool = False
) -> RequestIndex:
    """An index over every interaction of the cassettes, in order; CassetteError if one is bad.

    Calls recorded with no response are set aside (``index.unanswered``), never served. With
    ``defer_checks`` (the proxy replay), a big JSON cassette's interactions have only their
    requests checked here, the rest at their first play (``Entry.unchecked``).
    """
    index = RequestIndex(exhausted)
    add, deferred, parts_of_request = index.add, DeferredRequest, parts_at_origin  # hot loop
    for path in paths:
        name = str(path)
        for n, (item, line) in enumerate(replay_items(path, defer_checks=defer_checks)):
            if type(item) is deferred:  # an answered call: its status is not 0
                method, origin, uri, body = item
                add(parts_of_request(method, origin, uri, body), Entry(name, n, None, line))
                continue
            req = item["request"]
            parts = parts_from_uri(req["method"], req["uri"], _request_body(req))
            entry = Entry(name, n, item, line)
            if is_unanswered(item["response"]):
                index.add_unanswered(parts, entry)
            else:
                index.add(parts, entry)
    return index


def build_lasting_index(paths: Sequence[str], exhausted: str = DEFAULT_EXHAUSTED) -> RequestIndex:
    """:func:`build_index` (checks deferred) for an index that lives as long as the proxy.

    The cyclic GC is kept from walking it, while it is built (a million entries are millions of
    objects, walked by each collection the allocations trigger: seconds) and on every full
    collection after (which would make each request cost more in a big cassette). It holds no
    reference cycles. freeze() exempts everything alive at that moment, so an index built before
    (and whatever it kept open: a big cassette's descriptor) is let go of first, or it would stay
    for good.
    """
    if gc.get_freeze_count():
        gc.unfreeze()
        gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        index = build_index(paths, exhausted, defer_checks=True)
        gc.freeze()
    finally:
        if was_enabled:
            gc.enable()
    return index


def _header_values(item: dict[str, Any]) -> Iterator[tuple[str, str]]:
    raw = item["response"].get("headers")
    for name, values in raw.items() if isinstance(raw, dict) else ():
        if str(name).lower() in _DROPPED_RESPONSE_HEADERS:
            continue
        for value in values if isinstance(values, list) else [values]:
            yield str(name), str(value)


def answer_header_bytes(item: dict[str, Any]) -> int:
    """How many bytes of header names and values a recorded response would be answered with."""
    return sum(len(name) + len(value) for name, value in _header_values(item))


def recorded_answer(item: dict[str, Any], limit: int = MAX_ANSWER_HEADER_BYTES) -> Answer:
    """(status, body, header fields) of a recorded response, marked as replayed.

    Header fields that would take the answer past ``limit`` bytes of headers are left out
    (:func:`oversized_answers` names those answers when the cassettes are loaded).
    """
    response = item["response"]
    body = response.get("body")
    content = body.get("string") if isinstance(body, dict) else body
    if isinstance(content, str):
        content = content.encode("utf-8", "surrogateescape")
    headers = []
    size = 0
    for name, value in _header_values(item):
        field = (name.encode("latin-1", "replace"), value.encode("utf-8", "surrogateescape"))
        size += len(field[0]) + len(field[1])
        if size > limit:
            size -= len(field[0]) + len(field[1])
            continue
        headers.append(field)
    headers.append((REPLAY_HEADER.encode(), b"hit"))
    return int(response["status"]["code"]), content or b"", headers


_SIZE = operator.attrgetter("size")


def oversized_answers(
    index: RequestIndex, limit: int = MAX_ANSWER_HEADER_BYTES
) -> list[tuple[Entry, int]]:
    """(entry, header bytes) of each recorded answer with more than ``limit`` bytes of headers."""
    sizes = list(map(_SIZE, index.entries))  # a million entries: looked at without a loop
    if None not in sizes and max(sizes, default=0) <= limit:
        return []
    found = []
    for entry in index.entries:
        if entry.size is not None and entry.size <= limit:
            continue  # its headers are shorter than its line: no need to parse it again
        try:
            size = answer_header_bytes(entry.item)
        except CassetteError:
            continue  # no answer at all: said when it is played
        if size > limit:
            found.append((entry, size))
    return found


def oversized_line(
    found: list[tuple[Entry, int]],
    limit: int = MAX_ANSWER_HEADER_BYTES,
    names: Mapping[str, str] | None = None,
) -> str:
    """The one line replay says at start about answers whose headers it will not serve whole;
    ``names``: the cassettes' names (:func:`cassette_names`)."""
    entry, size = found[0]
    more = f" and {len(found) - 1} more" if len(found) > 1 else ""
    return (
        f"replay: {len(found)} recorded answer(s) carry more than {limit // 1024} KiB of headers "
        f"({entry.label(names)}: {size:,} bytes{more}); they are served without the header "
        "fields past that (no real answer has them, and HTTP/2 clients refuse them)"
    )


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
    # A presigned URL carries credentials: a message never repeats them (logs, test reports).
    return f"{method} {scrub_uri(url)}" + (f" ({operation})" if operation else "")


def exhausted_message(count: int, method: str, url: str, allow: str = PROXY_REPEATS) -> str:
    """Every recorded answer to this call was played: name the call and how to let it repeat."""
    return (
        f"chime-tap replay: all {count} recorded answer(s) to {call_line(method, url)} were "
        f"already played (exhausted=fail); to repeat the last one instead, use {allow}"
    )


def unreadable_message(method: str, url: str, problem: str) -> str:
    """The recorded answer to this call cannot be read: the cassette's problem, and what to do."""
    return (
        f"chime-tap replay: the recorded answer to {call_line(method, url)} cannot be played: "
        f"{problem} (replay checks each interaction of a cassette this big when it is first "
        "played, not at start)"
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
        req = entry.request
        self.method, self.uri = str(req["method"]), str(req["uri"])
        self.body, self.headers = _request_body(req), req.get("headers") or {}


def explain_miss(
    index: RequestIndex,
    live: LiveRequest,
    hosts: HostPolicy,
    names: Mapping[str, str] | None = None,
) -> tuple[str, dict[str, Any]]:
    """One line saying no recorded interaction matched, the closest one and what differs;
    ``names``: the cassettes' names (:func:`cassette_names`)."""
    route = classify(live.method, live.host, live.path, hosts, live.port)
    uri = scrub_uri(live.uri)  # presigned credentials stay out of the log and the answer
    what = f"{live.method} {uri}" + (f" ({route.name})" if route else "")
    matchers = [MATCHERS[name] for name in DEFAULT_MATCH_ON]
    closest = index.closest(live, lambda n: _Recorded(index.entries[n]), matchers)
    details: dict[str, Any] = {"request": f"{live.method} {uri}"}
    note = _unanswered_note(index, live, details, names)
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
        "interaction": entry.label(names),
        "request": entry.request_line(),
        "differs": dict(failed),
    }
    return (
        f"chime-tap replay: no recorded interaction matches {what}; closest is {entry.label(names)} "
        f"({entry.request_line()}), which differs in {differs}{note}"
    ), details


def _unanswered_note(
    index: RequestIndex,
    live: LiveRequest,
    details: dict[str, Any],
    names: Mapping[str, str] | None,
) -> str:
    """When this very call was recorded but got no response, say so (it is never replayed)."""
    failed_calls = index.unanswered_for(live.parts())
    if not failed_calls:
        return ""
    details["unanswered"] = [e.label(names) for e in failed_calls]
    last = failed_calls[-1]
    meta = last.item.get(META_KEY)
    error = (meta.get("error") if isinstance(meta, dict) else None) or "status 0"
    more = f" (and {len(failed_calls) - 1} more)" if len(failed_calls) > 1 else ""
    return (
        f"; {last.label(names)}{more} recorded this very call, but it got no response ({error}), "
        "and a call that failed is never replayed"
    )
