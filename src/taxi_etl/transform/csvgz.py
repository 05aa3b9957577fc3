"""The course mirror's csv.gz files, streamed in blocks onto the canonical schema.

Memory is bounded by the ``block_size`` of CSV that makes one row group plus a few
1 MB blocks in flight, never by the size of the month. Parse errors (a bad value, a
wrong field count) fail the whole file: a partition is loaded completely or not at all.

Tuned on a 2-core machine (measurements in ``benchmarks/README.md``):

* the calling thread decompresses (ISA-L's igzip when the ``isal`` wheel is installed,
  3x faster than zlib) and cuts the text into blocks at line ends (the TLC files have
  no quoted newlines);
* worker threads parse and conform the blocks (Arrow's streaming CSV reader parses
  serially; Arrow releases the GIL while parsing, so workers use every core);
* the calling thread writes the conformed blocks in order, ``block_size`` bytes of CSV
  per row group.
"""

from __future__ import annotations

import gzip
import importlib
import re
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any, cast

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from taxi_etl.schemas import ColumnMap, DatasetSchema, Kind, SchemaError
from taxi_etl.transform.conform import (
    Bounds,
    CorruptSource,
    TransformStats,
    conform,
    memory_pool,
    new_stats,
)
from taxi_etl.transform.cpus import WORKERS
from taxi_etl.transform.writer import RowGroups, staged, writer_options

# ISA-L (the `isal` wheel) when installed, and what a truncated or damaged gzip stream
# raises, from zlib or from ISA-L.
_igzip: Any
_CORRUPT: tuple[type[BaseException], ...] = (OSError, EOFError, zlib.error)
try:
    _igzip = importlib.import_module("isal.igzip")
    _CORRUPT += (importlib.import_module("isal.isal_zlib").error,)
except ImportError:  # pragma: no cover - only without the optional wheel
    _igzip = None

BLOCK_SIZE = 16 << 20  # bytes of CSV per row group (~175k yellow rows); bounds memory
PARSE_BLOCK = 1 << 20  # bytes of CSV per parse job: small, so little is in flight
_MAX_PENDING = 4 * WORKERS  # blocks queued or in parsing: keeps workers busy during writes


def read_header(src: Path) -> list[str]:
    try:
        with gzip.open(src, "rt", encoding="utf-8-sig", newline="") as fh:
            line = fh.readline()
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise CorruptSource(f"{src.name}: cannot read header ({exc})") from None
    if not line.strip():
        raise SchemaError(f"{src.name}: empty file, no header")
    return [name.strip() for name in line.rstrip("\r\n").split(",")]


def _open_gzip(src: Path) -> IO[bytes]:
    """ISA-L's igzip decompresses the same streams about 3x faster than zlib."""
    if _igzip is None:
        return cast(IO[bytes], gzip.open(src, "rb"))
    return cast(IO[bytes], _igzip.open(src, "rb"))


def _blocks(fh: IO[bytes], block_size: int) -> Iterator[memoryview]:
    """The decompressed text after the header line, in blocks that end at a line end."""
    tail = b""
    header = True
    while True:
        data = fh.read(block_size)
        buf = tail + data if tail else data
        cut = len(buf) if not data else buf.rfind(b"\n") + 1
        start = 0
        if header and cut:
            start = buf.find(b"\n", 0, cut) + 1
            if start == 0:  # only a header, without a line end
                return
            header = False
        if cut > start:
            yield memoryview(buf)[start:cut]
        if not data:
            return
        tail = buf[cut:]


