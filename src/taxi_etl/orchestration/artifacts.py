"""What a run shows in the Prefect UI: a table per partition's checks, a summary per
parent run, and a backfill's progress.

Prefect wiring only, imported by the flows; the facts come from ``quality`` and the
month results. Artifact keys allow lowercase letters, digits and dashes only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from taxi_etl.lake import partition_key
from taxi_etl.orchestration.compat import awaited
from taxi_etl.params import Partition
from taxi_etl.pipeline import MonthResult, MonthStatus
from taxi_etl.quality import CheckResult
from taxi_etl.transform import TransformStats

#: The transform's stats shown under the checks, in this order.
STATS_SHOWN = (
    "rows",
    "outside_month",
    "negative_distance",
    "negative_fare",
    "negative_duration",
    "pickup_min",
    "pickup_max",
    "bytes",
)


def artifact_key(*parts: object) -> str:
    return "-".join(str(p) for p in parts).lower().replace("_", "-")


async def publish_quality(
    part: Partition, results: list[CheckResult], stats: TransformStats
) -> None:
    """A table artifact per partition: every check, then the headline stats."""
    from prefect.artifacts import create_table_artifact

    rows: list[dict[str, Any]] = [
        {
            "check": r.name,
            "severity": r.severity.value,
            "passed": r.passed,
            "value": r.value,
            "threshold": r.threshold,
            "detail": r.detail,
        }
        for r in results
    ]
    rows += [
        {
            "check": f"stat:{key}",
            "severity": "",
            "passed": "",
            "value": getattr(stats, key),
            "threshold": "",
            "detail": "",
        }
        for key in STATS_SHOWN
    ]
    await awaited(
        create_table_artifact(
            key=artifact_key("quality", part.colour.value, part.year, f"{part.month:02d}"),
            table=rows,
            description=f"Quality checks and stats for {part}",
        )
    )


#: How the summary names each status: a catch-up's four questions (new, reloaded,
#: unchanged, not yet published), then what went wrong.
STATUS_WORDS = {
    MonthStatus.loaded: "new",
    MonthStatus.reloaded: "reloaded",
    MonthStatus.skipped: "unchanged",
    MonthStatus.upgraded: "upgraded in place",
    MonthStatus.kept: "kept from the other source",
    MonthStatus.not_published: "not yet published",
    MonthStatus.failed: "failed",
}


def _status_counts(results: Sequence[MonthResult]) -> str:
    counts = Counter(r.status for r in results)
    return ", ".join(f"{counts[s]} {word}" for s, word in STATUS_WORDS.items() if counts[s])


def summary_markdown(results: Sequence[MonthResult]) -> str:
    """One row per month, linked to its partition, then the totals."""
    lines = [
        "| partition | status | rows | outside month | data | error or reason |",
        "|---|---|---:|---:|---|---|",
    ]
    for r in results:
        link = f"[{r.uri}]({r.uri})" if r.uri else ""
        rows = "" if r.rows is None else f"{r.rows:,}"
        outside = "" if r.outside_month is None else f"{r.outside_month:,}"
        key = partition_key(r.partition)
        detail = (r.error or r.reason or "").replace("|", "/")
        lines.append(f"| {key} | {r.status.value} | {rows} | {outside} | {link} | {detail} |")
    total = sum(r.rows or 0 for r in results)
    lines.append(f"\n{len(results)} months, {total:,} rows; {_status_counts(results)}.")
    return "\n".join(lines)


async def publish_summary(name: str, results: Sequence[MonthResult]) -> None:
    """A markdown artifact for a parent or backfill run."""
    from prefect.artifacts import create_markdown_artifact

    await awaited(
        create_markdown_artifact(
            key=artifact_key("summary", name),
            markdown=summary_markdown(results),
            description=f"{name}: one row per month",
        )
    )


async def publish_progress(key: str, results: Sequence[MonthResult], total: int) -> None:
    """A keyed markdown artifact, re-versioned as months finish: the UI's progress view."""
    from prefect.artifacts import create_markdown_artifact

    detail = ", ".join(
        f"{n} {status}" for status, n in sorted(Counter(r.status.value for r in results).items())
    )
    last = partition_key(results[-1].partition)
    await awaited(
        create_markdown_artifact(
            key=artifact_key(key),
            markdown=f"**{len(results)}/{total} months done** ({detail}); last: {last}",
            description="backfill progress",
        )
    )
