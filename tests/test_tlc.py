"""The TLC's own files end to end, through the command a user types: every era of every
dataset into one table per dataset, months not published yet, republished files, the
catch-up, and a month loaded from the other source. Over a local mirror on 127.0.0.1
that answers like the TLC's host (403 for what it does not have, ETag, Last-Modified).
"""

from __future__ import annotations

import asyncio
import shutil
from collections import defaultdict
from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest
from samples import TLC_ROWS

from taxi_etl import flows
from taxi_etl.cli import main, running
from taxi_etl.devtools import demo, mirror, tlc_mirror, tlc_sample
from taxi_etl.lake import MANIFEST_FILE, Manifest, open_lake
from taxi_etl.params import Partition, parse_month_range
from taxi_etl.schemas import for_colour


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


def _served(dataset: str) -> dict[int, list[int]]:
    months: dict[int, list[int]] = defaultdict(list)
    for tlc_set in demo.TLC_SETS:
        if tlc_set.dataset == dataset:
            months[tlc_set.year] += list(tlc_set.months)
    return months


@pytest.mark.parametrize("dataset", tlc_sample.DATASETS)
def test_every_era_of_a_dataset_reads_back_as_one_table(
    workdir: Path, tlc_url: str, tlc_root: Path, dataset: str
) -> None:
    lake = workdir / "lake"
    loaded = 0
    for year, months in sorted(_served(dataset).items()):
        args = ["run", "--source", "tlc", "--colour", dataset, "--year", str(year)]
        months_args = ["--months", *map(str, months), "--source-url", tlc_url]
        assert main([*args, *months_args, "--lake", str(lake)]) == 0, (year, months)
        loaded += len(months)
    root = lake / f"colour={dataset}"
    table = ds.dataset(root, format="parquet", partitioning="hive")
    assert len({f.physical_schema for f in table.get_fragments()}) == 1
    assert table.schema.remove_metadata().field(0) == for_colour(dataset).arrow.field(0)
    assert table.count_rows() == TLC_ROWS * loaded
    # DuckDB over every era at once, no union_by_name: the same rows and the same fares.
    fare = for_colour(dataset).fare or for_colour(dataset).pickup
    sql = f"SELECT count(*) FROM read_parquet('{root}/*/*/data.parquet', hive_partitioning=1)"
    assert duckdb.sql(sql).fetchall() == [(TLC_ROWS * loaded,)]
    if for_colour(dataset).fare:
        sql = f"SELECT sum({fare}) FROM read_parquet('{root}/*/*/data.parquet')"
        total = pc.sum(table.to_table(columns=[fare])[fare]).as_py()
        assert duckdb.sql(sql).fetchall()[0][0] == pytest.approx(total, rel=1e-12)


