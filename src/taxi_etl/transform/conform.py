"""Record batches onto the dataset's canonical schema, counting what the checks need.

Whatever a file wrote is cast to the column's one type: int32, int64 or whole doubles
to int64 (``1.5`` in an id fails the month, naming the column and row), text codes
through the code tables (a value with no code becomes null and is counted by value),
text datetimes parsed, any timestamp unit to microseconds, ``large_string`` to
``string``, null-typed empty columns to nulls of the column's type.

Pickups outside the partition's month are kept, because the TLC ships them in that
month's file and dropping them would lose trips, but they are flagged in
``pickup_outside_month`` and counted, so a reader can filter them and a quality check
can bound their share. Timestamps pandas cannot hold in nanoseconds (fhv 2019-02 has a
dropoff in 3019) are kept as they are and counted.
"""

from __future__ import annotations

import calendar
import os
import struct
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from taxi_etl.schemas import Column, ColumnMap, DatasetSchema, Kind, SchemaError

#: pandas' nanosecond range, in microseconds since 1970.
PANDAS_LIMIT_US = (1 << 63) // 1000
_TEXT_TIME = "%Y-%m-%d %H:%M:%S"


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
    #: Source columns not in the partition (a leaked index, a column no era knows).
    columns_not_loaded: list[str] = field(default_factory=list)
    #: Of those, the ones the schema does not know at all.
    columns_unknown: list[str] = field(default_factory=list)
    #: Text codes with no value in the data dictionary: column -> value -> rows.
    unmapped: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Timestamps outside pandas' nanosecond range (kept, in microseconds).
    far_timestamps: int = 0

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
        self.far_timestamps += part.far_timestamps
        for name, values in part.unmapped.items():
            mine = self.unmapped.setdefault(name, {})
            for value, count in values.items():
                mine[value] = mine.get(value, 0) + count
        if part.pickup_min is not None:
            self.pickup_min = min(self.pickup_min or part.pickup_min, part.pickup_min)
        if part.pickup_max is not None:
            self.pickup_max = max(self.pickup_max or part.pickup_max, part.pickup_max)


def new_stats(cmap: ColumnMap) -> TransformStats:
    """The stats of a file about to be conformed: what it lacks and what it leaves out."""
    return TransformStats(
        colour=cmap.schema.colour.value,
        columns_null_filled=[c.name for c in cmap.absent],
        columns_not_loaded=cmap.not_loaded,
        columns_unknown=list(cmap.unknown),
    )


class CorruptSource(ValueError):
    """The download is not a complete file of its format (truncated, or another format)."""


Bounds = tuple[pa.Scalar, pa.Scalar]


def _scalar(value: int | float, type_: pa.DataType) -> pa.Scalar:
    """A scalar built from its bytes: ``pa.scalar`` would import pandas (~50 MB, 0.2 s)
    just to check the value's type, in a process that otherwise never needs it."""
    fmt = "<d" if pa.types.is_floating(type_) else "<q"
    return pa.Array.from_buffers(type_, 1, [None, pa.py_buffer(struct.pack(fmt, value))])[0]


def month_bounds(year: int, month: int) -> Bounds:
    nxt = (year + 1, 1) if month == 12 else (year, month + 1)
    ts = pa.timestamp("us")

    def micros(y: int, m: int) -> int:
        return calendar.timegm((y, m, 1, 0, 0, 0)) * 1_000_000

    return _scalar(micros(year, month), ts), _scalar(micros(*nxt), ts)


def memory_pool() -> pa.MemoryPool:
    """jemalloc where Arrow has it, unless ARROW_DEFAULT_MEMORY_POOL picks one.

    With the same bytes allocated, the process peaks ~30 MB (15%) lower than on the
    default mimalloc pool, which keeps more freed memory mapped."""
    if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        try:
            return pa.jemalloc_memory_pool()
        except NotImplementedError:  # pragma: no cover - builds without jemalloc
            pass
    return pa.default_memory_pool()


def _first(mask: pa.Array) -> int:
    return int(pc.index(mask, True).as_py())


def _exact_int(arr: pa.Array, name: str, mp: pa.MemoryPool | None) -> pa.Array:
    """float -> int64 exactly: `1.0` becomes 1, `1.5` is an error, not a truncation."""
    try:
        return pc.cast(arr, pa.int64(), safe=True, memory_pool=mp)
    except pa.ArrowInvalid:
        bad = _first(pc.fill_null(pc.not_equal(arr, pc.trunc(arr)), False))
        raise SchemaError(
            f"column {name}: non-integer value {arr[bad].as_py()} at Row #{bad}"
        ) from None


