"""The fan-out over a run's months: child flows in this process, or one task each on
Dask; at most ``concurrency`` at once, each month's end reported as it comes.

Tasks are async and push their work to a thread, so a parent can run several months
at once on one event loop while downloads wait on the network and Arrow's C++ code
runs without the GIL. Transforms take turns for the cores (pipeline.transform_month),
so one month downloads while another transforms. (Prefect's own per-task work stays on
the GIL; benchmarks/README.md measures what concurrency buys.)
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from prefect import get_run_logger

from taxi_etl import pipeline, source
from taxi_etl.lake import LakeUnreachable, ManifestDamaged, partition_key
from taxi_etl.orchestration import artifacts, runners
from taxi_etl.orchestration.dask_flow import months_on_dask
from taxi_etl.orchestration.month_flow import etl_web_to_gcs
from taxi_etl.orchestration.progress import Progress, as_result
from taxi_etl.params import Colour, Partition, Runner
from taxi_etl.pipeline import MonthResult, MonthStatus
from taxi_etl.settings import Settings


class LoadFailed(RuntimeError):
    """At least one month of a parent run failed; the others still finished."""

    def __init__(self, message: str, results: list[MonthResult]) -> None:
        super().__init__(message, results)
        self.results = results

    def __str__(self) -> str:
        return str(self.args[0])


#: Months whose host is asked at once by a triage (HEAD requests; no downloads).
TRIAGE_AT_ONCE = 8


@dataclass(frozen=True)
class MonthsRun:
    """What a parent, backfill or catch-up run asks for, as the flows received it."""

    colour: Colour
    months: list[tuple[int, int]]
    force: bool
    concurrency: int
    #: The run's settings: its lake, source and the source's URL over this process's.
    cfg: Settings
    runner: Runner | None = None
    dask_address: str | None = None
    #: Ask each month's host first, here, and start no run for a month the lake holds
    #: in its current version: what makes a long backfill cheap to resume and re-run.
    triage: bool = False
    #: Stop at the first month the host has not published (a catch-up to the newest).
    stop_at_unpublished: bool = False
    progress_key: str | None = None

    def partitions(self) -> list[Partition]:
        return [Partition(self.colour, y, m) for y, m in self.months]


async def _triage_one(lake: Any, part: Partition, cfg: Settings, probe_all: bool) -> Any:
    """A month's result if it needs no run (held, or not published), else None."""
    try:
        held = await asyncio.to_thread(lake.loaded, part)
    except ManifestDamaged:
        return None  # its run says so, and loads it again
    except LakeUnreachable as exc:
        return MonthResult.failed(part, exc)
    if held is None and not probe_all:
        return None  # new: its run asks the host
    try:
        remote = await asyncio.to_thread(pipeline.probe, part, cfg)
    except source.NotPublished as exc:
        if held is None:
            return MonthResult.failed(part, exc)
        gone = pipeline.Verdict(part, MonthStatus.skipped, held, "the host no longer has it")
        return MonthResult.held(lake, gone)
    except source.SourceError as exc:
        return MonthResult.failed(part, exc)
    if held is None:
        return None
    verdict = pipeline.decide(lake, part, remote, cfg, force=False)
    return None if verdict.work else MonthResult.held(lake, verdict)


async def _triage(
    run: MonthsRun, progress: Progress
) -> tuple[list[Partition], dict[Partition, MonthResult]]:
    """The months to run, and the results of those that need none. With
    `stop_at_unpublished` the months after the first unpublished one are dropped."""
    cfg = run.cfg
    lake = await asyncio.to_thread(pipeline.lake_of, cfg)
    gate = asyncio.Semaphore(TRIAGE_AT_ONCE)
    parts = run.partitions()

    async def one(part: Partition) -> Any:
        async with gate:
            return await _triage_one(lake, part, cfg, run.stop_at_unpublished)

    found = dict(zip(parts, await asyncio.gather(*(one(p) for p in parts)), strict=True))
    if run.stop_at_unpublished:
        first = next((p for p in parts if _unpublished(found[p])), None)
        parts = [p for p in parts if first is None or p <= first]
    progress.total = len(parts)
    results = {}
    for part in parts:
        if found[part] is not None:
            results[part] = await progress.add(found[part])
    return [p for p in parts if p not in results], results


def _unpublished(result: MonthResult | None) -> bool:
    return result is not None and result.status is MonthStatus.not_published


async def run_months(run: MonthsRun) -> list[MonthResult]:
    """Every month of `run`, as child flows here or as tasks on Dask.

    Returns the results in the order of ``run.months``.
    """
    execution = runners.resolve(run.runner, run.dask_address, run.cfg)
    progress = Progress(len(run.months), run.progress_key)
    todo, results = run.partitions(), dict[Partition, MonthResult]()
    if run.triage and not run.force:
        todo, results = await _triage(run, progress)
    logger = get_run_logger()
    logger.info("%d months to run on %s", len(todo), execution.describe())
    if todo and execution.runner is Runner.dask:
        on_dask = months_on_dask(runners.task_runner(execution, run.concurrency), progress)
        months = [(p.year, p.month) for p in todo]
        ran = await on_dask(colour=run.colour, months=months, force=run.force, cfg=run.cfg)
        results.update(zip(todo, ran, strict=True))
    elif todo:
        gate = asyncio.Semaphore(run.concurrency)
        unreachable: list[str] = []  # once the lake is, the months not started are not tried

        async def child(part: Partition) -> None:
            async with gate:
                if unreachable:
                    result = MonthResult.of(part, MonthStatus.failed, error=unreachable[0])
                    results[part] = await progress.add(result)
                    return
                state = await etl_web_to_gcs(
                    month=part.month,
                    year=part.year,
                    colour=part.colour,
                    force=run.force,
                    cfg=run.cfg,
                    return_state=True,
                )
            result = await as_result(part, state)
            if result.error and result.error.startswith(LakeUnreachable.__name__):
                unreachable.append(f"not tried: {result.error}")
            results[part] = await progress.add(result)

        await asyncio.gather(*(child(p) for p in todo))
    ordered = [results[p] for p in run.partitions() if p in results]
    for r in ordered:
        error = f" ({r.error})" if r.error else ""
        logger.info("%s: %s%s", partition_key(r.partition), r.status.value, error)
    return ordered


async def finish(
    results: list[MonthResult], summary: str, *, fail_unpublished: bool
) -> list[MonthResult]:
    """Publish the run's summary, then fail it if a month failed.

    Months the source has not published fail a parent run (it asked for them by name)
    but only get a warning from a backfill (a range may run past the newest release).
    """
    await artifacts.publish_summary(summary, results)
    unpublished = [r for r in results if r.status is MonthStatus.not_published]
    if unpublished and not fail_unpublished:
        get_run_logger().warning(
            "not published (yet): %s", ", ".join(partition_key(r.partition) for r in unpublished)
        )
    bad = [
        r
        for r in results
        if r.status is MonthStatus.failed
        or (fail_unpublished and r.status is MonthStatus.not_published)
    ]
    if bad:
        raise LoadFailed(
            "; ".join(f"{partition_key(r.partition)}: {r.error}" for r in bad), results
        )
    return results
