"""`chime-tap ingest`: idempotent by content, incremental, safe under concurrency and kill -9,
bad input refused in one line with nothing in the dataset lost or changed.

Inputs come from the fleet generator (``bench/fleet_gen.py``), which counts what it made on its
own; what each input should add is read back with the report's loader (``load_file(ids=True)``)
and compared with what the dataset's files hold.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bench import fleet_gen
from chime_tap.analysis.load import load_file
from chime_tap.cli import main
from chime_tap.dataset import ingest as ingest_module
from chime_tap.dataset import layout
from chime_tap.dataset.ingest import plan
from chime_tap.dataset.schema import ID, SCHEMA, VERSION_KEY

ROOT = Path(__file__).resolve().parent.parent


def ingest_process(*args: str, **kw) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "chime_tap", "ingest", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def dataset_ids(root: Path) -> list[str]:
    """Every interaction id a reader of the dataset sees (each file read whole)."""
    ids: list[str] = []
    for path in layout.data_files(root):
        ids += pq.read_table(path, columns=[ID]).column(ID).to_pylist()
    return ids


def ids_of(path: Path) -> set[str]:
    return set(load_file(path, ids=True)[ID])


def snapshot(root: Path) -> dict[str, str]:
    """Every file of the dataset (hidden ones too, but the lock) and a hash of its bytes."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != layout.LOCK_NAME
    }


@pytest.fixture(scope="module")
def cassettes(tmp_path_factory) -> tuple[list[Path], fleet_gen.Truth]:
    out = tmp_path_factory.mktemp("cassettes")
    return fleet_gen.write_cassettes(out, recorders=2, days=3, per_day=120, seed=11)


def test_ingest_adds_every_interaction_once_by_content(cassettes, tmp_path, capsys):
    paths, truth = cassettes
    root = tmp_path / "ds"
    assert main(["ingest", *map(str, paths), "--into", str(root), "--workers", "2"]) == 0
    err = capsys.readouterr().err
    assert (
        f"{truth.interactions} new interaction(s) from {len(paths)} of {len(paths)} input(s) in"
        in err
    )
    ids = dataset_ids(root)
    assert len(ids) == len(set(ids)) == truth.interactions
    assert {p.parent.name for p in layout.data_files(root)} == {f"date={d}" for d in truth.days}

    # The same inputs again, and a copy under another name: nothing new, no file written.
    copy = tmp_path / "renamed.json"
    shutil.copy(paths[0], copy)
    before = snapshot(root)
    assert main(["ingest", *map(str, paths), str(copy), "--into", str(root)]) == 0
    out, err = capsys.readouterr()
    assert "0 new interaction(s)" in err
    assert f"ingested {copy}: 120 interaction(s), 0 new" in out
    assert snapshot(root) == before


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_a_growing_cassette_adds_only_its_new_interactions(tmp_path, capsys, fmt):
    calls = fleet_gen.calls(__import__("numpy").random.default_rng(5), 90, 0)
    cassette, root = tmp_path / f"live.{fmt}", tmp_path / "ds"
    added = []
    for stop in (30, 31, 60, 90, 90):  # the recorder appends; ingest runs now and then
        cassette.write_text(fleet_gen.cassette_text(calls, "live", fmt, 0, stop))
        assert main(["ingest", str(cassette), "--into", str(root), "--workers", "1"]) == 0
        out = capsys.readouterr().out
        added.append(int(out.split(" interaction(s), ")[1].split(" new")[0]))
    assert added == [30, 1, 29, 30, 0]
    ids = dataset_ids(root)
    assert len(ids) == len(set(ids)) == 90
    assert set(ids) == ids_of(cassette)


