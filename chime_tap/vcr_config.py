"""vcrpy configured for SigV4 clients and chime-tap cassettes: the documented Python API.

    from chime_tap import chime_vcr

    with chime_vcr.use_cassette("tests/cassettes/lifecycle.yaml"):
        client.get_proxy_session(VoiceConnectorId=..., ProxySessionId=...)

``chime_vcr`` replays only (record mode ``none``). :func:`make_vcr` builds another with other
settings (``make_vcr(record_mode="once", redact_phones=True)``); every keyword of ``vcr.VCR``
is passed through.

What this configuration does, compared with a plain ``vcr.VCR``:

- **Matching** ignores what changes on every signed call: requests match on method, host,
  path, query (without presigning parameters) and the JSON body as data (key order and
  whitespace don't matter). The matchers (``chime_method``, ``chime_host``, ``chime_path``,
  ``chime_query``, ``json_body``, ``signed_headers``) are registered by name and live in
  ``chime_tap.matching``, shared with ``chime-tap replay``.
- **Lookup** is by index: each request costs one dict lookup, not a walk over every recorded
  interaction (:class:`IndexedCassette`).
- **Scrubbing** is the recorder's own (``chime_tap.cassettes.scrub``): credentials never reach
  the cassette; ``redact_phones=True`` pseudonymizes phone numbers as the recorder does.
- **Cassettes** are read with a safe loader, as YAML, or as JSON when the name ends in
  ``.json``; a broken cassette raises ``CassetteError`` instead of being treated as empty.
- **A miss** raises vcrpy's ``CannotOverwriteExistingCassetteException``, whose message names
  the closest recorded request and each matcher that failed (with the JSON pointer for bodies).
- **Failed calls** (recorded with status 0: the call got no response) are never played back
  and are never the "closest" request; they stay in the cassette when vcrpy saves it.
"""

from __future__ import annotations

import collections.abc
import functools
import itertools
import os
from pathlib import Path
from typing import Any

import vcr
import vcr.matchers
from vcr.cassette import Cassette
from vcr.errors import CannotOverwriteExistingCassetteException
from vcr.matchers import get_matchers_results, requests_match
from vcr.persisters.filesystem import CassetteNotFoundError
from vcr.request import HeadersDict, Request
from vcr.serialize import serialize
from vcr.serializers import compat, jsonserializer, yamlserializer

from chime_tap.cassettes.format import format_for, is_unanswered
from chime_tap.cassettes.reader import load_for_replay
from chime_tap.cassettes.scrub import scrub_interaction
from chime_tap.matching import DEFAULT_MATCH_ON, MATCHERS, check_match_on, parts_of

__all__ = [
    "DEFAULT_MATCH_ON",
    "RECORD_MODES",
    "ChimePersister",
    "ChimeVCR",
    "IndexedCassette",
    "check_record_mode",
    "chime_vcr",
    "make_vcr",
    "replace_credentials",
    "scrub_response",
]

RECORD_MODES = ("none", "once", "new_episodes", "all")


def check_record_mode(mode: Any) -> str:
    """``mode`` as one of :data:`RECORD_MODES`; ValueError listing them otherwise."""
    value = getattr(mode, "value", mode)
    if value not in RECORD_MODES:
        raise ValueError(f"record_mode {mode!r} is not one of: {', '.join(RECORD_MODES)}")
    return value


# --- filters: vcrpy's shape, replace_x(request, ...) -> request ------------------------------


def _text(value: Any) -> Any:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


def _plain_headers(headers: Any) -> dict[str, Any]:
    # botocore sends some header values as bytes: as text they fit a JSON cassette too.
    return {_text(k): _text(v) for k, v in headers.items()} if headers else {}


def replace_credentials(request: Request, redact_phones: bool = False) -> Request:
    """The request with credentials removed (and phones pseudonymized), by the recorder's scrubber."""
    body = request.body
    plain = _plain_headers(request.headers)
    scrubbed = scrub_interaction(
        {
            "request": {
                "uri": request.uri,
                "headers": plain,
                "body": body,
            },
            "response": {"headers": {}},
        },
        redact_phones=redact_phones,
    )["request"]
    # Assign only what changed: rebuilding vcrpy's header table is most of the cost of a
    # request that was already clean (every request loaded from a chime-tap cassette).
    if scrubbed["uri"] != request.uri:
        request.uri = scrubbed["uri"]
    if scrubbed["headers"] != plain:
        request.headers = scrubbed["headers"]
    if scrubbed["body"] is not body and not hasattr(body, "read"):
        request.body = scrubbed["body"]
    return request


