"""Latency quantiles of a dataset: the numpy bucket keys are ddsketch's own, the sketch built from
bucket counts gives each rank's value as a DDSketch fed value by value, and the quantiles are
within 1% of what a report on files gives (np.quantile's linear interpolation)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from ddsketch import DDSketch
from ddsketch.mapping import LogarithmicMapping

from chime_tap.analysis import sketch
from chime_tap.analysis.summaries import QUANTILES

RNG = np.random.default_rng(17)
VALUES = np.concatenate(
    [
        np.exp(RNG.normal(4, 1.5, 5000)),  # latencies over five decades
        RNG.uniform(0, 2, 500),
        [0.0, 1e-12, -3.5, -1e-12, 1.0, 2.0, 1e6, 123.456],  # zero, tiny, negative, exact powers
    ]
)


def test_bucket_keys_are_the_mappings_keys():
    signs, keys = sketch.bucket_keys(VALUES)
    mapping = LogarithmicMapping(sketch.RELATIVE_ACCURACY)
    for value, sign, key in zip(VALUES.tolist(), signs.tolist(), keys.tolist(), strict=True):
        if value > mapping.min_possible:
            assert (sign, key) == (sketch.POSITIVE, mapping.key(value)), value
        elif value < -mapping.min_possible:
            assert (sign, key) == (sketch.NEGATIVE, mapping.key(-value)), value
        else:
            assert sign == sketch.ZERO, value


def _buckets(values: np.ndarray) -> pd.DataFrame:
    signs, keys = sketch.bucket_keys(values)
    return (
        pd.DataFrame({"sign": signs, "key": keys})
        .groupby(["sign", "key"])
        .size()
        .rename("count")
        .reset_index()
    )


def test_each_ranks_value_is_the_one_ddsketch_fed_each_value_gives():
    fed = DDSketch(sketch.RELATIVE_ACCURACY)
    for v in VALUES.tolist():
        fed.add(v)
    n = len(VALUES)
    ranks = np.array([0, 1, 2, 3, 4, 5, 6, 7, 100, 2500, n // 2, n - 2, n - 1])
    ours = sketch.values_at_ranks(_buckets(VALUES), ranks)
    for rank, value in zip(ranks.tolist(), ours.tolist(), strict=True):
        # ddsketch reads rank q * (n - 1) as the first bucket whose running count exceeds it:
        # half a rank on, exactly this rank's bucket.
        assert value == fed.get_quantile_value(min(1.0, (rank + 0.5) / (n - 1))), rank
        true = np.sort(VALUES)[rank]
        if abs(true) > 1e-9:  # DDSketch counts values closer to 0 than that as 0
            assert abs(value - true) <= sketch.RELATIVE_ACCURACY * abs(true), rank


def test_quantiles_are_within_the_bound_of_what_a_report_on_files_gives():
    """np.quantile's default (linear between the nearest ranks) is what a report on files
    shows; the sketch's quantiles are within 1% of it, for large samples and for the small
    ones where interpolation matters most (17 calls: p99 is mostly the largest)."""
    rng = np.random.default_rng(5)
    samples = [VALUES[VALUES > 0], *(np.exp(rng.normal(1, 1.5, n)) for n in range(1, 40))]
    samples += [np.array([1.737, 1.5, 8.1, 1.2, 1.3]), np.full(7, 3.25)]
    for values in samples:
        ours = sketch.quantiles(_buckets(values), QUANTILES)
        for name, q in QUANTILES.items():
            exact = float(np.quantile(values, q))
            assert abs(ours[name] - exact) <= sketch.RELATIVE_ACCURACY * exact, (len(values), name)
