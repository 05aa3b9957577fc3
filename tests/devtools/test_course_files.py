"""The generator's course-mirror months against the mirror's real files
(../shared/real-tlc/course, see its README): header bytes, line ends, fields per row, the
shapes of every column's values, and green 2020-10's tail of rows without metadata.

The real files are found at TAXI_ETL_REAL_TLC, else ../shared/real-tlc beside the
repository; without them these tests skip, or fail when TAXI_ETL_REQUIRE_REAL_TLC=1.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest
from conformance.locate import real_root, required

from taxi_etl.devtools import sample

pytestmark = pytest.mark.one_line

#: Green 2020-10 is generated at this many times the real month's 95,120 rows: a shape
#: the real month has in one row (refunds with cents: ``-#.dd`` fares in the main rows,
#: ``-#.d`` in the tail) is missed by a same-size sample a third of the time.
SCALE = 4
#: (real file under the root, colour, year, month, rows to generate).
CASES = {
    "green-2020-10": (
        "course/green_tripdata_2020-10.csv.gz", "green", 2020, 10, SCALE * 95_120
    ),
    "fhvhv-2021-06": ("course/fhvhv_tripdata_2021-06.head.csv.gz", "fhvhv", 2021, 6, 3_000),
}  # fmt: skip


@dataclass(frozen=True)
class Month:
    """A csv.gz month as bytes and as text columns (empty values as ``""``)."""

    data: bytes
    table: pa.Table

    @property
    def header_line(self) -> bytes:
        return self.data[: self.data.index(b"\n") + 1]

    @property
    def line_end(self) -> str:
        crlf, lf = self.data.count(b"\r\n"), self.data.count(b"\n")
        return "\r\n" if crlf == lf else "\n" if crlf == 0 and b"\r" not in self.data else "mixed"

    @property
    def field_counts(self) -> set[int]:
        lines = self.data.rstrip(b"\r\n").split(b"\n")
        return {line.count(b",") + 1 for line in lines}

    def tail_rows(self) -> int:
        """The length of the trailing run of rows with an empty VendorID."""
        filled = pc.not_equal(self.table["VendorID"], "").to_numpy(zero_copy_only=False)
        last = filled.nonzero()[0]
        return len(filled) - (int(last[-1]) + 1 if len(last) else 0)


def read_month(path: Path) -> Month:
    data = gzip.decompress(path.read_bytes())
    names = data[: data.index(b"\n")].decode().rstrip("\r").split(",")
    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()),
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    return Month(data, pacsv.read_csv(path, convert_options=convert))


def shapes(column: pa.ChunkedArray | pa.Array) -> set[str]:
    """Each value's shape: a number's integer digits as ``#`` (none for ``.79``), every
    other digit as ``d``; ``-0.5`` is ``-#.d``, ``.79`` ``.dd``, ``B02764`` ``Bddddd``,
    ``2020-10-01 12:17:00`` ``dddd-dd-dd dd:dd:dd``, letters and ``""`` as they are."""
    text = pc.replace_substring_regex(pc.unique(column), r"^(-?)\d+(\.|$)", r"\1#\2")
    text = pc.replace_substring_regex(text, r"\d", "d")
    return set(pc.unique(text).to_pylist())


def real_file(name: str) -> Path:
    path = real_root() / name
    if not path.is_file():
        why = f"no real course file at {path} (set TAXI_ETL_REAL_TLC)"
        if required():
            pytest.fail(f"{why}, and TAXI_ETL_REQUIRE_REAL_TLC=1")
        pytest.skip(why)
    return path


_LOADED: dict[str, tuple[Month, Month]] = {}


def load(case: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Month, Month]:
    """The real month and the generated one, read once per session."""
    if case not in _LOADED:
        name, colour, year, month, rows = CASES[case]
        real = read_month(real_file(name))
        path = tmp_path_factory.mktemp("course") / Path(name).name
        sample.generate_month(path, colour, year, month, rows, seed=month, compresslevel=1)
        _LOADED[case] = (real, read_month(path))
    return _LOADED[case]


@pytest.fixture(params=sorted(CASES))
def pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Month, Month]:
    """(case, the real month, the generated month)."""
    return (request.param, *load(request.param, tmp_path_factory))


@pytest.fixture
def green(tmp_path_factory: pytest.TempPathFactory) -> tuple[Month, Month]:
    """The real green 2020-10 and the generated one, :data:`SCALE` times its size."""
    return load("green-2020-10", tmp_path_factory)


@pytest.fixture
def fhvhv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Month, Month]:
    """The real fhvhv 2021-06's first 100 rows and a generated month."""
    return load("fhvhv-2021-06", tmp_path_factory)


def test_every_real_course_file_is_compared() -> None:
    """A course file added to the real files gets a case here (or this fails)."""
    course = real_file(CASES["green-2020-10"][0]).parent
    found = {f"course/{p.name}" for p in course.glob("*.csv.gz")}
    assert found == {name for name, *_ in CASES.values()}


