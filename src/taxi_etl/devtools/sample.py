"""Synthetic NYC TLC monthly trip files (csv.gz) for the offline demo, tests and benchmarks.

The real files cannot be downloaded here, so this writes months that reproduce the quirks
the ETL has to survive: exact headers per colour, integer codes written as ``1`` or ``1.0``,
decimals written both as ``.20`` and ``0.5``, a tail of rows without metadata, empty
``ehail_fee``, and a few pickups outside the month.  Sizes and gzip ratios are close to
the real files so downloads and transforms can be benchmarked.  Colours: the course
mirror's yellow, green and fhv, and its 7-column fhvhv (about 15 M rows a month in
reality, about 11 bytes a row gzipped here).  Where a real file of the mirror has been
seen (../shared/real-tlc/course, tests/devtools/test_course_files.py), months from it on
follow it: green from 2020-10 (:data:`REAL_GREEN_FROM`) and fhvhv from 2021-06
(:data:`FHVHV_2021_FROM`); its shares are used for that month only (:data:`SEEN`).

Ground truth, so tests can assert exact counts without re-reading the file:

* the last :func:`missing_metadata_count` rows of a yellow/green month have the
  :func:`missing_metadata_columns` empty (VendorID, passenger_count, RatecodeID,
  store_and_fwd_flag, payment_type; trip_type for green; congestion_surcharge too for
  green from 2020-10); fhv and fhvhv files have no such tail;
* exactly :func:`outside_month_count` rows have a pickup outside ``[month start, next
  month start)``: row 0 is in the previous month, later ones alternate between an
  earlier month and the next month (green from 2020-10: of every 9, 2 minutes early, 2 on
  2008-12-31, 5 in the next month, none in the tail).  Every other pickup is inside.
* the header is :func:`default_header`'s unless one is asked for, and lines end with
  :func:`line_end` (CRLF in green from 2020-10, as the real file).

Output is deterministic for given arguments: the chunk size is fixed, every chunk has its
own seeded generator and the gzip header carries no name or timestamp.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from taxi_etl import source
from taxi_etl.devtools.pgzip import ParallelGzip
from taxi_etl.devtools.sample_rows import COLOURS, Form, MonthRows, check_colour

__all__ = [
    "CHUNK_ROWS",
    "COLOURS",
    "FHVHV_2021_FROM",
    "HEADERS",
    "REAL_GREEN_FROM",
    "SEEN",
    "default_header",
    "generate_month",
    "line_end",
    "missing_metadata_columns",
    "missing_metadata_count",
    "outside_month_count",
    "write_mirror",
]

HEADERS: dict[str, list[str]] = {
    "yellow": [
        "VendorID",
        "tpep_pickup_datetime",
        "tpep_dropoff_datetime",
        "passenger_count",
        "trip_distance",
        "RatecodeID",
        "store_and_fwd_flag",
        "PULocationID",
        "DOLocationID",
        "payment_type",
        "fare_amount",
        "extra",
        "mta_tax",
        "tip_amount",
        "tolls_amount",
        "improvement_surcharge",
        "total_amount",
        "congestion_surcharge",
    ],
    "green": [
        "VendorID",
        "lpep_pickup_datetime",
        "lpep_dropoff_datetime",
        "store_and_fwd_flag",
        "RatecodeID",
        "PULocationID",
        "DOLocationID",
        "passenger_count",
        "trip_distance",
        "fare_amount",
        "extra",
        "mta_tax",
        "tip_amount",
        "tolls_amount",
        "ehail_fee",
        "improvement_surcharge",
        "total_amount",
        "payment_type",
        "trip_type",
        "congestion_surcharge",
    ],
    "fhv": [
        "dispatching_base_num",
        "pickup_datetime",
        "dropOff_datetime",
        "PUlocationID",
        "DOlocationID",
        "SR_Flag",
        "Affiliated_base_number",
    ],
    "fhv_2019": [
        "dispatching_base_num",
        "pickup_datetime",
        "dropoff_datetime",
        "PULocationID",
        "DOLocationID",
        "SR_Flag",
    ],
    "fhvhv": [
        "dispatching_base_num",
        "pickup_datetime",
        "dropoff_datetime",
        "PULocationID",
        "DOLocationID",
        "SR_Flag",
        "Affiliated_base_number",
    ],
    "fhvhv_2019": [
        "hvfhs_license_num",
        "dispatching_base_num",
        "pickup_datetime",
        "dropoff_datetime",
        "PULocationID",
        "DOLocationID",
        "SR_Flag",
    ],
}

#: Green months from here on are written like the mirror's real green 2020-10: CRLF line
#: ends; a tail that lacks congestion_surcharge too, has whole-minute clocks (0.7 % keep
#: seconds), fares with cents, a 2.75 tip and no extra or MTA tax; refunds as negative
#: amounts; distances always with two decimals (``.00`` for zero).  The TLC's green
#: parquet of 2021-01..2024-03 has the same empty columns in its tail.  Earlier months
#: keep the older form: no real file of the mirror before 2020-10 has been seen.
REAL_GREEN_FROM = (2020, 10)
#: fhvhv months from here on have the mirror's 2021-06 header (``HEADERS["fhvhv"]``);
#: earlier ones the TLC's (``"fhvhv_2019"``), as the TLC's own csv files of 2019-02..
#: 2020-06 and the mirror's 2021-01 (DataTalksClub/data-engineering-zoomcamp,
#: 05-batch/code/04_pyspark.ipynb, prints its head) have it.  2021-02..05 are unseen.
FHVHV_2021_FROM = (2021, 6)
#: Months of the mirror seen whole: (tail rows, rows outside the month, rows).  Their
#: shares are used for them only; every other month keeps the defaults (3 % and 0.05 %).
SEEN: dict[tuple[str, int, int], tuple[int, int, int]] = {
    ("green", 2020, 10): (42_510, 9, 95_120),
}
_TAIL_PERCENT = 3
_OUTSIDE_EVERY = 2000
_TAIL_EMPTY = ("VendorID", "passenger_count", "RatecodeID", "store_and_fwd_flag", "payment_type")


def _real_green(colour: str, year: int | None, month: int | None) -> bool:
    return colour == "green" and (year or 0, month or 0) >= REAL_GREEN_FROM


def _seen(colour: str, year: int | None, month: int | None) -> tuple[int, int, int] | None:
    return None if year is None or month is None else SEEN.get((colour, year, month))


def default_header(colour: str, year: int, month: int) -> str:
    """The :data:`HEADERS` key of the mirror's month (fhvhv: by :data:`FHVHV_2021_FROM`)."""
    check_colour(colour)
    return "fhvhv_2019" if colour == "fhvhv" and (year, month) < FHVHV_2021_FROM else colour


