"""`report DATASET --engine dask --scheduler tcp://…` on a real local cluster: a scheduler and two
worker processes on 127.0.0.1, reached by a real chime-tap process. Its report equals the
embedded engine's: counts and errors exactly, latency quantiles within the stated bound."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from distributed import Client, LocalCluster

from bench import fleet_gen
from chime_tap.analysis import sketch
from chime_tap.cli import main


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(
        processes=True,
        n_workers=2,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        silence_logs=40,
    ) as c:
        yield c


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    base = tmp_path_factory.mktemp("cluster")
    paths, truth = fleet_gen.write_cassettes(base / "in", recorders=2, days=5, per_day=120, seed=41)
    root = base / "ds"
    assert main(["ingest", *map(str, paths), "--into", str(root), "--workers", "1"]) == 0
    return root, truth


def report(*args: str) -> tuple[dict, str]:
    done = subprocess.run(
        [sys.executable, "-m", "chime_tap", "report", *args, "--format", "json"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr


def test_the_clusters_report_equals_the_embedded_one(cluster, dataset):
    root, truth = dataset
    embedded, _ = report(str(root))
    on_dask, err = report(str(root), "--engine", "dask", "--scheduler", cluster.scheduler_address)
    assert "with --engine dask, 2 worker(s)" in err
    assert "read 5 of 5 file(s) (5 day(s))" in err  # one batch: a file a day
    assert on_dask["interactions"] == embedded["interactions"] == truth.interactions
    for key in ("status_codes", "errors", "sessions", "traffic", "violations", "clock_skew"):
        assert on_dask[key] == embedded[key], key
    for ns, tables in embedded["by_namespace"].items():
        theirs = on_dask["by_namespace"][ns]
        assert {k: v for k, v in theirs.items() if k != "latency_ms"} == {
            k: v for k, v in tables.items() if k != "latency_ms"
        }
    bound = on_dask["latency_quantiles"]["relative_accuracy"]
    assert bound == sketch.RELATIVE_ACCURACY
    assert on_dask["latency_ms"].keys() == embedded["latency_ms"].keys()
    for op, a in on_dask["latency_ms"].items():
        b = embedded["latency_ms"][op]
        assert (a["count"], a["min"], a["max"]) == (b["count"], b["min"], b["max"])
        for q in ("p25", "p50", "p75", "p95", "p99"):
            assert abs(a[q] - b[q]) <= bound * b[q], (op, q)
    errors = {(e["operation"], e["error_type"]): e["count"] for e in on_dask["errors"]}
    assert errors == dict(truth.by_error)


def test_the_partials_ran_in_the_worker_processes(cluster, dataset):
    """Runs of days, their sessions settled, and the buckets of sessions two runs saw, are
    tasks the two workers ran (not this process): a run a worker, the buckets two a worker."""
    from chime_tap.analysis.engines import Filters, summarize_dataset

    root, truth = dataset
    summary, ran = summarize_dataset(
        root, Filters(operations=("GetProxySession",)), engine="dask",
        scheduler=cluster.scheduler_address,
    )  # fmt: skip
    assert ran.workers == 2
    gets = sum(n for (op, _), n in truth.by_status.items() if op == "GetProxySession")
    assert summary["interactions"] == gets
    with Client(cluster.scheduler_address, set_as_default=False) as client:
        before = client.run(_tasks_run)
        summary, ran = summarize_dataset(root, engine="dask", scheduler=cluster.scheduler_address)
        after = client.run(_tasks_run)
    assert len(after) == 2
    # 5 days in 2 runs, a task each, on each worker; each run's sessions settled there, the
    # rest in 4 buckets, each settled by a task, 2 on each worker.
    ran_here = {w: {k: n - before[w].get(k, 0) for k, n in after[w].items()} for w in after}
    for name in ("run_partial", "run_keys", "run_settle"):
        assert [n.get(name, 0) for n in ran_here.values()] == [1, 1], (name, ran_here)
    assert [n.get("settle_bucket", 0) for n in ran_here.values()] == [2, 2], ran_here


def _tasks_run(dask_worker) -> dict[str, int]:
    """How many tasks of each function the worker has run (from executing to memory)."""
    from dask.utils import key_split

    done: dict[str, int] = {}
    for entry in dask_worker.state.log:
        if len(entry) >= 3 and entry[1:3] == ("executing", "memory"):
            done[key_split(entry[0])] = done.get(key_split(entry[0]), 0) + 1
    return done


def test_a_scheduler_with_no_worker_and_an_address_that_never_answers_are_one_line(
    dataset, monkeypatch, capsys
):
    """Dask alone waits for ever in both cases, silently: for a worker to join, and for a
    server that took the connection (a dashboard's port, any other service) to answer."""
    import socket

    from chime_tap.analysis import engines

    root, _ = dataset
    monkeypatch.setattr(engines, "CONNECT_SECONDS", 1.0)
    with LocalCluster(
        processes=True,  # a TCP scheduler (in this process), and no worker
        n_workers=0,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        silence_logs=40,
    ) as empty:
        address = empty.scheduler_address
        assert main(["report", str(root), "--engine", "dask", "--scheduler", address]) == 2
    assert capsys.readouterr().err.strip() == (
        f"chime-tap: --scheduler {address}: the scheduler has no worker (none joined within 1 s); "
        f"start them with: dask worker {address}"
    )
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        assert main(["report", str(root), "--engine", "dask", "--scheduler", address]) == 2
    assert capsys.readouterr().err.strip() == (
        f"chime-tap: --scheduler {address}: no dask scheduler answered within 6 s (is it the "
        "scheduler's address, not its dashboard's?)"
    )
