"""csv.gz -> parquet in blocks, onto the colour's canonical schema.

Pure (a file in, a file and stats out) and streaming: memory is bounded by the
``block_size`` of CSV that makes one row group plus a few 1 MB blocks in flight, never
by the size of the month. Pickups outside the partition's month are kept, because the
TLC ships them in that month's file and dropping them would lose trips, but they are
flagged in ``pickup_outside_month`` and counted, so a reader can filter them and a
quality check can bound their share. Parse errors (a bad value, a wrong field count)
fail the whole file: a partition is either loaded completely or not at all.

The pipeline, tuned on a 2-core machine (measurements in ``benchmarks/README.md``):

* the calling thread decompresses (ISA-L's igzip when the ``isal`` wheel is installed,
  3x faster than zlib) and cuts the text into blocks at line ends (the TLC files have
  no quoted newlines);
* worker threads parse and conform the blocks (Arrow's streaming CSV reader parses
  serially; Arrow releases the GIL while parsing, so workers use every core);
* the calling thread writes the conformed blocks in order, ``block_size`` bytes of CSV
  per row group. Timestamps are written without a dictionary (nearly every value is
  distinct, so a dictionary only costs time until Arrow falls back to plain) and pages
  with zstd level 3: smaller than the course's gzip parquet at a fraction of the CPU.
"""

from __future__ import annotations

import calendar
import gzip
import importlib
import os
import re
import struct
import uuid
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from taxi_etl.params import Colour
from taxi_etl.schemas import ColourSchema, HeaderMap, SchemaError, for_colour

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
COMPRESSION = "zstd"
ZSTD_LEVEL = 3  # level 1 is ~7% larger, levels above 3 are slower and no smaller