def test_inputs_read_together_make_one_file_a_day_each_counted_as_if_one_by_one(tmp_path, capsys):
    """Cassettes of two days read in one batch make one file a day. A bad input among them is
    named and its neighbours ingested; a copy, or the same input named again, adds nothing:
    each line says what that input brought, as if the inputs had been committed one by one."""
    paths, truth = fleet_gen.write_cassettes(tmp_path / "in", recorders=2, days=2, per_day=40)
    bad, copy = tmp_path / "torn.json", tmp_path / "copy.json"
    bad.write_bytes(paths[1].read_bytes()[:3000])
    shutil.copy(paths[0], copy)
    inputs = [paths[0], paths[1], bad, paths[2], copy, paths[3], paths[0]]
    root = tmp_path / "ds"
    assert main(["ingest", *map(str, inputs), "--into", str(root), "--workers", "1"]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        *(f"ingested {p}: 40 interaction(s), 40 new in 1 day(s)" for p in paths[:2]),
        f"ingested {paths[2]}: 40 interaction(s), 40 new in 1 day(s)",
        f"ingested {copy}: 40 interaction(s), 0 new",
        f"ingested {paths[3]}: 40 interaction(s), 40 new in 1 day(s)",
        f"ingested {paths[0]}: 40 interaction(s), 0 new",
    ]
    assert str(bad) in _one_line(err)
    assert "160 new interaction(s) from 6 of 7 input(s) (1 not ingested)" in err
    assert err.rstrip().endswith(", 2 file(s) written")  # one a day, shared by the batch
    files = layout.data_files(root)
    assert sorted(f.parent.name for f in files) == sorted(f"date={d}" for d in truth.days)
    assert [pq.read_metadata(f).num_rows for f in files] == [80, 80]
    ids = dataset_ids(root)
    assert len(ids) == len(set(ids)) == truth.interactions == 160
    assert set(ids) == set().union(*map(ids_of, paths))


def test_a_grown_cassette_among_known_ones_adds_a_file_of_its_new_rows(tmp_path, capsys):
    others, _ = fleet_gen.write_cassettes(tmp_path / "in", recorders=2, days=1, per_day=40)
    calls = fleet_gen.calls(__import__("numpy").random.default_rng(9), 60, 0)
    live, root = tmp_path / "live.json", tmp_path / "ds"
    live.write_text(fleet_gen.cassette_text(calls, "live", "json", 0, 30))
    inputs = [others[0], live, others[1]]
    assert main(["ingest", *map(str, inputs), "--into", str(root), "--workers", "1"]) == 0
    before, had = snapshot(root), set(dataset_ids(root))
    assert len(before) == 1 and len(had) == 110
    live.write_text(fleet_gen.cassette_text(calls, "live", "json", 0, 60))
    capsys.readouterr()
    assert main(["ingest", *map(str, inputs), "--into", str(root), "--workers", "1"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"ingested {others[0]}: 40 interaction(s), 0 new",
        f"ingested {live}: 60 interaction(s), 30 new in 1 day(s)",
        f"ingested {others[1]}: 40 interaction(s), 0 new",
    ]
    after = snapshot(root)
    assert {k: v for k, v in after.items() if k in before} == before
    [added] = [root / k for k in after.keys() - before.keys()]
    assert set(pq.read_table(added, columns=[ID]).column(ID).to_pylist()) == ids_of(live) - had


def test_the_plan_cuts_inputs_into_runs_of_about_equal_size(tmp_path, monkeypatch):
    sizes = [100, 100, 300, 100, 100, 100, 0]
    paths = []
    for k, size in enumerate(sizes):
        paths.append(tmp_path / f"{k}.json")
        paths[-1].write_bytes(b"x" * size)

    def cut(paths: list[Path], workers: int) -> list[list[int]]:
        batches = plan(paths, workers)
        assert [p for b in batches for p in b] == paths  # every input once, in order
        return [[p.stat().st_size if p.exists() else None for p in b] for b in batches]

    assert cut(paths, 1) == [sizes]
    assert cut(paths, 2) == [[100, 100, 300], [100, 100, 100, 0]]
    assert cut(paths[:1], 4) == [[100]]
    assert cut([*paths, tmp_path / "missing.json"], 2)[-1][-1] is None
    monkeypatch.setattr(ingest_module, "BATCH_BYTES", 250)  # 800 bytes: at least 4 batches
    batches = cut(paths, 1)
    assert len(batches) == 4 and max(map(sum, batches)) == 300


def test_two_ingests_at_once_store_each_interaction_once(cassettes, tmp_path):
    paths, truth = cassettes
    root = tmp_path / "ds"
    # Overlapping inputs, opposite orders: both commit days the other is writing.
    a = ingest_process(*paths[:4], "--into", root, "--workers", "1")
    b = ingest_process(*reversed(paths[2:]), "--into", root, "--workers", "1")
    for proc in (a, b):
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    ids = dataset_ids(root)
    assert len(ids) == len(set(ids)) == truth.interactions
    assert not list(root.glob(f"{layout.TMP_PREFIX}*"))  # scratch folders removed


def test_ingest_killed_at_random_points_leaves_a_whole_dataset(tmp_path):
    """20 trials: ingest killed (SIGKILL) at a random moment; the dataset stays readable,
    without duplicates, with every interaction of each input it said it finished."""
    paths, _ = fleet_gen.write_cassettes(tmp_path / "in", recorders=2, days=2, per_day=150, seed=21)
    expected = {str(p): ids_of(p) for p in paths}
    root = tmp_path / "ds"
    rng = random.Random(1234)
    # How long a whole run takes here, so the kills land over all of it.
    start = time.monotonic()
    proc = ingest_process(*paths, "--into", root, "--workers", "1")
    proc.communicate(timeout=180)
    full = time.monotonic() - start
    assert proc.returncode == 0
    shutil.rmtree(root)
    completed: set[str] = set()
    for _ in range(20):
        todo = paths[:]
        rng.shuffle(todo)
        proc = ingest_process(*todo, "--into", root, "--workers", "1")
        time.sleep(rng.uniform(0.0, full * 1.1))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=60)
        completed |= {line.split()[1].rstrip(":") for line in out.splitlines()}
        ids = dataset_ids(root)  # every visible file reads whole
        assert len(ids) == len(set(ids)), "an interaction stored twice"
        for name in completed:
            assert expected[name] <= set(ids), f"{name} said done, but rows are missing"
        assert set(ids) <= set().union(*expected.values())
    # What the kills left behind (scratch of dead writers) goes at the next run, which
    # finishes the job.
    proc = ingest_process(*paths, "--into", root, "--workers", "1")
    proc.communicate(timeout=180)
    assert proc.returncode == 0
    ids = dataset_ids(root)
    assert sorted(ids) == sorted(set().union(*expected.values()))
    assert not list(root.glob(f"{layout.TMP_PREFIX}*"))