def _from_python(values: Sequence[str | int]) -> pa.Array:
    """A string or int64 array built from its buffers (see _scalar on why)."""
    ints = [v for v in values if isinstance(v, int)]
    if len(ints) == len(values):
        data = struct.pack(f"<{len(ints)}q", *ints)
        return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(data)])
    encoded = [str(v).encode() for v in values]
    offsets = [0]
    for item in encoded:
        offsets.append(offsets[-1] + len(item))
    buffers = [None, pa.py_buffer(struct.pack(f"<{len(offsets)}i", *offsets))]
    return pa.Array.from_buffers(
        pa.string(), len(values), [*buffers, pa.py_buffer(b"".join(encoded))]
    )


_EMPTY = _from_python([""])[0]


def _blank_to_null(arr: pa.Array) -> pa.Array:
    blank = pc.equal(pc.utf8_trim_whitespace(arr), _EMPTY)
    return pc.if_else(blank, pa.nulls(1, arr.type)[0], arr)


_CODE_ARRAYS: dict[tuple[int, str], tuple[pa.Array, pa.Array]] = {}


def _code_arrays(col: Column) -> tuple[pa.Array, pa.Array]:
    """A code table as (keys, values) arrays, built once per table and type:
    ``pa.array`` on Python objects checks for pandas, an import this process avoids."""
    table = col.codes or {}
    key = (id(table), col.kind.value)
    if key not in _CODE_ARRAYS:
        values = [str(v) if col.kind is Kind.STR else int(v) for v in table.values()]
        _CODE_ARRAYS[key] = _from_python(list(table)), _from_python(values)
    return _CODE_ARRAYS[key]


def _codes(arr: pa.Array, col: Column, stats: TransformStats) -> pa.Array:
    """Text codes through the code table; values it lacks become null and are counted."""
    if not pa.types.is_string(arr.type):
        if pa.types.is_floating(arr.type):
            arr = _exact_int(arr, col.name, None)
        arr = pc.cast(arr, pa.string())
    norm = pc.utf8_upper(pc.utf8_trim_whitespace(arr))
    keys, values = _code_arrays(col)
    index = pc.index_in(norm, value_set=keys)
    mapped = values.take(index)
    missed = pc.and_(pc.is_null(index), pc.not_equal(norm, _EMPTY))
    if pc.any(missed).as_py():
        counts = stats.unmapped.setdefault(col.name, {})
        for entry in pc.value_counts(arr.filter(missed)).to_pylist():
            counts[entry["values"]] = counts.get(entry["values"], 0) + entry["counts"]
    return mapped


def _to_int(arr: pa.Array, col: Column, mp: pa.MemoryPool | None) -> pa.Array:
    if pa.types.is_integer(arr.type):
        return pc.cast(arr, pa.int64(), memory_pool=mp)
    if pa.types.is_floating(arr.type):
        return _exact_int(arr, col.name, mp)
    text = _blank_to_null(arr)
    try:
        return pc.cast(text, pa.int64(), memory_pool=mp)
    except pa.ArrowInvalid:
        try:
            return _exact_int(pc.cast(text, pa.float64()), col.name, mp)
        except pa.ArrowInvalid as exc:
            raise SchemaError(f"column {col.name}: not a number ({exc})") from None


def _to_ts(arr: pa.Array, col: Column, mp: pa.MemoryPool | None) -> pa.Array:
    if pa.types.is_timestamp(arr.type):
        return pc.cast(arr, col.arrow_type, memory_pool=mp)
    text = _blank_to_null(pc.cast(arr, pa.string()))
    parsed = pc.strptime(text, _TEXT_TIME, "us", error_is_null=True)
    if parsed.null_count != text.null_count:
        bad = _first(pc.and_(pc.is_valid(text), pc.is_null(parsed)))
        raise SchemaError(f"column {col.name}: not a datetime {text[bad].as_py()!r} at Row #{bad}")
    return parsed


