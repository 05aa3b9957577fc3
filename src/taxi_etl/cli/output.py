"""What the command prints: per-month result tables and the lake read back."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from taxi_etl.params import Colour
from taxi_etl.pipeline import MonthResult

if TYPE_CHECKING:
    from taxi_etl.quality import CheckResult
    from taxi_etl.transform import TransformStats

console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


def results_table(title: str, results: Sequence[MonthResult]) -> Table:
    table = Table(title=title)
    for name in ("month", "status", "rows", "outside month", "detail"):
        right = name in ("rows", "outside month")
        # Fold rather than truncate: a path or an error is no use cut short.
        table.add_column(name, justify="right" if right else "left", overflow="fold")
    for r in results:
        table.add_row(
            r.partition.ym,
            r.status.value,
            f"{r.rows:,}" if r.rows is not None else "",
            f"{r.outside_month:,}" if r.outside_month is not None else "",
            r.error or "; ".join(x for x in (r.reason, r.uri) if x),
        )
    return table


def convert_report(
    stats: TransformStats, checks: Sequence[CheckResult], extra: Path
) -> list[str]:
    """What a conversion left out or could not hold, said where the user looks: the
    stats know it, and a month with renamed headers otherwise converts silently."""
    lines = []
    filled = set(stats.columns_null_filled)
    empty = [c for c, n in stats.nulls.items() if stats.rows and n == stats.rows]
    if stats.columns_not_loaded:
        lines.append(f"source columns not loaded: {', '.join(stats.columns_not_loaded)}")
    if filled:
        lines.append(f"not in the file (null): {', '.join(sorted(filled))}")
    present_but_empty = [c for c in empty if c not in filled]
    if present_but_empty:
        lines.append(f"in the file but empty in every row: {', '.join(present_but_empty)}")
    for column, values in stats.unmapped.items():
        counts = ", ".join(f"{v!r} x{n:,}" for v, n in values.items())
        lines.append(f"codes with no data-dictionary value in {column} (null): {counts}")
    if stats.far_timestamps:
        far = stats.far_timestamps
        lines.append(f"timestamps outside pandas' 1677-2262 range (kept): {far:,}")
    if stats.sub_microsecond:
        lines.append(f"timestamps with digits below the microsecond: {stats.sub_microsecond:,}")
    if stats.extra:
        held = ", ".join(f"{c} ({n:,})" for c, n in stats.extra.items())
        lines.append(f"kept as the source wrote them, in {extra.name}: {held}")
    warned = [c for c in checks if not c.passed and c.severity == "warn"]
    return [*lines, *(f"warning: {c.name}: {c.detail}" for c in warned)]


def lake_summary(lake_path: str) -> Table:
    """Read each colour back as one dataset: one schema, and its total rows."""
    import pyarrow.dataset as ds

    table = Table(title=f"lake {lake_path}")
    for name in ("colour", "partitions", "rows", "columns", "one schema"):
        table.add_column(name)
    for colour in Colour:
        root = Path(lake_path) / f"colour={colour.value}"
        if not root.is_dir():
            continue
        dataset = ds.dataset(root, format="parquet", partitioning="hive")
        schemas = {f.physical_schema.remove_metadata() for f in dataset.get_fragments()}
        table.add_row(
            colour.value,
            str(len(dataset.files)),
            f"{dataset.count_rows():,}",
            str(len(dataset.schema)),
            "yes" if len(schemas) == 1 else "NO",
        )
    zones = sorted((Path(lake_path) / "zones").glob("revision=*/data.parquet"))
    if zones:
        revisions = ds.dataset(zones, format="parquet")
        table.add_row(
            "zones", f"{len(zones)} revisions", f"{revisions.count_rows():,}", "", "yes"
        )
    return table
