"""What a run shows in the UI, rendered without pandas."""

from __future__ import annotations

import subprocess
import sys

from taxi_etl.orchestration.artifacts import artifact_key, summary_markdown
from taxi_etl.params import Partition
from taxi_etl.pipeline import MonthResult, MonthStatus

RESULTS = [
    MonthResult.of(
        Partition("green", 2019, 12),
        MonthStatus.loaded,
        rows=1_234_567,
        outside_month=12,
        uri="gs://b/colour=green/year=2019/month=12/data.parquet",
    ),
    MonthResult.of(Partition("green", 2020, 1), MonthStatus.skipped, rows=10),
    MonthResult.of(Partition("green", 2020, 2), MonthStatus.failed, error="SchemaError: a|b"),
    MonthResult.of(Partition("green", 2020, 3), MonthStatus.not_published, error="HTTP 404"),
]


def test_summary_has_a_row_per_month_and_the_totals() -> None:
    lines = summary_markdown(RESULTS).splitlines()
    assert lines[2] == (
        "| colour=green/year=2019/month=12 | loaded | 1,234,567 | 12 | "
        "[gs://b/colour=green/year=2019/month=12/data.parquet]"
        "(gs://b/colour=green/year=2019/month=12/data.parquet) |  |"
    )
    assert lines[3] == "| colour=green/year=2020/month=01 | skipped | 10 |  |  |  |"
    assert lines[4].endswith("| SchemaError: a/b |")  # a pipe would split the cell
    assert lines[-1] == (
        "4 months, 1,234,577 rows; 1 new, 1 unchanged, 1 not yet published, 1 failed."
    )


def test_keys_are_what_prefect_accepts() -> None:
    assert artifact_key("summary", "backfill-green") == "summary-backfill-green"
    assert artifact_key("quality", "fhv", 2019, "01") == "quality-fhv-2019-01"
    assert artifact_key("not_published") == "not-published"


def test_rendering_a_summary_imports_no_pandas() -> None:
    code = (
        "import sys; from taxi_etl import pipeline, params;"
        "from taxi_etl.orchestration import artifacts;"
        "r = pipeline.MonthResult.of(params.Partition('fhv', 2019, 1), 'loaded', rows=1);"
        "artifacts.summary_markdown([r]);"
        "assert 'pandas' not in sys.modules, 'pandas was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
