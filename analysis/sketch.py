"""Latency quantiles that merge across partitions: DDSketch, its bucket keys computed with numpy.

A DDSketch (Masson, Rim, Lee, VLDB 2019; the ``ddsketch`` package, what Datadog's latency
monitoring uses) counts values per logarithmic bucket. The value it gives for any rank is within
:data:`RELATIVE_ACCURACY` of the value of that rank, relative to it, and two sketches merge by
adding their bucket counts, so partitions are sketched apart and merged in any grouping.

Adding ten million values to ``DDSketch.add`` one Python call at a time takes minutes, so the
bucket keys are computed here with numpy, with ddsketch's own mapping (its multiplier and
offset), and counted per key; a rank's value is its bucket's representative value, as
``DDSketch`` gives it. A quantile is the one a report on files gives (numpy's default, linear
between the two nearest ranks), read from the two ranks' values: each within the accuracy of
its own, so (for values of one sign, as latencies are) is the quantile.
``tests/test_dataset_sketch.py`` checks the keys against ddsketch's, each rank's value against a
``DDSketch`` fed value by value, and the quantiles against ``np.quantile`` of the values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from ddsketch.mapping import LogarithmicMapping

RELATIVE_ACCURACY = 0.01
_MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)
# What DDSketch.add does with a value: key(v) above min_possible, key(-v) below -min_possible
# into the negative store, anything between counted as zero.
POSITIVE, ZERO, NEGATIVE = 1, 0, -1


def bucket_keys(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sign, key) of each value, as ``DDSketch.add`` files it (LogarithmicMapping.key)."""
    values = np.asarray(values, dtype="float64")
    limit = _MAPPING.min_possible
    sign = np.where(values > limit, POSITIVE, np.where(values < -limit, NEGATIVE, ZERO))
    magnitude = np.where(sign == ZERO, 1.0, np.abs(values))
    # math.log(v, 2) is log(v) / log(2) in double precision; so is this.
    log2 = np.log(magnitude) / np.log(2.0)
    keys = np.ceil(log2 * _MAPPING._multiplier) + _MAPPING._offset
    keys = np.where(sign == ZERO, 0, keys).astype("int64")
    return sign.astype("int8"), keys


def values_at_ranks(buckets: pd.DataFrame, ranks: np.ndarray) -> np.ndarray:
    """The value of each 0-based rank of one group's buckets (columns sign, key, count): the
    representative value of the bucket that holds it, as ``DDSketch`` gives a rank's value."""
    values = np.array(
        [
            0.0 if sign == ZERO else sign * _MAPPING.value(key)
            for sign, key in zip(buckets["sign"].tolist(), buckets["key"].tolist(), strict=True)
        ]
    )
    order = np.argsort(values, kind="stable")
    ends = np.cumsum(buckets["count"].to_numpy()[order])  # the rank past each bucket's last
    return values[order][np.searchsorted(ends, ranks, side="right")]


def quantiles(buckets: pd.DataFrame, qs: dict[str, float]) -> dict[str, float]:
    """Each named quantile of one group's buckets (columns sign, key, count), linear between
    the two nearest ranks as ``np.quantile`` (and so a report on files) computes it."""
    n = int(buckets["count"].sum())
    positions = np.array([q * (n - 1) for q in qs.values()])
    below = np.floor(positions)
    ranks = np.concatenate([below, np.minimum(below + 1, n - 1)]).astype("int64")
    low, high = np.split(values_at_ranks(buckets, ranks), 2)  # the buckets walked once
    found = low + (high - low) * (positions - below)
    return {name: float(v) for name, v in zip(qs, found.tolist(), strict=True)}


def describe() -> str:
    """The bound a report states next to sketched quantiles."""
    return (
        f"quantiles (p25 to p99) from DDSketch: within {RELATIVE_ACCURACY:.0%} of the exact "
        "quantile (linear between the two nearest ranks, as a report on files gives it); count, "
        "min, mean and max exact"
    )
