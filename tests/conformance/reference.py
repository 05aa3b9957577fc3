"""An independent reading of a real TLC file: what an exact load of it must hold.

Written from the TLC's data dictionaries and the real files' headers, not from
``taxi_etl``: nothing here imports the package, so a mistake in its schemas or casts
cannot hide by being made twice. The tables below are the target the loader is checked
against; a header this module has no table for fails the test, so a new form of real
file is noticed instead of being read by guesswork.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

INT, FLOAT, STR, TS = "int", "float", "str", "ts"
ARROW: dict[str, pa.DataType] = {
    INT: pa.int64(),
    FLOAT: pa.float64(),
    STR: pa.string(),
    TS: pa.timestamp("us"),
}
OUTSIDE = "pickup_outside_month"

# The canonical columns of each dataset, in order (the out-of-month flag follows them).
_YELLOW = (
    ("VendorID", INT),
    ("tpep_pickup_datetime", TS),
    ("tpep_dropoff_datetime", TS),
    ("passenger_count", INT),
    ("trip_distance", FLOAT),
    ("RatecodeID", INT),
    ("store_and_fwd_flag", STR),
    ("PULocationID", INT),
    ("DOLocationID", INT),
    ("payment_type", INT),
    ("fare_amount", FLOAT),
    ("extra", FLOAT),
    ("mta_tax", FLOAT),
    ("tip_amount", FLOAT),
    ("tolls_amount", FLOAT),
    ("improvement_surcharge", FLOAT),
    ("total_amount", FLOAT),
    ("congestion_surcharge", FLOAT),
    ("airport_fee", FLOAT),
    ("cbd_congestion_fee", FLOAT),
    ("pickup_longitude", FLOAT),
    ("pickup_latitude", FLOAT),
    ("dropoff_longitude", FLOAT),
    ("dropoff_latitude", FLOAT),
    ("request_source", STR),
)
_GREEN = (
    ("VendorID", INT),
    ("lpep_pickup_datetime", TS),
    ("lpep_dropoff_datetime", TS),
    ("store_and_fwd_flag", STR),
    ("RatecodeID", INT),
    ("PULocationID", INT),
    ("DOLocationID", INT),
    ("passenger_count", INT),
    ("trip_distance", FLOAT),
    ("fare_amount", FLOAT),
    ("extra", FLOAT),
    ("mta_tax", FLOAT),
    ("tip_amount", FLOAT),
    ("tolls_amount", FLOAT),
    ("ehail_fee", FLOAT),
    ("improvement_surcharge", FLOAT),
    ("total_amount", FLOAT),
    ("payment_type", INT),
    ("trip_type", INT),
    ("congestion_surcharge", FLOAT),
    ("cbd_congestion_fee", FLOAT),
    ("pickup_longitude", FLOAT),
    ("pickup_latitude", FLOAT),
    ("dropoff_longitude", FLOAT),
    ("dropoff_latitude", FLOAT),
    ("request_source", STR),
)
_FHV = (
    ("dispatching_base_num", STR),
    ("pickup_datetime", TS),
    ("dropoff_datetime", TS),
    ("PULocationID", INT),
    ("DOLocationID", INT),
    ("SR_Flag", INT),
    ("Affiliated_base_number", STR),
)
_FHVHV = (
    ("hvfhs_license_num", STR),
    ("dispatching_base_num", STR),
    ("originating_base_num", STR),
    ("request_datetime", TS),
    ("on_scene_datetime", TS),
    ("pickup_datetime", TS),
    ("dropoff_datetime", TS),
    ("PULocationID", INT),
    ("DOLocationID", INT),
    ("trip_miles", FLOAT),
    ("trip_time", INT),
    ("base_passenger_fare", FLOAT),
    ("tolls", FLOAT),
    ("bcf", FLOAT),
    ("sales_tax", FLOAT),
    ("congestion_surcharge", FLOAT),
    ("airport_fee", FLOAT),
    ("tips", FLOAT),
    ("driver_pay", FLOAT),
    ("shared_request_flag", STR),
    ("shared_match_flag", STR),
    ("access_a_ride_flag", STR),
    ("wav_request_flag", STR),
    ("wav_match_flag", STR),
    ("cbd_congestion_fee", FLOAT),
    ("Affiliated_base_number", STR),
)
CANONICAL: dict[str, tuple[tuple[str, str], ...]] = {
    "yellow": _YELLOW,
    "green": _GREEN,
    "fhv": _FHV,
    "fhvhv": _FHVHV,
}
#: Columns new in this release; the lead may still reorder them among themselves.
NEW_COLUMNS: dict[str, tuple[str, ...]] = {
    "yellow": ("request_source",),
    "green": (
        "pickup_longitude",
        "pickup_latitude",
        "dropoff_longitude",
        "dropoff_latitude",
        "request_source",
    ),
    "fhv": (),
    "fhvhv": ("Affiliated_base_number",),
}
PICKUP = {
    "yellow": "tpep_pickup_datetime",
    "green": "lpep_pickup_datetime",
    "fhv": "pickup_datetime",
    "fhvhv": "pickup_datetime",
}

# Text codes of the data dictionaries, keyed by the trimmed upper-case text.
_VENDOR = {"CMT": 1, "VTS": 2}
_PAYMENT = {
    **dict.fromkeys(("CRE", "CRD", "CREDIT"), 1),
    **dict.fromkeys(("CAS", "CSH", "CASH"), 2),
    **dict.fromkeys(("NOC", "NO", "NO CHARGE"), 3),
    **dict.fromkeys(("DIS", "DISPUTE"), 4),
    **dict.fromkeys(("UNK", "NA", "UNKNOWN"), 5),
    **dict.fromkeys(("VOIDED", "VOIDED TRIP"), 6),
}
_FLAG = {"Y": "Y", "N": "N", "1": "Y", "0": "N"}
#: Integer columns that also take text codes.
CODES: dict[str, dict[str, dict[str, int]]] = {
    "yellow": {"VendorID": _VENDOR, "payment_type": _PAYMENT},
    "green": {"VendorID": _VENDOR, "payment_type": _PAYMENT},
    "fhv": {},
    "fhvhv": {},
}
#: String columns whose Y/N (or 1/0) is normalised.
FLAGS: dict[str, frozenset[str]] = {
    "yellow": frozenset({"store_and_fwd_flag"}),
    "green": frozenset({"store_and_fwd_flag"}),
    "fhv": frozenset(),
    "fhvhv": frozenset({"shared_request_flag"}),
}


def arrow_schema(dataset: str) -> pa.Schema:
    """The one output schema of a dataset, every file and era alike."""
    fields = [pa.field(name, ARROW[kind]) for name, kind in CANONICAL[dataset]]
    return pa.schema([*fields, pa.field(OUTSIDE, pa.bool_())])


@dataclass(frozen=True)
class Form:
    """One header of the csv files: each (lower-case) source name and its canonical
    column, None for a column with no canonical home."""

    label: str
    columns: tuple[tuple[str, str | None], ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(source for source, _ in self.columns)


def _form(label: str, dataset: str, *specs: str) -> Form:
    """``"src>Canonical"`` renames, ``"src>"`` has no home, a bare name is canonical."""
    by_lower = {name.lower(): name for name, _ in CANONICAL[dataset]}
    columns: list[tuple[str, str | None]] = []
    for spec in specs:
        source, arrow, target = spec.partition(">")
        canonical = (target or None) if arrow else by_lower[source.lower()]
        if canonical is not None and canonical not in by_lower.values():
            raise KeyError(f"{label}: {canonical} is not a {dataset} column")
        columns.append((source.lower(), canonical))
    return Form(label, tuple(columns))


_GREEN_HEAD = (
    "VendorID",
    "lpep_pickup_datetime",
    "lpep_dropoff_datetime",
    "store_and_fwd_flag",
    "RatecodeID",
)
_GREEN_COORDS = ("pickup_longitude", "pickup_latitude", "dropoff_longitude", "dropoff_latitude")
_GREEN_MONEY = ("fare_amount", "extra", "mta_tax", "tip_amount", "tolls_amount", "ehail_fee")
_YELLOW_2015 = ("VendorID", "tpep_pickup_datetime", "tpep_dropoff_datetime", "passenger_count")
_YELLOW_MONEY = ("fare_amount", "extra", "mta_tax", "tip_amount", "tolls_amount")
_YELLOW_2016 = (
    *_YELLOW_2015,
    "trip_distance",
    "RatecodeID",
    "store_and_fwd_flag",
    "PULocationID",
    "DOLocationID",
    "payment_type",
    *_YELLOW_MONEY,
    "improvement_surcharge",
    "total_amount",
)
_GREEN_2016 = (
    *_GREEN_HEAD,
    "PULocationID",
    "DOLocationID",
    "passenger_count",
    "trip_distance",
    *_GREEN_MONEY,
    "improvement_surcharge",
    "total_amount",
    "payment_type",
    "trip_type",
)
_FHV_2017 = (
    "dispatching_base_num",
    "pickup_datetime",
    "dropoff_datetime",
    "PULocationID",
    "DOLocationID",
)

FORMS: dict[str, tuple[Form, ...]] = {
    "yellow": (
        _form(
            "yellow 2009",
            "yellow",
            "vendor_name>VendorID",
            "Trip_Pickup_DateTime>tpep_pickup_datetime",
            "Trip_Dropoff_DateTime>tpep_dropoff_datetime",
            "Passenger_Count",
            "Trip_Distance",
            "Start_Lon>pickup_longitude",
            "Start_Lat>pickup_latitude",
            "Rate_Code>RatecodeID",
            "store_and_forward>store_and_fwd_flag",
            "End_Lon>dropoff_longitude",
            "End_Lat>dropoff_latitude",
            "Payment_Type",
            "Fare_Amt>fare_amount",
            "surcharge>extra",
            "mta_tax",
            "Tip_Amt>tip_amount",
            "Tolls_Amt>tolls_amount",
            "Total_Amt>total_amount",
        ),
        _form(
            "yellow 2010-2014",
            "yellow",
            "vendor_id>VendorID",
            "pickup_datetime>tpep_pickup_datetime",
            "dropoff_datetime>tpep_dropoff_datetime",
            "passenger_count",
            "trip_distance",
            "pickup_longitude",
            "pickup_latitude",
            "rate_code>RatecodeID",
            "store_and_fwd_flag",
            "dropoff_longitude",
            "dropoff_latitude",
            "payment_type",
            "fare_amount",
            "surcharge>extra",
            "mta_tax",
            "tip_amount",
            "tolls_amount",
            "total_amount",
        ),
        _form(
            "yellow 2015-2016-06",
            "yellow",
            *_YELLOW_2015,
            "trip_distance",
            "pickup_longitude",
            "pickup_latitude",
            "RatecodeID",
            "store_and_fwd_flag",
            "dropoff_longitude",
            "dropoff_latitude",
            "payment_type",
            *_YELLOW_MONEY,
            "improvement_surcharge",
            "total_amount",
        ),
        _form("yellow 2016-07-2018", "yellow", *_YELLOW_2016),
        _form("yellow 2019-", "yellow", *_YELLOW_2016, "congestion_surcharge"),
    ),
    "green": (
        _form(
            "green 2013-08-2014",
            "green",
            *_GREEN_HEAD,
            *_GREEN_COORDS,
            "passenger_count",
            "trip_distance",
            *_GREEN_MONEY,
            "total_amount",
            "payment_type",
            "trip_type",
        ),
        _form(
            "green 2015-2016-06",
            "green",
            *_GREEN_HEAD,
            *_GREEN_COORDS,
            "passenger_count",
            "trip_distance",
            *_GREEN_MONEY,
            "improvement_surcharge",
            "total_amount",
            "payment_type",
            "trip_type",
        ),
        _form("green 2016-07-2018", "green", *_GREEN_2016),
        _form("green 2019-", "green", *_GREEN_2016, "congestion_surcharge"),
    ),
    "fhv": (
        _form(
            "fhv 2015-2016",
            "fhv",
            "dispatching_base_num",
            "Pickup_date>pickup_datetime",
            "locationID>PULocationID",
        ),
        _form("fhv 2017-01..06", "fhv", *_FHV_2017),
        _form("fhv 2017-07.., 2019-", "fhv", *_FHV_2017, "SR_Flag"),
        _form(
            "fhv 2018",
            "fhv",
            "pickup_datetime",
            "dropoff_datetime",
            "PULocationID",
            "DOLocationID",
            "SR_Flag",
            "Dispatching_base_number>dispatching_base_num",
            "Dispatching_base_num>",
        ),
        _form("fhv course 2019-", "fhv", *_FHV_2017, "SR_Flag", "Affiliated_base_number"),
    ),
    "fhvhv": (
        _form(
            "fhvhv 2019-2020",
            "fhvhv",
            "hvfhs_license_num",
            "dispatching_base_num",
            "pickup_datetime",
            "dropoff_datetime",
            "PULocationID",
            "DOLocationID",
            "SR_Flag>shared_request_flag",
        ),
        _form(
            "fhvhv course 2021-06",
            "fhvhv",
            "dispatching_base_num",
            "pickup_datetime",
            "dropoff_datetime",
            "PULocationID",
            "DOLocationID",
            "SR_Flag>shared_request_flag",
            "Affiliated_base_number",
        ),
    ),
}


class Uncovered(Exception):
    """The reference has no rule for what this file holds (a header form or a type it
    does not know): the test fails, so the table is extended on purpose, not guessed."""


class Unloadable(Exception):
    """By the spec the file cannot be loaded exactly: the loader must refuse it, naming
    the column (a value) or the line (a stray field)."""

    def __init__(self, reason: str, *, column: str | None = None, line: int | None = None):
        super().__init__(reason)
        self.column, self.line = column, line


@dataclass
class Reference:
    """What the partition of one file must hold, and what it cannot."""

    dataset: str
    rows: int
    #: Every output column (canonical ones and the out-of-month flag), as Arrow arrays.
    columns: dict[str, pa.Array]
    #: Canonical column -> the source name it came from (for messages).
    sources: dict[str, str]
    #: The extra file: source name -> values, for every source column that may hold
    #: what the partition cannot (no canonical home; text codes, flags, datetimes);
    #: empty when none of them holds anything, as then no file is written.
    extra: dict[str, pa.Array] = field(default_factory=dict)
    #: Unmapped codes: canonical column -> raw value -> rows.
    unmapped: dict[str, dict[str, int]] = field(default_factory=dict)
    #: The source's column names, trimmed and unquoted.
    header: list[str] = field(default_factory=list)


def header_name(raw: str) -> str:
    """A header cell trimmed of whitespace and one pair of surrounding double quotes."""
    name = raw.strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1].strip()
    return name


_INT = re.compile(r"[+-]?[0-9]+")
_DEC = re.compile(r"([+-]?)([0-9]*)\.([0-9]*)")
_INT64 = (-(1 << 63), (1 << 63) - 1)
_TS = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
)
_EPOCH = datetime(1970, 1, 1)
_US = timedelta(microseconds=1)
_EPOCH_DAY = date(1970, 1, 1).toordinal()


def int_of_text(text: str) -> int | None:
    """An integer literal, or a decimal literal of integral value (``1.0``); else None."""
    t = text.strip()
    if _INT.fullmatch(t):
        value = int(t)
    elif (m := _DEC.fullmatch(t)) and (m.group(2) or m.group(3)) and not m.group(3).strip("0"):
        value = int(m.group(1) + (m.group(2) or "0"))
    else:
        return None
    return value if _INT64[0] <= value <= _INT64[1] else None


def micros(year: int, month: int, day: int = 1) -> int:
    return (datetime(year, month, day) - _EPOCH) // _US


def month_bounds(year: int, month: int) -> tuple[int, int]:
    nxt = (year + 1, 1) if month == 12 else (year, month + 1)
    return micros(year, month), micros(*nxt)


_OK, _UNMAPPED, _KEEP = 0, 1, 2


@dataclass
class _Column:
    """One source column converted: values, unmapped counts and its extra values."""

    values: list[Any]
    unmapped: dict[str, int] = field(default_factory=dict)
    #: For a column whose text may not fit the partition: that text, else null.
    extra: list[str | None] | None = None


def _one(raw: str, kind: str, codes: dict[str, int] | None, flag: bool) -> tuple[Any, int]:
    """One non-empty source text as (value, what else to do with it); ValueError when it
    cannot be read as the column's type."""
    if kind == INT:
        number = int_of_text(raw)
        if number is not None:
            return number, _OK
        if codes is None:
            raise ValueError("not an integer")
        key = raw.strip().upper()
        return (codes[key], _OK) if key in codes else (None, _UNMAPPED)
    if kind == FLOAT:
        return float(raw), _OK
    if kind == STR:
        if not flag:
            return raw, _OK
        key = raw.strip().upper()
        return (_FLAG[key], _OK) if key in _FLAG else (None, _UNMAPPED)
    m = _TS.fullmatch(raw)
    if m is None:
        raise ValueError("not YYYY-MM-DD HH:MM:SS[.fraction]")
    h, mi, s, frac = int(raw[11:13]), int(raw[14:16]), int(raw[17:19]), m.group(7)
    if h > 23 or mi > 59 or s > 59:
        raise ValueError("no such time of day")
    value = _day(raw[:10]) + (h * 3600 + mi * 60 + s) * 1_000_000
    if not frac:
        return value, _OK
    return value + int((frac + "00000")[:6]), _KEEP if frac[6:].strip("0") else _OK


