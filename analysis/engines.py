"""Summaries of a dataset: the same partial, merge and finish as a frame's, run per day.

Three engines run them, and give the same report: the same partials, merged in order (merges
are associative, so the grouping, which differs with the number of workers, does not matter):

- ``embedded`` (the default): pyarrow datasets read each day's files, pruned by time and
  operation, into a pandas frame; a pool of worker processes (one per core) each takes runs of
  consecutive days, makes each day's partial and merges them, and this process merges the
  runs' partials.
- ``dask``: a run of days a worker is a task on a ``dask.distributed`` cluster (``--scheduler
  tcp://HOST:PORT``; every worker needs chime-tap installed and the dataset's path readable,
  and its address reachable from here). Each run's session pieces (the one big partial, a row
  a session) of the sessions no other run saw are settled into the session table's rows
  where the run was read (``lifecycle.apart``); the pieces of sessions seen in two runs are
  cut by session into buckets, and a task per bucket merges that bucket's pieces of every run
  and settles them. The other summaries' partials merge there too, pairwise; the merged
  partial and the settled rows come back, and this process only puts the rows in order
  (the runs' rows, one run after another, already are).
- ``local``: one day after another in this process (what the other two split up).
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from chime_tap.analysis import lifecycle, summaries
from chime_tap.analysis.load import COLUMNS, ORIGINS
from chime_tap.api.hosts import NAMESPACES
from chime_tap.api.operations import OPERATIONS
from chime_tap.dataset import layout, read
from chime_tap.dataset.read import Unit

ENGINES = ("embedded", "dask", "local")
# Tasks per worker of the embedded engine's pool: runs of consecutive days, each merged where
# it was read. Two a worker even out uneven runs without shipping a partial a day (a day's
# sessions table is big).
RUNS_PER_WORKER = 2
# Buckets a cluster's worker settles of the sessions seen in two runs (see _on_dask).
BUCKETS_PER_WORKER = 2
_CATALOGUE = {"operation": list(OPERATIONS), "namespace": list(NAMESPACES), "origin": list(ORIGINS)}


@dataclass(frozen=True)
class Filters:
    """What a report keeps: calls in [since, until) and of these operations (None: all)."""

    since: datetime | None = None
    until: datetime | None = None
    operations: tuple[str, ...] | None = None


@dataclass
class Run:
    """What a dataset report read: its days and files, and how long it took."""

    engine: str
    days: int = 0
    files: int = 0
    files_in_dataset: int = 0
    seconds: float = 0.0
    workers: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


def frame_of(table: pa.Table) -> pd.DataFrame:
    """A table read from a dataset as the report frame's typed columns (those it has)."""
    frame = table.to_pandas(split_blocks=True, self_destruct=True)
    for name in frame.columns:
        dtype = COLUMNS.get(name)
        if dtype is None:
            continue
        col = frame[name]
        if name in _CATALOGUE:
            frame[name] = pd.Categorical(col, categories=_CATALOGUE[name])
        elif str(col.dtype) != dtype:
            frame[name] = col.astype(dtype)
    return frame


def read_frame(unit: Unit, filters: Filters, columns: list[str] | None = None) -> pd.DataFrame:
    """One day's rows that pass ``filters`` as a typed frame."""
    table = read.read_unit(
        unit,
        columns,
        since=filters.since,
        until=filters.until,
        operations=list(filters.operations) if filters.operations else None,
    )
    return frame_of(table)


def unit_partial(unit: Unit, filters: Filters) -> dict[str, Any]:
    """One day's partial of every summary (quantiles sketched)."""
    frame = read_frame(unit, filters, list(summaries.COLUMNS_USED))
    return summaries.partial(frame, sketched=True)


def run_partial(units: list[Unit], filters: Filters) -> dict[str, Any]:
    """The merged partial of a run of consecutive days: one task's work, so a worker sends
    back one partial, not one a day."""
    return tree_reduce(_day_partials(units, filters), summaries.merge)


