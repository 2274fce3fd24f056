"""Tables of interactions into a dataset: idempotent by content, safe to interrupt or run twice
at once.

An interaction's identity is ``interaction_id``, a hash of its content (the reader computes it,
see ``chime_tap.analysis.load``), so the same input ingested again, under any name, adds
nothing, and a cassette still being appended to adds only its new interactions. Inputs are
read in batches of neighbours (:func:`plan`), in parallel, each batch by a worker process,
which also writes the batch's rows of each day to one scratch file (the Parquet encoding is
most of a commit's cost, and most of that is per file: done there, it runs on every core, and
a fleet's many small cassettes of a day make one file). Each batch is then committed under the
writers' lock: its rows whose ids the dataset lacks (only the days it touches are looked at)
are written, one file per day, each renamed into place whole (see ``layout``); a day whose
rows are all new takes the worker's file as it is, any other gets a file of its new rows
written then. An id met twice in a batch (a copy of an input) is counted for the first input
that holds it, as if the inputs had been committed one by one.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from chime_tap.dataset import layout
from chime_tap.dataset.schema import ID, SCHEMA, DatasetError, check_file
from chime_tap.errors import ChimeTapError

Reader = Callable[[Path], pa.Table]  # one input's interactions as a table of SCHEMA


@dataclass
class Ingested:
    """What one input brought: its interactions, those the dataset lacked, the files written
    with them (its batch's other inputs of the same day share a file)."""

    path: str
    rows: int
    added: int
    files: list[str] = field(default_factory=list)


@dataclass
class _Day:
    files: set[str] = field(default_factory=set)
    ids: set[str] = field(default_factory=set)


class Dataset:
    """A dataset folder opened for writing: checked, stale scratch removed, ids known per day.

    A folder that is not there yet is made only when a commit has rows to write: an ingest
    that reads nothing (every input unreadable, or empty) leaves no dataset behind, where a
    reader would take an empty folder for an empty dataset.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.days: dict[Path, _Day] = {}
        if self.root.exists() and not self.root.is_dir():
            raise DatasetError(f"{self.root}: not a directory")
        if not self.root.is_dir():
            _check_creatable(self.root)
            return
        with layout.locked(self.root):
            for path in layout.data_files(self.root):
                check_file(path)
            layout.remove_stale_scratch(self.root)

    def commit(self, batch: Batch) -> list[Ingested]:
        """Add the rows of a batch of inputs whose ids the dataset lacks, one file per day for
        the whole batch; what each input brought, in the batch's order."""
        read_ok = [p for k, p in enumerate(batch.paths) if k not in batch.errors]
        done = [Ingested(path, rows, 0) for path, rows in zip(read_ok, batch.rows, strict=True)]
        if not batch.days:
            return done
        _make(self.root)
        with layout.locked(self.root), layout.scratch(self.root) as tmp:
            for day, part in batch.days.items():
                directory = layout.partition_dir(self.root, day)
                known = self._known(directory)
                new = np.array([i not in known for i in part.ids], dtype=bool)
                if not new.any():
                    continue
                fresh = [i for i, n in zip(part.ids, new, strict=True) if n]
                target = directory / layout.file_name(fresh)
                if part.written_as is not None and new.all():
                    written = layout.put_in_place(part.written_as, target)
                else:
                    written = layout.write_atomically(batch.rows_of(part, new), target, tmp)
                counts = np.bincount(batch.owner[part.where[new]], minlength=len(done))
                for input_done, count in zip(done, counts.tolist(), strict=True):
                    input_done.added += count
                    if written and count:
                        input_done.files.append(str(target))
                self.days[directory].files.add(target.name)
                self.days[directory].ids.update(fresh)
        return done

    def _known(self, directory: Path) -> set[str]:
        """The ids already in a day's folder; files new since the last look are read."""
        day = self.days.setdefault(directory, _Day())
        if directory.is_dir():
            for path in sorted(directory.glob("part-*.parquet")):
                if path.name not in day.files:
                    check_file(path)
                    column = pq.read_table(path, columns=[ID]).column(ID)
                    day.ids.update(column.to_pylist())
                    day.files.add(path.name)
        return day.ids


def _check_creatable(root: Path) -> None:
    """Refuse at once a dataset folder that could not be made when there is something to
    write: the nearest folder above it that exists must be a writable directory."""
    above = next(p for p in root.absolute().parents if p.exists())
    if not above.is_dir():
        raise DatasetError(f"{root}: cannot write ({above} is not a directory)")
    if not os.access(above, os.W_OK | os.X_OK):
        read_only = os.statvfs(above).f_flag & os.ST_RDONLY  # access() says no for both
        why = f"{above} is on a read-only file system" if read_only else "Permission denied"
        raise DatasetError(f"{root}: cannot write ({why})")


def _make(root: Path) -> None:
    """The dataset's folder, made if missing (the first rows are about to be written)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DatasetError(f"{root}: cannot write ({e.strerror or e})") from None


def _days(times: pa.ChunkedArray) -> list[tuple[str | None, np.ndarray]]:
    """The UTC days of ``times`` (YYYY-MM-DD, None for no time), in order, None last, each
    with the positions of its rows, in order."""
    micros = pc.fill_null(times.cast(pa.int64()), 0).to_numpy()
    missing = pc.is_null(times).to_numpy(zero_copy_only=False)
    day = np.where(missing, _NO_DAY, micros // _DAY)
    out = [
        (None if d == _NO_DAY else str(np.datetime64(d, "D")), np.flatnonzero(day == d))
        for d in np.unique(day).tolist()
    ]
    return sorted(out, key=lambda found: (found[0] is None, found[0] or ""))


_DAY = 86_400 * 1_000_000  # microseconds
_NO_DAY = -(2**62)


@dataclass
class _DayRows:
    """A day's rows of a batch, each id once (the first input that holds it): where they are
    in the batch's table, their ids, and the scratch file a worker wrote them to (None: the
    commit writes them)."""

    where: np.ndarray
    ids: list[str]
    written_as: Path | None = None


@dataclass
class Batch:
    """Inputs a worker read together, in order: all their rows in one table (``owner``: which
    of the inputs read each row is from, counted in ``rows``), the rows of each day; and the
    user error that stopped each input that could not be read, by its place in ``paths``."""

    paths: list[str]
    rows: list[int]
    table: pa.Table | None  # None once every day's rows are in a scratch file (not sent back)
    owner: np.ndarray
    errors: dict[int, ChimeTapError]
    days: dict[str | None, _DayRows] = field(default_factory=dict)
    scratch: Path | None = None

    def rows_of(self, part: _DayRows, new: np.ndarray) -> pa.Table:
        """The rows of a day's ``part`` that ``new`` picks (by their place in ``part``)."""
        if self.table is not None:
            return self.table.take(pa.array(part.where[new]))
        # The worker wrote the day (rows in another order) and kept no table: read it back.
        written = pq.read_table(part.written_as, schema=SCHEMA)
        fresh = pa.array([i for i, n in zip(part.ids, new, strict=True) if n], pa.string())
        return written.filter(pc.is_in(written.column(ID), value_set=fresh))

    def remove_scratch(self) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)


