"""Prefect wiring: tasks around the modules, the child flow per month, the parent flow.

No business logic lives here. Tasks are async and push their work to a thread, so a
parent can run several months at once on one event loop while downloads wait on the
network and Arrow's C++ code runs without the GIL. Transforms take turns for the cores
(pipeline.transform_month), so one month downloads while another transforms. (Prefect's
own per-task work stays on the GIL; benchmarks/README.md measures what concurrency buys.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.filesystems import LocalFileSystem
from prefect.runtime import flow_run
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH
from prefect.tasks import task_input_hash

from taxi_etl import executors, pipeline, quality, source
from taxi_etl.lake import Lake, Partition, open_lake
from taxi_etl.notify import notify_failure
from taxi_etl.params import (
    Colour,
    Concurrency,
    DaskAddress,
    Month,
    MonthRange,
    ParameterError,
    Runner,
    Year,
    parse_month_range,
    previous_month,
)
from taxi_etl.params import validate as validate_params
from taxi_etl.pipeline import MonthResult
from taxi_etl.settings import Settings


class LoadFailed(RuntimeError):
    """At least one month of a parent run failed; the others still finished."""

    def __init__(self, message: str, results: list[MonthResult]) -> None:
        super().__init__(message, results)
        self.results = results

    def __str__(self) -> str:
        return str(self.args[0])


def _settings(lake: str | None, source_url: str | None) -> Settings:
    overrides = {k: v for k, v in (("lake", lake), ("source_url", source_url)) if v}
    return Settings(**overrides)  # type: ignore[arg-type]


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
    await quality.publish_artifact(part, results, t.stats)
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
    cfg = _settings(lake, source_url)
    part = Partition(Colour(colour), year, month)
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


# Called with each month's result as it finishes; the CLI hangs its progress bar here.
progress_listeners: list[Callable[[MonthResult], None]] = []


class _Progress:
    """Reports each finished month: CLI listeners, and a backfill's progress artifact."""

    def __init__(self, total: int, key: str | None) -> None:
        self.total, self.key = total, key
        self.done: list[MonthResult] = []

    async def add(self, result: MonthResult) -> MonthResult:
        self.done.append(result)
        for listener in progress_listeners:
            listener(result)
        if self.key:
            await quality.publish_progress(self.key, len(self.done), self.total, self.done)
        return result


# The run's progress, for the Dask subflow, which runs in this process and context but
# takes only serialisable parameters.
_progress: ContextVar[_Progress | None] = ContextVar("taxi_etl_progress", default=None)


async def _as_result(part: Partition, state: Any) -> MonthResult:
    """A child flow's or Dask task's final state as the month's result; its error is
    kept and reported, it does not stop the other months."""
    data = await state.result(raise_on_failure=False, fetch=True)
    if state.is_completed():
        return data  # type: ignore[no-any-return]
    if not isinstance(data, BaseException):
        data = RuntimeError(f"ended {state.type.value}")
    return MonthResult.failed(part, data)


