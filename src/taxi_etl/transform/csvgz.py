"""TLC csv files (the course mirror's csv.gz, the TLC's original csv of 2009-2020, plain
or gzip), streamed in blocks onto the canonical schema.

Memory is bounded by the ``block_size`` of CSV that makes one row group plus a few
1 MB blocks in flight, never by the size of the month. Parse errors (a bad value, a
wrong field count) fail the whole file, naming its line: a partition is loaded
completely or not at all.

Tuned on a 2-core machine (measurements in ``benchmarks/README.md``):

* the calling thread decompresses (ISA-L's igzip when the ``isal`` wheel is installed,
  3x faster than zlib) and cuts the text into blocks at line ends (the TLC files have
  no quoted newlines);
* worker threads parse and conform the blocks (Arrow's streaming CSV reader parses
  serially; Arrow releases the GIL while parsing, so workers use every core);
* the calling thread writes the conformed blocks in order, ``block_size`` bytes of CSV
  per row group.

Each column is parsed as its canonical type, which is cheapest. A column whose text
does not parse so is read again as text, from then on, and cast by ``cast``: ids
written ``1.0`` (2021-06) as doubles; text codes (``VTS``, ``CSH``), padded numbers and
nine-digit fractions of a second as text.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from taxi_etl import stopping
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
from taxi_etl.transform.csvform import (
    CORRUPT,
    WIDTH,
    Header,
    fit,
    locate,
    open_text,
    read_header,
)
from taxi_etl.transform.extra import ExtraWriter, extra_schema
from taxi_etl.transform.writer import RowGroups, staged, writer_options

BLOCK_SIZE = 16 << 20  # bytes of CSV per row group (~175k yellow rows); bounds memory
PARSE_BLOCK = 1 << 20  # bytes of CSV per parse job: small, so little is in flight
_MAX_PENDING = 4 * WORKERS  # blocks queued or in parsing: keeps workers busy during writes
_COLUMN = re.compile(r"In CSV column #(\d+)")
#: What a column is parsed as next when its text does not parse as the current type.
_WIDER = {pa.int64(): pa.float64(), pa.float64(): pa.string(), pa.timestamp("us"): pa.string()}


@dataclass(frozen=True)
class Block:
    data: memoryview
    #: The file's line number of the block's first line (the header is line 1).
    line: int


def _blocks(fh: IO[bytes], block_size: int) -> Iterator[Block]:
    """The decompressed text after the header line, in blocks that end at a line end."""
    tail = b""
    header = True
    line = 2
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
            yield Block(memoryview(buf)[start:cut], line)
            line += buf.count(b"\n", start, cut)
        if not data:
            return
        tail = buf[cut:]


Parsed = tuple[list[pa.RecordBatch], list[dict[str, pa.Array]], TransformStats]


class _Parser:
    """Parses one block of lines into conformed batches, on a worker thread.

    Column types start as the canonical ones and widen per column (int64 -> float64 ->
    text; timestamp -> text) the first time a block does not parse; the widened types
    are replaced as a whole, so a worker sees one set or the next, and blocks parsed
    under either give one result."""

    def __init__(
        self, cmap: ColumnMap, header: Header, bounds: Bounds | None, pool: pa.MemoryPool
    ) -> None:
        self.cmap, self.header, self.bounds, self.pool = cmap, header, bounds, pool
        self.parse_options = pacsv.ParseOptions(newlines_in_values=False)
        types: dict[str, pa.DataType] = {}
        for raw, canonical in cmap.source_to_canonical.items():
            col = cmap.schema.column(canonical)
            types[raw] = pa.int64() if col.kind is Kind.INT else col.arrow_type
        for raw in (*cmap.unknown, *header.padding):
            types[raw] = pa.string()
        self.types = types
        self._lock = threading.Lock()

    def _read(self, block: memoryview | bytes, types: dict[str, pa.DataType]) -> pa.Table:
        read_options = pacsv.ReadOptions(
            column_names=self.header.names, use_threads=False, block_size=len(block) + 1
        )
        convert_options = pacsv.ConvertOptions(
            column_types=types,
            include_columns=list(types),
            null_values=[""],  # "NA" is a payment type (2010), not a missing value
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        )
        return pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(block)),
            read_options=read_options,
            parse_options=self.parse_options,
            convert_options=convert_options,
            memory_pool=self.pool,
        )

    def _parse(self, block: memoryview) -> pa.Table:
        data: memoryview | bytes = block
        while True:
            types = self.types
            try:
                return self._read(data, types)
            except pa.ArrowInvalid as exc:
                if WIDTH.search(str(exc)) and data is block:
                    data = fit(block, self.header)  # rows of other widths, by empty fields
                    continue
                m = _COLUMN.search(str(exc))
                name = self.header.names[int(m.group(1))] if m else ""
                wider = _WIDER.get(types[name]) if name in types else None
                if wider is None:
                    raise
                with self._lock:
                    if self.types[name] == types[name]:  # not widened by another block
                        self.types = {**self.types, name: wider}

    def _check_padding(self, table: pa.Table) -> None:
        for name in self.header.padding:
            values = table[name]
            if values.null_count < len(values):
                row = next(i for i, v in enumerate(values.to_pylist()) if v is not None)
                named = len(self.header.named)
                raise SchemaError(
                    f"a value {values[row].as_py()!r} past the header's {named} columns "
                    f"at Row #{row}"
                )

    def __call__(self, block: Block) -> Parsed:
        try:
            table = self._parse(block.data)
            self._check_padding(table)
        except (pa.ArrowInvalid, SchemaError) as exc:
            raise SchemaError(locate(str(exc), block.data, block.line)) from None
        stats = TransformStats(colour=self.cmap.schema.colour.value)
        batches, extras, done = [], [], 0
        for b in table.to_batches():
            held: dict[str, pa.Array] = {}
            try:
                out = conform(b, self.cmap, self.bounds, stats, memory_pool=self.pool, extra=held)
            except (pa.ArrowInvalid, SchemaError) as exc:
                raise SchemaError(locate(str(exc), block.data, block.line, done)) from None
            batches.append(out)
            extras.append(held)
            done += b.num_rows
        return batches, extras, stats


def convert_csv(
    src: Path,
    dst: Path,
    schema: DatasetSchema,
    bounds: Bounds | None,
    *,
    extra_path: Path,
    block_size: int = BLOCK_SIZE,
    compression: str,
    progress: Callable[[int], None] | None = None,
) -> TransformStats:
    """One csv file into one parquet file at ``dst``, atomically, and what it cannot
    hold into ``extra_path`` (only if there is any)."""
    header = read_header(src)
    cmap = schema.resolve(header.named)
    stats = new_stats(cmap)
    mem = memory_pool()
    parse = _Parser(cmap, header, bounds, mem)
    extra = ExtraWriter(extra_path, extra_schema(cmap, {}))
    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="taxi-etl-parse")
    pending: deque[tuple[int, Future[Parsed]]] = deque()
    try:
        with (
            staged(dst) as tmp,
            pq.ParquetWriter(tmp, schema.arrow, **writer_options(schema, compression, mem)) as pw,
            open_text(src) as fh,
        ):
            groups = RowGroups(pw, schema.arrow, stats, block_size, progress)

            def collect() -> None:
                size, future = pending.popleft()
                batches, extras, part = future.result()  # blocks arrive in order
                stats.merge(part)
                for batch, values in zip(batches, extras, strict=True):
                    extra.add(batch.num_rows, values)
                groups.add(batches, size)

            for block in _blocks(fh, min(block_size, PARSE_BLOCK)):
                stopping.check()
                pending.append((len(block.data), pool.submit(parse, block)))
                if len(pending) > _MAX_PENDING:
                    collect()
            while pending:
                collect()
            groups.flush()
        extra.finish()  # once the partition is in place: beside it, never without it
    except SchemaError as exc:  # a bad value or field count
        raise SchemaError(f"{src.name}: {exc}") from None
    except CORRUPT as exc:  # truncated or corrupt gzip
        if getattr(exc, "errno", None) is not None:
            raise  # a real IO error (missing file, full disk) keeps its own type
        raise CorruptSource(f"{src.name}: cannot decompress ({exc})") from None
    finally:
        extra.abandon()
        for _, future in pending:
            future.cancel()
        pool.shutdown(wait=True)
    stats.bytes = dst.stat().st_size
    return stats