class _Parser:
    """Parses one block of lines into conformed batches, on a worker thread.

    Integer codes are parsed as int64 first, which is cheaper than float64 plus an
    exact cast; a file that writes them as ``1.0`` fails that on its first block and
    the parser switches to float64 for the rest of the file."""

    def __init__(
        self, cmap: ColumnMap, names: list[str], bounds: Bounds | None, pool: pa.MemoryPool
    ) -> None:
        self.cmap = cmap
        self.pool = pool
        self.bounds = bounds
        self.names = names
        self.parse_options = pacsv.ParseOptions(newlines_in_values=False)
        schema = cmap.schema
        float_types: dict[str, pa.DataType] = {}
        int_types: dict[str, pa.DataType] = {}
        for raw, canonical in cmap.source_to_canonical.items():
            col = schema.column(canonical)
            is_int = col.kind is Kind.INT
            float_types[raw] = pa.float64() if is_int else col.arrow_type
            int_types[raw] = pa.int64() if is_int else col.arrow_type
        self.int_options, self.float_options = (
            pacsv.ConvertOptions(
                column_types=types,
                include_columns=list(cmap.source_to_canonical),
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            )
            for types in (int_types, float_types)
        )
        self.codes_as_float = False

    def _read(self, block: memoryview, options: pacsv.ConvertOptions) -> pa.Table:
        read_options = pacsv.ReadOptions(
            column_names=self.names, use_threads=False, block_size=len(block) + 1
        )
        return pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(block)),
            read_options=read_options,
            parse_options=self.parse_options,
            convert_options=options,
            memory_pool=self.pool,
        )

    def __call__(self, block: memoryview) -> tuple[list[pa.RecordBatch], TransformStats]:
        if self.codes_as_float:
            table = self._read(block, self.float_options)
        else:
            try:
                table = self._read(block, self.int_options)
            except pa.ArrowInvalid as exc:
                if "conversion error to int64" not in str(exc):
                    raise
                self.codes_as_float = True  # a benign race: both values give one result
                table = self._read(block, self.float_options)
        stats = TransformStats(colour=self.cmap.schema.colour.value)
        batches = [
            conform(b, self.cmap, self.bounds, stats, memory_pool=self.pool)
            for b in table.to_batches()
        ]
        return batches, stats


_ROW = re.compile(r"Row #(\d+)")


def _locate(message: str, rows_before: int) -> str:
    """Arrow numbers rows within the block; name the line of the file instead."""
    return _ROW.sub(lambda m: f"line {rows_before + int(m.group(1)) + 1}", message)


def convert_csv(
    src: Path,
    dst: Path,
    schema: DatasetSchema,
    bounds: Bounds | None,
    *,
    block_size: int = BLOCK_SIZE,
    compression: str,
    progress: Callable[[int], None] | None = None,
) -> TransformStats:
    """One csv.gz into one parquet file at ``dst``, atomically."""
    names = read_header(src)
    cmap = schema.resolve(names)
    stats = new_stats(cmap)
    mem = memory_pool()
    parse = _Parser(cmap, names, bounds, mem)
    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="taxi-etl-parse")
    pending: deque[tuple[int, Future[tuple[list[pa.RecordBatch], TransformStats]]]] = deque()
    try:
        with (
            staged(dst) as tmp,
            pq.ParquetWriter(tmp, schema.arrow, **writer_options(schema, compression, mem)) as pw,
            _open_gzip(src) as fh,
        ):
            groups = RowGroups(pw, schema.arrow, stats, block_size, progress)

            def collect() -> None:
                size, future = pending.popleft()
                try:
                    batches, part = future.result()
                except (pa.ArrowInvalid, SchemaError) as exc:  # blocks arrive in order
                    raise SchemaError(_locate(str(exc), stats.rows)) from None
                stats.merge(part)
                groups.add(batches, size)

            for block in _blocks(fh, min(block_size, PARSE_BLOCK)):
                pending.append((len(block), pool.submit(parse, block)))
                if len(pending) > _MAX_PENDING:
                    collect()
            while pending:
                collect()
            groups.flush()
    except (pa.ArrowInvalid, SchemaError) as exc:  # a bad value or field count
        raise SchemaError(f"{src.name}: {exc}") from None
    except _CORRUPT as exc:  # truncated or corrupt gzip
        if getattr(exc, "errno", None) is not None:
            raise  # a real IO error (missing file, full disk) keeps its own type
        raise CorruptSource(f"{src.name}: cannot decompress ({exc})") from None
    finally:
        for _, future in pending:
            future.cancel()
        pool.shutdown(wait=True)
    stats.bytes = dst.stat().st_size
    return stats
