from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from taxi_etl import quality, source
from taxi_etl.devtools import sample
from taxi_etl.transform import TransformStats, convert


@pytest.fixture
def converted(tmp_path: Path) -> tuple[TransformStats, Path]:
    src = tmp_path / source.file_name("yellow", 2021, 2)
    sample.generate_month(src, "yellow", 2021, 2, 10_000)
    out = tmp_path / "out.parquet"
    return convert(src, out, "yellow"), out


def by_name(results: list[quality.CheckResult]) -> dict[str, quality.CheckResult]:
    return {r.name: r for r in results}


def test_a_realistic_month_passes(converted: tuple[TransformStats, Path]) -> None:
    stats, path = converted
    results = by_name(quality.run_checks(stats, path))
    assert set(results) == {
        "rows_positive",
        "schema_canonical",
        "pickups_in_month_share",
        "file_holds_its_month",
        "negative_distance_share",
        "negative_fare_share",
        "negative_duration_share",
        "key_null_share",
        "unknown_columns",
        "codes_mapped_share",
        "timestamps_in_pandas_range",
    }
    assert all(r.passed for r in results.values()), results
    assert results["pickups_in_month_share"].value == pytest.approx(
        1 - sample.outside_month_count(10_000) / 10_000
    )
    quality.enforce(list(results.values()), "yellow 2021-02")


def test_empty_month_fails(converted: tuple[TransformStats, Path]) -> None:
    stats, path = converted
    stats.rows = 0
    results = quality.run_checks(stats, path)
    assert not by_name(results)["rows_positive"].passed
    with pytest.raises(quality.QualityError, match="rows_positive"):
        quality.enforce(results, "yellow 2021-02")


def test_wrong_schema_fails(converted: tuple[TransformStats, Path], tmp_path: Path) -> None:
    stats, _ = converted
    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"VendorID": pa.array([1.0])}), other)
    results = by_name(quality.run_checks(stats, other))
    assert not results["schema_canonical"].passed
    assert results["schema_canonical"].severity is quality.Severity.fail


def test_warnings_do_not_block(converted: tuple[TransformStats, Path]) -> None:
    stats, path = converted
    stats.negative_fare = stats.rows // 2
    stats.outside_month = stats.rows // 2
    results = quality.run_checks(stats, path)
    warned = {r.name for r in results if not r.passed}
    assert warned == {"negative_fare_share", "pickups_in_month_share"}
    quality.enforce(results, "yellow 2021-02")  # warn severity: no exception


def test_null_keys_fail(converted: tuple[TransformStats, Path]) -> None:
    stats, path = converted
    stats.nulls["PULocationID"] = stats.rows // 10
    results = by_name(quality.run_checks(stats, path))
    assert not results["key_null_share"].passed
    assert "PULocationID" in results["key_null_share"].detail


def test_a_file_that_holds_another_month_fails_with_the_share(tmp_path: Path) -> None:
    """January's file served as 2019-11: its name says November, its content says
    otherwise. Real stray rows only warn."""
    src = tmp_path / "yellow_tripdata_2019-11.csv.gz"
    sample.generate_month(src, "yellow", 2019, 1, 5_000)
    out = tmp_path / "out.parquet"
    stats = convert(src, out, "yellow")  # the month from the file's name: 2019-11
    results = by_name(quality.run_checks(stats, out))
    held = results["file_holds_its_month"]
    assert not held.passed and held.severity is quality.Severity.fail
    assert held.detail.startswith("the file holds another month: 100.0% of its pickups")
    with pytest.raises(quality.QualityError, match="the file holds another month"):
        quality.enforce(list(results.values()), "yellow 2019-11")


def test_a_few_rows_cannot_make_a_file_another_months(tmp_path: Path) -> None:
    """Real heads start with strays: yellow 2019-01's first 8 rows hold 5 from 2018.
    Fewer rows than the rule's min_rows pass, and the detail says why."""
    src = tmp_path / "yellow_tripdata_2019-11.csv.gz"
    rows = quality.POLICY["file_holds_its_month"].min_rows - 1
    sample.generate_month(src, "yellow", 2019, 1, rows)
    out = tmp_path / "out.parquet"
    held = by_name(quality.run_checks(convert(src, out, "yellow"), out))["file_holds_its_month"]
    assert held.passed and held.value == 0.0
    assert held.detail == f"{rows} rows are too few to tell another month's file from strays"
