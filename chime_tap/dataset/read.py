"""Reading a dataset: the days a time range needs, and in them the row groups a filter needs.

A *unit* is one day's files: days are read, summarised and merged in time order (a session may
span days; see ``chime_tap.analysis.lifecycle``). ``--since``/``--until`` drop whole days by
their folder name before any file is opened, then row groups by their ``recorded_at``
statistics; ``--operation`` drops row groups by their ``operation`` statistics (each row group
holds one operation, see ``layout.write_parquet``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds

from chime_tap.dataset import layout
from chime_tap.dataset.schema import (
    DICTIONARY_COLUMNS,
    PARTITION,
    SCHEMA,
    DatasetError,
    check_file,
)

READ_SCHEMA = pa.schema(
    [
        pa.field(f.name, pa.dictionary(pa.int32(), pa.string()))
        if f.name in DICTIONARY_COLUMNS
        else f
        for f in SCHEMA
    ]
)
_FORMAT = ds.ParquetFileFormat(
    default_fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=True)
)


@dataclass(frozen=True)
class Unit:
    """One day of the dataset (``day`` None: interactions without a time) and its files."""

    day: str | None
    files: tuple[str, ...]


def is_dataset(path: str | os.PathLike[str]) -> bool:
    """A directory (a report's input that is no file is taken for a dataset)."""
    return Path(path).is_dir()


def units(
    root: str | os.PathLike[str],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Unit]:
    """The days of the dataset that may hold calls in [since, until), in time order; each
    day's files checked (chime-tap's, this schema version)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such dataset directory")
    first = since.date().isoformat() if since is not None else None
    last = (until - timedelta(microseconds=1)).date().isoformat() if until is not None else None
    stray = [p for p in layout.data_files(root) if p.parent == root]
    if stray:
        check_file(stray[0])  # a file outside the day folders: refused unless it is ours
    days = layout.partitions(root)
    if not days and any(not p.name.startswith((".", "_")) for p in root.iterdir()):
        raise DatasetError(
            f"{root}: not a dataset (no {PARTITION}=YYYY-MM-DD folders); "
            "name the files in it to report on them, or ingest them (chime-tap ingest)"
        )
    if not days:  # an empty directory, most likely a mistyped one: not an empty report
        raise DatasetError(
            f"{root}: no data: an empty directory, or a dataset nothing was ingested into "
            f"(chime-tap ingest INPUT... --into {root})"
        )
    found = []
    for directory in days:
        day = layout.day_of(directory)
        if day is None and (since is not None or until is not None):
            continue  # no time: never in a time range
        if day is not None and ((first and day < first) or (last and day > last)):
            continue
        files = tuple(str(p) for p in layout.data_files(directory))
        for path in files:
            check_file(path)
        if files:
            found.append(Unit(day, files))
    return found


def row_filter(
    since: datetime | None, until: datetime | None, operations: list[str] | None
) -> ds.Expression | None:
    """The rows of [since, until) and of the operations (None: all)."""
    conditions = []
    if since is not None:
        conditions.append(
            ds.field("recorded_at") >= pa.scalar(since, type=SCHEMA.field("recorded_at").type)
        )
    if until is not None:
        conditions.append(
            ds.field("recorded_at") < pa.scalar(until, type=SCHEMA.field("recorded_at").type)
        )
    if operations:
        conditions.append(ds.field("operation").isin(operations))
    expression = None
    for condition in conditions:
        expression = condition if expression is None else expression & condition
    return expression


def read_unit(
    unit: Unit,
    columns: list[str] | None = None,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    operations: list[str] | None = None,
) -> pa.Table:
    """The unit's rows in [since, until) of the operations, only ``columns``; low-cardinality
    text as dictionaries."""
    dataset = ds.dataset(list(unit.files), schema=READ_SCHEMA, format=_FORMAT)
    try:
        return dataset.to_table(columns=columns, filter=row_filter(since, until, operations))
    except (OSError, pa.ArrowException) as e:
        raise DatasetError(f"{unit.files[0]}…: cannot read ({' '.join(str(e).split())})") from None


def row_groups(
    unit: Unit,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    operations: list[str] | None = None,
) -> tuple[int, int]:
    """(row groups a read of the unit with these filters opens, row groups in its files):
    what the statistics let a reader skip."""
    dataset = ds.dataset(list(unit.files), schema=READ_SCHEMA, format=_FORMAT)
    condition = row_filter(since, until, operations)
    total = sum(f.metadata.num_row_groups for f in dataset.get_fragments())
    if condition is None:
        return total, total
    kept = sum(len(f.split_by_row_group(condition)) for f in dataset.get_fragments(condition))
    return kept, total
