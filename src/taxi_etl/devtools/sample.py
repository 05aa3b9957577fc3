"""Synthetic NYC TLC monthly trip files (csv.gz) for the offline demo, tests and benchmarks.

The real files cannot be downloaded here, so this writes months that reproduce the quirks
the ETL has to survive: exact headers per colour, integer codes written as ``1`` or ``1.0``,
decimals written both as ``.20`` and ``0.5``, a tail of rows without metadata, empty
``ehail_fee``, and a few pickups outside the month.  Sizes and gzip ratios are close to
the real files so downloads and transforms can be benchmarked.  Colours: the course
mirror's yellow, green and fhv, and its 7-column fhvhv (about 15 M rows a month in
reality, about 11 bytes a row gzipped here), which the runtime does not load yet.

Ground truth, so tests can assert exact counts without re-reading the file:

* the last :func:`missing_metadata_count` rows of a yellow/green month have empty
  VendorID, passenger_count, RatecodeID, store_and_fwd_flag and payment_type (and
  trip_type for green); fhv and fhvhv files have no such tail;
* exactly :func:`outside_month_count` rows have a pickup outside ``[month start, next
  month start)``: row 0 is in the previous month, later ones alternate between an
  earlier month and the next month.  Every other pickup is inside the month.

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
from taxi_etl.devtools.sample_rows import (
    COLOURS,
    MonthRows,
    check_colour,
    missing_metadata_count,
    outside_month_count,
)

__all__ = [
    "CHUNK_ROWS",
    "COLOURS",
    "HEADERS",
    "generate_month",
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
        "hvfhs_license_num",
        "dispatching_base_num",
        "pickup_datetime",
        "dropoff_datetime",
        "PULocationID",
        "DOLocationID",
        "SR_Flag",
    ],
}


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
    the 6-column fhv files).  `ints_as_floats` writes id/code columns as ``1.0`` like the
    2021-06 release instead of ``1`` like 2021-01.  The file is written next to `path`
    and renamed into place, so a mirror serving the directory never sees half a file.
    Rows are generated in chunks of :data:`CHUNK_ROWS` and gzip runs on worker threads,
    so memory stays bounded and gzip (the slowest part) uses every core.
    """
    check_colour(colour)
    key = colour if header is None else header
    if key not in HEADERS or not (key == colour or key.startswith(colour + "_")):
        raise ValueError(f"header {key!r} is not a {colour} variant of {sorted(HEADERS)}")
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 1..12, got {month}")
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    if not 0 <= compresslevel <= 9:
        raise ValueError(f"compresslevel must be 0..9, got {compresslevel}")

    names = HEADERS[key]
    month_ctx = MonthRows(colour, year, month, rows, seed, ints_as_floats)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    options = pacsv.WriteOptions(include_header=False, quoting_style="none", batch_size=8192)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw, ParallelGzip(raw, compresslevel) as gz:
            gz.write((",".join(names) + "\n").encode())
            for start in range(0, rows, CHUNK_ROWS):
                columns = month_ctx.chunk(start, min(start + CHUNK_ROWS, rows))
                sink = pa.BufferOutputStream()
                pacsv.write_csv(pa.table(columns[: len(names)], names=names), sink, options)
                gz.write(sink.getvalue())
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; mirrors and containers must read it
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return rows
