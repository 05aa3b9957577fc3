"""Prefect wiring: the tasks around the pipeline's steps, the child flow per month, the
parent and backfill flows, and the Dask subflow. No business logic lives here; the
fan-out over months is ``fanout``, what a run shows in the UI is ``artifacts``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.filesystems import LocalFileSystem
from prefect.runtime import flow_run
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH
from prefect.tasks import task_input_hash

from taxi_etl import artifacts, fanout, orphans, pipeline, quality, source
from taxi_etl.fanout import LoadFailed
from taxi_etl.lake import Lake, open_lake
from taxi_etl.notify import notify_failure
from taxi_etl.params import (
    Colour,
    Concurrency,
    DaskAddress,
    Month,
    MonthRange,
    ParameterError,
    Partition,
    Runner,
    Year,
    parse_month_range,
    previous_month,
)
from taxi_etl.params import validate as validate_params
from taxi_etl.pipeline import MonthResult
from taxi_etl.settings import Settings

__all__ = [
    "LoadFailed",
    "etl_backfill_flow",
    "etl_dask_months",
    "etl_parent_flow",
    "etl_web_to_gcs",
]


# Where the cached fetch results go. Prefect saves an anonymous block for it on first
# use; two children doing that at once deadlock SQLite ("database is locked"), so the
# parent saves it once before it starts them (see _prepare_result_storage).
RESULT_STORAGE = LocalFileSystem(basepath=str(PREFECT_LOCAL_STORAGE_PATH.value()))


async def _prepare_result_storage() -> None:
    if RESULT_STORAGE._block_document_id is None:
        await RESULT_STORAGE._save(is_anonymous=True, overwrite=True)


@task(
    name="fetch",
    result_storage=RESULT_STORAGE,
    cache_key_fn=task_input_hash,
    cache_expiration=timedelta(days=1),
)
async def fetch(part: Partition, cfg: Settings) -> source.Download:
    get_run_logger().info(
        "downloading %s", source.url_for(cfg.source_url, part.colour, part.year, part.month)
    )
    return await asyncio.to_thread(pipeline.fetch, part, cfg)


@task(name="transform")
async def transform_month(
    part: Partition, download: source.Download, cfg: Settings
) -> pipeline.Transformed:
    t = await asyncio.to_thread(pipeline.transform_month, part, download, cfg)
    get_run_logger().info(
        "%s: %d rows, %s outside the month, %d bytes of parquet",
        part,
        t.stats.rows,
        t.stats.outside_month,
        t.stats.bytes,
    )
    return t


@task(name="quality")
async def check_month(part: Partition, t: pipeline.Transformed) -> list[quality.CheckResult]:
    results = await asyncio.to_thread(pipeline.check, part, t)
    await artifacts.publish_quality(part, results, t.stats)
    quality.enforce(results, str(part))  # a failed check stops the partition here
    return results


@task(name="write")
async def write_month(
    lake: Lake,
    part: Partition,
    t: pipeline.Transformed,
    checks: list[quality.CheckResult],
    download: source.Download,
) -> MonthResult:
    result = await asyncio.to_thread(
        pipeline.publish, lake, part, t, checks, download, str(flow_run.id or "") or None
    )
    get_run_logger().info("published %s", result.uri)
    return result


@flow(name="etl_web_to_gcs", flow_run_name="{colour}-{year}-{month:02d}")
async def etl_web_to_gcs(
    month: Month,
    year: Year,
    colour: Colour = Colour.yellow,
    force: bool = False,
    lake: str | None = None,
    source_url: str | None = None,
) -> MonthResult:
    """Load one month of TLC trips into the lake.

    Args:
        month: Month to load, 1-12.
        year: Year to load.
        colour: yellow, green or fhv.
        force: Reload even if the lake already holds this exact source file.
        lake: Lake location (directory, gs://bucket[/prefix], gcs-block://name);
            defaults to TAXI_ETL_LAKE.
        source_url: Base URL of the csv.gz releases; defaults to TAXI_ETL_SOURCE_URL.
    """
    cfg = Settings.with_overrides(lake=lake, source_url=source_url)
    part = Partition(colour, year, month)
    # The cache key is the inputs; if the cached file is gone, refresh rather than
    # return a path that no longer exists.
    cached = source.cache_path(cfg.cache, part.colour, year, month)
    download = await fetch.with_options(refresh_cache=not cached.exists())(part, cfg)
    # Off the event loop: a gcs-block:// lake loads a Prefect block synchronously.
    target = await asyncio.to_thread(open_lake, cfg.lake, upload_timeout=cfg.upload_timeout)
    kept = await asyncio.to_thread(pipeline.current, target, part, download, force)
    if kept is not None:
        get_run_logger().info(
            "%s is current (source sha256 %s); skipped", part, download.sha256[:12]
        )
        return MonthResult.skipped(target, part, kept)
    t = await transform_month(part, download, cfg)
    try:
        checks = await check_month(part, t)
        return await write_month(target, part, t, checks, download)
    finally:
        t.parquet.unlink(missing_ok=True)


@task(name="load_month", task_run_name="load-{part.colour}-{part.year}-{part.month:02d}")
async def load_on_worker(
    part: Partition, cfg: Settings, force: bool, flow_run_id: str | None
) -> MonthResult:
    """A whole month on whichever Dask worker runs it: the staged parquet never leaves
    that machine, the worker writes the lake itself, and only the result comes back.

    If a worker dies, Dask reruns its month elsewhere, and also months whose results
    were held only on it; such a rerun finds its partition current and writes nothing.
    """
    seen: list[tuple[Any, ...]] = []
    try:
        return await asyncio.to_thread(
            pipeline.load_month,
            part,
            cfg,
            force=force,
            flow_run_id=flow_run_id,
            on_checks=lambda *checked: seen.append(checked),
            keep_download=False,
        )
    finally:
        for checked in seen:
            await artifacts.publish_quality(*checked)


@flow(name="etl_dask_months", flow_run_name="{colour}-on-dask")
async def etl_dask_months(
    colour: Colour,
    months: list[str],
    force: bool = False,
    lake: str | None = None,
    source_url: str | None = None,
) -> list[MonthResult]:
    """The months (YYYY-MM) of a parent or backfill run, one task each on Dask.

    Its task runner is chosen per run by the parent (executors.task_runner).
    """
    cfg = Settings.with_overrides(lake=lake, source_url=source_url)
    run_id = str(flow_run.id or "") or None
    progress = fanout.current_progress.get() or fanout.Progress(len(months), None)
    parts = [Partition(colour, y, m) for ym in months for y, m in parse_month_range(ym)]
    futures = [await load_on_worker.submit(p, cfg, force, run_id) for p in parts]

    async def one(part: Partition, future: Any) -> MonthResult:
        return await progress.add(await fanout.as_result(part, await future.wait()))

    return list(await asyncio.gather(*(one(p, f) for p, f in zip(parts, futures, strict=True))))


def resolve_months(months: list[int] | None, year: int | None) -> tuple[int, list[int]]:
    """Explicit months, or the month before the scheduled start when both are omitted."""
    if months is None and year is None:
        start = flow_run.scheduled_start_time
        y, m = previous_month(start)
        return y, [m]
    if year is None:
        raise ParameterError("year: required when months are given")
    if months is None:
        raise ParameterError("months: required when year is given")
    return year, months


async def _run(run: fanout.MonthsRun, summary: str, *, fail_unpublished: bool) -> list[MonthResult]:
    """The parent and backfill flows' common body: reap what an earlier run that died
    left Running, run the months, then the summary and the failure report."""
    await orphans.reap()
    await _prepare_result_storage()
    results = await fanout.run_months(run, child_flow=etl_web_to_gcs, dask_flow=etl_dask_months)
    return await fanout.finish(results, summary, fail_unpublished=fail_unpublished)


# The two flows' Args blocks repeat each other on purpose: Prefect reads each flow's
# docstring for the UI's parameter descriptions.
@flow(
    name="etl_parent_flow",
    on_failure=[notify_failure],
    on_crashed=[notify_failure],  # type: ignore[list-item]  # async hooks are awaited too
)
async def etl_parent_flow(
    months: list[Month] | None = None,
    year: Year | None = None,
    colour: Colour = Colour.yellow,
    force: bool = False,
    concurrency: Concurrency = 2,
    lake: str | None = None,
    source_url: str | None = None,
    runner: Runner | None = None,
    dask_address: DaskAddress | None = None,
) -> list[MonthResult]:
    """Load several months of one colour, a bounded number at a time.

    Args:
        months: Months to load (1-12). Leave empty together with year on a schedule
            to load the month before the run's scheduled start.
        year: Year of the months.
        colour: yellow, green or fhv.
        force: Reload months even if the lake already holds their exact source file.
        concurrency: How many months load at once (on Dask without an address: the
            local cluster's worker count).
        lake: Lake location (directory, gs://bucket[/prefix], gcs-block://name);
            defaults to TAXI_ETL_LAKE.
        source_url: Base URL of the csv.gz releases; defaults to TAXI_ETL_SOURCE_URL.
        runner: local (child flows in this process) or dask (one task per month on a
            Dask cluster); defaults to TAXI_ETL_RUNNER, else dask when a Dask address
            is set, else local.
        dask_address: Scheduler of an existing Dask cluster (tcp://host:8786);
            defaults to TAXI_ETL_DASK_ADDRESS, else a temporary local cluster.
    """
    year, months = resolve_months(months, year)
    params = validate_params(colour, year, months)
    run = fanout.MonthsRun(
        params.colour,
        [(params.year, m) for m in params.months],
        force=force,
        concurrency=concurrency,
        lake=lake,
        source_url=source_url,
        runner=runner,
        dask_address=dask_address,
    )
    return await _run(run, f"{params.colour.value}-{params.year}", fail_unpublished=True)


@flow(
    name="etl_backfill_flow",
    on_failure=[notify_failure],
    on_crashed=[notify_failure],  # type: ignore[list-item]  # async hooks are awaited too
)
async def etl_backfill_flow(
    months: MonthRange,
    colour: Colour = Colour.yellow,
    force: bool = False,
    concurrency: Concurrency = 2,
    lake: str | None = None,
    source_url: str | None = None,
    runner: Runner | None = None,
    dask_address: DaskAddress | None = None,
) -> list[MonthResult]:
    """Load a range of months that may span years; resumable.

    Months the lake already holds are skipped without a download, so an interrupted
    backfill picks up where it stopped. Months the release has not published are
    reported at the end; any other failure fails the run after the rest finished.

    Args:
        months: Inclusive range YYYY-MM..YYYY-MM, e.g. 2019-01..2021-07.
        colour: yellow, green or fhv.
        force: Reload months even if the lake already holds them.
        concurrency: How many months load at once (on Dask without an address: the
            local cluster's worker count).
        lake: Lake location (directory, gs://bucket[/prefix], gcs-block://name);
            defaults to TAXI_ETL_LAKE.
        source_url: Base URL of the csv.gz releases; defaults to TAXI_ETL_SOURCE_URL.
        runner: local (child flows in this process) or dask (one task per month on a
            Dask cluster); defaults to TAXI_ETL_RUNNER, else dask when a Dask address
            is set, else local.
        dask_address: Scheduler of an existing Dask cluster (tcp://host:8786);
            defaults to TAXI_ETL_DASK_ADDRESS, else a temporary local cluster.
    """
    colour = Colour(colour)
    run = fanout.MonthsRun(
        colour,
        parse_month_range(months),
        force=force,
        concurrency=concurrency,
        lake=lake,
        source_url=source_url,
        runner=runner,
        dask_address=dask_address,
        skip_loaded=True,
        progress_key=f"backfill-{colour.value}-progress",
    )
    return await _run(run, f"backfill-{colour.value}", fail_unpublished=False)
