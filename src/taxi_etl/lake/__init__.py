"""The lake: partition layout, manifests, and atomic idempotent writes, behind one
small interface with a local-directory backend and a GCS backend.

Layout: ``{root}/colour=yellow/year=2021/month=01/data.parquet`` plus
``_manifest.json`` beside it. One data object per partition means a re-load replaces
it in one atomic step: a local ``os.replace``, or a GCS object generation, which
readers see whole or not at all. The manifest is written last; a partition without a
manifest that matches its data is treated as not loaded, so a crash between the two
writes is repaired by the next run. Names starting with ``.`` or ``_`` are skipped by
pyarrow, DuckDB-with-hive and BigQuery globs over ``*.parquet``, so temporary files
and manifests never show up as data.
"""

from __future__ import annotations

from pathlib import Path

from taxi_etl.lake.base import Lake, LakeUnreachable
from taxi_etl.lake.gcs import GcsLake, _gcs_from_block, _storage_client
from taxi_etl.lake.local import LocalLake
from taxi_etl.lake.manifest import (
    DATA_FILE,
    EXTRA_FILE,
    MANIFEST_FILE,
    PENDING_FILE,
    QUARANTINE,
    Manifest,
    ManifestDamaged,
    partition_key,
)
from taxi_etl.params import LakeSpec

__all__ = [
    "DATA_FILE",
    "EXTRA_FILE",
    "MANIFEST_FILE",
    "PENDING_FILE",
    "QUARANTINE",
    "GcsLake",
    "Lake",
    "LakeUnreachable",
    "LocalLake",
    "Manifest",
    "ManifestDamaged",
    "open_lake",
    "partition_key",
]


def open_lake(
    spec: str | Path, *, upload_timeout: float = 600.0, deadline: float = 120.0
) -> Lake:
    """``gs://BUCKET[/PREFIX]``, ``gcs-block://BLOCK`` (prefect-gcp GcsBucket) or a path."""
    try:
        where = LakeSpec.parse(str(spec))
    except ValueError as exc:
        raise ValueError(f"lake: {exc}") from None
    if where.kind == "gs":
        bucket = _storage_client().bucket(where.where)
        return GcsLake(bucket, where.prefix, timeout=upload_timeout, deadline=deadline)
    if where.kind == "block":
        return _gcs_from_block(where.where, upload_timeout, deadline)
    return LocalLake(Path(where.where))