def _prepare(batch: Batch, root: Path) -> Batch:
    """``batch`` with each day's rows written to a scratch file of this process (flushed), as
    the commit would write them; left for the commit to rename, or to remove."""
    ids = batch.table.column(ID).to_pylist()
    # An id met again further on (a copy of an input, read in the same batch) adds nothing.
    _, first_at = np.unique(np.array(ids, dtype=str), return_index=True)
    first = np.zeros(len(ids), dtype=bool)
    first[first_at] = True
    for day, where in _days(batch.table.column("recorded_at")):
        where = where[first[where]]
        batch.days[day] = _DayRows(where, [ids[k] for k in where.tolist()])
    if not batch.days:
        return batch
    try:
        root.mkdir(parents=True, exist_ok=True)  # rows to write: the dataset is made now
        batch.scratch = root / f"{layout.TMP_PREFIX}{os.getpid()}-{os.urandom(4).hex()}"
        batch.scratch.mkdir()
        for part in batch.days.values():
            # One day is most inputs' every row (a recorder's cassette of a day): no copy then.
            rows = (
                batch.table
                if len(part.where) == len(batch.table)
                else batch.table.take(pa.array(part.where))
            )
            path = batch.scratch / layout.file_name(part.ids)
            layout.write_flushed(rows, path)
            part.written_as = path
    except OSError:  # the commit writes the files itself, and says what is wrong
        batch.remove_scratch()
        batch.scratch = None
        for part in batch.days.values():
            part.written_as = None
        return batch
    batch.table = None  # the commit finds every row in the scratch files: not sent back
    return batch


