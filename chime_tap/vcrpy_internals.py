"""The one place chime-tap uses vcrpy's private names: each is listed here, and checked.

vcrpy documents ``VCR``, its keywords, matchers, filters and persisters; the rest is private
and may change in any release. Every private name chime-tap relies on is used in this module
only, and :data:`INTERNALS` lists it, with the undocumented behaviour other modules rely on;
``tests/test_vcrpy_internals.py`` checks each entry and names the one a new vcrpy broke.

- ``HeadersDict._store`` (copied): lower-case name -> (name, value); :class:`LoadedRequest`
  copies this table instead of setting every header again.
- ``Request._headers`` (set): where ``Request.headers`` keeps its table; a copy of a
  :class:`LoadedRequest` shares every other attribute, all immutable.
- ``Cassette._responses`` (overridden): the lookup ``play_response``, ``can_play_response_for``
  and ``in`` consult; :class:`LookupCassette` hands it to ``matching_responses``.
- ``Cassette._match_on`` (read): the matcher functions of a cassette, for its index keys.
- ``VCR._use_cassette`` (overridden): where ``use_cassette`` builds a Cassette;
  :class:`CassetteClassVCR` builds its ``cassette_class`` instead.
- ``Cassette.use``, ``Cassette.use_arg_getter`` (called): undocumented; the context
  decorators ``_use_cassette`` returns.
- ``Cassette.data``, ``Cassette.play_counts`` (read by ``chime_tap.vcr_cassette``, which also
  counts a repeated answer in ``play_counts``): undocumented; (request, response) pairs, and
  plays counted by position in ``data``.
- ``Cassette.play_response`` (overridden by ``chime_tap.vcr_cassette``, with ``__contains__``):
  the HTTP stubs ask ``can_play_response_for``, which asks ``request in cassette``, then call
  ``play_response`` for the answer; ``exhausted="repeat"`` answers there with the last match.
- ``Cassette.find_requests_with_most_matches`` (overridden by ``chime_tap.vcr_cassette``):
  vcrpy calls it to explain a miss and reads (request, succeeded, failed) tuples back.

Checked against vcrpy 9.4.2 (installed; the whole test suite) and, by the checks in
``tests/test_vcrpy_internals.py``, 6.0.0, 7.0.0 and 8.2.1: all of these were there in 6.0.0.
``pyproject.toml`` bounds vcrpy below 10, the next major version.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any, NamedTuple

import vcr
from vcr.cassette import Cassette
from vcr.request import HeadersDict, Request

__all__ = [
    "INTERNALS",
    "CassetteClassVCR",
    "Internal",
    "LoadedRequest",
    "LoadedResponse",
    "LookupCassette",
]

_HERE = "chime_tap/vcrpy_internals.py"
_CASSETTE = "chime_tap/vcr_cassette.py"


class Internal(NamedTuple):
    """One vcrpy name chime-tap relies on beyond vcrpy's documented API."""

    name: str  # "Class.attribute", as vcrpy spells it
    use: str  # what chime-tap does with it: "copies", "sets", "reads", "overrides", "calls"
    where: str  # the module that does it
    why: str


INTERNALS: tuple[Internal, ...] = (
    Internal("HeadersDict._store", "copies", _HERE, "copy a loaded request's header table"),
    Internal("Request._headers", "sets", _HERE, "give a copied request its own header table"),
    Internal("Cassette._responses", "overrides", _HERE, "look recorded requests up by key"),
    Internal("Cassette._match_on", "reads", _HERE, "build index keys from the matchers"),
    Internal("VCR._use_cassette", "overrides", _HERE, "make use_cassette build our Cassette"),
    Internal("Cassette.use", "calls", _HERE, "a cassette context for our Cassette class"),
    Internal("Cassette.use_arg_getter", "calls", _HERE, "the same, with settings read late"),
    Internal("Cassette.data", "reads", _CASSETTE, "index interactions by position"),
    Internal(
        "Cassette.play_counts",
        "reads and counts in",
        _CASSETTE,
        "all_played without failed calls; a repeated answer counts as played",
    ),
    Internal(
        "Cassette.play_response",
        "overrides",
        _CASSETTE,
        'with __contains__: exhausted="repeat" plays the last match again',
    ),
    Internal(
        "Cassette.find_requests_with_most_matches",
        "overrides",
        _CASSETTE,
        "remember misses; never offer a failed call as the closest",
    ),
)


# --- copy-cheap interactions loaded from a cassette ------------------------------------------


class LoadedRequest(Request):
    """A request read from a cassette. Its header values and body are immutable strings, so
    the deep copy vcrpy makes of every loaded request is a shallow copy plus a new header
    table: loading 10,000 interactions no longer spends most of its time in ``copy``.
    """

    def __deepcopy__(self, memo: dict) -> Request:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        headers = HeadersDict.__new__(HeadersDict)
        headers._store = dict(self._headers._store)
        new.__dict__["_headers"] = headers
        return new


class LoadedResponse(dict):
    """A response read from a cassette; deep copies come back as plain dicts, built directly."""

    def __deepcopy__(self, memo: dict) -> dict[str, Any]:
        out = dict(self)
        for key in ("status", "body"):
            if isinstance(out.get(key), dict):
                out[key] = dict(out[key])
        headers = out.get("headers")
        if isinstance(headers, dict):
            out["headers"] = {k: list(v) if isinstance(v, list) else v for k, v in headers.items()}
        return out


# --- a Cassette whose lookup a subclass provides ---------------------------------------------


class LookupCassette(Cassette):
    """A vcrpy Cassette whose lookup is :meth:`matching_responses`, with its matchers public."""

    @property
    def match_on(self) -> tuple:
        """The matcher functions this cassette compares requests with, in order."""
        return tuple(self._match_on)

    def matching_responses(self, request: Request) -> Iterator[tuple[int, Any]]:
        """(position in ``data``, response) of each recorded interaction answering ``request``."""
        return super()._responses(request)

    def _responses(self, request: Request) -> Iterator[tuple[int, Any]]:
        return self.matching_responses(request)


# --- a VCR that builds its own Cassette class ------------------------------------------------


class CassetteClassVCR(vcr.VCR):
    """A vcr.VCR whose ``use_cassette`` builds a ``cassette_class`` instead of a plain Cassette."""

    cassette_class: type[Cassette] = Cassette

    def _use_cassette(self, with_current_defaults: bool = False, **kwargs: Any):
        if with_current_defaults:
            return self.cassette_class.use(**self.get_merged_config(**kwargs))
        # Settings are read when the cassette is entered, as vcrpy does, so a decorated
        # function sees later changes to this VCR.
        getter = functools.partial(self.get_merged_config, **kwargs)
        return self.cassette_class.use_arg_getter(getter)