@lru_cache(maxsize=1 << 14)
def _day(text: str) -> int:
    """Microseconds from 1970 to a YYYY-MM-DD (ValueError for a day that does not exist)."""
    day = date(int(text[:4]), int(text[5:7]), int(text[8:10]))
    return (day.toordinal() - _EPOCH_DAY) * 86_400_000_000


def _text_column(
    texts: Sequence[str | None], kind: str, codes: dict[str, int] | None, flag: bool, where: str
) -> _Column:
    """Source text onto a canonical type; None is a null (an empty csv field).

    Each distinct text is read once: ids, codes and flags repeat a few values over
    a month's rows."""
    read: dict[str | None, tuple[Any, int]] = {None: (None, _OK)}
    for raw in set(texts):
        if raw is None:
            continue
        try:
            read[raw] = _one(raw, kind, codes, flag)
        except ValueError as exc:
            row = texts.index(raw)
            raise Unloadable(f"{where}: {raw!r} at row {row}: {exc}", column=where) from None
    out = _Column([read[t][0] for t in texts])
    unmapped = {t for t, (_, what) in read.items() if t is not None and what == _UNMAPPED}
    kept = unmapped | {t for t, (_, what) in read.items() if t is not None and what == _KEEP}
    if unmapped:
        out.unmapped = dict(Counter(t for t in texts if t is not None and t in unmapped))
    if kind == TS or codes is not None or flag:  # text that may not fit the partition
        out.extra = [t if t in kept else None for t in texts] if kept else [None] * len(texts)
    return out


