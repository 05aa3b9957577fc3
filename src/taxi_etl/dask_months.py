"""The Dask side of the fan-out: a run's months as one task each on a Dask cluster.

Beside ``fanout``, which starts this subflow with the task runner the run asked for
(``executors.task_runner``); declared here rather than among the deployable flows
because only a parent run starts it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from prefect import flow, task
from prefect.runtime import flow_run

from taxi_etl import artifacts, fanout, pipeline
from taxi_etl.compat import final_state, no_cache, submit
from taxi_etl.params import Colour, Partition, Source, parse_month_range
from taxi_etl.pipeline import MonthResult
from taxi_etl.settings import Settings


@task(
    name="load_month",
    task_run_name="load-{part.colour}-{part.year}-{part.month:02d}",
    **no_cache(),
)
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
    source: Source | None = None,
) -> list[MonthResult]:
    """The months (YYYY-MM) of a parent, backfill or catch-up run, one task each on Dask."""
    cfg = Settings.with_overrides(lake=lake, source_url=source_url, source=source)
    run_id = str(flow_run.id or "") or None
    progress = fanout.current_progress.get() or fanout.Progress(len(months), None)
    parts = [Partition(colour, y, m) for ym in months for y, m in parse_month_range(ym)]
    futures = [await submit(load_on_worker, p, cfg, force, run_id) for p in parts]

    async def one(part: Partition, future: Any) -> MonthResult:
        return await progress.add(await fanout.as_result(part, await final_state(future)))

    return list(await asyncio.gather(*(one(p, f) for p, f in zip(parts, futures, strict=True))))
