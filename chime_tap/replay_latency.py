"""Replay with recorded timing: how long to hold a replayed answer back.

``none`` (the default) answers at once; ``recorded`` waits the interaction's recorded
``duration_ms`` (its ``chime_tap`` metadata), so a client's timeouts and retries meet the timing
they met live; ``scale:F`` waits F times that. The proxy (``addons/replay.py``) and the vcrpy
cassette (``chime_tap.vcr_cassette``) both ask :func:`delay_seconds`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chime_tap.cassettes.format import META_KEY

__all__ = ["FORMS", "MAX_DELAY_S", "NO_LATENCY", "ReplayLatency", "delay_seconds", "parse"]

FORMS = "none, recorded, scale:F (F a number >= 0, e.g. scale:0.5)"
# A recorded duration past this is a hostile or broken cassette, not a call: never wait longer.
MAX_DELAY_S = 300.0


@dataclass(frozen=True)
class ReplayLatency:
    """The factor each recorded duration is multiplied by; 0 answers at once."""

    factor: float

    @property
    def active(self) -> bool:
        return self.factor > 0


NO_LATENCY = ReplayLatency(0.0)


def parse(text: Any) -> ReplayLatency:
    """``none``, ``recorded`` or ``scale:F``; ValueError naming the forms otherwise."""
    if isinstance(text, ReplayLatency):
        return text
    spec = str(text).strip().lower()
    if spec == "none":
        return NO_LATENCY
    if spec == "recorded":
        return ReplayLatency(1.0)
    kind, sep, number = spec.partition(":")
    if kind == "scale" and sep:
        try:
            factor = float(number)
        except ValueError:
            factor = math.nan
        if math.isfinite(factor) and factor >= 0:
            return ReplayLatency(factor)
        raise ValueError(f"{text!r}: scale takes a finite number >= 0 (forms: {FORMS})")
    raise ValueError(f"{text!r} is not a latency (forms: {FORMS})")


def recorded_ms(item: Mapping[str, Any]) -> float:
    """The recorded ``duration_ms`` of an interaction; 0 when it has none (foreign cassettes)."""
    meta = item.get(META_KEY)
    value = meta.get("duration_ms") if isinstance(meta, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value) if math.isfinite(value) and value > 0 else 0.0


def delay_seconds(latency: ReplayLatency, duration_ms: float) -> float:
    """How long to hold back an answer recorded as taking ``duration_ms``."""
    if not latency.active or duration_ms <= 0:
        return 0.0
    return min(duration_ms * latency.factor / 1000.0, MAX_DELAY_S)