def _outside(pickups: pa.Array, year: int | None, month: int | None) -> pa.Array:
    if year is None or month is None:
        return pa.nulls(len(pickups), pa.bool_())
    lo, hi = month_bounds(year, month)
    flags = [
        None if p is None else (p < lo or p >= hi) for p in pickups.cast(pa.int64()).to_pylist()
    ]
    return pa.array(flags, pa.bool_())


def _assemble(
    dataset: str,
    rows: int,
    converted: dict[str, tuple[str, _Column]],
    year: int | None,
    month: int | None,
) -> Reference:
    """The expected partition: converted columns, nulls for the rest, the flag."""
    columns: dict[str, pa.Array] = {}
    ref = Reference(dataset, rows, columns, {name: src for name, (src, _) in converted.items()})
    for name, kind in CANONICAL[dataset]:
        if name in converted:
            source, col = converted[name]
            columns[name] = pa.array(col.values, ARROW[kind])
            if col.unmapped:
                ref.unmapped[name] = dict(col.unmapped)
            if col.extra is not None:
                ref.extra[source] = pa.array(col.extra, pa.string())
        else:
            columns[name] = pa.nulls(rows, ARROW[kind])
    columns[OUTSIDE] = _outside(columns[PICKUP[dataset]], year, month)
    return ref


