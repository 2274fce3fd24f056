"""Latency quantiles that merge across partitions: DDSketch, its bucket keys computed with numpy.

A DDSketch (Masson, Rim, Lee, VLDB 2019; the ``ddsketch`` package, what Datadog's latency
monitoring uses) counts values per logarithmic bucket. Any quantile it returns is within
:data:`RELATIVE_ACCURACY` of the true value, relative to that value, and two sketches merge by
adding their bucket counts, so partitions are sketched apart and merged in any grouping.

Adding ten million values to ``DDSketch.add`` one Python call at a time takes minutes, so the
bucket keys are computed here with numpy, with ddsketch's own mapping (its multiplier and
offset), and counted per key. A quantile is then read by a real ``DDSketch`` holding one weighted
value per bucket: the same keys, the same counts, ddsketch's own rank search, so the guarantee
is ddsketch's. ``tests/test_dataset_sketch.py`` checks the keys and the quantiles against
``DDSketch.add`` value by value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from ddsketch import DDSketch
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


def sketch_of(signs: np.ndarray, keys: np.ndarray, counts: np.ndarray) -> DDSketch:
    """A DDSketch holding ``counts`` values in each (sign, key) bucket."""
    sketch = DDSketch(RELATIVE_ACCURACY)
    for sign, key, count in zip(signs.tolist(), keys.tolist(), counts.tolist(), strict=True):
        if sign == ZERO:
            sketch.add(0.0, float(count))
        else:  # the bucket's own representative value files under the same key
            sketch.add(sign * _MAPPING.value(key), float(count))
    return sketch


def quantiles(buckets: pd.DataFrame, qs: dict[str, float]) -> dict[str, float]:
    """Each named quantile of one group's buckets (columns sign, key, count)."""
    sketch = sketch_of(
        buckets["sign"].to_numpy(), buckets["key"].to_numpy(), buckets["count"].to_numpy()
    )
    return {name: float(sketch.get_quantile_value(q)) for name, q in qs.items()}


def describe() -> str:
    """The bound a report states next to sketched quantiles."""
    return (
        f"quantiles (p25 to p99) from DDSketch: within {RELATIVE_ACCURACY:.0%} of the true value; "
        "count, min, mean and max exact"
    )
