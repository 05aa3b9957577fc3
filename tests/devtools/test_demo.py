"""The demo's month sets: written once, with the real files' variants where they belong."""

from __future__ import annotations

import gzip
from pathlib import Path

from taxi_etl import source
from taxi_etl.devtools import demo
from taxi_etl.devtools.demo import MonthSet
from taxi_etl.params import Colour


def _header_and_first_row(path: Path) -> tuple[str, str]:
    with gzip.open(path, "rt") as fh:
        return fh.readline().strip(), fh.readline().strip()


def test_months_are_written_in_the_release_layout_with_their_variants(tmp_path: Path) -> None:
    written = demo.write_months(tmp_path, demo.DEMO_SETS, rows=300)
    expected = [
        tmp_path / source.release_path(s.colour, s.year, m)
        for s in demo.DEMO_SETS
        for m in s.months
    ]
    assert written == expected
    fhv_jan, _ = _header_and_first_row(tmp_path / source.release_path("fhv", 2019, 1))
    fhv_feb, _ = _header_and_first_row(tmp_path / source.release_path("fhv", 2019, 2))
    assert fhv_jan.split(",")[2:4] == ["dropoff_datetime", "PULocationID"]  # the 2019 header
    assert fhv_feb.split(",")[2:4] == ["dropOff_datetime", "PUlocationID"]  # the mirror's
    _, yellow_mar = _header_and_first_row(tmp_path / source.release_path("yellow", 2021, 3))
    _, yellow_jan = _header_and_first_row(tmp_path / source.release_path("yellow", 2021, 1))
    assert yellow_mar.split(",")[0] in {"1.0", "2.0"}  # codes as floats, as in 2021-06
    assert yellow_jan.split(",")[0] in {"1", "2"}


def test_rows_per_set_and_existing_files_are_kept(tmp_path: Path) -> None:
    sets = [MonthSet(Colour.green, 2020, (1,)), MonthSet(Colour.yellow, 2019, (3,), rows=40)]
    first = demo.write_months(tmp_path, sets, rows=90)
    counts = {p.name: len(gzip.decompress(p.read_bytes()).splitlines()) - 1 for p in first}
    assert counts == {"green_tripdata_2020-01.csv.gz": 30, "yellow_tripdata_2019-03.csv.gz": 40}
    assert demo.write_months(tmp_path, sets, rows=90) == []  # deterministic, so kept


def test_the_compose_mirror_serves_the_demo_and_a_year_boundary() -> None:
    assert set(demo.DEMO_SETS) < set(demo.MIRROR_SETS)
    served = {(s.colour, s.year, m) for s in demo.MIRROR_SETS for m in s.months}
    assert (Colour.green, 2019, 12) in served and (Colour.green, 2020, 1) in served
