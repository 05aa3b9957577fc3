"""The synthetic months must look like the real TLC files (see shared/README.md section 1)."""

from __future__ import annotations

import gzip
import re
import time
import zlib
from datetime import datetime
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest

from taxi_etl.devtools import sample

pytestmark = pytest.mark.one_line

ROWS = 20_000

# Written out by hand from the README, not taken from sample.HEADERS, so a typo there fails.
EXPECTED_HEADERS = {
    "yellow": "VendorID,tpep_pickup_datetime,tpep_dropoff_datetime,passenger_count,"
    "trip_distance,RatecodeID,store_and_fwd_flag,PULocationID,DOLocationID,payment_type,"
    "fare_amount,extra,mta_tax,tip_amount,tolls_amount,improvement_surcharge,total_amount,"
    "congestion_surcharge",
    "green": "VendorID,lpep_pickup_datetime,lpep_dropoff_datetime,store_and_fwd_flag,"
    "RatecodeID,PULocationID,DOLocationID,passenger_count,trip_distance,fare_amount,extra,"
    "mta_tax,tip_amount,tolls_amount,ehail_fee,improvement_surcharge,total_amount,"
    "payment_type,trip_type,congestion_surcharge",
    "fhv": "dispatching_base_num,pickup_datetime,dropOff_datetime,PUlocationID,DOlocationID,"
    "SR_Flag,Affiliated_base_number",
    "fhv_2019": "dispatching_base_num,pickup_datetime,dropoff_datetime,PULocationID,"
    "DOLocationID,SR_Flag",
    # The course mirror's 2021-06 (../shared/real-tlc/course); the TLC's form before it.
    "fhvhv": "dispatching_base_num,pickup_datetime,dropoff_datetime,PULocationID,"
    "DOLocationID,SR_Flag,Affiliated_base_number",
    "fhvhv_2019": "hvfhs_license_num,dispatching_base_num,pickup_datetime,dropoff_datetime,"
    "PULocationID,DOLocationID,SR_Flag",
}
METADATA = {
    "yellow": ["VendorID", "passenger_count", "RatecodeID", "store_and_fwd_flag", "payment_type"],
    "green": [
        "VendorID",
        "passenger_count",
        "RatecodeID",
        "store_and_fwd_flag",
        "payment_type",
        "trip_type",
    ],
}
INT_COLUMNS = {
    "yellow": [
        "VendorID",
        "passenger_count",
        "RatecodeID",
        "PULocationID",
        "DOLocationID",
        "payment_type",
    ],
    "green": [
        "VendorID",
        "RatecodeID",
        "PULocationID",
        "DOLocationID",
        "passenger_count",
        "payment_type",
        "trip_type",
    ],
    "fhv": ["PUlocationID", "DOlocationID", "SR_Flag"],
    "fhvhv": ["PULocationID", "DOLocationID"],  # SR_Flag is N/Y in the 2021-06 form
    "fhvhv_2019": ["PULocationID", "DOLocationID", "SR_Flag"],
}
DATETIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def read_rows(path: Path, eol: str = "\n") -> tuple[list[str], list[list[str]]]:
    with gzip.open(path, "rt", newline="") as f:
        text = f.read()
    assert text.endswith(eol) and text.count("\n") == text.count(eol)
    header, *lines = text[: -len(eol)].split(eol)
    return header.split(","), [line.split(",") for line in lines]