def _day_partials(units: list[Unit], filters: Filters) -> Iterator[dict[str, Any]]:
    """Each day's partial, in order; Arrow's memory pool hands back what a day's read left
    unused before the next day's read (left to itself, a worker's pool grew by about 40 MiB
    a day, and two workers reached 2 GB on 10M calls)."""
    pool = pa.default_memory_pool()
    for unit in units:
        part = unit_partial(unit, filters)
        pool.release_unused()
        yield part


def run_keys(part: dict[str, Any]) -> tuple[int, np.ndarray]:
    """How many sessions a run's partial numbered, and their hashes (each once): what
    the other runs' tasks need to know of it (:func:`run_settle`)."""
    pieces = part["sessions"]
    return pieces.orders, pd.unique(pieces.table["session_hash"].to_numpy())


def run_settle(
    part: dict[str, Any], index: int, buckets: int, *keys: tuple[int, np.ndarray]
) -> tuple[dict[str, Any], pd.DataFrame, list[lifecycle.Pieces]]:
    """The ``index``th run's partial (of runs whose :func:`run_keys` are ``keys``) split: the
    small summaries' partial; the session table's rows of the sessions no other run saw,
    settled here (``lifecycle.apart``); and the pieces of the others cut into ``buckets``."""
    before = sum(orders for orders, _ in keys[:index])
    others = [hashes for j, (_, hashes) in enumerate(keys) if j != index]
    elsewhere = np.concatenate(others) if others else np.empty(0, np.uint64)
    rows, shared = lifecycle.apart(part["sessions"], elsewhere, before)
    return {**part, "sessions": None}, rows, lifecycle.split(shared, buckets) if buckets else []


def settle_bucket(*parts: lifecycle.Pieces) -> pd.DataFrame:
    """One bucket's session pieces of consecutive runs, merged in order and settled."""
    return lifecycle.settle(tree_reduce(parts, lifecycle.merge))


def _small(split: tuple[dict[str, Any], pd.DataFrame, list[lifecycle.Pieces]]) -> dict[str, Any]:
    return split[0]


def _alone(split: tuple[dict[str, Any], pd.DataFrame, list[lifecycle.Pieces]]) -> pd.DataFrame:
    return split[1]


def _bucket(
    split: tuple[dict[str, Any], pd.DataFrame, list[lifecycle.Pieces]], k: int
) -> lifecycle.Pieces:
    return split[2][k]


def runs_of(units: list[Unit], count: int) -> list[list[Unit]]:
    """``units`` cut into at most ``count`` runs of consecutive days with about as many files
    each (a day's files are about as many rows as another's when recorders run every day)."""
    count = max(1, min(count, len(units)))
    sizes = [len(u.files) for u in units]
    total, runs, current, done = sum(sizes), [], [], 0
    for unit, size in zip(units, sizes, strict=True):
        current.append(unit)
        done += size
        if done >= total * (len(runs) + 1) / count and len(runs) < count - 1:
            runs.append(current)
            current = []
    return [*runs, current] if current else runs


def empty_partial() -> dict[str, Any]:
    from chime_tap.analysis.load import empty_frame

    return summaries.partial(empty_frame(), sketched=True)


def _handed_on(items: list[Any]) -> Iterator[Any]:
    """The items in order, the list letting go of each as it is handed on."""
    items.reverse()
    while items:
        yield items.pop()


