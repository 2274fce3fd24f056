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
  interaction (:class:`IndexedCassette`, in ``chime_tap.vcr_cassette``).
- **Scrubbing** is the recorder's own (``chime_tap.cassettes.scrub``, as the filters in
  ``chime_tap.vcr_filters``): credentials never reach the cassette; ``redact_phones=True`` pseudonymizes phone numbers as the recorder does.
- **Cassettes** are read with a safe loader (``chime_tap.vcr_persister``), as YAML, or as JSON when the name ends in
  ``.json``; a broken cassette raises ``CassetteError`` instead of being treated as empty.
- **Identical calls** play in recorded order. Once all were played, the next one is a miss
  (``exhausted="fail"``, the default, as ``chime-tap replay``'s); with ``exhausted="repeat"``
  (a ``make_vcr`` or ``use_cassette`` keyword) the last answer repeats, as with ``chime-tap
  replay --exhausted repeat``. vcrpy's ``allow_playback_repeats=True`` still works, its way:
  the first answer repeats.
- **Timing**: ``latency="recorded"`` (or ``"scale:F"``; a ``make_vcr`` or ``use_cassette``
  keyword) holds each played answer back by its recorded ``duration_ms``, as ``chime-tap replay
  --latency``; ``"none"``, the default, answers at once.
- **A miss** raises vcrpy's ``CannotOverwriteExistingCassetteException``, whose message names
  the closest recorded request (by ``chime-tap replay``'s rule: the same operation first) and
  each matcher that failed (with the JSON pointer for bodies).
- **boto3 without HTTP**: in record modes that cannot write (``none``, ``once`` on a file
  that exists), a boto3 call is answered where botocore sends it, from the same cassette
  and its filters, matchers and play counts, skipping urllib3 and vcrpy's connection stubs
  (``chime_tap.botocore_replay``); any call it cannot answer exactly as vcrpy would goes
  through vcrpy. ``botocore_fast_path=False`` (a ``make_vcr`` or ``use_cassette`` keyword)
  sends every call through vcrpy.
- **Failed calls** (recorded with status 0: the call got no response) are never played back
  and are never the "closest" request; they stay in the cassette when vcrpy saves it.
"""

from __future__ import annotations

import collections.abc
import functools
import threading
from typing import Any

from chime_tap import replay_latency
from chime_tap.matching import (
    DEFAULT_EXHAUSTED,
    DEFAULT_MATCH_ON,
    MATCHERS,
    check_exhausted,
    check_match_on,
)
from chime_tap.options import RECORD_MODES
from chime_tap.vcr_cassette import IndexedCassette
from chime_tap.vcr_filters import replace_credentials, scrub_response
from chime_tap.vcr_persister import ChimePersister
from chime_tap.vcrpy_internals import CassetteClassVCR

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


def check_record_mode(mode: Any) -> str:
    """``mode`` as one of :data:`RECORD_MODES`; ValueError listing them otherwise."""
    value = getattr(mode, "value", mode)
    if value not in RECORD_MODES:
        raise ValueError(f"record_mode {mode!r} is not one of: {', '.join(RECORD_MODES)}")
    return value


class ChimeVCR(CassetteClassVCR):
    """A vcr.VCR whose cassettes are :class:`IndexedCassette`, with chime-tap's matchers registered.

    ``exhausted`` (``"fail"`` or ``"repeat"``, here or per ``use_cassette``): what the next
    identical call gets once every recorded answer to it was played, as ``chime-tap replay
    --exhausted``.
    """

    cassette_class = IndexedCassette

    def __init__(
        self,
        *args: Any,
        exhausted: str = DEFAULT_EXHAUSTED,
        latency: Any = "none",
        botocore_fast_path: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.exhausted = check_exhausted(exhausted)
        self.latency = _latency(latency)
        self.botocore_fast_path = _fast_path_setting(botocore_fast_path)
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
        exhausted = check_exhausted(kwargs.pop("exhausted", self.exhausted))
        latency = _latency(kwargs.pop("latency", self.latency))
        fast = _fast_path_setting(kwargs.pop("botocore_fast_path", self.botocore_fast_path))
        refusal = _fast_path_refusal(fast, kwargs, self.before_record_request)
        merged = super().get_merged_config(**kwargs)
        return {**merged, "exhausted": exhausted, "latency": latency, "fast_path_refusal": refusal}


def _fast_path_setting(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"botocore_fast_path {value!r} is not one of: True, False")
    return value


def _fast_path_refusal(enabled: bool, kwargs: dict[str, Any], own: Any) -> str | None:
    """Why no boto3 call may skip HTTP in a cassette with these settings (None: some may).

    A ``before_record_request`` hook other than chime-tap's scrubber might not be pure: vcrpy
    runs it three times a call, the fast path once (``chime_tap.botocore_replay``).
    """
    if not enabled:
        return "botocore_fast_path=False"
    hooks = kwargs.get("before_record_request", kwargs.get("before_record", own))
    for hook in _as_list(hooks):
        if not (isinstance(hook, functools.partial) and hook.func is replace_credentials):
            return f"before_record_request hook {getattr(hook, '__name__', hook)!r}"
    return None


def _latency(value: Any) -> replay_latency.ReplayLatency:
    try:
        return replay_latency.parse(value)
    except ValueError as e:
        raise ValueError(f"latency {e}") from None


def _as_list(hooks: Any) -> list:
    if hooks is None:
        return []
    if callable(hooks) or not isinstance(hooks, collections.abc.Iterable):
        return [hooks]
    return list(hooks)


def _hooks_scrubbing_last(overrides: dict[str, Any], redact_phones: bool) -> dict[str, list]:
    """The caller's before_record hooks (popped from ``overrides``), then chime-tap's scrubbers."""
    requests = _as_list(
        overrides.pop("before_record_request", overrides.pop("before_record", None))
    )
    responses = _as_list(overrides.pop("before_record_response", None))
    requests.append(functools.partial(replace_credentials, redact_phones=redact_phones))
    responses.append(functools.partial(scrub_response, redact_phones=redact_phones))
    return {"before_record_request": requests, "before_record_response": responses}


def make_vcr(*, redact_phones: bool = False, **overrides: Any) -> ChimeVCR:
    """A :class:`ChimeVCR` for chime-tap cassettes; keywords are ``vcr.VCR``'s, and ``exhausted``.

    Defaults: ``record_mode="none"``, ``match_on=DEFAULT_MATCH_ON``, ``exhausted="fail"`` (a
    call repeated more often than recorded is a miss; ``"repeat"``: the last answer repeats,
    as ``chime-tap replay --exhausted repeat``), ``latency="none"`` (``"recorded"``,
    ``"scale:F"``: answers held back by their recorded duration), ``botocore_fast_path=True``
    (``False``: every boto3 call goes through urllib3 and vcrpy's stubs). Your own
    ``before_record_request``/``before_record_response`` run first; scrubbing always runs last,
    so nothing a hook puts back reaches the disk.
    """
    record_mode = check_record_mode(overrides.pop("record_mode", "none"))
    match_on = overrides.pop("match_on", DEFAULT_MATCH_ON)
    hooks = _hooks_scrubbing_last(overrides, redact_phones)
    instance = ChimeVCR(
        record_mode=record_mode,
        match_on=(match_on,) if isinstance(match_on, str) else tuple(match_on),
        **hooks,
        **overrides,
    )
    check_match_on(instance.match_on, instance.matchers)
    return instance


# chime_vcr is built on first use, not on import: importing this module (as the pytest plugin
# and the package do) builds no VCR. The annotation declares it without binding it.
chime_vcr: ChimeVCR
_building = threading.Lock()


def __getattr__(name: str) -> Any:
    if name != "chime_vcr":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _building:  # two threads asking at once get the same VCR
        built = globals().get("chime_vcr")
        if built is None:
            built = globals()["chime_vcr"] = make_vcr()
    return built