def line_end(colour: str, year: int, month: int) -> str:
    """How the month's lines end: CRLF in green from :data:`REAL_GREEN_FROM`, else LF."""
    return "\r\n" if _real_green(colour, year, month) else "\n"


def missing_metadata_count(
    rows: int, colour: str = "yellow", year: int | None = None, month: int | None = None
) -> int:
    """Number of trailing rows without metadata: the real share for a month in
    :data:`SEEN` (green 2020-10: 42,510 of 95,120), else 3 % (also when no month is
    given); 0 for fhv and fhvhv."""
    check_colour(colour)
    if colour in ("fhv", "fhvhv"):
        return 0
    seen = _seen(colour, year, month)
    return rows * seen[0] // seen[2] if seen else rows * _TAIL_PERCENT // 100


def missing_metadata_columns(colour: str, year: int, month: int) -> tuple[str, ...]:
    """The columns empty in every tail row (``ehail_fee`` is empty in every row)."""
    check_colour(colour)
    if colour in ("fhv", "fhvhv"):
        return ()
    columns = _TAIL_EMPTY + ("trip_type",) * (colour == "green")
    return columns + ("congestion_surcharge",) * _real_green(colour, year, month)


def outside_month_count(
    rows: int, colour: str = "yellow", year: int | None = None, month: int | None = None
) -> int:
    """Exact number of rows whose pickup lies outside the file's month: the real share
    for a month in :data:`SEEN` (green 2020-10: 9 of 95,120), else about 0.05 %."""
    seen = _seen(colour, year, month)
    share = rows * seen[1] // seen[2] if seen else rows // _OUTSIDE_EVERY
    return 0 if rows < 2 else max(1, share)


#: Rows generated and written per step.  Part of the output's identity: changing it
#: changes the bytes produced for a given seed.
CHUNK_ROWS = 200_000


def write_mirror(
    root: Path, colour: str, year: int, months: Iterable[int], rows: int, *, seed: int = 0
) -> list[Path]:
    """Write months into `root` in the release's layout (``source.release_path``) and
    return the paths."""
    paths = []
    for month in months:
        path = Path(root) / source.release_path(colour, year, month)
        generate_month(path, colour, year, month, rows, seed=seed)
        paths.append(path)
    return paths


def generate_month(
    path: Path,
    colour: str,
    year: int,
    month: int,
    rows: int,
    *,
    seed: int = 0,
    header: str | None = None,
    ints_as_floats: bool = False,
    compresslevel: int = 6,
) -> int:
    """Write one month as csv.gz at `path` and return the number of data rows written.

    `header` picks a variant from :data:`HEADERS` of the same colour (``"fhv_2019"`` for
    the 6-column fhv files, ``"fhvhv_2019"`` for the TLC's fhvhv form); without it the
    mirror's own (:func:`default_header`).  `ints_as_floats` writes id/code columns as
    ``1.0`` like the 2021-06 release instead of ``1`` like 2021-01.  The file is written
    next to `path` and renamed into place, so a mirror serving the directory never sees
    half a file.  Rows are generated in chunks of :data:`CHUNK_ROWS` and gzip runs on
    worker threads, so memory stays bounded and gzip (the slowest part) uses every core.
    """
    check_colour(colour)
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 1..12, got {month}")
    key = default_header(colour, year, month) if header is None else header
    if key not in HEADERS or not (key == colour or key.startswith(colour + "_")):
        raise ValueError(f"header {key!r} is not a {colour} variant of {sorted(HEADERS)}")
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    if not 0 <= compresslevel <= 9:
        raise ValueError(f"compresslevel must be 0..9, got {compresslevel}")

    names, eol = HEADERS[key], line_end(colour, year, month)
    n_tail = missing_metadata_count(rows, colour, year, month)
    n_outside = outside_month_count(rows, colour, year, month)
    real = _real_green(colour, year, month)
    form = Form(tuple(names), ints_as_floats, n_tail, n_outside, real)
    month_ctx = MonthRows(colour, year, month, rows, seed, form)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    options = pacsv.WriteOptions(
        include_header=False, quoting_style="none", batch_size=8192, eol=eol
    )
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw, ParallelGzip(raw, compresslevel) as gz:
            gz.write((",".join(names) + eol).encode())
            for start in range(0, rows, CHUNK_ROWS):
                columns = month_ctx.chunk(start, min(start + CHUNK_ROWS, rows))
                sink = pa.BufferOutputStream()
                pacsv.write_csv(pa.table(columns, names=names), sink, options)
                gz.write(sink.getvalue())
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; mirrors and containers must read it
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return rows
