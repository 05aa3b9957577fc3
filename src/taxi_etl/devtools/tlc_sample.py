"""Synthetic official TLC parquet months (yellow, green, fhv, fhvhv) that drift like the real ones.

The real ``{dataset}_tripdata_{YYYY}-{MM}.parquet`` files cannot be downloaded here, and what
an ingester must survive is their drift, so these files reproduce it month by month as
:mod:`taxi_etl.devtools.tlc_eras` (the tables, from ``shared/tlc/README.md`` §2) lists it:
three yellow name eras with text datetimes and string codes (a few unmappable) before 2011
and a pandas ``__index_level_0__`` in 2010-02/03; all-null columns of Arrow type null;
int64/double flips of codes and fhv location ids; int32 ids, int64 codes and large_string
from 2023-02; ``Airport_fee``; ``cbd_congestion_fee`` and VendorID 6/7, payment_type 0,
RatecodeID 99 from 2025; ``request_source`` from 2026-06; fhv 2019-02's dropoff in 3019;
pickups outside the month; a tail of yellow/green rows without metadata.

What pyarrow 26 returns (the tests pin it):

* Timestamps are stored as TIMESTAMP(MICROS).  In ``NS_METADATA`` months the embedded
  ``ARROW:schema`` says ``timestamp[ns]``, yet ``pq.read_schema``, ``ParquetFile.schema_arrow``,
  ``read_table`` and ``iter_batches`` all give ``timestamp[us]``: pyarrow restores time zones
  from that schema, not units (Polars does honour it and reads ns).  :func:`source_schema`
  gives what pyarrow reads; ``embedded=True`` what is embedded.
* The 3019 dropoff reads as ``timestamp[us]`` and survives ``to_pandas()`` (pandas >= 2 keeps
  ``datetime64[us]``); ``cast(pa.timestamp("ns"))`` and
  ``to_pandas(coerce_temporal_nanoseconds=True)`` raise ``ArrowInvalid`` (out of bounds).

:class:`Truth` is computed from the generator's own integer arrays, never by re-reading the
file: money and distances are integer hundredths / 100 (exact sums in :attr:`Truth.cents`),
lat/lon multiples of 2**-20 degree (double sums exact in any order).  Output is deterministic
for given arguments whatever `row_group_rows` is: every block of :data:`BLOCK_ROWS` rows has
its own seeded generator.  Memory is bounded by one row group (peak RSS about 620 MB for
fhvhv at the default 1 Mi rows).  Files are snappy-compressed like the real ones, written
beside the destination and renamed into place.  Measured on 2 cores shared with other work
(pyarrow 26, numpy 2.4): a 4 M-row fhvhv month, 125 MB, takes 6 s of CPU (19 s wall at load
average 8); a 1 M-row yellow 2009 month, 34 MB, 1.7 s of CPU (4 s wall).
"""

from __future__ import annotations

import calendar
import csv
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from taxi_etl.devtools import tlc_eras as E
from taxi_etl.devtools.tlc_eras import DATASETS, FIRST_MONTH, NS_METADATA, UNMAPPABLE, Month

__all__ = [
    *("BLOCK_ROWS", "DATASETS", "FIRST_MONTH", "NS_METADATA", "ROW_GROUP_ROWS", "UNMAPPABLE"),
    *("Truth", "era", "far_future_row", "file_name", "generate_month", "outside_month_count"),
    *("representative_months", "source_schema", "write_zone_lookup", "zone_rows"),
]

#: Rows per row group: pyarrow's default, which the real files were written with.
ROW_GROUP_ROWS = 1 << 20
#: Rows generated per step, each block with its own seeded generator (part of the output's
#: identity: changing it changes the bytes for a given seed).
BLOCK_ROWS = 1 << 17

