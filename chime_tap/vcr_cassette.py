"""The indexed cassette: each request costs one dict lookup, not a walk over every interaction.

It also keeps the play accounting every upkeep feature reads: which interaction of the file
each position of ``data`` is (``file_positions``), what was played (vcrpy's ``play_counts``,
fed by :meth:`IndexedCassette.note_play` only) and the calls a test made (``calls``).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import vcr.matchers
from vcr.matchers import requests_match
from vcr.request import Request

from chime_tap import botocore_replay, replay_latency
from chime_tap.cassettes.format import is_unanswered
from chime_tap.matching import (
    DEFAULT_EXHAUSTED,
    Closest,
    check_exhausted,
    closest_requests,
    parts_of,
)
from chime_tap.played_calls import RECORDED, REPLAYED, Call, call_of
from chime_tap.vcrpy_internals import LoadedRequest, LookupCassette

__all__ = ["IndexedCassette", "Miss"]

# vcrpy's own matchers compare one attribute each: they can be indexed too.
_VCRPY_PARTS = {
    vcr.matchers.method: lambda p, r: r.method,
    vcr.matchers.scheme: lambda p, r: r.scheme,
    vcr.matchers.host: lambda p, r: r.host,
    vcr.matchers.port: lambda p, r: r.port,
    vcr.matchers.path: lambda p, r: r.path or "/",
    vcr.matchers.query: lambda p, r: tuple(r.query),
}


class _Keys(NamedTuple):
    """How a cassette's matchers turn requests into index keys."""

    stored: list[Callable]  # part of a recorded request, one per keyed matcher
    live: list[Callable]  # the parts a live request may match, one tuple per keyed matcher
    unkeyed: list[Callable]  # matchers with no key: checked on the requests with the same key
    needs_parts: bool  # whether a key needs chime_tap.matching.parts_of


def _keys_of(match_on: Sequence[Callable]) -> _Keys:
    stored, live, unkeyed, needs_parts = [], [], [], False
    for m in match_on:
        part = getattr(m, "part", None) or _VCRPY_PARTS.get(m)
        if part is None:
            unkeyed.append(m)
            continue
        stored.append(part)
        live.append(getattr(m, "live_parts", None) or (lambda p, r, part=part: (part(p, r),)))
        needs_parts = needs_parts or hasattr(m, "part")
    return _Keys(stored, live, unkeyed, needs_parts)


@dataclass
class Miss:
    """A request the cassette could not play, however many times it was sent (retries too)."""

    request: Request  # as the cassette's filters left it
    closest: list[Closest]  # by chime_tap.matching.closest_requests; positions in ``data``
    sent: list[Request] = field(default_factory=list)  # each time it was sent

    @property
    def count(self) -> int:
        return len(self.sent)

    @property
    def exhausted(self) -> bool:
        """True when it was recorded, but every recorded answer to it had been played."""
        return _exhausted(self.closest)