def find_form(dataset: str, header: Sequence[str]) -> Form:
    names = tuple(header_name(h).lower() for h in header)
    for form in FORMS[dataset]:
        if form.names == names:
            return form
    raise Uncovered(f"unknown {dataset} header form: {','.join(header_name(h) for h in header)}")


def read_csv(path: Path, dataset: str, year: int | None, month: int | None) -> Reference:
    """A gzipped csv file by the csv module: empty lines are not rows, empty fields are
    null, fields past the header must be empty."""
    try:
        text = gzip.decompress(path.read_bytes()).decode("utf-8-sig")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise Unloadable(f"not a utf-8 csv.gz: {exc}") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise Uncovered("no header")
    form = find_form(dataset, header)
    width = len(header)
    records: list[list[str]] = []
    for record in reader:
        if len(record) != width:
            if not record:
                continue
            if len(record) < width:
                raise Unloadable(
                    f"line {reader.line_num}: {len(record)} fields, the header has {width}",
                    line=reader.line_num,
                )
            if any(record[width:]):
                raise Unloadable(
                    f"line {reader.line_num}: a value past the header's {width} fields",
                    line=reader.line_num,
                )
            record = record[:width]
        records.append(record)
    by_position = list(zip(*records, strict=True)) if records else [()] * width
    converted: dict[str, tuple[str, _Column]] = {}
    no_home: dict[str, list[str | None]] = {}
    for index, (_, canonical) in enumerate(form.columns):
        source = header_name(header[index])
        texts = [t or None for t in by_position[index]]
        if canonical is None:
            no_home[source] = texts
            continue
        kind = dict(CANONICAL[dataset])[canonical]
        col = _text_column(
            texts,
            kind,
            CODES[dataset].get(canonical),
            canonical in FLAGS[dataset],
            canonical,
        )
        converted[canonical] = (source, col)
    ref = _assemble(dataset, len(records), converted, year, month)
    ref.header = [header_name(h) for h in header]
    for source, texts in no_home.items():
        ref.extra[source] = pa.array(texts, pa.string())
    return _settle_extra(ref)