_I = npt.NDArray[np.int64]
_B = npt.NDArray[np.bool_]
_TAIL_PERCENT = 3  # yellow/green 2011+: trailing rows without vendor/passenger/code metadata
_OUTSIDE_EVERY = 2000
_UNMAPPABLE_EVERY = 1000  # rows 500, 1500, ... get vendor XYZ; rows 501, 1501, ... payment ???
_FINE = 1 << 20  # lat/lon unit: 2**-20 degree
_NS_LIMIT_US = (1 << 63) // 1000  # |µs since 1970| beyond this overflows timestamp[ns]
_SCALE = {"int": 1, "cents": 100, "fine": _FINE}
_ARROW = {"i64": pa.int64(), "i32": pa.int32(), "f64": pa.float64(), "str": pa.string()}
_ARROW |= {"lstr": pa.large_string(), "null": pa.null()}
_LUT = 1 << 16  # categorical draws go through a table of this many entries
# Relative trip volume per hour of day (quiet at 5am, peak at 6pm), as in taxi_etl.sample.
_HOURLY = [3, 2.2, 1.6, 1.1, 0.9, 1, 1.8, 3, 3.8, 4, 4.1, 4.3, 4.6, 4.7, 4.9, 5, 5.1, 5.6, 6]
_DAY_X = np.concatenate([[0.0], np.cumsum([*_HOURLY, 5.7, 5, 4.8, 4.4, 3.7])])
_DAY_X /= _DAY_X[-1]


@dataclass(frozen=True)
class Truth:
    """What :func:`generate_month` wrote, keyed by the file's own column names.

    `sums`: per numeric column the sum of its non-null values (0 for a null-typed column),
    an int for integer values, else the double nearest the exact sum; `cents`: the exact
    sums of money/distance columns in hundredths.  `value_counts`: non-null values of the
    string code columns (and of 2010's text ``rate_code``); `unmapped`: how many of them are
    :data:`UNMAPPABLE`.  `ns_out_of_range`: per timestamp column, values outside pandas'
    nanosecond range.  `timestamp_unit`: what the embedded ARROW:schema says.
    """

    dataset: str
    year: int
    month: int
    era: str
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
    """Official file name, e.g. ``yellow_tripdata_2024-01.parquet``."""
    _check(dataset, year, month)
    return f"{dataset}_tripdata_{year}-{month:02}.parquet"


def era(dataset: str, year: int, month: int) -> str:
    """Stable name of a month's column-name era, e.g. ``yellow-2011``."""
    _check(dataset, year, month)
    return [name for first, name, _ in E.ERAS[dataset] if first <= (year, month)][-1]


def source_schema(dataset: str, year: int, month: int, *, embedded: bool = False) -> pa.Schema:
    """The real file's schema as pyarrow reads it or, with `embedded`, as its ARROW:schema
    says (``timestamp[ns]`` in ``NS_METADATA`` months)."""
    unit = "ns" if embedded and _ns_metadata(dataset, (year, month)) else "us"
    columns = _columns(dataset, year, month)
    return pa.schema([(c, pa.timestamp(unit) if t == "ts" else _ARROW[t]) for c, t in columns])


