"""Synthetic official TLC parquet months (yellow, green, fhv, fhvhv) that drift like the real ones.

The real ``{dataset}_tripdata_{YYYY}-{MM}.parquet`` files cannot be downloaded here, and what
an ingester must survive is their drift, so these files reproduce it month by month as
:mod:`taxi_etl.devtools.tlc_eras` (the tables; docs/sources.md has them for users) lists it:
three yellow name eras with text datetimes and string codes (a few unmappable) before 2011
and a pandas ``__index_level_0__`` in 2010-02/03; all-null columns of Arrow type null;
int64/double flips of codes and fhv location ids; int32 ids, int64 codes and large_string
from 2023-02; ``Airport_fee``; ``cbd_congestion_fee`` and VendorID 6/7, payment_type 0,
RatecodeID 99 from 2025; ``request_source`` from 2026-06; fhv 2019-02's dropoff in 3019;
pickups outside the month; a tail of yellow/green rows without metadata.

What pyarrow 26 returns (the tests pin it):

* Timestamps are stored as TIMESTAMP(MICROS).  In ``NS_METADATA`` months (every month up to
  2024-10, as the real files) the embedded ``ARROW:schema`` says ``timestamp[ns]``, yet
  ``pq.read_schema``, ``ParquetFile.schema_arrow``, ``read_table`` and ``iter_batches`` all
  give ``timestamp[us]``: pyarrow restores time zones from that schema, not units (Polars
  does honour it and reads ns).  :func:`source_schema` gives what pyarrow reads;
  ``embedded=True`` what is embedded.
* The 3019 dropoff reads as ``timestamp[us]`` and survives ``to_pandas()`` (pandas >= 2 keeps
  ``datetime64[us]``); ``cast(pa.timestamp("ns"))`` and
  ``to_pandas(coerce_temporal_nanoseconds=True)`` raise ``ArrowInvalid`` (out of bounds).

:class:`Truth` is computed from the generator's own integer arrays, never by re-reading the
file: money and distances are integer hundredths / 100 (exact sums in :attr:`Truth.cents`),
lat/lon multiples of 2**-20 degree (double sums exact in any order).  Output is deterministic
for given arguments whatever `row_group_rows` is: every block of :data:`BLOCK_ROWS` rows has
its own seeded generator.  The footer is the real writer's (:func:`writer`, from
:data:`~taxi_etl.devtools.tlc_eras.WRITERS`): up to 2023-01 pandas metadata, Parquet format
1.0, gzip and the whole month in one row group; from 2023-02 format 2.6, zstd, no pandas
metadata and row groups of 1 Mi rows.  `created_by` names this pyarrow, not the TLC's.
Memory is bounded by one row group, so a whole-month group holds the month: peak RSS was
0.41 GB for 1 M fhvhv rows and 0.61 GB for 2 M, i.e. some 4 GB for a real 20 M-row month
(pass `row_group_rows` to bound it).  gzip is the slow part: 1 M fhvhv rows take 21 s of
CPU, 1 M yellow 12 s (snappy took a tenth).  Files are written beside the destination and
renamed into place.

This module is the public API, the writer and :class:`Truth`; a month's shape is in
:mod:`~taxi_etl.devtools.tlc_months`, its values in :mod:`~taxi_etl.devtools.tlc_values`
(built from :mod:`~taxi_etl.devtools.tlc_draws`).
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from taxi_etl import source
from taxi_etl.devtools import tlc_eras as E
from taxi_etl.devtools.tlc_draws import I64, SCALE, Col
from taxi_etl.devtools.tlc_eras import DATASETS, FIRST_MONTH, NS_METADATA, UNMAPPABLE
from taxi_etl.devtools.tlc_months import (
    ARROW,
    Writer,
    check,
    era,
    far_future_row,
    ns_metadata,
    outside_month_count,
    representative_months,
    source_schema,
    writer,
)
from taxi_etl.devtools.tlc_values import MonthValues as _Month
from taxi_etl.params import Source

# A plain list, so that linters see the names re-exported from tlc_eras and tlc_months.
__all__ = [
    "BLOCK_ROWS", "DATASETS", "FIRST_MONTH", "NS_METADATA", "ROW_GROUP_ROWS", "UNMAPPABLE",
    "Truth", "Writer", "era", "far_future_row", "file_name", "generate_month",
    "outside_month_count", "representative_months", "source_schema", "write_zone_lookup",
    "writer", "zone_rows",
]

#: Rows per row group from 2023-02 (pyarrow >= 13's default); earlier months are one row
#: group each (:func:`writer`).
ROW_GROUP_ROWS = 1 << 20
#: Rows generated per step, each block with its own seeded generator (part of the output's
#: identity: changing it changes the bytes for a given seed).
BLOCK_ROWS = 1 << 17

_NS_LIMIT_US = (1 << 63) // 1000  # |µs since 1970| beyond this overflows timestamp[ns]


@dataclass(frozen=True)
class Truth:
    """What :func:`generate_month` wrote, keyed by the file's own column names.

    `sums`: per numeric column the sum of its non-null values (0 for a null-typed column),
    an int for integer values, else the double nearest the exact sum; `cents`: the exact
    sums of money/distance columns in hundredths.  `value_counts`: non-null values of the
    string code columns (and of 2010's text ``rate_code``); `unmapped`: how many of them are
    :data:`UNMAPPABLE`.  `ns_out_of_range`: per timestamp column, values outside pandas'
    nanosecond range.  `timestamp_unit`: what the embedded ARROW:schema says (but for the
    columns of ``US_IN_NS_MONTH``, µs); `writer`: :attr:`Writer.name`.
    """

    dataset: str
    year: int
    month: int
    era: str
    writer: str
    rows: int
    row_groups: int
    timestamp_unit: str
    sums: dict[str, int | float]
    cents: dict[str, int]
    nulls: dict[str, int]
    value_counts: dict[str, dict[str, int]]
    unmapped: dict[str, int]
    outside_month: int
    ns_out_of_range: dict[str, int]

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def file_name(dataset: str, year: int, month: int) -> str:
    """Official file name, e.g. ``yellow_tripdata_2024-01.parquet`` (``source`` spells it)."""
    check(dataset, year, month)
    return source.file_name(dataset, year, month, Source.tlc)


def generate_month(
    path: Path, dataset: str, year: int, month: int, rows: int, *, seed: int = 0,
    row_group_rows: int | None = None,
) -> Truth:
    """Write one month at `path` as the TLC's writer did (one row group for the whole
    month up to 2023-01, :data:`ROW_GROUP_ROWS` after; `row_group_rows` overrides) and
    return what was written.  Nothing appears under `path` unless the whole file was."""
    check(dataset, year, month)
    group_rows = 1 if row_group_rows is None else row_group_rows
    for name, value, low in (("rows", rows, 0), ("row_group_rows", group_rows, 1)):
        if value < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    how = writer(dataset, year, month)
    group = row_group_rows or how.row_group_rows or max(rows, 1)
    schema = source_schema(dataset, year, month, embedded=True)
    if how.pandas is not None:
        schema = schema.with_metadata({b"pandas": _pandas_metadata(schema, how.pandas)})
    ns = {f.name for f in schema if f.type == pa.timestamp("ns")}
    gen = _Month(dataset, year, month, rows, seed)
    tally = _Tally(gen.types)
    # An ns-typed Arrow column written as TIMESTAMP(MICROS): the embedded schema keeps ns.
    options = {"coerce_timestamps": "us", "allow_truncated_timestamps": True, "store_schema": True}
    options |= {"compression": how.compression, "version": how.format_version}
    with _replacing(Path(path)) as tmp, pq.ParquetWriter(tmp, schema, **options) as out:
        pending: list[pa.Table] = []
        for a in range(0, rows, BLOCK_ROWS):
            b = min(a + BLOCK_ROWS, rows)
            cols = gen.block(a // BLOCK_ROWS, a, b)
            arrays = [tally.emit(f.name, cols[f.name], f.name in ns) for f in schema]
            pending.append(pa.table(arrays, schema=schema))
            while pending and (sum(len(t) for t in pending) >= group or b == rows):
                table = pa.concat_tables(pending)
                out.write_table(table.slice(0, group), group)
                pending = [table.slice(group)] if len(table) > group else []
    unit = "ns" if ns_metadata(dataset, (year, month)) else "us"
    return tally.truth(gen, how.name, -(-rows // group), unit)


def _pandas_metadata(schema: pa.Schema, versions: tuple[str, str]) -> bytes:
    """The ``pandas`` key pandas 1.2 wrote through pyarrow 7/8, as in the real files: no
    index stored, but yellow 2010-02/03's leaked ``__index_level_0__``; an all-null column
    is ``empty``; a µs column was Python datetimes (``object``)."""
    kinds = {"int64": ("int64", "int64"), "int32": ("int32", "int32")}
    kinds |= {"double": ("float64", "float64"), "string": ("unicode", "object")}
    kinds |= {"null": ("empty", "object"), "timestamp[us]": ("datetime", "object")}
    kinds |= {"timestamp[ns]": ("datetime", "datetime64[ns]")}
    index = [f.name for f in schema if f.name.startswith("__index_level_")]
    cols: list[dict[str, str | None]] = []
    for f in schema:
        pandas_type, numpy_type = kinds[str(f.type)]
        name = None if f.name in index else f.name
        cols.append({"name": name, "field_name": f.name, "pandas_type": pandas_type,
                     "numpy_type": numpy_type, "metadata": None})
    creator = {"library": "pyarrow", "version": versions[1]}
    meta = {"index_columns": index, "column_indexes": [], "columns": cols, "creator": creator}
    meta["pandas_version"] = versions[0]
    return json.dumps(meta).encode()


@contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """A temp file beside `path`, renamed onto it only if the block succeeds, so a mirror
    serving the directory never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; mirrors and containers must read it
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def zone_rows(revision: str) -> list[tuple[int, str, str, str]]:
    """``taxi_zone_lookup.csv`` rows in a revision: ``dtc-2022`` (the DTC mirror's copy) or
    ``tlc-2024`` (TLC's file of 2024-02-22), which differ only in rows 264 and 265.  Ids 1,
    132 and 138 are EWR, JFK and LaGuardia as in the real file; other names are synthetic."""
    if revision not in E.UNKNOWN_ZONES:
        raise ValueError(f"revision must be one of {sorted(E.UNKNOWN_ZONES)}, got {revision!r}")
    zones = []
    for borough, count, stems in E.BOROUGHS:
        s = [w.replace("_", " ") for w in stems.split()]
        forms = ("{}", "{} North", "{} South", "{}/{}", "{} East", "{} West")
        for i in range(count):
            name = forms[i // len(s)].format(s[i % len(s)], s[(i + 1) % len(s)])
            yellow = borough == "Manhattan" and i % len(s) < len(s) - 3
            zones.append((name, borough, "Yellow Zone" if yellow else "Boro Zone"))
    zones.sort()
    zones.insert(130, ("JFK Airport", "Queens", "Airports"))  # ids are index + 2
    zones.insert(136, ("LaGuardia Airport", "Queens", "Airports"))
    rows = [(1, "EWR", "Newark Airport", "EWR")]
    rows += [(i, borough, name, service) for i, (name, borough, service) in enumerate(zones, 2)]
    return rows + [(264 + i, b, z, "N/A") for i, (b, z) in enumerate(E.UNKNOWN_ZONES[revision])]


def write_zone_lookup(path: Path, revision: str) -> list[tuple[int, str, str, str]]:
    """Write :func:`zone_rows` as ``taxi_zone_lookup.csv``, quoted like the real file (every
    text field in double quotes, ids bare; beware pandas reads "NA" and "N/A" as NaN)."""
    rows = zone_rows(revision)
    with _replacing(Path(path)) as tmp, open(tmp, "w", newline="", encoding="ascii") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        writer.writerow(["LocationID", "Borough", "Zone", "service_zone"])
        writer.writerows(rows)
    return rows


class _Tally:
    """The truth so far, counted from a month's integer columns as they are typed for the
    writer."""

    def __init__(self, types: dict[str, str]) -> None:
        self.types = types
        self.sums: dict[str, tuple[str, int]] = {}
        self.nulls = dict.fromkeys(types, 0)
        self.counts: dict[str, dict[str, int]] = {}
        self.unmapped: dict[str, int] = {}
        self.ns_out: dict[str, int] = {}

    def emit(self, name: str, col: Col, ns: bool) -> pa.Array:
        """The column in this month's type, once its share of the truth is counted."""
        t, n, mask = self.types[name], len(col.v), col.null
        if t == "null":
            self.nulls[name] += n
            if col.unit in SCALE:
                self._add(name, col.unit, 0)
            return pa.nulls(n)
        valid = col.v if mask is None else col.v[~mask]
        self.nulls[name] += n - len(valid)
        if col.unit == "us":
            far = int(np.count_nonzero(np.abs(valid) > _NS_LIMIT_US))
            self.ns_out[name] = self.ns_out.get(name, 0) + far
            if t == "str":  # 2009-2010: "2009-01-04 02:52:00"
                return pa.array(col.v // 1_000_000, pa.timestamp("s"), mask=mask).cast(pa.string())
            if ns and far:
                raise AssertionError(f"{name}: a value beyond timestamp[ns] in an ns-typed file")
            unit = "ns" if ns else "us"
            return pa.array(col.v * 1000 if ns else col.v, pa.timestamp(unit), mask=mask)
        if col.unit == "label":
            if col.counted:
                self._count(name, valid, col.labels)
            return pa.array(col.labels, ARROW[t]).take(pa.array(col.v, mask=mask))
        if t in ("str", "lstr"):  # an integer code written as text (2010 rate_code)
            self._count(name, valid, ())
            return pa.array(col.v, mask=mask).cast(ARROW[t])
        self._add(name, col.unit, int(valid.sum()))
        values = col.v / SCALE[col.unit] if t == "f64" else col.v
        return pa.array(values, ARROW[t], mask=mask)

    def _add(self, name: str, unit: str, total: int) -> None:
        self.sums[name] = (unit, self.sums.get(name, (unit, 0))[1] + total)

    def _count(self, name: str, valid: I64, labels: tuple[str, ...]) -> None:
        counts = self.counts.setdefault(name, {})
        values, n = np.unique(valid, return_counts=True)
        for value, k in zip(values.tolist(), n.tolist(), strict=True):
            key = labels[value] if labels else str(value)
            counts[key] = counts.get(key, 0) + k
        if set(labels) & set(UNMAPPABLE):
            self.unmapped[name] = sum(counts.get(u, 0) for u in UNMAPPABLE)

    def truth(self, gen: _Month, writer: str, row_groups: int, unit: str) -> Truth:
        """What was written: these counts and the month's own (rows, outside pickups)."""
        sums = {c: s if u == "int" else s / SCALE[u] for c, (u, s) in self.sums.items()}
        cents = {c: s for c, (u, s) in self.sums.items() if u == "cents"}
        counts = {c: dict(sorted(v.items())) for c, v in self.counts.items()}
        head = (gen.dataset, *gen.ym, era(gen.dataset, *gen.ym), writer, gen.rows, row_groups, unit)
        rest = (self.nulls, counts, self.unmapped, gen.outside, self.ns_out)
        return Truth(*head, sums, cents, *rest)

