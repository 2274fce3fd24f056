"""Tables of interactions into a dataset: idempotent by content, safe to interrupt or run twice
at once.

An interaction's identity is ``interaction_id``, a hash of its content (the reader computes it,
see ``chime_tap.analysis.load``), so the same input ingested again, under any name, adds
nothing, and a cassette still being appended to adds only its new interactions. Inputs are
read in parallel, each by a worker process, which also writes the input's rows of each day to
a scratch file (the Parquet encoding is most of a commit's cost: done there, it runs on every
core). Each input is then committed under the writers' lock: its rows whose ids the dataset
lacks (only the days it touches are looked at) are written, one file per day, each renamed
into place whole (see ``layout``); a day whose rows are all new takes the worker's file as it
is, any other gets a file of its new rows written then.
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

Reader = Callable[[Path], pa.Table]  # one input's interactions as a table of SCHEMA


@dataclass
class Ingested:
    """What one input brought: its interactions, those the dataset lacked, the files written."""

    path: str
    rows: int
    added: int
    files: list[str] = field(default_factory=list)


@dataclass
class _Day:
    files: set[str] = field(default_factory=set)
    ids: set[str] = field(default_factory=set)


class Dataset:
    """A dataset folder opened for writing: checked, stale scratch removed, ids known per day."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.days: dict[Path, _Day] = {}
        if self.root.exists() and not self.root.is_dir():
            raise DatasetError(f"{self.root}: not a directory")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DatasetError(f"{self.root}: cannot write ({e.strerror or e})") from None
        with layout.locked(self.root):
            for path in layout.data_files(self.root):
                check_file(path)
            layout.remove_stale_scratch(self.root)

    def commit(self, prepared: Prepared, source: str) -> Ingested:
        """Add the rows of an input read whose ids the dataset lacks; one file per day."""
        table = prepared.table
        done = Ingested(source, len(table), 0)
        if not len(table):
            return done
        with layout.locked(self.root), layout.scratch(self.root) as tmp:
            for day, where in _days(table.column("recorded_at")):
                directory = layout.partition_dir(self.root, day)
                known = self._known(directory)
                written_as, ids = prepared.days.get(day, (None, None))
                if ids is None:
                    ids = table.column(ID).take(pa.array(where)).to_pylist()
                new = [i not in known for i in ids]
                fresh = [i for i, n in zip(ids, new, strict=True) if n]
                if not fresh:
                    continue
                target = directory / layout.file_name(fresh)
                if written_as is not None and len(fresh) == len(ids):
                    written = layout.put_in_place(written_as, target)
                else:
                    rows = table.take(pa.array(where[np.array(new, dtype=bool)]))
                    written = layout.write_atomically(rows, target, tmp)
                if written:
                    done.files.append(str(target))
                self.days[directory].files.add(target.name)
                self.days[directory].ids.update(fresh)
                done.added += len(fresh)
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
class Prepared:
    """One input as a worker read it: its table of SCHEMA, and each day's rows already written
    to a scratch file, with their ids (none when that could not be done: the commit writes)."""

    table: pa.Table
    scratch: Path | None = None
    days: dict[str | None, tuple[Path, list[str]]] = field(default_factory=dict)

    def remove_scratch(self) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)


def _prepare(table: pa.Table, root: Path) -> Prepared:
    """``table`` with each day's rows written to a scratch file of this process (flushed), as
    the commit would write them; left for the commit to rename, or to remove."""
    prepared = Prepared(table if table.schema == SCHEMA else table.cast(SCHEMA))
    if not len(prepared.table):
        return prepared
    try:
        prepared.scratch = root / f"{layout.TMP_PREFIX}{os.getpid()}-{os.urandom(4).hex()}"
        prepared.scratch.mkdir()
        for day, where in _days(prepared.table.column("recorded_at")):
            # One day is most inputs' every row (a recorder's cassette of a day): no copy then.
            rows = (
                prepared.table
                if len(where) == len(prepared.table)
                else prepared.table.take(pa.array(where))
            )
            ids = rows.column(ID).to_pylist()
            path = prepared.scratch / layout.file_name(ids)
            layout.write_flushed(rows, path)
            prepared.days[day] = (path, ids)
    except OSError:  # the commit writes the files itself, and says what is wrong
        prepared.remove_scratch()
        prepared.scratch, prepared.days = None, {}
    return prepared


def ingest(
    inputs: Iterable[str | os.PathLike[str]],
    root: str | os.PathLike[str],
    read: Reader,
    *,
    workers: int | None = None,
    on_done: Callable[[Ingested], None] | None = None,
    on_error: Callable[[str, str], None] | None = None,
) -> list[Ingested]:
    """Read ``inputs`` with ``read`` (in ``workers`` processes) and commit each, as it is read,
    into the dataset at ``root``. An input that cannot be read is passed to ``on_error(path,
    message)`` and the others go on; a dataset that cannot be written raises DatasetError."""
    dataset = Dataset(root)
    paths = [Path(p) for p in inputs]
    workers = max(1, min(workers or os.cpu_count() or 1, len(paths)))
    done: list[Ingested] = []

    def commit(path: Path, result: Prepared | Exception) -> None:
        if isinstance(result, Exception):
            if on_error is None:
                raise result
            on_error(str(path), str(result))
            return
        try:
            done.append(dataset.commit(result, str(path)))
        finally:
            result.remove_scratch()
        if on_done is not None:
            on_done(done[-1])

    if workers == 1:
        for path in paths:
            commit(path, _read_or_error(read, path, dataset.root))
        return done
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(_read_or_error, read, path, dataset.root): path for path in paths}
        for future in concurrent.futures.as_completed(futures):
            commit(futures[future], future.result())
    return done


def _read_or_error(read: Reader, path: Path, root: Path) -> Prepared | Exception:
    """The input read and its days prepared, or the user error that stopped it (returned: it
    crosses processes)."""
    from chime_tap.errors import ChimeTapError

    try:
        table = read(path)
    except ChimeTapError as e:
        return e
    return _prepare(table, root)