def representative_months(dataset: str) -> list[tuple[int, int]]:
    """Each era's first month, every month where a column's type flips, both ends of the
    ns-metadata window and 2019-02 (fhv's 3019 dropoff; the congestion surcharge's start),
    so that a test over them covers every quirk."""
    _check(dataset, *FIRST_MONTH[dataset])
    months = {first for first, _, _ in E.ERAS[dataset]}
    for history in E.TYPES[dataset].values():
        months |= {(int(s[:4]), int(s[5:7])) for s in history.split()[1:]}
    first, (year, month) = NS_METADATA[dataset]
    months |= {first, (year + month // 12, month % 12 + 1), (2019, 2)}
    return sorted(m for m in months if m >= FIRST_MONTH[dataset])


def outside_month_count(rows: int) -> int:
    """Rows whose pickup lies outside the file's month (about 0.05 %): row 0 in an earlier
    month, the others alternating between an earlier month and the next."""
    return 0 if rows < 2 else max(1, rows // _OUTSIDE_EVERY)


def far_future_row(dataset: str, year: int, month: int, rows: int) -> int | None:
    """The row whose dropoff is in the year 3019 (its pickup is in the month): only in fhv
    2019-02, like the real file."""
    if (dataset, year, month) != ("fhv", 2019, 2) or rows < 1:
        return None
    row = rows // 2
    return row + 1 if row in _outside_rows(rows).tolist() else row  # those are 2000 apart


def _outside_rows(rows: int) -> _I:
    n = outside_month_count(rows)
    return np.arange(n, dtype=np.int64) * rows // max(n, 1)


def generate_month(
    path: Path, dataset: str, year: int, month: int, rows: int, *, seed: int = 0,
    row_group_rows: int = ROW_GROUP_ROWS,
) -> Truth:
    """Write one month at `path`, one row group per `row_group_rows` rows, and return what
    was written.  Nothing appears under `path` unless the whole file was written."""
    _check(dataset, year, month)
    for name, value, low in (("rows", rows, 0), ("row_group_rows", row_group_rows, 1)):
        if value < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    schema = source_schema(dataset, year, month, embedded=True)
    ns = _ns_metadata(dataset, (year, month))
    gen = _Month(dataset, year, month, rows, seed)
    # An ns-typed Arrow column written as TIMESTAMP(MICROS): the embedded schema keeps ns.
    options = {"coerce_timestamps": "us", "allow_truncated_timestamps": True, "store_schema": True}
    options["compression"] = "snappy"  # as the real files
    with _replacing(Path(path)) as tmp, pq.ParquetWriter(tmp, schema, **options) as writer:
        pending: list[pa.Table] = []
        for a in range(0, rows, BLOCK_ROWS):
            b = min(a + BLOCK_ROWS, rows)
            cols = gen.block(a // BLOCK_ROWS, a, b)
            pending.append(pa.table([gen.emit(f.name, cols[f.name], ns) for f in schema], schema))
            while pending and (sum(len(t) for t in pending) >= row_group_rows or b == rows):
                table = pa.concat_tables(pending)
                writer.write_table(table.slice(0, row_group_rows), row_group_rows)
                pending = [table.slice(row_group_rows)] if len(table) > row_group_rows else []
    return gen.truth(-(-rows // row_group_rows), "ns" if ns else "us")


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


def _check(dataset: str, year: int, month: int) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 1..12, got {month}")
    first = FIRST_MONTH[dataset]
    if (year, month) < first:
        raise ValueError(f"{dataset} starts at {first[0]}-{first[1]:02}, got {year}-{month:02}")


def _type_at(history: str, ym: Month) -> str:
    code, *steps = history.split()
    for step in steps:
        when, new = step.split(":")
        code = new if (int(when[:4]), int(when[5:7])) <= ym else code
    return code


@lru_cache(maxsize=512)
def _columns(dataset: str, year: int, month: int) -> tuple[tuple[str, str], ...]:
    """(name, type code) of every column of a month, in file order."""
    _check(dataset, year, month)
    names = [cols for first, _, cols in E.ERAS[dataset] if first <= (year, month)][-1].split()
    only = E.ONLY_IN.get(dataset, {})
    names = [c for c in names if c not in only or only[c][0] <= (year, month) <= only[c][1]]
    return tuple((c, _type_at(E.TYPES[dataset].get(c, "f64"), (year, month))) for c in names)


def _ns_metadata(dataset: str, ym: Month) -> bool:
    _check(dataset, *ym)
    return NS_METADATA[dataset][0] <= ym <= NS_METADATA[dataset][1]


def _epoch(year: int, month: int) -> int:
    return calendar.timegm((year + (month - 1) // 12, (month - 1) % 12 + 1, 1, 0, 0, 0))


@lru_cache(maxsize=64)
def _lut(values: tuple[int, ...], weights: tuple[float, ...]) -> _I:
    """Categorical distribution as a lookup table: one integer draw per value, far faster
    than searchsorted on uniforms; weights are rounded to 1/65536."""
    cdf = np.cumsum(weights) / np.sum(weights)
    i = np.searchsorted(cdf, (np.arange(_LUT) + 0.5) / _LUT, side="right")
    return np.asarray(values, dtype=np.int64)[np.minimum(i, len(values) - 1)]


def _pick(rng: np.random.Generator, values: Sequence[int], weights: Sequence[float], n: int) -> _I:
    return _lut(tuple(values), tuple(float(w) for w in weights))[rng.integers(0, _LUT, n)]


@lru_cache(maxsize=1)
def _zone_weights() -> tuple[float, ...]:
    """Skewed popularity of the 265 zones (a few dominate), fixed across seeds, as sample.py."""
    rng = np.random.default_rng(265)
    weights = (1.0 / np.arange(1, 264) ** 1.05)[rng.permutation(263)]
    return (*weights.tolist(), weights.max() * 0.3, weights.max() * 0.1)


@lru_cache(maxsize=1)
def _fhv_bases() -> tuple[tuple[str, ...], tuple[float, ...]]:
    rng = np.random.default_rng(13)
    numbers = np.unique(np.concatenate([[13, 14, 1, 2], rng.integers(1, 3500, 400)]))
    weights = (1.0 / np.arange(1, len(numbers) + 1) ** 1.2)[rng.permutation(len(numbers))]
    return tuple(f"B{n:05}" for n in numbers), tuple(weights.tolist())


def _durations(rng: np.random.Generator, n: int, median: float) -> _I:
    return np.clip(rng.lognormal(np.log(median), 0.7, n), 1, 4 * 3600).astype(np.int64)


def _yes(rng: np.random.Generator, p: float, n: int) -> _I:
    return (rng.random(n) < p).astype(np.int64)


@dataclass
class _Col:
    """A column as integers: plain ints, hundredths ("cents"), 2**-20 degrees ("fine"),
    epoch microseconds ("us") or indices into `labels` ("label"); `counted` code columns
    go into Truth.value_counts."""

    v: _I
    unit: str = "int"
    null: _B | None = None
    labels: tuple[str, ...] = ()
    counted: bool = False


def _lab(labels: tuple[str, ...], i: _I, null: _B | None = None, counted: bool = False) -> _Col:
    return _Col(i, "label", null, labels, counted)


def _us(seconds: _I, null: _B | None = None) -> _Col:
    return _Col(seconds * 1_000_000, "us", null)


def _cents(**columns: _I) -> dict[str, _Col]:
    return {name: _Col(v.astype(np.int64), "cents") for name, v in columns.items()}


_RENAME_2009 = dict(zip(*(E.ERAS["yellow"][i][2].split() for i in (1, 0)), strict=False))


class _Month:
    """Everything needed to produce any block of one month, and the truth so far."""

    def __init__(self, dataset: str, year: int, month: int, rows: int, seed: int) -> None:
        self.dataset, self.ym, self.rows, self.seed = dataset, (year, month), rows, seed
        self.types = dict(_columns(dataset, year, month))
        self.start, self.end = _epoch(year, month), _epoch(year, month + 1)
        taxi = dataset in ("yellow", "green") and year >= 2011
        self.n_tail = rows * _TAIL_PERCENT // 100 if taxi else 0
        self.outside_rows = _outside_rows(rows)
        self.far_row = far_future_row(dataset, year, month, rows)
        self.sums: dict[str, tuple[str, int]] = {}
        self.nulls = dict.fromkeys(self.types, 0)
        self.counts: dict[str, dict[str, int]] = {}
        self.unmapped: dict[str, int] = {}
        self.ns_out: dict[str, int] = {}
        self.outside = 0

    def block(self, index: int, a: int, b: int) -> dict[str, _Col]:
        key = [self.seed, DATASETS.index(self.dataset), *self.ym, index]
        rng = np.random.default_rng(np.random.SeedSequence(key))
        make = {"fhv": self._fhv, "fhvhv": self._fhvhv}.get(self.dataset, self._taxi)
        return make(rng, a, b)

    def emit(self, name: str, col: _Col, ns: bool) -> pa.Array:
        """The column in this month's type, once its share of the truth is counted."""
        t, n, mask = self.types[name], len(col.v), col.null
        if t == "null":
            self.nulls[name] += n
            if col.unit in _SCALE:
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
            return pa.array(col.labels, _ARROW[t]).take(pa.array(col.v, mask=mask))
        if t in ("str", "lstr"):  # an integer code written as text (2010 rate_code)
            self._count(name, valid, ())
            return pa.array(col.v, mask=mask).cast(_ARROW[t])
        self._add(name, col.unit, int(valid.sum()))
        values = col.v / _SCALE[col.unit] if t == "f64" else col.v
        return pa.array(values, _ARROW[t], mask=mask)

    def _add(self, name: str, unit: str, total: int) -> None:
        self.sums[name] = (unit, self.sums.get(name, (unit, 0))[1] + total)

    def _count(self, name: str, valid: _I, labels: tuple[str, ...]) -> None:
        counts = self.counts.setdefault(name, {})
        values, n = np.unique(valid, return_counts=True)
        for value, k in zip(values.tolist(), n.tolist(), strict=True):
            key = labels[value] if labels else str(value)
            counts[key] = counts.get(key, 0) + k
        if set(labels) & set(UNMAPPABLE):
            self.unmapped[name] = sum(counts.get(u, 0) for u in UNMAPPABLE)

    def truth(self, row_groups: int, unit: str) -> Truth:
        sums = {c: s if u == "int" else s / _SCALE[u] for c, (u, s) in self.sums.items()}
        cents = {c: s for c, (u, s) in self.sums.items() if u == "cents"}
        counts = {c: dict(sorted(v.items())) for c, v in self.counts.items()}
        head = (self.dataset, *self.ym, era(self.dataset, *self.ym), self.rows, row_groups, unit)
        rest = (self.nulls, counts, self.unmapped, self.outside, self.ns_out)
        return Truth(*head, sums, cents, *rest)

    def _pickups(self, rng: np.random.Generator, a: int, b: int, tail: _B | None = None) -> _I:
        """Sorted pickups (epoch s) over the month with a daily rhythm, and again over it
        for the tail (a separately appended extract in the real files); `outside_rows`
        land in an earlier month or the next one."""
        n, idx = b - a, np.arange(a, b, dtype=np.int64)
        tail = np.zeros(n, dtype=bool) if tail is None else tail
        main = self.rows - self.n_tail
        pos = np.where(tail, idx - main, idx)
        length = np.where(tail, max(self.n_tail, 1), max(main, 1))
        days = (pos + rng.random(n)) / length * ((self.end - self.start) / 86400.0)
        day = np.floor(days)
        in_day = np.interp(days - day, _DAY_X, np.linspace(0.0, 1.0, 25))
        pickup = np.minimum(self.start + ((day + in_day) * 86400).astype(np.int64), self.end - 1)
        pickup[tail] -= pickup[tail] % 60  # the tail's clock has minute resolution
        sel = self.outside_rows[(self.outside_rows >= a) & (self.outside_rows < b)]
        if len(sel):
            k = np.searchsorted(self.outside_rows, sel)
            before = self.start - rng.integers(3600, 20 * 86400, len(sel))
            if self.ym >= (2010, 1):  # real files also carry a few pickups from years ago
                long_ago = _epoch(2008, 12) + 30 * 86400 + rng.integers(0, 2 * 86400, len(sel))
                before = np.where(k % 20 == 10, long_ago, before)
            after = self.end + rng.integers(0, 3 * 86400, len(sel))
            pickup[sel - a] = np.where(k % 2 == 0, before, after)
        self.outside += int(np.count_nonzero((pickup < self.start) | (pickup >= self.end)))
        return pickup

    def _zones(self, rng: np.random.Generator, n: int) -> _I:
        return _pick(rng, range(1, 266), _zone_weights(), n)

    def _fees(self, **cents: npt.NDArray[np.int64]) -> dict[str, _Col]:
        """Fee columns: their values once the fee exists and the column is not null-typed,
        else all null (so that the total never counts a fee the file does not show)."""
        fees = _cents(**cents)
        for name, fee in fees.items():
            if self.ym < E.CHARGE_SINCE.get(name.lower(), (0, 0)) or self.types.get(name) == "null":
                fee.v, fee.null = np.zeros_like(fee.v), np.ones(len(fee.v), bool)
        return fees

    def _taxi(self, rng: np.random.Generator, a: int, b: int) -> dict[str, _Col]:
        n, ym, green, new = b - a, self.ym, self.dataset == "green", self.ym >= (2025, 1)
        idx = np.arange(a, b, dtype=np.int64)
        tail = idx >= self.rows - self.n_tail
        pickup = self._pickups(rng, a, b, tail)
        duration = _durations(rng, n, 660.0 if green else 600.0)
        duration[tail] = np.maximum(duration[tail] - duration[tail] % 60, 60)
        mph = rng.lognormal(np.log(12.0 if green else 11.0), 0.35, n)
        distance = np.clip(np.rint(mph * duration / 36.0), 0, 9999).astype(np.int64)
        distance[rng.random(n) < 0.012] = 0
        passengers = _pick(rng, [0, 1, 2, 3, 4, 5, 6], [2, 72, 14, 4, 2, 4, 2], n)
        unknown = 0.1 if ym >= (2010, 1) else 0.0
        payment = _pick(rng, [0, 1, 2, 3, 4, 5], [4 * new, 70, 28, 1.2, 0.7, unknown], n)
        ratecode = _pick(rng, [1, 2, 3, 4, 5, 6, 99], [965, 20, 3, 2, 9, 0.5, 2 * new], n)
        trip_type = _pick(rng, [1, 2], [96, 4], n)
        if green:
            ratecode[trip_type == 2] = 5
        fare = np.clip(np.rint((250 + 2.5 * distance + 0.5 * duration) / 50), 0, 1999) * 50
        fare[ratecode == 2] = 5200
        tip = np.rint(fare * rng.uniform(0.1, 0.3, n) * ((payment == 1) & (rng.random(n) < 0.85)))
        tolls = _pick(rng, [0, 612, 1175], [95, 4, 1], n)
        if ym < (2011, 1):
            extra = _pick(rng, [0, 50, 100], [55, 35, 10], n)
        else:
            extra = _pick(rng, [0, 50, 100, 250, 300, 350], [35, 30, 10, 15, 7, 3], n)
        congestion = ([0, 275, 250], [85, 5, 10]) if green else ([250, 0], [90, 10])
        airport = np.where(rng.random(n) < 0.08, 175 if ym >= (2023, 4) else 125, 0)
        fees = self._fees(
            mta_tax=np.where(rng.random(n) < 0.97, 50, 0),
            improvement_surcharge=np.full(n, 100 if ym >= (2022, 12) else 30),
            congestion_surcharge=_pick(rng, *congestion, n),
            cbd_congestion_fee=np.where(rng.random(n) < 0.45, 75, 0),
        )
        if not green:
            fees |= self._fees(airport_fee=airport, Airport_fee=airport)
        total = fare + extra + tip + tolls + sum(f.v for c, f in fees.items() if c in self.types)
        money = _cents(fare_amount=fare, tip_amount=tip, tolls_amount=tolls, total_amount=total)
        money |= _cents(trip_distance=distance)
        if ym < (2011, 1):
            cols = self._legacy(rng, idx, pickup, duration, passengers, ratecode, payment)
            cols |= money | {"surcharge": _Col(extra, "cents"), "mta_tax": fees["mta_tax"]}
            return {_RENAME_2009.get(k, k): c for k, c in cols.items()} if ym < (2010, 1) else cols
        meta = tail if tail.any() else None
        p = "lpep_" if green else "tpep_"
        vendor = _pick(rng, [1, 2, 6, 7], [20, 80, 0, 0] if green else [28, 70, new, new], n)
        return fees | money | {
            "VendorID": _Col(vendor, null=meta),
            f"{p}pickup_datetime": _us(pickup),
            f"{p}dropoff_datetime": _us(pickup + duration),
            "passenger_count": _Col(passengers, null=meta),
            "RatecodeID": _Col(ratecode, null=meta),
            "store_and_fwd_flag": _lab(E.FLAGS, _yes(rng, 0.01, n), meta, counted=True),
            "PULocationID": _Col(self._zones(rng, n)),
            "DOLocationID": _Col(self._zones(rng, n)),
            "payment_type": _Col(payment, null=meta),
            "extra": _Col(extra, "cents"),
            "ehail_fee": _Col(np.zeros(n, np.int64), "cents", np.ones(n, bool)),
            "trip_type": _Col(trip_type, null=meta),
            "request_source": _lab(E.REQUEST_SOURCES, _pick(rng, [0, 1, 2], [80, 15, 5], n), meta),
        }

    def _legacy(
        self, rng: np.random.Generator, idx: _I, pickup: _I, duration: _I, passengers: _I,
        ratecode: _I, payment: _I,
    ) -> dict[str, _Col]:
        """Yellow 2009-2010 columns under their 2010 names: vendor and payment as text with a
        few unmappable codes, lat/lon with some zeros and nulls, text datetimes."""
        n, spellings = len(idx), E.PAYMENTS_LEGACY[self.ym[0]]
        codes, pay = np.array([code for _, code in spellings]), np.zeros(n, np.int64)
        for code in np.unique(payment).tolist():
            rows, options = np.flatnonzero(payment == code), np.flatnonzero(codes == code)
            pay[rows] = options[rng.integers(0, len(options), len(rows))]
        vendor = _pick(rng, [0, 1, 2], [45, 50, 5], n)
        vendor[idx % _UNMAPPABLE_EVERY == _UNMAPPABLE_EVERY // 2] = len(E.VENDORS_LEGACY) - 1
        pay[idx % _UNMAPPABLE_EVERY == _UNMAPPABLE_EVERY // 2 + 1] = len(spellings)
        rc_null = {"f64": 0.98, "str": 0.001}.get(self.types.get("rate_code", "f64"), 0.0)
        coords: dict[str, _Col] = {}
        for end in ("pickup", "dropoff"):
            lon = np.rint(rng.normal(-73.975, 0.035, n) * _FINE).astype(np.int64)
            lat = np.rint(rng.normal(40.755, 0.03, n) * _FINE).astype(np.int64)
            zero, null = rng.random(n) < 0.015, rng.random(n) < 0.001
            lon[zero], lat[zero] = 0, 0
            coords |= {f"{end}_longitude": _Col(lon, "fine", null)}
            coords |= {f"{end}_latitude": _Col(lat, "fine", null)}
        cols = coords | {
            "vendor_id": _lab(E.VENDORS_LEGACY, vendor, counted=True),
            "pickup_datetime": _us(pickup),
            "dropoff_datetime": _us(pickup + duration),
            "passenger_count": _Col(passengers),
            "rate_code": _Col(ratecode, null=(rng.random(n) < rc_null) if rc_null else None),
            "store_and_fwd_flag": _Col(_yes(rng, 0.3, n), null=rng.random(n) < 0.99),
            "payment_type": _lab((*(s for s, _ in spellings), UNMAPPABLE[1]), pay, counted=True),
            "__index_level_0__": _Col(idx),
        }
        return cols

    def _fhv(self, rng: np.random.Generator, a: int, b: int) -> dict[str, _Col]:
        n = b - a
        pickup = self._pickups(rng, a, b)
        on_the_minute = rng.random(n) < 0.3  # many bases report whole minutes
        pickup[on_the_minute] -= pickup[on_the_minute] % 60
        dropoff = pickup + _durations(rng, n, 900.0)
        if self.far_row is not None and a <= self.far_row < b:
            then = datetime.fromtimestamp(int(dropoff[self.far_row - a]), UTC).replace(year=3019)
            dropoff[self.far_row - a] = calendar.timegm(then.timetuple())
        names, weights = _fhv_bases()
        base = _pick(rng, range(len(names)), weights, n)
        other = _pick(rng, range(len(names)), weights, n)
        r = rng.random(n)
        return {
            "dispatching_base_num": _lab(names, base),
            "pickup_datetime": _us(pickup),
            "dropOff_datetime": _us(dropoff),
            "PUlocationID": _Col(self._zones(rng, n), null=rng.random(n) < 0.8),
            "DOlocationID": _Col(self._zones(rng, n), null=rng.random(n) < 0.7),
            "SR_Flag": _Col(np.ones(n, np.int64), null=rng.random(n) >= 0.08),
            "Affiliated_base_number": _lab(names, np.where(r < 0.8, base, other), r >= 0.95),
        }

    def _fhvhv(self, rng: np.random.Generator, a: int, b: int) -> dict[str, _Col]:
        n, ym = b - a, self.ym
        juno, via = 1.5 * (ym < (2020, 1)), 2.0 * (ym < (2021, 12))
        lic = _pick(rng, [0, 1, 2, 3], [juno, 72, via, 26], n)
        uber = lic == 1
        base = np.select([uber, lic == 3, lic == 2], [rng.integers(0, 12, n), 12, 13], 14)
        pickup = self._pickups(rng, a, b)
        wait = np.clip(rng.lognormal(np.log(240.0), 0.6, n), 10, 3600).astype(np.int64)
        on_scene = pickup - wait + (wait * rng.uniform(0.5, 0.95, n)).astype(np.int64)
        trip_time = _durations(rng, n, 900.0)
        mph = rng.lognormal(np.log(14.0), 0.35, n)
        miles = np.clip(np.rint(mph * trip_time / 36.0), 0, 99_999)
        fare = np.rint(300 + 1.05 * miles + 0.6 * trip_time).astype(np.int64)
        fare[rng.random(n) < 0.0005] *= -1  # refunds
        gross = np.abs(fare)
        flags = {f"{f}_flag": _yes(rng, p, n) for f, p in (("shared_request", 0.02),
                 ("shared_match", 0.01), ("wav_request", 0.05), ("wav_match", 0.04))}
        flags["access_a_ride_flag"] = np.where(lic == 3, 2, 0)  # Lyft leaves it blank
        fees = self._fees(
            congestion_surcharge=_pick(rng, [0, 275], [40, 60], n),
            airport_fee=np.where(rng.random(n) < 0.06, 250, 0),
            cbd_congestion_fee=np.where(rng.random(n) < 0.3, 150, 0),
        )
        money = _cents(
            trip_miles=miles, base_passenger_fare=fare, bcf=np.rint(gross * 0.0275),
            tolls=_pick(rng, [0, 694, 1338], [93, 5, 2], n),
            sales_tax=np.rint(gross * 0.08875),
            tips=np.rint(gross * rng.uniform(0.1, 0.25, n) * (rng.random(n) < 0.15)),
            driver_pay=np.rint(gross * rng.uniform(0.6, 0.8, n)),
        )
        return {f: _lab(E.FLAGS, v, counted=True) for f, v in flags.items()} | fees | money | {
            "hvfhs_license_num": _lab(E.HV_LICENSES, lic, counted=True),
            "dispatching_base_num": _lab(E.HV_BASES, base),
            "originating_base_num": _lab(E.HV_BASES, base, ~uber | (rng.random(n) < 0.02)),
            "request_datetime": _us(pickup - wait),
            "on_scene_datetime": _us(on_scene, ~uber),  # only Uber reports it
            "pickup_datetime": _us(pickup),
            "dropoff_datetime": _us(pickup + trip_time),
            "PULocationID": _Col(self._zones(rng, n)),
            "DOLocationID": _Col(self._zones(rng, n)),
            "trip_time": _Col(trip_time),
        }
