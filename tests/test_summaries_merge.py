"""A dataset's summaries do not depend on how its partitions' partials were grouped in the
merges (a cluster of one worker merges other groups than one of two): latency means too, to
the last digit, though floating-point addition is not associative."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench import fleet_gen
from chime_tap.analysis import load_frame, summaries


def test_a_latency_mean_is_the_same_float_whatever_the_merges_grouping(tmp_path):
    rng = np.random.default_rng(7)
    path = tmp_path / "c.json"
    path.write_text(fleet_gen.cassette_text(fleet_gen.calls(rng, 600, 0), "rec", "json"))
    frame = load_frame([path])
    thirds = np.array_split(np.arange(len(frame)), 3)
    # One timed call per operation in each partition: 2**53 ms in the first, 1 ms in the
    # others. (2**53 + 1) + 1 is 2**53 in floating point; 2**53 + (1 + 1) is 2**53 + 2.
    latency = np.full(len(frame), np.nan)
    for k, rows in enumerate(thirds):
        part = frame.iloc[rows]
        one = rows[~part["operation"].duplicated().to_numpy()]
        latency[one] = 2.0**53 if k == 0 else 1.0
    frame = frame.assign(latency_ms=latency)
    parts = [summaries.partial(frame.iloc[t].reset_index(drop=True), sketched=True) for t in thirds]
    left = summaries.merge(summaries.merge(parts[0], parts[1]), parts[2])
    right = summaries.merge(parts[0], summaries.merge(parts[1], parts[2]))
    a = summaries.finish(left)["latency_ms"]
    b = summaries.finish(right)["latency_ms"]
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    # What the test rests on: added up as the merges group them, the sums differ.
    assert (2.0**53 + 1.0) + 1.0 != 2.0**53 + (1.0 + 1.0)
    assert (a["count"] == 3).all() and len(a) == frame["operation"].nunique()