def tree_reduce(parts: Iterable[Any], merge: Callable[[Any, Any], Any]) -> Any:
    """Merge an ordered stream of partials pairwise as they come, the earlier first: 1 and 2,
    3 and 4, then those two, and so on (a balanced tree, as a binary counter builds it), so at
    most about log2(n) merged partials are held at once; a worker reading day after day keeps
    a few, not one a day. Merges are associative: any grouping that keeps the order gives the
    same summary (``tests/test_dataset.py``)."""
    held: list[tuple[int, Any]] = []  # (how many partials it merges, the merged partial)
    for part in parts:
        size = 1
        while held and held[-1][0] == size:
            count, earlier = held.pop()
            part, size = merge(earlier, part), size + count
        held.append((size, part))
        del part
    if not held:
        raise ValueError("nothing to merge")
    _, merged = held.pop()
    while held:
        _, earlier = held.pop()
        merged = merge(earlier, merged)
    return merged


def summarize_dataset(
    root: str | os.PathLike[str],
    filters: Filters = Filters(),
    *,
    engine: str = "embedded",
    scheduler: str | None = None,
    workers: int | None = None,
) -> tuple[dict[str, Any], Run]:
    """Every summary of the dataset's calls that pass ``filters``, and what the run read."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r} (use one of: {', '.join(ENGINES)})")
    start = time.perf_counter()
    units = read.units(root, since=filters.since, until=filters.until)
    run = Run(engine=engine, days=len(units), files=sum(len(u.files) for u in units))
    run.files_in_dataset = len(layout.data_files(Path(root)))
    settled = None
    if not units:
        part = empty_partial()
    elif engine == "dask":
        part, settled = _on_dask(units, filters, scheduler, run)
    elif engine == "embedded" and len(units) > 1 and (workers or os.cpu_count() or 1) > 1:
        run.workers = min(workers or os.cpu_count() or 1, len(units))
        runs = runs_of(units, RUNS_PER_WORKER * run.workers)
        with concurrent.futures.ProcessPoolExecutor(max_workers=run.workers) as pool:
            parts = list(pool.map(run_partial, runs, [filters] * len(runs)))
        # Merged once the workers (and their memory) are gone, each let go of once merged.
        part = tree_reduce(_handed_on(parts), summaries.merge)
    else:
        part = run_partial(units, filters)
    summary = summaries.finish(part, settled)
    run.seconds = time.perf_counter() - start
    return summary, run


def _on_dask(
    units: list[Unit], filters: Filters, scheduler: str | None, run: Run
) -> tuple[dict[str, Any], list[pd.DataFrame]]:
    """The merged partial without sessions, and the session table's rows of each bucket."""
    from distributed import Client

    from chime_tap.errors import UsageError

    if not scheduler:
        raise UsageError("--engine dask needs --scheduler tcp://HOST:PORT (a dask scheduler)")
    client = _connect(Client, scheduler)
    with client:
        workers = sorted(client.scheduler_info().get("workers", {}))
        if not workers:  # tasks would wait, silently, for a worker that may never come
            try:
                client.wait_for_workers(1, timeout=CONNECT_SECONDS)
            except TimeoutError:
                raise UsageError(
                    f"--scheduler {scheduler}: the scheduler has no worker (none joined within "
                    f"{CONNECT_SECONDS:.0f} s); start them with: dask worker {scheduler}"
                ) from None
            workers = sorted(client.scheduler_info().get("workers", {}))
        run.workers = len(workers)
        # A run of days a worker, placed: the scheduler hands each 1-thread worker two queued
        # tasks at once, so runs left to it went round the workers in turn (30 days in runs
        # of 8, 7, 8 and 7: one worker read 16 days, the other 14 and then waited). Runs of
        # about as many files each are the balance dynamic placement did not give.
        runs = runs_of(units, max(1, run.workers))
        buckets = BUCKETS_PER_WORKER * max(1, run.workers) if len(runs) > 1 else 0
        parts = [
            client.submit(run_partial, r, filters, pure=False, **_on(workers, i))
            for i, r in enumerate(runs)
        ]
        if len(runs) > 1:
            keys = [
                client.submit(run_keys, p, pure=False, **_on(workers, i))
                for i, p in enumerate(parts)
            ]
        else:  # no other run to share a session with
            keys = [(0, np.empty(0, np.uint64))]
        # Each run settles the sessions no other run saw where it was read; only the pieces
        # of sessions seen in two runs (those alive across a run's first midnight) move.
        splits = [
            client.submit(run_settle, p, i, buckets, *keys, pure=False, **_on(workers, i))
            for i, p in enumerate(parts)
        ]
        del parts, keys
        # What each run's task gave is picked out where it is: a pick the scheduler put on
        # another worker moved the whole (the run's settled rows with it).
        settled = [
            client.submit(_alone, s, pure=False, **_on(workers, i)) for i, s in enumerate(splits)
        ]
        for k in range(buckets):
            # Each run's part of the bucket is picked out where the run's partial is, so only
            # that part moves; the buckets go round the workers (left to itself, the scheduler
            # gave one worker three of four, all of whose inputs were as near to the other).
            pieces = [
                client.submit(_bucket, s, k, pure=False, **_on(workers, i))
                for i, s in enumerate(splits)
            ]
            settled.append(client.submit(settle_bucket, *pieces, pure=False, **_on(workers, k)))
        small = [
            client.submit(_small, s, pure=False, **_on(workers, i)) for i, s in enumerate(splits)
        ]
        del splits
        merged = tree_reduce(small, lambda a, b: client.submit(summaries.merge, a, b, pure=False))
        return merged.result(), client.gather(settled)


