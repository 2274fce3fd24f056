"""The one place chime-tap uses vcrpy's private names: each is listed here, and checked.

vcrpy documents ``VCR``, its keywords, matchers, filters and persisters; the rest is private
and may change in any release. Every private name chime-tap relies on is used in this module
only, and :data:`INTERNALS` lists it, with the undocumented behaviour other modules rely on;
``tests/test_vcrpy_internals.py`` checks each entry and names the one a new vcrpy broke.

- ``HeadersDict._store`` (copied, built, read): lower-case name -> (name, value);
  :class:`LoadedRequest` copies this table instead of setting every header again, and
  :func:`header_table`, :func:`header_items` build and read it directly.
- ``Request._headers``, ``_was_file``, ``_was_iter`` (set): where ``Request.headers`` keeps its
  table, and whether the body was a file or an iterator; a copy of a :class:`LoadedRequest`
  shares every other attribute, all immutable; ``LoadedRequest.sent`` sets them as
  ``Request.__init__`` does.
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
- ``VCRConnection.cassette`` (read, by :func:`patched_cassette`): while a cassette is entered,
  vcrpy puts in botocore's connection pools (``ConnectionCls``) a connection class whose
  ``cassette`` is the cassette it answers from; ``chime_tap.botocore_replay`` answers only
  from that one.

Checked against vcrpy 9.4.2 (installed; the whole test suite) and, by the checks in
``tests/test_vcrpy_internals.py``, 6.0.0, 7.0.0 and 8.2.1: all of these were there in 6.0.0.
``pyproject.toml`` bounds vcrpy below 10, the next major version.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
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
    "header_items",
    "header_table",
    "patched_cassette",
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
    Internal(
        "VCRConnection.cassette",
        "reads",
        _HERE,
        "the cassette vcrpy's patch answers a botocore call from",
    ),
)


# --- copy-cheap interactions loaded from a cassette ------------------------------------------


def header_table(pairs: Iterable[tuple[str, Any]]) -> HeadersDict:
    """``HeadersDict`` of (name, value) pairs, as its ``__setitem__`` builds one (a list's first
    value; the first spelling of a name), without a method call per header."""
    store: dict[str, tuple[str, Any]] = {}
    for name, value in pairs:
        if isinstance(value, tuple | list):
            value = value[0]
        lowered = name.lower()
        old = store.get(lowered)
        store[lowered] = (old[0] if old else name, value)
    headers = HeadersDict.__new__(HeadersDict)
    headers._store = store
    return headers


def header_items(headers: HeadersDict) -> Iterable[tuple[str, Any]]:
    """``headers.items()``, read from the table without a lookup per name."""
    return headers._store.values()


class LoadedRequest(Request):
    """A request read from a cassette. Its header values and body are immutable strings, so
    the deep copy vcrpy makes of every loaded request is a shallow copy plus a new header
    table: loading 10,000 interactions no longer spends most of its time in ``copy``.
    """

    @classmethod
    def sent(
        cls, method: str, uri: str, body: bytes | str | None, headers: Iterable[tuple[str, Any]]
    ) -> LoadedRequest:
        """``Request(method, uri, body, dict(headers))`` for a body that is no file or iterator,
        built without vcrpy's per-header calls (``tests/test_inprocess_fast_path.py`` compares)."""
        new = object.__new__(cls)
        new.method = method
        new.uri = uri
        new._was_file = new._was_iter = False
        new.body = body
        new._headers = header_table(headers)
        return new

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


# --- the cassette vcrpy answers botocore's calls from ----------------------------------------


_pools: list[type] = []  # botocore's (http, https) connection pools, imported on first use


def patched_cassette(url: str) -> Any:
    """The cassette vcrpy's patch answers a botocore request to ``url`` from; None outside one."""
    if not _pools:
        from botocore.awsrequest import AWSHTTPConnectionPool, AWSHTTPSConnectionPool

        _pools[:] = [AWSHTTPConnectionPool, AWSHTTPSConnectionPool]
    pool = _pools[url.startswith("https:")]
    return getattr(pool.ConnectionCls, "cassette", None)
