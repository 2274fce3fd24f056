"""Seeded fault and latency injection for the simulator: the same seed gives the same faults.

Each call draws the same number of values from two independent streams (faults, latency),
so the n-th call's fate depends only on the seed and n, and a test can compute what a run
of N calls must produce by asking an injector built with the same settings. Without a seed,
the streams start from fresh randomness: another run, other faults.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass

from chime_tap.simulator.store import SimError

THROTTLED = SimError(
    429, "ThrottledClientException", "Throttled", "The client exceeded its request rate limit."
)
SERVICE_FAILURE = SimError(
    500, "ServiceFailureException", "ServiceFailure", "The service encountered an unexpected error."
)
SERVICE_UNAVAILABLE = SimError(
    503,
    "ServiceUnavailableException",
    "ServiceUnavailable",
    "The service is currently unavailable.",
)

LATENCY_FORMS = ("N", "fixed:N", "uniform:LOW:HIGH", "lognormal:MEDIAN:SIGMA", "exponential:MEAN")


@dataclass(frozen=True)
class Latency:
    """Added latency in milliseconds: fixed, uniform, lognormal or exponential."""

    kind: str = "fixed"
    a: float = 0.0
    b: float = 0.0

    def sample_ms(self, rng: random.Random) -> float:
        # Always one draw, whatever the kind, so streams stay aligned across settings.
        u = rng.random()
        if self.kind == "fixed":
            return self.a
        if self.kind == "uniform":
            return self.a + (self.b - self.a) * u
        if self.kind == "exponential":
            return -self.a * math.log(1.0 - u)
        # lognormal: median a, shape b; inverse CDF through the normal quantile
        return self.a * math.exp(self.b * _normal_quantile(min(max(u, 1e-12), 1 - 1e-12)))

    @property
    def is_zero(self) -> bool:
        return self.kind == "fixed" and self.a == 0


def _normal_quantile(p: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(p)


def parse_latency(text: str) -> Latency:
    """``50``, ``fixed:50``, ``uniform:10:50``, ``lognormal:20:0.5``, ``exponential:30`` (ms)."""
    spec = str(text).strip().lower()
    parts = spec.split(":")
    try:
        numbers = [float(p) for p in parts[1:]] if not _is_number(parts[0]) else [float(parts[0])]
    except ValueError:
        raise ValueError(
            f"bad latency {text!r}: numbers expected (forms: {', '.join(LATENCY_FORMS)})"
        ) from None
    kind = "fixed" if _is_number(parts[0]) else parts[0]
    arity = {"fixed": 1, "uniform": 2, "lognormal": 2, "exponential": 1}
    if kind not in arity:
        raise ValueError(
            f"bad latency {text!r}: unknown form {kind!r} (forms: {', '.join(LATENCY_FORMS)})"
        )
    if len(numbers) != arity[kind]:
        raise ValueError(
            f"bad latency {text!r}: {kind} takes {arity[kind]} number(s) (forms: {', '.join(LATENCY_FORMS)})"
        )
    if any(not math.isfinite(n) or n < 0 for n in numbers):
        raise ValueError(f"bad latency {text!r}: values must be finite and >= 0")
    if kind == "uniform" and numbers[0] > numbers[1]:
        raise ValueError(f"bad latency {text!r}: LOW is above HIGH")
    return Latency(kind, numbers[0], numbers[1] if len(numbers) > 1 else 0.0)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_rate(text: str | float, what: str = "rate") -> float:
    """A fraction in [0, 1]; ValueError naming ``what`` otherwise."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"bad {what} {text!r}: a number from 0 to 1 expected") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"bad {what} {text!r}: a number from 0 to 1 expected")
    return value


@dataclass(frozen=True)
class Decision:
    """What happens to one call: an error to answer with (or None) and a delay in seconds."""

    fault: SimError | None
    delay: float

    @property
    def status(self) -> int | None:
        return self.fault.status if self.fault else None


def _stream(name: str, seed: int | None) -> random.Random:
    """A generator of its own per purpose: seeded, or fresh from the OS when ``seed`` is None."""
    return random.Random(None if seed is None else f"chime-tap-sim-{name}:{seed}")


class FaultInjector:
    """Decides, call by call, whether to throttle (429), fail (500/503) and how long to wait."""

    def __init__(
        self,
        throttle_rate: float = 0.0,
        error_rate: float = 0.0,
        latency: Latency | None = None,
        seed: int | None = None,
    ) -> None:
        if throttle_rate + error_rate > 1.0:
            raise ValueError(
                f"throttle rate + error rate is {throttle_rate + error_rate:g}, more than 1"
            )
        self.throttle_rate = throttle_rate
        self.error_rate = error_rate
        self.latency = latency or Latency()
        self.seed = seed
        self._faults = _stream("faults", seed)
        self._delays = _stream("latency", seed)
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return bool(self.throttle_rate or self.error_rate or not self.latency.is_zero)

    def decide(self) -> Decision:
        with self._lock:
            u, which = self._faults.random(), self._faults.random()
            delay_ms = self.latency.sample_ms(self._delays)
        fault: SimError | None = None
        if u < self.throttle_rate:
            fault = THROTTLED
        elif u < self.throttle_rate + self.error_rate:
            fault = SERVICE_FAILURE if which < 0.5 else SERVICE_UNAVAILABLE
        return Decision(fault, delay_ms / 1000.0)
