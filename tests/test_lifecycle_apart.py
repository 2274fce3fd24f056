"""The cluster's way to the session table, run by run: each run of days settles the sessions no
other run saw where it was read (``lifecycle.apart``), the pieces of the others are merged and
settled bucket by bucket, and ``combine`` orders all those rows. The table is the report of
the cassettes themselves, row for row, in its order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench import fleet_gen
from chime_tap.analysis import lifecycle, load_frame, summaries
from chime_tap.analysis.engines import run_keys, run_settle, settle_bucket, tree_reduce


def _frame(tmp_path, *, across_midnight: bool) -> pd.DataFrame:
    """Recorders' calls over days. ``across_midnight``: a few session ids, created again and
    again across midnight, on a coarse clock (ties); else each day's recorders' own sessions."""
    rng = np.random.default_rng(12)
    paths = []
    for r in range(3):
        if across_midnight:
            calls = fleet_gen.calls(rng, 500, 0)
            calls.at_us = calls.at_us + fleet_gen.DAY_US // 2  # the second half is the next day
            calls.session = calls.session % 40
            calls.at_us = calls.at_us // (600 * 10**6) * (600 * 10**6)  # 10-minute clocks
        else:  # recorder r on day r only: ids of its own
            calls = fleet_gen.calls(rng, 300, r)
        path = tmp_path / f"rec{r}.json"
        path.write_text(fleet_gen.cassette_text(calls, f"rec{r}", "json"))
        paths.append(path)
    return load_frame(paths)


def _days(frame: pd.DataFrame) -> list[pd.DataFrame]:
    days = frame.groupby(frame["recorded_at"].dt.floor("D"))
    return [g.reset_index(drop=True) for _, g in days]


def _by_runs(frame: pd.DataFrame, buckets: int) -> tuple[pd.DataFrame, list[int]]:
    """The session table as the cluster makes it from a run a day, and how many rows each
    run settled alone."""
    days = _days(frame)
    assert len(days) >= 2
    parts = [summaries.partial(day, sketched=True) for day in days]
    keys = [run_keys(p) for p in parts]
    splits = [run_settle(p, i, buckets, *keys) for i, p in enumerate(parts)]
    settled = [rows for _, rows, _ in splits]
    settled += [settle_bucket(*(cut[k] for _, _, cut in splits)) for k in range(buckets)]
    return lifecycle.combine(settled), [len(rows) for _, rows, _ in splits]


@pytest.mark.parametrize("buckets", [1, 3])
def test_runs_settled_apart_give_the_table_of_the_whole(tmp_path, buckets):
    frame = _frame(tmp_path, across_midnight=True)
    exact = summaries.summarize(frame)["sessions"]
    got, alone = _by_runs(frame, buckets)
    pd.testing.assert_frame_equal(got, exact)
    # Both ways were taken: sessions settled in their run, and sessions of both runs merged.
    assert all(alone), alone
    assert sum(alone) < len(exact), (alone, len(exact))


def test_runs_that_share_no_session_settle_every_row_where_they_were_read(tmp_path):
    frame = _frame(tmp_path, across_midnight=False)
    exact = summaries.summarize(frame)["sessions"]
    got, alone = _by_runs(frame, 2)
    pd.testing.assert_frame_equal(got, exact)
    assert sum(alone) == len(exact) and all(alone), alone


def test_a_run_numbers_its_own_sessions_on_from_the_runs_before_it(tmp_path):
    """The settled rows' ``order`` is the one a merge of every run's partial gives them."""
    parts = [
        summaries.partial(day, sketched=True)
        for day in _days(_frame(tmp_path, across_midnight=False))
    ]
    whole = lifecycle.settle(tree_reduce([p["sessions"] for p in parts], lifecycle.merge))
    keys = [run_keys(p) for p in parts]
    rows = pd.concat([run_settle(p, i, 0, *keys)[1] for i, p in enumerate(parts)])
    assert len(parts) == 3
    pd.testing.assert_series_equal(
        rows["order"].reset_index(drop=True), whole["order"].reset_index(drop=True)
    )
    assert rows["order"].iloc[-1] >= parts[0]["sessions"].orders + parts[1]["sessions"].orders


def test_rows_in_order_are_what_a_sort_leaves_in_place():
    """``combine`` leaves rows that stand in the table's order where they are: the check is
    the sort's own order (by time, none last, then by order), ties and missing times too."""
    rng = np.random.default_rng(3)
    for _ in range(300):
        n = int(rng.integers(0, 8))
        seen = rng.integers(0, 3, n).astype("datetime64[s]").astype("datetime64[ns]")
        seen[rng.random(n) < 0.2] = np.datetime64("NaT")
        order = rng.integers(0, 3, n)
        rows = np.lexsort((order, seen))
        # half the cases put in the sort's order, half left as drawn
        if rng.random() < 0.5:
            seen, order = seen[rows], order[rows]
            rows = np.lexsort((order, seen))
        assert lifecycle._in_order(seen, order) == bool((rows == np.arange(n)).all()), (seen, order)
