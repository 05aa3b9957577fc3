"""Per-partition data-quality checks, run before a partition is published.

Checks read the stats the transform gathered while streaming, plus the parquet
footer, so they cost no second pass over the data. Each check has a severity: a
failed ``fail`` check stops the partition from being published; a ``warn`` is
recorded in the manifest and the artifact. Thresholds and severities live in
``POLICY`` and nowhere else.
"""

from __future__ import annotations

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


# The one place thresholds and severities are set. Real TLC months carry a few
# negative fares (refunds) and clock-skewed trips, so those are shares, not zero.
POLICY: dict[str, Rule] = {
    "rows_positive": Rule(Severity.fail, 1),
    "schema_canonical": Rule(Severity.fail, 1),
    "pickups_in_month_share": Rule(Severity.warn, 0.99),
    "negative_distance_share": Rule(Severity.warn, 0.01),
    "negative_fare_share": Rule(Severity.warn, 0.01),
    "negative_duration_share": Rule(Severity.warn, 0.01),
    "key_null_share": Rule(Severity.fail, 0.05),
}

# Columns a trip is useless without. fhv files leave locations empty for most
# trips, so they are not key columns there.
KEY_COLUMNS: dict[Colour, tuple[str, ...]] = {
    Colour.yellow: (
        "tpep_pickup_datetime",
        "tpep_dropoff_datetime",
        "PULocationID",
        "DOLocationID",
    ),
    Colour.green: ("lpep_pickup_datetime", "lpep_dropoff_datetime", "PULocationID", "DOLocationID"),
    Colour.fhv: ("dispatching_base_num", "pickup_datetime"),
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


def run_checks(stats: TransformStats, parquet: Path) -> list[CheckResult]:
    colour = Colour(stats.colour)
    rows = stats.rows
    share = (lambda n: n / rows) if rows else (lambda n: 0.0)
    results = [
        _check("rows_positive", rows, rows >= POLICY["rows_positive"].threshold, f"{rows} rows")
    ]
    written = pq.read_schema(parquet)
    canonical = for_colour(colour).arrow
    results.append(
        _check(
            "schema_canonical",
            float(written.equals(canonical)),
            written.equals(canonical),
            "parquet schema equals the canonical schema"
            if written.equals(canonical)
            else f"schema differs: {written}",
        )
    )
    if stats.outside_month is not None:
        inside = 1 - share(stats.outside_month)
        rule = POLICY["pickups_in_month_share"]
        results.append(
            _check(
                "pickups_in_month_share",
                inside,
                inside >= rule.threshold,
                f"{stats.outside_month} pickups outside the month",
            )
        )
    for name, count in (
        ("negative_distance_share", stats.negative_distance),
        ("negative_fare_share", stats.negative_fare),
        ("negative_duration_share", stats.negative_duration),
    ):
        if name != "negative_duration_share" and colour is Colour.fhv:
            continue  # fhv files carry no distance or fare
        value = share(count)
        results.append(_check(name, value, value <= POLICY[name].threshold, f"{count} rows"))
    worst, worst_col = 0.0, ""
    for col in KEY_COLUMNS[colour]:
        value = share(stats.nulls.get(col, 0))
        if value >= worst:
            worst, worst_col = value, col
    results.append(
        _check(
            "key_null_share",
            worst,
            worst <= POLICY["key_null_share"].threshold,
            f"highest null share among key columns: {worst_col}",
        )
    )
    return results


def failures(results: list[CheckResult]) -> list[CheckResult]:
    return [r for r in results if not r.passed and r.severity is Severity.fail]


def enforce(results: list[CheckResult], what: str) -> None:
    failed = failures(results)
    if failed:
        names = ", ".join(f"{r.name}={r.value} ({r.detail})" for r in failed)
        raise QualityError(f"{what}: quality checks failed, not published: {names}")
