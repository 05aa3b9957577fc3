"""The parent and child flows end to end on the embedded Prefect API, over a local
HTTP mirror, into a local lake and into GCS (emulator)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from lake_digest import table_digest
from samples import MIRROR_MONTHS

from taxi_etl import flows
from taxi_etl.cli import running
from taxi_etl.devtools import mirror, sample
from taxi_etl.lake import DATA_FILE, MANIFEST_FILE, Manifest, partition_key
from taxi_etl.params import Colour, Partition
from taxi_etl.schemas import for_colour
from taxi_etl.settings import Settings

pytestmark = pytest.mark.prefect


def run(**kw: Any) -> Any:
    return running.run_parent(**kw)


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


@pytest.mark.parametrize("colour", ["yellow", "green", "fhv"])
def test_parent_flow_loads_one_typed_dataset_per_colour(
    workdir: Path, mirror_url: str, colour: str
) -> None:
    year, months, rows = MIRROR_MONTHS[colour]
    state = run(months=months, year=year, colour=colour, source_url=mirror_url)
    assert state.is_completed(), state
    results = state.result()
    assert [r.status for r in results] == ["loaded"] * len(months)

    root = workdir / "lake" / f"colour={colour}"
    dataset = ds.dataset(root, format="parquet", partitioning="hive")
    schemas = {f.physical_schema for f in dataset.get_fragments()}
    assert len(schemas) == 1, "every month must share one schema"
    assert schemas.pop().equals(for_colour(colour).arrow, check_metadata=True)
    assert dataset.count_rows() == rows * len(months)
    assert sorted(dataset.to_table(columns=["month"])["month"].unique().to_pylist()) == months

    # DuckDB, as a warehouse user reads it: one table over every month, timestamps as
    # TIMESTAMP, and every value the same as pyarrow reads (sorted-row digest).
    rel = duckdb.connect().sql(
        f"SELECT * FROM read_parquet('{root}/*/*/{DATA_FILE}', hive_partitioning = true)"
    )
    canonical = for_colour(colour).arrow
    types = dict(zip(rel.columns, map(str, rel.types), strict=True))
    for field in canonical:
        if pa.types.is_timestamp(field.type):
            assert types[field.name] == "TIMESTAMP", field.name
    theirs = rel.arrow().read_all().select(canonical.names).cast(canonical)
    ours = pa.concat_tables(pq.read_table(p) for p in sorted(root.rglob(DATA_FILE)))
    assert theirs.num_rows == rows * len(months)
    assert table_digest(theirs) == table_digest(ours)
    for month in months:
        part = Partition(Colour(colour), year, month)
        folder = workdir / "lake" / partition_key(part)
        m = Manifest.model_validate_json((folder / MANIFEST_FILE).read_bytes())
        assert m.rows == rows
        assert m.stats["outside_month"] == sample.outside_month_count(rows)
        assert m.flow_run_id
        assert m.source_url.startswith(mirror_url)
        assert m.bytes == (folder / DATA_FILE).stat().st_size
        assert {c["name"] for c in m.checks} >= {"rows_positive", "schema_canonical"}


def test_rerun_writes_nothing_and_force_rewrites(workdir: Path, mirror_root: Path) -> None:
    plan = mirror.FaultPlan()
    with mirror.serve(mirror_root, faults=plan) as url:
        assert run(months=[1, 2], year=2020, colour="green", source_url=url).is_completed()
        before = snapshot(workdir / "lake")
        again = run(months=[1, 2], year=2020, colour="green", source_url=url)
        assert [r.status for r in again.result()] == ["skipped", "skipped"]
        assert snapshot(workdir / "lake") == before
        # The re-run asked the host (HEAD) and downloaded nothing: one GET per month.
        assert sum(plan.requests.values()) == 2
        assert all(plan.head_requests[p] >= 2 for p in plan.requests)

        # Cache files gone: a reload must download again, not return a missing path.
        for f in (workdir / "cache").rglob("*.csv.gz"):
            f.unlink()
        forced = run(months=[2], year=2020, colour="green", source_url=url, force=True)
        assert [r.status for r in forced.result()] == ["reloaded"]
        assert sum(plan.requests.values()) == 3
    after = snapshot(workdir / "lake")
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {
        "colour=green/year=2020/month=02/data.parquet",
        "colour=green/year=2020/month=02/_manifest.json",
    }


def test_failing_month_fails_parent_but_others_finish(workdir: Path, mirror_url: str) -> None:
    # 2021 yellow has months 1-3 in the mirror; 8 is "not published".
    state = run(months=[1, 8, 2], year=2021, colour="yellow", source_url=mirror_url)
    assert state.is_failed()
    with pytest.raises(flows.LoadFailed) as err:
        state.result()
    by_part = {r.partition.ym: r for r in err.value.results}
    assert by_part["2021-08"].status == "not_published"
    assert "not published" in by_part["2021-08"].error
    assert by_part["2021-01"].status == "loaded"
    assert by_part["2021-02"].status == "loaded"
    assert not (workdir / "lake" / "colour=yellow" / "year=2021" / "month=08").exists()


@pytest.mark.parametrize(
    "params",
    [
        {"months": [13], "year": 2021, "colour": "yellow"},
        {"months": [1, 1], "year": 2021, "colour": "yellow"},
        {"months": [], "year": 2021, "colour": "yellow"},
        {"months": [1], "year": 1999, "colour": "yellow"},
        {"months": [1], "year": 2021, "colour": "../etc"},
        {"months": [1], "year": None, "colour": "yellow"},
    ],
)
def test_bad_parameters_write_nothing(
    workdir: Path, mirror_root: Path, params: dict[str, Any]
) -> None:
    plan = mirror.FaultPlan()
    with mirror.serve(mirror_root, faults=plan) as url:
        state = run(**params, source_url=url)
    assert state.is_failed()
    with pytest.raises(Exception, match=r"months|year|colour"):
        state.result()
    assert sum(plan.requests.values()) == 0
    assert not (workdir / "lake").exists()
    assert not (workdir / "cache").exists()


def test_child_flow_alone_with_the_course_signature(
    workdir: Path, mirror_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """etl_web_to_gcs(month, year, colour), its settings from the environment."""
    monkeypatch.setenv("TAXI_ETL_DTC_URL", mirror_url)
    result = asyncio.run(flows.etl_web_to_gcs(2, 2019, "fhv"))
    assert result.status == "loaded"
    assert result.rows == MIRROR_MONTHS["fhv"][2]
    again = asyncio.run(flows.etl_web_to_gcs(2, 2019, "fhv", cfg=Settings(source_url=mirror_url)))
    assert again.status == "skipped"


def test_gcs_lake_by_url_and_by_block(
    workdir: Path, mirror_url: str, gcs_bucket: str, throwaway_service_account: Path
) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage
    from prefect_gcp import GcpCredentials
    from prefect_gcp.cloud_storage import GcsBucket

    state = run(
        months=[1],
        year=2020,
        colour="green",
        source_url=mirror_url,
        lake=f"gs://{gcs_bucket}/by-url",
    )
    assert state.is_completed(), state

    GcsBucket(
        bucket=gcs_bucket,
        bucket_folder="by-block",
        gcp_credentials=GcpCredentials(service_account_file=throwaway_service_account),
    ).save("test-lake", overwrite=True)
    state = run(
        months=[1, 2],
        year=2020,
        colour="green",
        source_url=mirror_url,
        lake="gcs-block://test-lake",
    )
    assert state.is_completed(), state
    assert state.result()[0].uri == (
        f"gs://{gcs_bucket}/by-block/colour=green/year=2020/month=01/data.parquet"
    )

    client = storage.Client(credentials=AnonymousCredentials(), project="test")
    names = sorted(b.name for b in client.list_blobs(gcs_bucket))
    assert names == sorted(
        f"{prefix}/colour=green/year=2020/month={m:02d}/{leaf}"
        for prefix, months in (("by-url", [1]), ("by-block", [1, 2]))
        for m in months
        for leaf in (DATA_FILE, MANIFEST_FILE)
    )
    blob = client.bucket(gcs_bucket).blob(
        "by-block/colour=green/year=2020/month=02/" + MANIFEST_FILE
    )
    assert Manifest.model_validate_json(blob.download_as_bytes()).rows == MIRROR_MONTHS["green"][2]
    # Re-run against GCS is a no-op too.
    again = run(
        months=[1, 2],
        year=2020,
        colour="green",
        source_url=mirror_url,
        lake="gcs-block://test-lake",
    )
    assert [r.status for r in again.result()] == ["skipped", "skipped"]


def test_no_months_loads_the_month_before_the_scheduled_start(
    workdir: Path, mirror_url: str
) -> None:
    """What a monthly cron deployment does: no months or year given."""
    from datetime import UTC, datetime

    from taxi_etl.params import previous_month

    year, month = previous_month(datetime.now(UTC))
    state = run(colour="green", source_url=mirror_url)
    with pytest.raises(flows.LoadFailed) as err:
        state.result()
    assert [r.partition for r in err.value.results] == [
        Partition(Colour.green, year, month)
    ]
    assert err.value.results[0].status == "not_published"
