"""One source column onto its canonical column's type, and what the type cannot hold.

Whatever a file wrote is cast to the column's one type: int32, int64 or whole doubles
to int64 (``1.5`` in an id fails the month, naming the column and row), text codes
through the code tables (numbers written as text pass as numbers), text datetimes
parsed with fractions of up to nine digits, any timestamp unit to microseconds,
``large_string`` to ``string``, null-typed empty columns to nulls of the column's type.

What the canonical type cannot hold is returned beside the cast column as the
source's own text, on the rows it concerns (null elsewhere), to be kept beside the
partition (``extra``): a code the data dictionary has no value for (2009's vendor
``DDS``), and a timestamp's digits below the microsecond (the fraction is truncated to
six digits, as a cast of nanoseconds to microseconds does).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc

from taxi_etl.schemas import Column, Kind, SchemaError


class TransformStats(Protocol):
    """What a cast counts (``conform.TransformStats`` has it)."""

    unmapped: dict[str, dict[str, int]]
    sub_microsecond: int

#: A decimal number as text: what may stand in an int or code column of a csv file.
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
#: A fraction of a second past the microsecond: Arrow parses at most six digits.
_SUB_MICRO = r"(\.\d{6})\d+"
_NONZERO_SUB_MICRO = r"\.\d{6}0*[1-9]"


def scalar(value: int | float, type_: pa.DataType) -> pa.Scalar:
    """A scalar built from its bytes: ``pa.scalar`` would import pandas (~50 MB, 0.2 s)
    just to check the value's type, in a process that otherwise never needs it."""
    fmt = "<d" if pa.types.is_floating(type_) else "<q"
    return pa.Array.from_buffers(type_, 1, [None, pa.py_buffer(struct.pack(fmt, value))])[0]


def from_python(values: Sequence[str | int]) -> pa.Array:
    """A string or int64 array built from its buffers (see scalar on why)."""
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


_EMPTY = from_python([""])[0]


def first(mask: pa.Array) -> int:
    return int(pc.index(pc.fill_null(mask, False), True).as_py())


def _trimmed(arr: pa.Array) -> pa.Array:
    """Text with surrounding blanks removed and blank values null."""
    text = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(text, _EMPTY), pa.nulls(1, pa.string())[0], text)


def _only(arr: pa.Array, mask: pa.Array) -> pa.Array:
    """`arr` where `mask` holds, null elsewhere: what is kept beside the partition."""
    return pc.if_else(pc.fill_null(mask, False), arr, pa.nulls(1, arr.type)[0])


def _exact_int(arr: pa.Array, name: str, mp: pa.MemoryPool | None) -> pa.Array:
    """float -> int64 exactly: `1.0` becomes 1, `1.5` is an error, not a truncation."""
    try:
        return pc.cast(arr, pa.int64(), safe=True, memory_pool=mp)
    except pa.ArrowInvalid:
        bad = first(pc.not_equal(arr, pc.trunc(arr)))
        raise SchemaError(
            f"column {name}: non-integer value {arr[bad].as_py()} at Row #{bad}"
        ) from None


def _number_text(text: pa.Array, col: Column, mp: pa.MemoryPool | None) -> pa.Array:
    """Numbers written as text (already trimmed) as int64, exactly."""
    try:
        return pc.cast(text, pa.int64(), memory_pool=mp)
    except pa.ArrowInvalid:
        try:
            return _exact_int(pc.cast(text, pa.float64()), col.name, mp)
        except pa.ArrowInvalid:
            bad = first(pc.invert(pc.match_substring_regex(text, _NUMBER)))
            raise SchemaError(
                f"column {col.name}: not a number {text[bad].as_py()!r} at Row #{bad}"
            ) from None


_CODE_ARRAYS: dict[tuple[int, str], tuple[pa.Array, pa.Array]] = {}


def _code_arrays(col: Column) -> tuple[pa.Array, pa.Array]:
    """A code table as (keys, values) arrays, built once per table and type:
    ``pa.array`` on Python objects checks for pandas, an import this process avoids."""
    table = col.codes or {}
    key = (id(table), col.kind.value)
    if key not in _CODE_ARRAYS:
        values = [str(v) if col.kind is Kind.STR else int(v) for v in table.values()]
        _CODE_ARRAYS[key] = from_python(list(table)), from_python(values)
    return _CODE_ARRAYS[key]


