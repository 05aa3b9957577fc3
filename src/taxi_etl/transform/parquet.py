"""The TLC's parquet files, streamed by record batch onto the canonical schema.

A month of fhvhv is about 20 M rows and 450-610 MB of parquet, in one row group, so
nothing here holds a month or a row group: batches are decoded a page at a time (only
the columns the schema maps), conformed, and written as row groups of about
``GROUP_BYTES``. A value that does not fit (``1.5`` in an id, a datetime that is not one)
fails the whole file, naming the column and the row: a partition is loaded completely or
not at all.

The file is mapped read-only rather than read through Arrow's buffered stream
(``buffer_size``). That stream grows its buffer without bound while a column's pages are
smaller than the 16 KB it peeks for each page header, which holds the column chunk's
compressed pages until the row group ends: ~40 MB for a 20 M-row month written with
pyarrow >= 22's 20,000-row pages (benchmarks/README.md). Unbuffered, Arrow reads each
column chunk whole. Mapped, a page is a view of the page cache, nothing is copied, and
each batch's pages are dropped from the process's resident set once decoded (the kernel
keeps them cached, and a page needed again is mapped back in).
"""

from __future__ import annotations

import contextlib
import mmap
import re
from collections.abc import Callable, Generator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from taxi_etl import stopping
from taxi_etl.schemas import DatasetSchema, SchemaError
from taxi_etl.transform.conform import (
    Bounds,
    CorruptSource,
    TransformStats,
    conform,
    memory_pool,
    new_stats,
)
from taxi_etl.transform.extra import ExtraWriter, extra_schema
from taxi_etl.transform.writer import PARQUET_ZSTD_LEVEL, RowGroups, staged, writer_options

BATCH_ROWS = 1 << 16  # rows decoded and conformed at a time
GROUP_BYTES = 16 << 20  # bytes of conformed Arrow data per written row group
_ROW = re.compile(r"Row #(\d+)")
_DONTNEED: int | None = getattr(mmap, "MADV_DONTNEED", None)  # not on Windows


def _locate(message: str, rows_before: int) -> str:
    """Conform numbers rows within the batch; name the row of the file instead."""
    return _ROW.sub(lambda m: f"row {rows_before + int(m.group(1)) + 1}", message)


class _Source:
    """`src` opened for decoding into `pool`: mapped where the OS lets it, else through
    Arrow's buffered stream. On a read error a mapped file raises SIGBUS, not OSError;
    the sources here are local files, downloaded whole and renamed into place."""

    def __init__(self, src: Path, pool: pa.MemoryPool) -> None:
        self._map: mmap.mmap | None = None
        try:
            with src.open("rb") as fh:
                self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # not mappable (a pipe, an empty file)
            pass
        # pq.ParquetFile decodes into the default pool; this reader into the transform's.
        self.reader = pq.ParquetReader(pool)
        try:
            if self._map is None:
                self.reader.open(src, pre_buffer=False, buffer_size=1 << 20)
            else:
                self.reader.open(pa.BufferReader(pa.py_buffer(self._map)), pre_buffer=False)
        except (pa.ArrowInvalid, OSError) as exc:
            self.close()
            if getattr(exc, "errno", None) is not None:
                raise  # a real IO error (missing file, full disk) keeps its own type
            raise CorruptSource(f"{src.name}: not a complete parquet file ({exc})") from None

    def batches(self, columns: list[str], batch_rows: int) -> Generator[pa.RecordBatch, None, None]:
        """Decoded on this thread: the writer thread needs the other core more (decoding
        on several threads only made the two wait for each other)."""
        yield from self.reader.iter_batches(
            batch_rows,
            list(range(self.reader.num_row_groups)),
            column_indices=[self.reader.column_name_idx(c) for c in columns],
            use_threads=False,
        )

    def release(self) -> None:
        """Drop the mapped pages decoded so far from this process's resident set."""
        if self._map is not None and _DONTNEED is not None:
            self._map.madvise(_DONTNEED)

    def close(self) -> None:
        self.reader = None
        if self._map is not None:
            with contextlib.suppress(BufferError):  # an Arrow view lives on; unmapped with it
                self._map.close()


def convert_parquet(
    src: Path,
    dst: Path,
    schema: DatasetSchema,
    bounds: Bounds | None,
    *,
    compression: str,
    extra_path: Path,
    progress: Callable[[int], None] | None = None,
    batch_rows: int = BATCH_ROWS,
    group_bytes: int = GROUP_BYTES,
) -> TransformStats:
    """One TLC parquet file into one canonical parquet file at ``dst``, atomically, and
    what it cannot hold into ``extra_path`` (only if there is any)."""
    mem = memory_pool()
    source = _Source(src, mem)
    extra: ExtraWriter | None = None
    try:
        file_schema = source.reader.schema_arrow
        cmap = schema.resolve(file_schema.names)
        stats = new_stats(cmap)
        types = {f.name: f.type for f in file_schema}
        extra = ExtraWriter(extra_path, extra_schema(cmap, types))
        options = writer_options(schema, compression, mem, level=PARQUET_ZSTD_LEVEL)
        with (
            staged(dst) as tmp,
            pq.ParquetWriter(tmp, schema.arrow, **options) as pw,
        ):
            groups = RowGroups(pw, schema.arrow, stats, group_bytes, progress, background=True)
            # Unknown columns are read too: their values are kept beside the partition.
            batches = source.batches([*cmap.source_to_canonical, *cmap.unknown], batch_rows)
            try:
                for batch in batches:
                    stopping.check()
                    held: dict[str, pa.Array] = {}
                    try:
                        out = conform(batch, cmap, bounds, stats, memory_pool=mem, extra=held)
                    except SchemaError as exc:
                        raise SchemaError(f"{src.name}: {_locate(str(exc), stats.rows)}") from None
                    extra.add(batch.num_rows, held)
                    del batch, held
                    source.release()
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
            finally:
                batches.close()
        extra.finish()  # once the partition is in place: beside it, never without it
    finally:
        if extra is not None:
            extra.abandon()
        source.close()
    stats.bytes = dst.stat().st_size
    return stats
