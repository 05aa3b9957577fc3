"""The Dask side of the fan-out: a run's months as one task each on a Dask cluster.

``fanout`` builds this subflow for each run, with the task runner the run asked for
(``runners.task_runner``) and the run's ``Progress``, which it reports each month's end
to as it comes; only a parent run starts it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from prefect import flow, task
from prefect.runtime import flow_run

from taxi_etl import pipeline, quality
from taxi_etl.orchestration import artifacts
from taxi_etl.orchestration.compat import final_state, no_cache, submit
from taxi_etl.orchestration.progress import Progress, as_result
from taxi_etl.params import Colour, Partition
from taxi_etl.pipeline import MonthResult
from taxi_etl.settings import Settings


async def _check(part: Partition, t: pipeline.Transformed) -> list[quality.CheckResult]:
    """The plain check, publishing the same quality artifact as the child flow's task."""
    checks = await asyncio.to_thread(pipeline.check, part, t)
    await artifacts.publish_quality(part, checks, t.stats)
    quality.enforce(checks, str(part))
    return checks


#: The plain steps, but for the quality artifact.
STEPS = dataclasses.replace(pipeline.PLAIN, check=_check)


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
    return await pipeline.run_month(
        part, cfg, STEPS, force=force, flow_run_id=flow_run_id, keep_download=False
    )


def months_on_dask(task_runner: Any, progress: Progress) -> Any:
    """The subflow that loads a run's months as tasks on `task_runner`, reporting each
    to `progress`."""

    @flow(name="etl_dask_months", flow_run_name="{colour}-on-dask", task_runner=task_runner)
    async def etl_dask_months(
        colour: Colour, months: list[tuple[int, int]], force: bool, cfg: Settings
    ) -> list[MonthResult]:
        """The months (year, month) of a parent, backfill or catch-up run, one task
        each on Dask."""
        run_id = str(flow_run.id or "") or None
        parts = [Partition(colour, y, m) for y, m in months]
        futures = [await submit(load_on_worker, p, cfg, force, run_id) for p in parts]

        async def one(part: Partition, future: Any) -> MonthResult:
            return await progress.add(await as_result(part, await final_state(future)))

        pairs = zip(parts, futures, strict=True)
        return list(await asyncio.gather(*(one(p, f) for p, f in pairs)))

    return etl_dask_months