def plan(paths: list[Path], workers: int) -> list[list[Path]]:
    """The inputs in runs of neighbours, a batch each, of about equal size: one per worker,
    or more where they would hold over :data:`BATCH_BYTES` of input.

    A batch's rows of a day go to one file: a Parquet file's cost is mostly per file and per
    row group (500 rows cost about six times as much per row as 5,000), and a fleet's small
    cassettes of one day are many.
    """
    sizes = [_size(p) for p in paths]
    total = sum(sizes)
    count = min(len(paths), max(workers, -(-total // BATCH_BYTES)))
    batches: list[list[Path]] = [[]]
    done = 0
    for path, size in zip(paths, sizes, strict=True):
        if batches[-1] and len(batches) < count and done >= total * len(batches) / count:
            batches.append([])
        batches[-1].append(path)
        done += size
    return batches


BATCH_BYTES = 64 * 1024 * 1024  # input read by one worker at a time, at most (a big input alone)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def ingest(
    inputs: Iterable[str | os.PathLike[str]],
    root: str | os.PathLike[str],
    read: Reader,
    *,
    workers: int | None = None,
    on_done: Callable[[Ingested], None] | None = None,
    on_error: Callable[[str, str], None] | None = None,
) -> list[Ingested]:
    """Read ``inputs`` with ``read`` (in batches, by ``workers`` processes) and commit each
    batch, as it is read, into the dataset at ``root``; ``on_done`` hears of each input read,
    in the order given within its batch. An input that cannot be read is passed to
    ``on_error(path, message)`` and the others, its batch's too, go on (without ``on_error``
    it is raised, and its batch is not committed); a dataset that cannot be written raises
    DatasetError."""
    dataset = Dataset(root)
    paths = [Path(p) for p in inputs]
    workers = max(1, min(workers or os.cpu_count() or 1, len(paths)))
    batches = plan(paths, workers)
    done: list[Ingested] = []

    def commit(batch: Batch) -> None:
        try:
            if batch.errors and on_error is None:
                raise next(iter(batch.errors.values()))
            ingested = iter(dataset.commit(batch))
        finally:
            batch.remove_scratch()
        for k, path in enumerate(batch.paths):
            if k in batch.errors:
                on_error(path, str(batch.errors[k]))
                continue
            done.append(next(ingested))
            if on_done is not None:
                on_done(done[-1])

    if workers == 1:
        for paths_of_batch in batches:
            commit(_read_batch(read, paths_of_batch, dataset.root))
        return done
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_read_batch, read, b, dataset.root) for b in batches]
        for future in concurrent.futures.as_completed(futures):
            commit(future.result())
    return done


def _read_batch(read: Reader, paths: list[Path], root: Path) -> Batch:
    """The inputs read, their days prepared; those that could not be read are kept with the
    user error that stopped each (it crosses processes)."""
    tables: list[pa.Table] = []
    errors: dict[int, ChimeTapError] = {}
    for k, path in enumerate(paths):
        try:
            table = read(path)
        except ChimeTapError as e:
            errors[k] = e
            continue
        tables.append(table if table.schema == SCHEMA else table.cast(SCHEMA))
    rows = [len(t) for t in tables]
    table = pa.concat_tables(tables) if tables else SCHEMA.empty_table()
    owner = np.repeat(np.arange(len(tables)), rows)
    return _prepare(Batch([str(p) for p in paths], rows, table, owner, errors), root)
