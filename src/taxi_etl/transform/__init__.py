"""A TLC file onto its colour's canonical schema, as one parquet file.

Pure (a file in, a file and stats out) and streaming: memory is bounded by one row
group, never by the size of the month. The pieces: ``conform`` (batches onto the
schema, and the stats), ``csvgz`` (the course mirror's csv.gz), ``parquet`` (the TLC's
files), ``writer`` (row groups, atomic output) and ``cpus`` (how many threads and
transforms this machine takes).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from taxi_etl.params import Colour
from taxi_etl.schemas import for_colour
from taxi_etl.transform.conform import CorruptSource, TransformStats, month_bounds
from taxi_etl.transform.cpus import CONCURRENT, available_cpus
from taxi_etl.transform.csvgz import BLOCK_SIZE, convert_csv
from taxi_etl.transform.extra import extra_path
from taxi_etl.transform.parquet import convert_parquet
from taxi_etl.transform.widen import Widened, drop_taken, widen
from taxi_etl.transform.writer import COMPRESSION

__all__ = [
    "BLOCK_SIZE",
    "CONCURRENT",
    "CorruptSource",
    "TransformStats",
    "Widened",
    "available_cpus",
    "convert",
    "drop_taken",
    "extra_path",
    "month_of",
    "widen",
]

_NAME = re.compile(r"(yellow|green|fhvhv|fhv)_tripdata_(\d{4})-(\d{2})")
_PARQUET_MAGIC = b"PAR1"


def is_parquet(path: Path) -> bool:
    """By content, not by name: a cache or a user's file may be named anything."""
    with path.open("rb") as fh:
        return fh.read(4) == _PARQUET_MAGIC


def month_of(path: Path) -> tuple[int, int] | None:
    """The partition month from a TLC file name, for ``convert`` without --year/--month."""
    match = _NAME.search(path.name)
    return (int(match.group(2)), int(match.group(3))) if match else None


def convert(
    src: Path,
    dst: Path,
    colour: Colour | str,
    *,
    year: int | None = None,
    month: int | None = None,
    block_size: int = BLOCK_SIZE,
    compression: str = COMPRESSION,
    progress: Callable[[int], None] | None = None,
    extra: Path | None = None,
) -> TransformStats:
    """Transform one TLC file (the course's csv.gz, the TLC's parquet or its original
    csv, plain or gzip) into one canonical parquet file at ``dst``, atomically, and
    what the partition cannot hold into `extra` (default: ``_NAME.extra.arrow`` beside
    ``dst``), only if there is any.

    Without a year and month (nor a TLC file name to take them from), pickups are not
    checked against a month and ``pickup_outside_month`` is null.
    """
    extra = extra or extra_path(dst)
    if year is None or month is None:
        year, month = month_of(src) or (None, None)
    bounds = month_bounds(year, month) if year and month else None
    schema = for_colour(colour)
    if is_parquet(src):
        return convert_parquet(
            src, dst, schema, bounds, compression=compression, extra_path=extra, progress=progress
        )
    return convert_csv(
        src,
        dst,
        schema,
        bounds,
        extra_path=extra,
        block_size=block_size,
        compression=compression,
        progress=progress,
    )
