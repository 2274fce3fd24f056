"""The dataset: its columns, other engines reading it as-is, reports on it equal to reports on the
files it came from, and --since/--until/--operation skipping files and row groups unread.

The expected figures come from the fleet generator's own tally (``Truth``) and from the
report of the same cassettes read as files (``load_frame``), not from the dataset code.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow.dataset as ds
import pytest

from bench import fleet_gen
from chime_tap.analysis import COLUMNS, load_frame, summaries
from chime_tap.analysis.engines import Filters, load_dataset, summarize_dataset
from chime_tap.cli import main
from chime_tap.dataset import layout, read
from chime_tap.dataset.schema import ID, SCHEMA, SCHEMA_VERSION, VERSION_KEY


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """Cassettes of 3 recorders over 4 days, and the dataset they make: read in two batches
    (one a worker) of 6 neighbours, each of all 4 days, so 8 files of one day each."""
    base = tmp_path_factory.mktemp("fleet")
    paths, truth = fleet_gen.write_cassettes(base / "in", recorders=3, days=4, per_day=150, seed=31)
    root = base / "ds"
    assert main(["ingest", *map(str, paths), "--into", str(root), "--workers", "2"]) == 0
    return paths, truth, root


def test_columns_are_the_frames_plus_the_id_with_the_version_in_every_file(fleet):
    _, _, root = fleet
    assert sorted(SCHEMA.names) == sorted([*COLUMNS, ID])
    for path in layout.data_files(root):
        meta = read.check_file(path)
        assert meta.metadata[VERSION_KEY] == SCHEMA_VERSION.encode()
        assert path.parent.name.startswith("date=") and path.name.startswith("part-")
        # zstd, the README says (a fleet pays for the bytes): every column chunk of every group
        chunks = [meta.row_group(g).column(c) for g in range(meta.num_row_groups)
                  for c in range(meta.num_columns)]  # fmt: skip
        assert {chunk.compression for chunk in chunks} == {"ZSTD"}


def _by_status(frame: pd.DataFrame) -> dict[tuple[str, int], int]:
    counts = frame.groupby(["operation", "status"], observed=True).size()
    return {(str(op), int(st)): int(n) for (op, st), n in counts.items() if n}


def test_duckdb_polars_and_pyarrow_read_it_as_is(fleet):
    _, truth, root = fleet
    glob = f"{root}/*/*.parquet"
    # DuckDB: hive partitioning gives the day as a column.
    rows = duckdb.sql(
        f"select operation, status, count(*) as n, count(distinct interaction_id) as ids, "
        f"min(cast(date as varchar)) = min(strftime(recorded_at at time zone 'UTC', '%Y-%m-%d')) "
        f"from read_parquet('{glob}', hive_partitioning = true) group by all"
    ).fetchall()
    assert {(op, st): n for op, st, n, _, _ in rows} == dict(truth.by_status)
    assert all(n == ids and same_day for _, _, n, ids, same_day in rows)
    # Polars
    frame = pl.read_parquet(glob, hive_partitioning=True)
    counts = frame.group_by(["operation", "status"]).len().rows()
    assert {(op, st): n for op, st, n in counts} == dict(truth.by_status)
    assert frame["recorded_at"].dtype == pl.Datetime("us", "UTC")
    # pyarrow's dataset with hive partitioning, into pandas
    table = ds.dataset(root, format="parquet", partitioning="hive").to_table()
    assert _by_status(table.to_pandas()) == dict(truth.by_status)
    assert sorted(set(table.column("date").to_pylist())) == sorted(truth.days)


def test_load_dataset_is_the_frame_of_the_files(fleet):
    paths, _, root = fleet
    files = load_frame(paths)
    frame = load_dataset(root)
    assert list(frame.columns) == [*COLUMNS, ID]  # the frame's order, then the id
    for name, dtype in COLUMNS.items():
        assert str(frame[name].dtype) == dtype, name
    key = ["recorded_at", "operation", "latency_ms"]
    a = files.drop(columns=["source", "index"]).sort_values(key, ignore_index=True)
    b = frame.drop(columns=["source", "index", ID]).sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(a, b, check_categorical=False)


def test_report_of_the_dataset_equals_the_report_of_its_files(fleet):
    paths, truth, root = fleet
    files = load_frame(paths)
    exact = summaries.summarize(files)
    for engine in ("local", "embedded"):
        got, ran = summarize_dataset(root, engine=engine, workers=2)
        assert got["interactions"] == truth.interactions == exact["interactions"]
        assert (ran.days, ran.files, ran.files_in_dataset) == (4, 8, 8)
        pd.testing.assert_frame_equal(got["status_codes"], exact["status_codes"])
        pd.testing.assert_frame_equal(got["errors"], exact["errors"])
        pd.testing.assert_frame_equal(got["sessions"], exact["sessions"])
        pd.testing.assert_frame_equal(got["traffic"], exact["traffic"])
        pd.testing.assert_frame_equal(got["violations"], exact["violations"])
        pd.testing.assert_frame_equal(got["timing_gaps"], exact["timing_gaps"])
        assert got["clock_skew"] == exact["clock_skew"]
        latency, want = got["latency_ms"], exact["latency_ms"]
        for col in ("count", "min", "max"):
            pd.testing.assert_series_equal(latency[col], want[col])
        assert np.allclose(latency["mean"], want["mean"], rtol=1e-12)
        bound = got["latency_quantiles"]["relative_accuracy"]
        for op in want.index:  # what the report on the files shows, interpolated alike
            for name in summaries.QUANTILES:
                true = want.loc[op, name]
                assert abs(latency.loc[op, name] - true) <= bound * true, (op, name)
    errors = {(r.operation, r.error_type): r.count for r in got["errors"].itertuples()}
    assert errors == dict(truth.by_error)


def test_partials_merge_alike_in_any_grouping(fleet):
    """Days merged pairwise (the engines' tree) or one after another give the same summary."""
    paths, _, _ = fleet
    frame = load_frame(paths)
    days = [g for _, g in frame.groupby(frame["recorded_at"].dt.floor("D"), sort=True)]
    parts = [summaries.partial(d.reset_index(drop=True), sketched=True) for d in days]
    left = parts[0]
    for p in parts[1:]:
        left = summaries.merge(left, p)
    tree = summaries.merge(summaries.merge(parts[0], parts[1]), summaries.merge(*parts[2:]))
    a, b = summaries.finish(left), summaries.finish(tree)
    for name in ("status_codes", "errors", "latency_ms", "traffic", "sessions", "violations"):
        pd.testing.assert_frame_equal(a[name], b[name])


def test_since_until_reads_only_the_days_in_range(fleet, tmp_path, capsys):
    """The other days' files are made unreadable: a report of one day must not open them."""
    _, _, clean = fleet
    root = tmp_path / "ds"
    import shutil

    shutil.copytree(clean, root)
    since, until = "2026-10-02T00:00:00Z", "2026-10-03T00:00:00Z"
    want, _ = summarize_dataset(
        clean,
        Filters(since=datetime(2026, 10, 2, tzinfo=UTC), until=datetime(2026, 10, 3, tzinfo=UTC)),
        engine="local",
    )
    for path in layout.data_files(root):
        if path.parent.name != "date=2026-10-02":
            path.write_bytes(b"not parquet at all")
    code = main(["report", str(root), "--since", since, "--until", until, "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    got = json.loads(out)
    assert got["interactions"] == want["interactions"] > 0
    assert "read 2 of 8 file(s) (1 day(s))" in err
    # The whole dataset does open them, and names the first bad one.
    assert main(["report", str(root)]) == 2
    assert "date=2026-10-01" in capsys.readouterr().err


def test_operation_skips_the_row_groups_of_other_operations(fleet, capsys):
    _, truth, root = fleet
    units = read.units(root)
    kept = total = 0
    for unit in units:
        k, t = read.row_groups(unit, operations=["DeleteProxySession"])
        kept, total = kept + k, total + t
    # One row group per operation in each file: a fifth of them is read.
    assert (kept, total) == (8, 40)
    code = main(["report", str(root), "--operation", "DeleteProxySession", "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    deletes = sum(n for (op, _), n in truth.by_status.items() if op == "DeleteProxySession")
    assert out["interactions"] == deletes
    assert set(out["status_codes"]) == {"DeleteProxySession"}


def test_report_cli_on_a_dataset_refuses_mixed_inputs_and_misplaced_options(fleet, capsys):
    paths, _, root = fleet
    assert main(["report", str(root), str(paths[0])]) == 2
    assert "a dataset directory is reported alone" in capsys.readouterr().err
    assert main(["report", str(root), "--engine", "dask"]) == 2
    assert "--engine dask needs --scheduler" in capsys.readouterr().err
    assert main(["report", str(paths[0]), "--engine", "local"]) == 2
    assert "are for a dataset directory" in capsys.readouterr().err
    # Not a scheduler's address: said at once, before any connection is tried (an http://
    # address, the dashboard's, once hung for ever; a bad scheme took 20 s and a traceback).
    for address in ("http://127.0.0.1:8787", "foo", "tcp://127.0.0.1", "tcp://127.0.0.1:99999"):
        assert main(["report", str(root), "--engine", "dask", "--scheduler", address]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"chime-tap: --scheduler {address}: ") and "\n" not in err
        assert "not a dask scheduler's address" in err or "is not a TCP port" in err
    assert main(["report", str(root), "--engine", "dask", "--scheduler", "tcp://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert "--scheduler tcp://127.0.0.1:1: cannot connect" in err and "\n" not in err.strip()


def test_load_frame_of_a_dataset_directory_is_its_frame(fleet, tmp_path, capsys):
    paths, truth, root = fleet
    frame = load_frame(root)
    assert len(frame) == truth.interactions
    assert _by_status(frame) == dict(truth.by_status)
    pd.testing.assert_frame_equal(
        summaries.summarize(frame)["status_codes"],
        summaries.summarize(load_frame(paths))["status_codes"],
    )
    # An empty folder is no report either (a mistyped path, most likely), nor one that holds
    # only the writers' lock of an ingest that wrote nothing.
    empty = tmp_path / "empty"
    empty.mkdir()
    for hidden in (None, "_lock"):
        if hidden:
            (empty / hidden).write_bytes(b"")
        assert main(["report", str(empty)]) == 2
        assert capsys.readouterr().err.strip() == (
            f"chime-tap: {empty}: no data: an empty directory, or a dataset nothing was ingested "
            f"into (chime-tap ingest INPUT... --into {empty})"
        )
    # One of its files given instead of the dataset: the directory is what to name.
    part = sorted(Path(root).glob("date=*/*.parquet"))[0]
    assert main(["report", str(part)]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        f"chime-tap: warning: skipped {part}: a Parquet file, not a cassette, flow file or HAR; "
        "a dataset is named by its directory, the one holding the date=YYYY-MM-DD folders"
    )
    # A folder of cassettes is no dataset: said in one line, not an empty report.
    folder = tmp_path / "cassettes"
    folder.mkdir()
    (folder / "a.json").write_bytes(paths[0].read_bytes())
    assert main(["report", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"chime-tap: {folder}: not a dataset (no date=YYYY-MM-DD folders); name the files in it "
        "to report on them, or ingest them (chime-tap ingest)"
    )


@pytest.mark.parametrize("days,count", [(30, 4), (30, 1), (3, 4), (5, 4), (7, 2)])
def test_runs_of_days_cover_every_day_in_order_with_even_shares(days, count):
    from chime_tap.analysis.engines import runs_of

    units = [read.Unit(f"2026-10-{d + 1:02d}", ("f",) * 4) for d in range(days)]
    runs = runs_of(units, count)
    assert [u for r in runs for u in r] == units
    assert len(runs) == min(count, days) and all(runs)
    assert max(map(len, runs)) - min(map(len, runs)) <= 1


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 13, 30, 33])
def test_tree_reduce_merges_each_partial_once_in_order_holding_few(n):
    from chime_tap.analysis.engines import tree_reduce

    held = most = 0

    def stream():
        nonlocal held, most
        for i in range(n):
            held += 1  # a new partial, read
            most = max(most, held)
            yield (i,)

    def merge(a, b):
        nonlocal held
        assert a[-1] + 1 == b[0]  # neighbours, the earlier first
        held -= 1  # two partials became one
        return a + b

    assert tree_reduce(stream(), merge) == tuple(range(n))
    assert held == 1 and most <= n.bit_length() + 1  # a few held at once, not one per item
    if n & (n - 1) == 0:  # a power of two: the balanced tree itself
        sizes = []
        tree_reduce(iter([(0,)] * n), lambda a, b: sizes.append(len(a)) or a + b)
        assert sorted(sizes) == sorted(
            2**k for k in range(n.bit_length() - 1) for _ in range(n >> (k + 1))
        )
    with pytest.raises(ValueError):
        tree_reduce(iter([]), merge)


def test_sessions_that_span_days_are_one_lifecycle_each(tmp_path):
    """Cassettes recorded across midnight, with few session ids, each created again and again:
    a session created one day and read, updated or deleted the next is one row, a re-Create
    starts another, as in the report of the cassettes themselves."""
    rng = np.random.default_rng(8)
    paths = []
    for r in range(3):
        calls = fleet_gen.calls(rng, 400, r)
        calls.at_us = calls.at_us + fleet_gen.DAY_US // 2  # the second half is the next day
        calls.session = calls.session % 7  # few ids, each created again and again
        path = tmp_path / f"night{r}.json"
        path.write_text(fleet_gen.cassette_text(calls, f"night{r}", "json"))
        paths.append(path)
    root = tmp_path / "ds"
    assert main(["ingest", *map(str, paths), "--into", str(root), "--workers", "1"]) == 0
    assert len(read.units(root)) == 4
    exact = summaries.summarize(load_frame(paths))["sessions"]
    spanning = exact["first_seen"].dt.floor("D") != exact["last_seen"].dt.floor("D")
    assert spanning.sum() >= 3  # the case this test is about
    for engine in ("local", "embedded"):
        got, _ = summarize_dataset(root, engine=engine, workers=2)
        pd.testing.assert_frame_equal(got["sessions"], exact)


@pytest.mark.parametrize("collide", ["all", "pairs"])
def test_sessions_sharing_a_hash_are_still_told_apart(tmp_path, monkeypatch, collide):
    """Merges find the sessions two partials share by a 64-bit hash of the session key; where
    two different shared sessions have one hash, the merge must notice and tell them apart by
    their text. Here every session gets the same hash, or one of two."""
    from chime_tap.analysis import lifecycle

    rng = np.random.default_rng(9)
    calls = fleet_gen.calls(rng, 600, 0)
    calls.at_us = calls.at_us + fleet_gen.DAY_US // 2
    calls.session = calls.session % 9
    path = tmp_path / "night.json"
    path.write_text(fleet_gen.cassette_text(calls, "night", "json"))
    root = tmp_path / "ds"
    assert main(["ingest", str(path), "--into", str(root), "--workers", "1"]) == 0
    exact = summaries.summarize(load_frame([path]))["sessions"]

    real_hash, by_text = lifecycle._hash, []
    real_shared = lifecycle._shared_sessions

    def weak_hash(keys):
        hashes = real_hash(keys)
        return np.zeros_like(hashes) if collide == "all" else hashes % 2

    def shared(pieces, split, *, by_hash):
        if not by_hash:
            by_text.append(split)
        return real_shared(pieces, split, by_hash=by_hash)

    monkeypatch.setattr(lifecycle, "_hash", weak_hash)
    monkeypatch.setattr(lifecycle, "_shared_sessions", shared)
    got, _ = summarize_dataset(root, engine="local")
    assert by_text  # the collision was noticed
    pd.testing.assert_frame_equal(got["sessions"], exact)


@pytest.mark.parametrize("buckets", [1, 2, 3, 7])
def test_sessions_settled_bucket_by_bucket_are_the_table_of_the_whole(tmp_path, buckets):
    """The cluster's way to the session table: each day's pieces cut by session into buckets,
    each bucket's days merged and settled apart, the buckets' rows combined. The table is the
    report of the cassettes themselves, row for row, in its order, though sessions first seen
    at one time (a coarse clock's) fall in different buckets."""
    from chime_tap.analysis import lifecycle

    rng = np.random.default_rng(12)
    paths = []
    for r in range(3):
        calls = fleet_gen.calls(rng, 500, r)
        calls.at_us = calls.at_us + fleet_gen.DAY_US // 2  # the second half is the next day
        calls.session = calls.session % 40  # ids created again and again, across midnight
        calls.at_us = calls.at_us // (600 * 10**6) * (600 * 10**6)  # ties: 10-minute clocks
        path = tmp_path / f"night{r}.json"
        path.write_text(fleet_gen.cassette_text(calls, f"night{r}", "json"))
        paths.append(path)
    frame = load_frame(paths)
    exact = summaries.summarize(frame)["sessions"]
    days = [g.reset_index(drop=True) for _, g in frame.groupby(frame["recorded_at"].dt.floor("D"))]
    assert len(days) >= 2
    cut = [lifecycle.split(summaries.partial(d, sketched=True)["sessions"], buckets) for d in days]
    settled = []
    for k in range(buckets):
        merged = cut[0][k]
        for day in cut[1:]:
            merged = lifecycle.merge(merged, day[k])
        settled.append(lifecycle.settle(merged))
    got = lifecycle.combine(settled)
    pd.testing.assert_frame_equal(got, exact)
    # What the order rests on: sessions first seen at one time, in more than one bucket.
    together = pd.concat([t.assign(bucket=k) for k, t in enumerate(settled)])
    spread = together.groupby("first_seen")["bucket"].nunique()
    assert (spread.max() > 1) == (buckets > 1), spread.value_counts()


def test_a_report_of_a_range_with_no_days_reads_nothing_and_names_no_workers(fleet, capsys):
    _, _, root = fleet
    assert main(["report", str(root), "--since", "2031-01-01"]) == 0
    err = capsys.readouterr().err
    files = len(layout.data_files(root))
    assert f"read 0 of {files} file(s) (0 day(s)) with --engine embedded in " in err
    assert "worker(s)" not in err  # none was used (it said "1 worker(s)" of a 2-worker cluster)
