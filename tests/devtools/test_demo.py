"""The demo's month sets: written once, with the real files' variants where they belong;
the TLC months cover every era and a catch-up run."""

from __future__ import annotations

import gzip
import time
import urllib.error
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq

from taxi_etl import source
from taxi_etl.devtools import demo, sample, tlc_mirror, tlc_sample
from taxi_etl.devtools.demo import MonthSet
from taxi_etl.devtools.mirror import serve
from taxi_etl.devtools.tlc_mirror import TlcSet
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


def test_course_months_come_in_their_months_form(tmp_path: Path) -> None:
    """fhvhv 2021-01 in the TLC's header and 2021-06 in the mirror's other one; green
    2020-10 with CRLF line ends, as the mirror's real files (tests/devtools/
    test_course_files.py)."""
    sets = [MonthSet(Colour.fhvhv, 2021, (1, 6)), MonthSet(Colour.green, 2020, (9, 10))]
    demo.write_months(tmp_path, sets, rows=60)
    jan, _ = _header_and_first_row(tmp_path / source.release_path("fhvhv", 2021, 1))
    jun, _ = _header_and_first_row(tmp_path / source.release_path("fhvhv", 2021, 6))
    assert jan.split(",") == sample.HEADERS["fhvhv_2019"] and jan.startswith("hvfhs_license")
    assert jun.split(",") == sample.HEADERS["fhvhv"] and jun.endswith(",Affiliated_base_number")
    for month, eol in [(9, b"\n"), (10, b"\r\n")]:
        data = gzip.decompress((tmp_path / source.release_path("green", 2020, month)).read_bytes())
        assert data.count(eol) == data.count(b"\n") == 21  # the header and 20 rows


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


def tlc_months(sets: tuple[TlcSet, ...]) -> list[tuple[str, int, int]]:
    return [(s.dataset, s.year, m) for s in sets for m in s.months]


def test_tlc_sets_cover_every_era_and_quirk_and_a_catch_up_run() -> None:
    served = tlc_months(demo.TLC_SETS)
    assert len(served) == len(set(served)) == 65
    assert all(s.rows is None for s in demo.TLC_SETS)  # the mirror's TLC rows
    for dataset in tlc_sample.DATASETS:
        wanted = {(dataset, *m) for m in tlc_sample.representative_months(dataset)}
        if dataset == "green":  # nothing after the catch-up run; yellow has 2026-06's column
            assert wanted - set(served) == {("green", 2026, 6)}
            assert ("yellow", 2026, 6) in served
        else:
            assert wanted <= set(served)
    green = sorted((y, m) for d, y, m in served if d == "green")
    assert green[-5:] == [(2024, 10), (2024, 11), (2024, 12), (2025, 1), (2025, 2)]
    assert tlc_sample.era("green", 2024, 12) != tlc_sample.era("green", 2025, 1)


def test_a_catch_up_over_the_served_green_months_stops_at_2025_03(tmp_path: Path) -> None:
    """Probing month by month from 2024-10, as a catch-up must (CloudFront has no listing),
    finds five months and then a 403."""
    green = tuple(s for s in demo.TLC_SETS if s.dataset == "green")
    tlc_mirror.write_tlc_months(tmp_path, green, rows=20)
    found, status = [], 200
    with serve(tmp_path, missing=tlc_mirror.MISSING) as url:
        base = tlc_mirror.tlc_base_url(url)
        year, month = 2024, 10
        for _ in range(24):  # bounded
            try:
                with urllib.request.urlopen(
                    f"{base}/{tlc_sample.file_name('green', year, month)}", timeout=10
                ):
                    found.append((year, month))
            except urllib.error.HTTPError as exc:
                status = exc.code
                break
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    assert found == [(2024, 10), (2024, 11), (2024, 12), (2025, 1), (2025, 2)]
    assert (status, (year, month)) == (403, (2025, 3))


def test_all_tlc_sets_are_written_quickly_at_the_default_rows(tmp_path: Path) -> None:
    """The compose mirror writes them at every first start: keep it to seconds."""
    t0 = time.perf_counter()
    written = tlc_mirror.write_tlc_months(tmp_path, demo.TLC_SETS, demo.TLC_ROWS)
    took = time.perf_counter() - t0
    assert len(written) == 65
    assert pq.ParquetFile(written[0]).metadata.num_rows == demo.TLC_ROWS == 2_000
    assert took < 30, took