def _settle_extra(ref: Reference) -> Reference:
    """No extra file when none of its columns holds a value."""
    if all(a.null_count == len(a) for a in ref.extra.values()):
        ref.extra = {}
    return ref


_UNITS = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": None}


def _parquet_column(
    arr: pa.ChunkedArray, kind: str, codes: dict[str, int] | None, flag: bool, where: str
) -> _Column:
    """One parquet column onto its canonical type, by its values' Python objects."""
    t = arr.type
    if pa.types.is_dictionary(t):
        arr, t = arr.cast(t.value_type), t.value_type
    n = len(arr)
    if pa.types.is_null(t):
        return _Column([None] * n)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        values = arr.to_pylist()
        if kind == STR and not flag:
            return _Column(values)
        return _text_column([v if v != "" else None for v in values], kind, codes, flag, where)
    if pa.types.is_timestamp(t) and kind == TS:
        ints: list[int | None] = arr.cast(pa.int64()).to_pylist()
        scale = _UNITS[t.unit]
        if scale is not None:
            return _Column([None if v is None else v * scale for v in ints])
        if any(v is not None and v % 1000 for v in ints):
            raise Uncovered(f"{where}: nanoseconds below a microsecond (no rule for their text)")
        return _Column([None if v is None else v // 1000 for v in ints])
    if pa.types.is_integer(t) and kind in (INT, FLOAT):
        values = arr.to_pylist()
        return _Column(values if kind == INT else [None if v is None else float(v) for v in values])
    if pa.types.is_floating(t) and kind == FLOAT:
        return _Column(arr.to_pylist())
    if pa.types.is_floating(t) and kind == INT:
        out = _Column(arr.to_pylist())
        for i, v in enumerate(out.values):
            if v is None:
                continue
            if not (float(v).is_integer() and -(2.0**63) <= v < 2.0**63):  # NaN fails too
                raise Unloadable(f"{where}: non-integral {v!r} (row {i})", column=where)
            out.values[i] = int(v)
        return out
    raise Uncovered(f"{where}: no rule for a parquet {t} column as {kind}")


def read_parquet(path: Path, dataset: str, year: int | None, month: int | None) -> Reference:
    """The TLC's parquet: columns named canonically, in any case and order."""
    table = pq.read_table(path)
    by_lower = {name.lower(): name for name, _ in CANONICAL[dataset]}
    kinds = dict(CANONICAL[dataset])
    converted: dict[str, tuple[str, _Column]] = {}
    for source in table.column_names:
        if source == "__index_level_0__":
            continue  # a pandas index the TLC's writer leaked (yellow 2010-02/03): no trip data
        canonical = by_lower.get(source.lower())
        if canonical is None:
            raise Uncovered(f"unknown {dataset} parquet column: {source}")
        if canonical in converted:
            raise Uncovered(
                f"two parquet columns for {canonical}: {converted[canonical][0]}, {source}"
            )
        col = _parquet_column(
            table.column(source),
            kinds[canonical],
            CODES[dataset].get(canonical),
            canonical in FLAGS[dataset],
            canonical,
        )
        converted[canonical] = (source, col)
    ref = _assemble(dataset, table.num_rows, converted, year, month)
    ref.header = list(table.column_names)
    return _settle_extra(ref)


def read(path: Path, dataset: str, year: int | None, month: int | None) -> Reference:
    """A real file by its content: parquet by its magic bytes, else gzipped csv."""
    with path.open("rb") as fh:
        magic = fh.read(4)
    reader: Callable[[Path, str, int | None, int | None], Reference]
    reader = read_parquet if magic == b"PAR1" else read_csv
    return reader(path, dataset, year, month)