def scrub_response(response: dict[str, Any], redact_phones: bool = False) -> dict[str, Any]:
    """A vcrpy response dict without credential headers (and phones pseudonymized)."""
    scrubbed = scrub_interaction(
        {"request": {"uri": "", "headers": {}}, "response": response}, redact_phones=redact_phones
    )["response"]
    return scrubbed


# --- the persister: safe loading, format by file name ----------------------------------------


class _LoadedRequest(Request):
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


class _LoadedResponse(dict):
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


class ChimePersister:
    """vcrpy persister: loads with chime-tap's safe loader; JSON for ``*.json``, YAML otherwise."""

    @classmethod
    def load_cassette(
        cls, cassette_path: str | os.PathLike[str], serializer: Any
    ) -> tuple[list, list]:
        path = Path(cassette_path)
        if not path.is_file() or path.stat().st_size == 0:
            raise CassetteNotFoundError()
        doc = load_for_replay(path)  # CassetteError (one line) for anything broken
        requests = [_LoadedRequest(**item["request"]) for item in doc["interactions"]]
        responses = [
            _LoadedResponse(compat.convert_to_bytes(item["response"]))
            for item in doc["interactions"]
        ]
        return requests, responses

    @staticmethod
    def save_cassette(
        cassette_path: str | os.PathLike[str], cassette_dict: dict[str, Any], serializer: Any
    ) -> None:
        chosen = jsonserializer if format_for(cassette_path) == "json" else yamlserializer
        data = serialize(cassette_dict, chosen)
        path = Path(cassette_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(data)
        os.replace(tmp, path)


# --- the indexed cassette --------------------------------------------------------------------

# vcrpy's own matchers compare one attribute each: they can be indexed too.
_VCRPY_PARTS = {
    vcr.matchers.method: lambda p, r: r.method,
    vcr.matchers.scheme: lambda p, r: r.scheme,
    vcr.matchers.host: lambda p, r: r.host,
    vcr.matchers.port: lambda p, r: r.port,
    vcr.matchers.path: lambda p, r: r.path or "/",
    vcr.matchers.query: lambda p, r: tuple(r.query),
}


class IndexedCassette(Cassette):
    """A vcrpy Cassette that finds recorded requests by key instead of walking them all.

    Matchers with a known key (chime-tap's, and vcrpy's method/scheme/host/port/path/query)
    build the key; any other matcher is checked only on the requests with that key. Play
    order, repeats and record modes are vcrpy's. A failed call (status 0) is kept in
    ``data``, so it is saved again, but never indexed: it is never played.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stored_parts = []
        self._live_parts = []
        self._unkeyed = []
        self._needs_parts = False
        for m in self._match_on:
            part = getattr(m, "part", None) or _VCRPY_PARTS.get(m)
            if part is None:
                self._unkeyed.append(m)
                continue
            self._stored_parts.append(part)
            self._live_parts.append(
                getattr(m, "live_parts", None) or (lambda p, r, part=part: (part(p, r),))
            )
            self._needs_parts = self._needs_parts or hasattr(m, "part")
        self._index: dict[tuple, list[int]] = {}
        self._unanswered: set[int] = set()  # positions in data of calls that got no response
        self.misses: list[Request] = []

    def _parts(self, request: Request):
        return parts_of(request) if self._needs_parts else None

    def append(self, request: Request, response: dict[str, Any]) -> None:
        n = len(self.data)
        super().append(request, response)
        if len(self.data) > n:
            stored, kept = self.data[n]
            if is_unanswered(kept):
                self._unanswered.add(n)
                return
            p = self._parts(stored)
            key = tuple(part(p, stored) for part in self._stored_parts)
            self._index.setdefault(key, []).append(n)

    def _candidates(self, request: Request) -> list[int]:
        p = self._parts(request)
        alternatives = [live(p, request) for live in self._live_parts]
        found = [self._index[k] for k in itertools.product(*alternatives) if k in self._index]
        if len(found) <= 1:
            return found[0] if found else []
        return sorted(set().union(*found))

    def _responses(self, request: Request):
        request = self._before_record_request(request)
        if not request:
            return
        for index in self._candidates(request):
            stored, response = self.data[index]
            if not self._unkeyed or requests_match(request, stored, self._unkeyed):
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
        request = self._before_record_request(request)
        scored = []
        for n, (stored, _) in enumerate(self.data):
            if n in self._unanswered:
                continue  # a failed call is no candidate: playing it back is never the fix
            successes, fails = get_matchers_results(request, stored, self._match_on)
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


# --- the VCR -----------------------------------------------------------------------------------


class ChimeVCR(vcr.VCR):
    """A vcr.VCR whose cassettes are :class:`IndexedCassette`, with chime-tap's matchers registered."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, matcher in MATCHERS.items():
            self.register_matcher(name, matcher)
        self.register_persister(ChimePersister)

    def get_merged_config(self, **kwargs: Any) -> dict[str, Any]:
        # Settings with fixed values are checked up front, with the valid values in the message.
        check_record_mode(kwargs.get("record_mode", self.record_mode))
        names = tuple(kwargs.get("match_on", self.match_on)) + tuple(
            kwargs.get("additional_matchers", ())
        )
        check_match_on(names, self.matchers)
        return super().get_merged_config(**kwargs)

    def _use_cassette(self, with_current_defaults: bool = False, **kwargs: Any):
        if with_current_defaults:
            return IndexedCassette.use(**self.get_merged_config(**kwargs))
        return IndexedCassette.use_arg_getter(functools.partial(self.get_merged_config, **kwargs))


def _as_list(hooks: Any) -> list:
    if hooks is None:
        return []
    if callable(hooks) or not isinstance(hooks, collections.abc.Iterable):
        return [hooks]
    return list(hooks)


def make_vcr(*, redact_phones: bool = False, **overrides: Any) -> ChimeVCR:
    """A :class:`ChimeVCR` for chime-tap cassettes; keywords are ``vcr.VCR``'s.

    Defaults: ``record_mode="none"``, ``match_on=DEFAULT_MATCH_ON``. Your own
    ``before_record_request``/``before_record_response`` run first; scrubbing always runs last,
    so nothing a hook puts back reaches the disk.
    """
    record_mode = check_record_mode(overrides.pop("record_mode", "none"))
    match_on = overrides.pop("match_on", DEFAULT_MATCH_ON)
    before_request = _as_list(
        overrides.pop("before_record_request", overrides.pop("before_record", None))
    )
    before_response = _as_list(overrides.pop("before_record_response", None))
    before_request.append(functools.partial(replace_credentials, redact_phones=redact_phones))
    before_response.append(functools.partial(scrub_response, redact_phones=redact_phones))
    instance = ChimeVCR(
        record_mode=record_mode,
        match_on=(match_on,) if isinstance(match_on, str) else tuple(match_on),
        before_record_request=before_request,
        before_record_response=before_response,
        **overrides,
    )
    check_match_on(instance.match_on, instance.matchers)
    return instance


chime_vcr = make_vcr()


# --- what the pytest plugin needs (the plugin module holds only hooks and fixtures) ----------

CASSETTE_SUFFIXES = (".yaml", ".yml", ".json")


def cassette_path(
    test_file: str | os.PathLike[str], cassette_dir: str, name: str | None, test_name: str
) -> Path:
    """Where a test's cassette lives: ``<test dir>/<cassette_dir>/<name>`` (``.yaml`` added if no suffix).

    Without a name: ``<cassette_dir>/<test module>/<test name>.yaml``.
    """
    base = Path(test_file).parent / cassette_dir
    if not name:
        name = f"{Path(test_file).stem}/{test_name.replace('/', '_')}"
    path = base / name
    if path.suffix.lower() not in CASSETTE_SUFFIXES:
        path = path.with_name(path.name + ".yaml")
    return path


def marker_settings(args: tuple, kwargs: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """(cassette name, vcr overrides) from ``@pytest.mark.chime_cassette(name, **overrides)``."""
    kwargs = dict(kwargs)
    if len(args) > 1:
        raise ValueError(f"chime_cassette takes one cassette name, got {len(args)}: {args!r}")
    name = args[0] if args else kwargs.pop("path", None)
    if name is not None and not isinstance(name, str | os.PathLike):
        raise ValueError(f"chime_cassette: the cassette name must be a string, got {name!r}")
    return (os.fspath(name) if name is not None else None), dict(kwargs)