def cpu_quota(quota: str, period: str) -> int | None:
    """Whole CPUs a cgroup CPU quota grants (v2 "max" and v1 "-1" mean no quota)."""
    if quota.strip() in ("max", "-1"):
        return None
    return max(1, -(-int(quota) // int(period)))


def available_cpus(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """The CPUs this process may use: its affinity, and a container's CPU quota, which
    ``os.cpu_count()`` ignores (a `--cpus 1` container on a 16-core host sees 16)."""
    affinity = hasattr(os, "sched_getaffinity")
    cpus = (len(os.sched_getaffinity(0)) if affinity else os.cpu_count()) or 1
    quota = None
    try:
        if (cgroup / "cpu.max").exists():  # cgroup v2: "QUOTA PERIOD"
            quota = cpu_quota(*(cgroup / "cpu.max").read_text().split()[:2])
        elif (cgroup / "cpu" / "cpu.cfs_quota_us").exists():  # cgroup v1
            v1 = cgroup / "cpu"
            quota = cpu_quota(
                (v1 / "cpu.cfs_quota_us").read_text(), (v1 / "cpu.cfs_period_us").read_text()
            )
    except (OSError, ValueError, TypeError):
        quota = None
    return min(cpus, quota) if quota else cpus


_CPUS = available_cpus()
_WORKERS = min(4, _CPUS)
#: Transforms that fill this machine's cores: more at once only share the same cores,
#: in lock-step with each other, and multiply the memory bound.
CONCURRENT = max(1, _CPUS // _WORKERS)
_MAX_PENDING = 4 * _WORKERS  # blocks queued or in parsing: keeps workers busy during writes
_NAME = re.compile(r"(yellow|green|fhv)_tripdata_(\d{4})-(\d{2})")


@dataclass
class TransformStats:
    """What one file held; the manifest and the quality checks are built from it."""

    colour: str
    rows: int = 0
    nulls: dict[str, int] = field(default_factory=dict)
    outside_month: int | None = None
    negative_distance: int = 0
    negative_fare: int = 0
    negative_duration: int = 0
    pickup_min: str | None = None
    pickup_max: str | None = None
    row_groups: int = 0
    bytes: int = 0
    columns_null_filled: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def merge(self, part: TransformStats) -> None:
        """Add the counts of a later block (``conform`` on a block of its own)."""
        self.rows += part.rows
        for name, count in part.nulls.items():
            self.nulls[name] = self.nulls.get(name, 0) + count
        if part.outside_month is not None:
            self.outside_month = (self.outside_month or 0) + part.outside_month
        self.negative_distance += part.negative_distance
        self.negative_fare += part.negative_fare
        self.negative_duration += part.negative_duration
        if part.pickup_min is not None:
            self.pickup_min = min(self.pickup_min or part.pickup_min, part.pickup_min)
        if part.pickup_max is not None:
            self.pickup_max = max(self.pickup_max or part.pickup_max, part.pickup_max)


class CorruptSource(ValueError):
    """The download is not a complete gzip stream (truncated, or not gzip at all)."""


def read_header(src: Path) -> list[str]:
    try:
        with gzip.open(src, "rt", encoding="utf-8-sig", newline="") as fh:
            line = fh.readline()
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise CorruptSource(f"{src.name}: cannot read header ({exc})") from None
    if not line.strip():
        raise SchemaError(f"{src.name}: empty file, no header")
    return [name.strip() for name in line.rstrip("\r\n").split(",")]


def month_of(path: Path) -> tuple[int, int] | None:
    """The partition month from a TLC file name, for ``convert`` without --year/--month."""
    match = _NAME.search(path.name)
    return (int(match.group(2)), int(match.group(3))) if match else None


def _scalar(value: int | float, type_: pa.DataType) -> pa.Scalar:
    """A scalar built from its bytes: ``pa.scalar`` would import pandas (~50 MB, 0.2 s)
    just to check the value's type, in a process that otherwise never needs it."""
    fmt = "<d" if pa.types.is_floating(type_) else "<q"
    return pa.Array.from_buffers(type_, 1, [None, pa.py_buffer(struct.pack(fmt, value))])[0]


def _month_bounds(year: int, month: int) -> tuple[pa.Scalar, pa.Scalar]:
    nxt = (year + 1, 1) if month == 12 else (year, month + 1)
    ts = pa.timestamp("us")

    def micros(y: int, m: int) -> int:
        return calendar.timegm((y, m, 1, 0, 0, 0)) * 1_000_000

    return _scalar(micros(year, month), ts), _scalar(micros(*nxt), ts)


def _memory_pool() -> pa.MemoryPool:
    """jemalloc where Arrow has it, unless ARROW_DEFAULT_MEMORY_POOL picks one.

    With the same bytes allocated, the process peaks ~30 MB (15%) lower than on the
    default mimalloc pool, which keeps more freed memory mapped."""
    if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        try:
            return pa.jemalloc_memory_pool()
        except NotImplementedError:  # pragma: no cover - builds without jemalloc
            pass
    return pa.default_memory_pool()


def _as_int(arr: pa.Array, name: str, pool: pa.MemoryPool | None = None) -> pa.Array:
    """Exact float->int64: `1.0` becomes 1, `1.5` is an error, not a silent truncation."""
    try:
        return pc.cast(arr, pa.int64(), safe=True, memory_pool=pool)
    except pa.ArrowInvalid as exc:
        raise SchemaError(f"column {name}: non-integer value ({exc})") from None


def _count(mask: pa.Array) -> int:
    return int(pc.sum(mask).as_py() or 0)


_ZEROS: dict[pa.DataType, pa.Scalar] = {}


def _zero(type_: pa.DataType) -> pa.Scalar:
    if type_ not in _ZEROS:
        _ZEROS[type_] = _scalar(0, type_)
    return _ZEROS[type_]


def conform(
    batch: pa.RecordBatch,
    hmap: HeaderMap,
    bounds: tuple[pa.Scalar, pa.Scalar] | None,
    stats: TransformStats,
    *,
    memory_pool: pa.MemoryPool | None = None,
) -> pa.RecordBatch:
    """One CSV batch onto the canonical schema, updating the running stats.

    Code columns may arrive as float64 (written ``1.0``) or already as int64."""
    mp = memory_pool
    schema: ColourSchema = hmap.schema
    by_canonical = {c: batch.column(raw) for raw, c in hmap.source_to_canonical.items()}
    n = batch.num_rows
    arrays: list[pa.Array] = []
    for col in schema.columns:
        arr = by_canonical.get(col.name)
        if arr is None:
            arr = pa.nulls(n, col.type, memory_pool=mp)
        elif col.is_code and arr.type != pa.int64():
            arr = _as_int(arr, col.name, mp)
        stats.nulls[col.name] = stats.nulls.get(col.name, 0) + arr.null_count
        arrays.append(arr)
    cols = dict(zip([c.name for c in schema.columns], arrays, strict=True))
    pickup, dropoff = cols[schema.pickup], cols[schema.dropoff]
    if bounds is None:
        flag = pa.nulls(n, pa.bool_(), memory_pool=mp)
    else:
        flag = pc.or_(
            pc.less(pickup, bounds[0], memory_pool=mp),
            pc.greater_equal(pickup, bounds[1], memory_pool=mp),
            memory_pool=mp,
        )
        stats.outside_month = (stats.outside_month or 0) + _count(flag)
    arrays.append(flag)
    if schema.distance:
        dist = cols[schema.distance]
        stats.negative_distance += _count(pc.less(dist, _zero(dist.type), memory_pool=mp))
    if schema.fare:
        fare = cols[schema.fare]
        stats.negative_fare += _count(pc.less(fare, _zero(fare.type), memory_pool=mp))
    stats.negative_duration += _count(pc.less(dropoff, pickup, memory_pool=mp))
    lo, hi = pc.min_max(pickup).values()
    if lo.is_valid:
        lo_s, hi_s = lo.as_py().isoformat(), hi.as_py().isoformat()
        stats.pickup_min = min(stats.pickup_min or lo_s, lo_s)
        stats.pickup_max = max(stats.pickup_max or hi_s, hi_s)
    stats.rows += n
    return pa.RecordBatch.from_arrays(arrays, schema=schema.arrow)


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

    def __init__(self, hmap: HeaderMap, names: list[str], bounds: Any, pool: pa.MemoryPool) -> None:
        self.hmap = hmap
        self.pool = pool
        self.bounds = bounds
        self.names = names
        self.parse_options = pacsv.ParseOptions(newlines_in_values=False)
        float_types = hmap.read_types
        codes = {c.name for c in hmap.schema.columns if c.is_code}
        int_types = {
            raw: pa.int64() if canonical in codes else float_types[raw]
            for raw, canonical in hmap.source_to_canonical.items()
        }
        self.int_options, self.float_options = (
            pacsv.ConvertOptions(
                column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=True
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
        stats = TransformStats(colour=self.hmap.schema.colour.value)
        batches = [
            conform(b, self.hmap, self.bounds, stats, memory_pool=self.pool)
            for b in table.to_batches()
        ]
        return batches, stats


_ROW = re.compile(r"Row #(\d+)")


def _locate(message: str, rows_before: int) -> str:
    """Arrow numbers rows within the block; name the line of the file instead."""
    return _ROW.sub(lambda m: f"line {rows_before + int(m.group(1)) + 1}", message)


def _writer_options(schema: ColourSchema, compression: str, pool: pa.MemoryPool) -> dict[str, Any]:
    stamps = {schema.pickup, schema.dropoff}
    return {
        "memory_pool": pool,
        "compression": compression,
        "compression_level": ZSTD_LEVEL if compression == "zstd" else None,
        "use_dictionary": [n for n in schema.arrow.names if n not in stamps],
        "write_statistics": True,
    }


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
) -> TransformStats:
    """Transform one TLC csv.gz into one parquet file at ``dst``, atomically.

    The output is written beside ``dst`` and renamed into place only when complete,
    so a failure never leaves a half-written file under the final name.
    """
    schema = for_colour(colour)
    names = read_header(src)
    hmap = schema.resolve(names)
    if year is None or month is None:
        year, month = month_of(src) or (None, None)
    bounds = _month_bounds(year, month) if year and month else None
    stats = TransformStats(
        colour=schema.colour.value, columns_null_filled=[c.name for c in hmap.absent]
    )
    mem = _memory_pool()
    parse = _Parser(hmap, names, bounds, mem)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex}.tmp")
    pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="taxi-etl-parse")
    pending: deque[tuple[int, Future[tuple[list[pa.RecordBatch], TransformStats]]]] = deque()
    group: list[pa.RecordBatch] = []
    group_bytes = 0
    try:
        with (
            pq.ParquetWriter(
                tmp, schema.arrow, **_writer_options(schema, compression, mem)
            ) as writer,
            _open_gzip(src) as fh,
        ):

            def flush() -> None:
                nonlocal group_bytes
                if group:
                    table = pa.Table.from_batches(group, schema.arrow)
                    writer.write_table(table, row_group_size=table.num_rows)
                    stats.row_groups += 1
                    group.clear()
                group_bytes = 0
                if progress is not None:
                    progress(stats.rows)

            def collect() -> None:
                nonlocal group_bytes
                size, future = pending.popleft()
                try:
                    batches, part = future.result()
                except pa.ArrowInvalid as exc:  # blocks arrive in order: count from here
                    raise pa.ArrowInvalid(_locate(str(exc), stats.rows)) from None
                stats.merge(part)
                group.extend(batches)
                group_bytes += size
                if group_bytes >= block_size:
                    flush()

            for block in _blocks(fh, min(block_size, PARSE_BLOCK)):
                pending.append((len(block), pool.submit(parse, block)))
                if len(pending) > _MAX_PENDING:
                    collect()
            while pending:
                collect()
            flush()
        os.replace(tmp, dst)
    except pa.ArrowInvalid as exc:  # a bad value or field count, raised by the reader
        raise SchemaError(f"{src.name}: {exc}") from None
    except _CORRUPT as exc:  # truncated or corrupt gzip
        if getattr(exc, "errno", None) is not None:
            raise  # a real IO error (missing file, full disk) keeps its own type
        raise CorruptSource(f"{src.name}: cannot decompress ({exc})") from None
    finally:
        for _, future in pending:
            future.cancel()
        pool.shutdown(wait=True)
        tmp.unlink(missing_ok=True)
    stats.bytes = dst.stat().st_size
    return stats
