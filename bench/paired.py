"""Paired rounds: how every benchmark turns alternating runs into its headline ratio.

The subject (B) and its baseline (A) run in alternation, round after round, the order reversed
every other round (A B, B A, A B, ...) so that neither always runs second on a warmer or busier
machine. Each round gives one ratio, B's figure over A's figure from the same round: the two
runs share the machine's state, so a neighbour's burst slows both. The headline is the median of
those per-round ratios, with their min and max next to it. The best round may be shown, always
labelled as such, never as the headline.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


def alternate(runs: Mapping[str, Callable[[int], T]], rounds: int) -> dict[str, list[T]]:
    """Call each ``runs[name](round)`` once per round, reversing the order every other round.

    Returns ``{name: [result of round 0, round 1, ...]}``, in round order whatever the call order.
    """
    out: dict[str, list[T]] = {name: [] for name in runs}
    names = list(runs)
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            out[name].append(runs[name](r))
    return out


@dataclass(frozen=True)
class Ratio:
    """Per-round ratios of a subject's figure to its baseline's from the same round."""

    rounds: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.rounds)

    @property
    def low(self) -> float:
        return min(self.rounds)

    @property
    def high(self) -> float:
        return max(self.rounds)

    def text(self, digits: int = 2) -> str:
        """``median (min-max)``, the headline and its spread."""
        return f"{self.median:.{digits}f} ({self.low:.{digits}f}-{self.high:.{digits}f})"

    def as_dict(self) -> dict[str, object]:
        return {
            "median": self.median,
            "min": self.low,
            "max": self.high,
            "rounds": list(self.rounds),
        }


def paired(subject: Sequence[float], baseline: Sequence[float]) -> Ratio:
    """The ratio ``subject[r] / baseline[r]`` of each round ``r``; both lists are in round order."""
    if len(subject) != len(baseline) or not subject:
        raise ValueError(
            f"paired rounds need as many subject as baseline figures, and at least one "
            f"(got {len(subject)} and {len(baseline)})"
        )
    if any(b == 0 for b in baseline):
        raise ValueError("a baseline figure of 0 has no ratio")
    return Ratio(tuple(s / b for s, b in zip(subject, baseline, strict=True)))


def best_round(ratio: Ratio, higher_is_better: bool = True) -> float:
    """The most favourable round's ratio: shown only as 'best round', never as the headline."""
    return ratio.high if higher_is_better else ratio.low
