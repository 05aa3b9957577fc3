from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from peak_rss import peak_rss_mb

from taxi_etl import source
from taxi_etl.devtools import sample
from taxi_etl.devtools.reference import course_transform
from taxi_etl.schemas import FLAG_COLUMN, SchemaError, for_colour
from taxi_etl.transform import CorruptSource, convert, month_of

pytestmark = pytest.mark.one_line

# Two real rows of yellow 2021-01 (shared/README.md), then rows in the 2021-06 style
# (codes as floats), a missing-metadata row, and a pickup in the previous month.
YELLOW_LINES = [
    ",".join(sample.HEADERS["yellow"]),
    "1,2021-01-01 00:30:10,2021-01-01 00:36:12,1,2.10,1,N,142,43,2,8,3,0.5,0,0,0.3,11.8,2.5",
    "1,2021-01-01 00:51:20,2021-01-01 00:52:19,1,.20,1,N,238,151,2,3,0.5,0.5,0,0,0.3,4.3,0",
    "2.0,2021-01-02 10:00:00,2021-01-02 10:30:00,3.0,5.5,1.0,Y,1.0,265.0,1.0,"
    "20,0,0.5,4,0,0.3,24.8,2.5",
    ",2021-01-31 23:59:00,2021-02-01 00:10:00,,1.5,,,4,5,,9,0.5,0.5,0,0,0.3,10.3,",
    "2,2020-12-31 23:58:00,2021-01-01 00:05:00,1,.00,1,N,7,8,1,5,0.5,0.5,0,0,0.3,6.3,0",
]


def write_gz(path: Path, lines: list[str]) -> Path:
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def test_real_number_formats(tmp_path: Path) -> None:
    src = write_gz(tmp_path / "yellow_tripdata_2021-01.csv.gz", YELLOW_LINES)
    stats = convert(src, tmp_path / "out.parquet", "yellow")
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.schema.equals(for_colour("yellow").arrow, check_metadata=True)
    assert table["VendorID"].to_pylist() == [1, 1, 2, None, 2]
    assert table["passenger_count"].to_pylist() == [1, 1, 3, None, 1]
    assert table["DOLocationID"].to_pylist() == [43, 151, 265, 5, 8]
    assert table["trip_distance"].to_pylist() == [2.1, 0.2, 5.5, 1.5, 0.0]
    assert table["store_and_fwd_flag"].to_pylist() == ["N", "N", "Y", None, "N"]
    assert table["congestion_surcharge"].to_pylist()[3] is None
    assert table["airport_fee"].null_count == 5  # a later column, null-filled
    assert table[FLAG_COLUMN].to_pylist() == [False, False, False, False, True]
    assert str(table["tpep_pickup_datetime"][0].as_py()) == "2021-01-01 00:30:10"
    assert stats.rows == 5 and stats.outside_month == 1
    assert stats.nulls["VendorID"] == 1 and stats.nulls["airport_fee"] == 5
    assert stats.columns_null_filled == [
        "airport_fee",
        "cbd_congestion_fee",
        *("pickup_longitude", "pickup_latitude", "dropoff_longitude", "dropoff_latitude"),
        "request_source",
    ]
    assert stats.pickup_min == "2020-12-31T23:58:00"


@pytest.mark.parametrize(
    ("colour", "header", "floats"),
    [
        ("yellow", None, False),
        ("yellow", None, True),
        ("green", None, False),
        ("green", None, True),
        ("fhv", None, False),
        ("fhv", "fhv_2019", False),
        ("fhv", None, True),
    ],
)
def test_generated_months_share_one_schema_and_count_right(
    tmp_path: Path, colour: str, header: str | None, floats: bool
) -> None:
    rows = 40_000
    src = tmp_path / source.file_name(colour, 2020, 2)
    sample.generate_month(src, colour, 2020, 2, rows, seed=3, header=header, ints_as_floats=floats)
    # A small block size forces many batches: the result must not depend on it.
    stats = convert(src, tmp_path / "out.parquet", colour, block_size=256 << 10)
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.schema.equals(for_colour(colour).arrow, check_metadata=True)
    assert stats.row_groups > 1
    assert table.num_rows == stats.rows == rows
    assert stats.outside_month == sample.outside_month_count(rows)
    assert pa.compute.sum(table[FLAG_COLUMN]).as_py() == stats.outside_month
    if colour != "fhv":
        missing = sample.missing_metadata_count(rows, colour)
        for col in (
            "VendorID",
            "passenger_count",
            "RatecodeID",
            "payment_type",
            "store_and_fwd_flag",
        ):
            assert stats.nulls[col] == missing, col
            assert table[col].null_count == missing, col
        # The missing-metadata rows are the last rows: ids stay null, not 0 or NaN.
        assert table["VendorID"][rows - 1].as_py() is None
    assert stats.bytes == (tmp_path / "out.parquet").stat().st_size


