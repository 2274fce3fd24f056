"""Latency quantiles of a dataset: the numpy bucket keys are ddsketch's own, the sketch built from
bucket counts answers as a DDSketch fed value by value, and within 1% of the true quantile."""

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


def test_a_sketch_of_bucket_counts_answers_as_ddsketch_fed_each_value():
    signs, keys = sketch.bucket_keys(VALUES)
    buckets = (
        pd.DataFrame({"sign": signs, "key": keys})
        .groupby(["sign", "key"])
        .size()
        .rename("count")
        .reset_index()
    )
    fed = DDSketch(sketch.RELATIVE_ACCURACY)
    for v in VALUES.tolist():
        fed.add(v)
    ours = sketch.quantiles(buckets, QUANTILES)
    for name, q in QUANTILES.items():
        assert ours[name] == fed.get_quantile_value(q), name
        true = np.sort(VALUES)[int(q * (len(VALUES) - 1))]
        assert abs(ours[name] - true) <= sketch.RELATIVE_ACCURACY * abs(true), name