# --- bad input -----------------------------------------------------------------------------


@pytest.fixture
def dataset(cassettes, tmp_path) -> Path:
    paths, _ = cassettes
    root = tmp_path / "ds"
    assert main(["ingest", *map(str, paths[:2]), "--into", str(root), "--workers", "1"]) == 0
    return root


def _one_line(err: str) -> str:
    lines = [
        line for line in err.splitlines() if line.startswith("chime-tap: ") and "new" not in line
    ]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_a_corrupt_cassette_is_named_and_the_others_ingested(cassettes, dataset, tmp_path, capsys):
    paths, _ = cassettes
    bad = tmp_path / "torn.json"
    bad.write_bytes(paths[2].read_bytes()[:5000])
    capsys.readouterr()
    before = snapshot(dataset)
    assert main(["ingest", str(bad), str(paths[2]), "--into", str(dataset), "--workers", "1"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert str(bad) in line
    after = snapshot(dataset)
    assert {k: v for k, v in after.items() if k in before} == before  # nothing changed
    assert ids_of(paths[2]) <= set(dataset_ids(dataset))
    # Only bad input: exit 2, nothing written.
    assert main(["ingest", str(bad), "--into", str(dataset)]) == 2
    assert str(bad) in _one_line(capsys.readouterr().err)
    assert snapshot(dataset) == after


def _refused(dataset: Path, inputs: list[Path], capsys) -> str:
    before = snapshot(dataset)
    capsys.readouterr()
    assert main(["ingest", *map(str, inputs), "--into", str(dataset)]) == 2
    line = capsys.readouterr().err.strip()
    assert "\n" not in line and "Traceback" not in line, line
    assert snapshot(dataset) == before
    return line


def test_a_foreign_parquet_file_in_the_dataset_is_named(cassettes, dataset, capsys):
    foreign = dataset / "date=2026-10-01" / "exported.parquet"
    pq.write_table(pa.table({"x": [1, 2]}), foreign)
    line = _refused(dataset, cassettes[0][2:3], capsys)
    assert str(foreign) in line and "not a chime-tap dataset file" in line
    # The report refuses it the same way.
    assert main(["report", str(dataset)]) == 2
    assert str(foreign) in capsys.readouterr().err


def test_a_file_of_another_schema_version_is_named(cassettes, dataset, capsys):
    newer = dataset / "date=2026-10-02" / "part-newer.parquet"
    table = pa.table({n: pa.nulls(1, t) for n, t in zip(SCHEMA.names, SCHEMA.types, strict=True)})
    pq.write_table(table.replace_schema_metadata({VERSION_KEY: b"99"}), newer)
    line = _refused(dataset, cassettes[0][2:3], capsys)
    assert str(newer) in line and "schema version 99" in line


def _read_only(paths: list[Path], on: bool) -> None:
    """Make the dataset's folders and files read-only (or writable again). Root ignores
    permissions, so for root the folders are made immutable (chattr +i) instead."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i" if on else "-i", *map(str, paths)], check=True)
    else:
        for p in paths:
            p.chmod((0o555 if p.is_dir() else 0o444) if on else (0o755 if p.is_dir() else 0o644))


def test_a_read_only_dataset_is_named_and_left_alone(cassettes, dataset):
    paths, _ = cassettes
    everything = [dataset, *dataset.rglob("*")]
    before = snapshot(dataset)
    _read_only(everything, True)
    try:
        proc = ingest_process(*paths[2:4], "--into", dataset)
        out, err = proc.communicate(timeout=120)
    finally:
        _read_only(everything, False)
    assert proc.returncode == 2, (out, err)
    line = err.strip()
    assert "\n" not in line and "Traceback" not in line, err
    assert line.startswith(f"chime-tap: {dataset}") and "cannot write" in line, line
    assert snapshot(dataset) == before


def _on_read_only_mount(mount: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``chime-tap ingest ARGS`` with ``mount`` made a read-only mount of itself, in a mount
    namespace of its own (unshare: as root, and as anyone where user namespaces are allowed)."""
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
    argv = [sys.executable, "-m", "chime_tap", "ingest", *map(str, args)]
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, "sh", str(mount), *argv],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_read_only_file_system_is_named_as_one(cassettes, dataset, tmp_path):
    """A dataset to be made, or one that exists, on a read-only mount: one line that says so
    (not "Permission denied": the permissions allow it), exit 2, and nothing changed."""
    paths, _ = cassettes
    mount = tmp_path / "ro"
    mount.mkdir()
    new = _on_read_only_mount(mount, paths[2], "--into", mount / "ds")
    assert (new.returncode, new.stdout) == (2, ""), new
    assert new.stderr == (
        f"chime-tap: {mount / 'ds'}: cannot write ({mount} is on a read-only file system)\n"
    )
    before = snapshot(dataset)
    old = _on_read_only_mount(dataset, *paths[2:4], "--into", dataset)
    assert old.returncode == 2, old
    line = old.stderr.strip()
    assert "\n" not in line and "Traceback" not in line, old.stderr
    assert line.startswith(f"chime-tap: {dataset}") and "Read-only file system" in line, line
    assert snapshot(dataset) == before


def test_inputs_that_do_not_exist_leave_no_dataset_behind(cassettes, tmp_path, capsys):
    """Every input missing: one line each, exit 2, and no dataset directory made; one input
    missing among others: named, and the others ingested (exit 1)."""
    paths, _ = cassettes
    root, gone = tmp_path / "ds", tmp_path / "gone.yaml"
    assert main(["ingest", str(gone), str(tmp_path / "gone.json"), "--into", str(root)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"chime-tap: {gone}: no such file",
        f"chime-tap: {tmp_path / 'gone.json'}: no such file",
    ]
    assert not root.exists()
    assert main(["ingest", str(gone), str(paths[0]), "--into", str(root), "--workers", "1"]) == 1
    err = capsys.readouterr().err
    assert f"chime-tap: {gone}: no such file" in err and "from 1 of 2 input(s) (1 not" in err
    assert layout.data_files(root)


def test_a_bad_number_of_workers_is_refused_in_one_line(cassettes, tmp_path, capsys):
    paths, _ = cassettes
    root = tmp_path / "ds"
    assert main(["ingest", str(paths[0]), "--into", str(root), "--workers", "0"]) == 2
    assert capsys.readouterr().err.strip() == (
        "chime-tap: --workers: 0 is not a number of processes (1 or more)"
    )
    assert not root.exists()
    assert main(["ingest", str(paths[0]), "--into", str(root), "--workers", "1"]) == 0
    capsys.readouterr()
    assert main(["report", str(root), "--workers", "0"]) == 2
    assert capsys.readouterr().err.strip() == (
        "chime-tap: --workers: 0 is not a number of processes (1 or more)"
    )
