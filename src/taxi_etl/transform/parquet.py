"""The TLC's parquet files, streamed by record batch onto the canonical schema.

A month of fhvhv is about 20 M rows and 450-610 MB of parquet, so nothing here holds
a month: batches are decoded from one row group at a time (only the columns the schema
maps), conformed, and written as row groups of about ``GROUP_BYTES``. Memory is that
bound plus one row group's compressed pages, whatever the size of the month. A value
that does not fit (``1.5`` in an id, a datetime that is not one) fails the whole file,
naming the column and the row: a partition is loaded completely or not at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from taxi_etl.schemas import DatasetSchema, SchemaError
from taxi_etl.transform.conform import (
    Bounds,
    CorruptSource,
    TransformStats,
    conform,
    memory_pool,
    new_stats,
)
from taxi_etl.transform.writer import PARQUET_ZSTD_LEVEL, RowGroups, staged, writer_options

BATCH_ROWS = 1 << 16  # rows decoded and conformed at a time
GROUP_BYTES = 16 << 20  # bytes of conformed Arrow data per written row group
_ROW = re.compile(r"Row #(\d+)")


def _locate(message: str, rows_before: int) -> str:
    """Conform numbers rows within the batch; name the row of the file instead."""
    return _ROW.sub(lambda m: f"row {rows_before + int(m.group(1)) + 1}", message)


def _open(src: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(src, pre_buffer=False, buffer_size=1 << 20)
    except (pa.ArrowInvalid, OSError) as exc:
        if getattr(exc, "errno", None) is not None:
            raise  # a real IO error (missing file, full disk) keeps its own type
        raise CorruptSource(f"{src.name}: not a complete parquet file ({exc})") from None


def convert_parquet(
    src: Path,
    dst: Path,
    schema: DatasetSchema,
    bounds: Bounds | None,
    *,
    compression: str,
    progress: Callable[[int], None] | None = None,
    batch_rows: int = BATCH_ROWS,
    group_bytes: int = GROUP_BYTES,
) -> TransformStats:
    """One TLC parquet file into one canonical parquet file at ``dst``, atomically."""
    source = _open(src)
    cmap = schema.resolve(source.schema_arrow.names)
    stats = new_stats(cmap)
    mem = memory_pool()
    options = writer_options(schema, compression, mem, level=PARQUET_ZSTD_LEVEL)
    with (
        staged(dst) as tmp,
        pq.ParquetWriter(tmp, schema.arrow, **options) as pw,
    ):
        groups = RowGroups(pw, schema.arrow, stats, group_bytes, progress, background=True)
        # Decoded on this thread: the writer thread needs the other core more (decoding
        # on several threads only made the two wait for each other).
        batches = source.iter_batches(
            batch_size=batch_rows, columns=list(cmap.source_to_canonical), use_threads=False
        )
        try:
            for batch in batches:
                try:
                    out = conform(batch, cmap, bounds, stats, memory_pool=mem)
                except SchemaError as exc:
                    raise SchemaError(f"{src.name}: {_locate(str(exc), stats.rows)}") from None
                groups.add([out], out.nbytes)
            groups.close()
        except (OSError, pa.ArrowInvalid) as exc:
            groups.abandon()
            if getattr(exc, "errno", None) is not None:
                raise
            raise CorruptSource(f"{src.name}: cannot read ({exc})") from None
        except BaseException:
            groups.abandon()
            raise
    stats.bytes = dst.stat().st_size
    return stats
