"""Tables of interactions into a dataset: idempotent by content, safe to interrupt or run twice
at once.

An interaction's identity is ``interaction_id``, a hash of its content (the reader computes it,
see ``chime_tap.analysis.load``), so the same input ingested again, under any name, adds
nothing, and a cassette still being appended to adds only its new interactions. Inputs are
read in parallel, each by a worker process; each input is then committed under the writers'
lock: its rows whose ids the dataset lacks (only the days it touches are looked at) are
written, one file per day, each renamed into place whole (see ``layout``).
"""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

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

    def commit(self, table: pa.Table, source: str) -> Ingested:
        """Add the rows of ``table`` whose ids the dataset lacks; one file per day."""
        done = Ingested(source, len(table), 0)
        if not len(table):
            return done
        days = pc.strftime(table.column("recorded_at"), format="%Y-%m-%d")
        with layout.locked(self.root), layout.scratch(self.root) as tmp:
            for day in _distinct(days):
                rows = table.filter(pc.is_null(days) if day is None else pc.equal(days, day))
                directory = layout.partition_dir(self.root, day)
                known = self._known(directory)
                new = [i not in known for i in rows.column(ID).to_pylist()]
                fresh = rows.filter(pa.array(new, type=pa.bool_()))
                if not len(fresh):
                    continue
                ids = fresh.column(ID).to_pylist()
                target = directory / layout.file_name(ids)
                if layout.write_atomically(fresh, target, tmp):
                    done.files.append(str(target))
                self.days[directory].files.add(target.name)
                self.days[directory].ids.update(ids)
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


def _distinct(days: pa.ChunkedArray) -> list[str | None]:
    values = pc.unique(days).to_pylist()
    return sorted(v for v in values if v is not None) + ([None] if None in values else [])


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

    def commit(path: Path, result: pa.Table | Exception) -> None:
        if isinstance(result, Exception):
            if on_error is None:
                raise result
            on_error(str(path), str(result))
            return
        if result.schema != SCHEMA:
            result = result.cast(SCHEMA)
        done.append(dataset.commit(result, str(path)))
        if on_done is not None:
            on_done(done[-1])

    if workers == 1:
        for path in paths:
            commit(path, _read_or_error(read, path))
        return done
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(_read_or_error, read, path): path for path in paths}
        for future in concurrent.futures.as_completed(futures):
            commit(futures[future], future.result())
    return done


def _read_or_error(read: Reader, path: Path) -> pa.Table | Exception:
    """The input's table, or the user error that stopped it (returned: it crosses processes)."""
    from chime_tap.errors import ChimeTapError

    try:
        return read(path)
    except ChimeTapError as e:
        return e