def _codes(
    arr: pa.Array, col: Column, stats: TransformStats, mp: pa.MemoryPool | None
) -> tuple[pa.Array, pa.Array | None]:
    """Text codes through the code table, trimmed and in any case. In an integer column
    a number written as text is that number (a csv file whose ``VendorID`` is ``1`` in
    one row and ``CMT`` in another is read as text); anything else the table lacks
    becomes null, counted by value and kept as text."""
    if not pa.types.is_string(arr.type):
        if pa.types.is_floating(arr.type):
            arr = _exact_int(arr, col.name, mp)
        arr = pc.cast(arr, pa.string())
    text = _trimmed(arr)
    keys, values = _code_arrays(col)
    index = pc.index_in(pc.utf8_upper(text), value_set=keys)
    mapped = values.take(index)
    rest = pc.and_(pc.is_null(index), pc.is_valid(text))
    if col.kind is Kind.INT and pc.any(rest).as_py():
        numeric = pc.and_(rest, pc.match_substring_regex(text, _NUMBER))
        if pc.any(numeric).as_py():
            numbers = _number_text(_only(text, numeric), col, mp)
            mapped = pc.coalesce(mapped, numbers)
            rest = pc.and_(rest, pc.invert(numeric))
    if not pc.any(rest).as_py():
        return mapped, None
    missed = arr.filter(rest)
    counts = stats.unmapped.setdefault(col.name, {})
    for entry in pc.value_counts(missed).to_pylist():
        counts[entry["values"]] = counts.get(entry["values"], 0) + entry["counts"]
    return mapped, _only(arr, rest)


def _to_int(arr: pa.Array, col: Column, mp: pa.MemoryPool | None) -> pa.Array:
    if pa.types.is_integer(arr.type):
        return pc.cast(arr, pa.int64(), memory_pool=mp)
    if pa.types.is_floating(arr.type):
        return _exact_int(arr, col.name, mp)
    return _number_text(_trimmed(arr), col, mp)


def _to_ts(
    arr: pa.Array, col: Column, stats: TransformStats, mp: pa.MemoryPool | None
) -> tuple[pa.Array, pa.Array | None]:
    """Timestamps in microseconds. Text is ISO 8601 (``2009-01-04 02:52:00``), with a
    fraction of up to nine digits (a file written from R): beyond six, the digits are
    truncated, as a cast from nanoseconds would, and the text kept where they were not
    zero. Years outside pandas' range (3019) parse as any other."""
    if pa.types.is_timestamp(arr.type):
        return pc.cast(arr, col.arrow_type, memory_pool=mp), None
    text = _trimmed(pc.cast(arr, pa.string()))
    kept = None
    if pc.any(pc.match_substring_regex(text, _SUB_MICRO)).as_py():
        lost = pc.match_substring_regex(text, _NONZERO_SUB_MICRO)
        count = int(pc.sum(lost).as_py() or 0)
        if count:
            stats.sub_microsecond += count
            kept = _only(arr, lost)
        text = pc.replace_substring_regex(text, _SUB_MICRO, r"\1")
    try:
        return pc.cast(text, col.arrow_type, memory_pool=mp), kept
    except pa.ArrowInvalid:
        parsed = pc.strptime(text, "%Y-%m-%d %H:%M:%S", "us", error_is_null=True)
        bad = first(pc.and_(pc.is_valid(text), pc.is_null(parsed)))
        if bad < 0:  # every value has a form strptime knows; the cast's error stands
            raise
        raise SchemaError(
            f"column {col.name}: not a datetime {text[bad].as_py()!r} at Row #{bad}"
        ) from None


def cast(
    arr: pa.Array, col: Column, stats: TransformStats, mp: pa.MemoryPool | None = None
) -> tuple[pa.Array, pa.Array | None]:
    """One source column as the canonical column's type, and the source's values the
    type cannot hold (None when there are none)."""
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), col.arrow_type, memory_pool=mp), None
    if pa.types.is_large_string(arr.type) or pa.types.is_dictionary(arr.type):
        arr = pc.cast(arr, pa.string(), memory_pool=mp)
    if col.codes is not None and (pa.types.is_string(arr.type) or col.kind is Kind.STR):
        return _codes(arr, col, stats, mp)
    if col.kind is Kind.INT:
        return _to_int(arr, col, mp), None
    if col.kind is Kind.TS:
        return _to_ts(arr, col, stats, mp)
    if pa.types.is_string(arr.type) and col.kind is Kind.FLOAT:
        text = _trimmed(arr)
        try:
            return pc.cast(text, col.arrow_type, memory_pool=mp), None
        except pa.ArrowInvalid:
            bad = first(pc.invert(pc.match_substring_regex(text, _NUMBER)))
            where = f" {text[bad].as_py()!r} at Row #{bad}" if bad >= 0 else ""
            raise SchemaError(f"column {col.name}: not a number{where}") from None
    if arr.type == col.arrow_type:
        return arr, None
    return pc.cast(arr, col.arrow_type, memory_pool=mp), None