def convert(
    arr: pa.Array, col: Column, stats: TransformStats, mp: pa.MemoryPool | None = None
) -> pa.Array:
    """One source column as the canonical column's type."""
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), col.arrow_type, memory_pool=mp)
    if pa.types.is_large_string(arr.type) or pa.types.is_dictionary(arr.type):
        arr = pc.cast(arr, pa.string(), memory_pool=mp)
    if col.codes is not None and (pa.types.is_string(arr.type) or col.kind is Kind.STR):
        return _codes(arr, col, stats)
    if col.kind is Kind.INT:
        return _to_int(arr, col, mp)
    if col.kind is Kind.TS:
        return _to_ts(arr, col, mp)
    if col.kind is Kind.FLOAT and pa.types.is_string(arr.type):
        arr = _blank_to_null(arr)
    return arr if arr.type == col.arrow_type else pc.cast(arr, col.arrow_type, memory_pool=mp)


def _count(mask: pa.Array) -> int:
    return int(pc.sum(mask).as_py() or 0)


_ZEROS: dict[pa.DataType, pa.Scalar] = {}


def _zero(type_: pa.DataType) -> pa.Scalar:
    if type_ not in _ZEROS:
        _ZEROS[type_] = _scalar(0, type_)
    return _ZEROS[type_]


def _far(arr: pa.Array) -> int:
    """Values pandas cannot hold as datetime64[ns]."""
    micros = arr.view(pa.int64())
    limit = _scalar(PANDAS_LIMIT_US, pa.int64())
    return _count(pc.greater(pc.abs(micros), limit))


def _measure(
    schema: DatasetSchema, cols: dict[str, pa.Array], bounds: Bounds | None, stats: TransformStats
) -> pa.Array:
    """The running stats of one conformed batch, and its out-of-month flag."""
    n = len(cols[schema.pickup])
    pickup, dropoff = cols[schema.pickup], cols[schema.dropoff]
    if bounds is None:
        flag = pa.nulls(n, pa.bool_())
    else:
        flag = pc.or_(pc.less(pickup, bounds[0]), pc.greater_equal(pickup, bounds[1]))
        stats.outside_month = (stats.outside_month or 0) + _count(flag)
    for name, count in (("distance", "negative_distance"), ("fare", "negative_fare")):
        column = getattr(schema, name)
        if column:
            value = cols[column]
            setattr(stats, count, getattr(stats, count) + _count(pc.less(value, _zero(value.type))))
    stats.negative_duration += _count(pc.less(dropoff, pickup))
    stats.far_timestamps += sum(
        _far(a) for c, a in cols.items() if schema.column(c).kind is Kind.TS
    )
    lo, hi = pc.min_max(pickup).values()
    if lo.is_valid:
        lo_s, hi_s = _iso(lo), _iso(hi)
        stats.pickup_min = min(stats.pickup_min or lo_s, lo_s)
        stats.pickup_max = max(stats.pickup_max or hi_s, hi_s)
    stats.rows += n
    return flag


def _iso(stamp: pa.Scalar) -> str:
    """ISO text of a timestamp, also past what Python's datetime holds (year 9999)."""
    try:
        return str(stamp.as_py().isoformat())
    except (ValueError, OverflowError):
        return f"{stamp.value} us since 1970"


_NULLS: dict[pa.DataType, pa.Array] = {}


def _nulls(n: int, arrow_type: pa.DataType) -> pa.Array:
    """A column the source lacks, as a slice of one shared all-null array per type.

    Yellow's coordinate columns are null in every month after 2010: a fresh array each
    batch held a data buffer per column and batch until its row group was written
    (13 MB of a csv.gz month's 53 MB peak in Arrow). Slices share one, read-only."""
    arr = _NULLS.get(arrow_type)
    if arr is None or len(arr) < n:
        arr = _NULLS[arrow_type] = pa.nulls(max(n, 1 << 16), arrow_type)
    return arr.slice(0, n)


def conform(
    batch: pa.RecordBatch,
    cmap: ColumnMap,
    bounds: Bounds | None,
    stats: TransformStats,
    *,
    memory_pool: pa.MemoryPool | None = None,
) -> pa.RecordBatch:
    """One batch onto the canonical schema, updating the running stats."""
    mp = memory_pool
    schema = cmap.schema
    source = cmap.canonical_to_source
    n = batch.num_rows
    cols: dict[str, pa.Array] = {}
    for col in schema.columns:
        raw = source.get(col.name)
        if raw is None:
            arr = _nulls(n, col.arrow_type)
        else:
            arr = convert(batch.column(raw), col, stats, mp)
        stats.nulls[col.name] = stats.nulls.get(col.name, 0) + arr.null_count
        cols[col.name] = arr
    flag = _measure(schema, cols, bounds, stats)
    return pa.RecordBatch.from_arrays([*cols.values(), flag], schema=schema.arrow)