def test_header_bytes_and_line_ends_are_the_real_files(pair: tuple[str, Month, Month]) -> None:
    case, real, ours = pair
    _, colour, year, month, _ = CASES[case]
    assert ours.header_line == real.header_line
    assert ours.line_end == real.line_end == sample.line_end(colour, year, month)
    assert ours.data.endswith(real.line_end.encode()) and real.data.endswith(b"\n")
    assert (
        ours.header_line.decode().strip().split(",")
        == sample.HEADERS[sample.default_header(colour, year, month)]
    )


def test_every_row_has_the_headers_fields(pair: tuple[str, Month, Month]) -> None:
    _, real, ours = pair
    assert ours.field_counts == real.field_counts == {real.table.num_columns}


def _parts(case: str, real: Month, ours: Month) -> list[tuple[str, pa.Table, pa.Table]]:
    """Green's main rows and tail apart (their values differ), fhvhv's rows whole."""
    if not case.startswith("green"):
        return [("rows", real.table, ours.table)]
    r, o = real.table.num_rows - real.tail_rows(), ours.table.num_rows - ours.tail_rows()
    return [
        ("main", real.table.slice(0, r), ours.table.slice(0, o)),
        ("tail", real.table.slice(r), ours.table.slice(o)),
    ]


def test_value_shapes_include_the_real_ones(pair: tuple[str, Month, Month]) -> None:
    """Every shape a column's values have in the real file, the generated file has too
    (``.79`` and ``0.5``, ``-2.5`` refunds, empty values, ``Bddddd`` bases...)."""
    case, real, ours = pair
    missing = {}
    for part, real_rows, our_rows in _parts(case, real, ours):
        for name in real_rows.column_names:
            lacking = shapes(real_rows[name]) - shapes(our_rows[name])
            if lacking:
                missing[f"{part} {name}"] = sorted(lacking)
    assert not missing, f"shapes of the real {case} the generated month lacks: {missing}"


def test_green_tail_is_the_real_share_with_the_real_empty_columns(
    green: tuple[Month, Month],
) -> None:
    real, ours = green
    assert (real.tail_rows(), real.table.num_rows) == (42_510, 95_120)  # the file seen
    assert ours.tail_rows() == SCALE * 42_510
    assert ours.tail_rows() == sample.missing_metadata_count(ours.table.num_rows, "green", 2020, 10)
    assert abs(ours.tail_rows() / ours.table.num_rows - 42_510 / 95_120) < 0.01
    for month in green:
        main_rows = month.table.num_rows - month.tail_rows()
        tail, main = month.table.slice(main_rows), month.table.slice(0, main_rows)
        empty = {n for n in tail.column_names if shapes(tail[n]) == {""}}
        assert empty == {*sample.missing_metadata_columns("green", 2020, 10), "ehail_fee"}
        assert {n for n in main.column_names if "" in shapes(main[n])} == {"ehail_fee"}
        on_the_minute = pc.mean(pc.ends_with(tail["lpep_pickup_datetime"], ":00")).as_py()
        assert on_the_minute > 0.99  # the real 99.3 % (seconds in 303 of 42,510)


def test_green_pickups_outside_the_month_are_the_real_count(green: tuple[Month, Month]) -> None:
    counts = []
    for month in green:
        pickup = pc.strptime(month.table["lpep_pickup_datetime"], "%Y-%m-%d %H:%M:%S", "s")
        outside = pc.or_(
            pc.less(pickup, pa.scalar(datetime(2020, 10, 1), pa.timestamp("s"))),
            pc.greater_equal(pickup, pa.scalar(datetime(2020, 11, 1), pa.timestamp("s"))),
        ).to_numpy(zero_copy_only=False)
        assert not outside[len(outside) - month.tail_rows() :].any()  # none in the tail
        counts.append(int(outside.sum()))
    rows = SCALE * 95_120
    assert counts == [9, SCALE * 9] == [9, sample.outside_month_count(rows, "green", 2020, 10)]


def test_fhvhv_affiliated_base_is_the_dispatching_base_or_empty(
    fhvhv: tuple[Month, Month],
) -> None:
    """In the real 2021-06 form Affiliated_base_number repeats Uber's bases and is empty
    for Lyft's (B02510) and Via's (B02800); SR_Flag is N (Y for a shared request)."""
    real, ours = fhvhv
    for month in fhvhv:
        base, affiliated = (
            month.table["dispatching_base_num"],
            month.table["Affiliated_base_number"],
        )
        same = pc.equal(base, affiliated)
        assert pc.all(pc.or_(same, pc.equal(affiliated, ""))).as_py()
        assert pc.any(same).as_py() and pc.any(pc.equal(affiliated, "")).as_py()
        empty = pc.filter(base, pc.equal(affiliated, ""))
        assert set(pc.unique(empty).to_pylist()) <= {"B02510", "B02800"}
    assert set(pc.unique(real.table["SR_Flag"]).to_pylist()) == {"N"}
    assert set(pc.unique(ours.table["SR_Flag"]).to_pylist()) == {"N", "Y"}
