"""The indexed cassette: each request costs one dict lookup, not a walk over every interaction."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import vcr.matchers
from vcr.errors import CannotOverwriteExistingCassetteException
from vcr.matchers import get_matchers_results, requests_match
from vcr.request import Request

from chime_tap.cassettes.format import is_unanswered
from chime_tap.matching import parts_of
from chime_tap.vcrpy_internals import LookupCassette

__all__ = ["IndexedCassette"]

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


class IndexedCassette(LookupCassette):
    """A vcrpy Cassette that finds recorded requests by key instead of walking them all.

    Matchers with a known key (chime-tap's, and vcrpy's method/scheme/host/port/path/query)
    build the key; any other matcher is checked only on the requests with that key. Play
    order, repeats and record modes are vcrpy's. A failed call (status 0) is kept in
    ``data``, so it is saved again, but never indexed: it is never played.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._keys = _keys_of(self.match_on)
        self._index: dict[tuple, list[int]] = {}
        self._unanswered: set[int] = set()  # positions in data of calls that got no response
        self.misses: list[Request] = []

    def _parts(self, request: Request):
        return parts_of(request) if self._keys.needs_parts else None

    def append(self, request: Request, response: dict[str, Any]) -> None:
        n = len(self.data)
        super().append(request, response)
        if len(self.data) > n:
            stored, kept = self.data[n]
            if is_unanswered(kept):
                self._unanswered.add(n)
                return
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
                yield index, response

    @property
    def all_played(self) -> bool:
        """True when every interaction that can be played was (a failed call never is)."""
        return len(self.play_counts) == len(self) - len(self._unanswered)

    def find_requests_with_most_matches(self, request: Request):
        """vcrpy's "closest recorded requests", among the interactions that can be played."""
        # vcrpy calls this to explain a request it cannot play: remember the miss for the
        # pytest plugin, which fails a test whose client swallowed the error.
        if request is not None and not any(m is request for m in self.misses):
            self.misses.append(request)
        request = self.filter_request(request)
        scored = []
        for n, (stored, _) in enumerate(self.data):
            if n in self._unanswered:
                continue  # a failed call is no candidate: playing it back is never the fix
            successes, fails = get_matchers_results(request, stored, self.match_on)
            scored.append((stored, successes, fails))
        # vcrpy's ranking: every request tied for the most matchers passed, if any passed.
        best = max((len(successes) for _, successes, _ in scored), default=0)
        return [t for t in scored if best and len(t[1]) == best]

    def miss_report(self) -> str | None:
        """vcrpy's explanation of every request this cassette could not play, or None."""
        if not self.misses:
            return None
        texts = [
            str(CannotOverwriteExistingCassetteException(cassette=self, failed_request=r))
            for r in list(self.misses)
        ]
        return "\n\n".join(texts)