@pytest.fixture(scope="module")
def months(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("months")
    paths = {}
    for key, colour, year, month in [
        ("yellow", "yellow", 2021, 1),
        ("green", "green", 2020, 1),
        ("fhv", "fhv", 2019, 12),
        ("fhvhv", "fhvhv", 2019, 2),
    ]:
        paths[key] = root / f"{key}.csv.gz"
        assert sample.generate_month(paths[key], colour, year, month, ROWS, seed=7) == ROWS
    return paths


@pytest.mark.parametrize("key", ["yellow", "green", "fhv", "fhv_2019", "fhvhv", "fhvhv_2019"])
def test_header_is_exact_per_variant(tmp_path: Path, key: str) -> None:
    colour = key.split("_")[0]
    path = tmp_path / "m.csv.gz"
    sample.generate_month(path, colour, 2019, 2, 50, header=key)
    header, rows = read_rows(path)
    assert ",".join(header) == EXPECTED_HEADERS[key] == ",".join(sample.HEADERS[key])
    assert len(rows) == 50
    assert {len(r) for r in rows} == {len(header)}


@pytest.mark.parametrize("key", ["yellow", "green", "fhv", "fhvhv"])
def test_row_count_and_valid_gzip(months: dict[str, Path], key: str) -> None:
    raw = months[key].read_bytes()
    assert raw[:2] == b"\x1f\x8b"
    data = gzip.decompress(raw)  # checks CRC and length trailer
    assert data.count(b"\n") == ROWS + 1
    assert b'"' not in data
    assert pacsv.read_csv(months[key]).num_rows == ROWS


@pytest.mark.parametrize("key", ["yellow", "green"])
def test_missing_metadata_tail(months: dict[str, Path], key: str) -> None:
    header, rows = read_rows(months[key])
    n_tail = sample.missing_metadata_count(ROWS, key)
    assert n_tail == ROWS * 3 // 100 == sample.missing_metadata_count(ROWS, key, 2020, 1)
    assert sorted(sample.missing_metadata_columns(key, 2020, 1)) == sorted(METADATA[key])
    cols = [header.index(c) for c in METADATA[key]]
    for i, row in enumerate(rows):
        in_tail = i >= ROWS - n_tail
        assert all((row[c] == "") == in_tail for c in cols), (i, row)
        assert row[header.index("PULocationID")] != ""  # locations survive in the tail
        assert row[header.index("congestion_surcharge")] != ""  # before 2020-10, kept


@pytest.mark.parametrize(("month", "share"), [(10, (42_510, 95_120)), (11, (3, 100))])
def test_green_tail_from_2020_10(tmp_path: Path, month: int, share: tuple[int, int]) -> None:
    """From 2020-10 the tail also lacks congestion_surcharge, and has the real share
    where a real month was seen (2020-10: 44.7 %); other months keep 3 %."""
    path = tmp_path / "m.csv.gz"
    sample.generate_month(path, "green", 2020, month, ROWS, seed=month)
    header, rows = read_rows(path, "\r\n")
    n_tail = sample.missing_metadata_count(ROWS, "green", 2020, month)
    assert n_tail == ROWS * share[0] // share[1]
    empty = sample.missing_metadata_columns("green", 2020, month)
    assert sorted(empty) == sorted([*METADATA["green"], "congestion_surcharge"])
    cols = [header.index(c) for c in empty]
    for i, row in enumerate(rows):
        assert all((row[c] == "") == (i >= ROWS - n_tail) for c in cols), (i, row)


def test_green_from_2020_10_values_are_the_real_files(tmp_path: Path) -> None:
    """As the real green 2020-10: distances always with two decimals (``.00``), refunds
    as negative amounts with payment 3 or 4, and a tail whose clock is on the minute,
    fares have cents, with no extra or MTA tax and a tip of 2.75 in most rows."""
    path = tmp_path / "m.csv.gz"
    sample.generate_month(path, "green", 2020, 11, ROWS, seed=11)
    header, rows = read_rows(path, "\r\n")
    col = {name: header.index(name) for name in header}
    n_tail = sample.missing_metadata_count(ROWS, "green", 2020, 11)
    main, tail = rows[: ROWS - n_tail], rows[ROWS - n_tail :]
    distances = {r[col["trip_distance"]] for r in rows}
    assert ".00" in distances and all(re.fullmatch(r"(\d+)?\.\d\d", d) for d in distances)
    refunds = [r for r in main if r[col["total_amount"]].startswith("-")]
    assert 0.001 * len(main) < len(refunds) < 0.01 * len(main)
    assert {r[col["payment_type"]] for r in refunds} == {"3", "4"}
    assert all(r[col["fare_amount"]].startswith("-") for r in refunds)
    assert all(r[col["improvement_surcharge"]] == "-0.3" for r in refunds)
    assert sum(r[col["lpep_pickup_datetime"]].endswith(":00") for r in tail) > 0.98 * n_tail
    assert sum(r[col["extra"]] == r[col["mta_tax"]] == "0" for r in tail) > 0.98 * n_tail
    assert 0.9 < sum(r[col["tip_amount"]] == "2.75" for r in tail) / n_tail < 0.95
    cents = sum(bool(re.fullmatch(r"\d+\.\d\d", r[col["fare_amount"]])) for r in tail)
    assert cents > 0.8 * n_tail


def test_ehail_fee_always_empty(months: dict[str, Path]) -> None:
    header, rows = read_rows(months["green"])
    col = header.index("ehail_fee")
    assert {r[col] for r in rows} == {""}


@pytest.mark.parametrize("key", ["yellow", "green"])
def test_codes_and_values_are_realistic(months: dict[str, Path], key: str) -> None:
    header, rows = read_rows(months[key])
    col = {name: header.index(name) for name in header}

    def values(name: str) -> set[str]:
        return {r[col[name]] for r in rows} - {""}

    assert values("VendorID") == {"1", "2"}
    assert values("RatecodeID") <= {"1", "2", "3", "4", "5", "6", "99"}
    assert values("payment_type") <= {"1", "2", "3", "4", "5"}
    assert {"1", "2"} <= values("payment_type")
    assert values("store_and_fwd_flag") == {"N", "Y"}
    locations = values("PULocationID") | values("DOLocationID")
    assert {int(v) for v in locations} <= set(range(1, 266))
    assert len(locations) > 200
    if key == "green":
        assert values("trip_type") == {"1", "2"}
    for row in rows:
        pickup, dropoff = row[1], row[2]
        assert DATETIME.fullmatch(pickup) and DATETIME.fullmatch(dropoff)
        assert dropoff > pickup


@pytest.mark.parametrize("key", ["yellow", "green"])
def test_decimal_formats_mix_like_the_real_files(months: dict[str, Path], key: str) -> None:
    header, rows = read_rows(months[key])
    money = ["fare_amount", "extra", "mta_tax", "tip_amount", "tolls_amount", "total_amount"]
    texts = [r[header.index(c)] for r in rows for c in [*money, "trip_distance"]]
    assert all(re.fullmatch(r"(0|[1-9]\d*)?(\.\d{1,2})?", t) and t for t in texts)
    assert any(re.fullmatch(r"\.\d\d", t) for t in texts)  # ".20"
    assert "0.5" in texts  # leading zero and a single decimal
    assert "0" in texts  # zero is just "0"
    assert not any(t in {"0.0", "0.00", ".00"} for t in texts)
    assert any(re.fullmatch(r"[1-9]\d*\.\d\d", t) for t in texts)  # "2.10" style too


@pytest.mark.parametrize(("as_floats", "pattern"), [(False, r"\d+"), (True, r"\d+\.0")])
@pytest.mark.parametrize("key", ["yellow", "green", "fhv", "fhvhv", "fhvhv_2019"])
def test_integer_code_style(tmp_path: Path, key: str, as_floats: bool, pattern: str) -> None:
    path = tmp_path / "m.csv.gz"
    colour = key.split("_")[0]
    sample.generate_month(path, colour, 2021, 6, 2_000, header=key, ints_as_floats=as_floats)
    header, rows = read_rows(path, sample.line_end(colour, 2021, 6))
    for name in INT_COLUMNS[key]:
        texts = {r[header.index(name)] for r in rows} - {""}
        assert texts and all(re.fullmatch(pattern, t) for t in texts), (name, sorted(texts)[:5])


def pickups_outside(path: Path, year: int, month: int) -> tuple[int, str, int]:
    table = pacsv.read_csv(path)
    pickup = table.column(next(c for c in table.column_names if "pickup_datetime" in c))
    start = datetime(year, month, 1)
    end = datetime(year + month // 12, month % 12 + 1, 1)
    before = pc.sum(pc.less(pickup, start)).as_py() or 0
    after = pc.sum(pc.greater_equal(pickup, end)).as_py() or 0
    return before + after, str(pickup[0].as_py()), after


@pytest.mark.parametrize(
    ("key", "year", "month"), [("yellow", 2021, 1), ("fhv", 2019, 12), ("fhvhv", 2019, 2)]
)
def test_pickups_outside_month_are_counted(
    months: dict[str, Path], key: str, year: int, month: int
) -> None:
    outside, first, after = pickups_outside(months[key], year, month)
    assert outside == sample.outside_month_count(ROWS) == 10
    assert first < f"{year}-{month:02}-01"  # the first row is from the previous month
    assert after > 0


def test_outside_month_count_rule() -> None:
    assert sample.outside_month_count(0) == 0
    assert sample.outside_month_count(1) == 0
    assert sample.outside_month_count(2) == 1
    assert sample.outside_month_count(1_369_765) == 684  # about 0.05 %
    assert sample.outside_month_count(95_120, "green", 2020, 10) == 9  # the real month's
    assert sample.outside_month_count(95_120, "green", 2020, 11) == 47  # no evidence: 0.05 %


def test_green_2020_10_pickups_outside_are_the_real_kinds(tmp_path: Path) -> None:
    """As the real month's 9: two minutes before it, two on 2008-12-31/2009-01-01, five
    early in the next month, and none in the tail."""
    rows = 95_120
    path = tmp_path / "m.csv.gz"
    sample.generate_month(path, "green", 2020, 10, rows, seed=10, compresslevel=1)
    _, lines = read_rows(path, "\r\n")
    outside = [(i, r[1]) for i, r in enumerate(lines) if not r[1].startswith("2020-10")]
    assert len(outside) == sample.outside_month_count(rows, "green", 2020, 10) == 9
    assert max(i for i, _ in outside) < rows - sample.missing_metadata_count(
        rows, "green", 2020, 10
    )
    days = sorted(p[:10] for _, p in outside)
    assert all(d in ("2008-12-31", "2009-01-01") for d in days[:2])
    assert days[2:4] == ["2020-09-30"] * 2 and days[4:] == ["2020-11-01"] * 5


def test_fhv_values(months: dict[str, Path]) -> None:
    _, rows = read_rows(months["fhv"])
    base, pu, do, sr, affiliated = (0, 3, 4, 5, 6)
    assert all(re.fullmatch(r"B\d{5}", r[base]) for r in rows)
    for col in (pu, do):
        empty = sum(r[col] == "" for r in rows)
        assert 0.05 * ROWS < empty < 0.5 * ROWS
    assert {r[sr] for r in rows} == {"", "1"}
    assert sum(r[sr] == "" for r in rows) > 0.8 * ROWS
    assert 0 < sum(r[affiliated] == "" for r in rows) < 0.2 * ROWS
    assert all(re.fullmatch(r"B\d{5}", r[affiliated]) for r in rows if r[affiliated])


def test_fhvhv_values(months: dict[str, Path]) -> None:
    """The mirror's high-volume files: four licences with their own bases, locations in
    every row, SR_Flag 1 or empty, no metadata tail."""
    _, rows = read_rows(months["fhvhv"])
    licence, base, pickup, dropoff, pu, do, sr = range(7)
    licences = {r[licence] for r in rows}
    assert licences == {"HV0002", "HV0003", "HV0004", "HV0005"}  # Juno and Via in 2019
    share = {k: sum(r[licence] == k for r in rows) / ROWS for k in licences}
    assert 0.65 < share["HV0003"] < 0.8 and 0.2 < share["HV0005"] < 0.33  # Uber, Lyft
    uber = {r[base] for r in rows if r[licence] == "HV0003"}
    assert len(uber) == 12 and "B02764" in uber
    assert {r[base] for r in rows if r[licence] == "HV0005"} == {"B02510"}
    assert all(re.fullmatch(r"B\d{5}", r[base]) for r in rows)
    for col in (pu, do):
        assert {int(r[col]) for r in rows} <= set(range(1, 266))  # never empty
        assert len({r[col] for r in rows}) > 200
    assert {r[sr] for r in rows} == {"", "1"}
    assert 0.05 * ROWS < sum(r[sr] == "1" for r in rows) < 0.15 * ROWS
    for row in rows:
        assert DATETIME.fullmatch(row[pickup]) and row[dropoff] > row[pickup]
    assert sample.missing_metadata_count(ROWS, "fhvhv") == 0


def test_fhvhv_licences_follow_the_years(tmp_path: Path) -> None:
    """Juno left in 2019 and Via in 2021-11; shared rides all but stopped in 2020-03."""
    path = tmp_path / "m.csv.gz"
    sample.generate_month(path, "fhvhv", 2022, 3, 3_000, header="fhvhv_2019")
    _, rows = read_rows(path)
    assert {r[0] for r in rows} == {"HV0003", "HV0005"}
    assert sum(r[6] == "1" for r in rows) < 0.03 * 3_000


@pytest.mark.parametrize(
    ("year", "month", "key"),
    [(2019, 2, "fhvhv_2019"), (2021, 1, "fhvhv_2019"), (2021, 5, "fhvhv_2019"),
     (2021, 6, "fhvhv"), (2022, 3, "fhvhv")],
)  # fmt: skip
def test_fhvhv_form_follows_the_month(tmp_path: Path, year: int, month: int, key: str) -> None:
    """The mirror's 2021-01 has the TLC's header (its head is printed in the course's
    05-batch notebook), its 2021-06 the other (the real head in ../shared/real-tlc)."""
    assert sample.default_header("fhvhv", year, month) == key
    path = tmp_path / "m.csv.gz"
    sample.generate_month(path, "fhvhv", year, month, 3_000)
    header, _ = read_rows(path)
    assert ",".join(header) == EXPECTED_HEADERS[key]


def test_fhvhv_2021_06_form_values(tmp_path: Path) -> None:
    """No licence; SR_Flag N, or Y for a shared request; Affiliated_base_number the
    dispatching base for Uber's bases, empty for Lyft's (and Via's until 2021-11)."""
    path = tmp_path / "m.csv.gz"
    sample.generate_month(path, "fhvhv", 2022, 3, 3_000)
    _, rows = read_rows(path)
    base, sr, affiliated = 0, 5, 6
    assert {r[sr] for r in rows} == {"N", "Y"}
    assert sum(r[sr] == "Y" for r in rows) < 0.03 * 3_000
    assert all(r[affiliated] in ("", r[base]) for r in rows)
    assert {r[base] for r in rows if not r[affiliated]} == {"B02510"}  # Lyft; Via is gone
    assert 0.65 < sum(r[affiliated] != "" for r in rows) / 3_000 < 0.8  # Uber's share


def test_deterministic_per_seed(tmp_path: Path) -> None:
    a, b, c = (tmp_path / f"{n}.csv.gz" for n in "abc")
    sample.generate_month(a, "green", 2020, 11, 3_000, seed=1)
    sample.generate_month(b, "green", 2020, 11, 3_000, seed=1)
    sample.generate_month(c, "green", 2020, 11, 3_000, seed=2)
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv.gz", "b.csv.gz", "c.csv.gz"]
    assert a.stat().st_mode & 0o044 == 0o044  # readable by a mirror or container user


def test_several_chunks_stay_consistent(tmp_path: Path) -> None:
    rows = sample.CHUNK_ROWS + 50_001
    path = tmp_path / "m.csv.gz"
    sample.generate_month(path, "yellow", 2019, 2, rows, seed=3, compresslevel=1)
    table = pacsv.read_csv(path)
    assert table.num_rows == rows
    assert table.column("VendorID").null_count == sample.missing_metadata_count(rows)
    pickup = table.column("tpep_pickup_datetime")
    outside, _, _ = pickups_outside(path, 2019, 2)
    assert outside == sample.outside_month_count(rows)
    assert pc.all(pc.greater(table.column("tpep_dropoff_datetime"), pickup)).as_py()


def test_empty_month_has_header_only(tmp_path: Path) -> None:
    path = tmp_path / "m.csv.gz"
    assert sample.generate_month(path, "yellow", 2021, 7, 0) == 0
    assert gzip.decompress(path.read_bytes()).decode() == EXPECTED_HEADERS["yellow"] + "\n"


def test_write_mirror_layout(tmp_path: Path) -> None:
    paths = sample.write_mirror(tmp_path, "green", 2020, [1, 11], 100, seed=5)
    assert paths == [
        tmp_path / "green" / "green_tripdata_2020-01.csv.gz",
        tmp_path / "green" / "green_tripdata_2020-11.csv.gz",
    ]
    assert all(p.is_file() for p in paths)
    assert paths[0].read_bytes() != paths[1].read_bytes()
    fhvhv = sample.write_mirror(tmp_path, "fhvhv", 2019, [2], 100)
    assert fhvhv == [tmp_path / "fhvhv" / "fhvhv_tripdata_2019-02.csv.gz"]
    with pytest.raises(ValueError, match="'blue' is not a valid Colour"):
        sample.write_mirror(tmp_path, "blue", 2019, [2], 100)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"colour": "blue"},
        {"header": "green"},
        {"header": "fhv_2019"},
        {"colour": "fhvhv", "header": "fhv"},
        {"colour": "fhv", "header": "fhvhv"},
        {"colour": "fhv", "header": "fhvhv_2019"},
        {"colour": "fhvhv", "header": "fhv_2019"},
        {"month": 13},
        {"rows": -1},
        {"compresslevel": 10},
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"colour": "yellow", "month": 1, "rows": 10} | kwargs
    with pytest.raises(ValueError):
        sample.generate_month(tmp_path / "x.csv.gz", year=2021, **args)  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())


def test_full_size_yellow_month_timing(tmp_path: Path) -> None:
    """Prints (does not assert) time and size for the real yellow 2021-01 row count."""
    rows = 1_369_765
    path = tmp_path / "yellow_tripdata_2021-01.csv.gz"
    t0 = time.perf_counter()
    sample.generate_month(path, "yellow", 2021, 1, rows)
    elapsed = time.perf_counter() - t0
    size = path.stat().st_size
    print(f"\n{rows:,} yellow rows: {elapsed:.2f} s, {size / 1e6:.1f} MB gzipped")
    lines = 0
    d = zlib.decompressobj(31)
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            lines += d.decompress(chunk).count(b"\n")
    assert d.eof and lines == rows + 1
    assert 15e6 < size < 40e6  # the real file is about 25 MB