class IndexedCassette(LookupCassette):
    """A vcrpy Cassette that finds recorded requests by key instead of walking them all.

    Matchers with a known key (chime-tap's, and vcrpy's method/scheme/host/port/path/query)
    build the key; any other matcher is checked only on the requests with that key. Record
    modes are vcrpy's; identical calls play in recorded order. Once all of them were played,
    ``exhausted="fail"`` (the default) makes the next one a miss, as the proxy's
    ``--exhausted fail`` does; ``exhausted="repeat"`` plays the last one again, as
    ``--exhausted repeat`` does. (vcrpy's ``allow_playback_repeats=True`` still works: it plays
    the first match again.) A failed call (status 0) is kept in ``data``, so it is saved
    again, but never indexed: it is never played. ``latency`` (``"none"``, ``"recorded"``,
    ``"scale:F"``) holds each played answer back by its recorded ``duration_ms``, as
    ``chime-tap replay --latency`` does.
    """

    def __init__(
        self,
        path: Any,
        *args: Any,
        exhausted: str = DEFAULT_EXHAUSTED,
        latency: Any = "none",
        fast_path_refusal: str | None = botocore_replay.NOT_MAKE_VCR,
        **kwargs: Any,
    ) -> None:
        super().__init__(path, *args, **kwargs)
        self.file = Path(path)  # where it was loaded from, as the misses name it
        self.exhausted = check_exhausted(exhausted)
        self.latency = replay_latency.parse(latency)
        self.loaded = 0  # interactions read from the file (a hook may have dropped some)
        self.file_positions: list[int | None] = []  # per position in data; None: recorded now
        # Each call replayed or recorded, as (position in data, source); made into Calls when read.
        self._made: list[tuple[int, str]] = []
        self._durations: list[float] | None = None  # recorded duration_ms by file position
        self._yielded: int | None = None  # the last position matching_responses offered
        self._keys = _keys_of(self.match_on)
        self._index: dict[tuple, list[int]] = {}
        self._unanswered: set[int] = set()  # positions in data of calls that got no response
        self.misses: list[Miss] = []
        # boto3 calls answered without HTTP when that gives what vcrpy would (botocore_replay).
        self.fast_path = botocore_replay.FastPath(self, fast_path_refusal)
        if fast_path_refusal is None:
            botocore_replay.install()

    def _parts(self, request: Request):
        return parts_of(request) if self._keys.needs_parts else None

    def append(self, request: Request, response: dict[str, Any]) -> None:
        n = len(self.data)
        loaded = isinstance(request, LoadedRequest)  # read by the persister, not sent now
        if loaded:
            self.loaded += 1
        super().append(request, response)
        if len(self.data) > n:
            stored, kept = self.data[n]
            self.file_positions.append(self.loaded - 1 if loaded else None)
            if not loaded:
                self._made.append((n, RECORDED))
            if is_unanswered(kept):
                self._unanswered.add(n)
                return
            if loaded:  # never played if unanswered: only what may be played is looked over
                self.fast_path.note_loaded(n, kept)
            p = self._parts(stored)
            key = tuple(part(p, stored) for part in self._keys.stored)
            self._index.setdefault(key, []).append(n)

    def _candidates(self, request: Request) -> list[int]:
        p = self._parts(request)
        alternatives = [live(p, request) for live in self._keys.live]
        found = [self._index[k] for k in itertools.product(*alternatives) if k in self._index]
        if len(found) <= 1:
            return found[0] if found else []
        return sorted(set().union(*found))

    def matching_responses(self, request: Request) -> Iterator[tuple[int, Any]]:
        request = self.filter_request(request)
        if not request:
            return
        unkeyed = self._keys.unkeyed
        for index in self._candidates(request):
            stored, response = self.data[index]
            if not unkeyed or requests_match(request, stored, unkeyed):
                self._yielded = index
                yield index, response

    def _repeat(self, request: Request) -> tuple[int, Any] | None:
        """With exhausted="repeat": the last match of ``request`` when every match was played."""
        if self.exhausted != "repeat" or self.allow_playback_repeats:
            return None
        last = None
        for index, response in self.matching_responses(request):
            if not self.play_counts[index]:
                return None  # vcrpy plays this one: recorded order first
            last = (index, response)
        return last

    def __contains__(self, request: Request) -> bool:
        return super().__contains__(request) or self._repeat(request) is not None

    def play_response(self, request: Request) -> Any:
        return self.play_indexed(request)[1]

    def play_indexed(self, request: Request) -> tuple[int | None, Any]:
        """vcrpy's ``play_response``, with the position in ``data`` of the answer it played."""
        again = self._repeat(request)
        if again is None:
            self._yielded = None
            response = super().play_response(request)
            # vcrpy answers with the first match it may play: the last one offered to it.
            index = self._yielded
        else:
            index, response = again
            self.play_counts[index] += 1  # played before, so vcrpy already keeps it for saving
        if index is not None:
            self.note_play(index)
        return index, response

    def note_play(self, index: int) -> None:
        """Account for one play of ``data[index]`` (vcrpy has counted it in ``play_counts``):
        the test's call list, and the recorded timing when a latency is set. Any other way of
        answering from this cassette reports its plays here, so every report reads one record.
        """
        self._made.append((index, REPLAYED))
        delay = replay_latency.delay_seconds(self.latency, self._recorded_ms(index))
        if delay > 0:
            time.sleep(delay)

    @property
    def plays_noted(self) -> int:
        """How many calls were replayed or recorded so far (``calls`` without building them)."""
        return len(self._made)

    @property
    def calls(self) -> list[Call]:
        """The calls replayed or recorded since the cassette was entered, oldest first."""
        out = []
        for index, source in self._made:
            request, response = self.data[index]
            status = response.get("status") if isinstance(response, dict) else None
            code = status.get("code") if isinstance(status, dict) else None
            label = self.label_of(index) if source == REPLAYED else ""
            out.append(call_of(request.method, request.uri, request.body, code, source, label))
        return out

    def _recorded_ms(self, index: int) -> float:
        position = self.file_positions[index] if index < len(self.file_positions) else None
        if position is None or not self.latency.active:
            return 0.0
        if self._durations is None:  # the persister hands vcrpy no metadata: read it once
            from chime_tap.cassettes.reader import load_for_replay

            items = load_for_replay(self.file)["interactions"]
            self._durations = [replay_latency.recorded_ms(item) for item in items]
        return self._durations[position] if position < len(self._durations) else 0.0

    def unplayed(self) -> list[int]:
        """Positions in ``data`` of loaded interactions never played (failed calls aside)."""
        return [
            n
            for n, position in enumerate(self.file_positions)
            if position is not None and n not in self._unanswered and not self.play_counts[n]
        ]

    def played_file_positions(self) -> list[int]:
        """The file positions of the loaded interactions played at least once."""
        return sorted(
            p for n, p in enumerate(self.file_positions) if p is not None and self.play_counts[n]
        )

    def unanswered_positions(self) -> list[int]:
        """Positions in ``data`` of calls recorded with no response (never playable)."""
        return sorted(self._unanswered)

    def unanswered_file_positions(self) -> list[int]:
        """The file positions of loaded calls recorded with no response (never playable)."""
        return sorted(p for n in self._unanswered if (p := self.file_positions[n]) is not None)

    def label_of(self, index: int) -> str:
        """``name.yaml #3`` by the interaction's position in the file (``data``'s if recorded now)."""
        position = self.file_positions[index] if index < len(self.file_positions) else None
        return self.label(index if position is None else position)

    @property
    def all_played(self) -> bool:
        """True when every interaction that can be played was (a failed call never is)."""
        return len(self.play_counts) == len(self) - len(self._unanswered)

    def closest(self, request: Request, most: int | None = None) -> list[Closest]:
        """The recorded requests closest to ``request`` (positions in ``data``), by the proxy's rule."""
        # A failed call is no candidate: playing it back is never the fix.
        candidates = [
            (n, parts_of(stored))
            for n, (stored, _) in enumerate(self.data)
            if n not in self._unanswered
        ]
        return closest_requests(
            request, candidates, lambda n: self.data[n][0], self.match_on, most=most
        )

    def find_requests_with_most_matches(self, request: Request):
        """vcrpy's "closest recorded requests": chime-tap's rule, the proxy's, best first."""
        # vcrpy calls this to explain a request it cannot play: remember the miss for the
        # pytest plugin, which reports it (once, however often it was retried), even when the
        # client swallowed the error.
        sent = request
        request = self.filter_request(request)
        if request is None:
            return []
        found = self.closest(request)
        if sent is not None:
            self._remember(sent, request, found)
        names = [getattr(m, "__name__", repr(m)) for m in self.match_on]
        results = []
        for closest in found:
            failed = {name for name, _ in closest.failed}
            ok = [name for name in names if name not in failed]
            results.append((self.data[closest.number][0], ok, closest.failed))
        return results

    def _remember(self, sent: Request, request: Request, found: list[Closest]) -> None:
        key = parts_of(request).key
        for miss in self.misses:
            if parts_of(miss.request).key == key and miss.exhausted == _exhausted(found):
                if not any(r is sent for r in miss.sent):
                    miss.sent.append(sent)
                return
        self.misses.append(Miss(request, found, [sent]))

    def label(self, position: int) -> str:
        """``name.yaml #3``: an interaction as the proxy names it (its position in the file)."""
        return f"{self.file.name} #{position}"


def _exhausted(found: list[Closest]) -> bool:
    """Whether the closest recorded requests are the request itself, already played."""
    return bool(found) and not found[0].failed