@pytest.mark.parametrize("colour", ["yellow", "green", "fhv"])
def test_values_match_the_course_transform(tmp_path: Path, colour: str) -> None:
    """Same values as the course's pandas transform of the same file; only types differ."""
    src = tmp_path / source.file_name(colour, 2021, 6)
    sample.generate_month(src, colour, 2021, 6, 5_000, seed=11, ints_as_floats=True)
    convert(src, tmp_path / "ours.parquet", colour)
    course_transform(src, tmp_path / "course.parquet", colour)
    ours = pq.read_table(tmp_path / "ours.parquet").to_pandas()
    theirs = pd.read_parquet(tmp_path / "course.parquet")
    mapping = for_colour(colour).resolve(list(theirs.columns)).source_to_canonical
    theirs.columns = [mapping[c] for c in theirs.columns]
    assert len(ours) == len(theirs) == 5_000
    for name in theirs.columns:
        a, b = ours[name], theirs[name]
        if pd.api.types.is_numeric_dtype(b):
            assert np.allclose(a.astype("float64"), b.astype("float64"), equal_nan=True), name
        elif pd.api.types.is_datetime64_any_dtype(b):
            assert (a.astype("datetime64[us]") == b.astype("datetime64[us]")).all(), name
        else:
            assert a.fillna("").tolist() == b.fillna("").astype(str).tolist(), name


def test_course_types_drift_between_months_ours_do_not(tmp_path: Path) -> None:
    """The course writes VendorID as int64 one month and float64 the next; we never do."""
    schemas = {}
    for month, floats in ((1, False), (6, True)):
        src = tmp_path / source.file_name("yellow", 2021, month)
        sample.generate_month(src, "yellow", 2021, month, 3_000, ints_as_floats=floats)
        course_transform(src, tmp_path / f"course-{month}.parquet", "yellow")
        convert(src, tmp_path / f"ours-{month}.parquet", "yellow")
        schemas[month] = (
            pq.read_schema(tmp_path / f"course-{month}.parquet"),
            pq.read_schema(tmp_path / f"ours-{month}.parquet"),
        )
    course_1, ours_1 = schemas[1]
    course_6, ours_6 = schemas[6]
    assert course_1.field("PULocationID").type != course_6.field("PULocationID").type
    assert ours_1.equals(ours_6)
    assert ours_1.field("PULocationID").type == pa.int64()


def test_fractional_code_is_an_error_not_a_truncation(tmp_path: Path) -> None:
    lines = [*YELLOW_LINES[:2], YELLOW_LINES[2].replace("1,2021", "1.5,2021", 1)]
    src = write_gz(tmp_path / "y.csv.gz", lines)
    with pytest.raises(SchemaError, match="VendorID"):
        convert(src, tmp_path / "out.parquet", "yellow")
    assert list(tmp_path.iterdir()) == [src]


@pytest.mark.parametrize(
    ("bad_line", "match"),
    [
        ("1,2021-01-01 00:30:10,2021-01-01 00:36:12,1,2.10", "Expected 18 columns"),
        (YELLOW_LINES[1].replace("2.10", "two"), "trip_distance|invalid"),
    ],
)
def test_bad_rows_fail_the_file_and_leave_nothing(
    tmp_path: Path, bad_line: str, match: str
) -> None:
    src = write_gz(tmp_path / "y.csv.gz", [*YELLOW_LINES, bad_line])
    with pytest.raises(SchemaError, match=match):
        convert(src, tmp_path / "out.parquet", "yellow")
    assert list(tmp_path.iterdir()) == [src]


def test_truncated_gzip_is_corrupt_and_leaves_nothing(tmp_path: Path) -> None:
    full = tmp_path / source.file_name("green", 2020, 1)
    sample.generate_month(full, "green", 2020, 1, 50_000)
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(CorruptSource, match=r"cut\.csv\.gz"):
        convert(cut, tmp_path / "out.parquet", "green", year=2020, month=1)
    assert not (tmp_path / "out.parquet").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([full.name, cut.name])


def test_month_from_file_name() -> None:
    assert month_of(Path("x/fhv_tripdata_2019-02.csv.gz")) == (2019, 2)
    assert month_of(Path("trips.csv.gz")) is None


def test_without_a_month_the_flag_is_null(tmp_path: Path) -> None:
    src = write_gz(tmp_path / "trips.csv.gz", YELLOW_LINES)
    stats = convert(src, tmp_path / "out.parquet", "yellow")
    assert stats.outside_month is None
    assert pq.read_table(tmp_path / "out.parquet")[FLAG_COLUMN].null_count == 5


def test_convert_of_a_full_size_month_stays_under_250_mb(tmp_path: Path) -> None:
    """A realistic 1,369,765-row yellow month, converted by the CLI in its own process."""
    rows = 1_369_765
    src = tmp_path / source.file_name("yellow", 2021, 1)
    sample.generate_month(src, "yellow", 2021, 1, rows)
    dst = tmp_path / "out.parquet"
    peak_mb = peak_rss_mb(
        [sys.executable, "-m", "taxi_etl", "convert", "--colour", "yellow", str(src), str(dst)]
    )
    print(f"peak RSS of convert: {peak_mb:.0f} MB")
    assert peak_mb < 250
    assert pq.ParquetFile(dst).metadata.num_rows == rows
