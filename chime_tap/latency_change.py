"""Did an operation get slower or faster? Quantiles of two latency samples and a rank test.

A change is flagged only when it holds statistically and matters:

- both samples have at least :data:`MIN_SAMPLES` timed calls;
- the two-sided Mann-Whitney U test (normal approximation with tie and continuity correction,
  as scipy's ``mannwhitneyu(method="asymptotic")``) gives p < :data:`ALPHA`: the candidate's
  latencies are not drawn from the same distribution as the baseline's;
- the medians differ by at least the ratio (default :data:`MIN_RATIO`, either way) and by at
  least :data:`MIN_SHIFT_MS`, so a significant but tiny shift (0.3 ms to 0.5 ms) is not a change.

Mann-Whitney compares ranks, so a few slow outliers do not make a change and no distribution
is assumed (latencies are skewed, never normal). Quantiles are numpy's linear ones, as the
report's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

TEST_NAME = "two-sided Mann-Whitney U (normal approximation, tie and continuity corrected)"
MIN_SAMPLES = 10
ALPHA = 0.01
MIN_RATIO = 1.5
MIN_SHIFT_MS = 1.0


@dataclass(frozen=True)
class LatencyComparison:
    """One operation's latency in A and B, and whether it changed (see the module docstring)."""

    n_a: int
    n_b: int
    p50_a: float | None
    p95_a: float | None
    p50_b: float | None
    p95_b: float | None
    ratio_p50: float | None  # B / A
    ratio_p95: float | None
    u: float | None  # U of the baseline sample; None when not tested
    p_value: float | None
    changed: bool
    verdict: str  # why it is, or is not, a change

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing the mean of the ranks they span."""
    sorter = np.argsort(values, kind="mergesort")
    inverse = np.empty(sorter.size, dtype=np.intp)
    inverse[sorter] = np.arange(sorter.size)
    ordered = values[sorter]
    starts = np.r_[True, ordered[1:] != ordered[:-1]]
    dense = starts.cumsum()[inverse]
    bounds = np.r_[np.nonzero(starts)[0], len(starts)]
    return 0.5 * (bounds[dense] + bounds[dense - 1] + 1)


def mann_whitney_u(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """(U of ``a``, two-sided p-value) by the normal approximation with tie and continuity correction."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n1, n2 = len(x), len(y)
    if not n1 or not n2:
        raise ValueError("both samples need at least one value")
    joined = np.concatenate([x, y])
    u1 = float(average_ranks(joined)[:n1].sum() - n1 * (n1 + 1) / 2)
    n = n1 + n2
    _, counts = np.unique(joined, return_counts=True)
    ties = float((counts**3 - counts).sum()) / (n * (n - 1)) if n > 1 else 0.0
    variance = n1 * n2 / 12 * ((n + 1) - ties)
    if variance <= 0:  # every value the same: nothing tells the samples apart
        return u1, 1.0
    z = (abs(u1 - n1 * n2 / 2) - 0.5) / math.sqrt(variance)
    return u1, min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2)))


def compare_latency(
    a: Sequence[float],
    b: Sequence[float],
    *,
    min_ratio: float = MIN_RATIO,
    alpha: float = ALPHA,
    min_samples: int = MIN_SAMPLES,
    min_shift_ms: float = MIN_SHIFT_MS,
) -> LatencyComparison:
    """p50/p95 of each sample, their ratios, and the verdict of the test in the module docstring."""
    qa = _quantiles(a)
    qb = _quantiles(b)
    ratio50 = _ratio(qb[0], qa[0])
    ratio95 = _ratio(qb[1], qa[1])
    base = dict(
        n_a=len(a), n_b=len(b), p50_a=qa[0], p95_a=qa[1], p50_b=qb[0], p95_b=qb[1],
        ratio_p50=ratio50, ratio_p95=ratio95,
    )  # fmt: skip
    if len(a) < min_samples or len(b) < min_samples:
        return LatencyComparison(
            **base, u=None, p_value=None, changed=False,
            verdict=f"not tested: fewer than {min_samples} timed calls on a side",
        )  # fmt: skip
    u, p = mann_whitney_u(a, b)
    shift = abs(qb[0] - qa[0])
    large = ratio50 is not None and (ratio50 >= min_ratio or ratio50 <= 1 / min_ratio)
    if p >= alpha:
        verdict = f"no change: p = {p:.3g} >= {alpha}"
    elif not large or shift < min_shift_ms:
        verdict = (
            f"no change that matters: p = {p:.3g}, but the p50 moved by {shift:.1f} ms "
            f"(x{ratio50:.2f}; a change needs x{min_ratio:g} either way and {min_shift_ms:g} ms)"
            if ratio50 is not None
            else f"no change that matters: p = {p:.3g}"
        )
    else:
        way = "slower" if qb[0] > qa[0] else "faster"
        return LatencyComparison(
            **base, u=u, p_value=p, changed=True,
            verdict=f"{way}: p50 x{ratio50:.2f}, p = {p:.3g} < {alpha}",
        )  # fmt: skip
    return LatencyComparison(**base, u=u, p_value=p, changed=False, verdict=verdict)


def _quantiles(values: Sequence[float]) -> tuple[float | None, float | None]:
    if not len(values):
        return None, None
    q = np.quantile(np.asarray(values, dtype=float), [0.5, 0.95])
    return float(q[0]), float(q[1])


def _ratio(b: float | None, a: float | None) -> float | None:
    if a is None or b is None or a <= 0:
        return None
    return b / a