def test_a_month_not_published_yet_is_one_request_and_writes_nothing(
    workdir: Path, tlc_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = mirror.FaultPlan()
    with mirror.serve(tlc_root, faults=plan, missing=tlc_mirror.MISSING) as url:
        args = ["run", "--source", "tlc", "--colour", "green", "--year", "2025", "--months", "3"]
        assert main([*args, "--source-url", tlc_mirror.tlc_base_url(url)]) == 1
    assert "not_published" in capsys.readouterr().out
    path = "/" + tlc_mirror.tlc_path("green", 2025, 3)
    assert (plan.head_requests[path], plan.requests[path]) == (1, 0)  # no retry on 403
    assert not (workdir / "lake").exists()


def test_a_month_the_tlc_never_had_is_a_parameter_error(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["run", "--source", "tlc", "--colour", "green", "--year", "2013", "--months", "8"]
    assert main([*args, "--source-url", "http://127.0.0.1:9"]) == 2
    assert "the TLC publishes green from 2014-01" in capsys.readouterr().err
    assert list(workdir.iterdir()) == []


def test_a_republished_month_is_reloaded_and_nothing_else_is_touched(
    workdir: Path, tlc_root: Path, tmp_path: Path
) -> None:
    root = tmp_path / "republishing"
    shutil.copytree(tlc_root, root)
    lake = workdir / "lake"
    plan = mirror.FaultPlan()
    with mirror.serve(root, faults=plan, missing=tlc_mirror.MISSING) as url:
        base = tlc_mirror.tlc_base_url(url)
        args = ["--source", "tlc", "--source-url", base, "--lake", str(lake)]
        assert main(["backfill", "green", "2024-10..2024-12", *args]) == 0
        before = _snapshot(lake)
        gets = sum(plan.requests.values())
        tlc_mirror.republish(root, "green", 2024, 11, TLC_ROWS + 7, revision=1)
        state = running.run_flow(
            flows.etl_backfill_flow,
            months="2024-10..2024-12",
            colour="green",
            source="tlc",
            source_url=base,
            lake=str(lake),
        )
    assert [(r.partition.ym, r.status) for r in state.result()] == [
        ("2024-10", "skipped"),
        ("2024-11", "reloaded"),
        ("2024-12", "skipped"),
    ]
    assert sum(plan.requests.values()) == gets + 1  # one download: the republished month
    after = _snapshot(lake)
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {
        f"colour=green/year=2024/month=11/{n}" for n in ("data.parquet", "_manifest.json")
    }
    manifest = open_lake(lake).loaded(Partition("green", 2024, 11))
    assert manifest is not None and manifest.rows == TLC_ROWS + 7
    assert manifest.source == "tlc" and manifest.source_etag


def test_catch_up_loads_up_to_the_first_unpublished_month_and_says_what_it_did(
    workdir: Path, tlc_url: str
) -> None:
    """demo.CATCH_UP: green 2024-10..2025-02 published, 2025-03 not yet."""

    def catch_up() -> list[tuple[str, str]]:
        state = running.run_flow(
            flows.etl_catchup_flow,
            colour="green",
            start="2024-10",
            end="2025-06",
            source_url=tlc_url,
        )
        assert state.is_completed(), state
        return [(r.partition.ym, r.status.value) for r in state.result()]

    first = catch_up()
    published = parse_month_range("2024-10..2025-02")
    assert first == [(f"{y}-{m:02d}", "loaded") for y, m in published] + [
        ("2025-03", "not_published")
    ]
    second = catch_up()
    assert second == [(ym, "skipped") for ym, _ in first[:-1]] + [("2025-03", "not_published")]

    async def summary() -> str:
        from prefect import get_client

        async with get_client() as client:
            artifact = await client.read_latest_artifacts(limit=200)
        texts = [a.data for a in artifact if a.key == "summary-catchup-green"]
        return str(texts[0])

    text = asyncio.run(summary())
    assert "5 unchanged" in text and "1 not yet published" in text
    zones = list((workdir / "lake" / "zones").glob("revision=*/data.parquet"))
    assert len(zones) == 1  # the catch-up keeps the zone lookup too


def test_a_month_from_the_other_source_is_kept_unless_forced(
    workdir: Path, mirror_url: str, tmp_path: Path
) -> None:
    """The course mirror's green 2020-01, then the TLC's: one month in the lake, once."""
    root = tmp_path / "tlc"
    tlc_mirror.write_tlc_months(root, tlc_mirror.sets_of([("green", 2020, 1)]), rows=TLC_ROWS)
    lake = workdir / "lake"
    assert (
        main(
            [
                "run",
                "--colour",
                "green",
                "--year",
                "2020",
                "--months",
                "1",
                "--source-url",
                mirror_url,
                "--lake",
                str(lake),
            ]
        )
        == 0
    )
    with mirror.serve(root, missing=tlc_mirror.MISSING) as url:
        tlc = ["--source", "tlc", "--source-url", tlc_mirror.tlc_base_url(url)]
        state = running.run_flow(
            flows.etl_parent_flow,
            months=[1],
            year=2020,
            colour="green",
            source="tlc",
            source_url=tlc_mirror.tlc_base_url(url),
            lake=str(lake),
        )
        [kept] = state.result()
        assert kept.status == "kept" and "loaded from dtc" in (kept.reason or "")
        path = lake / "colour=green/year=2020/month=01" / MANIFEST_FILE
        assert Manifest.model_validate_json(path.read_bytes()).source == "dtc"
        args = ["run", "--colour", "green", "--year", "2020", "--months", "1", "--force"]
        assert main([*args, *tlc, "--lake", str(lake)]) == 0
    manifest = Manifest.model_validate_json(path.read_bytes())
    assert (manifest.source, manifest.rows) == ("tlc", TLC_ROWS)
    assert len(list((lake / "colour=green").rglob("data.parquet"))) == 1
