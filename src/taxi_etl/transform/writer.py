"""The parquet side of every transform: row groups written atomically, one layout.

Timestamps are written without a dictionary (nearly every value is distinct, so a
dictionary only costs time until Arrow falls back to plain), pages with zstd level 3:
smaller than the course's gzip parquet at a fraction of the CPU. Column statistics
(min/max) are written for times, ids and codes, which readers prune row groups by.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from taxi_etl.schemas import DatasetSchema, Kind
from taxi_etl.transform.conform import TransformStats

COMPRESSION = "zstd"
ZSTD_LEVEL = 3  # level 1 is ~7% larger, levels above 3 are slower and no smaller
#: The TLC parquet path's level. Decoding parquet is cheap, so there the writer is the
#: bottleneck, and level 3 costs it 30% more CPU to save 2% (fhvhv, 4 M rows: 94.3 MB
#: at level 3, 96.5 MB at 1; benchmarks/README.md).
PARQUET_ZSTD_LEVEL = 1


def writer_options(
    schema: DatasetSchema, compression: str, pool: pa.MemoryPool, *, level: int = ZSTD_LEVEL
) -> dict[str, Any]:
    stamps = {c.name for c in schema.columns if c.kind is Kind.TS}
    # Min/max where readers prune (times, ids, codes); those of amounts and free text
    # cost the writer a quarter of its CPU and no query skips a row group by them.
    untested = {c.name for c in schema.columns if c.kind in (Kind.FLOAT, Kind.STR)}
    return {
        "memory_pool": pool,
        "compression": compression,
        "compression_level": level if compression == "zstd" else None,
        "use_dictionary": [n for n in schema.arrow.names if n not in stamps],
        "write_statistics": [n for n in schema.arrow.names if n not in untested],
        # A CRC per page: damage inside a page that decompresses to garbage without an
        # error is found by a reader that checks them (taxi-etl verify --deep).
        "write_page_checksum": True,
    }


@contextmanager
def staged(dst: Path) -> Iterator[Path]:
    """A temporary path beside `dst`, renamed onto it only if the block succeeds, so
    a failure never leaves a half-written file under the final name."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


class RowGroups:
    """Collects conformed batches and writes a row group once `group_bytes` of source
    have gone into it, so memory is bounded by one row group whatever the file size.

    With `background`, each row group is encoded and compressed on a writer thread
    (Arrow releases the GIL there) while the caller decodes and conforms the next one:
    the two halves of a transform then use two cores. At most one group is being
    written while the next is collected, so the bound is two row groups."""

    def __init__(
        self,
        writer: pq.ParquetWriter,
        schema: pa.Schema,
        stats: TransformStats,
        group_bytes: int,
        progress: Callable[[int], None] | None,
        *,
        background: bool = False,
    ) -> None:
        self.writer, self.schema, self.stats = writer, schema, stats
        self.group_bytes, self.progress = group_bytes, progress
        self.batches: list[pa.RecordBatch] = []
        self.size = 0
        self._pool = ThreadPoolExecutor(1, "taxi-etl-write") if background else None
        self._writing: Future[None] | None = None

    def add(self, batches: list[pa.RecordBatch], source_bytes: int) -> None:
        self.batches.extend(batches)
        self.size += source_bytes
        if self.size >= self.group_bytes:
            self.flush()

    def _write(self, table: pa.Table) -> None:
        self.writer.write_table(table, row_group_size=table.num_rows)

    def _wait(self) -> None:
        if self._writing is not None:
            writing, self._writing = self._writing, None
            writing.result()  # a failed write fails the transform here

    def flush(self) -> None:
        if self.batches:
            table = pa.Table.from_batches(self.batches, self.schema)
            self.batches = []
            self._wait()
            if self._pool is None:
                self._write(table)
            else:
                self._writing = self._pool.submit(self._write, table)
            self.stats.row_groups += 1
        self.size = 0
        if self.progress is not None:
            self.progress(self.stats.rows)

    def close(self) -> None:
        """Write what is left and wait for the writer; call before closing the file."""
        try:
            self.flush()
            self._wait()
        finally:
            self.abandon()

    def abandon(self) -> None:
        """Stop without writing more (the transform failed: its file is thrown away)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
