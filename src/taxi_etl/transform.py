"""csv.gz -> parquet in record batches, onto the colour's canonical schema.

Pure (a file in, a file and stats out) and streaming: memory is bounded by the CSV
block size and one row group, never by the size of the month. Pickups outside the
partition's month are kept, because the TLC ships them in that month's file and
dropping them would lose trips, but they are flagged in ``pickup_outside_month`` and
counted, so a reader can filter them and a quality check can bound their share.
Parse errors (a bad value, a wrong field count) fail the whole file: a partition is
either loaded completely or not at all.
"""

from __future__ import annotations

import gzip
import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from taxi_etl.params import Colour
from taxi_etl.schemas import ColourSchema, HeaderMap, SchemaError, for_colour

BLOCK_SIZE = 16 << 20  # bytes of CSV per batch; with one row group, this bounds memory
COMPRESSION = "zstd"
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


def _month_bounds(year: int, month: int) -> tuple[pa.Scalar, pa.Scalar]:
    nxt = (year + 1, 1) if month == 12 else (year, month + 1)
    ts = pa.timestamp("us")
    return (pa.scalar(datetime(year, month, 1), ts), pa.scalar(datetime(*nxt, 1), ts))


def _batches(src: Path, hmap: HeaderMap, block_size: int) -> Iterator[pa.RecordBatch]:
    reader = pacsv.open_csv(
        src,
        read_options=pacsv.ReadOptions(block_size=block_size, use_threads=True),
        parse_options=pacsv.ParseOptions(newlines_in_values=False),
        convert_options=pacsv.ConvertOptions(
            column_types=hmap.read_types,
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )
    try:
        yield from reader
    finally:
        reader.close()


def _as_int(arr: pa.Array, name: str) -> pa.Array:
    """Exact float->int64: `1.0` becomes 1, `1.5` is an error, not a silent truncation."""
    try:
        return pc.cast(arr, pa.int64(), safe=True)
    except pa.ArrowInvalid as exc:
        raise SchemaError(f"column {name}: non-integer value ({exc})") from None


def _count(mask: pa.Array) -> int:
    return int(pc.sum(mask).as_py() or 0)


def conform(
    batch: pa.RecordBatch,
    hmap: HeaderMap,
    bounds: tuple[pa.Scalar, pa.Scalar] | None,
    stats: TransformStats,
) -> pa.RecordBatch:
    """One CSV batch onto the canonical schema, updating the running stats."""
    schema: ColourSchema = hmap.schema
    by_canonical = {c: batch.column(raw) for raw, c in hmap.source_to_canonical.items()}
    n = batch.num_rows
    arrays: list[pa.Array] = []
    for col in schema.columns:
        arr = by_canonical.get(col.name)
        if arr is None:
            arr = pa.nulls(n, col.type)
        elif col.is_code:
            arr = _as_int(arr, col.name)
        stats.nulls[col.name] = stats.nulls.get(col.name, 0) + arr.null_count
        arrays.append(arr)
    cols = dict(zip([c.name for c in schema.columns], arrays, strict=True))
    pickup, dropoff = cols[schema.pickup], cols[schema.dropoff]
    if bounds is None:
        flag = pa.nulls(n, pa.bool_())
    else:
        flag = pc.or_(pc.less(pickup, bounds[0]), pc.greater_equal(pickup, bounds[1]))
        stats.outside_month = (stats.outside_month or 0) + _count(flag)
    arrays.append(flag)
    if schema.distance:
        stats.negative_distance += _count(pc.less(cols[schema.distance], 0))
    if schema.fare:
        stats.negative_fare += _count(pc.less(cols[schema.fare], 0))
    stats.negative_duration += _count(pc.less(dropoff, pickup))
    lo, hi = pc.min_max(pickup).values()
    if lo.is_valid:
        lo_s, hi_s = lo.as_py().isoformat(), hi.as_py().isoformat()
        stats.pickup_min = min(stats.pickup_min or lo_s, lo_s)
        stats.pickup_max = max(stats.pickup_max or hi_s, hi_s)
    stats.rows += n
    return pa.RecordBatch.from_arrays(arrays, schema=schema.arrow)


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
    hmap = schema.resolve(read_header(src))
    if year is None or month is None:
        year, month = month_of(src) or (None, None)
    bounds = _month_bounds(year, month) if year and month else None
    stats = TransformStats(
        colour=schema.colour.value, columns_null_filled=[c.name for c in hmap.absent]
    )
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex}.tmp")
    try:
        with pq.ParquetWriter(
            tmp, schema.arrow, compression=compression, write_statistics=True
        ) as writer:
            for batch in _batches(src, hmap, block_size):
                writer.write_batch(conform(batch, hmap, bounds, stats))
                stats.row_groups += 1
                if progress is not None:
                    progress(stats.rows)
        os.replace(tmp, dst)
    except pa.ArrowInvalid as exc:  # a bad value or field count, raised by the reader
        raise SchemaError(f"{src.name}: {exc}") from None
    except (OSError, EOFError) as exc:  # truncated or corrupt gzip; arrow sets no errno
        if getattr(exc, "errno", None) is not None:
            raise  # a real IO error (missing file, full disk) keeps its own type
        raise CorruptSource(f"{src.name}: cannot decompress ({exc})") from None
    finally:
        tmp.unlink(missing_ok=True)
    stats.bytes = dst.stat().st_size
    return stats