CONNECT_SECONDS = 10.0  # for the scheduler to answer, and for a first worker to join it


def _connect(client_type: Any, scheduler: str) -> Any:
    """A dask Client connected to ``scheduler``, or UsageError naming it. Dask's own connection
    timeout does not cover a server that accepts the connection and never answers (a
    dashboard's port, any other service), and its wait ignores Ctrl+C: it is made in a thread
    of its own, waited for here, where Ctrl+C ends the command."""
    from chime_tap.errors import UsageError

    made: dict[str, Any] = {}

    def connect() -> None:
        try:
            # Results straight from the worker that holds them: through the scheduler (dask's
            # default for a client outside the cluster), the session rows took twice as long.
            made["client"] = client_type(
                scheduler, timeout=CONNECT_SECONDS, set_as_default=False, direct_to_workers=True
            )
        except Exception as e:  # raised in the caller's thread, below
            made["error"] = e

    thread = threading.Thread(target=connect, name="chime-tap dask connect", daemon=True)
    thread.start()
    thread.join(CONNECT_SECONDS + 5)
    if thread.is_alive():  # left behind: a daemon thread does not keep the process alive
        raise UsageError(
            f"--scheduler {scheduler}: no dask scheduler answered within "
            f"{CONNECT_SECONDS + 5:.0f} s (is it the scheduler's address, not its dashboard's?)"
        )
    if "error" in made:
        e = made["error"]
        if isinstance(e, (OSError, TimeoutError)):
            raise UsageError(f"--scheduler {scheduler}: cannot connect ({e})") from None
        raise e
    return made["client"]


def _on(workers: list[str], k: int) -> dict[str, Any]:
    """Where the ``k``th task of a kind goes: the workers in turn (another if that one left)."""
    return {"workers": workers[k % len(workers)], "allow_other_workers": True} if workers else {}


def load_dataset(root: str | os.PathLike[str], filters: Filters = Filters()) -> pd.DataFrame:
    """The dataset's rows that pass ``filters`` as one report frame (all columns, and the
    interaction ids), for a notebook or an export; a report of a big dataset needs no frame."""
    from chime_tap.analysis.load import finish

    frames = [
        read_frame(u, filters) for u in read.units(root, since=filters.since, until=filters.until)
    ]
    if not frames:
        return finish([])
    ids = pd.concat([f["interaction_id"] for f in frames], ignore_index=True)
    frame = finish([f.drop(columns="interaction_id") for f in frames])
    frame["interaction_id"] = ids.astype("str")
    return frame
