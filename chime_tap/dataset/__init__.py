"""Recorded traffic as a Parquet dataset: one row per interaction, partitioned by day.

``schema.py`` (the columns, their types, the version in each file's metadata), ``layout.py``
(where files go, the writers' lock, atomic writes), ``ingest.py`` (tables in, idempotent by
content), ``read.py`` (days and row groups pruned by time and operation).
"""

from chime_tap.dataset.schema import SCHEMA_VERSION, DatasetError

__all__ = ["SCHEMA_VERSION", "DatasetError"]