async def _run_months(
    colour: Colour,
    pairs: list[tuple[int, int]],
    *,
    force: bool,
    concurrency: int,
    lake: str | None,
    source_url: str | None,
    runner: Runner | None = None,
    dask_address: str | None = None,
    skip_loaded: bool = False,
    progress_key: str | None = None,
) -> list[MonthResult]:
    """Run every (year, month): as child flows here, at most `concurrency` at once, or
    as tasks on Dask (a local cluster of `concurrency` workers, or the given one).

    With `skip_loaded`, months the lake already holds completely are skipped without
    a download or a run, which is what makes a long backfill cheap to resume.
    """
    cfg = _settings(lake, source_url)
    execution = executors.resolve(runner, dask_address, cfg)
    progress = _Progress(len(pairs), progress_key)
    results: dict[tuple[int, int], MonthResult] = {}
    if skip_loaded and not force:
        target = await asyncio.to_thread(open_lake, cfg.lake)
        for year, month in pairs:
            part = Partition(colour, year, month)
            found = await asyncio.to_thread(target.loaded, part)
            if found is not None:
                results[year, month] = await progress.add(MonthResult.skipped(target, part, found))
    todo = [p for p in pairs if p not in results]
    logger = get_run_logger()
    logger.info("%d months to run on %s", len(todo), execution.describe())
    if todo and execution.runner is Runner.dask:
        token = _progress.set(progress)
        try:
            on_dask = etl_dask_months.with_options(
                task_runner=executors.task_runner(execution, concurrency)
            )
            ran = await on_dask(colour, [f"{y}-{m:02d}" for y, m in todo], force, lake, source_url)
        finally:
            _progress.reset(token)
        results.update(zip(todo, ran, strict=True))
    elif todo:
        await _prepare_result_storage()
        gate = asyncio.Semaphore(concurrency)

        async def child(year: int, month: int) -> None:
            async with gate:
                state = await etl_web_to_gcs(
                    month, year, colour, force, lake, source_url, return_state=True
                )
            part = Partition(colour, year, month)
            results[year, month] = await progress.add(await _as_result(part, state))

        await asyncio.gather(*(child(y, m) for y, m in todo))
    ordered = [results[p] for p in pairs]
    for r in ordered:
        logger.info("%s: %s%s", r.partition, r.status, f" ({r.error})" if r.error else "")
    return ordered


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
            await quality.publish_artifact(*checked)


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
    cfg = _settings(lake, source_url)
    run_id = str(flow_run.id or "") or None
    progress = _progress.get() or _Progress(len(months), None)
    parts = [Partition(Colour(colour), y, m) for ym in months for y, m in parse_month_range(ym)]
    futures = [await load_on_worker.submit(p, cfg, force, run_id) for p in parts]

    async def one(part: Partition, future: Any) -> MonthResult:
        return await progress.add(await _as_result(part, await future.wait()))

    return list(await asyncio.gather(*(one(p, f) for p, f in zip(parts, futures, strict=True))))


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
    run = validate_params(colour, year, months)
    results = await _run_months(
        run.colour,
        [(run.year, m) for m in run.months],
        force=force,
        concurrency=concurrency,
        lake=lake,
        source_url=source_url,
        runner=runner,
        dask_address=dask_address,
    )
    await quality.publish_summary(
        f"{run.colour.value}-{run.year}", [r.model_dump() for r in results]
    )
    bad = [r for r in results if r.status in ("failed", "not_published")]
    if bad:
        raise LoadFailed("; ".join(f"{r.partition}: {r.error}" for r in bad), results)
    return results


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
    pairs = parse_month_range(months)
    colour = Colour(colour)
    results = await _run_months(
        colour,
        pairs,
        force=force,
        concurrency=concurrency,
        lake=lake,
        source_url=source_url,
        runner=runner,
        dask_address=dask_address,
        skip_loaded=True,
        progress_key=f"backfill-{colour.value}-progress",
    )
    await quality.publish_summary(f"backfill-{colour.value}", [r.model_dump() for r in results])
    unpublished = [r.partition for r in results if r.status == "not_published"]
    if unpublished:
        get_run_logger().warning("not published (yet): %s", ", ".join(unpublished))
    failed = [r for r in results if r.status == "failed"]
    if failed:
        raise LoadFailed("; ".join(f"{r.partition}: {r.error}" for r in failed), results)
    return results


def run_flow(which: Any, **kwargs: Any) -> Any:
    """Run a flow to its final state from synchronous code (the CLI)."""

    async def main() -> Any:
        return await which(**kwargs, return_state=True)

    return asyncio.run(main())


def outcome(state: Any) -> tuple[bool, list[MonthResult]]:
    """(completed?, per-month results) of a parent or backfill run's final state."""
    try:
        results: list[MonthResult] = state.result()
    except LoadFailed as exc:
        results = exc.results
    return state.is_completed(), results


def run_parent(**kwargs: Any) -> Any:
    return run_flow(etl_parent_flow, **kwargs)
