"""The dataset's columns, their Parquet types, and the schema version each file carries.

The columns are the report frame's (``chime_tap.analysis.load.COLUMNS``, checked to agree by
``tests/test_dataset.py``) plus ``interaction_id``; the day is the partition key, in the path.
Types are plain Parquet ones every engine reads (DuckDB, Spark, Athena/Trino, Polars, pyarrow):
text as UTF-8 strings, times as INT64 timestamps in microseconds adjusted to UTC (Spark and
Athena do not read nanoseconds), no pandas or Arrow extension types.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from chime_tap.errors import ChimeTapError

SCHEMA_VERSION = "1"
VERSION_KEY = b"chime_tap.schema_version"  # in every file's key-value metadata
PARTITION = "date"  # the hive partition key: the UTC day of recorded_at, YYYY-MM-DD
NO_DATE = "__HIVE_DEFAULT_PARTITION__"  # Hive's (and Spark's) name for a null partition value
ID = "interaction_id"

_TIME = pa.timestamp("us", tz="UTC")
SCHEMA = pa.schema(
    [
        ("recorded_at", _TIME),
        ("operation", pa.string()),
        ("namespace", pa.string()),
        ("status", pa.int16()),
        ("error_type", pa.string()),
        ("error_message", pa.string()),
        ("latency_ms", pa.float64()),
        ("source", pa.string()),
        ("index", pa.int64()),
        ("method", pa.string()),
        ("host", pa.string()),
        ("path", pa.string()),
        ("voice_connector_id", pa.string()),
        ("proxy_session_id", pa.string()),
        ("request_bytes", pa.int64()),
        ("response_bytes", pa.int64()),
        ("violation_count", pa.int32()),
        ("violations", pa.string()),
        ("capabilities", pa.string()),
        ("expiry_minutes", pa.int32()),
        ("session_status", pa.string()),
        ("created_at", _TIME),
        ("updated_at", _TIME),
        ("ended_at", _TIME),
        ("amz_date", _TIME),
        ("response_date", _TIME),
        ("clock_skew_s", pa.float64()),
        ("answered_by", pa.string()),
        ("origin", pa.string()),
        ("acknowledged", pa.bool_()),
        ("listed_sessions", pa.string()),
        ("differences", pa.string()),  # spy mode's (analysis.load's column comment)
        (ID, pa.string()),
    ],
    metadata={VERSION_KEY: SCHEMA_VERSION.encode()},
)
# Few distinct values: read back as dictionaries (pandas categories) without hashing them again.
DICTIONARY_COLUMNS = (
    "operation", "namespace", "error_type", "source", "method", "host", "capabilities",
    "session_status", "answered_by", "origin",
)  # fmt: skip


class DatasetError(ChimeTapError):
    """A dataset that cannot be read or written: a foreign or newer file, no permission."""


def to_table(frame) -> pa.Table:
    """A frame of the report's columns plus ``interaction_id`` as a table of :data:`SCHEMA`."""
    columns = {}
    for field in SCHEMA:
        values = frame[field.name]
        if pa.types.is_timestamp(field.type):
            values = values.dt.as_unit("us")
        elif pa.types.is_string(field.type):
            values = values.astype("str")
        columns[field.name] = pa.array(values, type=field.type, from_pandas=True)
    return pa.table(columns, schema=SCHEMA)


def check_file(path) -> pq.FileMetaData:
    """The file's Parquet metadata; DatasetError naming it unless chime-tap wrote it with this
    schema version."""
    try:
        meta = pq.read_metadata(path)
    except OSError as e:
        raise DatasetError(f"{path}: cannot read ({getattr(e, 'strerror', None) or e})") from None
    except Exception as e:  # pyarrow raises ArrowInvalid for a file that is no Parquet
        raise DatasetError(f"{path}: not a Parquet file ({' '.join(str(e).split())})") from None
    version = (meta.metadata or {}).get(VERSION_KEY)
    if version is None:
        raise DatasetError(
            f"{path}: not a chime-tap dataset file (no {VERSION_KEY.decode()} in its metadata); "
            "move it out of the dataset"
        )
    if version.decode(errors="replace") != SCHEMA_VERSION:
        raise DatasetError(
            f"{path}: written with dataset schema version {version.decode(errors='replace')}; "
            f"this chime-tap reads and writes version {SCHEMA_VERSION}"
        )
    return meta
