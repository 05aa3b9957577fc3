"""Per-partition data-quality checks, run before a partition is published.

Checks read the stats the transform gathered while streaming, plus the parquet
footer, so they cost no second pass over the data. Each check has a severity: a
failed ``fail`` check stops the partition from being published; a ``warn`` is
recorded in the manifest and the artifact. Thresholds and severities live in
``POLICY`` and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from taxi_etl.params import Colour
from taxi_etl.schemas import for_colour
from taxi_etl.transform import TransformStats


class Severity(StrEnum):
    warn = "warn"
    fail = "fail"


@dataclass(frozen=True)
class Rule:
    severity: Severity
    threshold: float  # meaning depends on the check: a minimum share or a maximum share
    #: Fewer rows than this cannot tell: the check passes, and its detail says why.
    min_rows: int = 0


# The one place thresholds and severities are set. Real TLC months carry a few
# negative fares (refunds) and clock-skewed trips, so those are shares, not zero.
POLICY: dict[str, Rule] = {
    "rows_positive": Rule(Severity.fail, 1),
    "schema_canonical": Rule(Severity.fail, 1),
    "pickups_in_month_share": Rule(Severity.warn, 0.99),
    # A file whose pickups are mostly outside its month is another month's file (a
    # mirror that serves January as 2019-11): refused, not loaded under the wrong name.
    # Real months carry a few strays (green 2020-01's first row is from 2019-12), and a
    # real file's first rows can be mostly strays (yellow 2019-01's first 8 rows: 5 from
    # 2018), so a file is judged on 1,000 rows at least; a real month has far more.
    "file_holds_its_month": Rule(Severity.fail, 0.5, min_rows=1_000),
    "negative_distance_share": Rule(Severity.warn, 0.01),
    "negative_fare_share": Rule(Severity.warn, 0.01),
    "negative_duration_share": Rule(Severity.warn, 0.01),
    "key_null_share": Rule(Severity.fail, 0.05),
    # A column no era of the schema knows is dropped and listed in the manifest; this
    # says so where people look. Set it to fail to refuse such months instead.
    "unknown_columns": Rule(Severity.warn, 0),
    # Text codes with no data-dictionary value (2009-2010's DDS vendor, typos) are
    # null in the partition and counted here, by value.
    "codes_mapped_share": Rule(Severity.warn, 1.0),
    # Timestamps pandas cannot hold as nanoseconds (fhv 2019-02's dropoff in 3019) are
    # kept; pandas reads them as datetime64[us], Arrow and DuckDB as they are.
    "timestamps_in_pandas_range": Rule(Severity.warn, 0),
}

# Columns a trip is useless without, each with what stands in for it in an era that
# lacks it: the original csv files carry coordinates instead of location ids (yellow
# until 2016-06, green 2013-2016-06), and the course mirror's 2021-06 fhvhv names the
# dispatching base but not the company. fhv files leave locations empty for most
# trips, so they are not key columns there.
KEY_COLUMNS: dict[Colour, tuple[tuple[str, ...], ...]] = {
    Colour.yellow: (
        ("tpep_pickup_datetime",),
        ("tpep_dropoff_datetime",),
        ("PULocationID", "pickup_longitude"),
        ("DOLocationID", "dropoff_longitude"),
    ),
    Colour.green: (
        ("lpep_pickup_datetime",),
        ("lpep_dropoff_datetime",),
        ("PULocationID", "pickup_longitude"),
        ("DOLocationID", "dropoff_longitude"),
    ),
    Colour.fhv: (("dispatching_base_num",), ("pickup_datetime",)),
    Colour.fhvhv: (
        ("hvfhs_license_num", "dispatching_base_num"),
        ("pickup_datetime",),
        ("dropoff_datetime",),
        ("PULocationID",),
        ("DOLocationID",),
    ),
}


@dataclass(frozen=True)
class CheckResult:
    name: str
    severity: Severity
    passed: bool
    value: float
    threshold: float
    detail: str

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["severity"] = self.severity.value
        return out


class QualityError(RuntimeError):
    """A ``fail`` check did not pass; the partition was not published."""


def _check(name: str, value: float, ok: bool, detail: str) -> CheckResult:
    rule = POLICY[name]
    return CheckResult(name, rule.severity, ok, round(value, 6), rule.threshold, detail)


def _key_nulls(stats: TransformStats, share: Callable[[int], float]) -> CheckResult:
    """The worst null share among the key columns, each by the first of its stand-ins
    the file had (a column the file lacked entirely is null-filled, not missing data)."""
    worst, worst_col = 0.0, ""
    for group in KEY_COLUMNS[Colour(stats.colour)]:
        present = [c for c in group if c not in stats.columns_null_filled] or list(group)
        value = share(stats.nulls.get(present[0], 0))
        if value >= worst:
            worst, worst_col = value, present[0]
    rule = POLICY["key_null_share"]
    detail = f"highest null share among key columns: {worst_col}"
    return _check("key_null_share", worst, worst <= rule.threshold, detail)


def _source_checks(stats: TransformStats, share: Callable[[int], float]) -> list[CheckResult]:
    """What the source held that the partition could not: unknown columns, codes with
    no value, timestamps out of pandas' range. Kept or listed, never silently lost."""
    unknown = stats.columns_unknown
    unmapped = sum(n for values in stats.unmapped.values() for n in values.values())
    mapped = 1 - share(unmapped)
    return [
        _check(
            "unknown_columns",
            len(unknown),
            len(unknown) <= POLICY["unknown_columns"].threshold,
            f"not in the partition: {unknown}" if unknown else "every source column is known",
        ),
        _check(
            "codes_mapped_share",
            mapped,
            mapped >= POLICY["codes_mapped_share"].threshold,
            f"null for want of a code: {stats.unmapped}" if unmapped else "every code mapped",
        ),
        _check(
            "timestamps_in_pandas_range",
            stats.far_timestamps,
            stats.far_timestamps <= POLICY["timestamps_in_pandas_range"].threshold,
            f"{stats.far_timestamps} timestamps outside 1677-2262, kept",
        ),
    ]


def run_checks(stats: TransformStats, parquet: Path) -> list[CheckResult]:
    schema = for_colour(stats.colour)
    rows = stats.rows
    share = (lambda n: n / rows) if rows else (lambda n: 0.0)
    results = [
        _check("rows_positive", rows, rows >= POLICY["rows_positive"].threshold, f"{rows} rows")
    ]
    written, canonical = pq.read_schema(parquet), schema.arrow
    same = written.equals(canonical)
    detail = "parquet schema equals the canonical schema" if same else f"schema differs: {written}"
    results.append(_check("schema_canonical", float(same), same, detail))
    if stats.outside_month is not None:
        inside = 1 - share(stats.outside_month)
        ok = inside >= POLICY["pickups_in_month_share"].threshold
        detail = f"{stats.outside_month} pickups outside the month"
        results.append(_check("pickups_in_month_share", inside, ok, detail))
        rule = POLICY["file_holds_its_month"]
        ok = inside >= rule.threshold or rows < rule.min_rows
        detail = (
            "the pickups are in its month"
            if inside >= rule.threshold
            else f"{rows} rows are too few to tell another month's file from strays"
            if ok
            else f"the file holds another month: {1 - inside:.1%} of its pickups are outside "
            f"its month (first {stats.pickup_min}, last {stats.pickup_max})"
        )
        results.append(_check("file_holds_its_month", inside, ok, detail))
    for name, count, applies in (
        ("negative_distance_share", stats.negative_distance, schema.distance),
        ("negative_fare_share", stats.negative_fare, schema.fare),
        ("negative_duration_share", stats.negative_duration, True),
    ):
        if applies:  # fhv files carry no distance or fare
            value = share(count)
            results.append(_check(name, value, value <= POLICY[name].threshold, f"{count} rows"))
    return [*results, _key_nulls(stats, share), *_source_checks(stats, share)]


def failures(results: list[CheckResult]) -> list[CheckResult]:
    return [r for r in results if not r.passed and r.severity is Severity.fail]


def describe(results: list[CheckResult]) -> str:
    return ", ".join(f"{r.name}={r.value} ({r.detail})" for r in results)


def enforce(results: list[CheckResult], what: str) -> None:
    failed = failures(results)
    if failed:
        raise QualityError(f"{what}: quality checks failed, not published: {describe(failed)}")
